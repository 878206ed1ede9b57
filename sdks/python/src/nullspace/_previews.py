"""The preview routes as operations and plans, shared by both flavours (see
``spec/previews.md``, :mod:`._ops` and :mod:`._plan`).

Single requests are :class:`~._transport.Operation` values; the calls of more than one
request are plans: :func:`usable_preview` (read the addresses, sign them when the
machine takes no public traffic) and :func:`wait_for_preview` (poll readiness). Every
argument is checked here, before any request.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel

from . import _op_base
from ._op_base import _check_int, _json, _machine_path
from ._plan import Plan, ask, pause
from ._transport import Operation, RequestSpec
from .errors import InvalidArgumentError, ServerError, TimeoutError
from .previews import (
    PreviewGrantInfo,
    PreviewHostInfo,
    PreviewProxyTarget,
    PreviewReadiness,
    PreviewTransport,
    PreviewUrl,
    RevokePreviewGrantResponse,
    redact_preview_text,
)

__all__ = [
    "DEFAULT_PREVIEW_SECONDS",
    "MAX_PREVIEW_SECONDS",
    "MIN_PREVIEW_SECONDS",
    "PREVIEW_TRANSPORTS",
    "create_proxy_target",
    "create_signed_preview",
    "get_preview",
    "get_readiness",
    "host_info",
    "list_grants",
    "revoke_grant",
    "usable_preview",
    "wait_for_preview",
]

MIN_PREVIEW_SECONDS = 60
MAX_PREVIEW_SECONDS = 7 * 24 * 3600
DEFAULT_PREVIEW_SECONDS = 3600
"""Life of a grant when none is asked for (the server's default too)."""

M = TypeVar("M", bound=BaseModel)
R = TypeVar("R")

PREVIEW_TRANSPORTS: tuple[PreviewTransport, ...] = ("http", "websocket")


def _port(port: int) -> int:
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise InvalidArgumentError("bad_request", f"port must be an integer 1-65535, got {port!r}")
    return port


def _expires(value: int) -> int:
    _check_int("expires_in_seconds", value)
    if not MIN_PREVIEW_SECONDS <= value <= MAX_PREVIEW_SECONDS:
        raise InvalidArgumentError(
            "bad_request",
            f"expires_in_seconds must be {MIN_PREVIEW_SECONDS}..{MAX_PREVIEW_SECONDS}, got {value}",
        )
    return value


def _transports(value: Iterable[PreviewTransport]) -> list[str]:
    items = [value] if isinstance(value, str) else list(value)
    if not items or any(t not in PREVIEW_TRANSPORTS for t in items) or len(set(items)) < len(items):
        raise InvalidArgumentError(
            "bad_request",
            f"transports must be distinct values of {PREVIEW_TRANSPORTS}, got {value!r}",
        )
    return list(items)


def _seconds(name: str, value: float, *, positive: bool) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
        or (positive and value == 0)
    ):
        want = "> 0" if positive else ">= 0"
        raise InvalidArgumentError("bad_request", f"{name} must be a number {want}, got {value!r}")
    return float(value)


def _redacting(decode: Callable[[httpx.Response], R]) -> Callable[[httpx.Response], R]:
    """``decode`` whose errors name no token (pydantic's messages quote the input)."""

    def decoded(response: httpx.Response) -> R:
        try:
            return decode(response)
        except ServerError as err:
            raise ServerError(err.code, redact_preview_text(err.message), err.status) from None

    return decoded


def _model(cls: type[M]) -> Callable[[httpx.Response], M]:
    return _redacting(_op_base._model(cls))


def _previews_path(machine_id: str, suffix: str = "") -> str:
    return _machine_path(machine_id, f"/previews{suffix}")


# ---------------------------------------------------------------------------
# single requests


_decode_preview = _model(PreviewUrl)


def get_preview(machine_id: str, port: int) -> Operation[PreviewUrl]:
    """The addresses of a port, without a grant (no token even when one is needed)."""
    path = _previews_path(machine_id, f"/{_port(port)}")
    return Operation(RequestSpec("GET", path), _decode_preview)


def _signed(response: httpx.Response) -> PreviewUrl:
    preview = _decode_preview(response)
    if preview.token is None or preview.grant is None or preview.expires_at is None:
        raise ServerError(
            "invalid_response",
            f"a signed preview of port {preview.port} came without its token, grant or end",
            response.status_code,
        )
    return preview


def create_signed_preview(
    machine_id: str, port: int, expires_in_seconds: int = DEFAULT_PREVIEW_SECONDS
) -> Operation[PreviewUrl]:
    """A new grant for a port, its token in the answer's URLs."""
    body = {"port": _port(port), "expires_in_seconds": _expires(expires_in_seconds)}
    return Operation(RequestSpec("POST", _previews_path(machine_id), json=body), _signed)


def _host_info(preview: PreviewUrl) -> PreviewHostInfo:
    assert preview.grant is not None and preview.expires_at is not None  # checked by _signed
    return PreviewHostInfo(
        machine_id=preview.machine_id,
        port=preview.port,
        host=preview.host,
        url=preview.url,
        websocket_url=preview.websocket_url,
        path_url=preview.path_url,
        expires_at=preview.expires_at,
        grant_id=preview.grant.grant_id,
    )


def host_info(
    machine_id: str, port: int, expires_in_seconds: int = DEFAULT_PREVIEW_SECONDS
) -> Operation[PreviewHostInfo]:
    """:func:`create_signed_preview`, as host, signed URLs, end and grant id."""
    return create_signed_preview(machine_id, port, expires_in_seconds).map(_host_info)


def get_readiness(machine_id: str, port: int) -> Operation[PreviewReadiness]:
    path = _previews_path(machine_id, f"/{_port(port)}/readiness")
    return Operation(RequestSpec("GET", path), _model(PreviewReadiness))


def _grants(response: httpx.Response) -> list[PreviewGrantInfo]:
    data: Any = _json(response)
    if not isinstance(data, dict) or not isinstance(data.get("grants"), list):
        raise ServerError(
            "invalid_response",
            f"missing 'grants' in the answer of {response.request.url.path}",
            response.status_code,
        )
    return [_op_base._validate(PreviewGrantInfo, item, response) for item in data["grants"]]


def list_grants(machine_id: str, port: int | None = None) -> Operation[list[PreviewGrantInfo]]:
    """The machine's grants (of one port when given), newest first."""
    params = [] if port is None else [("port", str(_port(port)))]
    path = _machine_path(machine_id, "/preview-grants")
    return Operation(RequestSpec("GET", path, params=params), _redacting(_grants))


def revoke_grant(machine_id: str, grant_id: str) -> Operation[RevokePreviewGrantResponse]:
    """Revoke a grant (idempotent); an unknown one is 404 ``preview_grant_not_found``."""
    if not isinstance(grant_id, str) or not grant_id:
        raise InvalidArgumentError("bad_request", "grant_id must be a non-empty string")
    path = _machine_path(machine_id, f"/preview-grants/{quote(grant_id, safe='')}")
    return Operation(RequestSpec("DELETE", path), _model(RevokePreviewGrantResponse))


def create_proxy_target(
    machine_id: str,
    port: int,
    transports: Iterable[PreviewTransport] = PREVIEW_TRANSPORTS,
    expires_in_seconds: int = DEFAULT_PREVIEW_SECONDS,
) -> Operation[PreviewProxyTarget]:
    """Header tokens and marker-only URLs for a customer-run proxy to the port."""
    body = {
        "port": _port(port),
        "transports": _transports(transports),
        "expires_in_seconds": _expires(expires_in_seconds),
    }
    path = _machine_path(machine_id, "/preview-proxy-targets")
    return Operation(RequestSpec("POST", path, json=body), _model(PreviewProxyTarget))


# ---------------------------------------------------------------------------
# plans


def usable_preview(machine_id: str, port: int) -> Plan[PreviewUrl]:
    """The addresses of a port that work as they are: those of ``GET``, or, when the
    machine takes only credentialed traffic (``auth_mode == "token"``), a new grant's
    (one hour)."""
    first = get_preview(machine_id, port)
    sign = create_signed_preview(machine_id, port)

    def plan() -> Plan[PreviewUrl]:
        preview = yield from ask(first)
        if preview.auth_mode != "token" or preview.token is not None:
            return preview
        return (yield from ask(sign))

    return plan()


def _ready(readiness: PreviewReadiness, require_service: bool) -> bool:
    return readiness.service_ready or (not require_service and readiness.route_ready)


def wait_for_preview(
    machine_id: str,
    port: int,
    timeout: float = 60.0,
    interval: float = 0.5,
    require_service: bool = True,
) -> Plan[PreviewReadiness]:
    """Poll readiness every ``interval`` seconds until the service answers (or the
    route is ready, with ``require_service=False``); after ``timeout`` seconds raise
    :class:`~nullspace.TimeoutError` ``wait_timeout`` naming the last readiness. An
    API error (the machine gone, say) raises at once."""
    poll = get_readiness(machine_id, port)
    limit = _seconds("timeout", timeout, positive=False)
    every = _seconds("interval", interval, positive=True)
    want = "service" if require_service else "route"

    def plan() -> Plan[PreviewReadiness]:
        deadline = time.monotonic() + limit
        while True:
            readiness = yield from ask(poll)
            if _ready(readiness, require_service):
                return readiness
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(
                    "wait_timeout",
                    f"the preview {want} of port {port} of machine {machine_id} was not "
                    f"ready after {limit:g} s (last readiness: {readiness.describe()})",
                )
            yield from pause(min(every, left))

    return plan()
