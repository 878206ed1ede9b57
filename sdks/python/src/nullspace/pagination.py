"""Paginators over the list routes (newest first), following ``next_cursor``.

One generic pair, :class:`Paginator` and :class:`AsyncPaginator`, pages any list
operation of :mod:`nullspace._ops`; :class:`MachinePaginator` (``GET /v1/machines``)
is one of them, the snapshot paginators in :mod:`nullspace.snapshot` are others.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Generic, TypeVar

import httpx

from . import _ops
from ._config import ClientConfig
from ._transport import AsyncTransport, Operation, SyncTransport
from .models import MachineInfo

__all__ = ["AsyncMachinePaginator", "AsyncPaginator", "MachinePaginator", "Paginator"]

T = TypeVar("T")

PageOp = Callable[[str | None], Operation[_ops.Page[T]]]
"""Builds the request of the page at a cursor (``None``: the first page)."""


class _PageCursor(Generic[T]):
    """Paging state shared by both flavours: how to ask for a page and where we are."""

    def __init__(self, page_op: PageOp[T]) -> None:
        self._page_op = page_op
        self.next_cursor: str | None = None
        self.has_next = True
        # build one op now so that bad filters fail at ``list()``, not on iteration
        self.op()

    def op(self) -> Operation[_ops.Page[T]]:
        return self._page_op(self.next_cursor)

    def record(self, page: _ops.Page[T]) -> list[T]:
        self.next_cursor = page.next_cursor
        self.has_next = page.next_cursor is not None
        return page.items


class Paginator(Generic[T]):
    """Pages of a list. Iterate it for every item across the remaining pages, or call
    :meth:`next_page` while :attr:`has_next`. No request is made until then."""

    def __init__(
        self, config: ClientConfig, transport: httpx.BaseTransport | None, page_op: PageOp[T]
    ) -> None:
        self._config = config
        self._transport = transport
        self._cursor = _PageCursor(page_op)

    @property
    def has_next(self) -> bool:
        """Whether another page may be fetched."""
        return self._cursor.has_next

    @property
    def next_cursor(self) -> str | None:
        """The cursor of the next page (``None`` before the first and after the last)."""
        return self._cursor.next_cursor

    def next_page(self) -> list[T]:
        """Fetch the next page (``[]`` once there is none)."""
        if not self._cursor.has_next:
            return []
        with SyncTransport(self._config, self._transport) as transport:
            return self._cursor.record(transport.send(self._cursor.op()))

    def __iter__(self) -> Iterator[T]:
        while self._cursor.has_next:
            yield from self.next_page()


class AsyncPaginator(Generic[T]):
    """Async pages of a list: ``async for item in paginator: ...`` or
    ``await paginator.next_page()`` while :attr:`has_next`."""

    def __init__(
        self,
        config: ClientConfig,
        transport: httpx.AsyncBaseTransport | None,
        page_op: PageOp[T],
    ) -> None:
        self._config = config
        self._transport = transport
        self._cursor = _PageCursor(page_op)

    @property
    def has_next(self) -> bool:
        """Whether another page may be fetched."""
        return self._cursor.has_next

    @property
    def next_cursor(self) -> str | None:
        """The cursor of the next page (``None`` before the first and after the last)."""
        return self._cursor.next_cursor

    async def next_page(self) -> list[T]:
        """Fetch the next page (``[]`` once there is none)."""
        if not self._cursor.has_next:
            return []
        async with AsyncTransport(self._config, self._transport) as transport:
            return self._cursor.record(await transport.send(self._cursor.op()))

    async def __aiter__(self) -> AsyncIterator[T]:
        while self._cursor.has_next:
            for item in await self.next_page():
                yield item


def _machine_pages(
    state: _ops.StateFilter | None,
    template: str | None,
    metadata: Mapping[str, str] | None,
    limit: int | None,
) -> PageOp[MachineInfo]:
    labels = dict(metadata) if metadata else None
    states = _ops.machine_states(state) or None  # a copy: later changes to ``state`` don't leak

    def page_op(cursor: str | None) -> Operation[_ops.Page[MachineInfo]]:
        return _ops.list_machines(
            state=states, template=template, metadata=labels, limit=limit, cursor=cursor
        )

    return page_op


class MachinePaginator(Paginator[MachineInfo]):
    """Pages of machines (:class:`MachineInfo`), from :meth:`Machine.list`."""

    def __init__(
        self,
        config: ClientConfig,
        transport: httpx.BaseTransport | None,
        *,
        state: _ops.StateFilter | None = None,
        template: str | None = None,
        metadata: Mapping[str, str] | None = None,
        limit: int | None = None,
    ) -> None:
        super().__init__(config, transport, _machine_pages(state, template, metadata, limit))


class AsyncMachinePaginator(AsyncPaginator[MachineInfo]):
    """Async pages of machines (:class:`MachineInfo`), from :meth:`AsyncMachine.list`."""

    def __init__(
        self,
        config: ClientConfig,
        transport: httpx.AsyncBaseTransport | None,
        *,
        state: _ops.StateFilter | None = None,
        template: str | None = None,
        metadata: Mapping[str, str] | None = None,
        limit: int | None = None,
    ) -> None:
        super().__init__(config, transport, _machine_pages(state, template, metadata, limit))
