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
    InvalidArgumentError,
    MachineError,
    NotFoundError,
    NullspaceError,
    OutputLimitError,
    RateLimitError,
    SandboxError,
    ServerError,
    TimeoutError,
)
from .files import AsyncFilesystem, Filesystem
from .machine import Machine, Sandbox
from .models import CommandResult, EntryInfo, MachineInfo, SandboxInfo, WriteEntry
from .pagination import AsyncMachinePaginator, MachinePaginator

SandboxPaginator = MachinePaginator
AsyncSandboxPaginator = AsyncMachinePaginator

__all__ = [
    "DEFAULT_API_URL",
    "AsyncCommands",
    "AsyncFilesystem",
    "AsyncMachine",
    "AsyncMachinePaginator",
    "AsyncSandbox",
    "AsyncSandboxPaginator",
    "AuthError",
    "BatchWriteError",
    "ClientConfig",
    "CommandResult",
    "Commands",
    "ConflictError",
    "EntryInfo",
    "Filesystem",
    "FilesystemError",
    "InvalidArgumentError",
    "Machine",
    "MachineError",
    "MachineInfo",
    "MachinePaginator",
    "NotFoundError",
    "NullspaceError",
    "OutputLimitError",
    "RateLimitError",
    "Sandbox",
    "SandboxError",
    "SandboxInfo",
    "SandboxPaginator",
    "ServerError",
    "TimeoutError",
    "WriteEntry",
    "__version__",
    "resolve_config",
]
