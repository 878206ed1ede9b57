"""Operations running commands, and the output callbacks of their results (see
:mod:`._ops`)."""

from __future__ import annotations

import enum
import shlex
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ._op_base import (
    _check_bool,
    _check_str_map,
    _drop_none,
    _machine_path,
    _model,
)
from ._transport import Operation, RequestSpec
from .errors import (
    InvalidArgumentError,
)
from .models import (
    CommandResult,
)

COMMAND_GRACE_SECONDS = 30.0
"""Extra HTTP time on top of a command's own timeout, so the server answers first."""


# ---------------------------------------------------------------------------
# commands


class Default(enum.Enum):
    """Marks an argument left out, where ``None`` already means something."""

    DEFAULT = "DEFAULT"

    def __repr__(self) -> str:
        return "DEFAULT"


DEFAULT = Default.DEFAULT

FOREGROUND_TIMEOUT = 60.0
"""A foreground command's timeout when none is given (seconds); a background one has
no limit unless given one."""


def command_seconds(timeout: float | None | Default, *, background: bool) -> float:
    """A command's timeout in seconds, ``0`` for no limit (``None`` or ``0``); left
    out: :data:`FOREGROUND_TIMEOUT` in the foreground, no limit in the background."""
    if timeout is DEFAULT:
        return 0.0 if background else FOREGROUND_TIMEOUT
    if timeout is None:
        return 0.0
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise InvalidArgumentError("bad_request", f"timeout must be a number, got {timeout!r}")
    if timeout < 0:
        raise InvalidArgumentError("bad_request", "timeout must be >= 0 (0 = no limit)")
    return float(timeout)


def json_seconds(seconds: float) -> int | float:
    """``60.0`` is sent as ``60``, ``2.5`` as ``2.5``."""
    return int(seconds) if seconds.is_integer() else seconds


def resolve_shell(shell: bool | None, args: Sequence[str] | None) -> bool:
    """``shell`` left out (``None``): a string runs with ``bash -c``. ``shell=True``
    with ``args=[...]`` is refused: an argv runs without a shell."""
    if shell is None:
        return args is None
    _check_bool("shell", shell)
    if shell and args is not None:
        raise InvalidArgumentError(
            "bad_request", "shell=True and args=[...] exclude each other: args run without a shell"
        )
    return shell


def command_body_argv(cmd: str | None, args: Sequence[str] | None, shell: bool) -> dict[str, Any]:
    """``{"command": ...}`` (run by ``bash -c``) or ``{"args": [...]}``.

    - ``args`` given: argv mode; a ``cmd`` given too becomes ``argv[0]``.
    - ``shell=True`` (default) with a string: ``{"command": cmd}``.
    - ``shell=False`` with a string: the string split with :func:`shlex.split`.
    """
    if args is not None:
        if isinstance(args, str):
            raise InvalidArgumentError("bad_request", "args must be a list of strings")
        argv = ([cmd] if cmd is not None else []) + list(args)
        if not argv:
            raise InvalidArgumentError("bad_request", "args must not be empty")
        if not all(isinstance(a, str) for a in argv):
            raise InvalidArgumentError("bad_request", "args must be a list of strings")
        return {"args": argv}
    if cmd is None:
        raise InvalidArgumentError("bad_request", "give a command string or args=[...]")
    if not isinstance(cmd, str):
        raise InvalidArgumentError("bad_request", "the command must be a string")
    if shell:
        if not cmd.strip():
            raise InvalidArgumentError("bad_request", "the command must not be empty")
        return {"command": cmd}
    argv = shlex.split(cmd)
    if not argv:
        raise InvalidArgumentError("bad_request", "the command must not be empty")
    return {"args": argv}


def run_command(
    machine_id: str,
    cmd: str | None = None,
    *,
    args: Sequence[str] | None = None,
    shell: bool = True,
    cwd: str | None = None,
    envs: Mapping[str, str] | None = None,
    user: str | None = None,
    timeout: float | None = 60,
    stdin: str | bytes | None = None,
    request_timeout: float | None = None,
) -> Operation[CommandResult]:
    """``timeout`` is the command's limit in seconds (``0`` or ``None``: no limit). The
    HTTP request waits that long plus a grace period (at least ``request_timeout``)."""
    body = command_body_argv(cmd, args, shell)
    seconds = command_seconds(timeout, background=False)
    if isinstance(stdin, bytes):
        stdin = stdin.decode("utf-8")
    body.update(
        _drop_none(
            {
                "cwd": cwd,
                "envs": _check_str_map("envs", envs),
                "user": user,
                "timeout": json_seconds(seconds),
                "stdin": stdin,
            }
        )
    )
    http_timeout = None
    if seconds > 0:
        http_timeout = max(seconds + COMMAND_GRACE_SECONDS, request_timeout or 0.0)
    return Operation(
        RequestSpec(
            "POST",
            _machine_path(machine_id, "/commands"),
            json=body,
            timeout=http_timeout,
            no_timeout=seconds == 0,
        ),
        _model(CommandResult),
    )


# ---------------------------------------------------------------------------
# output callbacks (shared by sync and async commands)


def output_callbacks(
    result: CommandResult,
    on_stdout: Callable[[str], Any] | None,
    on_stderr: Callable[[str], Any] | None,
) -> list[Any]:
    """Call the callbacks with the output; return what they returned (awaitables
    are awaited by the async client)."""
    returned: list[Any] = []
    if on_stdout is not None and result.stdout:
        returned.append(on_stdout(result.stdout))
    if on_stderr is not None and result.stderr:
        returned.append(on_stderr(result.stderr))
    return returned
