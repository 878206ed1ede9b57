"""Operations moving directories and large files: tar archives in and out of a
directory (``PUT|GET /files/archive``) and resumable upload sessions (``/uploads``),
per ``spec/files.md`` (see :mod:`._ops`)."""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable
from dataclasses import dataclass
from typing import Literal, get_args
from urllib.parse import quote

import httpx

from ._file_ops import octal_mode
from ._op_base import (
    DEFAULT_USER,
    _check_int,
    _drop_none,
    _json,
    _machine_path,
    _model,
    _none,
    _path,
    _user,
    _validate,
)
from ._transport import Operation, RequestSpec
from .errors import InvalidArgumentError, NullspaceError, ServerError, UploadNotFoundError
from .models import ArchiveInfo, EntryInfo, UploadSession, UploadSessionKind

__all__ = [
    "CONFLICT_POLICIES",
    "MAX_CHUNK_BYTES",
    "MAX_UPLOAD_EXPIRY_SECONDS",
    "MIN_CHUNK_BYTES",
    "Completed",
    "ConflictPolicy",
    "abort_upload",
    "complete_upload",
    "create_upload",
    "get_archive",
    "get_upload",
    "put_archive",
    "put_chunk",
]

ConflictPolicy = Literal["merge", "skip", "replace", "error"]
"""What a directory upload does with what is already at its destination: ``merge``
(create what is missing, replace files that exist, keep everything else), ``skip``
(keep files that exist), ``replace`` (the destination becomes exactly the archive),
``error`` (refuse with ``already_exists`` / ``upload_conflict`` if it exists)."""

CONFLICT_POLICIES: tuple[str, ...] = get_args(ConflictPolicy)

MIN_CHUNK_BYTES = 64 << 10
MAX_CHUNK_BYTES = 64 << 20
MAX_UPLOAD_EXPIRY_SECONDS = 7 * 24 * 3600
"""Longest life of an upload session (the server's default is 24 hours)."""

CHUNK_SHA256_HEADER = "x-nullspace-chunk-sha256"

TAR_CONTENT_TYPE = "application/x-tar"


def conflict_policy(value: str) -> str:
    if value not in CONFLICT_POLICIES:
        choices = ", ".join(repr(c) for c in CONFLICT_POLICIES)
        raise InvalidArgumentError(
            "bad_request", f"conflict must be one of {choices}, got {value!r}"
        )
    return value


def _archive_params(path: str, user: str | None, conflict: str | None) -> list[tuple[str, str]]:
    params = [("path", _path(path))]
    if conflict is not None:
        params.append(("conflict", conflict_policy(conflict)))
    params.append(("user", _user(user)))
    return params


def put_archive(
    machine_id: str,
    path: str,
    body: Iterable[bytes] | AsyncIterable[bytes],
    *,
    conflict: str = "merge",
    user: str | None = DEFAULT_USER,
) -> Operation[ArchiveInfo]:
    """Unpack the tar stream ``body`` yields into the directory ``path`` (sent chunked,
    as it is made)."""
    return Operation(
        RequestSpec(
            "PUT",
            _machine_path(machine_id, "/files/archive"),
            params=_archive_params(path, user, conflict),
            content=body,
            headers={"Content-Type": TAR_CONTENT_TYPE},
        ),
        _model(ArchiveInfo),
    )


def get_archive(machine_id: str, path: str, *, user: str | None = DEFAULT_USER) -> Operation[None]:
    """A tar stream of the directory ``path`` (received with ``Transport.receive``)."""
    return Operation(
        RequestSpec(
            "GET",
            _machine_path(machine_id, "/files/archive"),
            params=_archive_params(path, user, None),
            headers={"Accept": TAR_CONTENT_TYPE},
        ),
        _none,
    )


# ---------------------------------------------------------------------------
# resumable upload sessions


def _upload_path(machine_id: str, upload_id: str, suffix: str = "") -> str:
    if not isinstance(upload_id, str) or not upload_id:
        raise InvalidArgumentError("bad_request", "upload_id must be a non-empty string")
    return _machine_path(machine_id, f"/uploads/{quote(upload_id, safe='')}{suffix}")


def _chunk_size(value: int | None) -> int | None:
    if value is None:
        return None
    _check_int("chunk_size", value)
    if not MIN_CHUNK_BYTES <= value <= MAX_CHUNK_BYTES:
        raise InvalidArgumentError(
            "bad_request",
            f"chunk_size must be {MIN_CHUNK_BYTES}..{MAX_CHUNK_BYTES} bytes, got {value}",
        )
    return value


def _upload_expiry(value: int | None) -> int | None:
    if value is None:
        return None
    _check_int("expires_in", value)
    if not 1 <= value <= MAX_UPLOAD_EXPIRY_SECONDS:
        raise InvalidArgumentError(
            "bad_request",
            f"expires_in must be 1..{MAX_UPLOAD_EXPIRY_SECONDS} seconds, got {value}",
        )
    return value


def create_upload(
    machine_id: str,
    path: str,
    size: int,
    *,
    kind: UploadSessionKind = "file",
    chunk_size: int | None = None,
    sha256: str | None = None,
    conflict: str | None = None,
    mode: int | str | None = None,
    expires_in: int | None = None,
    user: str | None = DEFAULT_USER,
) -> Operation[UploadSession]:
    """Open a session for ``size`` bytes going to ``path`` (a file, or the directory an
    ``archive`` is unpacked into at completion)."""
    if (_check_int("size", size) or 0) < 0:
        raise InvalidArgumentError("bad_request", f"size must be >= 0, got {size}")
    if kind not in ("file", "archive"):
        raise InvalidArgumentError("bad_request", f"kind must be 'file' or 'archive', not {kind!r}")
    if kind == "file" and conflict is not None:
        raise InvalidArgumentError("bad_request", "conflict is for archives only")
    if kind == "archive" and mode is not None:
        raise InvalidArgumentError("bad_request", "mode is for files only")
    body = _drop_none(
        {
            "path": _path(path),
            "size": size,
            "kind": kind,
            "chunk_size": _chunk_size(chunk_size),
            "sha256": sha256,
            "conflict": conflict_policy(conflict) if conflict is not None else None,
            "mode": octal_mode(mode) if mode is not None else None,
            "expires_in": _upload_expiry(expires_in),
            "user": _user(user),
        }
    )
    return Operation(
        RequestSpec("POST", _machine_path(machine_id, "/uploads"), json=body),
        _model(UploadSession),
    )


def get_upload(machine_id: str, upload_id: str) -> Operation[UploadSession]:
    """The session: which chunks arrived (what a resume skips)."""
    return Operation(RequestSpec("GET", _upload_path(machine_id, upload_id)), _model(UploadSession))


def put_chunk(
    machine_id: str, upload_id: str, index: int, data: bytes, *, sha256: str | None = None
) -> Operation[UploadSession]:
    """Send chunk ``index`` (exactly ``chunk_size`` bytes, the last one the rest);
    ``sha256`` is checked by the server before it keeps the chunk."""
    if (_check_int("index", index) or 0) < 0:
        raise InvalidArgumentError("bad_request", f"index must be >= 0, got {index}")
    headers = {"Content-Type": "application/octet-stream"}
    if sha256 is not None:
        headers[CHUNK_SHA256_HEADER] = sha256
    return Operation(
        RequestSpec(
            "PUT",
            _upload_path(machine_id, upload_id, f"/chunks/{index}"),
            content=data,
            headers=headers,
        ),
        _model(UploadSession),
    )


@dataclass(frozen=True)
class Completed:
    """The answer of a completion: the session, and the written file or what the
    archive unpacked."""

    upload: UploadSession
    entry: EntryInfo | None
    archive: ArchiveInfo | None


def _decode_completed(response: httpx.Response) -> Completed:
    data = _json(response)
    if not isinstance(data, dict) or "upload" not in data:
        raise ServerError(
            "invalid_response",
            f"expected {{upload, entry|archive}} from {response.request.url.path}",
            response.status_code,
        )
    upload = _validate(UploadSession, data["upload"], response)
    entry = data.get("entry")
    archive = data.get("archive")
    return Completed(
        upload,
        _validate(EntryInfo, entry, response) if entry is not None else None,
        _validate(ArchiveInfo, archive, response) if archive is not None else None,
    )


def complete_upload(
    machine_id: str, upload_id: str, *, sha256: str | None = None
) -> Operation[Completed]:
    """Check every chunk arrived (and the digest), then move the file into place or
    unpack the archive."""
    body = _drop_none({"sha256": sha256})
    return Operation(
        RequestSpec(
            "POST", _upload_path(machine_id, upload_id, "/complete"), json=body, no_timeout=True
        ),
        _decode_completed,
    )


def _abort_recover(err: NullspaceError) -> bool:
    if isinstance(err, UploadNotFoundError):
        return False
    raise err


def abort_upload(machine_id: str, upload_id: str) -> Operation[bool]:
    """Drop the session and its staged bytes: ``True`` when aborted now, ``False`` when
    there was no such session (404 ``upload_not_found``)."""
    return Operation(
        RequestSpec("DELETE", _upload_path(machine_id, upload_id)),
        lambda _response: True,
        on_error=_abort_recover,
    )
