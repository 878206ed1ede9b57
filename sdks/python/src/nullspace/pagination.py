"""Paginators over ``GET /v1/machines`` (newest first), following ``next_cursor``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping

import httpx

from . import _ops
from ._config import ClientConfig
from ._transport import AsyncTransport, Operation, SyncTransport
from .models import MachineInfo

__all__ = ["AsyncMachinePaginator", "MachinePaginator"]


class _PageCursor:
    """Paging state shared by both paginators: the filters and where we are."""

    def __init__(
        self,
        state: str | None,
        template: str | None,
        metadata: Mapping[str, str] | None,
        limit: int | None,
    ) -> None:
        self._filters = (state, template, dict(metadata) if metadata else None, limit)
        self.next_cursor: str | None = None
        self.has_next = True
        # build one op now so that bad filters fail at ``list()``, not on iteration
        self.op()

    def op(self) -> Operation[_ops.MachinePage]:
        state, template, metadata, limit = self._filters
        return _ops.list_machines(
            state=state, template=template, metadata=metadata, limit=limit, cursor=self.next_cursor
        )

    def record(self, page: _ops.MachinePage) -> list[MachineInfo]:
        self.next_cursor = page.next_cursor
        self.has_next = page.next_cursor is not None
        return page.machines


class MachinePaginator:
    """Pages of machines. Iterate it for every machine across the remaining pages,
    or call :meth:`next_page` while :attr:`has_next`."""

    def __init__(
        self,
        config: ClientConfig,
        transport: httpx.BaseTransport | None,
        *,
        state: str | None = None,
        template: str | None = None,
        metadata: Mapping[str, str] | None = None,
        limit: int | None = None,
    ) -> None:
        self._config = config
        self._transport = transport
        self._cursor = _PageCursor(state, template, metadata, limit)

    @property
    def has_next(self) -> bool:
        """Whether another page may be fetched."""
        return self._cursor.has_next

    @property
    def next_cursor(self) -> str | None:
        return self._cursor.next_cursor

    def next_page(self) -> list[MachineInfo]:
        """Fetch the next page (``[]`` once there is none)."""
        if not self._cursor.has_next:
            return []
        with SyncTransport(self._config, self._transport) as transport:
            return self._cursor.record(transport.send(self._cursor.op()))

    def __iter__(self) -> Iterator[MachineInfo]:
        while self._cursor.has_next:
            yield from self.next_page()


class AsyncMachinePaginator:
    """Async pages of machines: ``async for info in AsyncMachine.list(): ...`` or
    ``await paginator.next_page()`` while :attr:`has_next`."""

    def __init__(
        self,
        config: ClientConfig,
        transport: httpx.AsyncBaseTransport | None,
        *,
        state: str | None = None,
        template: str | None = None,
        metadata: Mapping[str, str] | None = None,
        limit: int | None = None,
    ) -> None:
        self._config = config
        self._transport = transport
        self._cursor = _PageCursor(state, template, metadata, limit)

    @property
    def has_next(self) -> bool:
        return self._cursor.has_next

    @property
    def next_cursor(self) -> str | None:
        return self._cursor.next_cursor

    async def next_page(self) -> list[MachineInfo]:
        if not self._cursor.has_next:
            return []
        async with AsyncTransport(self._config, self._transport) as transport:
            return self._cursor.record(await transport.send(self._cursor.op()))

    async def __aiter__(self) -> AsyncIterator[MachineInfo]:
        while self._cursor.has_next:
            for info in await self.next_page():
                yield info
