"""``machine.files``: the machine's filesystem (sync and async flavours).

Relative paths are resolved by the server against ``/workspace``. Every operation has
the rights of a guest ``user`` (default ``"user"``; root must be named,
``user="root"``): what that user may not do raises
:class:`~nullspace.FilesystemError` ``permission_denied``. Both classes are thin:
requests and decoding come from :mod:`nullspace._ops`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, overload

from . import _ops
from ._ops import DEFAULT_USER, WriteFilesInput
from ._transport import AsyncTransport, SyncTransport
from .errors import InvalidArgumentError
from .models import EntryInfo

__all__ = ["AsyncFilesystem", "Filesystem", "WriteFilesInput"]

ReadFormat = Literal["text", "bytes"]
EntryList = list[EntryInfo]  # module-level: ``list`` is a method name in the classes


def _check_format(format: str) -> None:
    if format not in ("text", "bytes"):
        raise InvalidArgumentError(
            "bad_request", f"format must be 'text' or 'bytes', not {format!r}"
        )


class Filesystem:
    """Files of a machine (synchronous)."""

    def __init__(self, machine_id: str, transport: SyncTransport) -> None:
        self._machine_id = machine_id
        self._transport = transport

    @overload
    def read(
        self,
        path: str,
        format: Literal["text"] = "text",
        user: str = DEFAULT_USER,
        *,
        offset: int | None = None,
        limit: int | None = None,
    ) -> str: ...
    @overload
    def read(
        self,
        path: str,
        format: Literal["bytes"],
        user: str = DEFAULT_USER,
        *,
        offset: int | None = None,
        limit: int | None = None,
    ) -> bytes: ...
    def read(
        self,
        path: str,
        format: ReadFormat = "text",
        user: str = DEFAULT_USER,
        *,
        offset: int | None = None,
        limit: int | None = None,
    ) -> str | bytes:
        """Read a file as ``user``: ``format="text"`` decodes UTF-8 (invalid bytes
        replaced), ``format="bytes"`` returns the raw bytes.

        ``offset`` / ``limit`` read a range: at most ``limit`` bytes from byte
        ``offset``. One read returns at most 128 MiB; a larger file raises
        :class:`~nullspace.FileTooLargeError` unless ``limit`` bounds the read."""
        _check_format(format)
        op = _ops.read_file(self._machine_id, path, user=user, offset=offset, limit=limit)
        data = self._transport.send(op)
        return data if format == "bytes" else _ops.decode_text(data)

    def write(
        self,
        path: str,
        data: str | bytes,
        user: str = DEFAULT_USER,
        *,
        mode: int | str | None = None,
    ) -> EntryInfo:
        """Write a file atomically as ``user``, who owns what is created (parents
        too). A symlink is written through (with ``user``'s rights on its target).
        ``mode`` is an int (``0o644``) or an octal string (``"0644"``)."""
        return self._transport.send(
            _ops.write_file(self._machine_id, path, data, user=user, mode=mode)
        )

    def write_files(self, files: Iterable[WriteFilesInput], user: str = DEFAULT_USER) -> EntryList:
        """Write several files in one request, as ``user``. Items are
        ``WriteEntry(path, data)``, ``(path, data)`` tuples or ``{"path": ...,
        "data": ...}`` dicts; text is sent as ``content``, bytes as ``content_base64``.
        Raises :class:`~nullspace.BatchWriteError` when the batch fails."""
        return self._transport.send(_ops.write_files(self._machine_id, files, user=user))

    def list(self, path: str, depth: int = 1, user: str = DEFAULT_USER) -> EntryList:
        """Entries under a directory, ``depth`` levels deep (1-32), sorted by path."""
        return self._transport.send(_ops.list_files(self._machine_id, path, depth, user=user))

    def exists(self, path: str, user: str = DEFAULT_USER) -> bool:
        return self._transport.send(_ops.file_exists(self._machine_id, path, user=user))

    def get_info(self, path: str, user: str = DEFAULT_USER) -> EntryInfo:
        return self._transport.send(_ops.file_info(self._machine_id, path, user=user))

    def make_dir(self, path: str, user: str = DEFAULT_USER) -> bool:
        """Create a directory and its parents, owned by ``user``; ``False`` if it
        already existed."""
        return self._transport.send(_ops.make_dir(self._machine_id, path, user=user))

    def rename(self, old_path: str, new_path: str, user: str = DEFAULT_USER) -> EntryInfo:
        """Move ``old_path`` to ``new_path``; returns the entry at its new path."""
        op = _ops.rename_file(self._machine_id, old_path, new_path, user=user)
        return self._transport.send(op)

    def remove(self, path: str, user: str = DEFAULT_USER, *, recursive: bool = True) -> None:
        """Remove a file, or a directory with everything in it (``recursive=False``:
        only an empty one, else :class:`~nullspace.FilesystemError` ``not_empty``)."""
        op = _ops.remove_file(self._machine_id, path, recursive=recursive, user=user)
        self._transport.send(op)

    def chmod(self, path: str, mode: int | str, user: str = DEFAULT_USER) -> EntryInfo:
        """Change permissions; ``mode`` is an int (``0o755``) or octal string."""
        return self._transport.send(_ops.chmod_file(self._machine_id, path, mode, user=user))


class AsyncFilesystem:
    """Files of a machine (asynchronous). Same methods as :class:`Filesystem`."""

    def __init__(self, machine_id: str, transport: AsyncTransport) -> None:
        self._machine_id = machine_id
        self._transport = transport

    @overload
    async def read(
        self,
        path: str,
        format: Literal["text"] = "text",
        user: str = DEFAULT_USER,
        *,
        offset: int | None = None,
        limit: int | None = None,
    ) -> str: ...
    @overload
    async def read(
        self,
        path: str,
        format: Literal["bytes"],
        user: str = DEFAULT_USER,
        *,
        offset: int | None = None,
        limit: int | None = None,
    ) -> bytes: ...
    async def read(
        self,
        path: str,
        format: ReadFormat = "text",
        user: str = DEFAULT_USER,
        *,
        offset: int | None = None,
        limit: int | None = None,
    ) -> str | bytes:
        _check_format(format)
        op = _ops.read_file(self._machine_id, path, user=user, offset=offset, limit=limit)
        data = await self._transport.send(op)
        return data if format == "bytes" else _ops.decode_text(data)

    async def write(
        self,
        path: str,
        data: str | bytes,
        user: str = DEFAULT_USER,
        *,
        mode: int | str | None = None,
    ) -> EntryInfo:
        return await self._transport.send(
            _ops.write_file(self._machine_id, path, data, user=user, mode=mode)
        )

    async def write_files(
        self, files: Iterable[WriteFilesInput], user: str = DEFAULT_USER
    ) -> EntryList:
        return await self._transport.send(_ops.write_files(self._machine_id, files, user=user))

    async def list(self, path: str, depth: int = 1, user: str = DEFAULT_USER) -> EntryList:
        op = _ops.list_files(self._machine_id, path, depth, user=user)
        return await self._transport.send(op)

    async def exists(self, path: str, user: str = DEFAULT_USER) -> bool:
        return await self._transport.send(_ops.file_exists(self._machine_id, path, user=user))

    async def get_info(self, path: str, user: str = DEFAULT_USER) -> EntryInfo:
        return await self._transport.send(_ops.file_info(self._machine_id, path, user=user))

    async def make_dir(self, path: str, user: str = DEFAULT_USER) -> bool:
        return await self._transport.send(_ops.make_dir(self._machine_id, path, user=user))

    async def rename(self, old_path: str, new_path: str, user: str = DEFAULT_USER) -> EntryInfo:
        op = _ops.rename_file(self._machine_id, old_path, new_path, user=user)
        return await self._transport.send(op)

    async def remove(self, path: str, user: str = DEFAULT_USER, *, recursive: bool = True) -> None:
        op = _ops.remove_file(self._machine_id, path, recursive=recursive, user=user)
        await self._transport.send(op)

    async def chmod(self, path: str, mode: int | str, user: str = DEFAULT_USER) -> EntryInfo:
        op = _ops.chmod_file(self._machine_id, path, mode, user=user)
        return await self._transport.send(op)
