"""Ready commands of a template's start command (``spec/templates.md``).

A build runs its ready command (through ``bash -c``) every 500 ms until it exits 0,
then snapshots the build machine; machines created from the template start with the
service already answering. Each helper here returns a :class:`ReadyCmd`: the shell
command, and the ready timeout it needs when the server's default (60 s) is too short.
"""

from __future__ import annotations

import math
import shlex
from dataclasses import dataclass

from .errors import InvalidArgumentError

__all__ = [
    "DEFAULT_READY_TIMEOUT_SECS",
    "MAX_READY_TIMEOUT_SECS",
    "ReadyCmd",
    "wait_for_file",
    "wait_for_port",
    "wait_for_process",
    "wait_for_timeout",
    "wait_for_url",
]

DEFAULT_READY_TIMEOUT_SECS = 60
"""How long the server waits for a ready command when no timeout is given."""
MAX_READY_TIMEOUT_SECS = 3600


def check_ready_timeout(name: str, value: int | None) -> int | None:
    """``value`` when it is ``None`` or an integer 1-3600, else raise."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgumentError("bad_request", f"{name} must be an integer, got {value!r}")
    if not 1 <= value <= MAX_READY_TIMEOUT_SECS:
        raise InvalidArgumentError(
            "bad_request", f"{name} must be 1-{MAX_READY_TIMEOUT_SECS} seconds, got {value}"
        )
    return value


@dataclass(frozen=True)
class ReadyCmd:
    """A ready command: ``cmd`` succeeds (exits 0) once the service is ready."""

    cmd: str
    """The shell command (run with ``bash -c``)."""
    timeout_secs: int | None = None
    """The ready timeout it needs, in seconds (``None``: the build's, by default 60)."""

    def __post_init__(self) -> None:
        if not isinstance(self.cmd, str) or not self.cmd.strip():
            raise InvalidArgumentError("bad_request", "a ready command must be a non-empty string")
        check_ready_timeout("timeout_secs", self.timeout_secs)

    def get_cmd(self) -> str:
        """The shell command."""
        return self.cmd

    def __str__(self) -> str:
        return self.cmd


def _port(port: int) -> int:
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise InvalidArgumentError("bad_request", f"port must be an integer 1-65535, got {port!r}")
    return port


def _text(name: str, value: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidArgumentError("bad_request", f"{name} must be a non-empty string")
    return value


def wait_for_port(port: int, *, timeout_secs: int | None = None) -> ReadyCmd:
    """Ready once something listens on TCP ``port`` in the machine."""
    return ReadyCmd(f"ss -ltn | grep -q ':{_port(port)} '", timeout_secs)


def wait_for_url(url: str, status_code: int = 200, *, timeout_secs: int | None = None) -> ReadyCmd:
    """Ready once a ``GET`` of ``url`` (from inside the machine) answers ``status_code``."""
    if isinstance(status_code, bool) or not isinstance(status_code, int):
        raise InvalidArgumentError("bad_request", f"status_code must be an int: {status_code!r}")
    if not 100 <= status_code <= 599:
        raise InvalidArgumentError("bad_request", f"status_code must be 100-599: {status_code}")
    target = shlex.quote(_text("url", url))
    cmd = f"test \"$(curl -s -o /dev/null -w '%{{http_code}}' {target})\" = {status_code}"
    return ReadyCmd(cmd, timeout_secs)


def wait_for_file(path: str, *, timeout_secs: int | None = None) -> ReadyCmd:
    """Ready once ``path`` exists in the machine."""
    return ReadyCmd(f"test -e {shlex.quote(_text('path', path))}", timeout_secs)


def wait_for_process(name: str, *, timeout_secs: int | None = None) -> ReadyCmd:
    """Ready once a process named exactly ``name`` runs in the machine."""
    return ReadyCmd(f"pgrep -x {shlex.quote(_text('name', name))} >/dev/null", timeout_secs)


def wait_for_timeout(ms: int | float) -> ReadyCmd:
    """Ready ``ms`` milliseconds after the start command started."""
    if isinstance(ms, bool) or not isinstance(ms, int | float) or not math.isfinite(ms) or ms < 0:
        raise InvalidArgumentError("bad_request", f"ms must be a number >= 0, got {ms!r}")
    seconds = ms / 1000
    if seconds > MAX_READY_TIMEOUT_SECS - 10:
        raise InvalidArgumentError(
            "bad_request", f"a wait must end within {MAX_READY_TIMEOUT_SECS - 10} s, got {ms} ms"
        )
    text = f"{seconds:.3f}".rstrip("0").rstrip(".")
    need = math.ceil(seconds) + 10
    return ReadyCmd(f"sleep {text}", need if need > DEFAULT_READY_TIMEOUT_SECS else None)
