"""What the build handles of both flavours share: the last answer about the build,
where their log stands, and the connection settings their calls open a client with.
:class:`~nullspace.TemplateBuild` and :class:`~nullspace.AsyncTemplateBuild` add the
calls, sent and awaited."""

from __future__ import annotations

from typing import Generic, TypeVar

from ._config import ClientConfig
from ._template_ops import BuildWatch
from .template_models import BuildErrorInfo, BuildStatus, TemplateBuildInfo

__all__ = ["BuildHandle"]

X = TypeVar("X")
"""The caller's ``httpx`` transport type of the flavour."""


class BuildHandle(Generic[X]):
    """The facts of a template build, as last seen."""

    def __init__(
        self, info: TemplateBuildInfo, config: ClientConfig, transport: X | None = None
    ) -> None:
        self._watch = BuildWatch(info)
        self._config = config
        self._transport = transport

    @property
    def build_id(self) -> str:
        """The build's id (``tb_…``): the version it makes."""
        return self._watch.info.id

    @property
    def id(self) -> str:
        """Alias of :attr:`build_id`."""
        return self._watch.info.id

    @property
    def template_id(self) -> str:
        """The template's id (``tpl_…``)."""
        return self._watch.info.template_id

    @property
    def name(self) -> str:
        """The template's name: ``Machine.create(template=build.name)``."""
        return self._watch.info.name

    @property
    def tags(self) -> list[str]:
        """The tags the build moves to its version (``latest`` among them)."""
        return self._watch.info.tags

    @property
    def status(self) -> BuildStatus:
        """``waiting``, ``building``, ``ready`` or ``error``, as last seen."""
        return self._watch.info.status

    @property
    def error(self) -> BuildErrorInfo | None:
        """Why it failed, as last seen."""
        return self._watch.info.error

    @property
    def info(self) -> TemplateBuildInfo:
        """The last answer about the build (refresh with ``get_status``)."""
        return self._watch.info

    @property
    def logs_offset(self) -> int:
        """Where the next ``wait`` goes on handing over the log."""
        return self._watch.offset

    def __repr__(self) -> str:
        kind = type(self).__name__
        return f"{kind}(id={self.build_id!r}, name={self.name!r}, status={self.status!r})"
