"""``machine.files`` of an :class:`~nullspace.AsyncMachine`: the methods of
:class:`~nullspace.Filesystem` (documented there), awaited. Requests and decoding come
from :mod:`nullspace._ops`, local transfers from :mod:`nullspace._transfer` and
:mod:`nullspace._bulk`, resumable uploads from :mod:`nullspace._resumable` and
watches from :mod:`nullspace.watch`, as for the sync flavour; local disk work runs in
worker threads, and progress or event callbacks that return awaitables are awaited.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable, Sequence
from typing import Literal, overload

from . import _bulk, _ops, _resumable, _transfer
from ._ops import DEFAULT_USER, ConflictPolicy, WriteFilesInput
from ._resumable import DEFAULT_CONCURRENCY
from ._transfer import (
    DownloadDestination,
    DownloadProgressCallback,
    UploadProgressCallback,
    UploadSource,
)
from ._transport import AsyncTransport
from .errors import FileUploadError, InvalidArgumentError
from .files import EntryList, ReadFormat, check_format
from .models import (
    DownloadResult,
    EntryInfo,
    FindResult,
    ReplaceResult,
    SignedUrl,
    SignedUrlMethod,
    UploadResult,
    UploadSession,
)
from .watch import AsyncWatchHandle, EventCallback

__all__ = ["AsyncFilesystem"]


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
        check_format(format)
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
        resumable: bool | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        chunk_size: int | None = None,
        expires_in: int | None = None,
    ) -> UploadResult:
        """:meth:`Filesystem.upload_file`; the source is read in worker threads, and a
        ``progress`` coroutine is awaited."""
        job = _bulk.resumable_file(
            self._machine_id,
            source,
            path,
            resumable=resumable,
            user=user,
            mode=mode,
            progress=progress,
            concurrency=concurrency,
            chunk_size=chunk_size,
            expires_in=expires_in,
        )
        if job is not None:
            try:
                return await _resumable.send_async(self._transport, job)
            finally:
                job.source.close()
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

    async def upload_dir(
        self,
        src_dir: str | os.PathLike[str],
        dest: str | None = None,
        *,
        ignore_patterns: Sequence[str] | None = None,
        conflict: ConflictPolicy = "merge",
        resumable: bool | None = None,
        progress: UploadProgressCallback | None = None,
        user: str = DEFAULT_USER,
        concurrency: int = DEFAULT_CONCURRENCY,
        chunk_size: int | None = None,
        expires_in: int | None = None,
    ) -> UploadResult:
        """:meth:`Filesystem.upload_dir`; the walk and the reads run in worker threads."""
        directory = await asyncio.to_thread(
            _bulk.DirectoryUpload.prepare,
            src_dir,
            dest,
            ignore_patterns=ignore_patterns,
            conflict=conflict,
            progress=progress,
        )
        if directory.wants_resumable(resumable):
            job = await asyncio.to_thread(
                directory.resumable_job,
                self._machine_id,
                user=user,
                concurrency=concurrency,
                chunk_size=chunk_size,
                expires_in=expires_in,
            )
            try:
                return await _resumable.send_async(self._transport, job)
            finally:
                job.source.close()
        op = _ops.put_archive(
            self._machine_id, directory.target, directory.achunks(), conflict=conflict, user=user
        )
        return await directory.afinish(await self._transport.send(op))

    async def upload(
        self,
        source: UploadSource,
        dest: str | None = None,
        *,
        ignore_patterns: Sequence[str] | None = None,
        conflict: ConflictPolicy = "merge",
        resumable: bool | None = None,
        progress: UploadProgressCallback | None = None,
        user: str = DEFAULT_USER,
        mode: int | str | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        chunk_size: int | None = None,
        expires_in: int | None = None,
    ) -> UploadResult:
        """:meth:`Filesystem.upload`."""
        if _bulk.is_directory(source):
            if mode is not None:
                raise InvalidArgumentError("bad_request", "mode is for file uploads")
            return await self.upload_dir(
                os.fspath(source),  # type: ignore[arg-type]  # a path, checked above
                dest,
                ignore_patterns=ignore_patterns,
                conflict=conflict,
                resumable=resumable,
                progress=progress,
                user=user,
                concurrency=concurrency,
                chunk_size=chunk_size,
                expires_in=expires_in,
            )
        if ignore_patterns is not None or conflict != "merge":
            raise InvalidArgumentError(
                "bad_request", "ignore_patterns and conflict are for directory uploads"
            )
        return await self.upload_file(
            source,
            dest,
            user=user,
            mode=mode,
            progress=progress,
            resumable=resumable,
            concurrency=concurrency,
            chunk_size=chunk_size,
            expires_in=expires_in,
        )

    async def resume_upload(
        self,
        upload_id: str,
        source: UploadSource,
        *,
        progress: UploadProgressCallback | None = None,
        ignore_patterns: Sequence[str] | None = None,
        user: str = DEFAULT_USER,
        concurrency: int = DEFAULT_CONCURRENCY,
    ) -> UploadResult:
        """:meth:`Filesystem.resume_upload`."""
        session = await self.get_upload(upload_id)
        job = await asyncio.to_thread(
            _bulk.resume_job,
            self._machine_id,
            session,
            source,
            ignore_patterns=ignore_patterns,
            progress=progress,
            concurrency=concurrency,
            user=user,
        )
        try:
            return await _resumable.send_async(self._transport, job, session)
        finally:
            job.source.close()

    async def get_upload(self, upload_id: str) -> UploadSession:
        try:
            return await self._transport.send(_ops.get_upload(self._machine_id, upload_id))
        except FileUploadError as err:
            err.upload_id = upload_id
            raise

    async def abort_upload(self, upload_id: str) -> bool:
        return await self._transport.send(_ops.abort_upload(self._machine_id, upload_id))

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

    async def download(
        self,
        path: str,
        dest: DownloadDestination,
        *,
        user: str = DEFAULT_USER,
        progress: DownloadProgressCallback | None = None,
    ) -> DownloadResult:
        return await self.download_file(path, dest, user=user, progress=progress)

    async def download_dir(
        self,
        path: str,
        dest_dir: str | os.PathLike[str],
        *,
        user: str = DEFAULT_USER,
        progress: DownloadProgressCallback | None = None,
    ) -> DownloadResult:
        """:meth:`Filesystem.download_dir`; staging and unpacking run in worker
        threads."""
        op = _ops.get_archive(self._machine_id, path, user=user)
        download = await asyncio.to_thread(
            _bulk.ArchiveDownload, path, os.fspath(dest_dir), progress
        )
        try:
            await self._transport.receive(op, download.atake)
            return await download.afinish()
        finally:
            download.close()

    async def search_files(
        self, path: str, pattern: str, *, limit: int | None = None, user: str = DEFAULT_USER
    ) -> EntryList:
        op = _ops.search_files(self._machine_id, path, pattern, limit=limit, user=user)
        return await self._transport.send(op)

    async def find_files(
        self,
        path: str,
        pattern: str,
        *,
        regex: bool = False,
        case_sensitive: bool = True,
        include: str | None = None,
        max_results: int | None = None,
        max_file_bytes: int | None = None,
        user: str = DEFAULT_USER,
    ) -> FindResult:
        op = _ops.find_files(
            self._machine_id,
            path,
            pattern,
            regex=regex,
            case_sensitive=case_sensitive,
            include=include,
            max_results=max_results,
            max_file_bytes=max_file_bytes,
            user=user,
        )
        return await self._transport.send(op)

    async def replace_in_files(
        self,
        find: str,
        replace: str,
        paths: str | Sequence[str],
        *,
        regex: bool = False,
        case_sensitive: bool = True,
        include: str | None = None,
        dry_run: bool = False,
        max_files: int | None = None,
        user: str = DEFAULT_USER,
    ) -> ReplaceResult:
        op = _ops.replace_in_files(
            self._machine_id,
            find,
            replace,
            paths,
            regex=regex,
            case_sensitive=case_sensitive,
            include=include,
            dry_run=dry_run,
            max_files=max_files,
            user=user,
        )
        return await self._transport.send(op)

    async def watch_dir(
        self,
        path: str,
        *,
        recursive: bool = False,
        timeout: float | None = None,
        on_event: EventCallback | None = None,
        user: str = DEFAULT_USER,
    ) -> AsyncWatchHandle:
        """:meth:`Filesystem.watch_dir`: ``async for event in watch``; ``on_event`` runs
        in the handle's task (awaited if it returns an awaitable)."""
        return await AsyncWatchHandle.open(
            self._transport.config,
            self._machine_id,
            path,
            recursive=recursive,
            timeout=timeout,
            user=user,
            on_event=on_event,
        )

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
