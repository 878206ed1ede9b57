"""``AsyncTemplate`` / ``AsyncTemplateBuild``: template builds and their management
(asynchronous client; ``spec/templates.md``).

A thin mirror of :mod:`nullspace.template`: the builder methods are the same
(:class:`~nullspace.template_builder.TemplateBuilder`), every request, check and
decision is in :mod:`nullspace._template_ops`; this module only awaits the sends.
The contexts of ``copy`` steps are packed and hashed in a worker thread.
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import AsyncIterator, Iterable, Sequence

import httpx

from . import _template_follow as follow
from . import _template_ops as ops
from ._plan import run_async
from ._tar import TarStream
from ._template_handle import BuildHandle
from ._transport import AsyncTransport, open_config
from .template_builder import TemplateBuilder
from .template_models import (
    BuildLogs,
    PruneCacheResult,
    TemplateBuildInfo,
    TemplateInfo,
    TemplateTag,
)

__all__ = ["AsyncTemplate", "AsyncTemplateBuild"]


def _chunks(stream: TarStream) -> AsyncIterator[bytes]:
    return stream.achunks()


class AsyncTemplateBuild(BuildHandle[httpx.AsyncBaseTransport]):
    """A template build (asynchronous): the same facts and calls as
    :class:`~nullspace.TemplateBuild`, the calls are coroutines."""

    def _sender(self) -> AsyncTransport:
        return AsyncTransport(self._config, self._transport)

    @classmethod
    async def connect(
        cls,
        build_id: str,
        *,
        api_key: str | None = None,
        api_url: str | None = None,
        base_url: str | None = None,
        request_timeout: float | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> AsyncTemplateBuild:
        """Follow an existing build; :class:`~nullspace.BuildNotFoundError` when there
        is none. :meth:`wait` then hands over its log from the first entry."""
        op = ops.build_status(build_id)
        config = open_config(api_key, api_url, base_url, request_timeout)
        async with AsyncTransport(config, transport) as sender:
            return cls(await sender.send(op), config, transport)

    async def get_status(self, logs_offset: int = 0) -> TemplateBuildInfo:
        """The build now, with its log entries from ``logs_offset``."""
        op = ops.build_status(self.build_id, logs_offset)
        async with self._sender() as sender:
            self._watch.info = await sender.send(op)
        return self._watch.info

    async def logs(self, offset: int = 0, limit: int | None = None) -> BuildLogs:
        """A page of the build's log from ``offset`` (at most ``limit`` entries)."""
        op = ops.build_logs(self.build_id, offset, limit)
        async with self._sender() as sender:
            return await sender.send(op)

    async def follow_logs(
        self,
        on_log_entry: ops.LogCallback | None = None,
        *,
        offset: int | None = None,
        poll_interval: float = 0.5,
        timeout: float | None = None,
    ) -> TemplateBuildInfo:
        """Follow the build's log stream until it ends; see
        :meth:`TemplateBuild.follow_logs <nullspace.TemplateBuild.follow_logs>`."""
        args = ops.check_wait(on_log_entry, poll_interval, timeout)
        async with self._sender() as sender:
            return await run_async(sender, follow.follow_from(self._watch, offset, args))

    async def wait(
        self,
        on_log_entry: ops.LogCallback | None = None,
        *,
        poll_interval: float = 0.5,
        timeout: float | None = None,
    ) -> AsyncTemplateBuild:
        """Wait until the build is ready, calling ``on_log_entry`` with each log entry
        not handed over yet as it is written, in order (see :meth:`follow_logs`); raise
        :class:`~nullspace.BuildError` when it fails, :class:`~nullspace.TimeoutError`
        (``wait_timeout``) after ``timeout`` seconds (the build goes on)."""
        args = ops.check_wait(on_log_entry, poll_interval, timeout)
        async with self._sender() as sender:
            await run_async(sender, follow.wait_build(self._watch, args))
        return self


class AsyncTemplate(TemplateBuilder):
    """A template builder, and the calls that build and manage templates
    (asynchronous): the builder methods of :class:`~nullspace.Template`, and its class
    methods as coroutines (``await AsyncTemplate.build(builder, "name")``)."""

    @classmethod
    async def build_in_background(
        cls,
        template: TemplateBuilder,
        name: str,
        *,
        tags: str | Iterable[str] | None = None,
        cpu_count: int | None = None,
        memory_mb: int | None = None,
        internet_access: bool | None = None,
        skip_cache: bool = False,
        ready_timeout_secs: int | None = None,
        step_timeout_secs: int | None = None,
        api_key: str | None = None,
        api_url: str | None = None,
        base_url: str | None = None,
        request_timeout: float | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> AsyncTemplateBuild:
        """Upload the contexts and start building ``template`` as ``name`` (or
        ``name:tag``); returns the :class:`AsyncTemplateBuild` at once."""
        args = ops.check_build(
            template,
            name,
            tags=tags,
            cpu_count=cpu_count,
            memory_mb=memory_mb,
            internet_access=internet_access,
            skip_cache=skip_cache,
            ready_timeout_secs=ready_timeout_secs,
            step_timeout_secs=step_timeout_secs,
        )
        config = open_config(api_key, api_url, base_url, request_timeout)
        prepared = await asyncio.to_thread(ops.prepare, args)
        async with AsyncTransport(config, transport) as sender:
            info = await run_async(sender, ops.start_build(prepared, _chunks))
        return AsyncTemplateBuild(info, config, transport)

    @classmethod
    async def build(
        cls,
        template: TemplateBuilder,
        name: str,
        *,
        tags: str | Iterable[str] | None = None,
        cpu_count: int | None = None,
        memory_mb: int | None = None,
        internet_access: bool | None = None,
        skip_cache: bool = False,
        ready_timeout_secs: int | None = None,
        step_timeout_secs: int | None = None,
        on_log_entry: ops.LogCallback | None = None,
        poll_interval: float = 0.5,
        timeout: float | None = None,
        api_key: str | None = None,
        api_url: str | None = None,
        base_url: str | None = None,
        request_timeout: float | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> AsyncTemplateBuild:
        """Build ``template`` as ``name`` (or ``name:tag``) and wait until it is ready.

        ``tags`` are more tags for the new version (``latest`` always moves);
        ``cpu_count`` / ``memory_mb`` must be the parent's; ``internet_access=False``
        closes the build machine's outbound traffic; ``skip_cache`` reruns every step;
        ``ready_timeout_secs`` (1-3600, default the ready command's or 60) bounds the
        ready command, ``step_timeout_secs`` (default 1800) each ``run`` step.
        ``on_log_entry`` is called with each log entry, in order, as the server
        writes it: the build's log stream (a WebSocket) is followed until it ends (see
        :func:`~nullspace.default_build_logger`). Raises
        :class:`~nullspace.BuildError` when the build fails and
        :class:`~nullspace.TimeoutError` after ``timeout`` seconds."""
        args = ops.check_build(
            template,
            name,
            tags=tags,
            cpu_count=cpu_count,
            memory_mb=memory_mb,
            internet_access=internet_access,
            skip_cache=skip_cache,
            ready_timeout_secs=ready_timeout_secs,
            step_timeout_secs=step_timeout_secs,
        )
        wait = ops.check_wait(on_log_entry, poll_interval, timeout)
        config = open_config(api_key, api_url, base_url, request_timeout)
        prepared = await asyncio.to_thread(ops.prepare, args)
        async with AsyncTransport(config, transport) as sender:
            info = await run_async(sender, ops.start_build(prepared, _chunks))
            handle = AsyncTemplateBuild(info, config, transport)
            await run_async(sender, follow.wait_build(handle._watch, wait))
        return handle

    @classmethod
    async def list(
        cls,
        *,
        api_key: str | None = None,
        api_url: str | None = None,
        base_url: str | None = None,
        request_timeout: float | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> builtins.list[TemplateInfo]:
        """The templates of this API key and ``base``, by name."""
        async with _open(api_key, api_url, base_url, request_timeout, transport) as sender:
            return await sender.send(ops.list_templates())

    @classmethod
    async def get(
        cls,
        ref: str,
        *,
        api_key: str | None = None,
        api_url: str | None = None,
        base_url: str | None = None,
        request_timeout: float | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> TemplateInfo:
        """The template ``ref`` names (``name``, ``name:tag`` or ``tpl_…``); raises
        :class:`~nullspace.TemplateNotFoundError` when there is none."""
        op = ops.get_template(ref)
        async with _open(api_key, api_url, base_url, request_timeout, transport) as sender:
            return await sender.send(op)

    @classmethod
    async def exists(
        cls,
        ref: str,
        *,
        api_key: str | None = None,
        api_url: str | None = None,
        base_url: str | None = None,
        request_timeout: float | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> bool:
        """Whether ``ref`` names a template."""
        op = ops.template_exists(ref)
        async with _open(api_key, api_url, base_url, request_timeout, transport) as sender:
            return await sender.send(op)

    @classmethod
    async def delete(
        cls,
        ref: str,
        *,
        api_key: str | None = None,
        api_url: str | None = None,
        base_url: str | None = None,
        request_timeout: float | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> bool:
        """Delete a template and every version's files: ``True`` if deleted now,
        ``False`` if there was none. Raises :class:`~nullspace.TemplateInUseError`
        while machines use a version, :class:`~nullspace.ConflictError` while a build
        of it runs."""
        op = ops.delete_template(ref)
        async with _open(api_key, api_url, base_url, request_timeout, transport) as sender:
            return await sender.send(op)

    @classmethod
    async def get_tags(
        cls,
        name: str,
        *,
        api_key: str | None = None,
        api_url: str | None = None,
        base_url: str | None = None,
        request_timeout: float | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> builtins.list[TemplateTag]:
        """The template's tags and the versions they point to."""
        op = ops.get_tags(name)
        async with _open(api_key, api_url, base_url, request_timeout, transport) as sender:
            return await sender.send(op)

    @classmethod
    async def assign_tags(
        cls,
        name: str,
        tags: str | Sequence[str],
        target: str | None = None,
        *,
        api_key: str | None = None,
        api_url: str | None = None,
        base_url: str | None = None,
        request_timeout: float | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> builtins.list[TemplateTag]:
        """Point ``tags`` at the version ``target`` resolves to (a ref or ``tb_…``;
        default ``latest``); returns the template's tags after."""
        plan = ops.assign_tags(name, tags, target)
        async with _open(api_key, api_url, base_url, request_timeout, transport) as sender:
            return await run_async(sender, plan)

    @classmethod
    async def remove_tag(
        cls,
        name: str,
        tag: str,
        *,
        api_key: str | None = None,
        api_url: str | None = None,
        base_url: str | None = None,
        request_timeout: float | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> bool:
        """Remove a tag (not ``latest``): ``True`` if removed, ``False`` if there was
        none."""
        op = ops.remove_tag(name, tag)
        async with _open(api_key, api_url, base_url, request_timeout, transport) as sender:
            return await sender.send(op)

    @classmethod
    async def prune_cache(
        cls,
        *,
        api_key: str | None = None,
        api_url: str | None = None,
        base_url: str | None = None,
        request_timeout: float | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> PruneCacheResult:
        """Remove the cached build steps no template version uses."""
        op = ops.prune_cache()
        async with _open(api_key, api_url, base_url, request_timeout, transport) as sender:
            return await sender.send(op)


def _open(
    api_key: str | None,
    api_url: str | None,
    base_url: str | None,
    request_timeout: float | None,
    transport: httpx.AsyncBaseTransport | None,
) -> AsyncTransport:
    return AsyncTransport(open_config(api_key, api_url, base_url, request_timeout), transport)
