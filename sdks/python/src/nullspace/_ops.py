"""Every API operation as a pure function returning an :class:`Operation`.

The sync and async classes call these and only *send* the result; request
construction, argument validation and response decoding live here, once. The
operations of processes and PTY sessions are in :mod:`nullspace._process_ops`, and
the WebSocket stream of a process in :mod:`nullspace._stream`, in the same style.
"""

from __future__ import annotations

import base64
import enum
import shlex
from collections.abc import AsyncIterable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, get_args
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from ._transport import Operation, RequestSpec
from .errors import (
    AuthError,
    BatchWriteError,
    FilesystemError,
    InvalidArgumentError,
    MachineError,
    NotFoundError,
    NullspaceError,
    RateLimitError,
    ServerError,
    TimeoutError,
)
from .models import (
    CommandResult,
    EntryInfo,
    MachineInfo,
    MachineMetrics,
    SignedUrl,
    SignedUrlMethod,
    SnapshotInfo,
    TimeoutAction,
    WriteEntry,
)

M = TypeVar("M", bound=BaseModel)
S = TypeVar("S", bound=SnapshotInfo)
T = TypeVar("T")
U = TypeVar("U")

COMMAND_GRACE_SECONDS = 30.0
"""Extra HTTP time on top of a command's own timeout, so the server answers first."""

FORK_REQUEST_SECONDS = 300.0
"""Least HTTP time a fork may take: it starts up to 16 machines before answering."""

DEFAULT_TEMPLATE = "base"
TIMEOUT_ACTIONS: tuple[str, ...] = get_args(TimeoutAction)


# ---------------------------------------------------------------------------
# decoding helpers


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise ServerError(
            "invalid_response",
            f"expected JSON from {response.request.method} {response.request.url.path}, "
            f"got {response.text[:200]!r}",
            response.status_code,
        ) from exc


def _validate(cls: type[M], data: Any, response: httpx.Response) -> M:
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        raise ServerError(
            "invalid_response",
            f"unexpected {cls.__name__} from {response.request.url.path}: {exc}",
            response.status_code,
        ) from exc


def _model(cls: type[M]) -> Callable[[httpx.Response], M]:
    def decode(response: httpx.Response) -> M:
        return _validate(cls, _json(response), response)

    return decode


def _field(name: str) -> Callable[[httpx.Response], Any]:
    def decode(response: httpx.Response) -> Any:
        data = _json(response)
        if not isinstance(data, dict) or name not in data:
            raise ServerError(
                "invalid_response",
                f"missing {name!r} in the answer of {response.request.url.path}",
                response.status_code,
            )
        return data[name]

    return decode


def _none(response: httpx.Response) -> None:
    return None


def _machine_path(machine_id: str, suffix: str = "") -> str:
    if not isinstance(machine_id, str) or not machine_id:
        raise InvalidArgumentError("bad_request", "machine_id must be a non-empty string")
    return f"/v1/machines/{quote(machine_id, safe='')}{suffix}"


def _snapshot_path(snapshot_id: str) -> str:
    if not isinstance(snapshot_id, str) or not snapshot_id:
        raise InvalidArgumentError("bad_request", "snapshot_id must be a non-empty string")
    return f"/v1/snapshots/{quote(snapshot_id, safe='')}"


def _check_int(name: str, value: int | None) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise InvalidArgumentError("bad_request", f"{name} must be an integer, got {value!r}")
    return value


def _check_bool(name: str, value: bool | None) -> bool | None:
    if value is not None and not isinstance(value, bool):
        raise InvalidArgumentError("bad_request", f"{name} must be True or False, got {value!r}")
    return value


def _timeout_action(name: str, value: str | None) -> str | None:
    """Check a :data:`~nullspace.models.TimeoutAction` before any request is made."""
    if value is not None and value not in TIMEOUT_ACTIONS:
        choices = ", ".join(repr(a) for a in TIMEOUT_ACTIONS)
        raise InvalidArgumentError("bad_request", f"{name} must be one of {choices}, got {value!r}")
    return value


def _drop_none(body: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if v is not None}


def _check_str_map(name: str, value: Mapping[str, str] | None) -> dict[str, str] | None:
    if value is None:
        return None
    out: dict[str, str] = {}
    for k, v in value.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise InvalidArgumentError(
                "bad_request", f"{name} must map strings to strings, got {k!r}: {v!r}"
            )
        out[k] = v
    return out


# ---------------------------------------------------------------------------
# machines


def create_machine(
    *,
    template: str | None = None,
    timeout: int | None = 300,
    metadata: Mapping[str, str] | None = None,
    envs: Mapping[str, str] | None = None,
    cwd: str | None = None,
    cpu_count: int | None = None,
    memory_mb: int | None = None,
    idempotency_key: str | None = None,
    snapshot_id: str | None = None,
    on_timeout: str | None = None,
    auto_resume: bool | None = None,
) -> Operation[MachineInfo]:
    """``template`` defaults to ``base``; with ``snapshot_id`` it is left out unless
    given (the server then checks it matches the snapshot's)."""
    if snapshot_id is not None:
        _snapshot_path(snapshot_id)
    elif template is None:
        template = DEFAULT_TEMPLATE
    body = _drop_none(
        {
            "template": template,
            "timeout": timeout,
            "metadata": _check_str_map("metadata", metadata),
            "envs": _check_str_map("envs", envs),
            "cwd": cwd,
            "cpu_count": cpu_count,
            "memory_mb": memory_mb,
            "idempotency_key": idempotency_key,
            "snapshot_id": snapshot_id,
            "timeout_action": _timeout_action("on_timeout", on_timeout),
            "auto_resume": _check_bool("auto_resume", auto_resume),
        }
    )
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key is not None else {}
    return Operation(
        RequestSpec("POST", "/v1/machines", json=body, headers=headers), _model(MachineInfo)
    )


def get_machine(machine_id: str) -> Operation[MachineInfo]:
    return Operation(RequestSpec("GET", _machine_path(machine_id)), _model(MachineInfo))


def _kill_recover(err: NullspaceError) -> bool:
    # 404: no such machine; 409 machine_not_running: already killed; 409 conflict:
    # another request is killing it right now. In each case this call killed nothing.
    if isinstance(err, NotFoundError) or err.code in ("machine_not_running", "conflict"):
        return False
    raise err


def _killed(response: httpx.Response) -> bool:
    # 200 {"id", "outcome": "killed" | "create_cancelled", "previous_state"}, or 204
    # without a body from older servers. Either way the machine is gone now: a
    # success status is the answer, and an odd body must not turn a done kill into an
    # error.
    return True


def kill_machine(machine_id: str) -> Operation[bool]:
    """``True`` when killed now (also a machine still starting, whose create is then
    cancelled), ``False`` when it was already gone or going (404, or 409
    ``machine_not_running`` / ``conflict``)."""
    return Operation(
        RequestSpec("DELETE", _machine_path(machine_id)), _killed, on_error=_kill_recover
    )


def set_machine_timeout(
    machine_id: str, timeout: int, action: str | None = None
) -> Operation[MachineInfo]:
    """``action`` (``kill``, ``pause``, ``hibernate``) is left unchanged when ``None``."""
    if isinstance(timeout, bool) or not isinstance(timeout, int):
        raise InvalidArgumentError("bad_request", "timeout must be an integer number of seconds")
    body = _drop_none({"timeout": timeout, "action": _timeout_action("action", action)})
    return Operation(
        RequestSpec("POST", _machine_path(machine_id, "/timeout"), json=body),
        _model(MachineInfo),
    )


def pause_machine(machine_id: str) -> Operation[MachineInfo]:
    """Save memory, processes and devices to disk and stop the VM; the answer has state
    ``paused``. 409 ``machine_not_running`` when it is not running."""
    return Operation(RequestSpec("POST", _machine_path(machine_id, "/pause")), _model(MachineInfo))


def resume_machine(machine_id: str) -> Operation[MachineInfo]:
    """Restore a paused machine; the answer has state ``running`` (a running machine is
    returned as is). 409 ``machine_not_running`` when it was killed."""
    return Operation(RequestSpec("POST", _machine_path(machine_id, "/resume")), _model(MachineInfo))


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list and the cursor of the next (``None``: it was the last)."""

    items: list[T]
    next_cursor: str | None

    def map(self, fn: Callable[[T], U]) -> Page[U]:
        return Page([fn(item) for item in self.items], self.next_cursor)


MachinePage = Page[MachineInfo]


def _page(key: str, cls: type[M]) -> Callable[[httpx.Response], Page[M]]:
    def decode(response: httpx.Response) -> Page[M]:
        data = _json(response)
        if not isinstance(data, dict) or not isinstance(data.get(key), list):
            raise ServerError(
                "invalid_response", f"missing {key!r} in the answer", response.status_code
            )
        items = [_validate(cls, item, response) for item in data[key]]
        cursor = data.get("next_cursor")
        return Page(items, cursor if isinstance(cursor, str) and cursor else None)

    return decode


def _list_params(
    filters: Sequence[tuple[str, str | None]],
    metadata: Mapping[str, str] | None,
    limit: int | None,
    cursor: str | None,
) -> list[tuple[str, str]]:
    params = [(name, value) for name, value in filters if value is not None]
    for key, value in (_check_str_map("metadata", metadata) or {}).items():
        params.append(("metadata", f"{key}={value}"))
    if limit is not None:
        params.append(("limit", str(int(limit))))
    if cursor is not None:
        params.append(("cursor", cursor))
    return params


StateFilter = str | Sequence[str]
"""One machine state, or several (``"killed"``, ``["running", "paused"]``)."""


def machine_states(state: StateFilter | None) -> list[str]:
    """The states of a list filter, one per ``state=`` query parameter (``[]``: none
    given, the server lists every live state). A comma-separated string is split."""
    if state is None:
        return []
    items = [state] if isinstance(state, str) else state
    if not isinstance(items, Sequence) or not all(isinstance(s, str) for s in items):
        raise InvalidArgumentError(
            "bad_request", f"state must be a string or a list of strings, got {state!r}"
        )
    states = [part.strip() for item in items for part in item.split(",")]
    if not states or not all(states):
        raise InvalidArgumentError("bad_request", f"state names no state: {state!r}")
    return states


def list_machines(
    *,
    state: StateFilter | None = None,
    template: str | None = None,
    metadata: Mapping[str, str] | None = None,
    limit: int | None = None,
    cursor: str | None = None,
) -> Operation[Page[MachineInfo]]:
    """Without ``state`` the server lists the live machines (every state but
    ``killed`` and ``failed``)."""
    filters = [("state", s) for s in machine_states(state)] + [("template", template)]
    params = _list_params(filters, metadata, limit, cursor)
    return Operation(
        RequestSpec("GET", "/v1/machines", params=params), _page("machines", MachineInfo)
    )


def needs_resume(info: MachineInfo) -> bool:
    """``connect`` resumes a paused machine instead of refusing it."""
    return info.state == "paused"


def ensure_running(info: MachineInfo) -> MachineInfo:
    """Raise :class:`MachineError` unless the machine is running (``connect``)."""
    if info.state != "running":
        raise MachineError(
            "machine_not_running", f"machine {info.id} is {info.state}, not running", None
        )
    return info


# ---------------------------------------------------------------------------
# fork, snapshots, metrics


@dataclass(frozen=True)
class Fork:
    """The answer of a fork: the children, running, and how long the source stopped."""

    machines: list[MachineInfo]
    source_stall_ms: int


def _decode_fork(response: httpx.Response) -> Fork:
    data = _json(response)
    machines = data.get("machines") if isinstance(data, dict) else None
    stall = data.get("source_stall_ms") if isinstance(data, dict) else None
    if not isinstance(machines, list) or isinstance(stall, bool) or not isinstance(stall, int):
        raise ServerError(
            "invalid_response",
            f"expected {{machines, source_stall_ms}} from {response.request.url.path}",
            response.status_code,
        )
    return Fork([_validate(MachineInfo, m, response) for m in machines], stall)


def fork_machine(
    machine_id: str,
    count: int = 1,
    *,
    metadata: Mapping[str, str] | None = None,
    timeout: int | None = None,
    request_timeout: float | None = None,
) -> Operation[Fork]:
    """``count`` children (1-16) of the running machine. The HTTP request waits at
    least :data:`FORK_REQUEST_SECONDS`."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise InvalidArgumentError("bad_request", f"count must be an integer >= 1, got {count!r}")
    body = _drop_none(
        {
            "count": count,
            "metadata": _check_str_map("metadata", metadata),
            "timeout": _check_int("timeout", timeout),
        }
    )
    return Operation(
        RequestSpec(
            "POST",
            _machine_path(machine_id, "/fork"),
            json=body,
            timeout=max(FORK_REQUEST_SECONDS, request_timeout or 0.0),
        ),
        _decode_fork,
    )


def create_snapshot(
    machine_id: str, *, metadata: Mapping[str, str] | None = None, cls: type[S]
) -> Operation[S]:
    """A reusable snapshot of the running machine, decoded as ``cls``."""
    body = _drop_none({"metadata": _check_str_map("metadata", metadata)})
    return Operation(
        RequestSpec("POST", _machine_path(machine_id, "/snapshots"), json=body), _model(cls)
    )


def get_snapshot(snapshot_id: str, *, cls: type[S]) -> Operation[S]:
    return Operation(RequestSpec("GET", _snapshot_path(snapshot_id)), _model(cls))


def _delete_recover(err: NullspaceError) -> bool:
    if isinstance(err, NotFoundError):
        return False
    raise err


def delete_snapshot(snapshot_id: str) -> Operation[bool]:
    """``True`` when deleted now, ``False`` when there was no such snapshot (404); 409
    ``snapshot_in_use`` raises."""
    return Operation(
        RequestSpec("DELETE", _snapshot_path(snapshot_id)),
        lambda _response: True,
        on_error=_delete_recover,
    )


def list_snapshots(
    *,
    cls: type[S],
    machine_id: str | None = None,
    metadata: Mapping[str, str] | None = None,
    limit: int | None = None,
    cursor: str | None = None,
) -> Operation[Page[S]]:
    params = _list_params([("machine_id", machine_id)], metadata, limit, cursor)
    return Operation(RequestSpec("GET", "/v1/snapshots", params=params), _page("snapshots", cls))


def get_metrics(machine_id: str) -> Operation[MachineMetrics]:
    return Operation(
        RequestSpec("GET", _machine_path(machine_id, "/metrics")), _model(MachineMetrics)
    )


# ---------------------------------------------------------------------------
# commands


class Default(enum.Enum):
    """Marks an argument left out, where ``None`` already means something."""

    DEFAULT = "DEFAULT"

    def __repr__(self) -> str:
        return "DEFAULT"


DEFAULT = Default.DEFAULT

FOREGROUND_TIMEOUT = 60.0
"""A foreground command's timeout when none is given (seconds); a background one has
no limit unless given one."""


def command_seconds(timeout: float | None | Default, *, background: bool) -> float:
    """A command's timeout in seconds, ``0`` for no limit (``None`` or ``0``); left
    out: :data:`FOREGROUND_TIMEOUT` in the foreground, no limit in the background."""
    if timeout is DEFAULT:
        return 0.0 if background else FOREGROUND_TIMEOUT
    if timeout is None:
        return 0.0
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise InvalidArgumentError("bad_request", f"timeout must be a number, got {timeout!r}")
    if timeout < 0:
        raise InvalidArgumentError("bad_request", "timeout must be >= 0 (0 = no limit)")
    return float(timeout)


def json_seconds(seconds: float) -> int | float:
    """``60.0`` is sent as ``60``, ``2.5`` as ``2.5``."""
    return int(seconds) if seconds.is_integer() else seconds


def resolve_shell(shell: bool | None, args: Sequence[str] | None) -> bool:
    """``shell`` left out (``None``): a string runs with ``bash -c``. ``shell=True``
    with ``args=[...]`` is refused: an argv runs without a shell."""
    if shell is None:
        return args is None
    _check_bool("shell", shell)
    if shell and args is not None:
        raise InvalidArgumentError(
            "bad_request", "shell=True and args=[...] exclude each other: args run without a shell"
        )
    return shell


def command_body_argv(cmd: str | None, args: Sequence[str] | None, shell: bool) -> dict[str, Any]:
    """``{"command": ...}`` (run by ``bash -c``) or ``{"args": [...]}``.

    - ``args`` given: argv mode; a ``cmd`` given too becomes ``argv[0]``.
    - ``shell=True`` (default) with a string: ``{"command": cmd}``.
    - ``shell=False`` with a string: the string split with :func:`shlex.split`.
    """
    if args is not None:
        if isinstance(args, str):
            raise InvalidArgumentError("bad_request", "args must be a list of strings")
        argv = ([cmd] if cmd is not None else []) + list(args)
        if not argv:
            raise InvalidArgumentError("bad_request", "args must not be empty")
        if not all(isinstance(a, str) for a in argv):
            raise InvalidArgumentError("bad_request", "args must be a list of strings")
        return {"args": argv}
    if cmd is None:
        raise InvalidArgumentError("bad_request", "give a command string or args=[...]")
    if not isinstance(cmd, str):
        raise InvalidArgumentError("bad_request", "the command must be a string")
    if shell:
        if not cmd.strip():
            raise InvalidArgumentError("bad_request", "the command must not be empty")
        return {"command": cmd}
    argv = shlex.split(cmd)
    if not argv:
        raise InvalidArgumentError("bad_request", "the command must not be empty")
    return {"args": argv}


def run_command(
    machine_id: str,
    cmd: str | None = None,
    *,
    args: Sequence[str] | None = None,
    shell: bool = True,
    cwd: str | None = None,
    envs: Mapping[str, str] | None = None,
    user: str | None = None,
    timeout: float | None = 60,
    stdin: str | bytes | None = None,
    request_timeout: float | None = None,
) -> Operation[CommandResult]:
    """``timeout`` is the command's limit in seconds (``0`` or ``None``: no limit). The
    HTTP request waits that long plus a grace period (at least ``request_timeout``)."""
    body = command_body_argv(cmd, args, shell)
    seconds = command_seconds(timeout, background=False)
    if isinstance(stdin, bytes):
        stdin = stdin.decode("utf-8")
    body.update(
        _drop_none(
            {
                "cwd": cwd,
                "envs": _check_str_map("envs", envs),
                "user": user,
                "timeout": json_seconds(seconds),
                "stdin": stdin,
            }
        )
    )
    http_timeout = None
    if seconds > 0:
        http_timeout = max(seconds + COMMAND_GRACE_SECONDS, request_timeout or 0.0)
    return Operation(
        RequestSpec(
            "POST",
            _machine_path(machine_id, "/commands"),
            json=body,
            timeout=http_timeout,
            no_timeout=seconds == 0,
        ),
        _model(CommandResult),
    )


# ---------------------------------------------------------------------------
# files


DEFAULT_USER = "user"
"""Guest user whose rights a file operation has when none is named (root must be
named: ``user="root"``)."""

MAX_FILE_BYTES = 16 << 30
"""Most bytes one ``PUT /files`` takes (16 GiB, the server's ``MAX_FILE_BYTES``): above
it the server answers 413 ``payload_too_large``, and :func:`upload_file` refuses a
source known to be larger before sending any of it."""


def _path(path: str) -> str:
    if not isinstance(path, str) or not path:
        raise InvalidArgumentError("bad_request", "path must be a non-empty string")
    return path


def _user(user: str | None) -> str:
    """The user a file operation runs as; ``None`` (how older callers asked for the
    server's default) is :data:`DEFAULT_USER`."""
    if user is None:
        return DEFAULT_USER
    if not isinstance(user, str) or not user:
        raise InvalidArgumentError("bad_request", f"user must be a non-empty string, got {user!r}")
    return user


def _file_params(path: str, user: str | None) -> list[tuple[str, str]]:
    return [("path", _path(path)), ("user", _user(user))]


def _byte_count(name: str, value: int | None) -> int | None:
    if value is not None and (_check_int(name, value) or 0) < 0:
        raise InvalidArgumentError("bad_request", f"{name} must be >= 0, got {value}")
    return value


def octal_mode(mode: int | str) -> str:
    """``0o644`` / ``420`` / ``"644"`` / ``"0644"`` -> ``"0644"``."""
    if isinstance(mode, bool):
        raise InvalidArgumentError("bad_request", "mode must be an int or an octal string")
    if isinstance(mode, int):
        if not 0 <= mode <= 0o7777:
            raise InvalidArgumentError("bad_request", f"mode out of range: {mode:o}")
        return f"{mode:04o}"
    if isinstance(mode, str):
        text = mode.strip()
        if text.startswith(("0o", "0O")):
            text = text[2:]
        if not text or any(c not in "01234567" for c in text) or int(text, 8) > 0o7777:
            raise InvalidArgumentError("bad_request", f"mode must be octal, got {mode!r}")
        return text.rjust(4, "0")
    raise InvalidArgumentError("bad_request", "mode must be an int or an octal string")


def read_file(
    machine_id: str,
    path: str,
    *,
    user: str | None = DEFAULT_USER,
    offset: int | None = None,
    limit: int | None = None,
) -> Operation[None]:
    """The bytes from ``offset`` (default 0) to the end, or ``limit`` of them. The
    answer's body is streamed: send it with ``Transport.receive``, which hands the
    bytes to a sink as they arrive."""
    params = _file_params(path, user)
    for name, value in (("offset", offset), ("limit", limit)):
        if _byte_count(name, value) is not None:
            params.append((name, str(value)))
    return Operation(
        RequestSpec(
            "GET",
            _machine_path(machine_id, "/files"),
            params=params,
            headers={"Accept": "application/octet-stream"},
        ),
        _none,
    )


def decode_text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def decode_read(chunks: Iterable[bytes], format: str) -> str | bytes:
    """What ``files.read`` returns for the chunks of a read: bytes, or UTF-8 text."""
    data = b"".join(chunks)
    return data if format == "bytes" else decode_text(data)


def _to_bytes(data: str | bytes | bytearray | memoryview) -> bytes:
    if isinstance(data, str):
        return data.encode("utf-8")
    if isinstance(data, bytes | bytearray | memoryview):
        return bytes(data)
    raise InvalidArgumentError("bad_request", "data must be str or bytes")


def write_file(
    machine_id: str,
    path: str,
    data: str | bytes,
    *,
    user: str | None = DEFAULT_USER,
    mode: int | str | None = None,
) -> Operation[EntryInfo]:
    return Operation(
        RequestSpec(
            "PUT",
            _machine_path(machine_id, "/files"),
            params=_write_params(path, user, mode),
            content=_to_bytes(data),
            headers={"Content-Type": "application/octet-stream"},
        ),
        _model(EntryInfo),
    )


def _write_params(path: str, user: str | None, mode: int | str | None) -> list[tuple[str, str]]:
    params = _file_params(path, user)
    if mode is not None:
        params.append(("mode", octal_mode(mode)))
    return params


def upload_file(
    machine_id: str,
    path: str,
    body: Iterable[bytes] | AsyncIterable[bytes],
    *,
    size: int | None,
    user: str | None = DEFAULT_USER,
    mode: int | str | None = None,
) -> Operation[EntryInfo]:
    """``PUT /files`` with a body sent as ``body`` yields it: with ``Content-Length``
    when its ``size`` is known, chunked otherwise. A ``size`` over
    :data:`MAX_FILE_BYTES` is refused here, as the server would refuse it (an early
    413 does not always reach a client still sending)."""
    headers = {"Content-Type": "application/octet-stream"}
    if _byte_count("size", size) is not None:
        if size is not None and size > MAX_FILE_BYTES:
            raise InvalidArgumentError(
                "payload_too_large",
                f"{path} would be {size} bytes: a file upload is at most {MAX_FILE_BYTES} bytes",
            )
        headers["Content-Length"] = str(size)
    return Operation(
        RequestSpec(
            "PUT",
            _machine_path(machine_id, "/files"),
            params=_write_params(path, user, mode),
            content=body,
            headers=headers,
        ),
        _model(EntryInfo),
    )


WriteFilesInput = WriteEntry | tuple[str, str | bytes] | Mapping[str, Any]


def coerce_write_entry(item: WriteFilesInput) -> WriteEntry:
    """Accept ``WriteEntry``, ``(path, data)`` or ``{"path": ..., "data"|"content": ...}``."""
    if isinstance(item, WriteEntry):
        return item
    if isinstance(item, tuple):
        if len(item) != 2:
            raise InvalidArgumentError("bad_request", "write_files tuples are (path, data)")
        return WriteEntry(_path(item[0]), item[1])
    if isinstance(item, Mapping):
        data = item.get("data", item.get("content"))
        if data is None and "content_base64" in item:
            data = base64.b64decode(item["content_base64"])
        if "path" not in item or data is None:
            raise InvalidArgumentError(
                "bad_request", "write_files dicts need 'path' and 'data' (or 'content')"
            )
        return WriteEntry(_path(item["path"]), data)
    raise InvalidArgumentError(
        "bad_request", f"cannot write {type(item).__name__}: use WriteEntry(path, data)"
    )


def _write_entry_json(entry: WriteEntry) -> dict[str, str]:
    if isinstance(entry.data, str):
        return {"path": entry.path, "content": entry.data}
    return {"path": entry.path, "content_base64": base64.b64encode(entry.data).decode("ascii")}


_PASS_THROUGH = (AuthError, NotFoundError, MachineError, RateLimitError, ServerError, TimeoutError)
"""Errors about the machine or the server, raised as they are by ``write_files``; the
others are about the files and become a :class:`BatchWriteError`."""


def write_files(
    machine_id: str, files: Iterable[WriteFilesInput], *, user: str | None = DEFAULT_USER
) -> Operation[list[EntryInfo]]:
    entries = [coerce_write_entry(f) for f in files]
    paths = [e.path for e in entries]
    body = {"files": [_write_entry_json(e) for e in entries], "user": _user(user)}

    def decode(response: httpx.Response) -> list[EntryInfo]:
        items = _field("files")(response)
        if not isinstance(items, list):
            raise ServerError("invalid_response", "'files' is not a list", response.status_code)
        return [_validate(EntryInfo, item, response) for item in items]

    def on_error(err: NullspaceError) -> list[EntryInfo]:
        # a full disk is a ServerError by its status, but it is about these files
        if isinstance(err, _PASS_THROUGH) and not isinstance(err, FilesystemError):
            raise err
        raise BatchWriteError(err.code, err.message, err.status, paths) from err

    return Operation(
        RequestSpec("POST", _machine_path(machine_id, "/files/batch"), json=body),
        decode,
        on_error=on_error,
    )


def list_files(
    machine_id: str, path: str, depth: int = 1, *, user: str | None = DEFAULT_USER
) -> Operation[list[EntryInfo]]:
    def decode(response: httpx.Response) -> list[EntryInfo]:
        items = _field("entries")(response)
        if not isinstance(items, list):
            raise ServerError("invalid_response", "'entries' is not a list", response.status_code)
        return [_validate(EntryInfo, item, response) for item in items]

    params = _file_params(path, user)
    params.append(("depth", str(int(depth))))
    return Operation(
        RequestSpec("GET", _machine_path(machine_id, "/files/list"), params=params), decode
    )


def _bool_field(name: str) -> Callable[[httpx.Response], bool]:
    def decode(response: httpx.Response) -> bool:
        value = _field(name)(response)
        if not isinstance(value, bool):
            raise ServerError("invalid_response", f"{name!r} is not a boolean", 200)
        return value

    return decode


def file_exists(machine_id: str, path: str, *, user: str | None = DEFAULT_USER) -> Operation[bool]:
    return Operation(
        RequestSpec(
            "GET", _machine_path(machine_id, "/files/exists"), params=_file_params(path, user)
        ),
        _bool_field("exists"),
    )


def file_info(
    machine_id: str, path: str, *, user: str | None = DEFAULT_USER
) -> Operation[EntryInfo]:
    return Operation(
        RequestSpec(
            "GET", _machine_path(machine_id, "/files/info"), params=_file_params(path, user)
        ),
        _model(EntryInfo),
    )


def make_dir(machine_id: str, path: str, *, user: str | None = DEFAULT_USER) -> Operation[bool]:
    body = {"path": _path(path), "user": _user(user)}
    return Operation(
        RequestSpec("POST", _machine_path(machine_id, "/files/mkdir"), json=body),
        _bool_field("created"),
    )


def rename_file(
    machine_id: str, old_path: str, new_path: str, *, user: str | None = DEFAULT_USER
) -> Operation[EntryInfo]:
    body = {"source": _path(old_path), "destination": _path(new_path), "user": _user(user)}
    return Operation(
        RequestSpec("POST", _machine_path(machine_id, "/files/rename"), json=body),
        _model(EntryInfo),
    )


def remove_file(
    machine_id: str, path: str, *, recursive: bool = True, user: str | None = DEFAULT_USER
) -> Operation[None]:
    """Recursive by default, as the API is."""
    params = _file_params(path, user)
    params.append(("recursive", "true" if recursive else "false"))
    return Operation(
        RequestSpec("DELETE", _machine_path(machine_id, "/files"), params=params), _none
    )


def chmod_file(
    machine_id: str, path: str, mode: int | str, *, user: str | None = DEFAULT_USER
) -> Operation[EntryInfo]:
    body = {"path": _path(path), "mode": octal_mode(mode), "user": _user(user)}
    return Operation(
        RequestSpec("POST", _machine_path(machine_id, "/files/chmod"), json=body),
        _model(EntryInfo),
    )


MAX_SIGNED_URL_SECONDS = 7 * 24 * 3600
"""Longest life of a signed file URL (7 days, the server's limit); the server's
default, when ``expires_in`` is left out, is one hour."""

_SIGNED_URL_ROUTES: dict[str, str] = {"GET": "/files/download-url", "PUT": "/files/upload-url"}


def _expires_in(value: int | None) -> int | None:
    if value is None:
        return None
    _check_int("expires_in", value)
    if not 1 <= value <= MAX_SIGNED_URL_SECONDS:
        raise InvalidArgumentError(
            "bad_request", f"expires_in must be 1..{MAX_SIGNED_URL_SECONDS} seconds, got {value}"
        )
    return value


def signed_file_url(
    machine_id: str,
    path: str,
    method: SignedUrlMethod,
    *,
    user: str | None = DEFAULT_USER,
    expires_in: int | None = None,
) -> Operation[SignedUrl]:
    """A URL that downloads (``GET``) or writes (``PUT``) ``path`` as ``user`` without
    an API key, for ``expires_in`` seconds (1 to :data:`MAX_SIGNED_URL_SECONDS`; the
    server's default when ``None``). An answer for another method than asked is
    refused."""
    route = _SIGNED_URL_ROUTES.get(method) if isinstance(method, str) else None
    if route is None:
        raise InvalidArgumentError("bad_request", f"method must be 'GET' or 'PUT', got {method!r}")
    body = _drop_none(
        {"path": _path(path), "user": _user(user), "expires_in": _expires_in(expires_in)}
    )

    def decode(response: httpx.Response) -> SignedUrl:
        signed = _validate(SignedUrl, _json(response), response)
        if signed.method != method:
            raise ServerError(
                "invalid_response",
                f"asked for a {method} URL, got a {signed.method} one",
                response.status_code,
            )
        return signed

    return Operation(RequestSpec("POST", _machine_path(machine_id, route), json=body), decode)


# ---------------------------------------------------------------------------
# output callbacks (shared by sync and async commands)


def output_callbacks(
    result: CommandResult,
    on_stdout: Callable[[str], Any] | None,
    on_stderr: Callable[[str], Any] | None,
) -> list[Any]:
    """Call the callbacks with the output; return what they returned (awaitables
    are awaited by the async client)."""
    returned: list[Any] = []
    if on_stdout is not None and result.stdout:
        returned.append(on_stdout(result.stdout))
    if on_stderr is not None and result.stderr:
        returned.append(on_stderr(result.stderr))
    return returned
