"""Typed results of the Nullspace API (pydantic models mirroring ``spec/openapi.yaml``).

Response models ignore fields they do not know, so a newer server does not break an
older SDK.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "CommandResult",
    "EntryInfo",
    "MachineInfo",
    "MachineMetrics",
    "MachineState",
    "SandboxInfo",
    "SnapshotInfo",
    "TimeoutAction",
    "WriteEntry",
]

MachineState = str
"""One of ``starting``, ``running``, ``snapshotting``, ``pausing``, ``paused``,
``resuming``, ``killing``, ``killed``, ``failed`` (a plain ``str``, so states added by a
newer server still parse). ``killed`` and ``failed`` machines are kept for the server's
history retention (7 days by default) and listed only when asked for by state."""

TimeoutAction = Literal["kill", "pause", "hibernate"]
"""What happens to a machine at its timeout: ``kill`` (default) or ``pause``
(``hibernate`` is an alias; the API answers ``pause``)."""


class _Response(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class MachineInfo(_Response):
    """A machine as the API describes it (``Machine`` schema)."""

    id: str
    template: str
    state: MachineState
    cpu_count: int
    memory_mb: int
    metadata: dict[str, str] = Field(default_factory=dict)
    cwd: str
    created_at: datetime
    end_at: datetime
    """When the timeout is reached (then :attr:`timeout_action` happens); for a killed
    or failed machine, when it ended."""
    timeout_action: str = "kill"
    """``kill`` or ``pause`` (a plain ``str``, like :data:`MachineState`)."""
    auto_resume: bool = False
    """Whether a request to the machine while it is paused wakes it."""
    snapshot_id: str | None = None
    """The snapshot it was started from, if any."""
    forked_from: str | None = None
    """The machine it was forked from, if any."""
    failure_reason: str | None = None
    """Why the machine failed (state ``failed`` only; ``None`` otherwise)."""

    @property
    def machine_id(self) -> str:
        """Alias of :attr:`id`."""
        return self.id

    @property
    def sandbox_id(self) -> str:
        """Alias of :attr:`id` (older ``Sandbox`` naming)."""
        return self.id

    @property
    def is_running(self) -> bool:
        return self.state == "running"

    @property
    def is_paused(self) -> bool:
        return self.state == "paused"


SandboxInfo = MachineInfo


class SnapshotInfo(_Response):
    """A reusable snapshot as the API describes it (``Snapshot`` schema); see
    :class:`~nullspace.Snapshot` for the handle with methods."""

    id: str
    machine_id: str
    """The machine it was taken from."""
    template: str
    cpu_count: int
    """vCPUs of machines started from it."""
    memory_mb: int
    """Memory (MiB) of machines started from it."""
    metadata: dict[str, str] = Field(default_factory=dict)
    size_bytes: int
    """Bytes it takes on the server's disk."""
    source_stall_ms: int
    """How long the source machine was stopped while it was taken."""
    created_at: datetime

    @property
    def snapshot_id(self) -> str:
        """Alias of :attr:`id`."""
        return self.id


class MachineMetrics(_Response):
    """One sample of a machine's resource use (``MachineMetrics`` schema)."""

    cpu_count: int
    cpu_used_pct: float
    """CPU busy over a short sample, percent of all vCPUs (0-100)."""
    mem_total_bytes: int
    mem_used_bytes: int
    """Memory in use: total minus available."""
    disk_total_bytes: int
    """Size of the root filesystem."""
    disk_used_bytes: int
    uptime_secs: int
    """Seconds since the machine was created."""
    timestamp: datetime
    """When the sample was taken."""


class CommandResult(_Response):
    """The outcome of a finished command (any exit code)."""

    stdout: str
    stderr: str
    exit_code: int
    duration_ms: int

    @property
    def ok(self) -> bool:
        """``True`` when the command exited with status 0."""
        return self.exit_code == 0


class EntryInfo(_Response):
    """Facts about a file, directory or symlink in a machine."""

    name: str
    path: str
    type: str
    """``file``, ``dir``, ``symlink`` or ``other``."""
    size: int
    mode: int
    permissions: str
    owner: str
    group: str
    modified_time: datetime
    symlink_target: str | None = None

    @property
    def is_dir(self) -> bool:
        return self.type == "dir"

    @property
    def is_file(self) -> bool:
        return self.type == "file"


class WriteEntry(BaseModel):
    """One file of :meth:`Filesystem.write_files`: text is sent as UTF-8 ``content``,
    bytes as ``content_base64``."""

    model_config = ConfigDict(frozen=True)

    path: str
    data: str | bytes

    def __init__(self, path: str, data: str | bytes) -> None:
        super().__init__(path=path, data=data)
