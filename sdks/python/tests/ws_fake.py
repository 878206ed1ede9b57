"""A scripted WebSocket server on 127.0.0.1 standing in for the process stream routes
(``spec/websocket.md``), run in a thread of its own so that both the sync and the async
readers can talk to it.

Each upgrade takes the next script: a list of steps sent in order. A step is
``("text", {...})`` (a JSON message), ``("out", b"...")`` / ``("err", b"...")`` (binary
output of stdout / stderr), ``("sleep", seconds)``, ``("close", code)`` or ``("drop",)``
(the TCP connection cut without a close frame), or the whole script is
``("refuse", status, code)`` (the upgrade answered with that JSON error).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

Step = tuple[Any, ...]
Script = list[Step] | tuple[str, int, str]


def start(pid: int, stdout: int = 0, stderr: int = 0) -> Step:
    return ("text", {"type": "start", "pid": pid, "stdout_offset": stdout, "stderr_offset": stderr})


def end(
    pid: int, exit_code: int | None = 0, stdout: int = 0, stderr: int = 0, **extra: Any
) -> Step:
    body = {
        "type": "end",
        "pid": pid,
        "running": False,
        "exit_code": exit_code,
        "signal": None,
        "timed_out": False,
        "duration_ms": 12,
        "stdout_offset": stdout,
        "stderr_offset": stderr,
    }
    body.update(extra)
    return ("text", body)


@dataclass
class Upgrade:
    path: str
    query: dict[str, str]
    headers: dict[str, str]


@dataclass
class FakeStreams:
    scripts: list[Script] = field(default_factory=list)
    upgrades: list[Upgrade] = field(default_factory=list)
    port: int = 0
    _loop: asyncio.AbstractEventLoop | None = None
    _server: Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add(self, *scripts: Script) -> FakeStreams:
        self.scripts.extend(scripts)
        return self

    # -- server side ------------------------------------------------------------

    def _next(self) -> Script:
        return self.scripts.pop(0) if self.scripts else [("close", 4500)]

    def _process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        parts = urlsplit(request.path)
        self.upgrades.append(
            Upgrade(parts.path, dict(parse_qsl(parts.query)), dict(request.headers.raw_items()))
        )
        if self.scripts and isinstance(self.scripts[0], tuple):
            _, status, code = self.scripts.pop(0)
            body = json.dumps({"error": {"code": code, "message": f"refused: {code}"}})
            return conn.respond(HTTPStatus(status), body)
        return None

    async def _handler(self, conn: ServerConnection) -> None:
        script = self._next()
        assert isinstance(script, list)
        for step in script:
            kind = step[0]
            if kind == "text":
                await conn.send(json.dumps(step[1]))
            elif kind == "out":
                await conn.send(b"\x01" + step[1])
            elif kind == "err":
                await conn.send(b"\x02" + step[1])
            elif kind == "sleep":  # ends early when the client goes
                try:
                    await asyncio.wait_for(conn.wait_closed(), step[1])
                    return
                except TimeoutError:
                    pass
            elif kind == "close":
                await conn.close(step[1], step[2] if len(step) > 2 else "")
                return
            elif kind == "drop":
                conn.transport.abort()
                return
        await conn.close(1000)

    # -- lifecycle --------------------------------------------------------------

    def run(self) -> Iterator[FakeStreams]:
        ready = threading.Event()

        async def main() -> None:
            self._server = await serve(
                self._handler, "127.0.0.1", 0, process_request=self._process_request
            )
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            await self._server.serve_forever()

        def thread() -> None:
            self._loop = asyncio.new_event_loop()
            try:
                self._loop.run_until_complete(main())
            except asyncio.CancelledError:
                pass
            finally:
                self._loop.close()

        worker = threading.Thread(target=thread, daemon=True)
        worker.start()
        assert ready.wait(10), "fake stream server did not start"
        try:
            yield self
        finally:
            assert self._loop is not None and self._server is not None
            self._loop.call_soon_threadsafe(self._server.close)
            worker.join(10)
