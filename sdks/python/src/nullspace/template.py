"""``Template`` / ``TemplateBuild``: template builds and their management
(synchronous client; ``spec/templates.md``).

:class:`Template` is the builder (:class:`~nullspace.template_builder.TemplateBuilder`)
plus the calls that send: ``Template.build(builder, "name")`` uploads the ``copy``
contexts, asks for the build and waits until it is ready. Every request, check and
decision is in :mod:`nullspace._template_ops`; this module only sends, and
:mod:`nullspace.async_template` is the same, awaited. Handles hold no open
connection: each call opens and closes its own client, as :class:`~nullspace.Snapshot`
does.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Iterator, Sequence

import httpx

from . import _template_follow as follow
from . import _template_ops as ops
from ._plan import run_sync
from ._tar import TarStream
from ._template_handle import BuildHandle
from ._transport import SyncTransport, open_config
from .template_builder import TemplateBuilder
from .template_models import (
    BuildLogs,
    PruneCacheResult,
    TemplateBuildInfo,
    TemplateInfo,
    TemplateTag,
)

__all__ = ["Template", "TemplateBuild"]


def _chunks(stream: TarStream) -> Iterator[bytes]:
    return stream.chunks()


class TemplateBuild(BuildHandle[httpx.BaseTransport]):
    """A template build: its last known state, and the calls that follow it.

    Make one with :meth:`Template.build_in_background`, :meth:`Template.build` (then it
    is ready) or :meth:`connect`. Its facts (``build_id``, ``template_id``, ``name``,
    ``tags``, ``status``, ``error``, ``info``) are those of the last answer.
    """

    def _sender(self) -> SyncTransport:
        return SyncTransport(self._config, self._transport)

    @classmethod
    def connect(
        cls,
        build_id: str,
        *,
        api_key: str | None = None,
        api_url: str | None = None,
        base_url: str | None = None,
        request_timeout: float | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> TemplateBuild:
        """Follow an existing build; :class:`~nullspace.BuildNotFoundError` when there
        is none. :meth:`wait` then hands over its log from the first entry."""
        op = ops.build_status(build_id)
        config = open_config(api_key, api_url, base_url, request_timeout)
        with SyncTransport(config, transport) as sender:
            return cls(sender.send(op), config, transport)

    def get_status(self, logs_offset: int = 0) -> TemplateBuildInfo:
        """The build now, with its log entries from ``logs_offset``."""
        op = ops.build_status(self.build_id, logs_offset)
        with self._sender() as sender:
            self._watch.info = sender.send(op)
        return self._watch.info

    def logs(self, offset: int = 0, limit: int | None = None) -> BuildLogs:
        """A page of the build's log from ``offset`` (at most ``limit`` entries)."""
        op = ops.build_logs(self.build_id, offset, limit)
        with self._sender() as sender:
            return sender.send(op)

    def follow_logs(
        self,
        on_log_entry: ops.LogCallback | None = None,
        *,
        offset: int | None = None,
        poll_interval: float = 0.5,
        timeout: float | None = None,
    ) -> TemplateBuildInfo:
        """Follow the build's log stream (a WebSocket) until the build ends, calling
        ``on_log_entry`` with each entry as the server writes it, in order, from
        ``offset`` (default: the first entry not handed over yet); return the ended
        build, ready or failed (no :class:`~nullspace.BuildError`). A stream that
        breaks off is opened again after ``poll_interval`` seconds; ``timeout`` raises
        :class:`~nullspace.TimeoutError` (``wait_timeout``, the build goes on)."""
        args = ops.check_wait(on_log_entry, poll_interval, timeout)
        with self._sender() as sender:
            return run_sync(sender, follow.follow_from(self._watch, offset, args))

    def wait(
        self,
        on_log_entry: ops.LogCallback | None = None,
        *,
        poll_interval: float = 0.5,
        timeout: float | None = None,
    ) -> TemplateBuild:
        """Wait until the build is ready, calling ``on_log_entry`` with each log entry
        not handed over yet as it is written, in order (see :meth:`follow_logs`); raise
        :class:`~nullspace.BuildError` when it fails, :class:`~nullspace.TimeoutError`
        (``wait_timeout``) after ``timeout`` seconds (the build goes on)."""
        args = ops.check_wait(on_log_entry, poll_interval, timeout)
        with self._sender() as sender:
            run_sync(sender, follow.wait_build(self._watch, args))
        return self


class Template(TemplateBuilder):
    """A template builder, and the calls that build and manage templates.

    Chain the steps on ``Template()`` (see
    :class:`~nullspace.template_builder.TemplateBuilder`), then send them with
    :meth:`build`. Class methods take the connection settings of
    :class:`~nullspace.Machine`'s (``api_key=``, ``api_url=`` / ``base_url=``,
    ``request_timeout=``, ``transport=``).
    """

    @classmethod
    def build_in_background(
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
        transport: httpx.BaseTransport | None = None,
    ) -> TemplateBuild:
        """Upload the contexts and start building ``template`` as ``name`` (or
        ``name:tag``); returns the :class:`TemplateBuild` at once."""
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
        prepared = ops.prepare(args)
        with SyncTransport(config, transport) as sender:
            info = run_sync(sender, ops.start_build(prepared, _chunks))
        return TemplateBuild(info, config, transport)

    @classmethod
    def build(
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
        transport: httpx.BaseTransport | None = None,
    ) -> TemplateBuild:
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
        prepared = ops.prepare(args)
        with SyncTransport(config, transport) as sender:
            info = run_sync(sender, ops.start_build(prepared, _chunks))
            handle = TemplateBuild(info, config, transport)
            run_sync(sender, follow.wait_build(handle._watch, wait))
        return handle

    @classmethod
    def list(
        cls,
        *,
        api_key: str | None = None,
        api_url: str | None = None,
        base_url: str | None = None,
        request_timeout: float | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> builtins.list[TemplateInfo]:
        """The templates of this API key and ``base``, by name."""
        with _open(api_key, api_url, base_url, request_timeout, transport) as sender:
            return sender.send(ops.list_templates())

    @classmethod
    def get(
        cls,
        ref: str,
        *,
        api_key: str | None = None,
        api_url: str | None = None,
        base_url: str | None = None,
        request_timeout: float | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> TemplateInfo:
        """The template ``ref`` names (``name``, ``name:tag`` or ``tpl_…``); raises
        :class:`~nullspace.TemplateNotFoundError` when there is none."""
        op = ops.get_template(ref)
        with _open(api_key, api_url, base_url, request_timeout, transport) as sender:
            return sender.send(op)

    @classmethod
    def exists(
        cls,
        ref: str,
        *,
        api_key: str | None = None,
        api_url: str | None = None,
        base_url: str | None = None,
        request_timeout: float | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> bool:
        """Whether ``ref`` names a template."""
        op = ops.template_exists(ref)
        with _open(api_key, api_url, base_url, request_timeout, transport) as sender:
            return sender.send(op)

    @classmethod
    def delete(
        cls,
        ref: str,
        *,
        api_key: str | None = None,
        api_url: str | None = None,
        base_url: str | None = None,
        request_timeout: float | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> bool:
        """Delete a template and every version's files: ``True`` if deleted now,
        ``False`` if there was none. Raises :class:`~nullspace.TemplateInUseError`
        while machines use a version, :class:`~nullspace.ConflictError` while a build
        of it runs."""
        op = ops.delete_template(ref)
        with _open(api_key, api_url, base_url, request_timeout, transport) as sender:
            return sender.send(op)

    @classmethod
    def get_tags(
        cls,
        name: str,
        *,
        api_key: str | None = None,
        api_url: str | None = None,
        base_url: str | None = None,
        request_timeout: float | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> builtins.list[TemplateTag]:
        """The template's tags and the versions they point to."""
        op = ops.get_tags(name)
        with _open(api_key, api_url, base_url, request_timeout, transport) as sender:
            return sender.send(op)

    @classmethod
    def assign_tags(
        cls,
        name: str,
        tags: str | Sequence[str],
        target: str | None = None,
        *,
        api_key: str | None = None,
        api_url: str | None = None,
        base_url: str | None = None,
        request_timeout: float | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> builtins.list[TemplateTag]:
        """Point ``tags`` at the version ``target`` resolves to (a ref or ``tb_…``;
        default ``latest``); returns the template's tags after."""
        plan = ops.assign_tags(name, tags, target)
        with _open(api_key, api_url, base_url, request_timeout, transport) as sender:
            return run_sync(sender, plan)

    @classmethod
    def remove_tag(
        cls,
        name: str,
        tag: str,
        *,
        api_key: str | None = None,
        api_url: str | None = None,
        base_url: str | None = None,
        request_timeout: float | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> bool:
        """Remove a tag (not ``latest``): ``True`` if removed, ``False`` if there was
        none."""
        op = ops.remove_tag(name, tag)
        with _open(api_key, api_url, base_url, request_timeout, transport) as sender:
            return sender.send(op)

    @classmethod
    def prune_cache(
        cls,
        *,
        api_key: str | None = None,
        api_url: str | None = None,
        base_url: str | None = None,
        request_timeout: float | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> PruneCacheResult:
        """Remove the cached build steps no template version uses."""
        op = ops.prune_cache()
        with _open(api_key, api_url, base_url, request_timeout, transport) as sender:
            return sender.send(op)


def _open(
    api_key: str | None,
    api_url: str | None,
    base_url: str | None,
    request_timeout: float | None,
    transport: httpx.BaseTransport | None,
) -> SyncTransport:
    return SyncTransport(open_config(api_key, api_url, base_url, request_timeout), transport)
