"""Resumable uploads on a stateful fake server, both flavours: chunking, checksums,
retries, failures that carry ``upload_id``, and resumes that send only what is
missing."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import nullspace
from nullspace import (
    ConflictError,
    FileUploadError,
    InvalidArgumentError,
    NotFoundError,
    UploadChecksumError,
    UploadChunkError,
    UploadConflictError,
    UploadExpiredError,
    UploadLimitError,
    UploadNotFoundError,
    UploadPathError,
    UploadProgress,
    UploadResult,
    UploadStateError,
    _bulk,
    _resumable,
)
from nullspace.errors import error_for

from .conftest import API_KEY, API_URL, MACHINE_ID, error_response, maybe
from .upload_fake import FakeFileServer

CHUNK = 64 << 10  # the smallest chunk a session takes
SIZE = 5 * CHUNK + 1000  # six chunks, the last one short


def pattern(size: int) -> bytes:
    block = bytes(range(251))
    return (block * (size // len(block) + 1))[:size]


@pytest.fixture
def server() -> FakeFileServer:
    return FakeFileServer()


@pytest.fixture(autouse=True)
def _quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_resumable, "RETRY_DELAYS", (0.0, 0.0))


@pytest.fixture(params=["sync", "async"])
def machine_cls(request: pytest.FixtureRequest) -> Any:
    return nullspace.Machine if request.param == "sync" else nullspace.AsyncMachine


async def connect(machine_cls: Any, server: FakeFileServer) -> Any:
    machine = await maybe(
        machine_cls.connect(MACHINE_ID, api_key=API_KEY, api_url=API_URL, transport=server)
    )
    server.calls.clear()
    return machine


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "model.bin"
    path.write_bytes(pattern(SIZE))
    return path


async def test_resumable_upload_sends_checked_chunks_then_the_whole_digest(
    machine_cls: Any, server: FakeFileServer, source: Path
) -> None:
    machine = await connect(machine_cls, server)
    result = await maybe(
        machine.files.upload_file(source, "/data/model.bin", resumable=True, chunk_size=CHUNK)
    )
    assert isinstance(result, UploadResult)
    assert (result.transport, result.kind, result.target_path) == (
        "resumable",
        "file",
        "/data/model.bin",
    )
    assert result.upload_id == "upl_1"
    assert result.bytes_uploaded == SIZE and result.file_count == 1
    assert result.entry is not None and result.entry.size == SIZE
    assert server.files["/data/model.bin"] == source.read_bytes()

    create = server.calls_to("POST", "/uploads")[0].json()
    assert create == {
        "path": "/data/model.bin",
        "size": SIZE,
        "kind": "file",
        "chunk_size": CHUNK,
        "user": "user",
    }
    puts = [c for c in server.calls if "/chunks/" in c.path]
    assert sorted(server.chunk_puts()) == [0, 1, 2, 3, 4, 5]
    for call in puts:
        assert call.headers["x-nullspace-chunk-sha256"] == hashlib.sha256(call.body).hexdigest()
        assert len(call.body) == (1000 if call.path.endswith("/5") else CHUNK)
    complete = server.calls_to("POST", "/complete")[0].json()
    assert complete == {"sha256": hashlib.sha256(source.read_bytes()).hexdigest()}


async def test_large_sources_go_resumable_by_themselves(
    machine_cls: Any, server: FakeFileServer, source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_bulk, "RESUMABLE_THRESHOLD", SIZE - 1)
    machine = await connect(machine_cls, server)
    big = await maybe(machine.files.upload_file(source, "/d/a.bin", chunk_size=CHUNK))
    assert big.transport == "resumable"
    # a known-length stream too
    with open(source, "rb") as f:
        stream = await maybe(machine.files.upload_file(f, "/d/b.bin", chunk_size=CHUNK))
    assert stream.transport == "resumable"
    assert server.files["/d/b.bin"] == source.read_bytes()
    # resumable=False forces one request; a smaller source goes direct by itself
    direct = await maybe(machine.files.upload_file(source, "/d/c.bin", resumable=False))
    assert direct.transport == "direct" and direct.upload_id is None
    monkeypatch.setattr(_bulk, "RESUMABLE_THRESHOLD", SIZE)
    small = await maybe(machine.files.upload_file(source, "/d/e.bin"))
    assert small.transport == "direct"
    assert len(server.sessions) == 2


async def test_a_stream_of_unknown_length_is_spooled_when_resumable(
    machine_cls: Any, server: FakeFileServer
) -> None:
    data = pattern(3 * CHUNK)

    class Pipe:
        def __init__(self) -> None:
            self._buf = io.BytesIO(data)

        def read(self, n: int = -1) -> bytes:
            return self._buf.read(min(n, 5000) if n > 0 else n)

    machine = await connect(machine_cls, server)
    result = await maybe(
        machine.files.upload_file(Pipe(), "/d/pipe.bin", resumable=True, chunk_size=CHUNK)
    )
    assert result.transport == "resumable" and result.bytes_uploaded == len(data)
    assert server.files["/d/pipe.bin"] == data


async def test_a_failed_chunk_is_tried_again(
    machine_cls: Any, server: FakeFileServer, source: Path
) -> None:
    server.fail[2] = [error_response(503, "unavailable"), httpx.ConnectError("reset")]
    machine = await connect(machine_cls, server)
    result = await maybe(
        machine.files.upload_file(source, "/d/x", resumable=True, chunk_size=CHUNK)
    )
    assert result.transport == "resumable"
    assert server.chunk_puts().count(2) == 3
    assert server.files["/d/x"] == source.read_bytes()


async def test_a_failure_carries_the_upload_id_and_a_resume_sends_only_what_is_missing(
    machine_cls: Any, server: FakeFileServer, source: Path
) -> None:
    server.fail[3] = [httpx.ConnectError("connection reset")] * _resumable.CHUNK_ATTEMPTS
    machine = await connect(machine_cls, server)
    with pytest.raises(FileUploadError) as info:
        await maybe(
            machine.files.upload_file(
                source, "/d/big.bin", resumable=True, chunk_size=CHUNK, concurrency=1
            )
        )
    err = info.value
    assert err.upload_id == "upl_1"
    assert err.code == "connection_error"
    assert isinstance(err.__cause__, nullspace.ServerError)
    assert "resume_upload('upl_1'" in err.message
    held = set(server.only.chunks)
    assert held == {0, 1, 2}  # concurrency=1: in order, stopped at the failure
    assert server.chunk_puts().count(3) == _resumable.CHUNK_ATTEMPTS
    assert "/d/big.bin" not in server.files

    server.calls.clear()
    events: list[UploadProgress] = []
    resumed = await maybe(machine.files.resume_upload("upl_1", source, progress=events.append))
    assert sorted(server.chunk_puts()) == [3, 4, 5]  # nothing sent twice
    assert server.calls_to("GET", "/uploads/upl_1")
    assert resumed.upload_id == "upl_1" and resumed.transport == "resumable"
    assert resumed.bytes_uploaded == SIZE - 3 * CHUNK
    assert server.files["/d/big.bin"] == source.read_bytes()
    assert events[1].phase == "uploading" and events[1].bytes_completed == 3 * CHUNK
    assert events[-1].bytes_completed == SIZE


async def test_progress_events_in_order(
    machine_cls: Any, server: FakeFileServer, source: Path
) -> None:
    events: list[UploadProgress] = []

    async def on_async(event: UploadProgress) -> None:
        events.append(event)

    machine = await connect(machine_cls, server)
    callback = on_async if machine_cls is nullspace.AsyncMachine else events.append
    await maybe(
        machine.files.upload_file(
            source, "/d/p", resumable=True, chunk_size=CHUNK, progress=callback
        )
    )
    phases = [e.phase for e in events]
    assert phases[0] == "preparing"
    assert phases[-2:] == ["completing", "done"]
    assert phases[1:-2] == ["uploading"] * 7  # the starting point, then one per chunk
    assert all(e.transport == "resumable" and e.bytes_total == SIZE for e in events)
    completed = [e.bytes_completed for e in events]
    assert completed == sorted(completed)
    assert completed[-1] == SIZE


async def test_a_progress_callback_that_raises_stops_the_upload_resumably(
    machine_cls: Any, server: FakeFileServer, source: Path
) -> None:
    def stop_after_first_chunk(event: UploadProgress) -> None:
        if event.phase == "uploading" and event.bytes_completed > 0:
            raise KeyError("stop")

    machine = await connect(machine_cls, server)
    with pytest.raises(FileUploadError) as info:
        await maybe(
            machine.files.upload_file(
                source,
                "/d/q",
                resumable=True,
                chunk_size=CHUNK,
                concurrency=1,
                progress=stop_after_first_chunk,
            )
        )
    assert info.value.code == "upload_interrupted" and info.value.upload_id == "upl_1"
    assert isinstance(info.value.__cause__, KeyError)
    resumed = await maybe(machine.files.resume_upload("upl_1", source))
    assert resumed.bytes_uploaded == SIZE - CHUNK
    assert server.files["/d/q"] == source.read_bytes()


async def test_a_resume_of_changed_content_is_refused(
    machine_cls: Any, server: FakeFileServer, source: Path, tmp_path: Path
) -> None:
    server.fail[1] = [httpx.ConnectError("reset")] * _resumable.CHUNK_ATTEMPTS
    machine = await connect(machine_cls, server)
    with pytest.raises(FileUploadError):
        await maybe(
            machine.files.upload_file(
                source, "/d/c", resumable=True, chunk_size=CHUNK, concurrency=1
            )
        )
    other = tmp_path / "other.bin"
    other.write_bytes(b"short")
    with pytest.raises(FileUploadError) as size_changed:
        await maybe(machine.files.resume_upload("upl_1", other))
    assert size_changed.value.code == "source_changed"
    assert size_changed.value.upload_id == "upl_1"
    # same size, other bytes: the server's digest check refuses it
    source.write_bytes(bytes(reversed(source.read_bytes())))
    with pytest.raises(UploadChecksumError) as digest:
        await maybe(machine.files.resume_upload("upl_1", source))
    assert digest.value.upload_id == "upl_1"
    assert isinstance(digest.value, InvalidArgumentError)


async def test_resume_of_an_expired_missing_or_finished_session(
    machine_cls: Any, server: FakeFileServer, source: Path
) -> None:
    machine = await connect(machine_cls, server)
    with pytest.raises(UploadNotFoundError) as missing:
        await maybe(machine.files.resume_upload("upl_nope", source))
    assert missing.value.upload_id == "upl_nope"
    assert isinstance(missing.value, NotFoundError)

    done = await maybe(machine.files.upload_file(source, "/d/f", resumable=True, chunk_size=CHUNK))
    with pytest.raises(UploadStateError) as finished:
        await maybe(machine.files.resume_upload(done.upload_id, source))
    assert finished.value.upload_id == done.upload_id

    server.only.expired = True
    with pytest.raises(UploadExpiredError) as expired:
        await maybe(machine.files.resume_upload(done.upload_id, source))
    assert expired.value.upload_id == done.upload_id


async def test_errors_before_a_session_are_raised_as_they_are(
    machine_cls: Any, server: FakeFileServer, source: Path
) -> None:
    machine = await connect(machine_cls, server)
    with pytest.raises(UploadPathError) as info:
        await maybe(machine.files.upload_file(source, "/workspace/.nullspace/x", resumable=True))
    assert info.value.upload_id is None
    with pytest.raises(InvalidArgumentError):
        await maybe(machine.files.upload_file(source, "/d/x", resumable=True, chunk_size=100))
    with pytest.raises(InvalidArgumentError):
        await maybe(machine.files.upload_file(source, "/d/x", resumable=True, concurrency=0))
    assert server.calls_to("POST", "/uploads") == [server.calls[0]]


async def test_a_completion_error_carries_the_upload_id(
    machine_cls: Any, server: FakeFileServer, source: Path
) -> None:
    server.complete_error = error_response(409, "upload_conflict", "a directory is there")
    machine = await connect(machine_cls, server)
    with pytest.raises(UploadConflictError) as info:
        await maybe(machine.files.upload_file(source, "/d", resumable=True, chunk_size=CHUNK))
    assert info.value.upload_id == "upl_1"
    assert isinstance(info.value, ConflictError)


async def test_get_and_abort_upload(machine_cls: Any, server: FakeFileServer, source: Path) -> None:
    server.fail[0] = [error_response(413, "upload_too_large", "too big")]
    machine = await connect(machine_cls, server)
    with pytest.raises(UploadLimitError) as info:
        await maybe(machine.files.upload_file(source, "/d/g", resumable=True, chunk_size=CHUNK))
    session = await maybe(machine.files.get_upload(info.value.upload_id))
    assert session.state == "open" and session.missing[0] == 0
    assert await maybe(machine.files.abort_upload(session.upload_id)) is True
    assert server.calls[-1].method == "DELETE"
    assert await maybe(machine.files.abort_upload("upl_nope")) is False


@pytest.mark.parametrize(
    ("code", "status", "cls", "base"),
    [
        ("upload_not_found", 404, UploadNotFoundError, NotFoundError),
        ("upload_expired", 410, UploadExpiredError, NotFoundError),
        ("upload_checksum_mismatch", 422, UploadChecksumError, InvalidArgumentError),
        ("upload_state", 409, UploadStateError, ConflictError),
        ("upload_conflict", 409, UploadConflictError, ConflictError),
        ("upload_too_large", 413, UploadLimitError, InvalidArgumentError),
        ("upload_path_invalid", 422, UploadPathError, InvalidArgumentError),
        ("upload_chunk_invalid", 409, UploadChunkError, ConflictError),
    ],
)
def test_upload_error_codes_map_to_their_classes(
    code: str, status: int, cls: type[Exception], base: type[Exception]
) -> None:
    err = error_for(code, "boom", status)
    assert type(err) is cls
    assert isinstance(err, FileUploadError) and isinstance(err, base)
    assert err.upload_id is None and err.status == status
    assert "upload_id=None" in repr(err)


def test_gone_without_a_code_is_not_found() -> None:
    err = error_for(None, "gone", 410)
    assert isinstance(err, NotFoundError) and err.code == "gone"


def test_invalid_pattern_is_an_invalid_argument() -> None:
    err = error_for("invalid_pattern", "bad regex", 422)
    assert isinstance(err, nullspace.InvalidPatternError)
    assert isinstance(err, InvalidArgumentError)


def chunks_of(data: bytes) -> Iterator[bytes]:
    for i in range(0, len(data), CHUNK):
        yield data[i : i + CHUNK]


def test_chunk_source_reads_by_position_from_where_a_stream_stood() -> None:
    data = pattern(3 * CHUNK)
    stream = io.BytesIO(b"HEADER" + data)
    stream.seek(6)
    src = _resumable.ChunkSource.from_stream(stream, len(data))
    assert src.read(CHUNK, 10) == data[CHUNK : CHUNK + 10]
    assert src.sha256() == hashlib.sha256(data).hexdigest()
    with pytest.raises(InvalidArgumentError):
        src.read(len(data) - 5, 10)
    src.close()
    assert not stream.closed  # the caller's stream stays open


def test_a_path_source_uses_positional_reads(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(pattern(1000))
    src = _resumable.ChunkSource.from_path(str(path))
    try:
        assert src.read(990, 10) == pattern(1000)[990:]
        assert src.name == "f" and src.size == 1000
    finally:
        src.close()
    assert os.path.exists(path)


async def test_parallel_chunks_fail_and_resume_to_the_same_bytes(
    machine_cls: Any, server: FakeFileServer, tmp_path: Path
) -> None:
    data = pattern(20 * CHUNK + 5)
    source = tmp_path / "wide.bin"
    source.write_bytes(data)
    server.fail[7] = [httpx.ReadTimeout("stalled")] * _resumable.CHUNK_ATTEMPTS
    machine = await connect(machine_cls, server)
    with pytest.raises(FileUploadError) as info:
        await maybe(
            machine.files.upload_file(
                source, "/d/wide", resumable=True, chunk_size=CHUNK, concurrency=4
            )
        )
    assert info.value.code == "request_timeout" and info.value.upload_id == "upl_1"
    held = set(server.only.chunks)
    assert 7 not in held and len(held) < 21
    server.calls.clear()
    result = await maybe(machine.files.resume_upload("upl_1", source, concurrency=4))
    assert sorted(server.chunk_puts()) == sorted(set(range(21)) - held)
    assert server.files["/d/wide"] == data
    assert result.bytes_uploaded == len(data) - sum(len(server.only.chunks[i]) for i in held)
