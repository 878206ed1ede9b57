"""Nullspace Python SDK: isolated microVMs for AI agents.

from nullspace import Machine

with Machine.create(template="base", timeout=300) as machine:
    result = machine.commands.run("python3 --version", shell=True)
    print(machine.id, result.stdout.strip())
"""

from ._config import DEFAULT_API_URL, ClientConfig, resolve_config
from ._version import __version__
from .async_machine import AsyncMachine, AsyncSandbox
from .commands import AsyncCommands, Commands
from .errors import (
    AuthError,
    BatchWriteError,
    ConflictError,
    FilesystemError,
    FileTooLargeError,
    IdempotencyKeyReusedError,
    InvalidArgumentError,
    MachineError,
    NotEnoughSpaceError,
    NotFoundError,
    NullspaceError,
    OutputLimitError,
    RateLimitError,
    SandboxError,
    ServerError,
    SnapshotInUseError,
    StateCorruptError,
    TimeoutError,
)
from .files import AsyncFilesystem, Filesystem
from .machine import Machine, Sandbox
from .models import (
    CommandResult,
    EntryInfo,
    MachineInfo,
    MachineMetrics,
    SandboxInfo,
    SnapshotInfo,
    TimeoutAction,
    WriteEntry,
)
from .pagination import AsyncMachinePaginator, AsyncPaginator, MachinePaginator, Paginator
from .snapshot import AsyncSnapshot, AsyncSnapshotPaginator, Snapshot, SnapshotPaginator

SandboxPaginator = MachinePaginator
AsyncSandboxPaginator = AsyncMachinePaginator

__all__ = [
    "DEFAULT_API_URL",
    "AsyncCommands",
    "AsyncFilesystem",
    "AsyncMachine",
    "AsyncMachinePaginator",
    "AsyncPaginator",
    "AsyncSandbox",
    "AsyncSandboxPaginator",
    "AsyncSnapshot",
    "AsyncSnapshotPaginator",
    "AuthError",
    "BatchWriteError",
    "ClientConfig",
    "CommandResult",
    "Commands",
    "ConflictError",
    "EntryInfo",
    "FileTooLargeError",
    "Filesystem",
    "FilesystemError",
    "IdempotencyKeyReusedError",
    "InvalidArgumentError",
    "Machine",
    "MachineError",
    "MachineInfo",
    "MachineMetrics",
    "MachinePaginator",
    "NotEnoughSpaceError",
    "NotFoundError",
    "NullspaceError",
    "OutputLimitError",
    "Paginator",
    "RateLimitError",
    "Sandbox",
    "SandboxError",
    "SandboxInfo",
    "SandboxPaginator",
    "ServerError",
    "Snapshot",
    "SnapshotInUseError",
    "SnapshotInfo",
    "SnapshotPaginator",
    "StateCorruptError",
    "TimeoutAction",
    "TimeoutError",
    "WriteEntry",
    "__version__",
    "resolve_config",
]
