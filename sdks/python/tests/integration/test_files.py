"""Files against a real machine, both flavours."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

import nullspace
from nullspace import EntryInfo, WriteEntry

from ..conftest import maybe

BINARY = bytes(range(256)) * 4


async def test_text_round_trip(machine: Any) -> None:
    info = await maybe(machine.files.write("/workspace/hello.txt", "héllo\nworld\n"))
    assert isinstance(info, EntryInfo)
    assert info.path == "/workspace/hello.txt"
    assert info.type == "file"
    assert info.size == len("héllo\nworld\n".encode())
    assert await maybe(machine.files.read("/workspace/hello.txt")) == "héllo\nworld\n"
    cat = await maybe(machine.commands.run("cat /workspace/hello.txt"))
    assert cat.stdout == "héllo\nworld\n"


async def test_bytes_round_trip(machine: Any) -> None:
    await maybe(machine.files.write("/tmp/blob.bin", BINARY))
    assert await maybe(machine.files.read("/tmp/blob.bin", format="bytes")) == BINARY


async def test_relative_paths_are_under_workspace(machine: Any) -> None:
    info = await maybe(machine.files.write("rel/dir/x.txt", "x"))
    assert info.path == "/workspace/rel/dir/x.txt"
    assert await maybe(machine.files.read("/workspace/rel/dir/x.txt")) == "x"


async def test_write_owner_and_mode(machine: Any) -> None:
    info = await maybe(machine.files.write("/workspace/owned", "1", mode=0o600))
    assert info.owner == "user"
    assert info.permissions == "rw-------"
    root = await maybe(machine.files.write("/tmp/rootfile", "1", user="root", mode="0640"))
    assert root.owner == "root"
    assert root.mode & 0o777 == 0o640


async def test_write_files(machine: Any) -> None:
    infos = await maybe(
        machine.files.write_files(
            [
                WriteEntry("/workspace/batch/a.txt", "alpha"),
                ("/workspace/batch/b.bin", BINARY),
                {"path": "/workspace/batch/sub/c.txt", "data": "gamma"},
            ]
        )
    )
    assert sorted(i.path for i in infos) == [
        "/workspace/batch/a.txt",
        "/workspace/batch/b.bin",
        "/workspace/batch/sub/c.txt",
    ]
    assert await maybe(machine.files.read("/workspace/batch/a.txt")) == "alpha"
    assert await maybe(machine.files.read("/workspace/batch/b.bin", format="bytes")) == BINARY
    assert await maybe(machine.files.read("/workspace/batch/sub/c.txt")) == "gamma"


async def test_write_files_failure(machine: Any) -> None:
    with pytest.raises(nullspace.BatchWriteError):
        await maybe(machine.files.write_files([("/workspace/.nullspace/x", "1")]))


async def test_list_depth(machine: Any) -> None:
    await maybe(
        machine.files.write_files(
            [("/workspace/tree/a.txt", "a"), ("/workspace/tree/d/b.txt", "b")]
        )
    )
    shallow = await maybe(machine.files.list("/workspace/tree"))
    assert [e.path for e in shallow] == ["/workspace/tree/a.txt", "/workspace/tree/d"]
    assert [e.type for e in shallow] == ["file", "dir"]
    deep = await maybe(machine.files.list("/workspace/tree", depth=2))
    assert [e.path for e in deep] == [
        "/workspace/tree/a.txt",
        "/workspace/tree/d",
        "/workspace/tree/d/b.txt",
    ]


async def test_exists_and_get_info(machine: Any) -> None:
    assert await maybe(machine.files.exists("/workspace/nope")) is False
    await maybe(machine.files.write("/workspace/yes", "12345"))
    assert await maybe(machine.files.exists("/workspace/yes")) is True
    info = await maybe(machine.files.get_info("/workspace/yes"))
    assert (info.name, info.size, info.type) == ("yes", 5, "file")
    assert info.symlink_target is None
    with pytest.raises(nullspace.NotFoundError):
        await maybe(machine.files.get_info("/workspace/nope"))
    await maybe(machine.commands.run("ln -s /workspace/yes /workspace/link"))
    link = await maybe(machine.files.get_info("/workspace/link"))
    assert link.type == "symlink"
    assert link.symlink_target == "/workspace/yes"


async def test_make_dir(machine: Any) -> None:
    assert await maybe(machine.files.make_dir("/workspace/m/n/o")) is True
    assert await maybe(machine.files.make_dir("/workspace/m/n/o")) is False
    info = await maybe(machine.files.get_info("/workspace/m/n/o"))
    assert info.type == "dir" and info.owner == "user"


async def test_rename(machine: Any) -> None:
    await maybe(machine.files.write("/workspace/old.txt", "moved"))
    info = await maybe(machine.files.rename("/workspace/old.txt", "/workspace/new.txt"))
    assert info.path == "/workspace/new.txt"
    assert await maybe(machine.files.exists("/workspace/old.txt")) is False
    assert await maybe(machine.files.read("/workspace/new.txt")) == "moved"


async def test_chmod(machine: Any) -> None:
    await maybe(machine.files.write("/workspace/script.sh", "#!/bin/sh\necho ran\n"))
    info = await maybe(machine.files.chmod("/workspace/script.sh", 0o755))
    assert info.permissions == "rwxr-xr-x"
    assert (await maybe(machine.commands.run("/workspace/script.sh"))).stdout == "ran\n"
    info = await maybe(machine.files.chmod("/workspace/script.sh", "0600"))
    assert info.mode & 0o777 == 0o600


async def test_remove(machine: Any) -> None:
    await maybe(machine.files.write_files([("/workspace/rm/a", "1"), ("/workspace/rm/b/c", "2")]))
    with pytest.raises(nullspace.FilesystemError) as info:
        await maybe(machine.files.remove("/workspace/rm", recursive=False))
    assert info.value.code == "not_empty"
    await maybe(machine.files.remove("/workspace/rm/a"))
    assert await maybe(machine.files.exists("/workspace/rm/a")) is False
    await maybe(machine.files.remove("/workspace/rm"))
    assert await maybe(machine.files.exists("/workspace/rm")) is False


async def test_read_missing(machine: Any) -> None:
    with pytest.raises(nullspace.NotFoundError):
        await maybe(machine.files.read("/workspace/missing.txt"))


async def test_path_escapes_or_reserved(machine: Any) -> None:
    with pytest.raises((nullspace.FilesystemError, nullspace.InvalidArgumentError)):
        await maybe(machine.files.write("/workspace/.nullspace/evil", "x"))


# -- whose rights a file operation has --------------------------------------------------


async def test_root_only_files_denied_to_user_allowed_to_root(machine: Any) -> None:
    """File operations run as ``user`` unless root is named: what ``user`` may not do
    raises ``permission_denied`` and changes nothing."""
    with pytest.raises(nullspace.FilesystemError) as info:
        await maybe(machine.files.read("/etc/shadow"))
    assert (info.value.code, info.value.status) == ("permission_denied", 403)
    shadow = await maybe(machine.files.read("/etc/shadow", user="root"))
    assert shadow.startswith("root:")

    passwd = await maybe(machine.files.read("/etc/passwd"))  # world-readable
    assert "root:" in passwd
    await maybe(machine.commands.run("ln -s /etc/passwd /workspace/pwlink"))
    with pytest.raises(nullspace.FilesystemError) as info:
        await maybe(machine.files.write("/workspace/pwlink", "evil::0:0::/:/bin/sh\n"))
    assert info.value.code == "permission_denied"
    assert await maybe(machine.files.read("/etc/passwd", user="root")) == passwd
    link = await maybe(machine.files.get_info("/workspace/pwlink"))
    assert (link.type, link.symlink_target) == ("symlink", "/etc/passwd")
    # root may write through the link (the same bytes back: the machine keeps working)
    target = await maybe(machine.files.write("/workspace/pwlink", passwd, user="root"))
    assert target.type == "file"
    assert await maybe(machine.files.read("/etc/passwd")) == passwd

    with pytest.raises(nullspace.FilesystemError) as info:
        await maybe(machine.files.make_dir("/etc/nstest"))
    assert info.value.code == "permission_denied"
    assert await maybe(machine.files.exists("/etc/nstest")) is False
    assert await maybe(machine.files.make_dir("/etc/nstest", user="root")) is True
    made = await maybe(machine.files.write("/etc/nstest/f", "x", user="root", mode=0o644))
    assert made.owner == "root"
    with pytest.raises(nullspace.FilesystemError) as info:
        await maybe(machine.files.chmod("/etc/nstest/f", 0o666))
    assert info.value.code == "permission_denied"
    changed = await maybe(machine.files.chmod("/etc/nstest/f", 0o600, user="root"))
    assert changed.mode & 0o777 == 0o600
    with pytest.raises(nullspace.FilesystemError) as info:
        await maybe(machine.files.rename("/etc/nstest/f", "/etc/nstest/g"))
    assert info.value.code == "permission_denied"
    with pytest.raises(nullspace.FilesystemError) as info:
        await maybe(machine.files.remove("/etc/nstest"))
    assert info.value.code == "permission_denied"
    assert await maybe(machine.files.exists("/etc/nstest/f", user="root")) is True
    await maybe(machine.files.remove("/etc/nstest", user="root"))  # recursive by default
    assert await maybe(machine.files.exists("/etc/nstest", user="root")) is False


# -- large files: streamed reads, uploads and downloads ---------------------------------

MIB = 1 << 20
BIG = 129 * MIB  # one MiB over what one read returned before reads were streamed


async def test_read_is_not_capped_and_reads_ranges(machine: Any) -> None:
    made = await maybe(
        machine.commands.run(
            f"truncate -s {BIG} /tmp/big && printf tail | "
            f"dd of=/tmp/big bs=1 seek={BIG - 4} conv=notrunc status=none"
        )
    )
    assert made.exit_code == 0, made.stderr
    whole = await maybe(machine.files.read("/tmp/big", format="bytes"))
    assert len(whole) == BIG
    assert whole[:1024] == b"\0" * 1024 and whole[-4:] == b"tail"
    del whole

    head = await maybe(machine.files.read("/tmp/big", format="bytes", limit=1024))
    assert head == b"\0" * 1024
    tail = await maybe(machine.files.read("/tmp/big", format="bytes", offset=BIG - 4, limit=4))
    assert tail == b"tail"
    # an endless file is read with a limit
    assert await maybe(machine.files.read("/dev/zero", format="bytes", limit=8)) == b"\0" * 8


async def test_upload_and_download_a_file(machine: Any, tmp_path: Path) -> None:
    data = os.urandom(3 * MIB + 17)  # several chunks, the last one short
    source = tmp_path / "blob.bin"
    source.write_bytes(data)
    events: list[nullspace.UploadProgress] = []

    up = await maybe(machine.files.upload_file(source, progress=events.append))
    assert (up.transport, up.target_path, up.bytes_uploaded) == (
        "direct",
        "/workspace/blob.bin",
        len(data),
    )
    assert up.upload_id is None and up.entry.size == len(data)
    assert events[-1].phase == "done" and events[-1].bytes_total == len(data)
    digest = await maybe(machine.commands.run("sha256sum /workspace/blob.bin"))
    assert digest.stdout.split()[0] == hashlib.sha256(data).hexdigest()

    copy = tmp_path / "copy.bin"
    down = await maybe(machine.files.download_file("/workspace/blob.bin", copy))
    assert (down.path, down.destination, down.bytes_downloaded) == (
        "/workspace/blob.bin",
        str(copy),
        len(data),
    )
    assert copy.read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blob.bin", "copy.bin"]


async def test_upload_a_stream_of_unknown_length(machine: Any) -> None:
    class Pieces:
        """2.5 MiB made on demand, without a name or a length."""

        def __init__(self) -> None:
            self.left = 10

        def read(self, n: int = -1) -> bytes:
            if self.left == 0:
                return b""
            self.left -= 1
            return bytes([self.left]) * (MIB // 4)

    up = await maybe(
        machine.files.upload_file(Pieces(), "/tmp/pieces.bin", user="root", mode=0o600)
    )
    assert up.bytes_uploaded == 10 * (MIB // 4)
    assert (up.entry.size, up.entry.owner, up.entry.permissions) == (
        10 * (MIB // 4),
        "root",
        "rw-------",
    )
    tail = await maybe(
        machine.files.read(
            "/tmp/pieces.bin", format="bytes", user="root", offset=up.bytes_uploaded - 2
        )
    )
    assert tail == b"\0\0"


async def test_download_of_a_missing_file_leaves_nothing(machine: Any, tmp_path: Path) -> None:
    with pytest.raises(nullspace.NotFoundError):
        await maybe(machine.files.download_file("/workspace/absent", tmp_path / "absent"))
    assert list(tmp_path.iterdir()) == []


# -- signed URLs: one file, one method, no API key --------------------------------------


def _tampered(url: str) -> str:
    """``url`` with one character of its signature's query value changed (the raw query
    is edited, so nothing else about the URL changes)."""
    parts = urlsplit(url)
    pairs = parts.query.split("&")
    for i, pair in enumerate(pairs):
        name, _, value = pair.partition("=")
        if "sig" in name.lower() and value:
            pairs[i] = f"{name}={'1' if value[0] == '0' else '0'}{value[1:]}"
            return urlunsplit(parts._replace(query="&".join(pairs)))
    pytest.fail(f"no signature parameter in the query of {url}")


async def test_signed_urls_work_without_the_api_key(machine: Any) -> None:
    await maybe(machine.files.write("/workspace/signed.bin", BINARY))
    download = await maybe(machine.download_url("/workspace/signed.bin", expires_in=600))
    upload = await maybe(machine.files.signed_url("/workspace/put.bin", "PUT"))
    assert upload.method == "PUT" and upload.expires_at > datetime.now(UTC)

    with httpx.Client(timeout=60) as http:  # a plain client: no key, no SDK
        got = http.get(download)
        assert "authorization" not in got.request.headers
        assert got.status_code == 200, got.text
        assert got.content == BINARY

        reversed_bytes = BINARY[::-1]
        put = http.put(upload.url, content=reversed_bytes)
        assert "authorization" not in put.request.headers
        assert put.is_success, put.text
        put_back = await maybe(machine.files.read("/workspace/put.bin", format="bytes"))
        assert put_back == reversed_bytes

        tampered = http.get(_tampered(download))
        assert tampered.status_code == 401, tampered.text
        assert tampered.json()["error"]["code"] == "unauthorized"

        wrong_method = http.put(download, content=b"overwritten")
        assert wrong_method.status_code == 401, wrong_method.text
    assert await maybe(machine.files.read("/workspace/signed.bin", format="bytes")) == BINARY
