"""``machine.files``: the machine's filesystem (sync and async flavours).

Relative paths are resolved by the server against ``/workspace``. Every operation has
the rights of a guest ``user`` (default ``"user"``; root must be named,
``user="root"``): what that user may not do raises
:class:`~nullspace.FilesystemError` ``permission_denied``. Both classes are thin:
requests and decoding come from :mod:`nullspace._ops`, and the local side of uploads
and downloads (naming, staging, counting, progress) from :mod:`nullspace._transfer`.

Signed URLs (:meth:`Filesystem.download_url`, :meth:`Filesystem.upload_url`) hand one
file to something without the API key (a browser, ``curl``, another service): the URL
carries its own expiring grant, for one method and one file.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, overload

from . import _ops, _transfer
from ._ops import DEFAULT_USER, WriteFilesInput
from ._transfer import (
    DownloadDestination,
    DownloadProgressCallback,
    UploadProgressCallback,
    UploadSource,
)
from ._transport import AsyncTransport, SyncTransport
from .errors import InvalidArgumentError
from .models import DownloadResult, EntryInfo, SignedUrl, SignedUrlMethod, UploadResult

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
        ``offset``. The whole answer is held in memory: save a large file with
        :meth:`download_file`. An answer cut short raises
        :class:`~nullspace.ServerError` ``connection_error``."""
        _check_format(format)
        op = _ops.read_file(self._machine_id, path, user=user, offset=offset, limit=limit)
        chunks: list[bytes] = []
        self._transport.receive(op, chunks.append)
        return _ops.decode_read(chunks, format)

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

    def upload_file(
        self,
        source: UploadSource,
        path: str | None = None,
        *,
        user: str = DEFAULT_USER,
        mode: int | str | None = None,
        progress: UploadProgressCallback | None = None,
    ) -> UploadResult:
        """Upload a local file (a path) or a binary stream (``read(n) -> bytes``, read
        from where it stands) to ``path``, streamed in 1 MiB chunks: never read whole.
        ``path`` defaults to the source file's name under ``/workspace``; a stream
        without a name needs one (else :class:`~nullspace.InvalidArgumentError`).

        Written as ``write`` writes (atomically, parents created, owned by ``user``).
        A source over 16 GiB is refused (:class:`~nullspace.InvalidArgumentError`
        ``payload_too_large``: before sending when its length is known, by the server
        otherwise). A connection lost mid-upload raises
        :class:`~nullspace.ServerError` ``connection_error`` saying how far it got.
        ``progress`` is called with an :class:`~nullspace.UploadProgress` after each
        chunk and once done."""
        with _transfer.open_upload(source, path, progress) as upload:
            op = _ops.upload_file(
                self._machine_id,
                upload.target,
                upload.chunks(),
                size=upload.total,
                user=user,
                mode=mode,
            )
            return upload.finish(self._transport.send(op))

    def download_file(
        self,
        path: str,
        destination: DownloadDestination,
        *,
        user: str = DEFAULT_USER,
        progress: DownloadProgressCallback | None = None,
    ) -> DownloadResult:
        """Save the file at ``path`` to ``destination``, streamed as it arrives: a local
        path (written under a temporary name beside it and renamed into place once
        complete, so a download cut short leaves nothing there) or a binary stream
        (``write(bytes)``; not closed, and it keeps what arrived). A download cut
        short raises :class:`~nullspace.ServerError` ``connection_error``
        (:class:`~nullspace.TimeoutError` when it stalled). ``progress`` is called
        with a :class:`~nullspace.DownloadProgress` after each chunk and once done."""
        op = _ops.read_file(self._machine_id, path, user=user)
        with _transfer.open_download(path, destination, progress) as download:
            self._transport.receive(op, download.take)
            return download.finish()

    def signed_url(
        self,
        path: str,
        method: SignedUrlMethod,
        *,
        user: str = DEFAULT_USER,
        expires_in: int | None = None,
    ) -> SignedUrl:
        """A :class:`~nullspace.SignedUrl` for ``path``: ``method="GET"`` downloads the
        file (streamed, as :meth:`download_file` reads it), ``"PUT"`` writes the
        request's body to it (as :meth:`write` writes), each with ``user``'s rights and
        no API key. The URL answers only its own method, and 401 once ``expires_in``
        seconds (1 to 604800, i.e. 7 days; default one hour) have passed. A bad
        ``expires_in`` raises :class:`~nullspace.InvalidArgumentError` before any
        request; a machine not running, :class:`~nullspace.MachineError`."""
        op = _ops.signed_file_url(self._machine_id, path, method, user=user, expires_in=expires_in)
        return self._transport.send(op)

    def download_url(
        self, path: str, *, user: str = DEFAULT_USER, expires_in: int | None = None
    ) -> str:
        """A URL that downloads ``path`` with a plain ``GET`` (see :meth:`signed_url`)."""
        return self.signed_url(path, "GET", user=user, expires_in=expires_in).url

    def upload_url(
        self, path: str, *, user: str = DEFAULT_USER, expires_in: int | None = None
    ) -> str:
        """A URL that writes ``path`` with a plain ``PUT`` of the bytes (see
        :meth:`signed_url`)."""
        return self.signed_url(path, "PUT", user=user, expires_in=expires_in).url

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
        chunks: list[bytes] = []

        async def take(chunk: bytes) -> None:
            chunks.append(chunk)

        await self._transport.receive(op, take)
        return _ops.decode_read(chunks, format)

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

    async def upload_file(
        self,
        source: UploadSource,
        path: str | None = None,
        *,
        user: str = DEFAULT_USER,
        mode: int | str | None = None,
        progress: UploadProgressCallback | None = None,
    ) -> UploadResult:
        """:meth:`Filesystem.upload_file`; the source is read in a worker thread, and a
        ``progress`` coroutine is awaited."""
        with _transfer.open_upload(source, path, progress) as upload:
            op = _ops.upload_file(
                self._machine_id,
                upload.target,
                upload.achunks(),
                size=upload.total,
                user=user,
                mode=mode,
            )
            return await upload.afinish(await self._transport.send(op))

    async def download_file(
        self,
        path: str,
        destination: DownloadDestination,
        *,
        user: str = DEFAULT_USER,
        progress: DownloadProgressCallback | None = None,
    ) -> DownloadResult:
        """:meth:`Filesystem.download_file`; the destination is written in a worker
        thread, and a ``progress`` coroutine is awaited."""
        op = _ops.read_file(self._machine_id, path, user=user)
        with _transfer.open_download(path, destination, progress) as download:
            await self._transport.receive(op, download.atake)
            return await download.afinish()

    async def signed_url(
        self,
        path: str,
        method: SignedUrlMethod,
        *,
        user: str = DEFAULT_USER,
        expires_in: int | None = None,
    ) -> SignedUrl:
        op = _ops.signed_file_url(self._machine_id, path, method, user=user, expires_in=expires_in)
        return await self._transport.send(op)

    async def download_url(
        self, path: str, *, user: str = DEFAULT_USER, expires_in: int | None = None
    ) -> str:
        return (await self.signed_url(path, "GET", user=user, expires_in=expires_in)).url

    async def upload_url(
        self, path: str, *, user: str = DEFAULT_USER, expires_in: int | None = None
    ) -> str:
        return (await self.signed_url(path, "PUT", user=user, expires_in=expires_in)).url

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
