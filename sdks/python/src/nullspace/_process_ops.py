"""Processes and PTY sessions as pure :class:`Operation` builders (no I/O).

A process started with ``POST /v1/machines/{id}/processes`` lives in the machine's
process table: it outlives the request and any client, and is addressed by its guest
``pid``. A PTY session is such a process on a terminal; its ``session_id`` is its pid.
Its output is read over the WebSocket of :mod:`nullspace._stream`; everything else
(input, signals, resizes, kills) is one HTTP request each, built here.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, TypeVar

import httpx
from pydantic import BaseModel

from ._command_ops import command_body_argv, json_seconds
from ._op_base import (
    _check_bool,
    _check_str_map,
    _drop_none,
    _field,
    _machine_path,
    _model,
    _none,
    _validate,
)
from ._transport import Operation, RequestSpec
from .errors import (
    InvalidArgumentError,
    NullspaceError,
    ProcessExitedError,
    ProcessNotFoundError,
    ServerError,
)
from .models import ProcessInfo, ProcessLogs, PtySessionInfo

M = TypeVar("M", bound=BaseModel)

MAX_STDIN_CHUNK = 512 << 10
"""Bytes of input per request. The server takes at most 1 MiB per request; longer
input is split, and sent in order."""

MAX_PTY_SIDE = 1000
"""Largest number of columns or rows of a terminal."""

LogEncoding = Literal["utf8", "base64"]


def check_pid(pid: int) -> int:
    if isinstance(pid, bool) or not isinstance(pid, int) or pid < 1:
        raise InvalidArgumentError("bad_request", f"pid must be a positive integer, got {pid!r}")
    return pid


def process_path(machine_id: str, pid: int | None = None, suffix: str = "") -> str:
    tail = "" if pid is None else f"/{check_pid(pid)}"
    return _machine_path(machine_id, f"/processes{tail}{suffix}")


def pty_path(machine_id: str, pid: int | None = None, suffix: str = "") -> str:
    tail = "" if pid is None else f"/{check_pid(pid)}"
    return _machine_path(machine_id, f"/pty{tail}{suffix}")


def pty_size(cols: int, rows: int) -> dict[str, int]:
    """``{"cols", "rows"}``, each 1 to :data:`MAX_PTY_SIDE` (checked before sending, so
    a 0x0 terminal is refused here)."""
    for name, value in (("cols", cols), ("rows", rows)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidArgumentError("bad_request", f"{name} must be an integer, got {value!r}")
        if not 1 <= value <= MAX_PTY_SIDE:
            raise InvalidArgumentError(
                "bad_request", f"{name} must be 1 to {MAX_PTY_SIDE}, got {value}"
            )
    return {"cols": cols, "rows": rows}


def _items(key: str, cls: type[M]) -> Callable[[httpx.Response], list[M]]:
    def decode(response: httpx.Response) -> list[M]:
        items = _field(key)(response)
        if not isinstance(items, list):
            raise ServerError("invalid_response", f"{key!r} is not a list", response.status_code)
        return [_validate(cls, item, response) for item in items]

    return decode


# ---------------------------------------------------------------------------
# processes


def start_process(
    machine_id: str,
    cmd: str | None = None,
    *,
    args: Sequence[str] | None = None,
    shell: bool = True,
    cwd: str | None = None,
    envs: Mapping[str, str] | None = None,
    user: str | None = None,
    stdin: bool = False,
    tag: str | None = None,
    timeout: float = 0.0,
    pty: tuple[int, int] | None = None,
) -> Operation[ProcessInfo]:
    """Start a process that outlives the request. ``timeout`` in seconds (``0``: no
    limit); ``stdin=True`` keeps its stdin open for :func:`write_stdin`; ``pty`` is
    ``(cols, rows)`` of a terminal to run it on."""
    body = command_body_argv(cmd, args, shell)
    if tag is not None and (not isinstance(tag, str) or not tag):
        raise InvalidArgumentError("bad_request", f"tag must be a non-empty string, got {tag!r}")
    body.update(
        _drop_none(
            {
                "cwd": cwd,
                "envs": _check_str_map("envs", envs) or None,
                "user": user,
                "stdin": True if _check_bool("stdin", stdin) else None,
                "tag": tag,
                "timeout": json_seconds(timeout) if timeout > 0 else None,
                "pty": pty_size(*pty) if pty is not None else None,
            }
        )
    )
    return Operation(RequestSpec("POST", process_path(machine_id), json=body), _model(ProcessInfo))


def list_processes(machine_id: str) -> Operation[list[ProcessInfo]]:
    """Running and recently exited processes, by pid."""
    return Operation(RequestSpec("GET", process_path(machine_id)), _items("processes", ProcessInfo))


def get_process(machine_id: str, pid: int) -> Operation[ProcessInfo]:
    return Operation(RequestSpec("GET", process_path(machine_id, pid)), _model(ProcessInfo))


def process_logs(
    machine_id: str,
    pid: int,
    *,
    stdout_offset: int | None = None,
    stderr_offset: int | None = None,
    encoding: LogEncoding = "utf8",
) -> Operation[ProcessLogs]:
    if encoding not in ("utf8", "base64"):
        raise InvalidArgumentError(
            "bad_request", f"encoding must be 'utf8' or 'base64', not {encoding!r}"
        )
    params: list[tuple[str, str]] = [("encoding", encoding)]
    for name, value in (("stdout_offset", stdout_offset), ("stderr_offset", stderr_offset)):
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidArgumentError("bad_request", f"{name} must be >= 0, got {value!r}")
            params.append((name, str(value)))
    return Operation(
        RequestSpec("GET", process_path(machine_id, pid, "/logs"), params=params),
        _model(ProcessLogs),
    )


def _input_bytes(data: str | bytes | bytearray | memoryview) -> bytes:
    if isinstance(data, str):
        return data.encode("utf-8")
    if isinstance(data, bytes | bytearray | memoryview):
        return bytes(data)
    raise InvalidArgumentError("bad_request", "input must be str or bytes")


def write_stdin(
    machine_id: str, pid: int, data: str | bytes, *, close: bool = False
) -> list[Operation[None]]:
    """Requests writing ``data`` to the process's stdin (or terminal), in order: one
    for input up to :data:`MAX_STDIN_CHUNK` bytes, more for longer input. Text that
    fits in one is sent as ``data``, anything else as ``data_base64``. ``close``
    closes stdin after the last byte."""
    path = process_path(machine_id, pid, "/stdin")
    raw = _input_bytes(data)
    bodies: list[dict[str, Any]]
    if isinstance(data, str) and len(raw) <= MAX_STDIN_CHUNK:
        bodies = [{"data": data}]
    else:
        chunks = [raw[i : i + MAX_STDIN_CHUNK] for i in range(0, len(raw), MAX_STDIN_CHUNK)]
        bodies = [{"data_base64": base64.b64encode(c).decode("ascii")} for c in chunks or [b""]]
    if close:
        bodies[-1]["close"] = True
    return [Operation(RequestSpec("POST", path, json=body), _none) for body in bodies]


def close_stdin(machine_id: str, pid: int) -> Operation[None]:
    """Close stdin: the process reads end of file."""
    return Operation(RequestSpec("POST", process_path(machine_id, pid, "/close-stdin")), _none)


def check_signal(signal: str | int) -> str | int:
    """A signal by name (``"SIGTERM"``, ``"term"``) or number (1-64)."""
    if isinstance(signal, bool):
        raise InvalidArgumentError("bad_request", "signal must be a name or a number")
    if isinstance(signal, int):
        if not 1 <= signal <= 64:
            raise InvalidArgumentError("bad_request", f"signal must be 1 to 64, got {signal}")
        return signal
    if isinstance(signal, str) and signal.strip():
        return signal.strip()
    raise InvalidArgumentError("bad_request", f"signal must be a name or a number: {signal!r}")


def signal_process(machine_id: str, pid: int, signal: str | int) -> Operation[None]:
    """Send a signal to the process group."""
    body = {"signal": check_signal(signal)}
    return Operation(
        RequestSpec("POST", process_path(machine_id, pid, "/signal"), json=body), _none
    )


def _gone(err: NullspaceError) -> bool:
    # The process had already exited (409), or was forgotten since (404): this call
    # killed nothing. A missing machine (404 not_found) still raises.
    if isinstance(err, ProcessExitedError | ProcessNotFoundError):
        return False
    raise err


def kill_process(machine_id: str, pid: int) -> Operation[bool]:
    """``True`` when SIGKILL was sent to its process group now, ``False`` when it had
    already exited."""
    return Operation(
        RequestSpec("DELETE", process_path(machine_id, pid)), lambda _r: True, on_error=_gone
    )


def resize_process(machine_id: str, pid: int, cols: int, rows: int) -> Operation[None]:
    """Resize the terminal of a PTY process (409 ``not_a_pty`` for another one)."""
    body = pty_size(cols, rows)
    return Operation(
        RequestSpec("POST", process_path(machine_id, pid, "/resize"), json=body), _none
    )


def stream_path(machine_id: str, pid: int) -> str:
    """The WebSocket route of a process's output."""
    return process_path(machine_id, pid, "/stream")


# ---------------------------------------------------------------------------
# PTY sessions


def create_pty(
    machine_id: str,
    *,
    cols: int = 80,
    rows: int = 24,
    cwd: str | None = None,
    envs: Mapping[str, str] | None = None,
    user: str | None = None,
    command: str | None = None,
) -> Operation[PtySessionInfo]:
    """A terminal running ``command`` (default: the user's login shell)."""
    body = _drop_none(
        {
            **pty_size(cols, rows),
            "cwd": cwd,
            "envs": _check_str_map("envs", envs) or None,
            "user": user,
            "command": command,
        }
    )
    return Operation(RequestSpec("POST", pty_path(machine_id), json=body), _model(PtySessionInfo))


def list_ptys(machine_id: str) -> Operation[list[PtySessionInfo]]:
    return Operation(RequestSpec("GET", pty_path(machine_id)), _items("sessions", PtySessionInfo))


def get_pty(machine_id: str, session_id: int) -> Operation[PtySessionInfo]:
    return Operation(RequestSpec("GET", pty_path(machine_id, session_id)), _model(PtySessionInfo))


def resize_pty(machine_id: str, session_id: int, cols: int, rows: int) -> Operation[None]:
    body = pty_size(cols, rows)
    return Operation(
        RequestSpec("POST", pty_path(machine_id, session_id, "/resize"), json=body), _none
    )


def kill_pty(machine_id: str, session_id: int) -> Operation[bool]:
    """``True`` when killed now, ``False`` when the session had already ended."""
    return Operation(
        RequestSpec("DELETE", pty_path(machine_id, session_id)), lambda _r: True, on_error=_gone
    )


def pty_connect_path(machine_id: str, session_id: int) -> str:
    """The WebSocket route of a PTY session's terminal."""
    return pty_path(machine_id, session_id, "/connect")
