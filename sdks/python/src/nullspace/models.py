"""Typed results of the Nullspace API (pydantic models mirroring ``spec/openapi.yaml``).

Response models ignore fields they do not know, so a newer server does not break an
older SDK.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "CommandResult",
    "EntryInfo",
    "MachineInfo",
    "MachineState",
    "SandboxInfo",
    "WriteEntry",
]

MachineState = str
"""One of ``starting``, ``running``, ``snapshotting``, ``pausing``, ``paused``,
``resuming``, ``killing``, ``killed``, ``failed`` (a plain ``str``, so states added by a
newer server still parse)."""


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
