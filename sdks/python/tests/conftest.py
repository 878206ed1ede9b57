"""Shared fixtures of the unit tests: a fake API behind an ``httpx`` transport and a
``flavour`` fixture running every test once with the sync and once with the async
client."""

from __future__ import annotations

import inspect
import json
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest

import nullspace

from .ws_fake import FakeStreams

API_URL = "http://nullspace.test:7070"
API_KEY = "ns_live_testkey"
MACHINE_ID = "sb_abc123"
SNAPSHOT_ID = "snap_xyz789"


def machine_json(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": MACHINE_ID,
        "template": "base",
        "state": "running",
        "cpu_count": 2,
        "memory_mb": 512,
        "metadata": {},
        "cwd": "/workspace",
        "created_at": "2026-01-02T03:04:05Z",
        "end_at": "2026-01-02T03:09:05Z",
        "timeout_action": "kill",
        "auto_resume": False,
        "snapshot_id": None,
        "forked_from": None,
        "failure_reason": None,
    }
    body.update(overrides)
    return body


def snapshot_json(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": SNAPSHOT_ID,
        "machine_id": MACHINE_ID,
        "template": "base",
        "cpu_count": 2,
        "memory_mb": 512,
        "metadata": {},
        "size_bytes": 123456789,
        "source_stall_ms": 42,
        "created_at": "2026-01-02T03:05:00Z",
    }
    body.update(overrides)
    return body


def metrics_json(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "cpu_count": 2,
        "cpu_used_pct": 12.5,
        "mem_total_bytes": 512 * 2**20,
        "mem_used_bytes": 100 * 2**20,
        "disk_total_bytes": 2 * 2**30,
        "disk_used_bytes": 2**30,
        "uptime_secs": 17,
        "timestamp": "2026-01-02T03:04:22Z",
    }
    body.update(overrides)
    return body


def entry_json(path: str = "/workspace/a.txt", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": path.rsplit("/", 1)[-1],
        "path": path,
        "type": "file",
        "size": 5,
        "mode": 0o644,
        "permissions": "rw-r--r--",
        "owner": "user",
        "group": "user",
        "modified_time": "2026-01-02T03:04:05.123Z",
        "symlink_target": None,
    }
    body.update(overrides)
    return body


def process_json(pid: int = 42, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "pid": pid,
        "tag": None,
        "command": "echo hi",
        "args": ["bash", "-c", "echo hi"],
        "cwd": "/workspace",
        "user": "user",
        "pty": None,
        "started_at": "2026-01-02T03:04:05Z",
        "running": True,
        "stdin_open": False,
        "exit_code": None,
        "signal": None,
        "timed_out": False,
        "duration_ms": None,
        "stdout": {"total_bytes": 0, "kept_from": 0},
        "stderr": {"total_bytes": 0, "kept_from": 0},
    }
    body.update(overrides)
    return body


def result_json(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"stdout": "", "stderr": "", "exit_code": 0, "duration_ms": 3}
    body.update(overrides)
    return body


def error_response(status: int, code: str, message: str = "boom") -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": code, "message": message}})


@dataclass
class Recorded:
    method: str
    path: str
    params: list[tuple[str, str]]
    headers: httpx.Headers
    body: bytes
    chunks: list[bytes] = field(default_factory=list)
    """The body as it arrived, chunk by chunk."""

    def json(self) -> Any:
        return json.loads(self.body)

    def param(self, name: str) -> str | None:
        values = [v for k, v in self.params if k == name]
        return values[0] if values else None


Reply = httpx.Response | Callable[[httpx.Request], httpx.Response]


class BodyStream(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A response body sent in ``chunks`` (chunked: no length), then broken off by
    raising ``error`` when one is given, as a connection lost mid-body does."""

    def __init__(self, chunks: Iterable[bytes], error: Exception | None = None) -> None:
        self.chunks = list(chunks)
        self.error = error

    def __iter__(self) -> Iterator[bytes]:
        yield from self.chunks
        if self.error is not None:
            raise self.error

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk
        if self.error is not None:
            raise self.error


def streamed(chunks: Iterable[bytes], error: Exception | None = None) -> httpx.Response:
    """A 200 answer streaming ``chunks`` (see :class:`BodyStream`)."""
    return httpx.Response(
        200,
        headers={"content-type": "application/octet-stream"},
        stream=BodyStream(chunks, error),
    )


class FakeTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """Like ``httpx.MockTransport`` over a :class:`FakeApi`, but it takes a request body
    chunk by chunk as a server does: the chunks are recorded, and ``FakeApi.on_chunk``
    is called as each one arrives (before the client produces the next)."""

    def __init__(self, api: FakeApi) -> None:
        self.api = api

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.SyncByteStream)
        return self.api.answer(request, [self.api.took(c) for c in request.stream])

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.AsyncByteStream)
        return self.api.answer(request, [self.api.took(c) async for c in request.stream])


@dataclass
class FakeApi:
    """Queued answers per ``(method, path)``; records every request."""

    routes: dict[tuple[str, str], list[Reply]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    raw: list[httpx.Request] = field(default_factory=list)
    on_chunk: Callable[[bytes], None] | None = None
    """Called with each chunk of a request body as it arrives (it may raise, as a
    connection lost mid-upload does)."""

    def on(
        self,
        method: str,
        path: str,
        json: Any = None,
        status: int = 200,
        *,
        response: Reply | None = None,
        content: bytes | None = None,
    ) -> FakeApi:
        if response is None:
            if content is not None:
                response = httpx.Response(
                    status, content=content, headers={"content-type": "application/octet-stream"}
                )
            elif json is None:
                response = httpx.Response(status)
            else:
                response = httpx.Response(status, json=json)
        self.routes.setdefault((method, path), []).append(response)
        return self

    def handle(self, request: httpx.Request) -> httpx.Response:
        """The answer to a request whose body is read whole (``httpx.MockTransport``)."""
        return self.answer(request, [request.read()])

    def took(self, chunk: bytes) -> bytes:
        if self.on_chunk is not None:
            self.on_chunk(chunk)
        return bytes(chunk)

    def answer(self, request: httpx.Request, chunks: list[bytes]) -> httpx.Response:
        rec = Recorded(
            request.method,
            request.url.path,
            parse_qsl(request.url.query.decode(), keep_blank_values=True),
            request.headers,
            b"".join(chunks),
            [c for c in chunks if c],
        )
        self.requests.append(rec)
        self.raw.append(request)
        queue = self.routes.get((request.method, request.url.path))
        if not queue:
            return error_response(599, "internal", f"no fake for {request.method} {request.url}")
        reply = queue.pop(0) if len(queue) > 1 else queue[0]
        return reply(request) if callable(reply) else reply

    @property
    def last(self) -> Recorded:
        return self.requests[-1]

    def transport(self) -> FakeTransport:
        return FakeTransport(self)


@pytest.fixture
def api() -> FakeApi:
    return FakeApi()


async def maybe(value: Any) -> Any:
    """Await ``value`` if it is awaitable (async flavour), else return it."""
    if inspect.isawaitable(value):
        return await value
    return value


async def collect(paginator: Iterable[Any] | AsyncIterable[Any]) -> list[Any]:
    if isinstance(paginator, AsyncIterable):
        return [item async for item in paginator]
    return list(paginator)


@dataclass
class Flavour:
    name: str
    Machine: Any
    api: FakeApi
    api_url: str = API_URL
    """Where the client goes: the WebSocket tests point it at their fake stream server
    (HTTP still goes to :attr:`api`'s mock transport)."""

    @property
    def is_async(self) -> bool:
        return self.name == "async"

    @property
    def Snapshot(self) -> Any:
        return nullspace.AsyncSnapshot if self.is_async else nullspace.Snapshot

    def conn(self, **extra: Any) -> dict[str, Any]:
        """Connection kwargs aimed at the fake API."""
        kwargs: dict[str, Any] = {
            "api_key": API_KEY,
            "api_url": self.api_url,
            "transport": self.api.transport(),
        }
        kwargs.update(extra)
        return kwargs

    async def machine(self, **info: Any) -> Any:
        """A connected machine (one GET consumed)."""
        self.api.on("GET", f"/v1/machines/{MACHINE_ID}", machine_json(**info))
        machine = await maybe(self.Machine.connect(MACHINE_ID, **self.conn()))
        self.api.routes.pop(("GET", f"/v1/machines/{MACHINE_ID}"))
        self.api.requests.clear()
        return machine


@pytest.fixture(params=["sync", "async"])
def flavour(request: pytest.FixtureRequest, api: FakeApi) -> Flavour:
    cls = nullspace.Machine if request.param == "sync" else nullspace.AsyncMachine
    return Flavour(request.param, cls, api)


@pytest.fixture
def streams() -> Iterator[FakeStreams]:
    """A scripted WebSocket server on 127.0.0.1 (see :mod:`tests.ws_fake`)."""
    yield from FakeStreams().run()


@pytest.fixture
def ws_flavour(flavour: Flavour, streams: FakeStreams) -> Flavour:
    """:func:`flavour` whose client opens its streams on :func:`streams`."""
    flavour.api_url = streams.url
    return flavour


@pytest.fixture(autouse=True)
def _isolated_config(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """No test may read the developer's real config or environment."""
    home = tmp_path_factory.mktemp("home")
    cwd = tmp_path_factory.mktemp("cwd")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.delenv("NULLSPACE_API_KEY", raising=False)
    monkeypatch.delenv("NULLSPACE_API_URL", raising=False)
    monkeypatch.chdir(cwd)


def pytest_report_header(config: pytest.Config) -> str:
    import os

    if os.environ.get("NULLSPACE_TEST_API_URL") and os.environ.get("NULLSPACE_TEST_API_KEY"):
        return f"nullspace integration tests: against {os.environ['NULLSPACE_TEST_API_URL']}"
    return (
        "nullspace integration tests: SKIPPED (NULLSPACE_TEST_API_URL / "
        "NULLSPACE_TEST_API_KEY not set; scripts/test.sh starts a server and sets them)"
    )
