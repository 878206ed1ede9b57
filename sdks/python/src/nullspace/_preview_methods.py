"""The preview methods of :class:`~nullspace.Machine` and :class:`~nullspace.AsyncMachine`.

Each is one line over :mod:`._previews`, which builds the requests, checks the
arguments, decodes the answers and makes the decisions of the calls of several
requests; the two classes here differ only in awaiting. The machine classes inherit
them, so ``machine.py`` stays about machines.
"""

from __future__ import annotations

from collections.abc import Iterable

from . import _previews as ops
from ._plan import run_async, run_sync
from ._transport import AsyncTransport, SyncTransport
from .models import MachineInfo
from .previews import (
    PreviewGrantInfo,
    PreviewHostInfo,
    PreviewProxyTarget,
    PreviewReadiness,
    PreviewTransport,
    PreviewUrl,
    RevokePreviewGrantResponse,
)

__all__ = ["AsyncPreviewMethods", "PreviewMethods"]

_HOUR = ops.DEFAULT_PREVIEW_SECONDS


class PreviewMethods:
    """Preview URLs of a machine's ports (synchronous); see ``spec/previews.md``."""

    _info: MachineInfo
    _transport: SyncTransport

    def get_preview_url(self, port: int) -> PreviewUrl:
        """The addresses of ``port`` that work as returned: without a token on a machine
        taking public traffic, else with a new one-hour grant (each call makes one)."""
        return run_sync(self._transport, ops.usable_preview(self._info.id, port))

    def get_url(self, port: int) -> str:
        """The HTTP URL of ``port`` (host form; see :meth:`get_preview_url`)."""
        return self.get_preview_url(port).url

    def get_websocket_url(self, port: int) -> str:
        """The WebSocket URL of ``port`` (see :meth:`get_preview_url`)."""
        return self.get_preview_url(port).websocket_url

    def get_host_info(self, port: int, expires_in_seconds: int = _HOUR) -> PreviewHostInfo:
        """Sign ``port`` anew: its host, signed HTTP and WebSocket URLs, end and grant."""
        op = ops.host_info(self._info.id, port, expires_in_seconds)
        return self._transport.send(op)

    def create_signed_preview_url(self, port: int, expires_in_seconds: int = _HOUR) -> PreviewUrl:
        """A new grant for ``port`` (60 s to 7 days), its token in the URLs."""
        op = ops.create_signed_preview(self._info.id, port, expires_in_seconds)
        return self._transport.send(op)

    def list_preview_urls(self, port: int | None = None) -> list[PreviewGrantInfo]:
        """The machine's grants with their counters (of ``port`` only when given)."""
        return self._transport.send(ops.list_grants(self._info.id, port))

    def revoke_preview_url(self, grant_id: str) -> RevokePreviewGrantResponse:
        """Revoke a grant: its token stops working at once, on every request."""
        return self._transport.send(ops.revoke_grant(self._info.id, grant_id))

    def wait_for_preview(
        self,
        port: int,
        timeout: float = 60.0,
        interval: float = 0.5,
        require_service: bool = True,
    ) -> PreviewReadiness:
        """Wait until something answers HTTP on ``port`` (``require_service=False``:
        until the machine can be reached); raise :class:`~nullspace.TimeoutError`
        after ``timeout`` seconds."""
        plan = ops.wait_for_preview(self._info.id, port, timeout, interval, require_service)
        return run_sync(self._transport, plan)

    def create_preview_proxy_target(
        self,
        port: int,
        transports: Iterable[PreviewTransport] = ops.PREVIEW_TRANSPORTS,
        expires_in_seconds: int = _HOUR,
    ) -> PreviewProxyTarget:
        """Header tokens and marker-only URLs for a proxy of your own to ``port``."""
        op = ops.create_proxy_target(self._info.id, port, transports, expires_in_seconds)
        return self._transport.send(op)


class AsyncPreviewMethods:
    """:class:`PreviewMethods`, awaited."""

    _info: MachineInfo
    _transport: AsyncTransport

    async def get_preview_url(self, port: int) -> PreviewUrl:
        """The addresses of ``port`` that work as returned: without a token on a machine
        taking public traffic, else with a new one-hour grant (each call makes one)."""
        return await run_async(self._transport, ops.usable_preview(self._info.id, port))

    async def get_url(self, port: int) -> str:
        """The HTTP URL of ``port`` (host form; see :meth:`get_preview_url`)."""
        return (await self.get_preview_url(port)).url

    async def get_websocket_url(self, port: int) -> str:
        """The WebSocket URL of ``port`` (see :meth:`get_preview_url`)."""
        return (await self.get_preview_url(port)).websocket_url

    async def get_host_info(self, port: int, expires_in_seconds: int = _HOUR) -> PreviewHostInfo:
        """Sign ``port`` anew: its host, signed HTTP and WebSocket URLs, end and grant."""
        op = ops.host_info(self._info.id, port, expires_in_seconds)
        return await self._transport.send(op)

    async def create_signed_preview_url(
        self, port: int, expires_in_seconds: int = _HOUR
    ) -> PreviewUrl:
        """A new grant for ``port`` (60 s to 7 days), its token in the URLs."""
        op = ops.create_signed_preview(self._info.id, port, expires_in_seconds)
        return await self._transport.send(op)

    async def list_preview_urls(self, port: int | None = None) -> list[PreviewGrantInfo]:
        """The machine's grants with their counters (of ``port`` only when given)."""
        return await self._transport.send(ops.list_grants(self._info.id, port))

    async def revoke_preview_url(self, grant_id: str) -> RevokePreviewGrantResponse:
        """Revoke a grant: its token stops working at once, on every request."""
        return await self._transport.send(ops.revoke_grant(self._info.id, grant_id))

    async def wait_for_preview(
        self,
        port: int,
        timeout: float = 60.0,
        interval: float = 0.5,
        require_service: bool = True,
    ) -> PreviewReadiness:
        """Wait until something answers HTTP on ``port`` (``require_service=False``:
        until the machine can be reached); raise :class:`~nullspace.TimeoutError`
        after ``timeout`` seconds."""
        plan = ops.wait_for_preview(self._info.id, port, timeout, interval, require_service)
        return await run_async(self._transport, plan)

    async def create_preview_proxy_target(
        self,
        port: int,
        transports: Iterable[PreviewTransport] = ops.PREVIEW_TRANSPORTS,
        expires_in_seconds: int = _HOUR,
    ) -> PreviewProxyTarget:
        """Header tokens and marker-only URLs for a proxy of your own to ``port``."""
        op = ops.create_proxy_target(self._info.id, port, transports, expires_in_seconds)
        return await self._transport.send(op)
