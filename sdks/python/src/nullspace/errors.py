"""Exceptions raised by the Nullspace SDK.

Every error the SDK raises is a :class:`NullspaceError` carrying the stable API
``code`` (e.g. ``"not_found"``), a human ``message`` and the HTTP ``status``
(``None`` for client-side failures such as connection errors). The concrete
class is picked from the JSON ``error.code`` first and the HTTP status second,
see :func:`error_for`.
"""

from __future__ import annotations

__all__ = [
    "AuthError",
    "BatchWriteError",
    "ConflictError",
    "FilesystemError",
    "InvalidArgumentError",
    "MachineError",
    "NotFoundError",
    "NullspaceError",
    "OutputLimitError",
    "RateLimitError",
    "SandboxError",
    "ServerError",
    "SnapshotInUseError",
    "StateCorruptError",
    "TimeoutError",
    "error_for",
]


class NullspaceError(Exception):
    """Base class of every SDK error."""

    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status

    def __str__(self) -> str:
        if self.status is None:
            return f"{self.message} ({self.code})"
        return f"{self.message} ({self.code}, HTTP {self.status})"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(code={self.code!r}, message={self.message!r}, "
            f"status={self.status!r})"
        )


class AuthError(NullspaceError):
    """The API key is missing, malformed or not accepted (401 ``unauthorized``)."""


class NotFoundError(NullspaceError):
    """The machine, template or path does not exist (404 ``not_found``).

    A machine of another tenant also answers 404.
    """


class TimeoutError(NullspaceError):
    """A command exceeded its timeout (504 ``command_timeout``), or the HTTP request
    itself timed out on the client side (code ``request_timeout``)."""


class MachineError(NullspaceError):
    """The machine is not running (409 ``machine_not_running``) or its VM died
    (502 ``machine_died``)."""


SandboxError = MachineError
"""Alias of :class:`MachineError` kept for the older ``Sandbox`` naming."""


class StateCorruptError(MachineError):
    """Saved state — a paused machine's or a snapshot's — failed its size or checksum
    check, so it cannot be resumed or started from (409 ``state_corrupt``)."""


class InvalidArgumentError(NullspaceError):
    """The request was rejected as invalid: ``bad_request``, ``validation_error``,
    ``payload_too_large``, ``cwd_not_found``, ``command_not_found``,
    ``user_not_found``, ``path_escapes_root``, ``wrong_entry_type``."""


class FilesystemError(NullspaceError):
    """A filesystem operation was refused: ``reserved_path``, ``permission_denied``,
    ``already_exists``, ``not_empty``."""


class ConflictError(NullspaceError):
    """409 ``conflict`` (e.g. an idempotency key reused for a different request)."""


class SnapshotInUseError(ConflictError):
    """The snapshot cannot be deleted while a machine started from it exists, running
    or paused (409 ``snapshot_in_use``); kill those machines first."""


class RateLimitError(NullspaceError):
    """Too many requests (429 ``rate_limited``)."""


class ServerError(NullspaceError):
    """The server failed (``internal``, ``unavailable``, any 5xx), answered something
    that is not the documented shape (``invalid_response``), or could not be reached
    at all (``connection_error``)."""


class OutputLimitError(NullspaceError):
    """The command produced more output than the server keeps
    (413 ``output_limit_exceeded``)."""


class BatchWriteError(NullspaceError):
    """``files.write_files`` failed; nothing is guaranteed to be written.

    ``paths`` lists the paths of the batch; ``code``/``status`` are those of the
    server error that failed it.
    """

    def __init__(
        self,
        code: str,
        message: str,
        status: int | None = None,
        paths: list[str] | None = None,
    ) -> None:
        super().__init__(code, message, status)
        self.paths: list[str] = list(paths or [])


_BY_CODE: dict[str, type[NullspaceError]] = {
    "unauthorized": AuthError,
    "not_found": NotFoundError,
    "command_timeout": TimeoutError,
    "request_timeout": TimeoutError,
    "machine_not_running": MachineError,
    "machine_died": MachineError,
    "bad_request": InvalidArgumentError,
    "validation_error": InvalidArgumentError,
    "payload_too_large": InvalidArgumentError,
    "cwd_not_found": InvalidArgumentError,
    "command_not_found": InvalidArgumentError,
    "user_not_found": InvalidArgumentError,
    "path_escapes_root": InvalidArgumentError,
    "wrong_entry_type": InvalidArgumentError,
    "reserved_path": FilesystemError,
    "permission_denied": FilesystemError,
    "already_exists": FilesystemError,
    "not_empty": FilesystemError,
    "conflict": ConflictError,
    "snapshot_in_use": SnapshotInUseError,
    "state_corrupt": StateCorruptError,
    "rate_limited": RateLimitError,
    "output_limit_exceeded": OutputLimitError,
    "internal": ServerError,
    "unavailable": ServerError,
}

_BY_STATUS: dict[int, type[NullspaceError]] = {
    400: InvalidArgumentError,
    401: AuthError,
    403: FilesystemError,
    404: NotFoundError,
    409: ConflictError,
    413: InvalidArgumentError,
    422: InvalidArgumentError,
    429: RateLimitError,
    502: MachineError,
    504: TimeoutError,
}


def error_class(code: str | None, status: int | None) -> type[NullspaceError]:
    """The exception class for an API error code (first) or HTTP status (second)."""
    if code is not None and code in _BY_CODE:
        return _BY_CODE[code]
    if status is not None:
        if status in _BY_STATUS:
            return _BY_STATUS[status]
        if status >= 500:
            return ServerError
    return NullspaceError


def error_for(code: str | None, message: str, status: int | None) -> NullspaceError:
    """Build the exception for an API error."""
    cls = error_class(code, status)
    return cls(code or _default_code(status), message, status)


def _default_code(status: int | None) -> str:
    if status is None:
        return "unknown"
    return {
        400: "bad_request",
        401: "unauthorized",
        404: "not_found",
        409: "conflict",
        413: "payload_too_large",
        422: "validation_error",
        429: "rate_limited",
        502: "machine_died",
        503: "unavailable",
        504: "command_timeout",
    }.get(status, "internal" if status >= 500 else f"http_{status}")
