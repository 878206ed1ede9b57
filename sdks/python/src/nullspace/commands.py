"""``machine.commands``: run commands in a machine (sync and async flavours).

Both classes are thin: the request and its decoding come from :mod:`nullspace._ops`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from . import _ops
from ._transport import AsyncTransport, SyncTransport
from .models import CommandResult

__all__ = ["AsyncCommands", "Commands", "OutputCallback"]

OutputCallback = Callable[[str], Any]

_RUN_DOC = """Run a command and wait for it to finish.

        ``shell=True`` (default) with a string runs it with ``bash -c``. ``args=[...]``
        runs an argv without a shell (a ``cmd`` given too becomes ``argv[0]``);
        ``shell=False`` with a string splits it with :func:`shlex.split`.

        ``cwd``, ``envs`` and ``user`` (default ``user``) set where and as whom it runs;
        ``stdin`` is fed to it; ``timeout`` is in seconds (``0``/``None``: no limit) and
        raises :class:`~nullspace.TimeoutError` when exceeded.

        A non-zero exit status is *not* an error: look at ``result.exit_code``.

        ``on_stdout`` / ``on_stderr`` are called with the whole output text once the
        command has returned: the HTTP API does not stream output yet, so they are not
        called live. Async callbacks (coroutine functions) are awaited by
        :class:`AsyncCommands`.
        """


class Commands:
    """Run commands in a machine (synchronous)."""

    def __init__(self, machine_id: str, transport: SyncTransport) -> None:
        self._machine_id = machine_id
        self._transport = transport

    def run(
        self,
        cmd: str | None = None,
        *,
        args: Sequence[str] | None = None,
        shell: bool = True,
        cwd: str | None = None,
        envs: Mapping[str, str] | None = None,
        user: str | None = None,
        timeout: float | None = 60,
        stdin: str | bytes | None = None,
        on_stdout: OutputCallback | None = None,
        on_stderr: OutputCallback | None = None,
    ) -> CommandResult:
        result = self._transport.send(
            _ops.run_command(
                self._machine_id,
                cmd,
                args=args,
                shell=shell,
                cwd=cwd,
                envs=envs,
                user=user,
                timeout=timeout,
                stdin=stdin,
                request_timeout=self._transport.config.request_timeout,
            )
        )
        _ops.output_callbacks(result, on_stdout, on_stderr)
        return result

    run.__doc__ = _RUN_DOC


class AsyncCommands:
    """Run commands in a machine (asynchronous)."""

    def __init__(self, machine_id: str, transport: AsyncTransport) -> None:
        self._machine_id = machine_id
        self._transport = transport

    async def run(
        self,
        cmd: str | None = None,
        *,
        args: Sequence[str] | None = None,
        shell: bool = True,
        cwd: str | None = None,
        envs: Mapping[str, str] | None = None,
        user: str | None = None,
        timeout: float | None = 60,
        stdin: str | bytes | None = None,
        on_stdout: OutputCallback | None = None,
        on_stderr: OutputCallback | None = None,
    ) -> CommandResult:
        result = await self._transport.send(
            _ops.run_command(
                self._machine_id,
                cmd,
                args=args,
                shell=shell,
                cwd=cwd,
                envs=envs,
                user=user,
                timeout=timeout,
                stdin=stdin,
                request_timeout=self._transport.config.request_timeout,
            )
        )
        for returned in _ops.output_callbacks(result, on_stdout, on_stderr):
            if inspect.isawaitable(returned):
                await returned
        return result

    run.__doc__ = _RUN_DOC
