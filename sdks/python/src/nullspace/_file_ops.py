"""Operations on the files of a machine: read, write, list, info, rename, remove,
chmod and signed URLs (see :mod:`._ops`)."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterable, Callable, Iterable, Mapping
from typing import Any

import httpx

from ._op_base import (
    DEFAULT_USER,
    _byte_count,
    _check_int,
    _drop_none,
    _field,
    _json,
    _machine_path,
    _model,
    _none,
    _path,
    _user,
    _validate,
)
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
    EntryInfo,
    SignedUrl,
    SignedUrlMethod,
    WriteEntry,
)

# ---------------------------------------------------------------------------
# files


MAX_FILE_BYTES = 16 << 30
"""Most bytes one ``PUT /files`` takes (16 GiB, the server's ``MAX_FILE_BYTES``): above
it the server answers 413 ``payload_too_large``, and :func:`upload_file` refuses a
source known to be larger before sending any of it."""


def _file_params(path: str, user: str | None) -> list[tuple[str, str]]:
    return [("path", _path(path)), ("user", _user(user))]


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
