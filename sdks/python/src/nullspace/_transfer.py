"""Uploads and downloads between local files (or streams) and a machine, for both flavours.

An upload sends its source to ``PUT /files`` in chunks of at most
:data:`~nullspace._transport.CHUNK_BYTES` as it reads them: the source is never held
whole. A download hands the body of ``GET /files`` to its destination as it arrives; a
local path is written beside the destination under a temporary name and renamed into
place only once every byte has arrived, so a download cut short leaves nothing at the
destination (a file already there is kept as it was).

:class:`Upload` and :class:`Download` hold the naming, the staging, the byte counts and
the progress events once. The flavours differ only in how they wait: the sync one reads
and writes in the calling thread, the async one in a worker thread (the event loop
never waits on the local disk) and awaits a progress callback that returns an
awaitable. Local I/O errors (a missing source, an unwritable destination directory)
are raised as the ``OSError`` they are.
"""

from __future__ import annotations

import asyncio
import errno
import inspect
import io
import os
import posixpath
import secrets
import stat
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any, BinaryIO, Literal, Protocol, cast

from ._ops import MAX_FILE_BYTES
from ._transport import CHUNK_BYTES
from .errors import InvalidArgumentError, NullspaceError, ServerError, TimeoutError
from .models import DownloadProgress, DownloadResult, EntryInfo, UploadProgress, UploadResult

__all__ = [
    "DEFAULT_UPLOAD_DIR",
    "Download",
    "DownloadDestination",
    "DownloadProgressCallback",
    "Readable",
    "Upload",
    "UploadProgressCallback",
    "UploadSource",
    "Writable",
    "open_download",
    "open_upload",
]

DEFAULT_UPLOAD_DIR = "/workspace"
"""Where ``upload_file`` puts a source given without a destination (under its name)."""


class Readable(Protocol):
    """A binary stream to upload from: ``read(n)`` returns at most ``n`` bytes, ``b""``
    at the end."""

    def read(self, size: int, /) -> bytes: ...


class Writable(Protocol):
    """A binary stream to download into."""

    def write(self, data: bytes, /) -> object: ...


UploadSource = str | os.PathLike[str] | Readable
DownloadDestination = str | os.PathLike[str] | Writable
UploadProgressCallback = Callable[[UploadProgress], object]
DownloadProgressCallback = Callable[[DownloadProgress], object]


async def _settle(returned: object) -> None:
    """Await what an async flavour's callback returned, if it is awaitable."""
    if inspect.isawaitable(returned):
        await returned


def is_path(value: object) -> bool:
    return isinstance(value, str | os.PathLike)


# ---------------------------------------------------------------------------
# uploads


def remaining(stream: Any) -> int | None:
    """Bytes left in ``stream`` from where it stands, if that can be known: a regular
    file's size, or the end of a seekable stream; ``None`` for a pipe, a socket, a
    terminal or a stream that cannot tell."""
    try:
        st = os.fstat(stream.fileno())
    except (AttributeError, OSError, ValueError):
        pass  # no descriptor (io.UnsupportedOperation is an OSError and a ValueError)
    else:
        if not stat.S_ISREG(st.st_mode):
            return None
        with suppress(AttributeError, OSError, ValueError):
            return max(st.st_size - int(stream.tell()), 0)
        return None
    try:
        if not stream.seekable():
            return None
        here = int(stream.tell())
        end = int(stream.seek(0, os.SEEK_END))
        stream.seek(here)
    except (AttributeError, OSError, ValueError):
        return None
    return max(end - here, 0)


def stream_name(stream: object) -> str | None:
    name = getattr(stream, "name", None)  # an open file's path; an int for a descriptor
    if isinstance(name, str) and name:
        return os.path.basename(name) or None
    return None


class Upload:
    """One upload in progress: its source, where it goes, and what has been sent."""

    def __init__(
        self,
        reader: Readable,
        target: str,
        total: int | None,
        *,
        owned: bool,
        progress: UploadProgressCallback | None,
    ) -> None:
        self.target = target
        """The path sent to the server (relative paths are under ``/workspace``)."""
        self.total = total
        """The source's length, ``None`` when unknown (then the body is chunked)."""
        self.sent = 0
        """Bytes handed to the connection so far."""
        self._reader = reader
        self._owned = owned
        self._progress = progress
        self._read_bytes = 0
        self._started = False

    @classmethod
    def open(
        cls, source: UploadSource, path: str | None, progress: UploadProgressCallback | None
    ) -> Upload:
        """Open ``source`` (a local path, opened here, or a binary stream, read from
        where it stands); ``path`` defaults to its base name under
        :data:`DEFAULT_UPLOAD_DIR`."""
        if path is not None and (not isinstance(path, str) or not path):
            raise InvalidArgumentError("bad_request", "path must be a non-empty string")
        if is_path(source):
            local = os.fspath(cast(str | os.PathLike[str], source))
            name: str | None = os.path.basename(local)
            reader: Readable = open(local, "rb")  # closed by close()
            owned = True
        elif isinstance(source, io.TextIOBase):
            raise InvalidArgumentError(
                "bad_request", "upload_file reads bytes: open the file in binary mode ('rb')"
            )
        elif callable(getattr(source, "read", None)):
            name, reader, owned = stream_name(source), cast(Readable, source), False
        else:
            hint = " (write bytes with files.write)" if isinstance(source, bytes) else ""
            raise InvalidArgumentError(
                "bad_request",
                f"upload_file takes a local path or a binary stream, not "
                f"{type(source).__name__}{hint}",
            )
        if path is None:
            if not name:
                if owned:
                    cast(BinaryIO, reader).close()
                raise InvalidArgumentError(
                    "bad_request",
                    "give the destination path: the stream has no file name to upload it under",
                )
            path = posixpath.join(DEFAULT_UPLOAD_DIR, name)
        return cls(reader, path, remaining(reader), owned=owned, progress=progress)

    def _read(self) -> bytes:
        """The next chunk, ``b""`` at the end; exactly :attr:`total` bytes in all when
        it is known (it was sent as ``Content-Length``)."""
        self._started = True
        want = CHUNK_BYTES
        if self.total is not None:
            want = min(want, self.total - self._read_bytes)
        if want <= 0:
            return b""
        data = self._reader.read(want)
        if isinstance(data, bytearray | memoryview):
            data = bytes(data)
        if not isinstance(data, bytes):
            raise InvalidArgumentError(
                "bad_request",
                f"the source of {self.target} must be a binary stream: read() returned "
                f"{type(data).__name__}",
            )
        if len(data) > want:
            raise InvalidArgumentError(
                "bad_request",
                f"the source of {self.target} is not a binary stream: read({want}) "
                f"returned {len(data)} bytes",
            )
        if self.total is not None and not data:
            raise InvalidArgumentError(
                "source_changed",
                f"the source of {self.target} changed while it was uploaded: it had "
                f"{self.total} bytes, and ended after {self._read_bytes}",
            )
        self._read_bytes += len(data)
        return data

    def _report(self, phase: Literal["uploading", "done"]) -> object:
        if self._progress is None:
            return None
        event = UploadProgress(phase=phase, bytes_completed=self.sent, bytes_total=self.total)
        return self._progress(event)

    def _advance(self, n: int) -> object:
        self.sent += n
        return self._report("uploading")

    def chunks(self) -> Iterator[bytes]:
        """The body, read as it is sent (sync flavour)."""
        while chunk := self._read():
            yield chunk  # resumed once the connection took it
            self._advance(len(chunk))

    async def achunks(self) -> AsyncIterator[bytes]:
        """The body, each chunk read in a worker thread (async flavour)."""
        while chunk := await asyncio.to_thread(self._read):
            yield chunk
            await _settle(self._advance(len(chunk)))

    def _result(self, entry: EntryInfo) -> UploadResult:
        return UploadResult(target_path=entry.path, bytes_uploaded=self.sent, entry=entry)

    def finish(self, entry: EntryInfo) -> UploadResult:
        """The result, once the server answered with the written file."""
        result = self._result(entry)
        self._report("done")
        return result

    async def afinish(self, entry: EntryInfo) -> UploadResult:
        result = self._result(entry)
        await _settle(self._report("done"))
        return result

    def cut_short(self, err: NullspaceError) -> NullspaceError:
        """A connection lost (or timed out) once the body had started, said as such."""
        if not self._started or err.status is not None:
            return err
        if not isinstance(err, ServerError | TimeoutError):
            return err
        if self.total is not None and self.sent >= self.total:
            what = f"upload of {self.target} failed after all {self.sent} bytes were sent"
        else:
            of = f" of {self.total}" if self.total is not None else ""
            what = f"upload of {self.target} cut short after {self.sent}{of} bytes"
        if self.sent >= MAX_FILE_BYTES:
            what += f" (a file upload is at most {MAX_FILE_BYTES} bytes)"
        return type(err)(err.code, f"{what}: {err.message}")

    def close(self) -> None:
        if self._owned:
            cast(BinaryIO, self._reader).close()


@contextmanager
def open_upload(
    source: UploadSource, path: str | None, progress: UploadProgressCallback | None
) -> Iterator[Upload]:
    """An :class:`Upload` of ``source``, closed (when opened here) on the way out."""
    upload = Upload.open(source, path, progress)
    try:
        yield upload
    except (ServerError, TimeoutError) as err:
        changed = upload.cut_short(err)
        if changed is err:
            raise
        raise changed from err
    finally:
        upload.close()


# ---------------------------------------------------------------------------
# downloads


def _create_partial(final: str) -> tuple[str, BinaryIO]:
    """A new file beside ``final`` to download into, created as ``open(final, "wb")``
    would create ``final`` (mode ``0o666`` less the umask)."""
    directory, name = os.path.split(os.path.abspath(final))
    partial = os.path.join(directory, f".{name}.{secrets.token_hex(6)}.part")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    fd = os.open(partial, flags, 0o666)
    return partial, os.fdopen(fd, "wb")


class Download:
    """One download in progress: where the bytes go, and how many arrived."""

    def __init__(
        self,
        path: str,
        destination: DownloadDestination,
        progress: DownloadProgressCallback | None,
    ) -> None:
        self.path = path
        self.received = 0
        self._progress = progress
        self._final: str | None = None
        self._partial: str | None = None
        self._file: BinaryIO | None = None
        self._out: Writable
        if is_path(destination):
            final = os.fspath(cast(str | os.PathLike[str], destination))
            if os.path.isdir(final):
                raise IsADirectoryError(
                    errno.EISDIR, "the download destination is a directory", final
                )
            self._final = final
            self._partial, self._file = _create_partial(final)
            self._out = self._file
        elif callable(getattr(destination, "write", None)):
            self._out = cast(Writable, destination)
        else:
            raise InvalidArgumentError(
                "bad_request",
                f"download_file writes to a local path or a binary stream, not "
                f"{type(destination).__name__}",
            )

    def _report(self, phase: Literal["downloading", "done"]) -> object:
        if self._progress is None:
            return None
        return self._progress(DownloadProgress(phase=phase, bytes_completed=self.received))

    def _write(self, chunk: bytes) -> None:
        self._out.write(chunk)

    def _advance(self, n: int) -> object:
        self.received += n
        return self._report("downloading")

    def take(self, chunk: bytes) -> None:
        """Write a chunk that arrived (sync flavour)."""
        self._write(chunk)
        self._advance(len(chunk))

    async def atake(self, chunk: bytes) -> None:
        """Write a chunk that arrived, in a worker thread (async flavour)."""
        await asyncio.to_thread(self._write, chunk)
        await _settle(self._advance(len(chunk)))

    def _commit(self) -> None:
        """Put the whole file in place: flushed to disk, then renamed over the
        destination."""
        if self._file is None or self._partial is None or self._final is None:
            return
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        os.replace(self._partial, self._final)
        self._partial = None

    def _result(self) -> DownloadResult:
        return DownloadResult(
            path=self.path, destination=self._final, bytes_downloaded=self.received
        )

    def finish(self) -> DownloadResult:
        """The result, once every byte arrived."""
        self._commit()
        self._report("done")
        return self._result()

    async def afinish(self) -> DownloadResult:
        await asyncio.to_thread(self._commit)
        await _settle(self._report("done"))
        return self._result()

    def abort(self) -> None:
        """Drop what arrived of an unfinished download (nothing after :meth:`finish`)."""
        if self._file is None or self._partial is None:
            return
        with suppress(OSError, ValueError):
            self._file.close()
        with suppress(FileNotFoundError):
            os.unlink(self._partial)
        self._partial = None


@contextmanager
def open_download(
    path: str, destination: DownloadDestination, progress: DownloadProgressCallback | None
) -> Iterator[Download]:
    """A :class:`Download` to ``destination``, dropped unless it finished."""
    download = Download(path, destination, progress)
    try:
        yield download
    finally:
        download.abort()
