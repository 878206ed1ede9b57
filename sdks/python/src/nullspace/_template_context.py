"""The build contexts of ``copy`` steps: a local file or directory as a tar, named by
its SHA-256 (``PUT /v1/templates/contexts/{sha256}``).

A directory is walked as a directory upload walks it (:func:`nullspace._tar.walk`,
with its root's ``.nullspaceignore`` and the step's ``ignore_patterns``); a file is an
archive of that one file under its own name. Modification times are left out (every
member says 0), so the same content always makes the same bytes and the same hash:
the server's step cache keys a ``copy`` step on that hash, and a fresh checkout of
unchanged files keeps hitting it. Modes and symlinks are kept.

The archive is read twice and never held: once to hash it (:func:`pack`), once as it
is uploaded (:meth:`Context.stream`); a file that changes in between makes the server
refuse the upload (422), as its hash no longer matches.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass

from ._ignore import IgnoreRules
from ._tar import END_OF_ARCHIVE, TarStream, Tree, _member, _padded, read_ignore_file, walk
from .errors import InvalidArgumentError

__all__ = ["MAX_CONTEXT_BYTES", "Context", "check_source", "pack"]

MAX_CONTEXT_BYTES = 1 << 30
"""The largest context the server takes (1 GiB)."""


def check_source(src: str | os.PathLike[str]) -> str:
    """``src`` as a path, once it names a local file or directory."""
    if not isinstance(src, str | os.PathLike):
        raise InvalidArgumentError("bad_request", f"src must be a local path, got {src!r}")
    path = os.fspath(src)
    if not path:
        raise InvalidArgumentError("bad_request", "src must be a non-empty path")
    if not os.path.exists(path):
        raise InvalidArgumentError("bad_request", f"{path} does not exist on this machine")
    if not (os.path.isdir(path) or os.path.isfile(path)):
        raise InvalidArgumentError("bad_request", f"{path} is not a regular file or directory")
    return path


@dataclass(frozen=True)
class Context:
    """One packed context: its archive's layout and hash."""

    tree: Tree
    sha256: str
    """Hex SHA-256 of the archive: its name on the server."""

    @property
    def size(self) -> int:
        """Bytes of the archive."""
        return self.tree.archive_bytes

    def stream(self) -> TarStream:
        """The archive again, read from the disk as it is sent."""
        return TarStream(self.tree)


def _tree(path: str, ignore_patterns: Sequence[str] | None) -> Tree:
    if os.path.isdir(path):
        rules = IgnoreRules.for_upload(read_ignore_file(path), ignore_patterns)
        tree = walk(path, rules)
        members = [dataclasses.replace(m, mtime=0) for m in tree.members]
    else:
        member = _member(path, os.path.basename(os.path.abspath(path)), os.stat(path))
        if member is None:
            raise InvalidArgumentError("bad_request", f"{path} is not a regular file")
        members = [dataclasses.replace(member, mtime=0)]
    size = sum(len(m.header()) + _padded(m.size) for m in members) + END_OF_ARCHIVE
    return Tree(path, members, size)


def pack(src: str, ignore_patterns: Sequence[str] | None = None) -> Context:
    """Walk and hash the context of ``src`` (reads every file once)."""
    path = check_source(src)
    tree = _tree(path, ignore_patterns)
    if tree.archive_bytes > MAX_CONTEXT_BYTES:
        raise InvalidArgumentError(
            "payload_too_large",
            f"the context of {path} is {tree.archive_bytes} bytes; the server takes at most "
            f"{MAX_CONTEXT_BYTES} (leave files out with .nullspaceignore)",
        )
    digest = hashlib.sha256()
    written = 0
    for chunk in TarStream(tree).chunks():
        digest.update(chunk)
        written += len(chunk)
    if written != tree.archive_bytes:
        raise InvalidArgumentError("source_changed", f"{path} changed while it was packed")
    return Context(tree, digest.hexdigest())
