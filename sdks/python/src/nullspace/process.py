"""Handles of running processes: :class:`CommandHandle` and :class:`AsyncCommandHandle`.

A handle follows its process's output stream (WebSocket) from the moment it is made,
keeps every byte it received, calls the output callbacks as bytes arrive, and sends
input, signals and kills as plain HTTP requests. What it knows lives in a
:class:`~nullspace._stream.StreamState` shared by both flavours; a dropped stream is
followed again from the offsets reached, so nothing is received twice or skipped.
The PTY session handles of :mod:`nullspace.pty` are built on the same two bases.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from . import _process_ops as ops
from ._stream import Output, StreamState
from ._transport import AsyncTransport, Operation, SyncTransport
from ._ws import AsyncReader, Sink, SyncReader
from .errors import TimeoutError
from .models import CommandResult, ProcessInfo

__all__ = ["AsyncCommandHandle", "CommandHandle", "OutputCallback"]

OutputCallback = Callable[[str], Any]
"""Called with text as it arrives (async flavour: awaited if it returns an awaitable)."""

WAIT_ATTEMPTS = 3
"""Readers ``wait()`` starts, at most, for a stream lost to the network (each one
already reconnects a few times)."""


def output_sink(on_stdout: OutputCallback | None, on_stderr: OutputCallback | None) -> Sink:
    def sink(event: Output) -> Any:
        callback = on_stdout if event.stream == "stdout" else on_stderr
        if callback is not None and event.text:
            return callback(event.text)
        return None

    return sink


def _wait_timeout(state: StreamState, timeout: float | None) -> TimeoutError:
    return TimeoutError(
        "wait_timeout",
        f"process {state.pid} still runs after waiting {timeout} s (it was not stopped)",
        stdout=state.text("stdout"),
        stderr=state.text("stderr"),
    )


class _View:
    """What both flavours of a handle tell without I/O."""

    _state: StreamState
    info: ProcessInfo

    @property
    def pid(self) -> int:
        return self._state.pid

    @property
    def tag(self) -> str | None:
        return self.info.tag

    @property
    def stdout(self) -> str:
        """Stdout received so far (UTF-8, invalid bytes replaced)."""
        return self._state.text("stdout")

    @property
    def stderr(self) -> str:
        return self._state.text("stderr")

    @property
    def stdout_bytes(self) -> bytes:
        """Stdout received so far, raw."""
        return bytes(self._state.output["stdout"])

    @property
    def stderr_bytes(self) -> bytes:
        return bytes(self._state.output["stderr"])

    @property
    def exit_code(self) -> int | None:
        """The exit status once the stream told the end (``128 + signal`` when a signal
        ended it), else ``None``."""
        end = self._state.end
        return end.status if end is not None else None

    @property
    def offsets(self) -> tuple[int | None, int | None]:
        """Offsets of the next stdout and stderr byte (where a new reader resumes)."""
        return self._state.offsets["stdout"], self._state.offsets["stderr"]

    @property
    def dropped(self) -> int:
        """Output bytes this handle missed: dropped from the process's 1 MiB buffers
        before it read them."""
        return sum(self._state.dropped.values())

    def __repr__(self) -> str:
        return f"{type(self).__name__}(pid={self.pid!r}, tag={self.tag!r})"


class SyncStreamHandle(_View):
    """A process followed in a thread of its own (sync flavour)."""

    def __init__(
        self,
        transport: SyncTransport,
        info: ProcessInfo,
        stream_path: str,
        sink: Sink,
        *,
        follow: bool = True,
    ) -> None:
        self.info = info
        self._transport = transport
        self._path = stream_path
        self._sink = sink
        self._state = StreamState(info.pid)
        self._reader: SyncReader | None = None
        if follow:
            self._follow()

    def _new_reader(self) -> SyncReader:
        self._reader = SyncReader(self._transport.config, self._path, self._state, self._sink)
        return self._reader

    def _follow(self) -> None:
        self._new_reader().start()

    def _follow_here(self, deadline: float | None) -> None:
        """Follow in the calling thread (a foreground command: callbacks run here)."""
        self._new_reader().run(deadline)

    def wait(self, timeout: float | None = None) -> CommandResult:
        """Wait until the process ends and return its :class:`CommandResult` (any exit
        status; ``128 + signal`` when a signal ended it). Raises
        :class:`~nullspace.TimeoutError` ``command_timeout`` when its own timeout killed
        it, ``wait_timeout`` when ``timeout`` seconds pass first (it keeps running),
        and the first exception an output callback raised. A stream lost to the network
        is followed again from the offsets reached."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for _ in range(WAIT_ATTEMPTS):
            if self._reader is None or (
                self._reader.finished.is_set() and self._state.may_follow_again()
            ):
                self._follow()
            assert self._reader is not None
            left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            if not self._reader.finished.wait(left):
                raise _wait_timeout(self._state, timeout)
            if self._state.done and not (
                self._state.error is not None and self._state.error.code == "connection_error"
            ):
                break
        return self._state.result()

    def disconnect(self) -> None:
        """Stop following the output (the process keeps running; :meth:`wait` follows
        again from where this stopped)."""
        if self._reader is not None:
            self._reader.stop()

    def _send(self, op: Operation[Any]) -> Any:
        return self._transport.send(op)


class AsyncStreamHandle(_View):
    """A process followed in a task (async flavour); make it in a running loop."""

    def __init__(
        self,
        transport: AsyncTransport,
        info: ProcessInfo,
        stream_path: str,
        sink: Sink,
        *,
        follow: bool = True,
    ) -> None:
        self.info = info
        self._transport = transport
        self._path = stream_path
        self._sink = sink
        self._state = StreamState(info.pid)
        self._reader: AsyncReader | None = None
        if follow:
            self._follow()

    def _new_reader(self) -> AsyncReader:
        self._reader = AsyncReader(self._transport.config, self._path, self._state, self._sink)
        return self._reader

    def _follow(self) -> None:
        self._new_reader().start()

    async def _follow_here(self, deadline: float | None) -> None:
        await self._new_reader().run(deadline)

    async def wait(self, timeout: float | None = None) -> CommandResult:
        """See :meth:`CommandHandle.wait`."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for _ in range(WAIT_ATTEMPTS):
            if self._reader is None or (self._reader.finished and self._state.may_follow_again()):
                self._follow()
            assert self._reader is not None
            left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            if not await self._reader.join(left):
                raise _wait_timeout(self._state, timeout)
            if self._state.done and not (
                self._state.error is not None and self._state.error.code == "connection_error"
            ):
                break
        return self._state.result()

    async def disconnect(self) -> None:
        """See :meth:`CommandHandle.disconnect`."""
        if self._reader is not None:
            await self._reader.stop()

    async def _send(self, op: Operation[Any]) -> Any:
        return await self._transport.send(op)


class CommandHandle(SyncStreamHandle):
    """A command running in the background (sync). Its output callbacks run in the
    handle's reader thread as bytes arrive; :attr:`stdout` / :attr:`stderr` are what
    came so far."""

    def __init__(
        self,
        machine_id: str,
        transport: SyncTransport,
        info: ProcessInfo,
        *,
        on_stdout: OutputCallback | None = None,
        on_stderr: OutputCallback | None = None,
        follow: bool = True,
    ) -> None:
        self._machine_id = machine_id
        path = ops.stream_path(machine_id, info.pid)
        super().__init__(transport, info, path, output_sink(on_stdout, on_stderr), follow=follow)

    def kill(self) -> bool:
        """SIGKILL its process group: ``True`` if killed now, ``False`` if it had
        already exited."""
        return bool(self._send(ops.kill_process(self._machine_id, self.pid)))

    def send_stdin(self, data: str | bytes) -> None:
        """Write to its stdin (it must have been started with ``stdin=True``, else
        :class:`~nullspace.StdinClosedError`)."""
        for op in ops.write_stdin(self._machine_id, self.pid, data):
            self._send(op)

    def close_stdin(self) -> None:
        """Close its stdin: it reads end of file."""
        self._send(ops.close_stdin(self._machine_id, self.pid))

    def signal(self, signal: str | int) -> None:
        """Send a signal (``"SIGTERM"``, ``"INT"``, ``15``) to its process group."""
        self._send(ops.signal_process(self._machine_id, self.pid, signal))


class AsyncCommandHandle(AsyncStreamHandle):
    """A command running in the background (async); see :class:`CommandHandle`.
    Callbacks run in the handle's task (coroutines are awaited)."""

    def __init__(
        self,
        machine_id: str,
        transport: AsyncTransport,
        info: ProcessInfo,
        *,
        on_stdout: OutputCallback | None = None,
        on_stderr: OutputCallback | None = None,
        follow: bool = True,
    ) -> None:
        self._machine_id = machine_id
        path = ops.stream_path(machine_id, info.pid)
        super().__init__(transport, info, path, output_sink(on_stdout, on_stderr), follow=follow)

    async def kill(self) -> bool:
        return bool(await self._send(ops.kill_process(self._machine_id, self.pid)))

    async def send_stdin(self, data: str | bytes) -> None:
        for op in ops.write_stdin(self._machine_id, self.pid, data):
            await self._send(op)

    async def close_stdin(self) -> None:
        await self._send(ops.close_stdin(self._machine_id, self.pid))

    async def signal(self, signal: str | int) -> None:
        await self._send(ops.signal_process(self._machine_id, self.pid, signal))
