"""The template routes as operations and plans, shared by both flavours (see
``spec/templates.md``, :mod:`._ops` and :mod:`._plan`).

Single requests are :class:`~._transport.Operation` values; the calls of more than one
request are plans: :func:`start_build` (upload the contexts, then ask for the build)
and :func:`assign_tags`; following a build's log until it ends is
:mod:`._template_follow`'s. Every argument is checked here, before any request;
packing the contexts (local I/O) is :func:`prepare`, which the async flavour runs in a
thread.
"""

from __future__ import annotations

import inspect
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from ._op_base import _check_bool, _json, _model, _validate
from ._plan import Plan, ask
from ._tar import TarStream
from ._template_context import Context
from ._transport import Content, Operation, RequestSpec
from .errors import (
    BuildError,
    InvalidArgumentError,
    NotFoundError,
    NullspaceError,
    ServerError,
)
from .readiness import check_ready_timeout
from .template_builder import TemplateBuilder
from .template_models import (
    BuildLogEntry,
    BuildLogs,
    PruneCacheResult,
    TemplateBuildInfo,
    TemplateInfo,
    TemplateTag,
)

__all__ = [
    "BuildArgs",
    "BuildWatch",
    "LogCallback",
    "MAX_BUILD_STEPS",
    "MAX_BUILD_TAGS",
    "Prepared",
    "WaitArgs",
    "assign_tags",
    "build_error",
    "build_logs",
    "build_path",
    "build_status",
    "check_build",
    "check_wait",
    "delete_template",
    "get_tags",
    "get_template",
    "list_templates",
    "prepare",
    "prune_cache",
    "remove_tag",
    "start_build",
    "template_exists",
]

MAX_BUILD_STEPS = 256
MAX_BUILD_TAGS = 16
MAX_STEP_TIMEOUT_SECS = 86_400
TAR_CONTENT_TYPE = "application/x-tar"

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")

LogCallback = Callable[[BuildLogEntry], object]
"""Called with each build log entry, in order, once each, as it arrives (a plain
function)."""

ContentOf = Callable[[TarStream], Content]
"""How a flavour sends an archive: its sync chunks, or its async ones."""


# ---------------------------------------------------------------------------
# checks


def _bad(message: str) -> InvalidArgumentError:
    return InvalidArgumentError("bad_request", message)


def check_name(name: object) -> str:
    """A template name (1-63 of ``[a-z0-9._-]``, starting with a letter or digit)."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise _bad(
            f"a template name is 1-63 characters of a-z, 0-9, '.', '_', '-' starting with a "
            f"letter or digit, got {name!r}"
        )
    if name == "base":
        raise _bad("'base' is the built-in template: build under another name")
    return name


def check_tag(tag: object) -> str:
    """A tag (1-128 of ``[A-Za-z0-9._-]``, starting with a letter, digit or ``_``)."""
    if not isinstance(tag, str) or not _TAG.match(tag):
        raise _bad(
            f"a tag is 1-128 characters of A-Z, a-z, 0-9, '.', '_', '-' starting with a "
            f"letter, digit or '_', got {tag!r}"
        )
    return tag


def _tags(tags: str | Iterable[str] | None) -> list[str]:
    if tags is None:
        return []
    items = [tags] if isinstance(tags, str) else list(tags)
    if len(items) > MAX_BUILD_TAGS:
        raise _bad(f"at most {MAX_BUILD_TAGS} tags, got {len(items)}")
    return [check_tag(t) for t in items]


def _positive(name: str, value: int | None, most: int | None = None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _bad(f"{name} must be an integer >= 1, got {value!r}")
    if most is not None and value > most:
        raise _bad(f"{name} must be at most {most}, got {value}")
    return value


def _seconds(name: str, value: float | None, *, positive: bool) -> float | None:
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
        or (positive and value == 0)
    ):
        raise _bad(f"{name} must be a number {'> 0' if positive else '>= 0'}, got {value!r}")
    return float(value)


def _ref(value: object, what: str = "ref") -> str:
    if not isinstance(value, str) or not value or value != value.strip():
        raise _bad(f"{what} must be a non-empty string without spaces around it, got {value!r}")
    return value


def _segment(value: str) -> str:
    return quote(value, safe=":")


@dataclass(frozen=True)
class BuildArgs:
    """A checked build request: the builder and the options of ``build``."""

    template: TemplateBuilder
    options: dict[str, Any]
    """Body fields of the request beside the builder's: name, tags and options."""


def check_build(
    template: object,
    name: str,
    *,
    tags: str | Iterable[str] | None = None,
    cpu_count: int | None = None,
    memory_mb: int | None = None,
    internet_access: bool | None = None,
    skip_cache: bool = False,
    ready_timeout_secs: int | None = None,
    step_timeout_secs: int | None = None,
) -> BuildArgs:
    """Check everything a build is asked with (``name`` may be ``name:tag``)."""
    if not isinstance(template, TemplateBuilder):
        raise _bad(
            "the first argument is the builder: Template.build(Template().run_cmd(...), "
            f"'name'), got {type(template).__name__}"
        )
    if not isinstance(name, str) or not name:
        raise _bad(f"name must be a template name or name:tag, got {name!r}")
    base, sep, tag = name.partition(":")
    check_name(base)
    if sep:
        check_tag(tag)
    if template.step_count > MAX_BUILD_STEPS:
        raise _bad(f"a build has at most {MAX_BUILD_STEPS} steps, this one {template.step_count}")
    _check_bool("skip_cache", skip_cache)
    options: dict[str, Any] = {"name": name}
    extra = _tags(tags)
    if extra:
        options["tags"] = extra
    for key, value in (
        ("cpu_count", _positive("cpu_count", cpu_count)),
        ("memory_mb", _positive("memory_mb", memory_mb)),
        ("internet_access", _check_bool("internet_access", internet_access)),
        ("ready_timeout_secs", check_ready_timeout("ready_timeout_secs", ready_timeout_secs)),
        (
            "step_timeout_secs",
            _positive("step_timeout_secs", step_timeout_secs, MAX_STEP_TIMEOUT_SECS),
        ),
    ):
        if value is not None:
            options[key] = value
    if skip_cache:
        options["skip_cache"] = True
    return BuildArgs(template, options)


@dataclass(frozen=True)
class WaitArgs:
    """Checked settings of a wait for a build."""

    on_log_entry: LogCallback | None
    poll_interval: float
    """Seconds before a log stream that broke off is opened again."""
    timeout: float | None


def check_wait(
    on_log_entry: LogCallback | None, poll_interval: float, timeout: float | None
) -> WaitArgs:
    """Check the settings of waiting for a build."""
    if on_log_entry is not None:
        if not callable(on_log_entry):
            raise _bad(f"on_log_entry must be a function, got {type(on_log_entry).__name__}")
        if inspect.iscoroutinefunction(on_log_entry):
            raise _bad("on_log_entry must be a plain function (it is called as each entry arrives)")
    every = _seconds("poll_interval", poll_interval, positive=True)
    assert every is not None
    return WaitArgs(on_log_entry, every, _seconds("timeout", timeout, positive=False))


# ---------------------------------------------------------------------------
# building


@dataclass(frozen=True)
class Prepared:
    """A build ready to send: its body and the contexts it names."""

    body: dict[str, Any]
    contexts: list[Context]


def prepare(args: BuildArgs) -> Prepared:
    """Pack and hash the contexts (local I/O) and make the request body."""
    contexts = args.template.pack_contexts()
    body = {"name": args.options["name"]}
    body.update(args.template.render([c.sha256 for c in contexts]))
    body.update((k, v) for k, v in args.options.items() if k != "name")
    return Prepared(body, contexts)


def put_context(sha256: str, content: Content) -> Operation[None]:
    """Upload a build context; the server checks it hashes to ``sha256``."""
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise _bad(f"a context is named by its hex SHA-256, got {sha256!r}")
    return Operation(
        RequestSpec(
            "PUT",
            f"/v1/templates/contexts/{sha256}",
            content=content,
            headers={"Content-Type": TAR_CONTENT_TYPE},
        ),
        lambda _response: None,
    )


def create_build(body: dict[str, Any]) -> Operation[TemplateBuildInfo]:
    """Ask for a build (answered at once, 202, status ``waiting``)."""
    return Operation(
        RequestSpec("POST", "/v1/templates/builds", json=body), _model(TemplateBuildInfo)
    )


def start_build(prepared: Prepared, content_of: ContentOf) -> Plan[TemplateBuildInfo]:
    """Upload each context once, then ask for the build (answered at once, 202)."""

    def plan() -> Plan[TemplateBuildInfo]:
        sent: set[str] = set()
        for context in prepared.contexts:
            if context.sha256 not in sent:
                yield from ask(put_context(context.sha256, content_of(context.stream())))
                sent.add(context.sha256)
        return (yield from ask(create_build(prepared.body)))

    return plan()


def build_path(build_id: str, suffix: str = "") -> str:
    """The path of build ``build_id`` (checked), and ``suffix``."""
    return f"/v1/templates/builds/{quote(_ref(build_id, 'build_id'), safe='')}{suffix}"


def build_status(build_id: str, logs_offset: int = 0) -> Operation[TemplateBuildInfo]:
    """The build, with its log entries from ``logs_offset``."""
    offset = _offset("logs_offset", logs_offset)
    return Operation(
        RequestSpec("GET", build_path(build_id), params=[("logs_offset", str(offset))]),
        _model(TemplateBuildInfo),
    )


def _offset(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _bad(f"{name} must be an integer >= 0, got {value!r}")
    return value


def build_logs(build_id: str, offset: int = 0, limit: int | None = None) -> Operation[BuildLogs]:
    """A page of the build's log from ``offset`` (at most ``limit`` entries)."""
    params = [("offset", str(_offset("offset", offset)))]
    if limit is not None:
        params.append(("limit", str(_positive("limit", limit))))
    return Operation(
        RequestSpec("GET", build_path(build_id, "/logs"), params=params), _model(BuildLogs)
    )


@dataclass
class BuildWatch:
    """Where a handle is in its build: the last answer and the next log offset."""

    info: TemplateBuildInfo
    offset: int = 0

    def take(self, info: TemplateBuildInfo) -> list[BuildLogEntry]:
        """Keep ``info``; return its entries not handed over yet, in order."""
        fresh: list[BuildLogEntry] = []
        for entry in sorted(info.logs, key=lambda e: e.offset):
            if entry.offset >= self.offset:
                fresh.append(entry)
                self.offset = entry.offset + 1
        self.offset = max(self.offset, info.logs_next_offset)
        self.info = info
        return fresh


def build_error(info: TemplateBuildInfo) -> BuildError:
    """The :class:`BuildError` of a failed build."""
    err = info.error
    if err is None:
        message = f"template build {info.id} of {info.name} failed"
        return BuildError("internal", message, build_id=info.id)
    return BuildError(
        err.code,
        f"template build {info.id} of {info.name} failed: {err.message}",
        build_id=info.id,
        step=err.step,
        exit_code=err.exit_code,
        last_lines=err.last_lines,
    )


# ---------------------------------------------------------------------------
# managing templates


def _template_path(ref: str, suffix: str = "") -> str:
    return f"/v1/templates/{_segment(_ref(ref))}{suffix}"


def _list_of(key: str, cls: Any) -> Callable[[httpx.Response], Any]:
    def decode(response: httpx.Response) -> list[Any]:
        data = _json(response)
        if not isinstance(data, dict) or not isinstance(data.get(key), list):
            raise ServerError(
                "invalid_response",
                f"missing {key!r} in the answer of {response.request.url.path}",
                response.status_code,
            )
        return [_validate(cls, item, response) for item in data[key]]

    return decode


def list_templates() -> Operation[list[TemplateInfo]]:
    """The tenant's templates and ``base``, by name."""
    return Operation(RequestSpec("GET", "/v1/templates"), _list_of("templates", TemplateInfo))


def get_template(ref: str) -> Operation[TemplateInfo]:
    """One template (404 ``template_not_found`` when there is none)."""
    return Operation(RequestSpec("GET", _template_path(ref)), _model(TemplateInfo))


def _false_on_404(err: NullspaceError) -> bool:
    if isinstance(err, NotFoundError):
        return False
    raise err


def template_exists(ref: str) -> Operation[bool]:
    """Whether ``ref`` names a template (a 404 is ``False``)."""
    return Operation(
        RequestSpec("GET", _template_path(ref)), lambda _r: True, on_error=_false_on_404
    )


def delete_template(ref: str) -> Operation[bool]:
    """``True`` when deleted now, ``False`` when there was none; 409
    ``template_in_use`` / ``conflict`` raise."""
    return Operation(
        RequestSpec("DELETE", _template_path(ref)), lambda _r: True, on_error=_false_on_404
    )


def get_tags(name: str) -> Operation[list[TemplateTag]]:
    """The template's tags and the versions they point to."""
    return Operation(
        RequestSpec("GET", _template_path(name, "/tags")), _list_of("tags", TemplateTag)
    )


def _maybe_tags(response: httpx.Response) -> list[TemplateTag] | None:
    if not response.content.strip():
        return None
    data = _json(response)
    if isinstance(data, dict) and isinstance(data.get("tags"), list):
        items = data["tags"]
        if all(isinstance(item, dict) for item in items):
            return [_validate(TemplateTag, item, response) for item in items]
    return None


def assign_tags(
    name: str, tags: str | Sequence[str], target: str | None = None
) -> Plan[list[TemplateTag]]:
    """Move ``tags`` to the version ``target`` resolves to (default ``latest``); the
    template's tags after (asked for when the answer does not list them)."""
    items = _tags(tags)
    if not items:
        raise _bad("name at least one tag to assign")
    body: dict[str, Any] = {"tags": items}
    if target is not None:
        body["target"] = _ref(target, "target")
    post = Operation(RequestSpec("POST", _template_path(name, "/tags"), json=body), _maybe_tags)
    then = get_tags(name)

    def plan() -> Plan[list[TemplateTag]]:
        answered = yield from ask(post)
        if answered is not None:
            return answered
        return (yield from ask(then))

    return plan()


def remove_tag(name: str, tag: str) -> Operation[bool]:
    """``True`` when removed, ``False`` when there was no such tag; ``latest`` cannot
    be removed (422)."""
    path = _template_path(name, f"/tags/{quote(check_tag(tag), safe='')}")
    return Operation(RequestSpec("DELETE", path), lambda _r: True, on_error=_false_on_404)


def prune_cache() -> Operation[PruneCacheResult]:
    """Remove the cached steps no template version uses."""
    return Operation(RequestSpec("DELETE", "/v1/templates/cache"), _model(PruneCacheResult))
