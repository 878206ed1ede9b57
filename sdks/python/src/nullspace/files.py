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

Large files and whole directories: :meth:`Filesystem.upload` sends a file or a
directory; a source of a known length over
:data:`~nullspace._resumable.RESUMABLE_THRESHOLD` (64 MiB), or any source with
``resumable=True``, goes as a resumable upload (chunks in parallel, each retried, the
whole checked by SHA-256) that :meth:`Filesystem.resume_upload` continues after a
failure. Directories travel as tar streams (:mod:`nullspace._bulk`). Searching,
replacing and watching happen inside the machine (:mod:`nullspace._search_ops`,
:mod:`nullspace.watch`).

:class:`AsyncFilesystem` (in :mod:`nullspace.async_files`) has the same methods over
the same cores; only the sending differs.
"""

from __future__ import annotations

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
from ._transport import SyncTransport
from .errors import FileUploadError, InvalidArgumentError
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
from .watch import EventCallback, WatchHandle

__all__ = ["EntryList", "Filesystem", "ReadFormat", "WriteFilesInput", "check_format"]

ReadFormat = Literal["text", "bytes"]
EntryList = list[EntryInfo]  # module-level: ``list`` is a method name in the classes


def check_format(format: str) -> None:
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
        check_format(format)
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
        resumable: bool | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        chunk_size: int | None = None,
        expires_in: int | None = None,
    ) -> UploadResult:
        """Upload a local file (a path) or a binary stream (``read(n) -> bytes``, read
        from where it stands) to ``path``: never read whole into memory. ``path``
        defaults to the source file's name under ``/workspace``; a stream without a
        name needs one (else :class:`~nullspace.InvalidArgumentError`). Written as
        ``write`` writes (atomically, parents created, owned by ``user``).

        A source of a known length over 64 MiB
        (:data:`~nullspace._resumable.RESUMABLE_THRESHOLD`) goes as a **resumable**
        upload (``result.transport == "resumable"``), as does any source with
        ``resumable=True`` (a stream of unknown length is then copied to a temporary
        file first); ``resumable=False`` always sends one direct request. A resumable
        upload sends ``chunk_size`` chunks (default 8 MiB), ``concurrency`` at a time,
        each checked by its SHA-256 and tried up to three times; the server checks the
        SHA-256 of the whole before the file appears. If it fails after its session
        opened, it raises a :class:`~nullspace.FileUploadError` whose ``upload_id``
        :meth:`resume_upload` takes to send only what is missing; a session lives
        ``expires_in`` seconds (default 24 hours).

        A direct upload streams 1 MiB chunks to ``PUT /files``: over 16 GiB it is
        refused (:class:`~nullspace.InvalidArgumentError` ``payload_too_large``), and a
        connection lost raises :class:`~nullspace.ServerError` ``connection_error``
        saying how far it got. ``progress`` is called with an
        :class:`~nullspace.UploadProgress` (``phase``, ``bytes_completed``,
        ``bytes_total``, ``transport``) as the upload goes and once done (during a
        resumable upload, from its worker threads, one call at a time)."""
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
                return _resumable.send_sync(self._transport, job)
            finally:
                job.source.close()
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

    def upload_dir(
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
        """Upload the local directory ``src_dir`` into ``dest`` (default: its name
        under ``/workspace``) as a tar stream made as it is sent; the result has
        ``kind="directory"`` and ``file_count``.

        ``.nullspaceignore`` at the source's root is read first, then
        ``ignore_patterns``, both in gitignore syntax (``*.pyc``, ``!keep.pyc``,
        ``build/``, ``/top-only``, ``docs/**/*.md``); nothing else is left out (``.git``
        and other dot-directories go unless a pattern names them). Symlinks stay
        symlinks. ``conflict`` is what happens to what is already at ``dest``:
        ``merge`` (default), ``skip``, ``replace`` or ``error``.

        An archive over 64 MiB, or any with ``resumable=True``, is written to a
        temporary file and sent as a resumable upload (see :meth:`upload_file`);
        continue a failed one with ``resume_upload(upload_id, src_dir)`` and the same
        ``ignore_patterns``."""
        directory = _bulk.DirectoryUpload.prepare(
            src_dir, dest, ignore_patterns=ignore_patterns, conflict=conflict, progress=progress
        )
        if directory.wants_resumable(resumable):
            job = directory.resumable_job(
                self._machine_id,
                user=user,
                concurrency=concurrency,
                chunk_size=chunk_size,
                expires_in=expires_in,
            )
            try:
                return _resumable.send_sync(self._transport, job)
            finally:
                job.source.close()
        op = _ops.put_archive(
            self._machine_id, directory.target, directory.chunks(), conflict=conflict, user=user
        )
        return directory.finish(self._transport.send(op))

    def upload(
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
        """Upload ``source``: a local directory goes to :meth:`upload_dir` (with
        ``ignore_patterns`` and ``conflict``), a local file or a binary stream to
        :meth:`upload_file` (with ``mode``)."""
        if _bulk.is_directory(source):
            if mode is not None:
                raise InvalidArgumentError("bad_request", "mode is for file uploads")
            return self.upload_dir(
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
        return self.upload_file(
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

    def resume_upload(
        self,
        upload_id: str,
        source: UploadSource,
        *,
        progress: UploadProgressCallback | None = None,
        ignore_patterns: Sequence[str] | None = None,
        user: str = DEFAULT_USER,
        concurrency: int = DEFAULT_CONCURRENCY,
    ) -> UploadResult:
        """Continue the resumable upload ``upload_id`` (a
        :class:`~nullspace.FileUploadError`'s ``upload_id``) from the same ``source``:
        the session is read back, only the chunks the server lacks are sent, then it
        completes. A directory is packed again (give the same ``ignore_patterns``);
        content that changed since is refused by its size
        (:class:`~nullspace.FileUploadError` ``source_changed``) or its SHA-256
        (:class:`~nullspace.UploadChecksumError`). An expired session raises
        :class:`~nullspace.UploadExpiredError`, a finished one
        :class:`~nullspace.UploadStateError`."""
        session = self.get_upload(upload_id)
        job = _bulk.resume_job(
            self._machine_id,
            session,
            source,
            ignore_patterns=ignore_patterns,
            progress=progress,
            concurrency=concurrency,
            user=user,
        )
        try:
            return _resumable.send_sync(self._transport, job, session)
        finally:
            job.source.close()

    def get_upload(self, upload_id: str) -> UploadSession:
        """The resumable upload session ``upload_id``: its state, and which chunks the
        server holds."""
        try:
            return self._transport.send(_ops.get_upload(self._machine_id, upload_id))
        except FileUploadError as err:
            err.upload_id = upload_id
            raise

    def abort_upload(self, upload_id: str) -> bool:
        """Drop a resumable upload session and its staged bytes: ``True`` when aborted
        now, ``False`` when there was no such session."""
        return self._transport.send(_ops.abort_upload(self._machine_id, upload_id))

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

    def download(
        self,
        path: str,
        dest: DownloadDestination,
        *,
        user: str = DEFAULT_USER,
        progress: DownloadProgressCallback | None = None,
    ) -> DownloadResult:
        """Save the file at ``path`` to ``dest``: :meth:`download_file`."""
        return self.download_file(path, dest, user=user, progress=progress)

    def download_dir(
        self,
        path: str,
        dest_dir: str | os.PathLike[str],
        *,
        user: str = DEFAULT_USER,
        progress: DownloadProgressCallback | None = None,
    ) -> DownloadResult:
        """Save the directory at ``path`` into the local ``dest_dir`` (created if
        missing; what is there and not in the archive is kept). The tar stream of
        ``GET …/files/archive`` is staged in a temporary file beside ``dest_dir``,
        every entry is checked, then it is unpacked: an entry with an absolute path,
        ``..``, or one that would be written through a symlink raises
        :class:`~nullspace.InvalidArgumentError` ``path_escapes_root`` and nothing is
        written. Symlinks are kept as symlinks."""
        op = _ops.get_archive(self._machine_id, path, user=user)
        download = _bulk.ArchiveDownload(path, os.fspath(dest_dir), progress)
        try:
            self._transport.receive(op, download.take)
            return download.finish()
        finally:
            download.close()

    # -- search, replace, watch --------------------------------------------------

    def search_files(
        self, path: str, pattern: str, *, limit: int | None = None, user: str = DEFAULT_USER
    ) -> EntryList:
        """Entries under the directory ``path`` whose name matches the glob
        ``pattern`` (``*.py``), or whose path relative to ``path`` does when the
        pattern has a ``/`` (``src/**/*.rs``). ``*`` and ``?`` do not cross ``/``;
        ``**``, ``[abc]`` and ``{a,b}`` work; hidden entries are included; symlinks are
        listed, not followed. At most ``limit`` entries (default 1000, at most
        10 000). A bad glob raises :class:`~nullspace.InvalidPatternError`."""
        op = _ops.search_files(self._machine_id, path, pattern, limit=limit, user=user)
        return self._transport.send(op)

    def find_files(
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
        """Lines containing ``pattern`` (a literal, or with ``regex=True`` a regular
        expression in Rust ``regex`` syntax) in the files under ``path`` (or the one
        file), each a :class:`~nullspace.FindMatch` (``path``, 1-based ``line`` and
        byte ``column``, the line's ``text``). ``include`` is a glob on names a file
        must match; binary files and files over ``max_file_bytes`` (default 10 MiB) are
        skipped; at most ``max_results`` matches (default 1000), ``truncated`` saying
        there were more."""
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
        return self._transport.send(op)

    def replace_in_files(
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
        """Replace ``find`` with ``replace`` in ``paths`` (a path or a list: files, or
        directories walked recursively, their files filtered by the ``include`` glob).
        With ``regex=True``, ``$1`` / ``${name}`` in ``replace`` are groups. Each
        changed file is rewritten atomically, keeping its mode and owner; ``dry_run``
        counts without writing. The result lists each file's ``replacements``. A bad
        regex raises :class:`~nullspace.InvalidPatternError`; a missing path,
        :class:`~nullspace.NotFoundError`."""
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
        return self._transport.send(op)

    def watch_dir(
        self,
        path: str,
        *,
        recursive: bool = False,
        timeout: float | None = None,
        on_event: EventCallback | None = None,
        user: str = DEFAULT_USER,
    ) -> WatchHandle:
        """Watch the directory ``path`` (and, with ``recursive``, everything under it,
        directories made later too): a :class:`~nullspace.WatchHandle` whose events
        (:class:`~nullspace.FilesystemEvent`: ``kind`` create / write / remove / rename
        / chmod, ``path``, ``is_dir``) come by iteration, by
        :meth:`~nullspace.WatchHandle.get_new_events` and to ``on_event`` (run in the
        handle's thread). Returns once the watch is in place. The server ends it after
        ``timeout`` seconds (default: never; stop it with ``stop()`` or a ``with``
        block). A missing path raises :class:`~nullspace.NotFoundError`, a file
        :class:`~nullspace.InvalidArgumentError` ``wrong_entry_type``."""
        return WatchHandle.open(
            self._transport.config,
            self._machine_id,
            path,
            recursive=recursive,
            timeout=timeout,
            user=user,
            on_event=on_event,
        )

    # -- signed URLs -------------------------------------------------------------

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
