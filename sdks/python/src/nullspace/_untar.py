"""Unpacking a downloaded directory archive into a local directory, safely.

The archive comes from a machine, so it is not trusted: before anything is written,
every member is checked, and an archive with one bad member writes nothing. Refused
(``InvalidArgumentError`` ``path_escapes_root``): an absolute name, a ``..``
component, a member under a symlink (one of the archive's own, or one already in the
destination: nothing is written through a symlink), and any type but directory,
regular file and symlink (hard links, devices, FIFOs). Symlinks are made as
symlinks, whatever they point at; a file replacing an existing symlink replaces the
link, not its target. Files are written under a temporary name and renamed into
place; modes keep their permission bits only (no set-id bits), and directory modes
are applied last, so a read-only directory is still filled.
"""

from __future__ import annotations

import os
import secrets
import shutil
import stat
import tarfile
from contextlib import suppress
from dataclasses import dataclass
from typing import BinaryIO

from ._transport import CHUNK_BYTES
from .errors import InvalidArgumentError

__all__ = ["Extracted", "extract", "safe_name"]


@dataclass(frozen=True)
class Extracted:
    files: int
    dirs: int
    symlinks: int


def _refuse(name: str, why: str) -> InvalidArgumentError:
    return InvalidArgumentError("path_escapes_root", f"refusing archive entry {name!r}: {why}")


def safe_name(name: str) -> str:
    """``name`` as a relative ``/``-separated path without ``.`` parts; refuses an
    absolute one or one with ``..``."""
    if not name or "\x00" in name:
        raise _refuse(name, "empty name")
    if name.startswith("/") or (os.name == "nt" and (name[1:2] == ":" or "\\" in name)):
        raise _refuse(name, "absolute path")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise _refuse(name, "'..' in the path")
    return "/".join(parts)


def _check(members: list[tarfile.TarInfo], root: str) -> list[tuple[str, tarfile.TarInfo]]:
    checked: list[tuple[str, tarfile.TarInfo]] = []
    links: set[str] = set()
    for member in members:
        name = safe_name(member.name)
        if not name:  # the root itself ("./")
            continue
        if not (member.isreg() or member.isdir() or member.issym()):
            raise _refuse(member.name, "only files, directories and symlinks are unpacked")
        parents = name.split("/")[:-1]
        for k in range(1, len(parents) + 1):
            prefix = "/".join(parents[:k])
            if prefix in links or os.path.islink(os.path.join(root, prefix)):
                raise _refuse(member.name, f"it would be written through the symlink {prefix!r}")
        if member.issym():
            links.add(name)
        else:
            links.discard(name)
        checked.append((name, member))
    return checked


def _clear(path: str, keep_dir: bool) -> None:
    """Make way for a new entry at ``path``: a symlink or file goes; a directory goes
    unless ``keep_dir``."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        if not keep_dir:
            shutil.rmtree(path)
    else:
        os.unlink(path)


def _write_file(tar: tarfile.TarFile, member: tarfile.TarInfo, path: str) -> None:
    source = tar.extractfile(member)
    assert source is not None  # a regular file always has content
    directory, base = os.path.split(path)
    partial = os.path.join(directory, f".{base}.{secrets.token_hex(6)}.part")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    fd = os.open(partial, flags, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            while data := source.read(CHUNK_BYTES):
                out.write(data)
        os.chmod(partial, stat.S_IMODE(member.mode) & 0o777)
        _clear(path, keep_dir=False)
        os.replace(partial, path)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(partial)
        raise


def extract(archive: BinaryIO, dest_dir: str) -> Extracted:
    """Unpack the tar ``archive`` (a seekable file, read from its start) into
    ``dest_dir``, created if missing."""
    os.makedirs(dest_dir, exist_ok=True)
    root = os.path.realpath(dest_dir)
    if archive.seek(0, os.SEEK_END) == 0:  # an empty body: an empty directory
        return Extracted(0, 0, 0)
    archive.seek(0)
    with tarfile.open(fileobj=archive, mode="r:") as tar:
        checked = _check(tar.getmembers(), root)
        files = dirs = symlinks = 0
        dir_modes: list[tuple[str, int]] = []
        for name, member in checked:
            path = os.path.join(root, *name.split("/"))
            parent = os.path.dirname(path)
            if os.path.islink(parent) or not is_within(root, os.path.realpath(parent)):
                raise _refuse(member.name, "its directory is a symlink")
            os.makedirs(parent, exist_ok=True)
            if member.isdir():
                _clear(path, keep_dir=True)
                os.makedirs(path, exist_ok=True)
                dir_modes.append((path, stat.S_IMODE(member.mode) & 0o777))
                dirs += 1
            elif member.issym():
                _clear(path, keep_dir=False)
                os.symlink(member.linkname, path)
                symlinks += 1
            else:
                _write_file(tar, member, path)
                files += 1
        for path, mode in reversed(dir_modes):
            os.chmod(path, mode)
    return Extracted(files, dirs, symlinks)


def is_within(root: str, path: str) -> bool:
    """Whether ``path`` is ``root`` or under it (both absolute, normalised)."""
    return os.path.commonpath([root, path]) == root
