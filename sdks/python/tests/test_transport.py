"""The shared HTTP core: request building and the borrowed transports."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from nullspace._config import ClientConfig
from nullspace._transport import (
    CHUNK_BYTES,
    AsyncTransport,
    Operation,
    RequestSpec,
    SyncTransport,
    build_request,
    finish,
)
from nullspace.errors import NotFoundError, NullspaceError, ServerError

from .conftest import error_response, streamed

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


def test_build_streamed_body() -> None:
    def body() -> Iterator[bytes]:
        yield b"a"
        yield b"b"

    chunked = build_request(CONFIG, RequestSpec("PUT", "/f", content=body()))
    assert chunked.headers["transfer-encoding"] == "chunked"
    assert "content-length" not in chunked.headers
    assert chunked.headers["content-type"] == "application/octet-stream"
    sized = build_request(
        CONFIG, RequestSpec("PUT", "/f", content=body(), headers={"Content-Length": "2"})
    )
    assert sized.headers["content-length"] == "2"
    assert "transfer-encoding" not in sized.headers


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


BIG = [b"x" * CHUNK_BYTES, b"y" * (CHUNK_BYTES // 2), b"z" * (CHUNK_BYTES // 2 + 1)]


def test_sync_receive_hands_the_body_over_in_chunks() -> None:
    got: list[bytes] = []
    op = Operation(RequestSpec("GET", "/f"), lambda r: r.status_code)
    with SyncTransport(CONFIG, httpx.MockTransport(lambda r: streamed(BIG))) as sender:
        assert sender.receive(op, got.append) == 200
    assert b"".join(got) == b"".join(BIG)
    assert [len(c) for c in got] == [CHUNK_BYTES, CHUNK_BYTES, 1]


async def test_async_receive_hands_the_body_over_in_chunks() -> None:
    got: list[bytes] = []

    async def sink(chunk: bytes) -> None:
        got.append(chunk)

    op = Operation(RequestSpec("GET", "/f"), lambda r: r.status_code)
    async with AsyncTransport(CONFIG, httpx.MockTransport(lambda r: streamed(BIG))) as sender:
        assert await sender.receive(op, sink) == 200
    assert [len(c) for c in got] == [CHUNK_BYTES, CHUNK_BYTES, 1]


def test_receive_error_answer_raises_without_touching_the_sink() -> None:
    got: list[bytes] = []
    op = Operation(RequestSpec("GET", "/f"), lambda r: None)
    transport = httpx.MockTransport(lambda r: error_response(404, "not_found", "gone"))
    with SyncTransport(CONFIG, transport) as sender, pytest.raises(NotFoundError):
        sender.receive(op, got.append)
    assert got == []


def test_receive_body_broken_off_is_a_connection_error() -> None:
    broken = httpx.ReadError("connection reset")
    op = Operation(RequestSpec("GET", "/f"), lambda r: None)
    transport = httpx.MockTransport(lambda r: streamed([b"abc"], broken))
    with SyncTransport(CONFIG, transport) as sender, pytest.raises(ServerError) as info:
        sender.receive(op, lambda chunk: None)
    assert info.value.code == "connection_error"
    assert info.value.message == (
        "download cut short after 3 bytes from the Nullspace API at http://h:1: connection reset"
    )
