"""Exceptions raised by the Nullspace SDK.

Every error the SDK raises is a :class:`NullspaceError` carrying the stable API
``code`` (e.g. ``"not_found"``), a human ``message`` and the HTTP ``status``
(``None`` for client-side failures such as connection errors). The concrete
class is picked from the JSON ``error.code`` first and the HTTP status second,
see :func:`error_for`.

Codes added to the API later get their own subclass of the class an older SDK raised
for that situation (or status), so existing ``except`` clauses keep catching them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "AgentOutdatedError",
    "AuthError",
    "BatchWriteError",
    "BuildError",
    "BuildNotFoundError",
    "ConflictError",
    "FileTooLargeError",
    "FileUploadError",
    "FilesystemError",
    "GitAuthError",
    "GitConflictError",
    "GitError",
    "GitNotARepositoryError",
    "GitNothingToCommitError",
    "GitPushRejectedError",
    "GitRefNotFoundError",
    "GitRepositoryNotFoundError",
    "IdempotencyKeyReusedError",
    "InvalidArgumentError",
    "InvalidPatternError",
    "MachineError",
    "NotAPtyError",
    "NotEnoughSpaceError",
    "NotFoundError",
    "NullspaceError",
    "OutputLimitError",
    "PreviewError",
    "PreviewGrantNotFoundError",
    "PreviewTokenInvalidError",
    "PreviewTokenRequiredError",
    "PreviewUpstreamUnavailableError",
    "ProcessExitedError",
    "ProcessNotFoundError",
    "RateLimitError",
    "SandboxError",
    "ServerError",
    "SnapshotInUseError",
    "SshAccessNotFoundError",
    "SshKeyInvalidError",
    "StateCorruptError",
    "StdinClosedError",
    "TagInUseError",
    "TemplateInUseError",
    "TemplateNotFoundError",
    "TimeoutError",
    "UploadChecksumError",
    "UploadChunkError",
    "UploadConflictError",
    "UploadExpiredError",
    "UploadLimitError",
    "UploadNotFoundError",
    "UploadPathError",
    "UploadStateError",
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


class _CutShortError(NullspaceError):
    """An error that may carry what a command printed before it was cut short.

    ``stdout`` / ``stderr`` are the output so far (``""`` when the server sent none,
    or the failure was on the client side); ``truncated`` is the server's word that
    this is not all the command would have printed.
    """

    def __init__(
        self,
        code: str,
        message: str,
        status: int | None = None,
        *,
        stdout: str = "",
        stderr: str = "",
        truncated: bool = False,
    ) -> None:
        super().__init__(code, message, status)
        self.stdout = stdout
        self.stderr = stderr
        self.truncated = truncated


class TimeoutError(_CutShortError):
    """A command exceeded its timeout (504 ``command_timeout``), or the HTTP request
    itself timed out on the client side (code ``request_timeout``).

    On ``command_timeout``, ``stdout`` / ``stderr`` hold what the command printed
    before it was killed."""


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
    ``user_not_found``, ``path_escapes_root``, ``wrong_entry_type``,
    ``method_not_allowed`` (405: this SDK and the server disagree on a route); on the
    client side, ``source_changed`` (an upload's source changed length while it was
    sent)."""


class FileTooLargeError(InvalidArgumentError):
    """The file is larger than one read returns (413 ``file_too_large``): servers
    before streamed reads capped a read at 128 MiB. Read it in ranges with
    ``files.read(path, offset=..., limit=...)``, or save it with
    ``files.download_file``."""


class FilesystemError(NullspaceError):
    """A filesystem operation was refused: ``reserved_path``, ``permission_denied``
    (the ``user`` of the operation lacks the rights), ``already_exists``,
    ``not_empty``."""


class ConflictError(NullspaceError):
    """409 ``conflict``: the request conflicts with the machine's current state."""


class IdempotencyKeyReusedError(ConflictError, InvalidArgumentError):
    """An ``idempotency_key`` was reused with a different request
    (422 ``idempotency_key_reused``). Servers before it answered 409 ``conflict``, so
    it is a :class:`ConflictError`; its status makes it an
    :class:`InvalidArgumentError` too."""


class SnapshotInUseError(ConflictError):
    """The snapshot cannot be deleted while a machine started from it exists, running
    or paused (409 ``snapshot_in_use``); kill those machines first."""


class TemplateNotFoundError(NotFoundError):
    """No template (or tag of it) answers to this ref (404 ``template_not_found``)."""


class BuildNotFoundError(NotFoundError):
    """No template build has this id (404 ``build_not_found``)."""


class TemplateInUseError(ConflictError):
    """The template cannot be deleted while machines created from any of its versions
    exist (409 ``template_in_use``; the message names them); kill those first."""


class BuildError(NullspaceError):
    """A template build failed (its status is ``error``): ``error_code`` (also
    ``code``) says why — ``step_failed``, ``step_timeout``, ``ready_timeout``,
    ``start_failed``, ``context_not_found``, ``machine_failed``,
    ``image_pull_failed`` (the ``from_image`` image could not be pulled: the message
    names the registry and why) or ``internal`` —, ``step`` is the 1-based step that
    failed, ``exit_code`` its exit status and ``last_lines`` the last lines it
    printed. Not an HTTP error: ``status`` is ``None``. A failed build leaves no
    version; its cached steps stay for the next try."""

    def __init__(
        self,
        code: str,
        message: str,
        status: int | None = None,
        *,
        build_id: str | None = None,
        step: int | None = None,
        exit_code: int | None = None,
        last_lines: list[str] | None = None,
    ) -> None:
        super().__init__(code, message, status)
        self.error_code = code
        self.build_id = build_id
        self.step = step
        self.exit_code = exit_code
        self.last_lines: list[str] = list(last_lines or [])

    def __str__(self) -> str:
        text = super().__str__()
        if not self.last_lines:
            return text
        return text + "".join(f"\n    | {line}" for line in self.last_lines[-20:])

    def __repr__(self) -> str:
        return (
            f"BuildError(code={self.code!r}, message={self.message!r}, "
            f"build_id={self.build_id!r}, step={self.step!r}, exit_code={self.exit_code!r})"
        )


class ProcessNotFoundError(NotFoundError):
    """No process of the machine has this pid (404 ``process_not_found``): it never
    existed, or it exited long enough ago that the machine forgot it."""


class ProcessExitedError(ConflictError):
    """The process has already exited (409 ``process_exited``), so it cannot be
    signalled, resized or written to."""


class StdinClosedError(ConflictError):
    """The process's stdin is closed, or was never opened (409 ``stdin_closed``): start
    it with ``stdin=True`` to write to it."""


class NotAPtyError(ConflictError):
    """The process has no terminal (409 ``not_a_pty``): only PTY processes resize."""


class TagInUseError(ConflictError):
    """A running process of the machine already has this tag (409 ``tag_in_use``)."""


class AgentOutdatedError(MachineError, ConflictError):
    """The machine's guest agent is too old for the operation (409 ``agent_outdated``):
    the machine comes from an old template, snapshot or pause; create a new one. A
    :class:`MachineError` as it is about the machine, and a :class:`ConflictError` as
    an older SDK raised for its status."""


class RateLimitError(NullspaceError):
    """Too many requests (429 ``rate_limited``). ``retry_after`` is how many seconds
    the server asks to wait (its ``Retry-After``), ``None`` when it named none."""

    def __init__(
        self,
        code: str,
        message: str,
        status: int | None = None,
        *,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(code, message, status)
        self.retry_after = retry_after


class ServerError(NullspaceError):
    """The server failed (``internal``, ``unavailable``, any 5xx), answered something
    that is not the documented shape (``invalid_response``), or could not be reached
    at all or broke off mid-transfer (``connection_error``)."""


class NotEnoughSpaceError(FilesystemError, ServerError):
    """The machine's disk is full (507 ``no_space``): free space in it, or write less.
    A refused filesystem operation, so a :class:`FilesystemError`; servers before the
    code answered 500 and its status is 5xx, so a :class:`ServerError` too."""


class OutputLimitError(_CutShortError):
    """The command produced more output than the server keeps
    (413 ``output_limit_exceeded``); ``stdout`` / ``stderr`` hold what it kept."""


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


class InvalidPatternError(InvalidArgumentError):
    """A glob or regular expression of a search, find or replace does not parse
    (422 ``invalid_pattern``)."""


class FileUploadError(NullspaceError):
    """A resumable upload failed. :attr:`upload_id` names its session when one was
    opened (``None`` before): pass it to ``files.resume_upload(upload_id, source)`` to
    send only the chunks the server is missing. A failure that is not about the
    session itself (a connection lost, a machine stopped, a progress callback that
    raised) is a plain :class:`FileUploadError` whose ``__cause__`` is the original
    error, and whose ``code`` / ``status`` are that error's. The subclasses are the
    session's own error codes; each is also the class an older SDK raised for its
    status (:class:`NotFoundError`, :class:`ConflictError`,
    :class:`InvalidArgumentError`), so existing ``except`` clauses keep catching
    them."""

    def __init__(
        self,
        code: str,
        message: str,
        status: int | None = None,
        *,
        upload_id: str | None = None,
    ) -> None:
        super().__init__(code, message, status)
        self.upload_id = upload_id

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(code={self.code!r}, message={self.message!r}, "
            f"status={self.status!r}, upload_id={self.upload_id!r})"
        )


class UploadNotFoundError(FileUploadError, NotFoundError):
    """No upload session of this machine has that id (404 ``upload_not_found``)."""


class UploadExpiredError(FileUploadError, NotFoundError):
    """The session expired and its staged bytes are gone (410 ``upload_expired``):
    start the upload again."""


class UploadChecksumError(FileUploadError, InvalidArgumentError):
    """A chunk's or the whole content's SHA-256 is not what the client sent
    (422 ``upload_checksum_mismatch``): the source changed since the chunks the server
    holds were sent, or bytes were damaged on the way."""


class UploadStateError(FileUploadError, ConflictError):
    """The session cannot take this step (409 ``upload_state``): it is already
    complete or aborted, or completion was asked with chunks missing."""


class UploadConflictError(FileUploadError, ConflictError):
    """The destination cannot take the content (409 ``upload_conflict``): a directory
    where a file goes, or ``conflict="error"`` with an existing destination."""


class UploadLimitError(FileUploadError, InvalidArgumentError):
    """The upload is larger than the server takes, or a chunk longer than it should
    be (413 ``upload_too_large``)."""


class UploadPathError(FileUploadError, InvalidArgumentError):
    """The destination is not allowed: reserved, outside its root, or empty
    (422 ``upload_path_invalid``)."""


class UploadChunkError(FileUploadError, ConflictError):
    """A chunk index out of range, or a chunk of the wrong length
    (409 ``upload_chunk_invalid``): it does not fit the session."""


class GitError(NullspaceError):
    """A git operation of ``machine.git`` failed (``git_failed``, 422): ``message`` has
    git's exit code and what it printed. The subclasses name the failures a caller
    can act on."""


class GitAuthError(GitError):
    """The remote refused the credentials, or needs some and none were given
    (422 ``git_auth_failed``). Not an :class:`AuthError`: the API key is fine."""


class GitRepositoryNotFoundError(GitError, NotFoundError):
    """The remote has no such repository, or the remote name is unknown
    (404 ``git_repository_not_found``)."""


class GitNotARepositoryError(GitError, InvalidArgumentError):
    """The path is not inside a git repository (422 ``git_not_a_repository``)."""


class GitRefNotFoundError(GitError, NotFoundError):
    """No such branch, tag, commit or remote branch (404 ``git_ref_not_found``)."""


class GitPushRejectedError(GitError, ConflictError):
    """The remote refused the push: it has commits the branch lacks; pull first
    (409 ``git_push_rejected``)."""


class GitConflictError(GitError, ConflictError):
    """The change conflicts with the repository's files: merge conflicts, or local
    changes a checkout or pull would overwrite (409 ``git_conflict``)."""


class GitNothingToCommitError(GitError, ConflictError):
    """There is nothing to commit (409 ``git_nothing_to_commit``); stage changes, or
    pass ``allow_empty=True``."""


class SshKeyInvalidError(InvalidArgumentError):
    """The public key given for SSH access is not one OpenSSH ``ssh-ed25519`` or
    ``ecdsa-sha2-nistp*`` key line (422 ``ssh_key_invalid``)."""


class SshAccessNotFoundError(NotFoundError):
    """The machine has no SSH access grant with that id (404 ``ssh_access_not_found``)."""


class PreviewError(NullspaceError):
    """A preview of a machine port was refused; the subclasses say why. The preview
    proxy answers these codes to whoever holds the URL; of the API, only revoking an
    unknown grant raises one."""


class PreviewTokenRequiredError(PreviewError):
    """The machine takes no public traffic and the request had no credential
    (401 ``preview_token_required``). Not an :class:`AuthError`: the API key is not
    what is missing."""


class PreviewTokenInvalidError(PreviewError):
    """The preview credential does not grant this machine port now: wrong, expired,
    revoked or another machine's (403 ``preview_token_invalid``; the message says
    which)."""


class PreviewGrantNotFoundError(PreviewError, NotFoundError):
    """The machine has no preview grant with that id (404 ``preview_grant_not_found``)."""


class PreviewUpstreamUnavailableError(PreviewError, ServerError):
    """Nothing accepts connections on the port in the machine
    (502 ``preview_upstream_unavailable``): start the service, or wait for it with
    ``machine.wait_for_preview``. A :class:`ServerError` as its status is 5xx, not a
    :class:`MachineError`: the machine runs."""


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
    "method_not_allowed": InvalidArgumentError,
    "file_too_large": FileTooLargeError,
    "idempotency_key_reused": IdempotencyKeyReusedError,
    "no_space": NotEnoughSpaceError,
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
    "template_in_use": TemplateInUseError,
    "template_not_found": TemplateNotFoundError,
    "build_not_found": BuildNotFoundError,
    "state_corrupt": StateCorruptError,
    "rate_limited": RateLimitError,
    "process_not_found": ProcessNotFoundError,
    "process_exited": ProcessExitedError,
    "stdin_closed": StdinClosedError,
    "not_a_pty": NotAPtyError,
    "tag_in_use": TagInUseError,
    "agent_outdated": AgentOutdatedError,
    "output_limit_exceeded": OutputLimitError,
    "invalid_pattern": InvalidPatternError,
    "upload_not_found": UploadNotFoundError,
    "upload_expired": UploadExpiredError,
    "upload_checksum_mismatch": UploadChecksumError,
    "upload_state": UploadStateError,
    "upload_conflict": UploadConflictError,
    "upload_too_large": UploadLimitError,
    "upload_path_invalid": UploadPathError,
    "upload_chunk_invalid": UploadChunkError,
    "git_failed": GitError,
    "git_auth_failed": GitAuthError,
    "git_repository_not_found": GitRepositoryNotFoundError,
    "git_not_a_repository": GitNotARepositoryError,
    "git_ref_not_found": GitRefNotFoundError,
    "git_push_rejected": GitPushRejectedError,
    "git_conflict": GitConflictError,
    "git_nothing_to_commit": GitNothingToCommitError,
    "preview_token_required": PreviewTokenRequiredError,
    "preview_token_invalid": PreviewTokenInvalidError,
    "preview_grant_not_found": PreviewGrantNotFoundError,
    "preview_upstream_unavailable": PreviewUpstreamUnavailableError,
    "ssh_key_invalid": SshKeyInvalidError,
    "ssh_access_not_found": SshAccessNotFoundError,
    "internal": ServerError,
    "unavailable": ServerError,
}

_BY_STATUS: dict[int, type[NullspaceError]] = {
    400: InvalidArgumentError,
    401: AuthError,
    403: FilesystemError,
    404: NotFoundError,
    405: InvalidArgumentError,
    409: ConflictError,
    410: NotFoundError,
    413: InvalidArgumentError,
    422: InvalidArgumentError,
    429: RateLimitError,
    502: MachineError,
    504: TimeoutError,
    507: NotEnoughSpaceError,
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


def error_for(
    code: str | None,
    message: str,
    status: int | None,
    *,
    output: Mapping[str, Any] | None = None,
    retry_after: float | None = None,
) -> NullspaceError:
    """Build the exception for an API error.

    ``output`` is the error body's ``output`` object (what a command printed before it
    was cut short), kept on :class:`TimeoutError` and :class:`OutputLimitError`;
    ``retry_after`` (seconds, from ``Retry-After``) is kept on :class:`RateLimitError`.
    """
    cls = error_class(code, status)
    code = code or _default_code(status)
    if issubclass(cls, _CutShortError):
        out = output or {}
        return cls(
            code,
            message,
            status,
            stdout=_text(out.get("stdout")),
            stderr=_text(out.get("stderr")),
            truncated=out.get("truncated") is True,
        )
    if issubclass(cls, RateLimitError):
        return cls(code, message, status, retry_after=retry_after)
    return cls(code, message, status)


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _default_code(status: int | None) -> str:
    if status is None:
        return "unknown"
    return {
        400: "bad_request",
        401: "unauthorized",
        404: "not_found",
        405: "method_not_allowed",
        409: "conflict",
        410: "gone",
        413: "payload_too_large",
        422: "validation_error",
        429: "rate_limited",
        502: "machine_died",
        503: "unavailable",
        504: "command_timeout",
        507: "no_space",
    }.get(status, "internal" if status >= 500 else f"http_{status}")
