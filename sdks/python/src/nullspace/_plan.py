"""Calls of more than one request, written once for both flavours.

A :data:`Plan` is a generator that yields what it needs done — an
:class:`~._transport.Operation` to send, a :class:`Pause` to wait, or a
:class:`~._ws.Channel` (a WebSocket read to its end) — and is sent back each
operation's result (a channel's :class:`~._ws.ChannelEnd`). Every decision (what to ask
next, when to stop, what to raise) is in the plan; :func:`run_sync` and
:func:`run_async` only do the I/O, so a method of either flavour is one line. Inside a
plan, ``x = yield from ask(op)`` gives ``x`` the type of ``op``'s result.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Generator
from contextlib import closing
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from ._transport import AsyncTransport, Operation, SyncTransport
from ._ws import Channel, ChannelEnd, async_channel, sync_channel

__all__ = ["Pause", "Plan", "ask", "listen", "pause", "run_async", "run_sync"]

T = TypeVar("T")


@dataclass(frozen=True)
class Pause:
    """Wait this many seconds before the plan goes on."""

    seconds: float


Step = Operation[Any] | Pause | Channel
Plan = Generator[Step, Any, T]
"""A generator of steps returning ``T``; see the module's description."""


def ask(op: Operation[T]) -> Generator[Step, Any, T]:
    """Send ``op`` and return its result (``yield from ask(op)`` in a plan)."""
    result: T = yield op
    return result


def pause(seconds: float) -> Generator[Step, Any, None]:
    """Wait ``seconds`` (``yield from pause(s)`` in a plan)."""
    yield Pause(seconds)


def listen(channel: Channel) -> Generator[Step, Any, ChannelEnd]:
    """Read ``channel`` to its end and return how it ended (``yield from listen(c)``)."""
    end: ChannelEnd = yield channel
    return end


def run_sync(transport: SyncTransport, plan: Plan[T]) -> T:
    """Run ``plan`` to its end, sending with ``transport`` and sleeping the thread."""
    with closing(plan):
        result: Any = None
        while True:
            try:
                step = plan.send(result)
            except StopIteration as done:
                return cast(T, done.value)
            if isinstance(step, Pause):
                time.sleep(step.seconds)
                result = None
            elif isinstance(step, Channel):
                result = sync_channel(transport.config, step)
            else:
                result = transport.send(step)


async def run_async(transport: AsyncTransport, plan: Plan[T]) -> T:
    """:func:`run_sync`, awaiting the sends and sleeping the task."""
    with closing(plan):
        result: Any = None
        while True:
            try:
                step = plan.send(result)
            except StopIteration as done:
                return cast(T, done.value)
            if isinstance(step, Pause):
                await asyncio.sleep(step.seconds)
                result = None
            elif isinstance(step, Channel):
                result = await async_channel(transport.config, step)
            else:
                result = await transport.send(step)
