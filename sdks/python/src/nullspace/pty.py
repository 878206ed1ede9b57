"""``machine.pty``: interactive terminals (sync and async flavours).

A PTY session is a process on a terminal; its ``session_id`` is that process's pid,
so ``machine.commands`` sees it too. A :class:`PtySession` handle follows the
terminal's output over the session's WebSocket (``on_data`` gets raw bytes as they
arrive) and sends input and resizes as HTTP requests, like
:class:`~nullspace.CommandHandle`, on the same bases.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from . import _process_ops as ops
from ._stream import Output
from ._transport import AsyncTransport, SyncTransport
from ._ws import Sink
from .models import PtySessionInfo
from .process import AsyncStreamHandle, SyncStreamHandle

__all__ = ["AsyncPty", "AsyncPtySession", "DataCallback", "Pty", "PtySession"]

DataCallback = Callable[[bytes], Any]
"""Called with the terminal's output bytes as they arrive (async: awaited if it
returns an awaitable)."""

SessionList = list[PtySessionInfo]


def data_sink(on_data: DataCallback | None) -> Sink:
    def sink(event: Output) -> Any:
        if on_data is not None and event.data:
            return on_data(event.data)
        return None

    return sink


class PtySession(SyncStreamHandle):
    """A terminal session (sync). ``on_data`` runs in the handle's reader thread;
    :attr:`output` is every byte received so far."""

    def __init__(
        self,
        machine_id: str,
        transport: SyncTransport,
        session: PtySessionInfo,
        *,
        on_data: DataCallback | None = None,
    ) -> None:
        self._machine_id = machine_id
        path = ops.pty_connect_path(machine_id, session.session_id)
        super().__init__(transport, session.process, path, data_sink(on_data))

    @property
    def session_id(self) -> int:
        return self.pid

    @property
    def output(self) -> bytes:
        """The terminal's output received so far, raw."""
        return self.stdout_bytes

    def send_input(self, data: str | bytes) -> None:
        """Type ``data`` into the terminal (``"ls\\n"``; ``b"\\x03"`` is Ctrl-C)."""
        for op in ops.write_stdin(self._machine_id, self.pid, data):
            self._send(op)

    def resize(self, cols: int, rows: int) -> None:
        """Resize the terminal (1 to 1000 each; checked before sending)."""
        self._send(ops.resize_pty(self._machine_id, self.pid, cols, rows))

    def kill(self) -> bool:
        """End the session: ``True`` if killed now, ``False`` if it had already ended."""
        return bool(self._send(ops.kill_pty(self._machine_id, self.pid)))


class AsyncPtySession(AsyncStreamHandle):
    """A terminal session (async); see :class:`PtySession`."""

    def __init__(
        self,
        machine_id: str,
        transport: AsyncTransport,
        session: PtySessionInfo,
        *,
        on_data: DataCallback | None = None,
    ) -> None:
        self._machine_id = machine_id
        path = ops.pty_connect_path(machine_id, session.session_id)
        super().__init__(transport, session.process, path, data_sink(on_data))

    @property
    def session_id(self) -> int:
        return self.pid

    @property
    def output(self) -> bytes:
        return self.stdout_bytes

    async def send_input(self, data: str | bytes) -> None:
        for op in ops.write_stdin(self._machine_id, self.pid, data):
            await self._send(op)

    async def resize(self, cols: int, rows: int) -> None:
        await self._send(ops.resize_pty(self._machine_id, self.pid, cols, rows))

    async def kill(self) -> bool:
        return bool(await self._send(ops.kill_pty(self._machine_id, self.pid)))


class Pty:
    """Terminal sessions of a machine (synchronous)."""

    def __init__(self, machine_id: str, transport: SyncTransport) -> None:
        self._machine_id = machine_id
        self._transport = transport

    def create_session(
        self,
        cols: int = 80,
        rows: int = 24,
        *,
        cwd: str | None = None,
        envs: Mapping[str, str] | None = None,
        user: str | None = None,
        command: str | None = None,
        on_data: DataCallback | None = None,
    ) -> PtySession:
        """Open a terminal of ``cols`` x ``rows`` running ``command`` (default: the
        user's login shell) and follow its output."""
        op = ops.create_pty(
            self._machine_id, cols=cols, rows=rows, cwd=cwd, envs=envs, user=user, command=command
        )
        session = self._transport.send(op)
        return PtySession(self._machine_id, self._transport, session, on_data=on_data)

    def connect(self, session_id: int, *, on_data: DataCallback | None = None) -> PtySession:
        """A handle of an existing session: it first gets the output the terminal kept
        (its newest 1 MiB), then follows it."""
        session = self._transport.send(ops.get_pty(self._machine_id, session_id))
        return PtySession(self._machine_id, self._transport, session, on_data=on_data)

    def list_sessions(self) -> SessionList:
        return self._transport.send(ops.list_ptys(self._machine_id))

    def get_session_info(self, session_id: int) -> PtySessionInfo:
        return self._transport.send(ops.get_pty(self._machine_id, session_id))

    def resize_session(self, session_id: int, cols: int, rows: int) -> None:
        self._transport.send(ops.resize_pty(self._machine_id, session_id, cols, rows))

    def kill_session(self, session_id: int) -> bool:
        """``True`` if killed now, ``False`` if it had already ended."""
        return self._transport.send(ops.kill_pty(self._machine_id, session_id))


class AsyncPty:
    """Terminal sessions of a machine (asynchronous); see :class:`Pty`."""

    def __init__(self, machine_id: str, transport: AsyncTransport) -> None:
        self._machine_id = machine_id
        self._transport = transport

    async def create_session(
        self,
        cols: int = 80,
        rows: int = 24,
        *,
        cwd: str | None = None,
        envs: Mapping[str, str] | None = None,
        user: str | None = None,
        command: str | None = None,
        on_data: DataCallback | None = None,
    ) -> AsyncPtySession:
        op = ops.create_pty(
            self._machine_id, cols=cols, rows=rows, cwd=cwd, envs=envs, user=user, command=command
        )
        session = await self._transport.send(op)
        return AsyncPtySession(self._machine_id, self._transport, session, on_data=on_data)

    async def connect(
        self, session_id: int, *, on_data: DataCallback | None = None
    ) -> AsyncPtySession:
        session = await self._transport.send(ops.get_pty(self._machine_id, session_id))
        return AsyncPtySession(self._machine_id, self._transport, session, on_data=on_data)

    async def list_sessions(self) -> SessionList:
        return await self._transport.send(ops.list_ptys(self._machine_id))

    async def get_session_info(self, session_id: int) -> PtySessionInfo:
        return await self._transport.send(ops.get_pty(self._machine_id, session_id))

    async def resize_session(self, session_id: int, cols: int, rows: int) -> None:
        await self._transport.send(ops.resize_pty(self._machine_id, session_id, cols, rows))

    async def kill_session(self, session_id: int) -> bool:
        return await self._transport.send(ops.kill_pty(self._machine_id, session_id))
