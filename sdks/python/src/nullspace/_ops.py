"""Every API operation as a pure function returning an :class:`Operation`.

The sync and async classes call these and only *send* the result; request
construction, argument validation and response decoding live here, once.
"""

from __future__ import annotations

import base64
import shlex
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from ._transport import Operation, RequestSpec
from .errors import (
    AuthError,
    BatchWriteError,
    InvalidArgumentError,
    MachineError,
    NotFoundError,
    NullspaceError,
    RateLimitError,
    ServerError,
    TimeoutError,
)
from .models import CommandResult, EntryInfo, MachineInfo, WriteEntry

M = TypeVar("M", bound=BaseModel)

COMMAND_GRACE_SECONDS = 30.0
"""Extra HTTP time on top of a command's own timeout, so the server answers first."""


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
    template: str = "base",
    timeout: int | None = 300,
    metadata: Mapping[str, str] | None = None,
    envs: Mapping[str, str] | None = None,
    cwd: str | None = None,
    cpu_count: int | None = None,
    memory_mb: int | None = None,
    idempotency_key: str | None = None,
) -> Operation[MachineInfo]:
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


def kill_machine(machine_id: str) -> Operation[bool]:
    """``True`` when killed now, ``False`` when it was already gone or going (404, or 409
    ``machine_not_running`` / ``conflict``)."""
    return Operation(
        RequestSpec("DELETE", _machine_path(machine_id)),
        lambda _response: True,
        on_error=_kill_recover,
    )


def set_machine_timeout(machine_id: str, timeout: int) -> Operation[MachineInfo]:
    if isinstance(timeout, bool) or not isinstance(timeout, int):
        raise InvalidArgumentError("bad_request", "timeout must be an integer number of seconds")
    return Operation(
        RequestSpec("POST", _machine_path(machine_id, "/timeout"), json={"timeout": timeout}),
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
class MachinePage:
    machines: list[MachineInfo]
    next_cursor: str | None


def _decode_page(response: httpx.Response) -> MachinePage:
    data = _json(response)
    if not isinstance(data, dict) or not isinstance(data.get("machines"), list):
        raise ServerError(
            "invalid_response", "missing 'machines' in the machine list", response.status_code
        )
    machines = [_validate(MachineInfo, item, response) for item in data["machines"]]
    cursor = data.get("next_cursor")
    return MachinePage(machines, cursor if isinstance(cursor, str) and cursor else None)


def list_machines(
    *,
    state: str | None = None,
    template: str | None = None,
    metadata: Mapping[str, str] | None = None,
    limit: int | None = None,
    cursor: str | None = None,
) -> Operation[MachinePage]:
    params: list[tuple[str, str]] = []
    if state is not None:
        params.append(("state", state))
    if template is not None:
        params.append(("template", template))
    for key, value in (_check_str_map("metadata", metadata) or {}).items():
        params.append(("metadata", f"{key}={value}"))
    if limit is not None:
        params.append(("limit", str(int(limit))))
    if cursor is not None:
        params.append(("cursor", cursor))
    return Operation(RequestSpec("GET", "/v1/machines", params=params), _decode_page)


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
# commands


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
    seconds = 0.0 if timeout is None else float(timeout)
    if seconds < 0:
        raise InvalidArgumentError("bad_request", "timeout must be >= 0 (0 = no limit)")
    if isinstance(stdin, bytes):
        stdin = stdin.decode("utf-8")
    body.update(
        _drop_none(
            {
                "cwd": cwd,
                "envs": _check_str_map("envs", envs),
                "user": user,
                "timeout": int(seconds) if seconds.is_integer() else seconds,
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


def _path(path: str) -> str:
    if not isinstance(path, str) or not path:
        raise InvalidArgumentError("bad_request", "path must be a non-empty string")
    return path


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


def read_file(machine_id: str, path: str) -> Operation[bytes]:
    return Operation(
        RequestSpec(
            "GET",
            _machine_path(machine_id, "/files"),
            params=[("path", _path(path))],
            headers={"Accept": "application/octet-stream"},
        ),
        lambda response: response.content,
    )


def decode_text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


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
    user: str | None = None,
    mode: int | str | None = None,
) -> Operation[EntryInfo]:
    params = [("path", _path(path))]
    if user is not None:
        params.append(("user", user))
    if mode is not None:
        params.append(("mode", octal_mode(mode)))
    return Operation(
        RequestSpec(
            "PUT",
            _machine_path(machine_id, "/files"),
            params=params,
            content=_to_bytes(data),
            headers={"Content-Type": "application/octet-stream"},
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


def write_files(
    machine_id: str, files: Iterable[WriteFilesInput], *, user: str | None = None
) -> Operation[list[EntryInfo]]:
    entries = [coerce_write_entry(f) for f in files]
    paths = [e.path for e in entries]
    body: dict[str, Any] = {"files": [_write_entry_json(e) for e in entries]}
    if user is not None:
        body["user"] = user

    def decode(response: httpx.Response) -> list[EntryInfo]:
        items = _field("files")(response)
        if not isinstance(items, list):
            raise ServerError("invalid_response", "'files' is not a list", response.status_code)
        return [_validate(EntryInfo, item, response) for item in items]

    def on_error(err: NullspaceError) -> list[EntryInfo]:
        if isinstance(err, _PASS_THROUGH):
            raise err
        raise BatchWriteError(err.code, err.message, err.status, paths) from err

    return Operation(
        RequestSpec("POST", _machine_path(machine_id, "/files/batch"), json=body),
        decode,
        on_error=on_error,
    )


def list_files(machine_id: str, path: str, depth: int = 1) -> Operation[list[EntryInfo]]:
    def decode(response: httpx.Response) -> list[EntryInfo]:
        items = _field("entries")(response)
        if not isinstance(items, list):
            raise ServerError("invalid_response", "'entries' is not a list", response.status_code)
        return [_validate(EntryInfo, item, response) for item in items]

    return Operation(
        RequestSpec(
            "GET",
            _machine_path(machine_id, "/files/list"),
            params=[("path", _path(path)), ("depth", str(int(depth)))],
        ),
        decode,
    )


def _bool_field(name: str) -> Callable[[httpx.Response], bool]:
    def decode(response: httpx.Response) -> bool:
        value = _field(name)(response)
        if not isinstance(value, bool):
            raise ServerError("invalid_response", f"{name!r} is not a boolean", 200)
        return value

    return decode


def file_exists(machine_id: str, path: str) -> Operation[bool]:
    return Operation(
        RequestSpec(
            "GET", _machine_path(machine_id, "/files/exists"), params=[("path", _path(path))]
        ),
        _bool_field("exists"),
    )


def file_info(machine_id: str, path: str) -> Operation[EntryInfo]:
    return Operation(
        RequestSpec(
            "GET", _machine_path(machine_id, "/files/info"), params=[("path", _path(path))]
        ),
        _model(EntryInfo),
    )


def make_dir(machine_id: str, path: str, *, user: str | None = None) -> Operation[bool]:
    body = _drop_none({"path": _path(path), "user": user})
    return Operation(
        RequestSpec("POST", _machine_path(machine_id, "/files/mkdir"), json=body),
        _bool_field("created"),
    )


def rename_file(machine_id: str, old_path: str, new_path: str) -> Operation[EntryInfo]:
    body = {"source": _path(old_path), "destination": _path(new_path)}
    return Operation(
        RequestSpec("POST", _machine_path(machine_id, "/files/rename"), json=body),
        _model(EntryInfo),
    )


def remove_file(machine_id: str, path: str, *, recursive: bool = True) -> Operation[None]:
    return Operation(
        RequestSpec(
            "DELETE",
            _machine_path(machine_id, "/files"),
            params=[("path", _path(path)), ("recursive", "true" if recursive else "false")],
        ),
        _none,
    )


def chmod_file(machine_id: str, path: str, mode: int | str) -> Operation[EntryInfo]:
    body = {"path": _path(path), "mode": octal_mode(mode)}
    return Operation(
        RequestSpec("POST", _machine_path(machine_id, "/files/chmod"), json=body),
        _model(EntryInfo),
    )


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
