"""Readers of WebSockets: a process's output stream, sync and async, and the
:class:`Channel` step of a plan (:mod:`nullspace._plan`).

The stream readers only move messages between a socket and a
:class:`~nullspace._stream.StreamState` and hand its :class:`~nullspace._stream.Output`
events to a sink; when to reconnect, from where, and what an error means are decided
by the state. The sync reader runs in a thread of its own (a background handle, whose
callbacks then run in that thread) or in the caller's (a foreground command); the
async one in a task. A :class:`Channel` is read to its end by :func:`sync_channel` or
:func:`async_channel` for the plan's runner, which sends the plan a
:class:`ChannelEnd` saying how it ended; the plan decides what that means.
"""

from __future__ import annotations

import asyncio
import builtins
import enum
import inspect
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from websockets.asyncio.client import connect as async_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.sync.client import connect as sync_connect

from ._config import ClientConfig
from ._stream import MAX_MESSAGE_BYTES, Output, StreamState, ws_headers, ws_url
from ._transport import error_from_response
from .errors import NullspaceError, ServerError, TimeoutError

Sink = Callable[[Output], Any]
"""Called with each output event; the async reader awaits what it returns."""

_OPEN_ERRORS = (OSError, InvalidHandshake)


def connect_error(exc: BaseException, url: str) -> NullspaceError:
    """The SDK error of a failed upgrade: the REST error body of a refused one (401,
    404 ``process_not_found``, ...), ``connection_error`` for the network."""
    if isinstance(exc, InvalidStatus):
        answer = exc.response
        response = httpx.Response(
            answer.status_code,
            headers=list(answer.headers.raw_items()),
            content=bytes(answer.body or b""),
        )
        return error_from_response(response)
    return ServerError("connection_error", f"could not open the stream {url}: {exc}")


def _close_of(exc: ConnectionClosed) -> tuple[int | None, str]:
    return (exc.rcvd.code, exc.rcvd.reason) if exc.rcvd is not None else (None, "")


def _too_late(state: StreamState) -> TimeoutError:
    return TimeoutError(
        "request_timeout",
        f"process {state.pid} did not end in time",
        stdout=state.text("stdout"),
        stderr=state.text("stderr"),
    )


def _remaining(deadline: float | None) -> float | None:
    return None if deadline is None else max(deadline - time.monotonic(), 0.0)


def _record(state: StreamState, exc: Exception) -> None:
    if state.callback_error is None:
        state.callback_error = exc


class SyncReader:
    """Follows one stream until its end, reconnecting from the offsets reached. Used
    once; a handle makes a new one to follow again."""

    def __init__(self, config: ClientConfig, path: str, state: StreamState, sink: Sink) -> None:
        self._config = config
        self._path = path
        self._state = state
        self._sink = sink
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._conn: Any = None
        self._thread: threading.Thread | None = None
        self.finished = threading.Event()

    def start(self) -> None:
        """Follow in a daemon thread."""
        name = f"nullspace-stream-{self._state.pid}"
        self._thread = threading.Thread(target=self.run, name=name, daemon=True)
        self._thread.start()

    def run(self, deadline: float | None = None) -> None:
        """Follow in this thread, until the end, a fatal error, :meth:`stop` or
        ``deadline`` (a :func:`time.monotonic` time)."""
        try:
            while not self._stop.is_set():
                delay = self._channel(deadline)
                if delay is None or self._stop.wait(delay):
                    break
        finally:
            self.finished.set()

    def stop(self) -> None:
        """Close the channel and stop following (the process keeps running)."""
        self._stop.set()
        with self._lock:
            conn = self._conn
        if conn is not None:
            conn.close()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=self._config.request_timeout)

    def _channel(self, deadline: float | None) -> float | None:
        state = self._state
        url = ws_url(self._config, self._path, state.query())
        try:
            conn = sync_connect(
                url,
                additional_headers=ws_headers(self._config),
                open_timeout=self._config.request_timeout,
                max_size=MAX_MESSAGE_BYTES,
            )
        except _OPEN_ERRORS as exc:
            return None if self._stop.is_set() else state.open_failed(connect_error(exc, url))
        with self._lock:
            self._conn = conn
        try:
            with conn:
                return self._follow(conn, deadline)
        finally:
            with self._lock:
                self._conn = None

    def _follow(self, conn: Any, deadline: float | None) -> float | None:
        state = self._state
        if self._stop.is_set():
            return None
        state.opened()
        try:
            while not state.done:
                message = conn.recv(timeout=_remaining(deadline))
                for event in state.feed(message):
                    try:
                        self._sink(event)
                    except Exception as exc:  # a caller's callback: kept for wait()
                        _record(state, exc)
            return None
        except builtins.TimeoutError:
            state.give_up(_too_late(state))
            return None
        except ConnectionClosed as exc:
            return None if self._stop.is_set() else state.closed(*_close_of(exc))


class AsyncReader:
    """The asynchronous :class:`SyncReader`: follows in a task."""

    def __init__(self, config: ClientConfig, path: str, state: StreamState, sink: Sink) -> None:
        self._config = config
        self._path = path
        self._state = state
        self._sink = sink
        self._task: asyncio.Task[None] | None = None

    @property
    def finished(self) -> bool:
        return self._task is not None and self._task.done()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self.run())

    async def join(self, timeout: float | None) -> bool:
        """Wait for the task; ``False`` if ``timeout`` passed first."""
        if self._task is None:
            return True
        done, _ = await asyncio.wait({self._task}, timeout=timeout)
        return bool(done)

    async def run(self, deadline: float | None = None) -> None:
        while True:
            delay = await self._channel(deadline)
            if delay is None:
                return
            await asyncio.sleep(delay)

    async def stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _channel(self, deadline: float | None) -> float | None:
        state = self._state
        url = ws_url(self._config, self._path, state.query())
        try:
            conn = await async_connect(
                url,
                additional_headers=ws_headers(self._config),
                open_timeout=self._config.request_timeout,
                max_size=MAX_MESSAGE_BYTES,
            )
        except _OPEN_ERRORS as exc:
            return state.open_failed(connect_error(exc, url))
        async with conn:
            return await self._follow(conn, deadline)

    async def _follow(self, conn: Any, deadline: float | None) -> float | None:
        state = self._state
        state.opened()
        try:
            while not state.done:
                message = await asyncio.wait_for(conn.recv(), _remaining(deadline))
                for event in state.feed(message):
                    try:
                        returned = self._sink(event)
                        if inspect.isawaitable(returned):
                            await returned
                    except Exception as exc:  # a caller's callback: kept for wait()
                        _record(state, exc)
            return None
        except builtins.TimeoutError:
            state.give_up(_too_late(state))
            return None
        except ConnectionClosed as exc:
            return state.closed(*_close_of(exc))


# ---------------------------------------------------------------------------
# a channel read to its end, for a plan


@dataclass(frozen=True)
class Channel:
    """A plan's step: open the WebSocket ``path`` (``params`` its query) and hand each
    message to ``feed`` until it returns ``True`` (that message was the last), the
    channel closes or ``deadline`` (a :func:`time.monotonic` time) passes. The plan is
    sent back a :class:`ChannelEnd`; what ``feed`` raises ends the plan."""

    path: str
    params: Sequence[tuple[str, str]]
    feed: Callable[[str | bytes], bool]
    deadline: float | None = None


class Ended(enum.Enum):
    """How a :class:`Channel` ended."""

    FINISHED = "finished"
    """``feed`` took its last message."""
    CLOSED = "closed"
    """The channel closed or could not be opened (the network) before that."""
    REFUSED = "refused"
    """The server answered the upgrade with an error."""
    TIMED_OUT = "timed_out"
    """The deadline passed."""


@dataclass(frozen=True)
class ChannelEnd:
    """How a :class:`Channel` ended, with the close code and reason of a closed one
    and the error of one that was refused or could not be opened."""

    how: Ended
    code: int | None = None
    reason: str = ""
    error: NullspaceError | None = None


def _open_failed(exc: BaseException, url: str) -> ChannelEnd:
    how = Ended.REFUSED if isinstance(exc, InvalidStatus) else Ended.CLOSED
    return ChannelEnd(how, error=connect_error(exc, url))


def sync_channel(config: ClientConfig, channel: Channel) -> ChannelEnd:
    """Read ``channel`` to its end in this thread."""
    url = ws_url(config, channel.path, channel.params)
    try:
        conn = sync_connect(
            url,
            additional_headers=ws_headers(config),
            open_timeout=config.request_timeout,
            max_size=MAX_MESSAGE_BYTES,
        )
    except _OPEN_ERRORS as exc:
        return _open_failed(exc, url)
    with conn:
        try:
            while not channel.feed(conn.recv(timeout=_remaining(channel.deadline))):
                pass
        except builtins.TimeoutError:
            return ChannelEnd(Ended.TIMED_OUT)
        except ConnectionClosed as exc:
            code, reason = _close_of(exc)
            return ChannelEnd(Ended.CLOSED, code, reason)
    return ChannelEnd(Ended.FINISHED)


async def async_channel(config: ClientConfig, channel: Channel) -> ChannelEnd:
    """:func:`sync_channel`, awaited."""
    url = ws_url(config, channel.path, channel.params)
    try:
        conn = await async_connect(
            url,
            additional_headers=ws_headers(config),
            open_timeout=config.request_timeout,
            max_size=MAX_MESSAGE_BYTES,
        )
    except _OPEN_ERRORS as exc:
        return _open_failed(exc, url)
    async with conn:
        try:
            while True:
                message = await asyncio.wait_for(conn.recv(), _remaining(channel.deadline))
                if channel.feed(message):
                    break
        except builtins.TimeoutError:
            return ChannelEnd(Ended.TIMED_OUT)
        except ConnectionClosed as exc:
            code, reason = _close_of(exc)
            return ChannelEnd(Ended.CLOSED, code, reason)
    return ChannelEnd(Ended.FINISHED)
