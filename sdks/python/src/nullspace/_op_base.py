"""What every operation module shares: decoding an answer into a model or a field,
the checks of common arguments, machine and snapshot paths, and pages of a list.

The operation modules (:mod:`._machine_ops`, :mod:`._command_ops`, :mod:`._file_ops`,
:mod:`._search_ops`, :mod:`._upload_ops`, :mod:`._process_ops`) import from here and
never from each other's internals; :mod:`._ops` gathers their public names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from .errors import (
    InvalidArgumentError,
    ServerError,
)

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")
U = TypeVar("U")

DEFAULT_USER = "user"
"""Guest user whose rights a file operation has when none is named (root must be
named: ``user="root"``)."""


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


def _byte_count(name: str, value: int | None) -> int | None:
    if value is not None and (_check_int(name, value) or 0) < 0:
        raise InvalidArgumentError("bad_request", f"{name} must be >= 0, got {value}")
    return value


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list and the cursor of the next (``None``: it was the last)."""

    items: list[T]
    next_cursor: str | None

    def map(self, fn: Callable[[T], U]) -> Page[U]:
        return Page([fn(item) for item in self.items], self.next_cursor)


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


check_bool = _check_bool
"""Public name of :func:`_check_bool`, for the flavours' own argument checks."""
