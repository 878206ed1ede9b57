"""The filesystem surface of ``spec/files.md`` against a real machine, both flavours:
directory uploads and downloads, search / find / replace, watches, and resumable
uploads interrupted, resumed, refused and expired."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from pathlib import Path
from typing import Any

import pytest

import nullspace
from nullspace import (
    AsyncWatchHandle,
    FilesystemEvent,
    FilesystemEventType,
    FileUploadError,
    InvalidArgumentError,
    InvalidPatternError,
    NotFoundError,
    UploadChecksumError,
    UploadExpiredError,
    UploadProgress,
)

from ..conftest import maybe
from .conftest import run_ok

CHUNK = 64 << 10


def make_project(root: Path) -> None:
    (root / "src" / "pkg").mkdir(parents=True)
    (root / "src" / "pkg" / "mod.py").write_text("OLD_NAME = 1\nprint(OLD_NAME)\n")
    (root / "src" / "pkg" / "mod.pyc").write_bytes(b"\x00\x01")
    (root / "src" / "keep.pyc").write_bytes(b"\x02")
    (root / "build").mkdir()
    (root / "build" / "out.o").write_bytes(b"\x7fELF")
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (root / "with space ✓.txt").write_text("unicode and spaces\n")
    (root / "debug.log").write_text("noise\n")
    (root / ".nullspaceignore").write_text("build/\n*.log\n")
    os.symlink("src/pkg/mod.py", root / "mod-link")


async def sha256_in(machine: Any, path: str) -> str:
    return (await run_ok(machine, f"sha256sum '{path}'")).split()[0]


async def test_upload_dir_with_ignore_file_and_download_dir_round_trip(
    machine: Any, tmp_path: Path
) -> None:
    src = tmp_path / "proj"
    make_project(src)
    result = await maybe(
        machine.files.upload_dir(src, "/workspace/proj", ignore_patterns=["*.pyc", "!keep.pyc"])
    )
    assert (result.kind, result.transport, result.target_path) == (
        "directory",
        "direct",
        "/workspace/proj",
    )
    assert result.file_count == 5  # mod.py, keep.pyc, HEAD, the unicode file, the ignore file
    listing = await run_ok(machine, "cd /workspace/proj && find . | sort")
    assert listing.splitlines() == [
        ".",
        "./.git",
        "./.git/HEAD",
        "./.nullspaceignore",
        "./mod-link",
        "./src",
        "./src/keep.pyc",
        "./src/pkg",
        "./src/pkg/mod.py",
        "./with space ✓.txt",
    ]
    assert await run_ok(machine, "readlink /workspace/proj/mod-link") == "src/pkg/mod.py"
    assert await run_ok(machine, "stat -c %U /workspace/proj/src/pkg/mod.py") == "user"

    await run_ok(machine, "mkdir -p /workspace/proj/made && echo made > /workspace/proj/made/x")
    dest = tmp_path / "copy"
    downloaded = await maybe(machine.files.download_dir("/workspace/proj", dest))
    assert downloaded.destination == str(dest) and downloaded.bytes_downloaded > 0
    assert (dest / "src" / "pkg" / "mod.py").read_text() == "OLD_NAME = 1\nprint(OLD_NAME)\n"
    assert (dest / "with space ✓.txt").read_text() == "unicode and spaces\n"
    assert (dest / "made" / "x").read_text() == "made\n"
    assert os.readlink(dest / "mod-link") == "src/pkg/mod.py"
    assert not (dest / "build").exists()

    with pytest.raises(NotFoundError):
        await maybe(machine.files.download_dir("/workspace/none", tmp_path / "none"))


async def test_upload_dir_conflict_policies(machine: Any, tmp_path: Path) -> None:
    src = tmp_path / "a"
    src.mkdir()
    (src / "new.txt").write_text("new\n")
    await run_ok(machine, "mkdir -p /workspace/c && echo old > /workspace/c/old.txt")
    with pytest.raises(nullspace.NullspaceError):
        await maybe(machine.files.upload_dir(src, "/workspace/c", conflict="error"))
    await maybe(machine.files.upload_dir(src, "/workspace/c", conflict="replace"))
    assert await run_ok(machine, "ls /workspace/c") == "new.txt"


async def test_search_find_replace(machine: Any) -> None:
    await maybe(
        machine.files.write_files(
            [
                ("/workspace/s/a.py", "OLD_NAME = 1\nprint(OLD_NAME)\n"),
                ("/workspace/s/sub/b.py", "x = OLD_NAME\n"),
                ("/workspace/s/c.txt", "OLD_NAME in text\n"),
                ("/workspace/s/.hidden.py", "# hidden\n"),
            ]
        )
    )
    found = await maybe(machine.files.search_files("/workspace/s", "*.py"))
    assert sorted(e.path for e in found) == [
        "/workspace/s/.hidden.py",
        "/workspace/s/a.py",
        "/workspace/s/sub/b.py",
    ]
    with pytest.raises(NotFoundError):
        await maybe(machine.files.search_files("/workspace/none", "*"))

    result = await maybe(machine.files.find_files("/workspace/s", "OLD_NAME", include="*.py"))
    assert sorted((m.path, m.line, m.column) for m in result.matches) == [
        ("/workspace/s/a.py", 1, 1),
        ("/workspace/s/a.py", 2, 7),
        ("/workspace/s/sub/b.py", 1, 5),
    ]
    assert result.files_scanned >= 2 and result.truncated is False
    regex = await maybe(
        machine.files.find_files("/workspace/s", r"old_\w+", regex=True, case_sensitive=False)
    )
    assert len(regex.matches) == 4

    dry = await maybe(
        machine.files.replace_in_files("OLD_NAME", "NEW_NAME", "/workspace/s", dry_run=True)
    )
    assert dry.dry_run and dry.total_replacements == 4
    assert "OLD_NAME" in await maybe(machine.files.read("/workspace/s/a.py"))
    done = await maybe(
        machine.files.replace_in_files(
            r"OLD_(\w+)", "NEW_$1", ["/workspace/s/a.py", "/workspace/s/sub"], regex=True
        )
    )
    assert sorted((f.path, f.replacements) for f in done.files) == [
        ("/workspace/s/a.py", 2),
        ("/workspace/s/sub/b.py", 1),
    ]
    assert await maybe(machine.files.read("/workspace/s/a.py")) == "NEW_NAME = 1\nprint(NEW_NAME)\n"
    assert await maybe(machine.files.read("/workspace/s/c.txt")) == "OLD_NAME in text\n"

    with pytest.raises(InvalidPatternError) as bad:
        await maybe(machine.files.replace_in_files("(unclosed", "x", "/workspace/s", regex=True))
    assert isinstance(bad.value, InvalidArgumentError)
    with pytest.raises(InvalidPatternError):
        await maybe(machine.files.find_files("/workspace/s", "[", regex=True))


async def next_event(handle: Any, want: Any, seconds: float = 20.0) -> list[FilesystemEvent]:
    """Events until one satisfies ``want`` (fails after ``seconds``)."""
    seen: list[FilesystemEvent] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        seen.extend(handle.get_new_events())
        if any(want(e) for e in seen):
            return seen
        await asyncio.sleep(0.1)
    pytest.fail(f"no matching event in {seconds} s; saw {seen}")


def is_event(path: str, kind: FilesystemEventType) -> Any:
    return lambda e: e.path == path and e.kind is kind


async def test_watch_dir(machine: Any) -> None:
    await maybe(machine.files.make_dir("/workspace/w"))
    handle = await maybe(machine.files.watch_dir("/workspace/w", recursive=True))
    try:
        await maybe(machine.files.write("/workspace/w/a.txt", "1"))
        seen = await next_event(
            handle,
            lambda e: e.path == "/workspace/w/a.txt" and e.kind is FilesystemEventType.CREATE,
        )
        assert all(isinstance(e, FilesystemEvent) for e in seen)
        await run_ok(machine, "mkdir /workspace/w/d && sleep 0.5 && echo x > /workspace/w/d/b.txt")
        seen = await next_event(handle, lambda e: e.path == "/workspace/w/d/b.txt")
        assert any(e.path == "/workspace/w/d" and e.is_dir for e in seen)
        await run_ok(machine, "rm /workspace/w/a.txt")
        await next_event(
            handle,
            lambda e: e.path == "/workspace/w/a.txt" and e.kind is FilesystemEventType.REMOVE,
        )
    finally:
        await maybe(handle.stop())
    assert handle.end_reason == "stopped"

    timed = await maybe(machine.files.watch_dir("/workspace/w", timeout=1))
    if isinstance(timed, AsyncWatchHandle):
        events = [e async for e in timed]
    else:
        events = await asyncio.to_thread(list, timed)
    assert events == [] and timed.end_reason == "timeout"

    with pytest.raises(NotFoundError):
        await maybe(machine.files.watch_dir("/workspace/none"))
    await maybe(machine.files.write("/workspace/w/file", "x"))
    with pytest.raises(InvalidArgumentError) as wrong:
        await maybe(machine.files.watch_dir("/workspace/w/file"))
    assert wrong.value.code == "wrong_entry_type"


def stop_after(chunks: int) -> Any:
    """A progress callback that raises once ``chunks`` chunks were sent."""

    def callback(event: UploadProgress) -> None:
        if event.phase == "uploading" and event.bytes_completed >= chunks * CHUNK:
            raise RuntimeError("interrupted on purpose")

    return callback


async def test_resumable_upload_interrupted_then_resumed(machine: Any, tmp_path: Path) -> None:
    data = os.urandom(10 * CHUNK + 777)
    source = tmp_path / "model.bin"
    source.write_bytes(data)
    with pytest.raises(FileUploadError) as info:
        await maybe(
            machine.files.upload_file(
                source,
                "/workspace/model.bin",
                resumable=True,
                chunk_size=CHUNK,
                concurrency=1,
                progress=stop_after(3),
            )
        )
    upload_id = info.value.upload_id
    assert upload_id is not None
    session = await maybe(machine.files.get_upload(upload_id))
    assert session.state == "open" and 0 < len(session.received) < session.chunks
    assert await maybe(machine.files.exists("/workspace/model.bin")) is False

    events: list[UploadProgress] = []
    resumed = await maybe(machine.files.resume_upload(upload_id, source, progress=events.append))
    assert (resumed.transport, resumed.upload_id) == ("resumable", upload_id)
    assert resumed.bytes_uploaded == len(data) - session.bytes_received
    assert events[-1].phase == "done" and events[-1].bytes_completed == len(data)
    assert await sha256_in(machine, "/workspace/model.bin") == hashlib.sha256(data).hexdigest()

    # a forced resumable directory upload lands as the direct one does
    src = tmp_path / "dir"
    make_project(src)
    as_archive = await maybe(
        machine.files.upload_dir(src, "/workspace/arch", resumable=True, chunk_size=CHUNK)
    )
    assert (as_archive.kind, as_archive.transport) == ("directory", "resumable")
    assert as_archive.file_count >= 5
    assert await run_ok(machine, "readlink /workspace/arch/mod-link") == "src/pkg/mod.py"
    assert await run_ok(machine, "test -e /workspace/arch/build || echo absent") == "absent"


async def test_resumable_upload_with_changed_content_fails_its_checksum(
    machine: Any, tmp_path: Path
) -> None:
    data = os.urandom(6 * CHUNK)
    source = tmp_path / "data.bin"
    source.write_bytes(data)
    with pytest.raises(FileUploadError) as info:
        await maybe(
            machine.files.upload_file(
                source,
                "/workspace/data.bin",
                resumable=True,
                chunk_size=CHUNK,
                concurrency=1,
                progress=stop_after(2),
            )
        )
    upload_id = info.value.upload_id
    assert upload_id is not None
    source.write_bytes(bytes(b ^ 0xFF for b in data))  # same size, other bytes
    with pytest.raises(UploadChecksumError) as mismatch:
        await maybe(machine.files.resume_upload(upload_id, source))
    assert mismatch.value.upload_id == upload_id
    assert await maybe(machine.files.exists("/workspace/data.bin")) is False
    assert await maybe(machine.files.abort_upload(upload_id)) is True


async def test_an_expired_upload_cannot_be_resumed(machine: Any, tmp_path: Path) -> None:
    source = tmp_path / "x.bin"
    source.write_bytes(os.urandom(4 * CHUNK))
    with pytest.raises(FileUploadError) as info:
        await maybe(
            machine.files.upload_file(
                source,
                "/workspace/x.bin",
                resumable=True,
                chunk_size=CHUNK,
                concurrency=1,
                expires_in=1,
                progress=stop_after(1),
            )
        )
    upload_id = info.value.upload_id
    assert upload_id is not None
    await asyncio.sleep(2.5)
    with pytest.raises(UploadExpiredError) as expired:
        await maybe(machine.files.resume_upload(upload_id, source))
    assert expired.value.upload_id == upload_id
    assert isinstance(expired.value, NotFoundError)


async def test_a_source_over_the_threshold_goes_resumable_by_itself(
    machine: Any, tmp_path: Path
) -> None:
    data = os.urandom(nullspace.RESUMABLE_THRESHOLD + 4097)
    source = tmp_path / "big.bin"
    source.write_bytes(data)
    phases: list[str] = []
    result = await maybe(
        machine.files.upload(
            source, "/workspace/big.bin", progress=lambda e: phases.append(e.phase)
        )
    )
    assert (result.transport, result.kind, result.bytes_uploaded) == (
        "resumable",
        "file",
        len(data),
    )
    assert phases[0] == "preparing" and phases[-2:] == ["completing", "done"]
    assert await sha256_in(machine, "/workspace/big.bin") == hashlib.sha256(data).hexdigest()
    back = tmp_path / "back.bin"
    downloaded = await maybe(machine.files.download("/workspace/big.bin", back))
    assert downloaded.bytes_downloaded == len(data) and back.read_bytes() == data
