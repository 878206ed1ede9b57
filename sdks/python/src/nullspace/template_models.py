"""Typed answers of the template routes (``spec/templates.md``): templates, their
tags, builds, build log entries and a failed build's cause.

Like :mod:`nullspace.models`, they ignore fields they do not know, so a newer server
does not break an older SDK.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "BUILD_STATUSES",
    "BuildErrorInfo",
    "BuildLogEntry",
    "BuildLogs",
    "BuildStatus",
    "PruneCacheResult",
    "TemplateBuildInfo",
    "TemplateInfo",
    "TemplateTag",
]

BuildStatus = str
"""One of ``waiting`` (for a build slot), ``building``, ``ready`` or ``error`` (a
plain ``str``, so statuses added by a newer server still parse)."""

BUILD_STATUSES: tuple[str, ...] = ("waiting", "building", "ready", "error")
"""The statuses a build goes through, in order (``error`` instead of ``ready``)."""


class _Response(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class TemplateTag(_Response):
    """A tag of a template and the version (build) it points to."""

    tag: str
    build_id: str
    """The version: the ``tb_…`` id of the build that made it."""


class TemplateInfo(_Response):
    """A template as the API describes it: the facts of its ``latest`` version."""

    id: str | None = None
    """``tpl_…`` (``None`` for the built-in ``base``)."""
    name: str
    builtin: bool = False
    """Whether the host provides it (``base``): it cannot be deleted or built over."""
    tags: list[TemplateTag] = Field(default_factory=list)
    cpu_count: int
    """vCPUs of the machines created from it."""
    memory_mb: int
    """Memory (MiB) of the machines created from it."""
    cwd: str = "/workspace"
    """Default working directory of its machines (the build's last ``workdir``)."""
    envs: dict[str, str] = Field(default_factory=dict)
    """Environment of its machines (the build's ``runtime_envs``)."""
    start_cmd: str | None = None
    """The command running in its machines from their first moment."""
    ready_cmd: str | None = None
    """The command the build waited on before the snapshot."""
    size_bytes: int = 0
    """Bytes its versions take on the server's disk."""
    created_at: datetime | None = None
    """Its first build (``None`` for ``base``)."""
    updated_at: datetime | None = None
    """Its newest version."""

    @property
    def template_id(self) -> str | None:
        """Alias of :attr:`id`."""
        return self.id

    def build_id_of(self, tag: str = "latest") -> str | None:
        """The version ``tag`` points to, ``None`` when the template has no such tag."""
        return next((t.build_id for t in self.tags if t.tag == tag), None)


class BuildLogEntry(_Response):
    """One line of a build's log."""

    offset: int
    """Its position in the build's log, from 0."""
    at: datetime
    """When it was written."""
    level: str
    """``info``, ``warn`` or ``error``."""
    step: int | None = None
    """The 1-based step it belongs to, if any."""
    message: str
    """The line (at most 4 KiB; longer ones are cut)."""


class BuildErrorInfo(_Response):
    """Why a build failed (its ``error``)."""

    code: str
    """``step_failed``, ``step_timeout``, ``ready_timeout``, ``start_failed``,
    ``context_not_found``, ``machine_failed``, ``image_pull_failed`` (the
    ``from_image`` image could not be pulled or unpacked: registry unreachable,
    credentials refused, not found) or ``internal`` (a plain ``str``, so codes added
    by a newer server still parse)."""
    message: str
    step: int | None = None
    """The 1-based step that failed, when one did."""
    exit_code: int | None = None
    """The failed step's exit status, when it exited."""
    last_lines: list[str] = Field(default_factory=list)
    """The last lines the failed step printed."""


class TemplateBuildInfo(_Response):
    """A build (one version of a template) and the log entries from the offset asked
    for."""

    id: str
    """``tb_…``."""
    template_id: str
    name: str
    """The template's name (without a tag)."""
    tags: list[str] = Field(default_factory=list)
    """The tags the build moves to its version when ready (``latest`` among them)."""
    status: BuildStatus
    steps_total: int = 0
    steps_done: int = 0
    """Steps done, cached or run."""
    steps_cached: int = 0
    """Steps restored from the step cache."""
    logs: list[BuildLogEntry] = Field(default_factory=list)
    """Log entries from the offset asked for (at most 1000)."""
    logs_next_offset: int = 0
    """The offset to ask from next."""
    error: BuildErrorInfo | None = None
    """Why it failed (status ``error`` only)."""
    created_at: datetime
    finished_at: datetime | None = None

    @property
    def build_id(self) -> str:
        """Alias of :attr:`id`."""
        return self.id

    @property
    def is_done(self) -> bool:
        """Whether the build has ended (``ready`` or ``error``)."""
        return self.status in ("ready", "error")


class BuildLogs(_Response):
    """A page of a build's log (``GET /v1/templates/builds/{id}/logs``)."""

    logs: list[BuildLogEntry] = Field(default_factory=list)
    next_offset: int
    """The offset to ask from next."""
    done: bool
    """Whether the build has ended (no more entries will come)."""


class PruneCacheResult(_Response):
    """What ``prune_cache`` removed: cached steps no template version uses."""

    deleted: int
    """Cached steps removed."""
    bytes: int
    """Bytes freed."""
