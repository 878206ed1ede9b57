"""The output stream of a process (``spec/websocket.md``), as a state machine without I/O.

A :class:`StreamState` is fed the messages of one WebSocket after another and turns
them into :class:`Output` events; it keeps the raw bytes received, the offset of the
next byte of each stream and, once the process ended, its :class:`End`. When a
channel closes it decides whether to reconnect (and after how long) from those
offsets, or to stop, with the error that stopped it. The sync and async readers of
:mod:`nullspace._ws` only move messages between a socket and this state.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlencode, urlsplit, urlunsplit

from ._config import ClientConfig
from ._transport import USER_AGENT
from .errors import (
    InvalidArgumentError,
    MachineError,
    NullspaceError,
    ProcessNotFoundError,
    ServerError,
    TimeoutError,
    error_for,
)
from .models import CommandResult

StreamName = Literal["stdout", "stderr"]
STREAMS: tuple[StreamName, StreamName] = ("stdout", "stderr")
_TAG_STREAM: dict[int, StreamName] = {0x01: "stdout", 0x02: "stderr"}

RECONNECT_DELAYS: tuple[float, ...] = (0.2, 0.5, 1.0)
"""Seconds before each reconnect of a channel that dropped; one more drop without the
server answering ``start`` in between gives up."""

RETRYABLE_CODES = frozenset({"connection_error", "unavailable", "internal", "request_timeout"})
"""Failures of a channel that a new channel may not meet (the network, a restarting
server). Others (auth, unknown process, machine not running) stop the reader."""

MAX_MESSAGE_BYTES = 16 << 20
"""Largest message a reader takes."""


@dataclass(frozen=True)
class Output:
    """Bytes of one stream, as received, and their text so far: decoded incrementally,
    so a UTF-8 character split between messages comes whole with the second one."""

    stream: StreamName
    data: bytes
    text: str


@dataclass(frozen=True)
class End:
    """The ``end`` message: how the process ended."""

    pid: int
    running: bool
    exit_code: int | None
    signal: int | None
    timed_out: bool
    duration_ms: int | None
    stdout_offset: int
    stderr_offset: int

    @property
    def status(self) -> int:
        """The exit status, ``128 + signal`` when a signal ended it (as ``/commands``)."""
        if self.exit_code is not None:
            return self.exit_code
        return 128 + (self.signal or 0)


def ws_url(config: ClientConfig, path: str, params: Sequence[tuple[str, str]] = ()) -> str:
    """``http(s)://host/base`` + ``path`` as a ``ws(s)://`` URL."""
    parts = urlsplit(config.api_url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    return urlunsplit((scheme, parts.netloc, parts.path + path, urlencode(list(params)), ""))


def ws_headers(config: ClientConfig) -> dict[str, str]:
    return {"Authorization": f"Bearer {config.api_key}", "User-Agent": USER_AGENT}


def _int(data: dict[str, Any], name: str) -> int | None:
    value = data.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _close_error(code: int | None, reason: str) -> NullspaceError | None:
    """The error a close code means when no ``error`` message said it (``None``: the
    channel may be opened again)."""
    text = reason or f"the stream closed with code {code}"
    if code == 1008:
        return InvalidArgumentError("bad_request", text)
    if code == 4404:
        return ProcessNotFoundError("process_not_found", text)
    if code == 4409:
        return MachineError("machine_not_running", text)
    if code == 4502:
        return MachineError("machine_died", text)
    return None


class StreamState:
    """What a reader of one process's output knows, across its channels."""

    def __init__(
        self, pid: int, *, stdout_offset: int | None = None, stderr_offset: int | None = None
    ) -> None:
        self.pid = pid
        self.offsets: dict[StreamName, int | None] = {
            "stdout": stdout_offset,
            "stderr": stderr_offset,
        }
        self.output: dict[StreamName, bytearray] = {s: bytearray() for s in STREAMS}
        self.dropped: dict[StreamName, int] = dict.fromkeys(STREAMS, 0)
        """Bytes lost to this reader: dropped from the process's buffer before read."""
        self.end: End | None = None
        self.error: NullspaceError | None = None
        self.reconnects = 0
        """Channels opened again after one dropped."""
        self.callback_error: Exception | None = None
        """The first exception a caller's callback raised (kept for ``wait()``)."""
        self._decoders = {s: codecs.getincrementaldecoder("utf-8")("replace") for s in STREAMS}
        self._skip: dict[StreamName, int] = dict.fromkeys(STREAMS, 0)
        self._pending: NullspaceError | None = None
        self._failures = 0

    # -- the reader asks ------------------------------------------------------

    @property
    def done(self) -> bool:
        """The process ended (``end`` received) or the reader gave up."""
        return self.end is not None or self.error is not None

    def query(self) -> list[tuple[str, str]]:
        """Query of the next channel: from the offsets reached, following."""
        params = [(f"{s}_offset", str(o)) for s, o in self.offsets.items() if o is not None]
        return [*params, ("follow", "true")]

    def text(self, stream: StreamName) -> str:
        return self.output[stream].decode("utf-8", errors="replace")

    # -- the reader tells -----------------------------------------------------

    def opened(self) -> None:
        """A channel was upgraded; its first message should be ``start``."""
        self._pending = None

    def feed(self, message: str | bytes) -> list[Output]:
        """One message of the channel; returns the output it carried."""
        if isinstance(message, bytes | bytearray | memoryview):
            return self._binary(bytes(message))
        try:
            data = json.loads(message)
        except ValueError:
            return []
        if not isinstance(data, dict):
            return []
        kind = data.get("type")
        if kind == "start":
            return self._start(data)
        if kind == "gap":
            return self._gap(data)
        if kind == "end":
            return self._end(data)
        if kind == "error":
            code = data.get("code")
            message_text = data.get("message")
            self._pending = error_for(
                code if isinstance(code, str) else None,
                message_text if isinstance(message_text, str) else "stream error",
                None,
            )
        return []  # unknown types: a newer server's, ignored

    def closed(self, code: int | None, reason: str = "") -> float | None:
        """The channel closed (``code`` ``None``: it dropped without a close frame).
        Returns the seconds to wait before opening the next one, or ``None`` to stop
        (then :attr:`done`)."""
        if self.end is not None:
            return None
        pending, self._pending = self._pending, None
        error = pending if pending is not None else _close_error(code, reason)
        if error is not None and error.code not in RETRYABLE_CODES:
            self.error = error
            return None
        why = error.message if error is not None else f"closed ({code}) before the end"
        return self._retry(why)

    def open_failed(self, error: NullspaceError) -> float | None:
        """Opening a channel failed (the upgrade was refused, or the network)."""
        if error.code not in RETRYABLE_CODES:
            self.error = error
            return None
        return self._retry(error.message)

    def may_follow_again(self) -> bool:
        """Whether a new reader may follow a stream this one stopped: it was stopped
        (a disconnect), or lost it to the network. Clears that loss."""
        if self.end is not None:
            return False
        if self.error is None:
            return True
        if self.error.code != "connection_error":
            return False
        self.error, self._failures = None, 0
        return True

    def give_up(self, error: NullspaceError) -> None:
        """Stop reading (a deadline passed, the caller disconnected)."""
        if not self.done:
            self.error = error

    # -- the answer -----------------------------------------------------------

    def result(self) -> CommandResult:
        """The finished command as ``/commands`` answers it: a :class:`CommandResult`
        for any exit status, :class:`~nullspace.TimeoutError` (with the output) when its
        timeout killed it, the reader's error when it could not follow it to the end."""
        if self.error is not None:
            raise self.error
        if self.callback_error is not None:
            raise self.callback_error
        if self.end is None:
            raise ServerError("invalid_response", f"process {self.pid} has not ended")
        stdout, stderr = self.text("stdout"), self.text("stderr")
        if self.end.timed_out:
            raise TimeoutError(
                "command_timeout",
                f"process {self.pid} exceeded its timeout and was killed",
                stdout=stdout,
                stderr=stderr,
                truncated=True,
            )
        return CommandResult(
            stdout=stdout,
            stderr=stderr,
            exit_code=self.end.status,
            duration_ms=self.end.duration_ms or 0,
        )

    # -- messages -------------------------------------------------------------

    def _retry(self, why: str) -> float | None:
        if self._failures >= len(RECONNECT_DELAYS):
            self.error = ServerError(
                "connection_error",
                f"lost the output stream of process {self.pid} "
                f"({self._failures + 1} times in a row): {why}",
            )
            return None
        delay = RECONNECT_DELAYS[self._failures]
        self._failures += 1
        self.reconnects += 1
        return delay

    def _start(self, data: dict[str, Any]) -> list[Output]:
        self._failures = 0
        events: list[Output] = []
        for stream in STREAMS:
            at = _int(data, f"{stream}_offset")
            if at is None:
                continue
            have = self.offsets[stream]
            if have is not None and at < have:
                self._skip[stream] = have - at  # sent again: already received
            elif have is not None and at > have:
                events += self._lose(stream, at - have)
            self.offsets[stream] = at if have is None else max(at, have)
        return events

    def _gap(self, data: dict[str, Any]) -> list[Output]:
        stream = data.get("stream")
        count = _int(data, "bytes")
        if stream not in STREAMS or not count or count < 0:
            return []
        name: StreamName = "stdout" if stream == "stdout" else "stderr"
        at = self.offsets[name]
        self.offsets[name] = (at or 0) + count
        return self._lose(name, count)

    def _lose(self, stream: StreamName, count: int) -> list[Output]:
        self.dropped[stream] += count
        text = self._decoders[stream].decode(b"", final=True)  # a cut character: U+FFFD
        self._decoders[stream].reset()
        return [Output(stream, b"", text)] if text else []

    def _binary(self, message: bytes) -> list[Output]:
        if not message or message[0] not in _TAG_STREAM:
            return []
        stream = _TAG_STREAM[message[0]]
        data = message[1:]
        skip = min(self._skip[stream], len(data))
        if skip:
            self._skip[stream] -= skip
            data = data[skip:]
        if not data:
            return []
        self.output[stream] += data
        self.offsets[stream] = (self.offsets[stream] or 0) + len(data)
        return [Output(stream, data, self._decoders[stream].decode(data))]

    def _end(self, data: dict[str, Any]) -> list[Output]:
        for stream in STREAMS:
            at = _int(data, f"{stream}_offset")
            if at is not None:
                self.offsets[stream] = at
        exit_code, signal = _int(data, "exit_code"), _int(data, "signal")
        self.end = End(
            pid=_int(data, "pid") or self.pid,
            running=data.get("running") is True,
            exit_code=exit_code,
            signal=signal,
            timed_out=data.get("timed_out") is True,
            duration_ms=_int(data, "duration_ms"),
            stdout_offset=self.offsets["stdout"] or 0,
            stderr_offset=self.offsets["stderr"] or 0,
        )
        tails = [(s, self._decoders[s].decode(b"", final=True)) for s in STREAMS]
        return [Output(s, b"", tail) for s, tail in tails if tail]  # a cut last character
