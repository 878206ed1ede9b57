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
    AgentOutdatedError,
    AuthError,
    BatchWriteError,
    ConflictError,
    FilesystemError,
    FileTooLargeError,
    IdempotencyKeyReusedError,
    InvalidArgumentError,
    MachineError,
    NotAPtyError,
    NotEnoughSpaceError,
    NotFoundError,
    NullspaceError,
    OutputLimitError,
    ProcessExitedError,
    ProcessNotFoundError,
    RateLimitError,
    SandboxError,
    ServerError,
    SnapshotInUseError,
    StateCorruptError,
    StdinClosedError,
    TagInUseError,
    TimeoutError,
)
from .files import AsyncFilesystem, Filesystem
from .machine import Machine, Sandbox
from .models import (
    CommandResult,
    DownloadProgress,
    DownloadResult,
    EntryInfo,
    MachineInfo,
    MachineMetrics,
    ProcessInfo,
    ProcessLogs,
    PtySessionInfo,
    PtySize,
    SandboxInfo,
    SignedUrl,
    SnapshotInfo,
    StreamFacts,
    TimeoutAction,
    UploadProgress,
    UploadResult,
    WriteEntry,
)
from .pagination import AsyncMachinePaginator, AsyncPaginator, MachinePaginator, Paginator
from .process import AsyncCommandHandle, CommandHandle
from .pty import AsyncPty, AsyncPtySession, Pty, PtySession
from .snapshot import AsyncSnapshot, AsyncSnapshotPaginator, Snapshot, SnapshotPaginator

SandboxPaginator = MachinePaginator
AsyncSandboxPaginator = AsyncMachinePaginator

__all__ = [
    "DEFAULT_API_URL",
    "AgentOutdatedError",
    "AsyncCommandHandle",
    "AsyncCommands",
    "AsyncFilesystem",
    "AsyncMachine",
    "AsyncMachinePaginator",
    "AsyncPaginator",
    "AsyncPty",
    "AsyncPtySession",
    "AsyncSandbox",
    "AsyncSandboxPaginator",
    "AsyncSnapshot",
    "AsyncSnapshotPaginator",
    "AuthError",
    "BatchWriteError",
    "ClientConfig",
    "CommandHandle",
    "CommandResult",
    "Commands",
    "ConflictError",
    "DownloadProgress",
    "DownloadResult",
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
    "NotAPtyError",
    "NotEnoughSpaceError",
    "NotFoundError",
    "NullspaceError",
    "OutputLimitError",
    "Paginator",
    "ProcessExitedError",
    "ProcessInfo",
    "ProcessLogs",
    "ProcessNotFoundError",
    "Pty",
    "PtySession",
    "PtySessionInfo",
    "PtySize",
    "RateLimitError",
    "Sandbox",
    "SandboxError",
    "SandboxInfo",
    "SandboxPaginator",
    "ServerError",
    "SignedUrl",
    "Snapshot",
    "SnapshotInUseError",
    "SnapshotInfo",
    "SnapshotPaginator",
    "StateCorruptError",
    "StdinClosedError",
    "StreamFacts",
    "TagInUseError",
    "TimeoutAction",
    "TimeoutError",
    "UploadProgress",
    "UploadResult",
    "WriteEntry",
    "__version__",
    "resolve_config",
]
