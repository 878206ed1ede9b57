"""``Snapshot`` / ``AsyncSnapshot``: reusable snapshots of running machines.

A snapshot handle is the :class:`~nullspace.models.SnapshotInfo` the API answered plus
the connection settings it was fetched with, so ``snapshot.delete()`` needs no
arguments. It holds no open connection: each call opens and closes its own client,
like the paginators. Make one with :meth:`Machine.create_snapshot
<nullspace.Machine.create_snapshot>`; start machines from it with
``Machine.create(snapshot_id=snapshot.id)``.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Mapping
from typing import Any, Generic, ParamSpec, Self, TypeVar, overload

import httpx
from pydantic import ConfigDict, PrivateAttr

from . import _ops
from ._config import ClientConfig
from ._transport import AsyncTransport, Operation, SyncTransport, open_config
from .models import SnapshotInfo
from .pagination import AsyncPaginator, Paginator

__all__ = ["AsyncSnapshot", "AsyncSnapshotPaginator", "Snapshot", "SnapshotPaginator"]

P = ParamSpec("P")
R = TypeVar("R")
I = TypeVar("I")  # noqa: E741
S = TypeVar("S", bound=SnapshotInfo)


class _ClassOrInstance(Generic[P, R, I]):
    """A method called on the class with an id (``Snapshot.delete("snap_…")``) and on
    an instance without one (``snapshot.delete()``)."""

    def __init__(self, on_class: Callable[P, R], on_instance: Callable[[Any], I]) -> None:
        self._on_class = on_class
        self._on_instance = on_instance
        self.__doc__ = on_instance.__doc__

    @overload
    def __get__(self, obj: None, owner: type[Any] | None = None) -> Callable[P, R]: ...

    @overload
    def __get__(self, obj: object, owner: type[Any] | None = None) -> Callable[[], I]: ...

    def __get__(self, obj: object, owner: type[Any] | None = None) -> Callable[..., Any]:
        if obj is None:
            return self._on_class
        return types.MethodType(self._on_instance, obj)


def _class_or_instance(
    on_class: Callable[P, R],
) -> Callable[[Callable[[Any], I]], _ClassOrInstance[P, R, I]]:
    """Decorate the instance form of a method with its class form ``on_class``."""

    def decorate(on_instance: Callable[[Any], I]) -> _ClassOrInstance[P, R, I]:
        return _ClassOrInstance(on_class, on_instance)

    return decorate


def _page_op(
    cls: type[S],
    bind: Callable[[S], S],
    machine_id: str | None,
    metadata: Mapping[str, str] | None,
    limit: int | None,
) -> Callable[[str | None], Operation[_ops.Page[S]]]:
    labels = dict(metadata) if metadata else None

    def page_op(cursor: str | None) -> Operation[_ops.Page[S]]:
        op = _ops.list_snapshots(
            cls=cls, machine_id=machine_id, metadata=labels, limit=limit, cursor=cursor
        )
        return op.map(lambda page: page.map(bind))

    return page_op


# ---------------------------------------------------------------------------
# sync


def _delete_by_id(
    snapshot_id: str,
    *,
    api_key: str | None = None,
    api_url: str | None = None,
    base_url: str | None = None,
    request_timeout: float | None = None,
    transport: httpx.BaseTransport | None = None,
) -> bool:
    """Delete a snapshot and its files: ``True`` if deleted now, ``False`` if there was
    none. Raises :class:`~nullspace.SnapshotInUseError` while a machine started from it
    exists (running or paused)."""
    op = _ops.delete_snapshot(snapshot_id)
    config = open_config(api_key, api_url, base_url, request_timeout)
    with SyncTransport(config, transport) as sender:
        return sender.send(op)


class Snapshot(SnapshotInfo):
    """A reusable snapshot: memory, processes and disk of a machine at one moment.

    Its fields are those of :class:`~nullspace.models.SnapshotInfo` (``id``,
    ``machine_id``, ``template``, ``cpu_count``, ``memory_mb``, ``metadata``,
    ``size_bytes``, ``source_stall_ms``, ``created_at``). Class methods take the
    connection settings of :class:`~nullspace.Machine`'s (``api_key=``, ``api_url=`` /
    ``base_url=``, ``request_timeout=``, ``transport=``).
    """

    model_config = ConfigDict(ignored_types=(_ClassOrInstance,))

    _config: ClientConfig | None = PrivateAttr(default=None)
    _transport: httpx.BaseTransport | None = PrivateAttr(default=None)

    def _bind(self, config: ClientConfig, transport: httpx.BaseTransport | None) -> Self:
        self._config = config
        self._transport = transport
        return self

    @classmethod
    def get(
        cls,
        snapshot_id: str,
        *,
        api_key: str | None = None,
        api_url: str | None = None,
        base_url: str | None = None,
        request_timeout: float | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> Self:
        """Fetch a snapshot; raises :class:`~nullspace.NotFoundError` when there is none."""
        op = _ops.get_snapshot(snapshot_id, cls=cls)
        config = open_config(api_key, api_url, base_url, request_timeout)
        with SyncTransport(config, transport) as sender:
            return sender.send(op)._bind(config, transport)

    @classmethod
    def list(
        cls,
        machine_id: str | None = None,
        metadata: Mapping[str, str] | None = None,
        limit: int | None = None,
        *,
        api_key: str | None = None,
        api_url: str | None = None,
        base_url: str | None = None,
        request_timeout: float | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> SnapshotPaginator:
        """Snapshots of this API key, newest first, as a :class:`SnapshotPaginator`.

        ``machine_id`` keeps those taken from that machine, ``metadata`` those having
        all the given pairs; ``limit`` is the page size (1-1000)."""
        config = open_config(api_key, api_url, base_url, request_timeout)
        return SnapshotPaginator(
            config, transport, machine_id=machine_id, metadata=metadata, limit=limit
        )

    @_class_or_instance(_delete_by_id)
    def delete(self) -> bool:
        """``Snapshot.delete(snapshot_id, **connection)`` or ``snapshot.delete()``:
        ``True`` if deleted now, ``False`` if there was none. Raises
        :class:`~nullspace.SnapshotInUseError` while a machine started from it exists
        (running or paused)."""
        config = self._config or open_config(None, None, None, None)
        with SyncTransport(config, self._transport) as sender:
            return sender.send(_ops.delete_snapshot(self.id))


class SnapshotPaginator(Paginator[Snapshot]):
    """Pages of :class:`Snapshot`, from :meth:`Snapshot.list`."""

    def __init__(
        self,
        config: ClientConfig,
        transport: httpx.BaseTransport | None,
        *,
        machine_id: str | None = None,
        metadata: Mapping[str, str] | None = None,
        limit: int | None = None,
    ) -> None:
        def bind(snapshot: Snapshot) -> Snapshot:
            return snapshot._bind(config, transport)

        super().__init__(config, transport, _page_op(Snapshot, bind, machine_id, metadata, limit))


# ---------------------------------------------------------------------------
# async


async def _adelete_by_id(
    snapshot_id: str,
    *,
    api_key: str | None = None,
    api_url: str | None = None,
    base_url: str | None = None,
    request_timeout: float | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> bool:
    """Delete a snapshot and its files: ``True`` if deleted now, ``False`` if there was
    none. Raises :class:`~nullspace.SnapshotInUseError` while a machine started from it
    exists (running or paused)."""
    op = _ops.delete_snapshot(snapshot_id)
    config = open_config(api_key, api_url, base_url, request_timeout)
    async with AsyncTransport(config, transport) as sender:
        return await sender.send(op)


class AsyncSnapshot(SnapshotInfo):
    """A reusable snapshot (asynchronous): the same fields and methods as
    :class:`Snapshot`, the ones doing I/O are coroutines."""

    model_config = ConfigDict(ignored_types=(_ClassOrInstance,))

    _config: ClientConfig | None = PrivateAttr(default=None)
    _transport: httpx.AsyncBaseTransport | None = PrivateAttr(default=None)

    def _bind(self, config: ClientConfig, transport: httpx.AsyncBaseTransport | None) -> Self:
        self._config = config
        self._transport = transport
        return self

    @classmethod
    async def get(
        cls,
        snapshot_id: str,
        *,
        api_key: str | None = None,
        api_url: str | None = None,
        base_url: str | None = None,
        request_timeout: float | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> Self:
        """Fetch a snapshot; raises :class:`~nullspace.NotFoundError` when there is none."""
        op = _ops.get_snapshot(snapshot_id, cls=cls)
        config = open_config(api_key, api_url, base_url, request_timeout)
        async with AsyncTransport(config, transport) as sender:
            return (await sender.send(op))._bind(config, transport)

    @classmethod
    def list(
        cls,
        machine_id: str | None = None,
        metadata: Mapping[str, str] | None = None,
        limit: int | None = None,
        *,
        api_key: str | None = None,
        api_url: str | None = None,
        base_url: str | None = None,
        request_timeout: float | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> AsyncSnapshotPaginator:
        """Snapshots of this API key, newest first, as an :class:`AsyncSnapshotPaginator`
        (``async for snapshot in AsyncSnapshot.list(): ...``); see :meth:`Snapshot.list`."""
        config = open_config(api_key, api_url, base_url, request_timeout)
        return AsyncSnapshotPaginator(
            config, transport, machine_id=machine_id, metadata=metadata, limit=limit
        )

    @_class_or_instance(_adelete_by_id)
    async def delete(self) -> bool:
        """``await AsyncSnapshot.delete(snapshot_id, **connection)`` or ``await
        snapshot.delete()``; see :meth:`Snapshot.delete`."""
        config = self._config or open_config(None, None, None, None)
        async with AsyncTransport(config, self._transport) as sender:
            return await sender.send(_ops.delete_snapshot(self.id))


class AsyncSnapshotPaginator(AsyncPaginator[AsyncSnapshot]):
    """Async pages of :class:`AsyncSnapshot`, from :meth:`AsyncSnapshot.list`."""

    def __init__(
        self,
        config: ClientConfig,
        transport: httpx.AsyncBaseTransport | None,
        *,
        machine_id: str | None = None,
        metadata: Mapping[str, str] | None = None,
        limit: int | None = None,
    ) -> None:
        def bind(snapshot: AsyncSnapshot) -> AsyncSnapshot:
            return snapshot._bind(config, transport)

        super().__init__(
            config, transport, _page_op(AsyncSnapshot, bind, machine_id, metadata, limit)
        )
