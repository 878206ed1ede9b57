"""``machine.files``: the machine's filesystem (sync and async flavours).

Relative paths are resolved by the server against ``/workspace``. Both classes are
thin: requests and decoding come from :mod:`nullspace._ops`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, overload

from . import _ops
from ._ops import WriteFilesInput
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
    def read(self, path: str, format: Literal["text"] = "text") -> str: ...
    @overload
    def read(self, path: str, format: Literal["bytes"]) -> bytes: ...
    def read(self, path: str, format: ReadFormat = "text") -> str | bytes:
        """Read a file: ``format="text"`` decodes UTF-8 (invalid bytes replaced),
        ``format="bytes"`` returns the raw bytes."""
        _check_format(format)
        data = self._transport.send(_ops.read_file(self._machine_id, path))
        return data if format == "bytes" else _ops.decode_text(data)

    def write(
        self,
        path: str,
        data: str | bytes,
        *,
        user: str | None = None,
        mode: int | str | None = None,
    ) -> EntryInfo:
        """Write a file atomically, creating its parents. ``mode`` is an int
        (``0o644``) or an octal string (``"0644"``)."""
        return self._transport.send(
            _ops.write_file(self._machine_id, path, data, user=user, mode=mode)
        )

    def write_files(
        self, files: Iterable[WriteFilesInput], *, user: str | None = None
    ) -> EntryList:
        """Write several files in one request. Items are ``WriteEntry(path, data)``,
        ``(path, data)`` tuples or ``{"path": ..., "data": ...}`` dicts; text is sent
        as ``content``, bytes as ``content_base64``. Raises
        :class:`~nullspace.BatchWriteError` when the batch fails."""
        return self._transport.send(_ops.write_files(self._machine_id, files, user=user))

    def list(self, path: str, depth: int = 1) -> EntryList:
        """Entries under a directory, ``depth`` levels deep (1-32), sorted by path."""
        return self._transport.send(_ops.list_files(self._machine_id, path, depth))

    def exists(self, path: str) -> bool:
        return self._transport.send(_ops.file_exists(self._machine_id, path))

    def get_info(self, path: str) -> EntryInfo:
        return self._transport.send(_ops.file_info(self._machine_id, path))

    def make_dir(self, path: str, *, user: str | None = None) -> bool:
        """Create a directory and its parents; ``False`` if it already existed."""
        return self._transport.send(_ops.make_dir(self._machine_id, path, user=user))

    def rename(self, old_path: str, new_path: str) -> EntryInfo:
        """Move ``old_path`` to ``new_path``; returns the entry at its new path."""
        return self._transport.send(_ops.rename_file(self._machine_id, old_path, new_path))

    def remove(self, path: str, *, recursive: bool = True) -> None:
        self._transport.send(_ops.remove_file(self._machine_id, path, recursive=recursive))

    def chmod(self, path: str, mode: int | str) -> EntryInfo:
        """Change permissions; ``mode`` is an int (``0o755``) or octal string."""
        return self._transport.send(_ops.chmod_file(self._machine_id, path, mode))


class AsyncFilesystem:
    """Files of a machine (asynchronous). Same methods as :class:`Filesystem`."""

    def __init__(self, machine_id: str, transport: AsyncTransport) -> None:
        self._machine_id = machine_id
        self._transport = transport

    @overload
    async def read(self, path: str, format: Literal["text"] = "text") -> str: ...
    @overload
    async def read(self, path: str, format: Literal["bytes"]) -> bytes: ...
    async def read(self, path: str, format: ReadFormat = "text") -> str | bytes:
        _check_format(format)
        data = await self._transport.send(_ops.read_file(self._machine_id, path))
        return data if format == "bytes" else _ops.decode_text(data)

    async def write(
        self,
        path: str,
        data: str | bytes,
        *,
        user: str | None = None,
        mode: int | str | None = None,
    ) -> EntryInfo:
        return await self._transport.send(
            _ops.write_file(self._machine_id, path, data, user=user, mode=mode)
        )

    async def write_files(
        self, files: Iterable[WriteFilesInput], *, user: str | None = None
    ) -> EntryList:
        return await self._transport.send(_ops.write_files(self._machine_id, files, user=user))

    async def list(self, path: str, depth: int = 1) -> EntryList:
        return await self._transport.send(_ops.list_files(self._machine_id, path, depth))

    async def exists(self, path: str) -> bool:
        return await self._transport.send(_ops.file_exists(self._machine_id, path))

    async def get_info(self, path: str) -> EntryInfo:
        return await self._transport.send(_ops.file_info(self._machine_id, path))

    async def make_dir(self, path: str, *, user: str | None = None) -> bool:
        return await self._transport.send(_ops.make_dir(self._machine_id, path, user=user))

    async def rename(self, old_path: str, new_path: str) -> EntryInfo:
        return await self._transport.send(_ops.rename_file(self._machine_id, old_path, new_path))

    async def remove(self, path: str, *, recursive: bool = True) -> None:
        await self._transport.send(_ops.remove_file(self._machine_id, path, recursive=recursive))

    async def chmod(self, path: str, mode: int | str) -> EntryInfo:
        return await self._transport.send(_ops.chmod_file(self._machine_id, path, mode))
