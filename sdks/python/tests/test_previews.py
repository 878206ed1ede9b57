"""Preview URLs on the fake API, both flavours: each method's request and decoding,
the sign-when-private decision of ``get_preview_url``, ``wait_for_preview``'s polling,
argument checks, error mapping, and the redaction of tokens in text, URLs and reprs."""

from __future__ import annotations

import time
from typing import Any

import pytest

import nullspace
from nullspace import (
    InvalidArgumentError,
    NotFoundError,
    PreviewGrantInfo,
    PreviewHostInfo,
    PreviewProxyTarget,
    PreviewReadiness,
    PreviewUrl,
    RevokePreviewGrantResponse,
    ServerError,
    errors,
    redact_preview_token,
    redact_preview_url,
)
from nullspace.previews import redact_preview_text

from .conftest import API_KEY, MACHINE_ID, Flavour, error_response, maybe

BASE = f"/v1/machines/{MACHINE_ID}"
PREVIEWS = f"{BASE}/previews"
GRANTS = f"{BASE}/preview-grants"
PROXY = f"{BASE}/preview-proxy-targets"
HOST = f"8080-{MACHINE_ID}.localhost:7878"
SIGNATURE = "c2lnbmF0dXJlLW9mLXRoZS1ncmFudA"
TOKEN = f"nspv1.pvg_1a2b.url.1764000000.{SIGNATURE}"
HINT = "nspv1.pvg_1a2b.url.1764000000.***"
HTTP_PROXY_TOKEN = "nspv1.pvg_9z.proxy-http.1764000000.aHR0cHNpZw"
WS_PROXY_TOKEN = "nspv1.pvg_9z.proxy-ws.1764000000.d3NzaWc"


def grant_json(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "grant_id": "pvg_1a2b",
        "machine_id": MACHINE_ID,
        "port": 8080,
        "kind": "url",
        "transports": ["http", "websocket"],
        "token_hint": HINT,
        "state": "active",
        "created_at": "2026-01-02T03:04:05Z",
        "expires_at": "2026-01-02T04:04:05Z",
        "revoked_at": None,
        "disabled_at": None,
        "request_count": 0,
        "websocket_count": 0,
        "denied_count": 0,
        "last_used_at": None,
        "last_error": None,
    }
    body.update(overrides)
    return body


def preview_json(*, signed: bool = False, **overrides: Any) -> dict[str, Any]:
    query = f"?nullspace_preview_token={TOKEN}" if signed else ""
    body: dict[str, Any] = {
        "machine_id": MACHINE_ID,
        "port": 8080,
        "host": HOST,
        "url": f"http://{HOST}/{query}",
        "websocket_url": f"ws://{HOST}/{query}",
        "path_url": f"http://localhost:7878/preview/{MACHINE_ID}/8080/{query}",
        "auth_mode": "public",
        "token_transport": "query" if signed else "none",
        "token": TOKEN if signed else None,
        "expires_at": "2026-01-02T04:04:05Z" if signed else None,
        "grant": grant_json() if signed else None,
    }
    body.update(overrides)
    return body


def readiness_json(route: bool = True, service: bool = False, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "machine_id": MACHINE_ID,
        "port": 8080,
        "route_ready": route,
        "service_ready": service,
        "status": 200 if service else None,
        "error": None if service else "connection refused",
    }
    body.update(overrides)
    return body


def proxy_json(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "machine_id": MACHINE_ID,
        "port": 8080,
        "grant_id": "pvg_9z",
        "transports": ["http", "websocket"],
        "http_url": f"http://{HOST}",
        "websocket_url": f"ws://{HOST}",
        "header_name": "x-nullspace-preview-proxy-token",
        "headers": {
            "http": {"x-nullspace-preview-proxy-token": HTTP_PROXY_TOKEN},
            "websocket": {"x-nullspace-preview-proxy-token": WS_PROXY_TOKEN},
        },
        "forwarded_headers": ["x-forwarded-for", "x-forwarded-host", "x-forwarded-proto"],
        "traffic_token_header": "x-nullspace-traffic-access-token",
        "expires_at": "2026-01-02T04:04:05Z",
    }
    body.update(overrides)
    return body


# -- get_preview_url, get_url, get_websocket_url --------------------------------------


async def test_get_preview_url_of_a_public_machine_is_one_get(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on("GET", f"{PREVIEWS}/8080", preview_json(extra="ignored"))
    preview = await maybe(machine.get_preview_url(8080))
    assert isinstance(preview, PreviewUrl)
    assert (preview.host, preview.url, preview.auth_mode) == (HOST, f"http://{HOST}/", "public")
    assert preview.path_url == f"http://localhost:7878/preview/{MACHINE_ID}/8080/"
    assert preview.token is None and preview.grant is None and not preview.is_signed
    [req] = flavour.api.requests
    assert (req.method, req.path, req.params, req.body) == ("GET", f"{PREVIEWS}/8080", [], b"")
    assert req.headers["authorization"] == f"Bearer {API_KEY}"


async def test_get_preview_url_of_a_private_machine_mints_a_grant(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on("GET", f"{PREVIEWS}/8080", preview_json(auth_mode="token"))
    flavour.api.on("POST", PREVIEWS, preview_json(signed=True, auth_mode="token"))
    preview = await maybe(machine.get_preview_url(8080))
    assert preview.token == TOKEN and preview.is_signed
    assert preview.url == f"http://{HOST}/?nullspace_preview_token={TOKEN}"
    assert preview.grant is not None and preview.grant.grant_id == "pvg_1a2b"
    first, second = flavour.api.requests
    assert (first.method, first.path) == ("GET", f"{PREVIEWS}/8080")
    assert (second.method, second.path) == ("POST", PREVIEWS)
    assert second.json() == {"port": 8080, "expires_in_seconds": 3600}


@pytest.mark.parametrize("name,field", [("get_url", "url"), ("get_websocket_url", "websocket_url")])
@pytest.mark.parametrize("private", [False, True])
async def test_get_url_and_websocket_url(
    flavour: Flavour, name: str, field: str, private: bool
) -> None:
    machine = await flavour.machine()
    mode = "token" if private else "public"
    flavour.api.on("GET", f"{PREVIEWS}/3000", preview_json(port=3000, auth_mode=mode))
    signed = preview_json(signed=True, port=3000, auth_mode=mode)
    flavour.api.on("POST", PREVIEWS, signed)
    url = await maybe(getattr(machine, name)(3000))
    want = signed if private else preview_json(port=3000)
    assert url == want[field]
    assert [r.method for r in flavour.api.requests] == (["GET", "POST"] if private else ["GET"])


# -- signed URLs and host info ---------------------------------------------------------


async def test_create_signed_preview_url_request_and_answer(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on("POST", PREVIEWS, preview_json(signed=True))
    preview = await maybe(machine.create_signed_preview_url(8080, expires_in_seconds=900))
    req = flavour.api.last
    assert (req.method, req.path, req.params) == ("POST", PREVIEWS, [])
    assert req.headers["content-type"] == "application/json"
    assert req.json() == {"port": 8080, "expires_in_seconds": 900}
    assert preview.token == TOKEN and preview.expires_at is not None
    assert preview.grant is not None and preview.grant.token_hint == HINT


async def test_create_signed_preview_url_default_expiry(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on("POST", PREVIEWS, preview_json(signed=True))
    await maybe(machine.create_signed_preview_url(8080))
    assert flavour.api.last.json() == {"port": 8080, "expires_in_seconds": 3600}


async def test_a_signed_answer_without_its_token_is_refused(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on("POST", PREVIEWS, preview_json())
    with pytest.raises(ServerError) as info:
        await maybe(machine.create_signed_preview_url(8080))
    assert info.value.code == "invalid_response"


async def test_get_host_info_mints_a_grant(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on("POST", PREVIEWS, preview_json(signed=True))
    info = await maybe(machine.get_host_info(8080, expires_in_seconds=120))
    assert isinstance(info, PreviewHostInfo)
    assert info.host == HOST
    assert info.url == f"http://{HOST}/?nullspace_preview_token={TOKEN}"
    assert info.websocket_url == f"ws://{HOST}/?nullspace_preview_token={TOKEN}"
    assert info.path_url.endswith(f"/8080/?nullspace_preview_token={TOKEN}")
    assert info.grant_id == "pvg_1a2b"
    assert info.expires_at.isoformat() == "2026-01-02T04:04:05+00:00"
    assert flavour.api.last.json() == {"port": 8080, "expires_in_seconds": 120}


# -- grants ----------------------------------------------------------------------------


async def test_list_preview_urls_all_ports(flavour: Flavour) -> None:
    machine = await flavour.machine()
    used = grant_json(
        request_count=5,
        websocket_count=1,
        denied_count=2,
        last_used_at="2026-01-02T03:10:00Z",
        last_error={
            "code": "preview_upstream_unavailable",
            "message": "connection refused",
            "at": "2026-01-02T03:09:00Z",
        },
    )
    revoked = grant_json(
        grant_id="pvg_old",
        state="revoked",
        revoked_at="2026-01-02T03:08:00Z",
        disabled_at="2026-01-02T03:08:00Z",
    )
    flavour.api.on("GET", GRANTS, {"grants": [used, revoked]})
    grants = await maybe(machine.list_preview_urls())
    req = flavour.api.last
    assert (req.method, req.path, req.params) == ("GET", GRANTS, [])
    assert [g.grant_id for g in grants] == ["pvg_1a2b", "pvg_old"]
    assert all(isinstance(g, PreviewGrantInfo) for g in grants)
    first, second = grants
    assert (first.request_count, first.websocket_count, first.denied_count) == (5, 1, 2)
    assert first.last_error is not None and first.last_error.code == "preview_upstream_unavailable"
    assert first.is_active and not second.is_active
    assert second.disabled_at is not None and second.revoked_at == second.disabled_at


async def test_list_preview_urls_of_one_port(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on("GET", GRANTS, {"grants": []})
    assert await maybe(machine.list_preview_urls(port=3000)) == []
    assert flavour.api.last.params == [("port", "3000")]


async def test_list_preview_urls_malformed_answer(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on("GET", GRANTS, {"items": []})
    with pytest.raises(ServerError) as info:
        await maybe(machine.list_preview_urls())
    assert info.value.code == "invalid_response"


async def test_revoke_preview_url(flavour: Flavour) -> None:
    machine = await flavour.machine()
    answer = {"grant_id": "pvg_1a2b", "revoked": True, "revoked_at": "2026-01-02T03:30:00Z"}
    flavour.api.on("DELETE", f"{GRANTS}/pvg_1a2b", answer)
    revoked = await maybe(machine.revoke_preview_url("pvg_1a2b"))
    assert isinstance(revoked, RevokePreviewGrantResponse)
    assert (revoked.grant_id, revoked.revoked) == ("pvg_1a2b", True)
    req = flavour.api.last
    assert (req.method, req.path, req.body) == ("DELETE", f"{GRANTS}/pvg_1a2b", b"")


async def test_revoke_quotes_the_grant_id(flavour: Flavour) -> None:
    machine = await flavour.machine()
    answer = {"grant_id": "a/b", "revoked": True, "revoked_at": "2026-01-02T03:30:00Z"}
    flavour.api.on("DELETE", f"{GRANTS}/a/b", answer)  # the fake routes on decoded paths
    await maybe(machine.revoke_preview_url("a/b"))
    assert flavour.api.raw[-1].url.raw_path == f"{GRANTS}/a%2Fb".encode()


async def test_revoke_unknown_grant_is_not_found(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on(
        "DELETE", f"{GRANTS}/pvg_nope", response=error_response(404, "preview_grant_not_found")
    )
    with pytest.raises(NotFoundError) as info:
        await maybe(machine.revoke_preview_url("pvg_nope"))
    assert isinstance(info.value, errors.PreviewGrantNotFoundError)
    assert isinstance(info.value, errors.PreviewError)
    assert (info.value.code, info.value.status) == ("preview_grant_not_found", 404)


# -- proxy targets ---------------------------------------------------------------------


async def test_create_preview_proxy_target_defaults(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on("POST", PROXY, proxy_json())
    target = await maybe(machine.create_preview_proxy_target(8080))
    assert isinstance(target, PreviewProxyTarget)
    req = flavour.api.last
    assert (req.method, req.path) == ("POST", PROXY)
    assert req.json() == {
        "port": 8080,
        "transports": ["http", "websocket"],
        "expires_in_seconds": 3600,
    }
    assert target.headers["http"] == {"x-nullspace-preview-proxy-token": HTTP_PROXY_TOKEN}
    assert target.headers["websocket"] == {"x-nullspace-preview-proxy-token": WS_PROXY_TOKEN}
    assert target.http_url == f"http://{HOST}" and "token" not in target.http_url
    assert target.forwarded_headers[0] == "x-forwarded-for"
    assert target.traffic_token_header == "x-nullspace-traffic-access-token"


async def test_create_preview_proxy_target_one_transport(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on("POST", PROXY, proxy_json(transports=["websocket"]))
    await maybe(
        machine.create_preview_proxy_target(8080, transports=["websocket"], expires_in_seconds=60)
    )
    assert flavour.api.last.json() == {
        "port": 8080,
        "transports": ["websocket"],
        "expires_in_seconds": 60,
    }


# -- wait_for_preview ------------------------------------------------------------------


async def test_wait_for_preview_polls_until_the_service_answers(flavour: Flavour) -> None:
    machine = await flavour.machine()
    route = f"{PREVIEWS}/8080/readiness"
    flavour.api.on("GET", route, readiness_json(route=False))
    flavour.api.on("GET", route, readiness_json(route=True))
    flavour.api.on("GET", route, readiness_json(route=True, service=True))
    ready = await maybe(machine.wait_for_preview(8080, timeout=10, interval=0.01))
    assert isinstance(ready, PreviewReadiness)
    assert ready.service_ready and ready.status == 200
    assert [(r.method, r.path) for r in flavour.api.requests] == [("GET", route)] * 3


async def test_wait_for_preview_route_only(flavour: Flavour) -> None:
    machine = await flavour.machine()
    route = f"{PREVIEWS}/8080/readiness"
    flavour.api.on("GET", route, readiness_json(route=False))
    flavour.api.on("GET", route, readiness_json(route=True))
    ready = await maybe(
        machine.wait_for_preview(8080, timeout=10, interval=0.01, require_service=False)
    )
    assert ready.route_ready and not ready.service_ready
    assert len(flavour.api.requests) == 2


async def test_wait_for_preview_times_out_with_the_last_readiness(flavour: Flavour) -> None:
    machine = await flavour.machine()
    route = f"{PREVIEWS}/8080/readiness"
    flavour.api.on("GET", route, readiness_json(route=True, error="connection refused"))
    began = time.monotonic()
    with pytest.raises(nullspace.TimeoutError) as info:
        await maybe(machine.wait_for_preview(8080, timeout=0.25, interval=0.05))
    waited = time.monotonic() - began
    assert info.value.code == "wait_timeout" and info.value.status is None
    assert "route_ready=True, service_ready=False" in info.value.message
    assert "connection refused" in info.value.message
    assert 0.25 <= waited < 5
    # polled along the way, not once and then slept out the timeout
    assert 3 <= len(flavour.api.requests) <= 7


async def test_wait_for_preview_timeout_zero_polls_once(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on("GET", f"{PREVIEWS}/8080/readiness", readiness_json(route=False))
    with pytest.raises(nullspace.TimeoutError):
        await maybe(machine.wait_for_preview(8080, timeout=0))
    assert len(flavour.api.requests) == 1


async def test_wait_for_preview_raises_api_errors_at_once(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on(
        "GET",
        f"{PREVIEWS}/8080/readiness",
        response=error_response(409, "machine_not_running", "machine is killed"),
    )
    with pytest.raises(nullspace.MachineError):
        await maybe(machine.wait_for_preview(8080, timeout=30))
    assert len(flavour.api.requests) == 1


# -- argument checks (before any request) ---------------------------------------------


@pytest.mark.parametrize("port", [0, 65536, -1, True, "8080", 80.0, None])
@pytest.mark.parametrize(
    "name",
    [
        "get_preview_url",
        "get_url",
        "get_websocket_url",
        "get_host_info",
        "create_signed_preview_url",
        "wait_for_preview",
        "create_preview_proxy_target",
    ],
)
async def test_bad_port_is_refused_before_any_request(
    flavour: Flavour, name: str, port: Any
) -> None:
    machine = await flavour.machine()
    with pytest.raises(InvalidArgumentError, match="port"):
        await maybe(getattr(machine, name)(port))
    assert flavour.api.requests == []


@pytest.mark.parametrize("seconds", [59, 604801, 0, True, 3600.0])
async def test_bad_expiry_is_refused(flavour: Flavour, seconds: Any) -> None:
    machine = await flavour.machine()
    for call in (
        lambda: machine.create_signed_preview_url(8080, expires_in_seconds=seconds),
        lambda: machine.get_host_info(8080, expires_in_seconds=seconds),
        lambda: machine.create_preview_proxy_target(8080, expires_in_seconds=seconds),
    ):
        with pytest.raises(InvalidArgumentError, match="expires_in_seconds"):
            await maybe(call())
    assert flavour.api.requests == []


async def test_expiry_bounds_are_accepted(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on("POST", PREVIEWS, preview_json(signed=True))
    for seconds in (60, 604800):
        await maybe(machine.create_signed_preview_url(8080, expires_in_seconds=seconds))
        assert flavour.api.last.json()["expires_in_seconds"] == seconds


@pytest.mark.parametrize("transports", [[], ["ftp"], ["http", "http"], "tcp"])
async def test_bad_transports_are_refused(flavour: Flavour, transports: Any) -> None:
    machine = await flavour.machine()
    with pytest.raises(InvalidArgumentError, match="transports"):
        await maybe(machine.create_preview_proxy_target(8080, transports=transports))
    assert flavour.api.requests == []


@pytest.mark.parametrize(
    "kwargs", [{"timeout": -1}, {"interval": 0}, {"interval": float("nan")}, {"timeout": "5"}]
)
async def test_bad_wait_arguments_are_refused(flavour: Flavour, kwargs: dict[str, Any]) -> None:
    machine = await flavour.machine()
    with pytest.raises(InvalidArgumentError):
        await maybe(machine.wait_for_preview(8080, **kwargs))
    assert flavour.api.requests == []


@pytest.mark.parametrize("grant_id", ["", None, 7])
async def test_bad_grant_id_is_refused(flavour: Flavour, grant_id: Any) -> None:
    machine = await flavour.machine()
    with pytest.raises(InvalidArgumentError, match="grant_id"):
        await maybe(machine.revoke_preview_url(grant_id))
    assert flavour.api.requests == []


# -- error mapping ---------------------------------------------------------------------

PREVIEW_CODES = [
    (401, "preview_token_required", errors.PreviewTokenRequiredError, ()),
    (403, "preview_token_invalid", errors.PreviewTokenInvalidError, ()),
    (404, "preview_grant_not_found", errors.PreviewGrantNotFoundError, (NotFoundError,)),
    (
        502,
        "preview_upstream_unavailable",
        errors.PreviewUpstreamUnavailableError,
        (ServerError,),
    ),
]


@pytest.mark.parametrize("status,code,cls,broad", PREVIEW_CODES)
async def test_preview_error_codes_map_to_their_classes(
    flavour: Flavour, status: int, code: str, cls: type, broad: tuple[type, ...]
) -> None:
    machine = await flavour.machine()
    flavour.api.on("GET", f"{PREVIEWS}/8080", response=error_response(status, code, "refused"))
    with pytest.raises(cls) as info:
        await maybe(machine.get_preview_url(8080))
    assert (info.value.code, info.value.status, info.value.message) == (code, status, "refused")
    assert isinstance(info.value, errors.PreviewError)
    for base in broad:
        assert isinstance(info.value, base)
    assert errors.error_class(code, None) is cls
    assert getattr(nullspace, cls.__name__) is cls


def test_preview_token_errors_are_not_api_key_errors() -> None:
    # A refused preview credential says nothing about the API key (like GitAuthError).
    for cls in (errors.PreviewTokenRequiredError, errors.PreviewTokenInvalidError):
        assert not issubclass(cls, errors.AuthError)
        assert not issubclass(cls, errors.FilesystemError)


# -- redaction -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "token,want",
    [
        (TOKEN, HINT),
        (HTTP_PROXY_TOKEN, "nspv1.pvg_9z.proxy-http.1764000000.***"),
        (HINT, HINT),  # already redacted: unchanged
        ("nspv1.", "nspv1.***"),
        ("nspv1.onlyone", "nspv1.***"),
        ("ns_live_abcdef", "ns_live_abcdef"),  # an API key is not a preview token
        ("NSPV1.pvg.url.1.sig", "NSPV1.pvg.url.1.sig"),
        ("", ""),
        ("hello.world.sig", "hello.world.sig"),
    ],
)
def test_redact_preview_token(token: str, want: str) -> None:
    assert redact_preview_token(token) == want


@pytest.mark.parametrize(
    "url,want",
    [
        (
            f"http://{HOST}/?nullspace_preview_token={TOKEN}",
            f"http://{HOST}/?nullspace_preview_token={HINT}",
        ),
        (
            f"http://{HOST}/a/b?x=1&nullspace_preview_token={TOKEN}&y=%2F2",
            f"http://{HOST}/a/b?x=1&nullspace_preview_token={HINT}&y=%2F2",
        ),
        (
            f"ws://{HOST}/socket?nullspace_preview_token={TOKEN}#section?x",
            f"ws://{HOST}/socket?nullspace_preview_token={HINT}#section?x",
        ),
        (
            f"http://localhost:7878/preview/{MACHINE_ID}/8080/?nullspace_preview_token={TOKEN}",
            f"http://localhost:7878/preview/{MACHINE_ID}/8080/?nullspace_preview_token={HINT}",
        ),
        (
            f"http://h/?nullspace_preview_token={TOKEN}&nullspace_preview_token={TOKEN}",
            f"http://h/?nullspace_preview_token={HINT}&nullspace_preview_token={HINT}",
        ),
        (  # a percent-encoded name is the same parameter
            f"http://h/?nullspace%5Fpreview%5Ftoken={TOKEN}",
            f"http://h/?nullspace%5Fpreview%5Ftoken={HINT}",
        ),
        # something else in the token's place is a credential too
        ("http://h/?nullspace_preview_token=s3cret", "http://h/?nullspace_preview_token=***"),
        ("http://h/?nullspace_preview_token=", "http://h/?nullspace_preview_token="),
        # no token: unchanged, byte for byte
        (f"http://{HOST}/", f"http://{HOST}/"),
        ("http://h/p?a=1&b=%20x#frag", "http://h/p?a=1&b=%20x#frag"),
        ("http://h/?other_token=abc", "http://h/?other_token=abc"),
        (
            f"http://h/#nullspace_preview_token={TOKEN}",
            f"http://h/#nullspace_preview_token={TOKEN}",
        ),
        ("not a url at all", "not a url at all"),
        ("", ""),
        (TOKEN, HINT),  # a bare token
    ],
)
def test_redact_preview_url(url: str, want: str) -> None:
    assert redact_preview_url(url) == want
    assert redact_preview_url(want) == want  # idempotent


def test_redact_preview_text() -> None:
    text = f"input_value='{TOKEN}' and ({HTTP_PROXY_TOKEN}), key ns_live_x"
    redacted = redact_preview_text(text)
    assert SIGNATURE not in redacted and "aHR0cHNpZw" not in redacted
    assert HINT in redacted and "nspv1.pvg_9z.proxy-http.1764000000.***" in redacted
    assert redacted.endswith("key ns_live_x")


@pytest.mark.parametrize(
    "text,want",
    [
        (f"the token is {TOKEN}.", f"the token is {HINT}."),  # a full stop after it
        (
            f"shortened 'nspv1.pvg_1a2b.url...{SIGNATURE[-12:]}'",
            "shortened 'nspv1.pvg_1a2b.url...***'",
        ),
        ("nspv1. and nspv1...", "nspv1. and nspv1..."),
        ("no token here.", "no token here."),
    ],
)
def test_redact_preview_text_edges(text: str, want: str) -> None:
    assert redact_preview_text(text) == want


def test_models_never_show_a_token_but_keep_it() -> None:
    preview = PreviewUrl.model_validate(preview_json(signed=True))
    target = PreviewProxyTarget.model_validate(proxy_json())
    for model in (preview, target):
        for shown in (repr(model), str(model), f"{model}", f"{model!r}"):
            assert SIGNATURE not in shown
            assert "aHR0cHNpZw" not in shown and "d3NzaWc" not in shown
    assert HINT in repr(preview) and "pvg_1a2b" in repr(preview)
    assert "nspv1.pvg_9z.proxy-http.1764000000.***" in repr(target)
    # the fields themselves are the raw values
    assert preview.token == TOKEN
    assert preview.url.endswith(TOKEN) and preview.path_url.endswith(TOKEN)
    assert target.headers["http"]["x-nullspace-preview-proxy-token"] == HTTP_PROXY_TOKEN
    assert preview.model_dump()["token"] == TOKEN


async def test_host_info_repr_is_redacted(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on("POST", PREVIEWS, preview_json(signed=True))
    info = await maybe(machine.get_host_info(8080))
    assert SIGNATURE not in repr(info) and SIGNATURE not in str(info)
    assert SIGNATURE in info.url


async def test_a_malformed_answer_names_no_token(flavour: Flavour) -> None:
    machine = await flavour.machine()
    bad = preview_json(signed=True, grant=TOKEN)  # a token where an object goes
    with pytest.raises(ValueError) as raw:  # pydantic's own message quotes it
        PreviewUrl.model_validate(bad)
    tail = SIGNATURE[-10:]  # pydantic shows the start and the end of a long input
    assert tail in str(raw.value)
    flavour.api.on("POST", PREVIEWS, bad)
    with pytest.raises(ServerError) as info:
        await maybe(machine.create_signed_preview_url(8080))
    assert info.value.code == "invalid_response"
    assert "grant" in info.value.message and "nspv1.pvg_1a2b." in info.value.message
    assert tail not in str(info.value) and tail not in repr(info.value)
