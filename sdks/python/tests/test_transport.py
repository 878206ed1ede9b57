"""The shared HTTP core: request building and the borrowed transports."""

from __future__ import annotations

import httpx

from nullspace._config import ClientConfig
from nullspace._transport import (
    AsyncTransport,
    Operation,
    RequestSpec,
    SyncTransport,
    build_request,
    finish,
)
from nullspace.errors import NotFoundError, NullspaceError

CONFIG = ClientConfig(api_key="ns_k", api_url="http://h:1", request_timeout=12)


def test_build_json_request() -> None:
    req = build_request(CONFIG, RequestSpec("POST", "/v1/x", json={"a": 1}, params=[("p", "1")]))
    assert req.method == "POST"
    assert str(req.url) == "http://h:1/v1/x?p=1"
    assert req.headers["authorization"] == "Bearer ns_k"
    assert req.headers["content-type"] == "application/json"
    assert req.content == b'{"a":1}'
    assert req.extensions["timeout"]["read"] == 12


def test_build_binary_and_timeouts() -> None:
    req = build_request(CONFIG, RequestSpec("PUT", "/f", content=b"\x00", timeout=99))
    assert req.headers["content-type"] == "application/octet-stream"
    assert req.content == b"\x00"
    assert req.extensions["timeout"]["read"] == 99
    req = build_request(CONFIG, RequestSpec("POST", "/c", json={}, no_timeout=True))
    assert req.extensions["timeout"]["read"] is None
    assert req.extensions["timeout"]["connect"] == 12


def test_spec_headers_override() -> None:
    req = build_request(
        CONFIG, RequestSpec("GET", "/f", headers={"Accept": "application/octet-stream"})
    )
    assert req.headers["accept"] == "application/octet-stream"


def test_finish_on_error_recovers() -> None:
    def recover(err: NullspaceError) -> str:
        assert isinstance(err, NotFoundError)
        return "recovered"

    op = Operation(RequestSpec("GET", "/"), lambda r: "ok", on_error=recover)
    response = httpx.Response(404, json={"error": {"code": "not_found", "message": "m"}})
    assert finish(op, response) == "recovered"
    assert finish(op, httpx.Response(200)) == "ok"


class Closing(httpx.MockTransport):
    closed = False

    def close(self) -> None:
        self.closed = True

    async def aclose(self) -> None:
        self.closed = True


def test_sync_does_not_close_callers_transport() -> None:
    transport = Closing(lambda r: httpx.Response(200, json={"v": 1}))
    with SyncTransport(CONFIG, transport) as sender:
        assert sender.send(Operation(RequestSpec("GET", "/"), lambda r: r.json())) == {"v": 1}
    assert transport.closed is False


async def test_async_does_not_close_callers_transport() -> None:
    transport = Closing(lambda r: httpx.Response(200, json={"v": 2}))
    async with AsyncTransport(CONFIG, transport) as sender:
        assert await sender.send(Operation(RequestSpec("GET", "/"), lambda r: r.json())) == {"v": 2}
    assert transport.closed is False
