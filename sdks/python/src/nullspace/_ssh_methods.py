"""The SSH access methods of :class:`~nullspace.Machine` and
:class:`~nullspace.AsyncMachine`: each is one line over :mod:`._ssh`, which builds
the requests, checks the arguments and decodes the answers; the two classes differ
only in awaiting."""

from __future__ import annotations

from . import _ssh as ops
from ._transport import AsyncTransport, SyncTransport
from .models import MachineInfo
from .ssh import SshAccess

__all__ = ["AsyncSshMethods", "SshMethods"]

_MINUTES = ops.DEFAULT_SSH_MINUTES


class SshMethods:
    """SSH access to the machine through the server's relay (synchronous)."""

    _info: MachineInfo
    _transport: SyncTransport

    def create_ssh_access(self, public_key: str, expires_in_minutes: int = _MINUTES) -> SshAccess:
        """An OpenSSH user certificate for ``public_key`` (one key line), good for this
        machine for ``expires_in_minutes`` (1-1440), with the relay's address and host key."""
        return self._transport.send(
            ops.create_ssh_access(self._info.id, public_key, expires_in_minutes)
        )

    def revoke_ssh_access(self, access_id: str) -> None:
        """Revoke a grant: new logins and channels with its certificate are refused."""
        self._transport.send(ops.revoke_ssh_access(self._info.id, access_id))


class AsyncSshMethods:
    """SSH access to the machine through the server's relay (asynchronous)."""

    _info: MachineInfo
    _transport: AsyncTransport

    async def create_ssh_access(
        self, public_key: str, expires_in_minutes: int = _MINUTES
    ) -> SshAccess:
        """An OpenSSH user certificate for ``public_key`` (one key line), good for this
        machine for ``expires_in_minutes`` (1-1440), with the relay's address and host key."""
        op = ops.create_ssh_access(self._info.id, public_key, expires_in_minutes)
        return await self._transport.send(op)

    async def revoke_ssh_access(self, access_id: str) -> None:
        """Revoke a grant: new logins and channels with its certificate are refused."""
        await self._transport.send(ops.revoke_ssh_access(self._info.id, access_id))
