"""Directory archives on the local side: the tar stream a directory upload sends
(``nullspace._tar``) and the safe unpacking of a downloaded one (``nullspace._untar``)."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from nullspace import InvalidArgumentError
from nullspace._ignore import IgnoreRules
from nullspace._tar import TarStream, read_ignore_file, walk
from nullspace._transport import CHUNK_BYTES
from nullspace._untar import extract, safe_name

NONE = IgnoreRules()


def make_tree(root: Path) -> None:
    (root / "src").mkdir()
    (root / "src" / "main.py").write_text("print('hi')\n")
    (root / "src" / "cache.pyc").write_bytes(b"\x00\x01")
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (root / "empty").mkdir()
    (root / "with space.txt").write_text("spaces")
    (root / "naïve ✓.txt").write_text("unicode")
    (root / "new\nline.txt").write_text("newline")
    (root / "big.bin").write_bytes(os.urandom(CHUNK_BYTES * 2 + 123))
    os.symlink("src/main.py", root / "link")
    os.symlink("/etc/passwd", root / "abs-link")
    os.symlink("src", root / "dirlink")
    (root / "exec.sh").write_text("#!/bin/sh\n")
    os.chmod(root / "exec.sh", 0o755)


def archive_of(stream: TarStream) -> tuple[bytes, tarfile.TarFile]:
    data = b"".join(stream.chunks())
    return data, tarfile.open(fileobj=io.BytesIO(data), mode="r:")


def test_tar_stream_keeps_everything_and_symlinks_as_symlinks(tmp_path: Path) -> None:
    make_tree(tmp_path)
    tree = walk(tmp_path, NONE)
    stream = TarStream(tree)
    data, tar = archive_of(stream)
    assert len(data) == stream.total == tree.archive_bytes  # measured exactly up front
    members = {m.name: m for m in tar.getmembers()}
    assert set(members) == {
        ".git",
        ".git/HEAD",
        "abs-link",
        "big.bin",
        "dirlink",
        "empty",
        "exec.sh",
        "link",
        "naïve ✓.txt",
        "new\nline.txt",
        "src",
        "src/cache.pyc",
        "src/main.py",
        "with space.txt",
    }
    assert members["link"].issym() and members["link"].linkname == "src/main.py"
    assert members["abs-link"].issym() and members["abs-link"].linkname == "/etc/passwd"
    assert members["dirlink"].issym()  # not followed: its files are not in the archive
    assert members["empty"].isdir()
    assert members["exec.sh"].mode & 0o777 == 0o755
    assert members["src/main.py"].uid == 0 and members["src/main.py"].uname == ""

    def content(name: str) -> bytes:
        f = tar.extractfile(members[name])
        assert f is not None
        return f.read()

    assert content("big.bin") == (tmp_path / "big.bin").read_bytes()
    assert content("new\nline.txt") == b"newline"
    assert content("naïve ✓.txt") == b"unicode"
    assert tree.file_count == 8


def test_tar_stream_is_chunked_and_the_same_twice(tmp_path: Path) -> None:
    make_tree(tmp_path)
    stream = TarStream(walk(tmp_path, NONE))
    chunks = list(stream.chunks())
    assert all(len(c) <= CHUNK_BYTES for c in chunks)
    assert len(chunks) >= 3
    again = TarStream(walk(tmp_path, NONE))
    assert b"".join(again.chunks()) == b"".join(chunks)  # a resume rebuilds the same bytes


def test_walk_applies_ignore_file_then_patterns(tmp_path: Path) -> None:
    make_tree(tmp_path)
    (tmp_path / ".nullspaceignore").write_text("*.pyc\nbig.bin\n!src/cache.pyc\n")
    rules = IgnoreRules.for_upload(read_ignore_file(str(tmp_path)), ["src/cache.pyc", "empty/"])
    names = [m.name for m in walk(tmp_path, rules).members]
    assert "big.bin" not in names
    assert "src/cache.pyc" not in names  # the file re-included it, the pattern after excluded
    assert "empty" not in names
    assert ".nullspaceignore" in names and ".git/HEAD" in names


def test_walk_refuses_a_file_and_skips_special_entries(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(InvalidArgumentError):
        walk(tmp_path / "f", NONE)
    os.mkfifo(tmp_path / "fifo")
    assert [m.name for m in walk(tmp_path, NONE).members] == ["f"]


def test_a_file_that_shrinks_while_sent_is_source_changed(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"x" * 1000)
    stream = TarStream(walk(tmp_path, NONE))
    (tmp_path / "a").write_bytes(b"x" * 10)
    with pytest.raises(InvalidArgumentError) as info:
        b"".join(stream.chunks())
    assert info.value.code == "source_changed"


# -- safe extraction --------------------------------------------------------------------


def tar_bytes(*entries: tuple[str, str, bytes | str]) -> io.BytesIO:
    """An archive of ``(kind, name, content-or-linkname)`` entries."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for kind, name, value in entries:
            info = tarfile.TarInfo(name)
            if kind == "file":
                data = value if isinstance(value, bytes) else value.encode()
                info.size = len(data)
                info.mode = 0o640
                tar.addfile(info, io.BytesIO(data))
            elif kind == "dir":
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
            elif kind == "symlink":
                info.type = tarfile.SYMTYPE
                info.linkname = str(value)
                tar.addfile(info)
            elif kind == "hardlink":
                info.type = tarfile.LNKTYPE
                info.linkname = str(value)
                tar.addfile(info)
            elif kind == "fifo":
                info.type = tarfile.FIFOTYPE
                tar.addfile(info)
    out.seek(0)
    return out


def test_extract_round_trips_a_tar_stream(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    make_tree(src)
    data = b"".join(TarStream(walk(src, NONE)).chunks())
    dest = tmp_path / "out"
    counts = extract(io.BytesIO(data), str(dest))
    assert (counts.files, counts.symlinks) == (8, 3)
    assert (dest / "big.bin").read_bytes() == (src / "big.bin").read_bytes()
    assert (dest / "new\nline.txt").read_text() == "newline"
    assert os.readlink(dest / "link") == "src/main.py"
    assert os.readlink(dest / "abs-link") == "/etc/passwd"  # kept, never followed
    assert (dest / "empty").is_dir()
    assert os.stat(dest / "exec.sh").st_mode & 0o777 == 0o755


@pytest.mark.parametrize(
    "entries",
    [
        [("file", "../x", "evil")],
        [("file", "a/../../x", "evil")],
        [("file", "/etc/evil", "evil")],
        [("symlink", "l", "/"), ("file", "l/evil", "evil")],
        [("symlink", "l", "."), ("dir", "l/sub", "")],
        [("hardlink", "h", "/etc/passwd")],
        [("fifo", "p", "")],
    ],
    ids=[
        "dotdot",
        "dotdot-deep",
        "absolute",
        "through-own-symlink",
        "dir-through-symlink",
        "hardlink",
        "fifo",
    ],
)
def test_extract_refuses_unsafe_archives_and_writes_nothing(
    tmp_path: Path, entries: list[tuple[str, str, str]]
) -> None:
    dest = tmp_path / "out"
    archive = tar_bytes(("file", "ok.txt", "fine"), *entries)
    with pytest.raises(InvalidArgumentError) as info:
        extract(archive, str(dest))
    assert info.value.code == "path_escapes_root"
    assert list(dest.iterdir()) == []  # checked whole before the first write
    assert not (tmp_path / "x").exists()


def test_extract_refuses_writing_through_an_existing_symlink(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "out"
    dest.mkdir()
    os.symlink(outside, dest / "sub")
    with pytest.raises(InvalidArgumentError):
        extract(tar_bytes(("file", "sub/evil", "evil")), str(dest))
    assert list(outside.iterdir()) == []


def test_a_file_replaces_an_existing_symlink_not_its_target(tmp_path: Path) -> None:
    target = tmp_path / "target.txt"
    target.write_text("keep me")
    dest = tmp_path / "out"
    dest.mkdir()
    os.symlink(target, dest / "f.txt")
    extract(tar_bytes(("file", "f.txt", "new")), str(dest))
    assert not (dest / "f.txt").is_symlink()
    assert (dest / "f.txt").read_text() == "new"
    assert target.read_text() == "keep me"


def test_safe_name() -> None:
    assert safe_name("./a//b/./c") == "a/b/c"
    assert safe_name("./") == ""
    for bad in ("", "/a", "a/../../b", "..", "a/\x00"):
        with pytest.raises(InvalidArgumentError):
            safe_name(bad)
