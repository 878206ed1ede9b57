"""Directory transfers and the choice of a resumable upload, for both flavours.

A directory upload walks its source (:func:`nullspace._tar.walk`, with the rules of
:mod:`nullspace._ignore`) and sends it as a tar stream: directly, made as it is sent
(``PUT /files/archive``), or, when large or asked for, written to a temporary file and
sent as a resumable ``archive`` session. A directory download receives the tar stream
of ``GET /files/archive`` into a temporary file beside the destination, then unpacks
it with the checks of :mod:`nullspace._untar` (a bad entry writes nothing).

:func:`resumable_file` decides whether a file upload goes resumable
(:data:`~nullspace._resumable.RESUMABLE_THRESHOLD`) and prepares it. Nothing here
sends: the flavours do.
"""

from __future__ import annotations

import asyncio
import os
import posixpath
import tempfile
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any, BinaryIO, cast

from . import _upload_ops
from ._ignore import IgnoreRules
from ._resumable import RESUMABLE_THRESHOLD, ChunkSource, ResumableUpload
from ._tar import TarStream, Tree, read_ignore_file, walk
from ._transfer import (
    DEFAULT_UPLOAD_DIR,
    Download,
    DownloadProgressCallback,
    UploadProgressCallback,
    UploadSource,
    _settle,
    is_path,
    remaining,
)
from ._untar import extract
from .errors import FileUploadError, InvalidArgumentError
from .models import ArchiveInfo, DownloadResult, UploadProgress, UploadResult, UploadSession

__all__ = [
    "ArchiveDownload",
    "DirectoryUpload",
    "is_directory",
    "resumable_file",
    "resume_job",
]


def is_directory(source: object) -> bool:
    """Whether ``source`` names a local directory (``upload`` sends it as one)."""
    return is_path(source) and os.path.isdir(os.fspath(cast(str, source)))


def _wants_resumable(resumable: bool | None, size: int | None) -> bool:
    if resumable is not None:
        if not isinstance(resumable, bool):
            raise InvalidArgumentError("bad_request", "resumable must be True, False or None")
        return resumable
    return size is not None and size > RESUMABLE_THRESHOLD


def _target(name: str | None, path: str | None) -> str:
    if path is not None:
        if not isinstance(path, str) or not path:
            raise InvalidArgumentError("bad_request", "path must be a non-empty string")
        return path
    if not name:
        raise InvalidArgumentError(
            "bad_request",
            "give the destination path: the stream has no file name to upload it under",
        )
    return posixpath.join(DEFAULT_UPLOAD_DIR, name)


def _open_source(source: UploadSource) -> ChunkSource:
    if is_path(source):
        local = os.fspath(cast(str, source))
        if os.path.isdir(local):
            raise InvalidArgumentError(
                "bad_request", f"{local} is a directory: upload it with upload_dir"
            )
        return ChunkSource.from_path(local)
    if callable(getattr(source, "read", None)) and not isinstance(source, str | bytes):
        return ChunkSource.from_stream(source, remaining(source))
    raise InvalidArgumentError(
        "bad_request",
        f"an upload takes a local path or a binary stream, not {type(source).__name__}",
    )


def resumable_file(
    machine_id: str,
    source: UploadSource,
    path: str | None,
    *,
    resumable: bool | None,
    user: str,
    mode: int | str | None,
    progress: UploadProgressCallback | None,
    concurrency: int,
    chunk_size: int | None,
    expires_in: int | None,
) -> ResumableUpload | None:
    """The resumable upload of a file source, or ``None`` when it goes directly:
    ``resumable`` ``None`` picks resumable above the threshold for a known length."""
    if resumable is None:
        if is_path(source):
            local = os.fspath(cast(str, source))
            size = os.stat(local).st_size if os.path.isfile(local) else None
        else:
            size = remaining(source)
        if not _wants_resumable(None, size):
            return None
    elif not _wants_resumable(resumable, None):
        return None
    chunk_source = _open_source(source)
    try:
        return ResumableUpload(
            machine_id,
            chunk_source,
            _target(chunk_source.name, path),
            user=user,
            mode=mode,
            chunk_size=chunk_size,
            concurrency=concurrency,
            expires_in=expires_in,
            progress=progress,
        )
    except BaseException:
        chunk_source.close()
        raise


def resume_job(
    machine_id: str,
    session: UploadSession,
    source: UploadSource,
    *,
    ignore_patterns: Iterable[str] | None,
    progress: UploadProgressCallback | None,
    concurrency: int,
    user: str,
) -> ResumableUpload:
    """The upload that continues ``session`` from ``source``: the same file, or the
    same directory (packed again with the same ignore rules)."""
    if session.kind == "archive":
        if not is_directory(source):
            raise FileUploadError(
                "bad_request",
                f"upload {session.upload_id} is of a directory: give the same source directory",
                upload_id=session.upload_id,
            )
        directory = DirectoryUpload.prepare(
            source, session.path, ignore_patterns=ignore_patterns, progress=progress
        )
        return directory.resumable_job(
            machine_id, user=user, concurrency=concurrency, chunk_size=None, expires_in=None
        )
    chunk_source = _open_source(source)
    try:
        return ResumableUpload(
            machine_id,
            chunk_source,
            session.path,
            user=user,
            concurrency=concurrency,
            progress=progress,
        )
    except BaseException:
        chunk_source.close()
        raise


class DirectoryUpload:
    """One directory upload: what goes, where, and its progress."""

    def __init__(
        self,
        tree: Tree,
        target: str,
        conflict: str,
        progress: UploadProgressCallback | None,
    ) -> None:
        self.tree = tree
        self.target = target
        self.conflict = conflict
        self.stream = TarStream(tree)
        self.sent = 0
        self._progress = progress

    @classmethod
    def prepare(
        cls,
        source: UploadSource,
        dest: str | None,
        *,
        ignore_patterns: Iterable[str] | None = None,
        conflict: str = "merge",
        progress: UploadProgressCallback | None = None,
    ) -> DirectoryUpload:
        """Walk ``source`` (a local directory): ``.nullspaceignore`` at its root first,
        then ``ignore_patterns``. ``dest`` defaults to its name under ``/workspace``."""
        if not is_directory(source):
            raise InvalidArgumentError(
                "bad_request", f"upload_dir takes a local directory, not {source!r}"
            )
        root = os.fspath(cast(str, source))
        _upload_ops.conflict_policy(conflict)
        rules = IgnoreRules.for_upload(read_ignore_file(root), ignore_patterns)
        name = os.path.basename(os.path.normpath(os.path.abspath(root)))
        target = _target(name or None, dest)
        return cls(walk(root, rules), target, conflict, progress)

    def wants_resumable(self, resumable: bool | None) -> bool:
        return _wants_resumable(resumable, self.stream.total)

    # -- direct ------------------------------------------------------------------

    def _report(self, phase: str) -> object:
        if self._progress is None:
            return None
        event = UploadProgress.model_validate(
            {"phase": phase, "bytes_completed": self.sent, "bytes_total": self.stream.total}
        )
        return self._progress(event)

    def chunks(self) -> Iterator[bytes]:
        for chunk in self.stream.chunks():
            yield chunk
            self.sent += len(chunk)
            self._report("uploading")

    async def achunks(self) -> AsyncIterator[bytes]:
        async for chunk in self.stream.achunks():
            yield chunk
            self.sent += len(chunk)
            await _settle(self._report("uploading"))

    def _result(self, archive: ArchiveInfo) -> UploadResult:
        return UploadResult(
            transport="direct",
            target_path=archive.path,
            bytes_uploaded=self.sent,
            kind="directory",
            file_count=archive.files,
            archive=archive,
        )

    def finish(self, archive: ArchiveInfo) -> UploadResult:
        result = self._result(archive)
        self._report("done")
        return result

    async def afinish(self, archive: ArchiveInfo) -> UploadResult:
        result = self._result(archive)
        await _settle(self._report("done"))
        return result

    # -- resumable ---------------------------------------------------------------

    def resumable_job(
        self,
        machine_id: str,
        *,
        user: str,
        concurrency: int,
        chunk_size: int | None,
        expires_in: int | None,
    ) -> ResumableUpload:
        """The archive written to a temporary file, as a resumable ``archive`` upload
        (the caller closes ``job.source``)."""
        source = ChunkSource.from_archive(self.stream)
        try:
            return ResumableUpload(
                machine_id,
                source,
                self.target,
                kind="archive",
                result_kind="directory",
                user=user,
                conflict=self.conflict,
                chunk_size=chunk_size,
                concurrency=concurrency,
                expires_in=expires_in,
                progress=self._progress,
                file_count=self.tree.file_count,
            )
        except BaseException:
            source.close()
            raise


class ArchiveDownload:
    """One directory download: the tar stream staged in a temporary file beside
    ``dest_dir``, unpacked into it once complete."""

    def __init__(self, path: str, dest_dir: str, progress: DownloadProgressCallback | None):
        if os.path.exists(dest_dir) and not os.path.isdir(dest_dir):
            raise NotADirectoryError(f"the download destination is not a directory: {dest_dir}")
        self.path = path
        self.dest_dir = dest_dir
        parent = os.path.dirname(os.path.abspath(dest_dir))
        os.makedirs(parent, exist_ok=True)
        self._spool = cast(BinaryIO, tempfile.TemporaryFile(dir=parent))
        self._download = Download(path, self._spool, progress)

    @property
    def take(self) -> Callable[[bytes], None]:
        return self._download.take

    @property
    def atake(self) -> Callable[[bytes], Any]:
        return self._download.atake

    def _unpack(self) -> None:
        self._spool.flush()
        extract(self._spool, self.dest_dir)

    def _result(self, received: DownloadResult) -> DownloadResult:
        return DownloadResult(
            path=self.path, destination=self.dest_dir, bytes_downloaded=received.bytes_downloaded
        )

    def finish(self) -> DownloadResult:
        self._unpack()
        return self._result(self._download.finish())

    async def afinish(self) -> DownloadResult:
        await asyncio.to_thread(self._unpack)
        return self._result(await self._download.afinish())

    def close(self) -> None:
        self._spool.close()
