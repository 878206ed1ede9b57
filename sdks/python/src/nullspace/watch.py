"""Handles of a directory watch (``files.watch_dir``): :class:`WatchHandle` and
:class:`AsyncWatchHandle`.

A watch is a WebSocket (``GET …/files/watch``). ``watch_dir`` returns once the server
said ``ready``, so every change made after it returns is reported; a path that is
missing or a file is refused before the upgrade and raises as any request does
(:class:`~nullspace.NotFoundError`, :class:`~nullspace.InvalidArgumentError`
``wrong_entry_type``). The handle then reads in a thread (sync) or a task (async):
each change becomes a :class:`~nullspace.FilesystemEvent`, passed to ``on_event`` and
kept for :meth:`WatchHandle.get_new_events` and iteration. The watch ends when the
server ends it (its ``timeout``, the directory removed: :attr:`WatchHandle.end_reason`),
when it fails (the error is raised by iteration and ``get_new_events``), or at
:meth:`WatchHandle.stop`. Parsing the messages is :class:`WatchState`'s, once.
"""

from __future__ import annotations

import asyncio
import builtins
import inspect
import json
import queue
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from types import TracebackType
from typing import Any

from pydantic import ValidationError
from websockets.asyncio.client import connect as async_connect
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as sync_connect

from . import _search_ops as ops
from ._config import ClientConfig
from ._stream import MAX_MESSAGE_BYTES, ws_headers, ws_url
from ._ws import _OPEN_ERRORS, connect_error
from .errors import NullspaceError, ServerError, TimeoutError, error_for
from .models import FilesystemEvent

__all__ = ["AsyncWatchHandle", "EventCallback", "WatchHandle", "WatchState"]

EventCallback = Callable[[FilesystemEvent], Any]
"""Called with each event as it arrives (async flavour: awaited if it returns an
awaitable). An exception it raises ends the watch and is raised to the caller."""

_DONE = object()
"""Put on a handle's queue once the watch ended."""


class WatchState:
    """What a watch's messages said: whether it is ready, and how it ended."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.ready = False
        self.end_reason: str | None = None
        self.error: BaseException | None = None

    @property
    def done(self) -> bool:
        return self.end_reason is not None or self.error is not None

    def feed(self, message: str | bytes) -> FilesystemEvent | None:
        """Take one message; the event it carries, if any."""
        try:
            data = json.loads(message)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            self.fail(ServerError("invalid_response", f"unexpected watch message {message!r}"))
            return None
        kind = data.get("type")
        if kind == "ready":
            self.ready = True
        elif kind == "event":
            try:
                return FilesystemEvent.model_validate(data)
            except ValidationError:
                return None  # an event kind added later: not one this SDK names
        elif kind == "end":
            reason = data.get("reason")
            self.end_reason = reason if isinstance(reason, str) and reason else "end"
        elif kind == "error":
            code = data.get("code") if isinstance(data.get("code"), str) else "internal"
            message_text = data.get("message")
            text = (
                message_text
                if isinstance(message_text, str)
                else f"the watch of {self.path} failed"
            )
            self.fail(error_for(code, text, None))
        return None

    def fail(self, err: BaseException) -> None:
        if not self.done:
            self.error = err

    def closed(self, code: int | None, reason: str) -> None:
        """The socket closed; without an ``end`` or ``error`` first, that is an error
        unless it was a normal close."""
        if self.done:
            return
        if code == 1000:
            self.end_reason = "closed"
        else:
            why = reason or f"code {code}"
            self.fail(ServerError("connection_error", f"the watch of {self.path} closed: {why}"))

    def not_ready(self) -> NullspaceError:
        return TimeoutError("request_timeout", f"the watch of {self.path} was not ready in time")


def _close_of(exc: ConnectionClosed) -> tuple[int | None, str]:
    return (exc.rcvd.code, exc.rcvd.reason) if exc.rcvd is not None else (None, "")


def _open_url(
    config: ClientConfig,
    machine_id: str,
    path: str,
    recursive: bool,
    timeout: float | None,
    user: str,
) -> str:
    params = ops.watch_params(path, recursive=recursive, timeout=timeout, user=user)
    return ws_url(config, ops.watch_path(machine_id), params)


class _Events:
    """The events of both flavours: a queue, drained by iteration or
    ``get_new_events``, whose end raises the watch's error."""

    _state: WatchState
    _queue: queue.Queue[Any]

    @property
    def path(self) -> str:
        return self._state.path

    @property
    def end_reason(self) -> str | None:
        """Why the server ended the watch (``timeout``, ``removed``), ``closed`` for a
        normal close, ``stopped`` after :meth:`stop`; ``None`` while it runs."""
        return self._state.end_reason

    @property
    def running(self) -> bool:
        return not self._state.done

    def _raise_error(self) -> None:
        if self._state.error is not None:
            raise self._state.error

    def get_new_events(self) -> list[FilesystemEvent]:
        """The events that arrived since the last call (without waiting). Raises the
        watch's error once it failed and every event before it was taken."""
        events: list[FilesystemEvent] = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is _DONE:
                self._queue.put(_DONE)  # iteration still sees the end
                break
            events.append(item)
        if not events:
            self._raise_error()
        return events


class WatchHandle(_Events):
    """A running directory watch (sync). Iterating it yields the events as they
    arrive, until the watch ends; ``on_event`` runs in the handle's reader thread. As
    a context manager it stops the watch on exit::

        with machine.files.watch_dir("/workspace", recursive=True) as watch:
            machine.files.write("/workspace/a.txt", "x")
            for event in watch:
                print(event.kind, event.path)
                break
    """

    def __init__(self, conn: Any, state: WatchState, on_event: EventCallback | None) -> None:
        self._conn = conn
        self._state = state
        self._on_event = on_event
        self._queue = queue.Queue()
        self._thread = threading.Thread(
            target=self._read, name=f"nullspace-watch-{state.path}", daemon=True
        )

    @classmethod
    def open(
        cls,
        config: ClientConfig,
        machine_id: str,
        path: str,
        *,
        recursive: bool,
        timeout: float | None,
        user: str,
        on_event: EventCallback | None,
    ) -> WatchHandle:
        url = _open_url(config, machine_id, path, recursive, timeout, user)
        try:
            conn = sync_connect(
                url,
                additional_headers=ws_headers(config),
                open_timeout=config.request_timeout,
                max_size=MAX_MESSAGE_BYTES,
            )
        except _OPEN_ERRORS as exc:
            raise connect_error(exc, url) from exc
        conn.__enter__()  # owned by the handle, which closes it (as a ``with`` would)
        state = WatchState(path)
        handle = cls(conn, state, on_event)
        try:
            while not state.ready and not state.done:
                handle._take(conn.recv(timeout=config.request_timeout))
        except builtins.TimeoutError:
            conn.close()
            raise state.not_ready() from None
        except ConnectionClosed as exc:
            state.closed(*_close_of(exc))
        except BaseException:
            conn.close()
            raise
        if state.error is not None:
            conn.close()
            raise state.error
        handle._thread.start()
        return handle

    def _take(self, message: str | bytes) -> None:
        event = self._state.feed(message)
        if event is None:
            return
        self._queue.put(event)
        if self._on_event is not None:
            self._on_event(event)

    def _read(self) -> None:
        try:
            while not self._state.done:
                self._take(self._conn.recv())
        except ConnectionClosed as exc:
            self._state.closed(*_close_of(exc))
        except Exception as exc:  # a callback's error ends the watch, raised later
            self._state.fail(exc)
        finally:
            self._conn.close()
            self._queue.put(_DONE)

    def __iter__(self) -> Iterator[FilesystemEvent]:
        while True:
            item = self._queue.get()
            if item is _DONE:
                self._queue.put(_DONE)
                self._raise_error()
                return
            yield item

    def stop(self) -> None:
        """Close the watch (the guest drops it at once). Events that arrived before
        stay available."""
        if not self._state.done:
            self._state.end_reason = "stopped"
        self._conn.close()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)

    close = stop

    def __enter__(self) -> WatchHandle:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class AsyncWatchHandle(_Events):
    """A running directory watch (async): ``async for event in watch``; see
    :class:`WatchHandle`."""

    def __init__(self, conn: Any, state: WatchState, on_event: EventCallback | None) -> None:
        self._conn = conn
        self._state = state
        self._on_event = on_event
        self._queue = queue.Queue()
        self._arrived = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @classmethod
    async def open(
        cls,
        config: ClientConfig,
        machine_id: str,
        path: str,
        *,
        recursive: bool,
        timeout: float | None,
        user: str,
        on_event: EventCallback | None,
    ) -> AsyncWatchHandle:
        url = _open_url(config, machine_id, path, recursive, timeout, user)
        try:
            conn = await async_connect(
                url,
                additional_headers=ws_headers(config),
                open_timeout=config.request_timeout,
                max_size=MAX_MESSAGE_BYTES,
            )
        except _OPEN_ERRORS as exc:
            raise connect_error(exc, url) from exc
        state = WatchState(path)
        handle = cls(conn, state, on_event)
        try:
            while not state.ready and not state.done:
                message = await asyncio.wait_for(conn.recv(), config.request_timeout)
                await handle._take(message)
        except builtins.TimeoutError:
            await conn.close()
            raise state.not_ready() from None
        except ConnectionClosed as exc:
            state.closed(*_close_of(exc))
        except BaseException:
            await conn.close()
            raise
        if state.error is not None:
            await conn.close()
            raise state.error
        handle._task = asyncio.get_running_loop().create_task(handle._read())
        return handle

    async def _take(self, message: str | bytes) -> None:
        event = self._state.feed(message)
        if event is None:
            return
        self._queue.put(event)
        self._arrived.set()
        if self._on_event is not None:
            returned = self._on_event(event)
            if inspect.isawaitable(returned):
                await returned

    async def _read(self) -> None:
        try:
            while not self._state.done:
                await self._take(await self._conn.recv())
        except ConnectionClosed as exc:
            self._state.closed(*_close_of(exc))
        except Exception as exc:
            self._state.fail(exc)
        finally:
            await self._conn.close()
            self._queue.put(_DONE)
            self._arrived.set()

    async def __aiter__(self) -> AsyncIterator[FilesystemEvent]:
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                self._arrived.clear()
                await self._arrived.wait()
                continue
            if item is _DONE:
                self._queue.put(_DONE)
                self._raise_error()
                return
            yield item

    async def stop(self) -> None:
        """Close the watch; see :meth:`WatchHandle.stop`."""
        if not self._state.done:
            self._state.end_reason = "stopped"
        await self._conn.close()
        if self._task is not None and self._task is not asyncio.current_task():
            await asyncio.gather(self._task, return_exceptions=True)

    close = stop

    async def __aenter__(self) -> AsyncWatchHandle:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
