"""Operations that look through a machine's files: search names, find content,
replace content, and the route of a directory watch (``spec/files.md``; see
:mod:`._ops`).

The work happens inside the machine, so only results cross the channel; the limits
below are the server's, checked here so that a bad argument fails before any
request.
"""

from __future__ import annotations

from collections.abc import Sequence

import httpx

from ._op_base import (
    DEFAULT_USER,
    _check_bool,
    _check_int,
    _drop_none,
    _field,
    _machine_path,
    _model,
    _path,
    _user,
    _validate,
)
from ._transport import Operation, RequestSpec
from .errors import InvalidArgumentError, ServerError
from .models import EntryInfo, FindResult, ReplaceResult

__all__ = [
    "MAX_LIST_RESULTS",
    "find_files",
    "replace_in_files",
    "search_files",
    "watch_params",
    "watch_path",
]

MAX_LIST_RESULTS = 10_000
"""Most entries, matches or files one search, find or replace answers."""


def _limit(name: str, value: int | None) -> int | None:
    if value is None:
        return None
    _check_int(name, value)
    if not 1 <= value <= MAX_LIST_RESULTS:
        raise InvalidArgumentError(
            "bad_request", f"{name} must be 1..{MAX_LIST_RESULTS}, got {value}"
        )
    return value


def _pattern(name: str, value: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidArgumentError("bad_request", f"{name} must be a non-empty string")
    return value


def _include(value: str | None) -> str | None:
    if value is not None and (not isinstance(value, str) or not value):
        raise InvalidArgumentError("bad_request", "include must be a non-empty glob or None")
    return value


def search_files(
    machine_id: str,
    path: str,
    pattern: str,
    *,
    limit: int | None = None,
    user: str | None = DEFAULT_USER,
) -> Operation[list[EntryInfo]]:
    """Entries under the directory ``path`` whose name (or, for a pattern with a
    ``/``, path relative to ``path``) matches the glob ``pattern``."""
    params = [("path", _path(path)), ("pattern", _pattern("pattern", pattern))]
    if _limit("limit", limit) is not None:
        params.append(("limit", str(limit)))
    params.append(("user", _user(user)))

    def decode(response: httpx.Response) -> list[EntryInfo]:
        items = _field("entries")(response)
        if not isinstance(items, list):
            raise ServerError("invalid_response", "'entries' is not a list", response.status_code)
        return [_validate(EntryInfo, item, response) for item in items]

    return Operation(
        RequestSpec("GET", _machine_path(machine_id, "/files/search"), params=params), decode
    )


def find_files(
    machine_id: str,
    path: str,
    pattern: str,
    *,
    regex: bool = False,
    case_sensitive: bool = True,
    include: str | None = None,
    max_results: int | None = None,
    max_file_bytes: int | None = None,
    user: str | None = DEFAULT_USER,
) -> Operation[FindResult]:
    """Lines of the files under ``path`` (or of the one file) that contain
    ``pattern``: a literal, or a regular expression with ``regex=True``."""
    if max_file_bytes is not None and (_check_int("max_file_bytes", max_file_bytes) or 0) < 1:
        raise InvalidArgumentError("bad_request", "max_file_bytes must be >= 1")
    body = _drop_none(
        {
            "path": _path(path),
            "pattern": _pattern("pattern", pattern),
            "regex": _check_bool("regex", regex),
            "case_sensitive": _check_bool("case_sensitive", case_sensitive),
            "include": _include(include),
            "max_results": _limit("max_results", max_results),
            "max_file_bytes": max_file_bytes,
            "user": _user(user),
        }
    )
    return Operation(
        RequestSpec("POST", _machine_path(machine_id, "/files/find"), json=body),
        _model(FindResult),
    )


MAX_REPLACE_PATHS = 1000
"""Most paths one replace names."""


def _paths(paths: str | Sequence[str]) -> list[str]:
    items = [paths] if isinstance(paths, str) else paths
    if not isinstance(items, Sequence) or not items:
        raise InvalidArgumentError("bad_request", "paths must be a path or a non-empty list")
    if len(items) > MAX_REPLACE_PATHS:
        raise InvalidArgumentError(
            "bad_request", f"paths names {len(items)} paths: at most {MAX_REPLACE_PATHS}"
        )
    return [_path(p) for p in items]


def replace_in_files(
    machine_id: str,
    find: str,
    replace: str,
    paths: str | Sequence[str],
    *,
    regex: bool = False,
    case_sensitive: bool = True,
    include: str | None = None,
    dry_run: bool = False,
    max_files: int | None = None,
    user: str | None = DEFAULT_USER,
) -> Operation[ReplaceResult]:
    """Replace ``find`` by ``replace`` in the files ``paths`` name (files, or
    directories walked recursively)."""
    if not isinstance(replace, str):
        raise InvalidArgumentError("bad_request", "replace must be a string")
    body = _drop_none(
        {
            "paths": _paths(paths),
            "find": _pattern("find", find),
            "replace": replace,
            "regex": _check_bool("regex", regex),
            "case_sensitive": _check_bool("case_sensitive", case_sensitive),
            "include": _include(include),
            "dry_run": _check_bool("dry_run", dry_run),
            "max_files": _limit("max_files", max_files),
            "user": _user(user),
        }
    )
    return Operation(
        RequestSpec("POST", _machine_path(machine_id, "/files/replace"), json=body),
        _model(ReplaceResult),
    )


MAX_WATCH_SECONDS = 86_400
"""Longest ``timeout`` of a watch (a day)."""


def watch_path(machine_id: str) -> str:
    """The WebSocket route of a directory watch."""
    return _machine_path(machine_id, "/files/watch")


def watch_params(
    path: str, *, recursive: bool = False, timeout: float | None = None, user: str | None = None
) -> list[tuple[str, str]]:
    """The query of a watch: ``timeout`` (seconds, above 0 and at most
    :data:`MAX_WATCH_SECONDS`) ends it from the server side."""
    params = [
        ("path", _path(path)),
        ("recursive", "true" if _check_bool("recursive", recursive) else "false"),
    ]
    if timeout is not None:
        number = isinstance(timeout, int | float) and not isinstance(timeout, bool)
        if not number or not 0 < timeout <= MAX_WATCH_SECONDS:
            raise InvalidArgumentError(
                "bad_request",
                f"timeout must be above 0 and at most {MAX_WATCH_SECONDS} seconds, got {timeout!r}",
            )
        params.append(
            ("timeout", str(int(timeout)) if float(timeout).is_integer() else str(timeout))
        )
    params.append(("user", _user(user)))
    return params
