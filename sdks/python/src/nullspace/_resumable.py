"""Resumable uploads: a source sent as numbered chunks of an upload session.

A session (``POST /uploads``) declares the destination and the size; chunks
(``PUT …/chunks/{i}``) go in parallel, each checked by its SHA-256 and retried on its
own; completion (``POST …/complete``) sends the SHA-256 of the whole content, which
the client computed, and the server moves the file into place (or unpacks the
archive). A failure after the session opened raises a
:class:`~nullspace.FileUploadError` carrying its ``upload_id``; a resume reads the
session (``GET``), sends only the chunks it lacks and completes.

:class:`ResumableUpload` holds everything but the sending, once: the source and its
positional reads, the requests, which chunks remain, retries, progress and the
result. :func:`send_sync` and :func:`send_async` only send, in threads or tasks.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import os
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, BinaryIO, Literal, NoReturn, cast

from . import _upload_ops as ops
from ._tar import TarStream
from ._transport import CHUNK_BYTES, AsyncTransport, Operation, SyncTransport
from .errors import (
    FileUploadError,
    InvalidArgumentError,
    NullspaceError,
    RateLimitError,
    ServerError,
    TimeoutError,
    UploadChecksumError,
    UploadStateError,
)
from .models import UploadKind, UploadPhase, UploadProgress, UploadResult, UploadSession

__all__ = [
    "CHUNK_ATTEMPTS",
    "DEFAULT_CHUNK_BYTES",
    "DEFAULT_CONCURRENCY",
    "RESUMABLE_THRESHOLD",
    "ChunkSource",
    "ResumableUpload",
    "send_async",
    "send_sync",
]

RESUMABLE_THRESHOLD = 64 << 20
"""Sources of a known length above this many bytes (64 MiB) go as a resumable upload
unless ``resumable=False``; smaller ones, and streams of unknown length, as one
direct request unless ``resumable=True``."""

DEFAULT_CHUNK_BYTES = 8 << 20
"""Chunk size of a new session (8 MiB, the server's default)."""

DEFAULT_CONCURRENCY = 4
"""Chunks in flight at once."""

CHUNK_ATTEMPTS = 3
"""Tries of one chunk before the upload fails (a connection lost, a timeout, a
5xx, a 429 or a damaged chunk is tried again)."""

RETRY_DELAYS = (0.25, 1.0)
"""Seconds before the second and later tries of a chunk."""

ProgressCallback = Callable[[UploadProgress], object]


# ---------------------------------------------------------------------------
# the source


class ChunkSource:
    """``size`` bytes read by position: a local file, a seekable stream from where it
    stood, or a temporary file holding what could not be read twice (a pipe, a
    stream of unknown length, a directory's archive)."""

    def __init__(
        self,
        file: BinaryIO,
        start: int,
        size: int,
        *,
        owned: bool,
        name: str | None = None,
        sha256: str | None = None,
    ) -> None:
        self.size = size
        self.name = name
        """The source's file name, if it has one (a default destination)."""
        self._file = file
        self._start = start
        self._owned = owned
        self._sha256 = sha256
        self._lock = threading.Lock()
        self._fd: int | None = None
        if hasattr(os, "pread"):
            try:
                fd = file.fileno()
                if stat.S_ISREG(os.fstat(fd).st_mode):
                    self._fd = fd
            except (AttributeError, OSError, ValueError):
                pass

    @classmethod
    def from_path(cls, path: str) -> ChunkSource:
        f = open(path, "rb")  # closed by close()
        return cls(f, 0, os.fstat(f.fileno()).st_size, owned=True, name=os.path.basename(path))

    @classmethod
    def from_stream(cls, stream: Any, size: int | None) -> ChunkSource:
        """A stream read from where it stands; one whose remaining length is unknown
        (``size`` ``None``) or that cannot seek is first copied to a temporary file."""
        name = getattr(stream, "name", None)
        name = os.path.basename(name) if isinstance(name, str) and name else None
        seekable = False
        try:
            seekable = bool(stream.seekable())
        except (AttributeError, OSError, ValueError):
            pass
        if size is not None and seekable:
            return cls(cast(BinaryIO, stream), int(stream.tell()), size, owned=False, name=name)
        spool = cast(BinaryIO, tempfile.TemporaryFile())
        digest = hashlib.sha256()
        copied = 0
        try:
            while data := stream.read(CHUNK_BYTES):
                if not isinstance(data, bytes | bytearray | memoryview):
                    raise InvalidArgumentError("bad_request", "the source must be a binary stream")
                spool.write(data)
                digest.update(data)
                copied += len(data)
        except BaseException:
            spool.close()
            raise
        spool.flush()
        return cls(spool, 0, copied, owned=True, name=name, sha256=digest.hexdigest())

    @classmethod
    def from_archive(cls, tar: TarStream) -> ChunkSource:
        """A directory's archive, written whole to a temporary file first."""
        spool = cast(BinaryIO, tempfile.TemporaryFile())
        try:
            digest = tar.write_to(spool)
        except BaseException:
            spool.close()
            raise
        return cls(spool, 0, tar.total, owned=True, sha256=digest)

    def read(self, offset: int, length: int) -> bytes:
        """``length`` bytes from ``offset`` (of the source), or ``source_changed``."""
        if self._fd is not None:
            data = os.pread(self._fd, length, self._start + offset)
        else:
            with self._lock:
                self._file.seek(self._start + offset)
                data = self._file.read(length)
        if len(data) != length:
            raise InvalidArgumentError(
                "source_changed",
                f"the source changed while it was uploaded: {length} bytes at {offset} "
                f"read as {len(data)}",
            )
        return bytes(data)

    def sha256(self) -> str:
        """The SHA-256 of the whole source, hex (read once, then kept)."""
        if self._sha256 is None:
            digest = hashlib.sha256()
            for offset in range(0, self.size, CHUNK_BYTES):
                digest.update(self.read(offset, min(CHUNK_BYTES, self.size - offset)))
            self._sha256 = digest.hexdigest()
        return self._sha256

    def close(self) -> None:
        if self._owned:
            self._file.close()


# ---------------------------------------------------------------------------
# the upload


def _retryable(err: BaseException) -> bool:
    if isinstance(err, UploadChecksumError):  # the chunk was damaged on the way
        return True
    if isinstance(err, FileUploadError):
        return False
    return isinstance(err, ServerError | TimeoutError | RateLimitError)


class ResumableUpload:
    """One resumable upload: its source, session, what is left and its progress."""

    def __init__(
        self,
        machine_id: str,
        source: ChunkSource,
        target: str | None,
        *,
        kind: Literal["file", "archive"] = "file",
        result_kind: UploadKind = "file",
        user: str,
        mode: int | str | None = None,
        conflict: str | None = None,
        chunk_size: int | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        expires_in: int | None = None,
        progress: ProgressCallback | None = None,
        checksum_chunks: bool = True,
        file_count: int = 1,
    ) -> None:
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise InvalidArgumentError(
                "bad_request", f"concurrency must be >= 1, got {concurrency!r}"
            )
        self.machine_id = machine_id
        self.source = source
        self.target = target
        self.kind = kind
        self.result_kind: UploadKind = result_kind
        self.user = user
        self.mode = mode
        self.conflict = conflict
        self.chunk_size = chunk_size if chunk_size is not None else DEFAULT_CHUNK_BYTES
        self.concurrency = concurrency
        self.expires_in = expires_in
        self.checksum_chunks = checksum_chunks
        self.file_count = file_count
        self.upload_id: str | None = None
        self.session: UploadSession | None = None
        self.held = 0
        """Bytes the server held when this call began (a resume's head start)."""
        self.sent = 0
        """Bytes of chunks this call sent that the server took."""
        self.stopped = False
        """Set once a chunk failed for good: the others stop."""
        self._progress = progress
        self._lock = threading.Lock()

    # -- requests ---------------------------------------------------------------

    def create_op(self) -> Operation[UploadSession]:
        if self.target is None:
            raise InvalidArgumentError("bad_request", "a new upload needs its destination path")
        return ops.create_upload(
            self.machine_id,
            self.target,
            self.source.size,
            kind=self.kind,
            chunk_size=self.chunk_size,
            conflict=self.conflict,
            mode=self.mode,
            expires_in=self.expires_in,
            user=self.user,
        )

    def begin(self, session: UploadSession) -> list[int]:
        """Take the session (new or read back); the indexes of the chunks to send."""
        self.upload_id = session.upload_id
        self.session = session
        if session.state != "open":
            raise UploadStateError(
                "upload_state",
                f"upload {session.upload_id} is {session.state}: nothing is left to send",
                upload_id=session.upload_id,
            )
        if session.kind != self.kind:
            raise FileUploadError(
                "source_changed",
                f"upload {session.upload_id} is of an {session.kind}, not of a "
                f"{'directory' if self.kind == 'archive' else 'file'}",
                upload_id=session.upload_id,
            )
        if session.size != self.source.size:
            raise FileUploadError(
                "source_changed",
                f"upload {session.upload_id} is of {session.size} bytes, and the source now "
                f"has {self.source.size}: it is not the same content",
                upload_id=session.upload_id,
            )
        self.chunk_size = session.chunk_size
        self.target = session.path
        self.held = session.bytes_received
        return session.missing

    def chunk_length(self, index: int) -> int:
        return min(self.chunk_size, self.source.size - index * self.chunk_size)

    def chunk_op(self, index: int) -> Operation[UploadSession]:
        """The request sending chunk ``index`` (reads it: local I/O)."""
        assert self.upload_id is not None
        data = self.source.read(index * self.chunk_size, self.chunk_length(index))
        digest = hashlib.sha256(data).hexdigest() if self.checksum_chunks else None
        return ops.put_chunk(self.machine_id, self.upload_id, index, data, sha256=digest)

    def complete_op(self) -> Operation[ops.Completed]:
        assert self.upload_id is not None
        return ops.complete_upload(self.machine_id, self.upload_id, sha256=self.source.sha256())

    # -- progress ---------------------------------------------------------------

    def report(self, phase: UploadPhase) -> object:
        if self._progress is None:
            return None
        event = UploadProgress(
            phase=phase,
            bytes_completed=self.held + self.sent,
            bytes_total=self.source.size,
            transport="resumable",
        )
        return self._progress(event)

    def chunk_sent(self, index: int) -> object:
        """Count chunk ``index`` as taken and report it (one at a time)."""
        with self._lock:
            self.sent += self.chunk_length(index)
            return self.report("uploading")

    def retry_delay(self, attempt: int, err: BaseException) -> float | None:
        """Seconds to wait before trying a chunk again after its ``attempt``-th try
        failed with ``err``; ``None``: fail the upload."""
        if self.stopped or attempt >= CHUNK_ATTEMPTS or not _retryable(err):
            return None
        retry_after = err.retry_after if isinstance(err, RateLimitError) else None
        return max(RETRY_DELAYS[min(attempt, len(RETRY_DELAYS)) - 1], retry_after or 0.0)

    # -- the end ----------------------------------------------------------------

    def finish(self, done: ops.Completed) -> UploadResult:
        if done.entry is not None:
            target = done.entry.path
        elif done.archive is not None:
            target = done.archive.path
        else:
            target = done.upload.path
        return UploadResult(
            transport="resumable",
            target_path=target,
            bytes_uploaded=self.sent,
            upload_id=done.upload.upload_id,
            kind=self.result_kind,
            file_count=done.archive.files if done.archive is not None else self.file_count,
            entry=done.entry,
            archive=done.archive,
        )

    def failure(self, exc: Exception) -> Exception:
        """What the caller gets for ``exc``: an upload error carrying the session id
        once there is a session, ``exc`` itself before."""
        if isinstance(exc, FileUploadError):
            if exc.upload_id is None:
                exc.upload_id = self.upload_id
            return exc
        if self.upload_id is None:
            return exc
        if isinstance(exc, NullspaceError):
            code, status, why = exc.code, exc.status, exc.message
        else:
            code = "source_error" if isinstance(exc, OSError) else "upload_interrupted"
            status, why = None, f"{type(exc).__name__}: {exc}"
        return FileUploadError(
            code,
            f"upload {self.upload_id} to {self.target} stopped with {self.held + self.sent} of "
            f"{self.source.size} bytes sent ({why}); continue it with "
            f"files.resume_upload({self.upload_id!r}, source)",
            status,
            upload_id=self.upload_id,
        )


def _raise_failure(job: ResumableUpload, exc: Exception) -> NoReturn:
    err = job.failure(exc)
    if err is exc:
        raise exc
    raise err from exc


# ---------------------------------------------------------------------------
# the two flavours: threads or tasks, nothing else


def _send_chunk_sync(transport: SyncTransport, job: ResumableUpload, index: int) -> None:
    attempt = 0
    try:
        while not job.stopped:
            attempt += 1
            try:
                transport.send(job.chunk_op(index))
            except Exception as exc:
                delay = job.retry_delay(attempt, exc)
                if delay is None:
                    raise
                time.sleep(delay)
                continue
            job.chunk_sent(index)
            return
    except BaseException:
        job.stopped = True  # the chunks not yet started stay unsent
        raise


def send_sync(
    transport: SyncTransport, job: ResumableUpload, session: UploadSession | None = None
) -> UploadResult:
    """Run ``job`` to completion: a new session, or ``session`` (read back) resumed."""
    try:
        job.report("preparing")
        pending = job.begin(session if session is not None else transport.send(job.create_op()))
        job.source.sha256()
        job.report("uploading")
        if pending:
            with ThreadPoolExecutor(max_workers=min(job.concurrency, len(pending))) as pool:
                futures: list[Future[None]] = [
                    pool.submit(_send_chunk_sync, transport, job, i) for i in pending
                ]
                try:
                    for future in futures:
                        future.result()
                except BaseException:
                    job.stopped = True
                    for future in futures:
                        future.cancel()
                    raise
        job.report("completing")
        result = job.finish(transport.send(job.complete_op()))
        job.report("done")
        return result
    except Exception as exc:
        _raise_failure(job, exc)


async def _settle(returned: object) -> None:
    if inspect.isawaitable(returned):
        await returned


async def _send_chunk_async(
    transport: AsyncTransport, job: ResumableUpload, queue: list[int]
) -> None:
    """Send chunks taken from ``queue`` until it is empty."""
    try:
        while queue and not job.stopped:
            index = queue.pop(0)
            attempt = 0
            while True:
                attempt += 1
                try:
                    op = await asyncio.to_thread(job.chunk_op, index)
                    await transport.send(op)
                except Exception as exc:
                    delay = job.retry_delay(attempt, exc)
                    if delay is None:
                        raise
                    await asyncio.sleep(delay)
                    continue
                await _settle(job.chunk_sent(index))
                break
    except BaseException:
        job.stopped = True
        raise


async def send_async(
    transport: AsyncTransport, job: ResumableUpload, session: UploadSession | None = None
) -> UploadResult:
    """:func:`send_sync` with tasks; local reads go to worker threads and a progress
    coroutine is awaited."""
    try:
        await _settle(job.report("preparing"))
        if session is None:
            session = await transport.send(job.create_op())
        pending = job.begin(session)
        await asyncio.to_thread(job.source.sha256)
        await _settle(job.report("uploading"))
        if pending:
            try:
                async with asyncio.TaskGroup() as group:
                    for _ in range(min(job.concurrency, len(pending))):
                        group.create_task(_send_chunk_async(transport, job, pending))
            except BaseExceptionGroup as group_error:
                raise _first(group_error.exceptions) from None
        await _settle(job.report("completing"))
        result = job.finish(await transport.send(job.complete_op()))
        await _settle(job.report("done"))
        return result
    except Exception as exc:
        _raise_failure(job, exc)


def _first(errors: Iterable[BaseException]) -> BaseException:
    """The error to raise of those a task group collected."""
    items = list(errors)
    for err in items:
        if isinstance(err, Exception):
            return err
    return items[0]
