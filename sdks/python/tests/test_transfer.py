"""``files.upload_file``, ``files.download_file`` and streamed reads on the fake API, both
flavours: bodies go in chunks each way, nothing is held whole, and a transfer cut short
raises instead of passing for complete."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import nullspace
from nullspace import (
    DownloadProgress,
    DownloadResult,
    EntryInfo,
    InvalidArgumentError,
    UploadProgress,
    UploadResult,
)
from nullspace._transport import CHUNK_BYTES

from .conftest import MACHINE_ID, Flavour, entry_json, error_response, maybe, streamed

FILES = f"/v1/machines/{MACHINE_ID}/files"
MIB = 1 << 20


def pattern(size: int) -> bytes:
    """``size`` bytes that differ from chunk to chunk (a misplaced chunk shows)."""
    block = bytes(range(251))
    return (block * (size // len(block) + 1))[:size]


class Trickle:
    """A binary stream without a name or a length, made on demand from a generator of
    ``count`` pieces; ``produced`` counts the bytes made so far."""

    def __init__(self, count: int, piece: int) -> None:
        self.piece = piece
        self.produced = 0
        self._source = self._pieces(count)
        self._rest = b""

    def _pieces(self, count: int) -> Iterator[bytes]:
        for i in range(count):
            yield bytes([i % 256]) * self.piece

    @staticmethod
    def expected(count: int, piece: int) -> bytes:
        return b"".join(bytes([i % 256]) * piece for i in range(count))

    def read(self, n: int = -1) -> bytes:
        while n < 0 or len(self._rest) < n:
            piece = next(self._source, None)
            if piece is None:
                break
            self.produced += len(piece)
            self._rest += piece
        if n < 0:
            n = len(self._rest)
        out, self._rest = self._rest[:n], self._rest[n:]
        return out


def no_leftovers(directory: Path, *keep: str) -> None:
    assert sorted(p.name for p in directory.iterdir()) == sorted(keep)


# -- uploads ---------------------------------------------------------------------------


async def test_upload_file_streams_a_local_file_in_chunks(flavour: Flavour, tmp_path: Path) -> None:
    data = pattern(2 * MIB + MIB // 2)
    source = tmp_path / "data.bin"
    source.write_bytes(data)
    machine = await flavour.machine()
    flavour.api.on("PUT", FILES, entry_json("/workspace/data.bin", size=len(data)))
    events: list[UploadProgress] = []

    result = await maybe(machine.files.upload_file(str(source), progress=events.append))

    assert isinstance(result, UploadResult)
    assert result.transport == "direct"
    assert result.target_path == "/workspace/data.bin"
    assert result.bytes_uploaded == len(data)
    assert result.upload_id is None
    assert isinstance(result.entry, EntryInfo) and result.entry.size == len(data)
    req = flavour.api.last
    assert (req.method, req.path) == ("PUT", FILES)
    assert req.params == [("path", "/workspace/data.bin"), ("user", "user")]
    assert req.headers["content-type"] == "application/octet-stream"
    assert req.headers["content-length"] == str(len(data))
    assert "transfer-encoding" not in req.headers
    assert [len(c) for c in req.chunks] == [MIB, MIB, MIB // 2]
    assert req.body == data
    assert [(e.phase, e.bytes_completed, e.bytes_total, e.transport) for e in events] == [
        ("uploading", MIB, len(data), "direct"),
        ("uploading", 2 * MIB, len(data), "direct"),
        ("uploading", len(data), len(data), "direct"),
        ("done", len(data), len(data), "direct"),
    ]


async def test_upload_stream_is_sent_as_it_is_read_never_whole(flavour: Flavour) -> None:
    count, piece = 40, 100_000  # 4 MB: several chunks
    source = Trickle(count, piece)
    machine = await flavour.machine()
    flavour.api.on("PUT", FILES, entry_json("/data/stream.bin"))
    received = 0
    ahead: list[int] = []  # bytes the SDK had taken from the source but not yet sent

    def on_chunk(chunk: bytes) -> None:
        nonlocal received
        received += len(chunk)
        ahead.append(source.produced - received)

    flavour.api.on_chunk = on_chunk
    events: list[UploadProgress] = []
    result = await maybe(
        machine.files.upload_file(source, "/data/stream.bin", progress=events.append)
    )

    total = count * piece
    req = flavour.api.last
    assert req.body == Trickle.expected(count, piece)
    assert req.headers["transfer-encoding"] == "chunked"
    assert "content-length" not in req.headers
    assert len(req.chunks) >= 4
    assert max(len(c) for c in req.chunks) <= CHUNK_BYTES
    # at no point did the SDK hold more than a chunk (and one piece of the source)
    assert max(ahead) <= CHUNK_BYTES + piece < total
    assert result.bytes_uploaded == total
    assert {e.bytes_total for e in events} == {None}
    assert [e.phase for e in events] == ["uploading"] * len(req.chunks) + ["done"]
    done = [e.bytes_completed for e in events]
    assert done == sorted(done) and done[-1] == total


async def test_upload_default_destination_is_the_name_under_workspace(
    flavour: Flavour, tmp_path: Path
) -> None:
    source = tmp_path / "app.tar.gz"
    source.write_bytes(b"tarball")
    machine = await flavour.machine()
    flavour.api.on("PUT", FILES, entry_json("/workspace/app.tar.gz"))

    await maybe(machine.files.upload_file(source))  # a PathLike
    assert flavour.api.last.param("path") == "/workspace/app.tar.gz"

    with open(source, "rb") as stream:  # an open file is named by its path
        await maybe(machine.files.upload_file(stream))
        assert not stream.closed  # the caller's stream is the caller's to close
    assert flavour.api.last.param("path") == "/workspace/app.tar.gz"
    assert flavour.api.last.headers["content-length"] == "7"
    assert flavour.api.last.body == b"tarball"


async def test_upload_path_user_and_mode(flavour: Flavour, tmp_path: Path) -> None:
    source = tmp_path / "model.bin"
    source.write_bytes(b"\x00\x01")
    machine = await flavour.machine()
    flavour.api.on("PUT", FILES, entry_json("/data/model.bin", owner="root"))
    result = await maybe(
        machine.files.upload_file(source, "/data/model.bin", user="root", mode=0o600)
    )
    assert flavour.api.last.params == [
        ("path", "/data/model.bin"),
        ("user", "root"),
        ("mode", "0600"),
    ]
    assert result.target_path == "/data/model.bin"
    assert result.entry.owner == "root"


async def test_upload_target_is_the_servers_absolute_path(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on("PUT", FILES, entry_json("/workspace/rel/x.bin"))
    result = await maybe(machine.files.upload_file(io.BytesIO(b"x"), "rel/x.bin"))
    assert flavour.api.last.param("path") == "rel/x.bin"  # resolved by the server
    assert result.target_path == "/workspace/rel/x.bin"


async def test_upload_seekable_stream_sends_what_is_left_with_its_length(
    flavour: Flavour,
) -> None:
    stream = io.BytesIO(b"0123456789")
    stream.seek(3)
    machine = await flavour.machine()
    flavour.api.on("PUT", FILES, entry_json("/w/tail"))
    events: list[UploadProgress] = []
    await maybe(machine.files.upload_file(stream, "/w/tail", progress=events.append))
    assert flavour.api.last.body == b"3456789"
    assert flavour.api.last.headers["content-length"] == "7"
    assert [(e.phase, e.bytes_completed, e.bytes_total) for e in events] == [
        ("uploading", 7, 7),
        ("done", 7, 7),
    ]


async def test_upload_empty_file(flavour: Flavour, tmp_path: Path) -> None:
    (tmp_path / "empty").write_bytes(b"")
    machine = await flavour.machine()
    flavour.api.on("PUT", FILES, entry_json("/workspace/empty", size=0))
    events: list[UploadProgress] = []
    result = await maybe(machine.files.upload_file(tmp_path / "empty", progress=events.append))
    assert flavour.api.last.headers["content-length"] == "0"
    assert flavour.api.last.body == b""
    assert result.bytes_uploaded == 0
    assert [(e.phase, e.bytes_completed) for e in events] == [("done", 0)]


async def test_upload_stream_without_a_name_needs_a_path(flavour: Flavour) -> None:
    machine = await flavour.machine()
    with pytest.raises(InvalidArgumentError) as info:
        await maybe(machine.files.upload_file(io.BytesIO(b"data")))
    assert "no file name" in info.value.message
    with pytest.raises(InvalidArgumentError):
        await maybe(machine.files.upload_file(Trickle(1, 10)))
    assert flavour.api.requests == []


@pytest.mark.parametrize("source", [b"bytes", io.StringIO("text"), 42, None])
async def test_upload_rejects_what_is_not_a_path_or_binary_stream(
    flavour: Flavour, source: object
) -> None:
    machine = await flavour.machine()
    with pytest.raises(InvalidArgumentError):
        await maybe(machine.files.upload_file(source, "/w/x"))
    assert flavour.api.requests == []


async def test_upload_missing_local_file(flavour: Flavour, tmp_path: Path) -> None:
    machine = await flavour.machine()
    with pytest.raises(FileNotFoundError):
        await maybe(machine.files.upload_file(tmp_path / "absent.bin"))
    assert flavour.api.requests == []


async def test_upload_over_the_limit_is_payload_too_large(flavour: Flavour, tmp_path: Path) -> None:
    (tmp_path / "huge.img").write_bytes(b"x" * 10)
    machine = await flavour.machine()
    flavour.api.on(
        "PUT",
        FILES,
        response=error_response(413, "payload_too_large", "a file upload is at most 17179869184"),
    )
    events: list[UploadProgress] = []
    with pytest.raises(InvalidArgumentError) as info:
        await maybe(machine.files.upload_file(tmp_path / "huge.img", progress=events.append))
    assert (info.value.code, info.value.status) == ("payload_too_large", 413)
    assert "17179869184" in info.value.message
    assert "done" not in [e.phase for e in events]


async def test_upload_known_to_be_over_the_limit_is_refused_before_sending(
    flavour: Flavour,
) -> None:
    class Huge(io.BytesIO):
        """Says it holds one byte more than an upload takes."""

        def seek(self, offset: int, whence: int = 0) -> int:
            return 17179869185 if whence == os.SEEK_END else super().seek(offset, whence)

    machine = await flavour.machine()
    with pytest.raises(InvalidArgumentError) as info:
        await maybe(machine.files.upload_file(Huge(b""), "/w/huge.img", resumable=False))
    assert (info.value.code, info.value.status) == ("payload_too_large", None)
    assert "at most 17179869184 bytes" in info.value.message
    assert flavour.api.requests == []


async def test_upload_cut_short_raises_a_connection_error(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on("PUT", FILES, entry_json("/w/big"))
    seen: list[bytes] = []

    def on_chunk(chunk: bytes) -> None:
        seen.append(chunk)
        if len(seen) == 2:
            raise httpx.WriteError("connection reset by peer")

    flavour.api.on_chunk = on_chunk
    with pytest.raises(nullspace.ServerError) as info:
        await maybe(machine.files.upload_file(io.BytesIO(pattern(3 * MIB)), "/w/big"))
    assert (info.value.code, info.value.status) == ("connection_error", None)
    assert f"upload of /w/big cut short after {MIB} of {3 * MIB} bytes" in info.value.message
    assert isinstance(info.value.__cause__, nullspace.ServerError)


async def test_upload_broken_off_at_the_limit_says_so(
    flavour: Flavour, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stream of unknown length that runs past the limit is cut by the server, which
    may close the connection before its 413 can be read: the error names the limit."""
    monkeypatch.setattr("nullspace._transfer.MAX_FILE_BYTES", MIB)
    machine = await flavour.machine()
    flavour.api.on("PUT", FILES, entry_json("/w/endless"))
    seen: list[bytes] = []

    def on_chunk(chunk: bytes) -> None:
        seen.append(chunk)
        if len(seen) == 2:
            raise httpx.WriteError("broken pipe")

    flavour.api.on_chunk = on_chunk
    with pytest.raises(nullspace.ServerError) as info:
        await maybe(machine.files.upload_file(Trickle(40, 100_000), "/w/endless"))
    assert info.value.message.startswith(
        f"upload of /w/endless cut short after {MIB} bytes (a file upload is at most {MIB} bytes)"
    )


async def test_upload_source_that_shrinks_is_refused(flavour: Flavour) -> None:
    class Shrinking(io.BytesIO):
        """Says it holds 10 bytes, then ends after 4."""

        def seek(self, offset: int, whence: int = 0) -> int:
            return 10 if whence == os.SEEK_END else super().seek(offset, whence)

    machine = await flavour.machine()
    flavour.api.on("PUT", FILES, entry_json("/w/x"))
    with pytest.raises(InvalidArgumentError) as info:
        await maybe(machine.files.upload_file(Shrinking(b"abcd"), "/w/x"))
    assert info.value.code == "source_changed"
    assert "it had 10 bytes, and ended after 4" in info.value.message


async def test_upload_bad_user_or_mode_sends_nothing(flavour: Flavour) -> None:
    machine = await flavour.machine()
    with pytest.raises(InvalidArgumentError):
        await maybe(machine.files.upload_file(io.BytesIO(b"x"), "/w/x", user=""))
    with pytest.raises(InvalidArgumentError):
        await maybe(machine.files.upload_file(io.BytesIO(b"x"), "/w/x", mode="rwx"))
    assert flavour.api.requests == []


async def test_async_upload_awaits_a_progress_coroutine(api: Any) -> None:
    flavour = Flavour("async", nullspace.AsyncMachine, api)
    machine = await flavour.machine()
    api.on("PUT", FILES, entry_json("/w/x"))
    events: list[UploadProgress] = []

    async def progress(event: UploadProgress) -> None:
        events.append(event)

    await machine.files.upload_file(io.BytesIO(b"abc"), "/w/x", progress=progress)
    assert [e.phase for e in events] == ["uploading", "done"]


# -- downloads -------------------------------------------------------------------------


async def test_download_file_to_a_path(flavour: Flavour, tmp_path: Path) -> None:
    chunks = [b"a" * MIB, b"b" * MIB, b"c" * 10]
    machine = await flavour.machine()
    flavour.api.on("GET", FILES, response=streamed(chunks))
    events: list[DownloadProgress] = []
    destination = tmp_path / "out.bin"

    result = await maybe(
        machine.files.download_file("/workspace/out.bin", str(destination), progress=events.append)
    )

    assert isinstance(result, DownloadResult)
    assert (result.path, result.destination, result.bytes_downloaded) == (
        "/workspace/out.bin",
        str(destination),
        2 * MIB + 10,
    )
    assert destination.read_bytes() == b"".join(chunks)
    no_leftovers(tmp_path, "out.bin")  # no temporary file left beside it
    req = flavour.api.last
    assert (req.method, req.path) == ("GET", FILES)
    assert req.params == [("path", "/workspace/out.bin"), ("user", "user")]
    assert req.headers["accept"] == "application/octet-stream"
    assert [(e.phase, e.bytes_completed, e.bytes_total) for e in events] == [
        ("downloading", MIB, None),
        ("downloading", 2 * MIB, None),
        ("downloading", 2 * MIB + 10, None),
        ("done", 2 * MIB + 10, None),
    ]


async def test_download_replaces_an_existing_file(flavour: Flavour, tmp_path: Path) -> None:
    destination = tmp_path / "out.txt"
    destination.write_bytes(b"old and longer than the new content")
    machine = await flavour.machine()
    flavour.api.on("GET", FILES, response=streamed([b"new"]))
    result = await maybe(machine.files.download_file("/etc/x", destination, user="root"))
    assert destination.read_bytes() == b"new"
    assert result.destination == str(destination)
    assert flavour.api.last.param("user") == "root"
    no_leftovers(tmp_path, "out.txt")


async def test_download_to_a_stream(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on("GET", FILES, response=streamed([b"he", b"llo"]))
    sink = io.BytesIO()
    result = await maybe(machine.files.download_file("/w/hello", sink))
    assert sink.getvalue() == b"hello"
    assert not sink.closed
    assert (result.destination, result.bytes_downloaded) == (None, 5)


@pytest.mark.parametrize("existing", [None, b"the previous version"])
async def test_download_cut_short_raises_and_leaves_no_file(
    flavour: Flavour, tmp_path: Path, existing: bytes | None
) -> None:
    destination = tmp_path / "model.bin"
    if existing is not None:
        destination.write_bytes(existing)
    machine = await flavour.machine()
    broken = httpx.RemoteProtocolError(
        "peer closed connection without sending complete message body: incomplete chunked read"
    )
    flavour.api.on("GET", FILES, response=streamed([b"x" * MIB, b"y" * 100], broken))
    events: list[DownloadProgress] = []

    with pytest.raises(nullspace.ServerError) as info:
        await maybe(
            machine.files.download_file("/w/model.bin", destination, progress=events.append)
        )

    assert (info.value.code, info.value.status) == ("connection_error", None)
    assert "download cut short after" in info.value.message
    assert "incomplete chunked read" in info.value.message
    assert info.value.__cause__ is broken
    if existing is None:
        assert not destination.exists()
        no_leftovers(tmp_path)
    else:
        assert destination.read_bytes() == existing  # kept as it was
        no_leftovers(tmp_path, "model.bin")
    assert "done" not in [e.phase for e in events]


async def test_download_timing_out_mid_body_is_a_timeout(flavour: Flavour, tmp_path: Path) -> None:
    machine = await flavour.machine()
    flavour.api.on(
        "GET", FILES, response=streamed([b"partial"], httpx.ReadTimeout("read timed out"))
    )
    with pytest.raises(nullspace.TimeoutError) as info:
        await maybe(machine.files.download_file("/w/f", tmp_path / "f"))
    assert info.value.code == "request_timeout"
    assert "download cut short after 7 bytes" in info.value.message
    no_leftovers(tmp_path)


async def test_download_error_before_the_first_byte(flavour: Flavour, tmp_path: Path) -> None:
    machine = await flavour.machine()
    flavour.api.on("GET", FILES, response=error_response(404, "not_found", "no such file"))
    with pytest.raises(nullspace.NotFoundError) as info:
        await maybe(machine.files.download_file("/w/none", tmp_path / "none"))
    assert info.value.message == "no such file"
    no_leftovers(tmp_path)


async def test_download_destination_checked_before_any_request(
    flavour: Flavour, tmp_path: Path
) -> None:
    machine = await flavour.machine()
    with pytest.raises(IsADirectoryError):
        await maybe(machine.files.download_file("/w/f", tmp_path))
    with pytest.raises(FileNotFoundError):
        await maybe(machine.files.download_file("/w/f", tmp_path / "no" / "dir" / "f"))
    with pytest.raises(InvalidArgumentError):
        await maybe(machine.files.download_file("/w/f", 42))
    with pytest.raises(InvalidArgumentError):
        await maybe(machine.files.download_file("", tmp_path / "f"))
    assert flavour.api.requests == []
    no_leftovers(tmp_path)


async def test_download_callback_error_drops_the_partial_file(
    flavour: Flavour, tmp_path: Path
) -> None:
    machine = await flavour.machine()
    flavour.api.on("GET", FILES, response=streamed([b"a" * MIB, b"b"]))

    def progress(event: DownloadProgress) -> None:
        raise KeyError("stop")

    with pytest.raises(KeyError):
        await maybe(machine.files.download_file("/w/f", tmp_path / "f", progress=progress))
    no_leftovers(tmp_path)


async def test_async_download_awaits_a_progress_coroutine(api: Any, tmp_path: Path) -> None:
    flavour = Flavour("async", nullspace.AsyncMachine, api)
    machine = await flavour.machine()
    api.on("GET", FILES, response=streamed([b"abc"]))
    events: list[DownloadProgress] = []

    async def progress(event: DownloadProgress) -> None:
        events.append(event)

    await machine.files.download_file("/w/x", tmp_path / "x", progress=progress)
    assert [(e.phase, e.bytes_completed) for e in events] == [("downloading", 3), ("done", 3)]


# -- reads of a streamed body ----------------------------------------------------------


async def test_read_joins_a_chunked_body(flavour: Flavour) -> None:
    text = "héllo wörld\n"
    raw = text.encode()
    machine = await flavour.machine()
    # "é" is split between two chunks
    flavour.api.on("GET", FILES, response=streamed([raw[:2], raw[2:7], raw[7:]]))
    assert await maybe(machine.files.read("/w/t")) == text
    flavour.api.routes.clear()
    flavour.api.on("GET", FILES, response=streamed([b"\x00", b"\xff" * MIB, b"\x01"]))
    assert (
        await maybe(machine.files.read("/w/b", format="bytes")) == b"\x00" + b"\xff" * MIB + b"\x01"
    )


async def test_read_cut_short_raises_instead_of_returning_part(flavour: Flavour) -> None:
    machine = await flavour.machine()
    broken = httpx.RemoteProtocolError("incomplete chunked read")
    flavour.api.on("GET", FILES, response=streamed([b"only the start"], broken))
    with pytest.raises(nullspace.ServerError) as info:
        await maybe(machine.files.read("/w/f", format="bytes"))
    assert (info.value.code, info.value.status) == ("connection_error", None)
    assert "download cut short after 14 bytes" in info.value.message
