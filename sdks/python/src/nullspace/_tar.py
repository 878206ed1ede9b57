"""A local directory as a tar stream, made as it is sent.

:func:`walk` lists what a directory upload sends: every directory, regular file and
symlink under the root (sorted, so the same tree makes the same bytes: a resumed
upload rebuilds the archive and sends only what the server lacks), less what the
ignore rules leave out. Symlinks are kept as symlinks, never followed. Other entry
types (sockets, FIFOs, devices) cannot be uploaded and are passed over.

:class:`TarStream` writes the archive one member at a time: ``tarfile`` makes each
header (POSIX pax, so long and non-ASCII names, spaces and newlines survive), and the
file's bytes follow in chunks read as they are sent, so neither the archive nor a
whole file is ever held in memory. Its exact length is known before the first byte
(headers are measured up front), which a progress bar and a resumable upload need.
Owners are not sent (the server makes the upload's ``user`` own everything); modes
and modification times are.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import stat
import tarfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import BinaryIO, Literal

from ._ignore import IGNORE_FILE, IgnoreRules
from ._transport import CHUNK_BYTES
from .errors import InvalidArgumentError

__all__ = ["Member", "TarStream", "Tree", "walk"]

BLOCK = tarfile.BLOCKSIZE
END_OF_ARCHIVE = 2 * BLOCK

MemberKind = Literal["file", "dir", "symlink"]


@dataclass(frozen=True)
class Member:
    """One entry of the archive."""

    name: str
    """Path relative to the root, ``/``-separated."""
    local: str
    """Where it is on this machine."""
    kind: MemberKind
    size: int
    mode: int
    mtime: int
    linkname: str = ""

    def tarinfo(self) -> tarfile.TarInfo:
        info = tarfile.TarInfo(self.name)
        info.type = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE}[
            self.kind
        ]
        info.size = self.size if self.kind == "file" else 0
        info.mode = self.mode
        info.mtime = self.mtime
        info.linkname = self.linkname
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        return info

    def header(self) -> bytes:
        return self.tarinfo().tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


def _padded(size: int) -> int:
    return -(-size // BLOCK) * BLOCK


@dataclass(frozen=True)
class Tree:
    """What :func:`walk` found: the members in archive order, and the archive's size."""

    root: str
    members: list[Member]
    archive_bytes: int

    @property
    def file_count(self) -> int:
        return sum(1 for m in self.members if m.kind == "file")


def read_ignore_file(root: str) -> str | None:
    """The text of the root's ``.nullspaceignore``, ``None`` when there is none."""
    path = os.path.join(root, IGNORE_FILE)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        return f.read()


def _member(local: str, name: str, st: os.stat_result) -> Member | None:
    mode, mtime = stat.S_IMODE(st.st_mode), int(st.st_mtime)
    if stat.S_ISLNK(st.st_mode):
        return Member(name, local, "symlink", 0, mode, mtime, os.readlink(local))
    if stat.S_ISDIR(st.st_mode):
        return Member(name, local, "dir", 0, mode, mtime)
    if stat.S_ISREG(st.st_mode):
        return Member(name, local, "file", st.st_size, mode, mtime)
    return None  # a socket, FIFO or device: not something a machine takes


def walk(root: str | os.PathLike[str], rules: IgnoreRules) -> Tree:
    """The members of a directory upload of ``root``, in a stable order."""
    top = os.fspath(root)
    if not os.path.isdir(top):
        raise InvalidArgumentError("bad_request", f"{top} is not a local directory")
    members: list[Member] = []

    def visit(directory: str, prefix: str) -> None:
        with os.scandir(directory) as it:
            entries = sorted(it, key=lambda e: e.name)
        for entry in entries:
            name = prefix + entry.name
            st = entry.stat(follow_symlinks=False)
            is_dir = stat.S_ISDIR(st.st_mode)
            if rules.decides(name, is_dir):
                continue
            member = _member(entry.path, name, st)
            if member is None:
                continue
            members.append(member)
            if is_dir:
                visit(entry.path, name + "/")

    visit(top, "")
    size = sum(len(m.header()) + _padded(m.size) for m in members) + END_OF_ARCHIVE
    return Tree(top, members, size)


class TarStream:
    """The archive of a :class:`Tree`, in chunks of at most :data:`CHUNK_BYTES`."""

    def __init__(self, tree: Tree) -> None:
        self.tree = tree
        self.total = tree.archive_bytes

    def chunks(self) -> Iterator[bytes]:
        """The archive, read from the disk as it is consumed (sync flavour)."""
        pending = bytearray()
        for member in self.tree.members:
            pending += member.header()
            if member.kind == "file":
                for piece in self._content(member):
                    pending += piece
                    while len(pending) >= CHUNK_BYTES:
                        yield bytes(pending[:CHUNK_BYTES])
                        del pending[:CHUNK_BYTES]
                pending += bytes(_padded(member.size) - member.size)
            while len(pending) >= CHUNK_BYTES:
                yield bytes(pending[:CHUNK_BYTES])
                del pending[:CHUNK_BYTES]
        pending += bytes(END_OF_ARCHIVE)
        while pending:
            yield bytes(pending[:CHUNK_BYTES])
            del pending[:CHUNK_BYTES]

    async def achunks(self) -> AsyncIterator[bytes]:
        """:meth:`chunks`, each read in a worker thread (async flavour)."""
        chunks = self.chunks()
        while (chunk := await asyncio.to_thread(next, chunks, None)) is not None:
            yield chunk

    @staticmethod
    def _content(member: Member) -> Iterator[bytes]:
        """Exactly ``member.size`` bytes of its file, or ``source_changed``."""
        left = member.size
        with open(member.local, "rb") as f:
            while left > 0:
                data = f.read(min(CHUNK_BYTES, left))
                if not data:
                    raise InvalidArgumentError(
                        "source_changed",
                        f"{member.local} changed while it was uploaded: it had {member.size} "
                        f"bytes, and ended after {member.size - left}",
                    )
                left -= len(data)
                yield data

    def write_to(self, out: BinaryIO) -> str:
        """Write the whole archive to ``out`` (a resumable upload's staging file);
        returns its SHA-256, hex."""
        digest = hashlib.sha256()
        written = 0
        for chunk in self.chunks():
            out.write(chunk)
            digest.update(chunk)
            written += len(chunk)
        if written != self.total:  # a member's header changed size: a renamed file
            raise InvalidArgumentError(
                "source_changed", f"{self.tree.root} changed while it was packed"
            )
        out.flush()
        return digest.hexdigest()
