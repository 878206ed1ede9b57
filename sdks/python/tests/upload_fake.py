"""A stateful fake of the routes that move many bytes (``spec/files.md``): resumable
upload sessions (``/uploads``), directory archives (``/files/archive``) and the
direct ``PUT /files``, behind one ``httpx`` transport for both flavours.

Sessions keep their chunks, so a test can fail an upload part-way, look at what the
server holds, and resume. ``fail`` queues, per chunk index, what the next tries of
that chunk get instead of success: an ``httpx`` exception (the connection lost) or an
``httpx.Response`` (an API error).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import httpx

from .conftest import MACHINE_ID, entry_json, error_response, machine_json

BASE = f"/v1/machines/{MACHINE_ID}"


@dataclass
class Session:
    upload_id: str
    path: str
    kind: str
    size: int
    chunk_size: int
    conflict: str | None
    expires_in: int | None
    chunks: dict[int, bytes] = field(default_factory=dict)
    state: str = "open"
    expired: bool = False

    @property
    def count(self) -> int:
        return max(1, -(-self.size // self.chunk_size))

    def json(self) -> dict[str, Any]:
        return {
            "upload_id": self.upload_id,
            "machine_id": MACHINE_ID,
            "path": self.path,
            "kind": self.kind,
            "size": self.size,
            "chunk_size": self.chunk_size,
            "chunks": self.count,
            "received": sorted(self.chunks),
            "bytes_received": sum(len(c) for c in self.chunks.values()),
            "sha256": None,
            "state": self.state,
            "created_at": "2026-01-02T03:04:05Z",
            "expires_at": "2026-01-03T03:04:05Z",
        }

    def content(self) -> bytes:
        return b"".join(self.chunks[i] for i in range(self.count))


@dataclass
class Call:
    method: str
    path: str
    params: dict[str, str]
    headers: httpx.Headers
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def archive_counts(data: bytes) -> dict[str, int]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        members = tar.getmembers()
    return {
        "files": sum(m.isreg() for m in members),
        "dirs": sum(m.isdir() for m in members),
        "symlinks": sum(m.issym() for m in members),
        "bytes": sum(m.size for m in members if m.isreg()),
    }


def absolute(path: str) -> str:
    return path if path.startswith("/") else f"/workspace/{path}"


class FakeFileServer(httpx.BaseTransport, httpx.AsyncBaseTransport):
    def __init__(self) -> None:
        self.sessions: dict[str, Session] = {}
        self.calls: list[Call] = []
        self.files: dict[str, bytes] = {}
        """What completions and direct uploads wrote, by absolute path."""
        self.archives: list[tuple[str, bytes]] = []
        """Archives received (destination, tar bytes), direct or completed."""
        self.fail: dict[int, list[Exception | httpx.Response]] = {}
        self.complete_error: httpx.Response | None = None
        self.download: bytes = b""
        """The tar stream ``GET /files/archive`` answers."""
        self._lock = threading.Lock()
        self._next = 0

    # -- views -------------------------------------------------------------------------

    def chunk_puts(self) -> list[int]:
        return [int(c.path.rsplit("/", 1)[1]) for c in self.calls if "/chunks/" in c.path]

    def calls_to(self, method: str, suffix: str) -> list[Call]:
        return [c for c in self.calls if c.method == method and c.path.endswith(suffix)]

    @property
    def only(self) -> Session:
        assert len(self.sessions) == 1, self.sessions
        return next(iter(self.sessions.values()))

    # -- transport ---------------------------------------------------------------------

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._answer(request, request.read())

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return self._answer(request, await request.aread())

    def _answer(self, request: httpx.Request, body: bytes) -> httpx.Response:
        path = request.url.path
        params = dict(parse_qsl(request.url.query.decode(), keep_blank_values=True))
        with self._lock:
            self.calls.append(Call(request.method, path, params, request.headers, body))
            return self._route(request.method, path, params, request.headers, body)

    def _route(
        self, method: str, path: str, params: dict[str, str], headers: httpx.Headers, body: bytes
    ) -> httpx.Response:
        if path == BASE and method == "GET":
            return httpx.Response(200, json=machine_json())
        if path == f"{BASE}/files" and method == "PUT":
            target = absolute(params["path"])
            self.files[target] = body
            return httpx.Response(200, json=entry_json(target, size=len(body)))
        if path == f"{BASE}/files" and method == "GET":
            stored = self.files.get(absolute(params["path"]))
            if stored is None:
                return error_response(404, "not_found", "no such file")
            return httpx.Response(200, content=stored)
        if path == f"{BASE}/files/archive" and method == "PUT":
            target = absolute(params["path"])
            self.archives.append((target, body))
            return httpx.Response(200, json={"path": target, **archive_counts(body)})
        if path == f"{BASE}/files/archive" and method == "GET":
            return httpx.Response(
                200, content=self.download, headers={"content-type": "application/x-tar"}
            )
        if path == f"{BASE}/uploads" and method == "POST":
            return self._create(json.loads(body))
        found = re.fullmatch(rf"{BASE}/uploads/([^/]+)(/chunks/(\d+)|/complete)?", path)
        if found is None:
            return error_response(404, "not_found", f"no route {method} {path}")
        session = self.sessions.get(found.group(1))
        if session is None:
            return error_response(404, "upload_not_found", "no such upload")
        if session.expired:
            return error_response(410, "upload_expired", "the upload expired")
        if found.group(3) is not None and method == "PUT":
            return self._chunk(session, int(found.group(3)), headers, body)
        if found.group(2) == "/complete" and method == "POST":
            return self._complete(session, json.loads(body) if body else {})
        if found.group(2) is None and method == "GET":
            return httpx.Response(200, json=session.json())
        if found.group(2) is None and method == "DELETE":
            session.state = "aborted"
            session.chunks.clear()
            return httpx.Response(204)
        return error_response(405, "method_not_allowed", f"{method} {path}")

    def _create(self, req: dict[str, Any]) -> httpx.Response:
        if req["path"].startswith("/workspace/.nullspace"):
            return error_response(422, "upload_path_invalid", "reserved path")
        self._next += 1
        session = Session(
            f"upl_{self._next}",
            absolute(req["path"]),
            req.get("kind", "file"),
            req["size"],
            req.get("chunk_size", 8 << 20),
            req.get("conflict"),
            req.get("expires_in"),
        )
        self.sessions[session.upload_id] = session
        return httpx.Response(201, json=session.json())

    def _chunk(
        self, session: Session, index: int, headers: httpx.Headers, body: bytes
    ) -> httpx.Response:
        queued = self.fail.get(index)
        if queued:
            failure = queued.pop(0)
            if isinstance(failure, Exception):
                raise failure
            return failure
        if session.state != "open":
            return error_response(409, "upload_state", f"the upload is {session.state}")
        if index >= session.count:
            return error_response(409, "upload_chunk_invalid", "index out of range")
        want = min(session.chunk_size, session.size - index * session.chunk_size)
        if len(body) != want:
            return error_response(409, "upload_chunk_invalid", f"{len(body)} bytes, not {want}")
        digest = headers.get("x-nullspace-chunk-sha256")
        if digest is not None and digest != hashlib.sha256(body).hexdigest():
            return error_response(422, "upload_checksum_mismatch", "chunk checksum")
        session.chunks[index] = body
        return httpx.Response(200, json=session.json())

    def _complete(self, session: Session, req: dict[str, Any]) -> httpx.Response:
        if self.complete_error is not None:
            return self.complete_error
        if session.state != "open":
            return error_response(409, "upload_state", f"the upload is {session.state}")
        missing = session.count - len(session.chunks)
        if missing:
            return error_response(409, "upload_state", f"{missing} chunks missing")
        content = session.content()
        if req.get("sha256") is not None and req["sha256"] != hashlib.sha256(content).hexdigest():
            return error_response(422, "upload_checksum_mismatch", "the content's checksum")
        session.state = "complete"
        answer: dict[str, Any] = {"upload": session.json()}
        if session.kind == "archive":
            self.archives.append((session.path, content))
            answer["archive"] = {"path": session.path, **archive_counts(content)}
        else:
            self.files[session.path] = content
            answer["entry"] = entry_json(session.path, size=len(content))
        return httpx.Response(200, json=answer)
