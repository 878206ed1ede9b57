"""Following a template build's log as it is written, written once for both flavours
(``GET /v1/templates/builds/{id}/logs/stream``, a WebSocket; ``spec/templates.md``).

:class:`LogFollow` reads the messages of one stream without I/O: each ``log`` entry
not handed over yet goes to the callback, in order, and the handle's offset moves past
it; ``done`` ends the stream. :func:`follow_logs` is the plan around it: it opens the
stream from the handle's offset (a :class:`~._ws.Channel`), opens it again from where
it stopped when it breaks off, and once the build ended asks for the build (its final
facts, and any entry the stream did not carry). :func:`wait_build` is that, raising
:class:`~nullspace.BuildError` for a failed build. The runners of :mod:`._plan` do the
I/O.
"""

from __future__ import annotations

import json
import time

from pydantic import ValidationError

from ._plan import Plan, ask, listen, pause
from ._template_ops import (
    BuildWatch,
    LogCallback,
    WaitArgs,
    _offset,
    build_error,
    build_path,
    build_status,
)
from ._ws import Channel, ChannelEnd, Ended
from .errors import NullspaceError, ServerError, TimeoutError, error_for
from .template_models import BuildLogEntry, TemplateBuildInfo

__all__ = ["REOPEN_TRIES", "LogFollow", "follow_from", "follow_logs", "wait_build"]

REOPEN_TRIES = 3
"""Times in a row a stream that broke off is opened again with no entry in between."""


class LogFollow:
    """What one log stream said: the entries handed over, and whether it ended."""

    def __init__(self, watch: BuildWatch, on_log_entry: LogCallback | None) -> None:
        self._watch = watch
        self._on_log_entry = on_log_entry
        self.done = False
        """The server said ``done``: the build ended and every entry was sent."""
        self.progressed = False
        """At least one entry was handed over."""
        self.failure: NullspaceError | None = None
        """What the server said went wrong (an ``error`` message), or a message that is
        not one of the stream's."""

    def feed(self, message: str | bytes) -> bool:
        """Take one message; ``True`` once it was the last."""
        try:
            data = json.loads(message)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            return self._fail(
                ServerError("invalid_response", f"unexpected build log message {message!r}")
            )
        kind = data.get("type")
        if kind == "log":
            try:
                entry = BuildLogEntry.model_validate(data)
            except ValidationError:
                return self._fail(
                    ServerError("invalid_response", f"unexpected build log entry {message!r}")
                )
            if entry.offset >= self._watch.offset:
                self._watch.offset = entry.offset + 1
                self.progressed = True
                if self._on_log_entry is not None:
                    self._on_log_entry(entry)
            return False
        if kind == "done":
            self.done = True
            return True
        if kind == "error":
            code = data.get("code")
            text = data.get("message")
            return self._fail(
                error_for(
                    code if isinstance(code, str) else "internal",
                    text if isinstance(text, str) else "the build log stream failed",
                    None,
                )
            )
        return False  # a message kind added later: not one this SDK reads

    def _fail(self, err: NullspaceError) -> bool:
        self.failure = err
        return True


def _broke_off(build_id: str, end: ChannelEnd, failure: NullspaceError | None) -> NullspaceError:
    if failure is not None:
        return failure
    if end.error is not None:
        return end.error
    why = end.reason or f"code {end.code}"
    return ServerError("connection_error", f"the log stream of build {build_id} closed: {why}")


def _timed_out(info: TemplateBuildInfo, timeout: float | None) -> TimeoutError:
    return TimeoutError(
        "wait_timeout",
        f"template build {info.id} of {info.name} was still {info.status} after "
        f"{timeout:g} s (step {info.steps_done}/{info.steps_total}; it goes on)",
    )


def _hand_over(watch: BuildWatch, on_log_entry: LogCallback | None) -> Plan[TemplateBuildInfo]:
    """Ask for the build until no entry is left (an answer holds at most a page),
    handing over the entries not handed over yet."""
    while True:
        info = yield from ask(build_status(watch.info.id, watch.offset))
        fresh = watch.take(info)
        if on_log_entry is not None:
            for entry in fresh:
                on_log_entry(entry)
        if not fresh:
            return info


def follow_logs(watch: BuildWatch, args: WaitArgs) -> Plan[TemplateBuildInfo]:
    """Hand each log entry from ``watch.offset`` to ``args.on_log_entry`` as the server
    writes it, until the build ends; return the ended build (ready or failed). A stream
    that breaks off is opened again from the next entry after ``args.poll_interval``
    seconds (:data:`REOPEN_TRIES` times in a row at most). Raises
    :class:`~nullspace.TimeoutError` ``wait_timeout`` after ``args.timeout`` seconds
    (the build goes on), and the stream's error when it is refused
    (:class:`~nullspace.BuildNotFoundError`, ...)."""

    def plan() -> Plan[TemplateBuildInfo]:
        deadline = None if args.timeout is None else time.monotonic() + args.timeout
        path = build_path(watch.info.id, "/logs/stream")
        tries = 0
        while True:
            follow = LogFollow(watch, args.on_log_entry)
            channel = Channel(path, [("offset", str(watch.offset))], follow.feed, deadline)
            end = yield from listen(channel)
            if follow.done:
                return (yield from _hand_over(watch, args.on_log_entry))
            if end.how is Ended.TIMED_OUT:
                info = yield from _hand_over(watch, args.on_log_entry)
                if info.is_done:
                    return info
                raise _timed_out(info, args.timeout)
            if end.how is Ended.REFUSED or (
                follow.failure is not None and follow.failure.code == "invalid_response"
            ):
                raise _broke_off(watch.info.id, end, follow.failure)
            tries = 0 if follow.progressed else tries + 1
            if tries > REOPEN_TRIES:
                raise _broke_off(watch.info.id, end, follow.failure)
            yield from pause(args.poll_interval)

    return plan()


def follow_from(watch: BuildWatch, offset: int | None, args: WaitArgs) -> Plan[TemplateBuildInfo]:
    """:func:`follow_logs` from ``offset`` (default: where the handle's ``watch``
    stands). The handle keeps the ended build, and its offset moves past every entry
    handed over (never back)."""
    if offset is None:
        return follow_logs(watch, args)
    own = BuildWatch(watch.info, _offset("offset", offset))

    def plan() -> Plan[TemplateBuildInfo]:
        info = yield from follow_logs(own, args)
        watch.info = info
        watch.offset = max(watch.offset, own.offset)
        return info

    return plan()


def wait_build(watch: BuildWatch, args: WaitArgs) -> Plan[TemplateBuildInfo]:
    """:func:`follow_logs`, then the ready build, or :class:`~nullspace.BuildError`
    when it failed. The entries of an ended build are all handed over first."""

    def plan() -> Plan[TemplateBuildInfo]:
        info = yield from follow_logs(watch, args)
        if info.status == "error":
            raise build_error(info)
        return info

    return plan()
