"""``machine.commands``: run commands in a machine (sync and async flavours).

A foreground command without output callbacks is one ``POST /commands``. A command
with callbacks, or in the background, is a process (``POST /processes``) whose output
a handle follows over its WebSocket stream (:mod:`nullspace.process`), so callbacks
fire while it runs. Both classes are thin: requests and decoding come from
:mod:`nullspace._ops` and :mod:`nullspace._process_ops`, what a call means from
:func:`plan_run`.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, overload

from . import _ops
from . import _process_ops as pops
from ._ops import DEFAULT, Default
from ._transport import AsyncTransport, Operation, SyncTransport
from .errors import AgentOutdatedError, InvalidArgumentError
from .models import CommandResult, ProcessInfo, ProcessLogs
from .process import AsyncCommandHandle, CommandHandle, OutputCallback

__all__ = ["AsyncCommands", "Commands", "OutputCallback", "plan_run"]

ProcessList = list[ProcessInfo]  # module-level: ``list`` is a method name in the classes

_RUN_DOC = """Run a command: wait for it (default), or start it in the background.

        ``shell`` left out (or ``True``) with a string runs it with ``bash -c``;
        ``args=[...]`` runs an argv without a shell (a ``cmd`` given too becomes
        ``argv[0]``; ``shell=True`` with ``args`` is refused); ``shell=False`` with a
        string splits it with :func:`shlex.split`.

        ``cwd``, ``envs`` and ``user`` (default ``user``) set where and as whom it runs.
        ``timeout`` is in seconds (``0``/``None``: no limit; left out: 60 s in the
        foreground, no limit in the background); when its timeout kills it,
        :class:`~nullspace.TimeoutError` ``command_timeout`` carries its output.

        Foreground (``background=False``): returns the :class:`CommandResult`. A
        non-zero exit status is *not* an error: look at ``result.exit_code``. ``stdin``
        (text or bytes) is fed to it. ``on_stdout`` / ``on_stderr`` are called with text
        as it arrives (async: awaited), while the command runs.

        Background (``background=True``): returns a :class:`CommandHandle` at once; the
        command keeps running when the handle is dropped. ``stdin=True`` keeps its
        stdin open for ``handle.send_stdin()`` (text or bytes: written, then closed);
        ``tag`` names it (unique among running processes). Callbacks are called as
        bytes arrive, in the handle's reader thread (async: its task).
        """


@dataclass(frozen=True)
class RunPlan:
    """What one ``commands.run`` call sends."""

    command: Operation[CommandResult] | None
    """``POST /commands`` of a foreground command (also the fallback for a machine
    whose agent predates processes)."""
    start: Operation[ProcessInfo] | None
    """``POST /processes``: a background command, or a foreground one with callbacks."""
    stdin: str | bytes | None
    """Input written (then stdin closed) once the process started."""
    deadline_seconds: float | None
    """How long the client follows a foreground process (its timeout plus a grace)."""


def plan_run(
    machine_id: str,
    cmd: str | None,
    *,
    background: bool,
    streamed: bool,
    args: Sequence[str] | None,
    shell: bool | None,
    cwd: str | None,
    envs: Mapping[str, str] | None,
    user: str | None,
    timeout: float | None | Default,
    stdin: str | bytes | bool | None,
    tag: str | None,
    request_timeout: float | None,
) -> RunPlan:
    """Check the arguments of ``commands.run`` and build its requests (pure)."""
    _ops.check_bool("background", background)
    use_shell = _ops.resolve_shell(shell, args)
    seconds = _ops.command_seconds(timeout, background=background)
    if isinstance(stdin, bool):
        if stdin and not background:
            raise InvalidArgumentError(
                "bad_request", "stdin=True keeps stdin open for a background command only"
            )
        data: str | bytes | None = None
        keep_open = stdin
    else:
        if stdin is not None and not isinstance(stdin, str | bytes):
            raise InvalidArgumentError("bad_request", "stdin must be text, bytes or a bool")
        data, keep_open = stdin, stdin is not None
    if tag is not None and not background:
        raise InvalidArgumentError("bad_request", "tag names a background command only")
    command = None
    if not background:
        command = _ops.run_command(
            machine_id,
            cmd,
            args=args,
            shell=use_shell,
            cwd=cwd,
            envs=envs,
            user=user,
            timeout=seconds,
            stdin=data,
            request_timeout=request_timeout,
        )
    start = None
    if background or streamed:
        start = pops.start_process(
            machine_id,
            cmd,
            args=args,
            shell=use_shell,
            cwd=cwd,
            envs=envs,
            user=user,
            stdin=keep_open,
            tag=tag,
            timeout=seconds,
        )
    deadline = seconds + _ops.COMMAND_GRACE_SECONDS if seconds > 0 and not background else None
    return RunPlan(command, start, data, deadline)


def _deadline(plan: RunPlan) -> float | None:
    return None if plan.deadline_seconds is None else time.monotonic() + plan.deadline_seconds


class Commands:
    """Run commands in a machine, and manage its processes (synchronous)."""

    def __init__(self, machine_id: str, transport: SyncTransport) -> None:
        self._machine_id = machine_id
        self._transport = transport

    @overload
    def run(
        self,
        cmd: str | None = None,
        *,
        background: Literal[False] = False,
        args: Sequence[str] | None = None,
        shell: bool | None = None,
        cwd: str | None = None,
        envs: Mapping[str, str] | None = None,
        user: str | None = None,
        timeout: float | None | Default = DEFAULT,
        stdin: str | bytes | bool | None = None,
        tag: str | None = None,
        on_stdout: OutputCallback | None = None,
        on_stderr: OutputCallback | None = None,
    ) -> CommandResult: ...
    @overload
    def run(
        self,
        cmd: str | None = None,
        *,
        background: Literal[True],
        args: Sequence[str] | None = None,
        shell: bool | None = None,
        cwd: str | None = None,
        envs: Mapping[str, str] | None = None,
        user: str | None = None,
        timeout: float | None | Default = DEFAULT,
        stdin: str | bytes | bool | None = None,
        tag: str | None = None,
        on_stdout: OutputCallback | None = None,
        on_stderr: OutputCallback | None = None,
    ) -> CommandHandle: ...
    def run(
        self,
        cmd: str | None = None,
        *,
        background: bool = False,
        args: Sequence[str] | None = None,
        shell: bool | None = None,
        cwd: str | None = None,
        envs: Mapping[str, str] | None = None,
        user: str | None = None,
        timeout: float | None | Default = DEFAULT,
        stdin: str | bytes | bool | None = None,
        tag: str | None = None,
        on_stdout: OutputCallback | None = None,
        on_stderr: OutputCallback | None = None,
    ) -> CommandResult | CommandHandle:
        plan = plan_run(
            self._machine_id,
            cmd,
            background=background,
            streamed=on_stdout is not None or on_stderr is not None,
            args=args,
            shell=shell,
            cwd=cwd,
            envs=envs,
            user=user,
            timeout=timeout,
            stdin=stdin,
            tag=tag,
            request_timeout=self._transport.config.request_timeout,
        )
        if plan.start is None:
            assert plan.command is not None
            return self._transport.send(plan.command)
        try:
            info = self._transport.send(plan.start)
        except AgentOutdatedError:
            if plan.command is None:
                raise
            result = self._transport.send(plan.command)  # an old machine: no streaming
            _ops.output_callbacks(result, on_stdout, on_stderr)
            return result
        handle = CommandHandle(
            self._machine_id,
            self._transport,
            info,
            on_stdout=on_stdout,
            on_stderr=on_stderr,
            follow=background,
        )
        if background:
            if plan.stdin is not None:
                self.send_stdin(info.pid, plan.stdin, close=True)
            return handle
        try:
            if plan.stdin is not None:
                self.send_stdin(info.pid, plan.stdin, close=True)
            handle._follow_here(_deadline(plan))
            return handle._state.result()
        except BaseException:
            if handle._state.end is None:
                _kill_quietly(handle)
            raise

    run.__doc__ = _RUN_DOC

    def connect(
        self,
        pid: int,
        *,
        on_stdout: OutputCallback | None = None,
        on_stderr: OutputCallback | None = None,
    ) -> CommandHandle:
        """A handle of a process started earlier (by any client): it first gets the
        output the process kept (its newest 1 MiB of each stream), then follows it.
        :class:`~nullspace.ProcessNotFoundError` when there is no such process."""
        info = self._transport.send(pops.get_process(self._machine_id, pid))
        return CommandHandle(
            self._machine_id, self._transport, info, on_stdout=on_stdout, on_stderr=on_stderr
        )

    def list(self) -> ProcessList:
        """Running and recently exited processes (PTY sessions too), by pid."""
        return self._transport.send(pops.list_processes(self._machine_id))

    def get_info(self, pid: int) -> ProcessInfo:
        return self._transport.send(pops.get_process(self._machine_id, pid))

    def kill(self, pid: int) -> bool:
        """SIGKILL the process group: ``True`` if killed now, ``False`` if it had
        already exited."""
        return self._transport.send(pops.kill_process(self._machine_id, pid))

    def send_stdin(self, pid: int, data: str | bytes, *, close: bool = False) -> None:
        """Write to a process's stdin (:class:`~nullspace.StdinClosedError` when it is
        closed or was never opened); ``close=True`` closes it afterwards."""
        for op in pops.write_stdin(self._machine_id, pid, data, close=close):
            self._transport.send(op)

    def close_stdin(self, pid: int) -> None:
        self._transport.send(pops.close_stdin(self._machine_id, pid))

    def signal(self, pid: int, signal: str | int) -> None:
        """Send a signal (``"SIGTERM"``, ``"INT"``, ``15``) to the process group."""
        self._transport.send(pops.signal_process(self._machine_id, pid, signal))

    def get_logs(
        self,
        pid: int,
        *,
        stdout_offset: int | None = None,
        stderr_offset: int | None = None,
        encoding: pops.LogEncoding = "utf8",
    ) -> ProcessLogs:
        """The output a process kept, from the offsets (default: the oldest kept)."""
        op = pops.process_logs(
            self._machine_id,
            pid,
            stdout_offset=stdout_offset,
            stderr_offset=stderr_offset,
            encoding=encoding,
        )
        return self._transport.send(op)

    logs = get_logs


class AsyncCommands:
    """Run commands in a machine, and manage its processes (asynchronous)."""

    def __init__(self, machine_id: str, transport: AsyncTransport) -> None:
        self._machine_id = machine_id
        self._transport = transport

    @overload
    async def run(
        self,
        cmd: str | None = None,
        *,
        background: Literal[False] = False,
        args: Sequence[str] | None = None,
        shell: bool | None = None,
        cwd: str | None = None,
        envs: Mapping[str, str] | None = None,
        user: str | None = None,
        timeout: float | None | Default = DEFAULT,
        stdin: str | bytes | bool | None = None,
        tag: str | None = None,
        on_stdout: OutputCallback | None = None,
        on_stderr: OutputCallback | None = None,
    ) -> CommandResult: ...
    @overload
    async def run(
        self,
        cmd: str | None = None,
        *,
        background: Literal[True],
        args: Sequence[str] | None = None,
        shell: bool | None = None,
        cwd: str | None = None,
        envs: Mapping[str, str] | None = None,
        user: str | None = None,
        timeout: float | None | Default = DEFAULT,
        stdin: str | bytes | bool | None = None,
        tag: str | None = None,
        on_stdout: OutputCallback | None = None,
        on_stderr: OutputCallback | None = None,
    ) -> AsyncCommandHandle: ...
    async def run(
        self,
        cmd: str | None = None,
        *,
        background: bool = False,
        args: Sequence[str] | None = None,
        shell: bool | None = None,
        cwd: str | None = None,
        envs: Mapping[str, str] | None = None,
        user: str | None = None,
        timeout: float | None | Default = DEFAULT,
        stdin: str | bytes | bool | None = None,
        tag: str | None = None,
        on_stdout: OutputCallback | None = None,
        on_stderr: OutputCallback | None = None,
    ) -> CommandResult | AsyncCommandHandle:
        plan = plan_run(
            self._machine_id,
            cmd,
            background=background,
            streamed=on_stdout is not None or on_stderr is not None,
            args=args,
            shell=shell,
            cwd=cwd,
            envs=envs,
            user=user,
            timeout=timeout,
            stdin=stdin,
            tag=tag,
            request_timeout=self._transport.config.request_timeout,
        )
        if plan.start is None:
            assert plan.command is not None
            return await self._transport.send(plan.command)
        try:
            info = await self._transport.send(plan.start)
        except AgentOutdatedError:
            if plan.command is None:
                raise
            result = await self._transport.send(plan.command)
            for returned in _ops.output_callbacks(result, on_stdout, on_stderr):
                if inspect.isawaitable(returned):
                    await returned
            return result
        handle = AsyncCommandHandle(
            self._machine_id,
            self._transport,
            info,
            on_stdout=on_stdout,
            on_stderr=on_stderr,
            follow=background,
        )
        if background:
            if plan.stdin is not None:
                await self.send_stdin(info.pid, plan.stdin, close=True)
            return handle
        try:
            if plan.stdin is not None:
                await self.send_stdin(info.pid, plan.stdin, close=True)
            await handle._follow_here(_deadline(plan))
            return handle._state.result()
        except BaseException:
            if handle._state.end is None:
                await _akill_quietly(handle)
            raise

    run.__doc__ = _RUN_DOC

    async def connect(
        self,
        pid: int,
        *,
        on_stdout: OutputCallback | None = None,
        on_stderr: OutputCallback | None = None,
    ) -> AsyncCommandHandle:
        """See :meth:`Commands.connect`."""
        info = await self._transport.send(pops.get_process(self._machine_id, pid))
        return AsyncCommandHandle(
            self._machine_id, self._transport, info, on_stdout=on_stdout, on_stderr=on_stderr
        )

    async def list(self) -> ProcessList:
        return await self._transport.send(pops.list_processes(self._machine_id))

    async def get_info(self, pid: int) -> ProcessInfo:
        return await self._transport.send(pops.get_process(self._machine_id, pid))

    async def kill(self, pid: int) -> bool:
        return await self._transport.send(pops.kill_process(self._machine_id, pid))

    async def send_stdin(self, pid: int, data: str | bytes, *, close: bool = False) -> None:
        for op in pops.write_stdin(self._machine_id, pid, data, close=close):
            await self._transport.send(op)

    async def close_stdin(self, pid: int) -> None:
        await self._transport.send(pops.close_stdin(self._machine_id, pid))

    async def signal(self, pid: int, signal: str | int) -> None:
        await self._transport.send(pops.signal_process(self._machine_id, pid, signal))

    async def get_logs(
        self,
        pid: int,
        *,
        stdout_offset: int | None = None,
        stderr_offset: int | None = None,
        encoding: pops.LogEncoding = "utf8",
    ) -> ProcessLogs:
        op = pops.process_logs(
            self._machine_id,
            pid,
            stdout_offset=stdout_offset,
            stderr_offset=stderr_offset,
            encoding=encoding,
        )
        return await self._transport.send(op)

    logs = get_logs


def _kill_quietly(handle: CommandHandle) -> None:
    """A foreground command whose caller gave up (deadline, interrupt) is not left
    running."""
    try:
        handle.kill()
    except Exception:  # the first error is the one to raise
        pass


async def _akill_quietly(handle: AsyncCommandHandle) -> None:
    try:
        await handle.kill()
    except Exception:
        pass
