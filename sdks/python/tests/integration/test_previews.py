"""Preview URLs (``spec/previews.md``) against a real server and real machines, both
flavours: ``python3 -m http.server`` in the machine reached through the server's proxy
by host (the server's address with the preview host in ``Host``, as a client whose
resolver does not map ``*.localhost`` does) and by path; readiness; signed URLs,
revocation and the grant counters; proxy-target header tokens; and a machine that
takes no public traffic."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

import nullspace
from nullspace import (
    PreviewGrantInfo,
    PreviewGrantNotFoundError,
    PreviewUrl,
    redact_preview_token,
)

from ..conftest import maybe
from .conftest import TEST_URL, Flavour, discard, run_ok

PORT = 8080
SITE = "/tmp/site"
TOKEN_PARAM = "nullspace_preview_token"


# -- helpers ---------------------------------------------------------------------------


async def serve(machine: Any, port: int = PORT) -> tuple[Any, str]:
    """Start ``python3 -m http.server`` on ``port`` in the background, serving a file
    with a fresh marker, and wait until the preview answers; return the handle and the
    marker."""
    marker = uuid.uuid4().hex
    await run_ok(machine, f"mkdir -p {SITE} && echo {marker} > {SITE}/hello.txt")
    handle = await maybe(
        machine.commands.run(
            f"python3 -m http.server {port}", background=True, shell=True, cwd=SITE
        )
    )
    ready = await maybe(machine.wait_for_preview(port, timeout=60))
    assert ready.route_ready and ready.service_ready, ready
    return handle, marker


def with_path(url: str, path: str) -> str:
    """``url`` with ``path`` appended to its path, its query kept."""
    u = httpx.URL(url)
    return str(u.copy_with(path=u.path.rstrip("/") + "/" + path.lstrip("/")))


def by_host(url: str, headers: dict[str, str] | None = None) -> httpx.Response:
    """GET a host-form preview URL at the server's own address, naming the preview
    host in ``Host``."""
    u = httpx.URL(url)
    target = TEST_URL.rstrip("/") + u.raw_path.decode()
    host = u.netloc.decode()
    return httpx.get(target, headers={"Host": host, **(headers or {})}, timeout=30)


def get(url: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.get(url, headers=headers or {}, timeout=30)


def without_token(url: str) -> str:
    u = httpx.URL(url)
    params = [(k, v) for k, v in u.params.multi_items() if k != TOKEN_PARAM]
    return str(u.copy_with(params=params))


def refused(response: httpx.Response, status: int, code: str) -> str:
    """Require a proxy refusal of ``status`` and ``code``; return its message."""
    assert response.status_code == status, (response.status_code, response.text)
    error = response.json()["error"]
    assert error["code"] == code, error
    return str(error["message"])


async def grant_of(machine: Any, grant_id: str, port: int | None = PORT) -> PreviewGrantInfo:
    grants = await maybe(machine.list_preview_urls(port))
    mine = [g for g in grants if g.grant_id == grant_id]
    assert len(mine) == 1, grants
    return mine[0]


@pytest.fixture
async def private_machine(flavour: Flavour, run_tag: str) -> AsyncIterator[Any]:
    """A running machine created with ``network={"allow_public_traffic": False}``."""
    m = await maybe(
        flavour.Machine.create(
            template="base",
            timeout=300,
            metadata={"test": run_tag},
            network={"allow_public_traffic": False},
        )
    )
    try:
        yield m
    finally:
        await discard(m)


# -- public machines -------------------------------------------------------------------


async def test_readiness_and_the_public_urls_by_host_and_by_path(machine: Any) -> None:
    # Nothing listens yet: the route is ready, the service is not, and the proxy says so.
    route = await maybe(machine.wait_for_preview(PORT, timeout=30, require_service=False))
    assert route.route_ready and not route.service_ready, route
    with pytest.raises(nullspace.TimeoutError) as waited:
        await maybe(machine.wait_for_preview(PORT, timeout=1.0, interval=0.2))
    assert waited.value.code == "wait_timeout" and "service_ready=False" in waited.value.message
    early = await maybe(machine.get_preview_url(PORT))
    message = refused(get(early.path_url), 502, "preview_upstream_unavailable")
    error = nullspace.errors.error_for("preview_upstream_unavailable", message, 502)
    assert isinstance(error, nullspace.PreviewUpstreamUnavailableError)

    server, marker = await serve(machine)
    try:
        preview = await maybe(machine.get_preview_url(PORT))
        assert isinstance(preview, PreviewUrl)
        assert (preview.machine_id, preview.port, preview.auth_mode) == (machine.id, PORT, "public")
        assert preview.token is None and not preview.is_signed
        assert preview.host.startswith(f"{PORT}-{machine.id}.")
        assert preview.url.startswith(f"http://{preview.host}/")
        assert preview.websocket_url.startswith(f"ws://{preview.host}/")
        assert await maybe(machine.get_url(PORT)) == preview.url
        assert await maybe(machine.get_websocket_url(PORT)) == preview.websocket_url

        by_path = get(with_path(preview.path_url, "hello.txt"))
        assert by_path.status_code == 200 and by_path.text.strip() == marker
        hosted = by_host(with_path(preview.url, "hello.txt"))
        assert hosted.status_code == 200 and hosted.text.strip() == marker
        listing = by_host(preview.url)  # the directory listing of the server's cwd
        assert listing.status_code == 200 and "hello.txt" in listing.text
    finally:
        await maybe(server.kill())


async def test_signed_url_counters_and_revocation(machine: Any) -> None:
    server, marker = await serve(machine)
    try:
        signed = await maybe(machine.create_signed_preview_url(PORT, expires_in_seconds=600))
        assert signed.is_signed and signed.token is not None and signed.grant is not None
        token, grant_id = signed.token, signed.grant.grant_id
        assert signed.token_transport == "query"
        for url in (signed.url, signed.websocket_url, signed.path_url):
            assert httpx.URL(url).params[TOKEN_PARAM] == token
        # The repr shows the grant but never the token's signature; the field keeps it.
        signature = token.rsplit(".", 1)[1]
        assert signature not in repr(signed) and signature not in str(signed)
        assert redact_preview_token(token) in repr(signed)
        assert signed.grant.token_hint == redact_preview_token(token)

        fresh = await grant_of(machine, grant_id)
        assert fresh.state == "active" and fresh.kind == "url"
        assert (fresh.request_count, fresh.denied_count) == (0, 0)
        assert fresh.token_hint == redact_preview_token(token)

        # Every form of the token is let through (and counted): query by host and by
        # path, the header, and the cookie the proxy sets.
        hosted = by_host(with_path(signed.url, "hello.txt"))
        assert hosted.status_code == 200 and hosted.text.strip() == marker
        assert get(with_path(signed.path_url, "hello.txt")).text.strip() == marker
        plain = without_token(with_path(signed.url, "hello.txt"))
        assert by_host(plain, {"x-nullspace-preview-token": token}).status_code == 200
        assert by_host(plain, {"Cookie": f"{TOKEN_PARAM}={token}"}).status_code == 200
        counted = await grant_of(machine, grant_id)
        assert counted.request_count == 4, counted
        assert counted.last_used_at is not None

        # The same token on another port is refused and counted as denied.
        other = by_host(
            plain.replace(f"{PORT}-{machine.id}", f"8081-{machine.id}"),
            {"x-nullspace-preview-token": token},
        )
        refused(other, 403, "preview_token_invalid")
        denied = await grant_of(machine, grant_id)
        assert (denied.request_count, denied.denied_count) == (4, 1), denied
        assert [g.grant_id for g in await maybe(machine.list_preview_urls(8081))] == []

        # Revocation stops the token at once, even on a public machine.
        revoked = await maybe(machine.revoke_preview_url(grant_id))
        assert (revoked.grant_id, revoked.revoked) == (grant_id, True)
        after = refused(by_host(with_path(signed.url, "hello.txt")), 403, "preview_token_invalid")
        assert "revoked" in after
        again = await maybe(machine.revoke_preview_url(grant_id))
        assert again.revoked and again.revoked_at == revoked.revoked_at
        gone = await grant_of(machine, grant_id)
        assert gone.state == "revoked" and not gone.is_active
        assert gone.revoked_at is not None and gone.disabled_at is not None
        assert gone.denied_count == 2
        # Without a token a public machine still answers.
        assert by_host(plain).status_code == 200
        with pytest.raises(PreviewGrantNotFoundError):
            await maybe(machine.revoke_preview_url("pvg_doesnotexist"))
    finally:
        await maybe(server.kill())


async def test_host_info_is_a_new_signed_grant(machine: Any) -> None:
    server, marker = await serve(machine)
    try:
        info = await maybe(machine.get_host_info(PORT, expires_in_seconds=300))
        assert info.host.startswith(f"{PORT}-{machine.id}.")
        assert httpx.URL(info.url).params[TOKEN_PARAM].startswith("nspv1.")
        assert httpx.URL(info.websocket_url).scheme == "ws"
        assert 250 < info.expires_at.timestamp() - time.time() <= 301
        assert by_host(with_path(info.url, "hello.txt")).text.strip() == marker
        assert (await grant_of(machine, info.grant_id)).request_count == 1
    finally:
        await maybe(server.kill())


async def test_proxy_target_header_tokens(machine: Any) -> None:
    server, marker = await serve(machine)
    try:
        target = await maybe(machine.create_preview_proxy_target(PORT))
        assert set(target.transports) == {"http", "websocket"}
        assert target.header_name == "x-nullspace-preview-proxy-token"
        assert "x-forwarded-for" in target.forwarded_headers
        for url in (target.http_url, target.websocket_url):
            assert "nspv1." not in url  # marker-only
        http_token = target.headers["http"][target.header_name]
        ws_token = target.headers["websocket"][target.header_name]
        assert http_token.startswith("nspv1.") and http_token != ws_token
        assert http_token.rsplit(".", 1)[1] not in repr(target)

        page = with_path(target.http_url, "hello.txt")
        through = by_host(page, target.headers["http"])
        assert through.status_code == 200 and through.text.strip() == marker
        assert (await grant_of(machine, target.grant_id)).kind == "proxy"
        # A proxy token goes in its header only: in the URL it is refused, and the
        # WebSocket token does not open HTTP.
        in_url = by_host(f"{page}?{TOKEN_PARAM}={http_token}")
        refused(in_url, 403, "preview_token_invalid")
        wrong = by_host(page, {target.header_name: ws_token})
        refused(wrong, 403, "preview_token_invalid")
        assert (await grant_of(machine, target.grant_id)).request_count == 1
    finally:
        await maybe(server.kill())


# -- a machine without public traffic ------------------------------------------------


async def test_private_machine_takes_only_credentialed_traffic(private_machine: Any) -> None:
    machine = private_machine
    server, marker = await serve(machine)
    try:
        # get_preview_url signs the addresses: without the token they are refused.
        preview = await maybe(machine.get_preview_url(PORT))
        assert preview.auth_mode == "token" and preview.is_signed
        assert preview.grant is not None and preview.grant.kind == "url"
        for url in (preview.url, preview.path_url):
            assert httpx.URL(url).params[TOKEN_PARAM] == preview.token
        bare = without_token(with_path(preview.url, "hello.txt"))
        refused(by_host(bare), 401, "preview_token_required")
        bare_path = without_token(with_path(preview.path_url, "hello.txt"))
        refused(get(bare_path), 401, "preview_token_required")
        assert by_host(with_path(preview.url, "hello.txt")).text.strip() == marker
        assert get(with_path(preview.path_url, "hello.txt")).text.strip() == marker
        url = await maybe(machine.get_url(PORT))  # another grant, as good
        assert TOKEN_PARAM in url and url != preview.url
        assert by_host(with_path(url, "hello.txt")).text.strip() == marker

        # A token with its signature changed is refused.
        assert preview.token is not None
        forged = preview.token[:-4] + ("AAAA" if not preview.token.endswith("AAAA") else "BBBB")
        plain = without_token(with_path(preview.url, "hello.txt"))
        refused(by_host(plain, {"x-nullspace-preview-token": forged}), 403, "preview_token_invalid")

        # The machine's traffic access token opens it from any client, in its header.
        token = machine.traffic_access_token
        assert token is not None and token.startswith("nstt_")
        assert (await maybe(machine.get_info())).traffic_access_token == token
        header = {"x-nullspace-traffic-access-token": token}
        assert by_host(plain, header).text.strip() == marker
        refused(
            by_host(plain, {"x-nullspace-traffic-access-token": token + "x"}),
            403,
            "preview_token_invalid",
        )

        # A proxy target's header token works here too, in its header only.
        target = await maybe(machine.create_preview_proxy_target(PORT, transports=["http"]))
        page = with_path(target.http_url, "hello.txt")
        assert by_host(page, target.headers["http"]).text.strip() == marker
        http_token = target.headers["http"][target.header_name]
        refused(by_host(f"{page}?{TOKEN_PARAM}={http_token}"), 403, "preview_token_invalid")
        refused(by_host(page), 401, "preview_token_required")

        # Revoking a grant closes its URL at once; the other grant's stays open.
        await maybe(machine.revoke_preview_url(preview.grant.grant_id))
        refused(by_host(with_path(preview.url, "hello.txt")), 403, "preview_token_invalid")
        assert by_host(with_path(url, "hello.txt")).status_code == 200
    finally:
        await maybe(server.kill())
