"""Directory uploads and downloads, and ``files.upload`` dispatch, on the fake file
server, both flavours."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path
from typing import Any

import httpx
import pytest

import nullspace
from nullspace import FileUploadError, InvalidArgumentError, UploadProgress, _bulk, _resumable

from .conftest import API_KEY, API_URL, MACHINE_ID, maybe
from .test_tar import tar_bytes
from .upload_fake import FakeFileServer


@pytest.fixture
def server() -> FakeFileServer:
    return FakeFileServer()


@pytest.fixture(params=["sync", "async"])
async def machine(request: pytest.FixtureRequest, server: FakeFileServer) -> Any:
    cls = nullspace.Machine if request.param == "sync" else nullspace.AsyncMachine
    m = await maybe(cls.connect(MACHINE_ID, api_key=API_KEY, api_url=API_URL, transport=server))
    server.calls.clear()
    return m


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / "src" / "pkg").mkdir(parents=True)
    (root / "src" / "pkg" / "__init__.py").write_text("")
    (root / "src" / "pkg" / "mod.py").write_text("x = 1\n")
    (root / "src" / "pkg" / "mod.pyc").write_bytes(b"\x00")
    (root / "build").mkdir()
    (root / "build" / "out.o").write_bytes(b"\x7fELF")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("[core]\n")
    (root / "notes.log").write_text("log")
    (root / ".nullspaceignore").write_text("build/\n*.log\n")
    os.symlink("src/pkg/mod.py", root / "mod-link")
    return root


def names(data: bytes) -> set[str]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        return {m.name for m in tar.getmembers()}


async def test_upload_dir_streams_a_tar_of_what_is_not_ignored(
    machine: Any, server: FakeFileServer, project: Path
) -> None:
    events: list[UploadProgress] = []
    result = await maybe(
        machine.files.upload_dir(
            project, "/data/proj", ignore_patterns=["*.pyc"], progress=events.append
        )
    )
    call = server.calls_to("PUT", "/files/archive")[0]
    assert call.params == {"path": "/data/proj", "conflict": "merge", "user": "user"}
    assert call.headers["content-type"] == "application/x-tar"
    assert "content-length" not in call.headers  # made as it is sent
    assert names(call.body) == {
        ".git",
        ".git/config",
        ".nullspaceignore",
        "mod-link",
        "src",
        "src/pkg",
        "src/pkg/__init__.py",
        "src/pkg/mod.py",
    }
    assert (result.kind, result.transport, result.target_path) == (
        "directory",
        "direct",
        "/data/proj",
    )
    assert result.file_count == 4 and result.upload_id is None and result.entry is None
    assert result.archive is not None and result.archive.symlinks == 1
    assert result.bytes_uploaded == len(call.body)
    assert events[-1].phase == "done" and events[-1].bytes_completed == len(call.body)
    assert events[-1].bytes_total == len(call.body)


async def test_upload_dir_defaults_and_checks(
    machine: Any, server: FakeFileServer, project: Path
) -> None:
    result = await maybe(machine.files.upload_dir(str(project), conflict="replace"))
    assert result.target_path == "/workspace/proj"
    assert server.calls[-1].params["conflict"] == "replace"
    with pytest.raises(InvalidArgumentError):
        await maybe(machine.files.upload_dir(project, "/d", conflict="overwrite"))
    with pytest.raises(InvalidArgumentError):
        await maybe(machine.files.upload_dir(project / "notes.log", "/d"))
    with pytest.raises(InvalidArgumentError):
        await maybe(machine.files.upload_dir(project / "missing", "/d"))
    assert len(server.calls) == 1


async def test_upload_dispatches_on_the_source(
    machine: Any, server: FakeFileServer, project: Path
) -> None:
    as_dir = await maybe(machine.files.upload(project, "/d/proj"))
    assert as_dir.kind == "directory" and server.calls[-1].path.endswith("/files/archive")
    as_file = await maybe(machine.files.upload(project / "notes.log", "/d/notes.log"))
    assert as_file.kind == "file" and server.files["/d/notes.log"] == b"log"
    as_stream = await maybe(machine.files.upload(io.BytesIO(b"bytes"), "/d/s.bin"))
    assert as_stream.kind == "file" and server.files["/d/s.bin"] == b"bytes"
    default = await maybe(machine.files.upload(project / "notes.log"))
    assert default.target_path == "/workspace/notes.log"
    with pytest.raises(InvalidArgumentError):
        await maybe(machine.files.upload(project / "notes.log", "/d/x", ignore_patterns=["*"]))
    with pytest.raises(InvalidArgumentError):
        await maybe(machine.files.upload(project, "/d/x", mode=0o644))
    with pytest.raises(InvalidArgumentError):
        await maybe(machine.files.upload(b"raw bytes", "/d/x"))
    with pytest.raises(InvalidArgumentError):
        await maybe(machine.files.upload_file(project, "/d/x", resumable=True))


async def test_a_large_directory_goes_as_a_resumable_archive_and_resumes(
    machine: Any, server: FakeFileServer, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_resumable, "RETRY_DELAYS", (0.0, 0.0))
    (project / "blob.bin").write_bytes(os.urandom(300_000))
    server.fail[2] = [httpx.ConnectError("reset")] * _resumable.CHUNK_ATTEMPTS
    with pytest.raises(FileUploadError) as info:
        await maybe(
            machine.files.upload_dir(
                project, "/data/p", resumable=True, chunk_size=64 << 10, concurrency=1
            )
        )
    upload_id = info.value.upload_id
    assert upload_id == "upl_1"
    create = server.calls_to("POST", "/uploads")[0].json()
    assert (create["kind"], create["conflict"], create["path"]) == ("archive", "merge", "/data/p")
    assert set(server.only.chunks) == {0, 1}

    server.calls.clear()
    result = await maybe(machine.files.resume_upload(upload_id, project))
    assert min(server.chunk_puts()) == 2 and 0 not in server.chunk_puts()
    assert (result.kind, result.transport, result.upload_id) == ("directory", "resumable", "upl_1")
    assert result.file_count == 6  # server's count: 4 + .nullspaceignore + blob.bin
    target, data = server.archives[-1]
    assert target == "/data/p" and "blob.bin" in names(data) and "build/out.o" not in names(data)

    with pytest.raises(FileUploadError):  # a directory session needs a directory
        await maybe(machine.files.resume_upload(upload_id, project / "blob.bin"))


async def test_a_directory_over_the_threshold_goes_resumable_by_itself(
    machine: Any, server: FakeFileServer, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_bulk, "RESUMABLE_THRESHOLD", 1000)
    result = await maybe(machine.files.upload_dir(project, "/data/auto", chunk_size=64 << 10))
    assert (result.transport, result.kind) == ("resumable", "directory")
    assert server.calls_to("POST", "/uploads")[0].json()["kind"] == "archive"
    assert not server.calls_to("PUT", "/files/archive")
    forced = await maybe(machine.files.upload_dir(project, "/data/direct", resumable=False))
    assert forced.transport == "direct"


async def test_download_dir_of_an_empty_answer_makes_the_directory(
    machine: Any, server: FakeFileServer, tmp_path: Path
) -> None:
    server.download = b""
    result = await maybe(machine.files.download_dir("/workspace/empty", tmp_path / "e"))
    assert (tmp_path / "e").is_dir() and result.bytes_downloaded == 0


async def test_download_dir_unpacks_the_archive(
    machine: Any, server: FakeFileServer, tmp_path: Path
) -> None:
    server.download = tar_bytes(
        ("dir", "sub", ""),
        ("file", "sub/a.txt", "alpha"),
        ("file", "b weird\nname.txt", "beta"),
        ("symlink", "link", "sub/a.txt"),
    ).getvalue()
    dest = tmp_path / "copy"
    result = await maybe(machine.files.download_dir("/workspace/proj", dest))
    call = server.calls_to("GET", "/files/archive")[0]
    assert call.params == {"path": "/workspace/proj", "user": "user"}
    assert result.destination == str(dest) and result.bytes_downloaded == len(server.download)
    assert (dest / "sub" / "a.txt").read_text() == "alpha"
    assert (dest / "b weird\nname.txt").read_text() == "beta"
    assert os.readlink(dest / "link") == "sub/a.txt"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy"]  # no staging file left


async def test_download_dir_refuses_an_escaping_archive(
    machine: Any, server: FakeFileServer, tmp_path: Path
) -> None:
    server.download = tar_bytes(("file", "fine.txt", "ok"), ("file", "../x", "evil")).getvalue()
    dest = tmp_path / "copy"
    with pytest.raises(InvalidArgumentError) as info:
        await maybe(machine.files.download_dir("/workspace/proj", dest))
    assert info.value.code == "path_escapes_root"
    assert not (tmp_path / "x").exists()
    assert list(dest.iterdir()) == []


async def test_download_is_download_file(
    machine: Any, server: FakeFileServer, tmp_path: Path
) -> None:
    server.files["/workspace/a.txt"] = b"file bytes"
    result = await maybe(machine.files.download("/workspace/a.txt", tmp_path / "a.txt"))
    assert (tmp_path / "a.txt").read_bytes() == b"file bytes"
    assert result.bytes_downloaded == 10
    with pytest.raises(nullspace.NotFoundError):
        await maybe(machine.files.download("/workspace/none", tmp_path / "none"))
    assert not (tmp_path / "none").exists()
