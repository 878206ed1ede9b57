"""``files.watch_dir`` over the scripted WebSocket server, both flavours."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from nullspace import (
    AsyncWatchHandle,
    FilesystemEvent,
    FilesystemEventType,
    InvalidArgumentError,
    NotFoundError,
    ServerError,
    WatchHandle,
)
from nullspace.watch import WatchState

from .conftest import MACHINE_ID, Flavour, maybe
from .ws_fake import FakeStreams

READY = ("text", {"type": "ready", "path": "/workspace"})


def event(kind: str, path: str, is_dir: bool = False) -> tuple[str, dict[str, Any]]:
    return ("text", {"type": "event", "kind": kind, "path": path, "is_dir": is_dir})


async def collect(handle: Any) -> list[FilesystemEvent]:
    if isinstance(handle, AsyncWatchHandle):
        return [e async for e in handle]
    return await asyncio.to_thread(list, handle)


async def test_watch_yields_typed_events_until_the_end(
    ws_flavour: Flavour, streams: FakeStreams
) -> None:
    streams.add(
        [
            READY,
            event("create", "/workspace/a.txt"),
            event("write", "/workspace/a.txt"),
            event("rename", "/workspace/a.txt"),
            event("create", "/workspace/b", is_dir=True),
            event("chmod", "/workspace/b", is_dir=True),
            event("remove", "/workspace/b", is_dir=True),
            ("text", {"type": "end", "reason": "timeout"}),
        ]
    )
    machine = await ws_flavour.machine()
    seen: list[FilesystemEvent] = []
    handle = await maybe(
        machine.files.watch_dir("/workspace", recursive=True, timeout=5, on_event=seen.append)
    )
    assert isinstance(handle, WatchHandle | AsyncWatchHandle)
    events = await collect(handle)
    assert [(e.kind, e.path, e.is_dir) for e in events] == [
        (FilesystemEventType.CREATE, "/workspace/a.txt", False),
        (FilesystemEventType.WRITE, "/workspace/a.txt", False),
        (FilesystemEventType.RENAME, "/workspace/a.txt", False),
        (FilesystemEventType.CREATE, "/workspace/b", True),
        (FilesystemEventType.CHMOD, "/workspace/b", True),
        (FilesystemEventType.REMOVE, "/workspace/b", True),
    ]
    assert seen == events
    assert events[0].type is FilesystemEventType.CREATE and events[0].name == "a.txt"
    assert handle.end_reason == "timeout" and not handle.running
    upgrade = streams.upgrades[0]
    assert upgrade.path == f"/v1/machines/{MACHINE_ID}/files/watch"
    assert upgrade.query == {
        "path": "/workspace",
        "recursive": "true",
        "timeout": "5",
        "user": "user",
    }
    assert upgrade.headers["Authorization"].startswith("Bearer ")
    await maybe(handle.stop())


async def test_get_new_events_takes_what_arrived_and_stop_closes(
    ws_flavour: Flavour, streams: FakeStreams
) -> None:
    streams.add([READY, event("create", "/workspace/x"), ("sleep", 30)])
    machine = await ws_flavour.machine()
    handle = await maybe(machine.files.watch_dir("/workspace"))
    deadline = time.monotonic() + 5
    got: list[FilesystemEvent] = []
    while not got and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
        got = handle.get_new_events()
    assert [e.path for e in got] == ["/workspace/x"]
    assert handle.get_new_events() == []
    assert handle.running
    started = time.monotonic()
    await maybe(handle.stop())
    assert time.monotonic() - started < 5  # the server's sleep does not hold it
    assert handle.end_reason == "stopped"
    assert streams.upgrades[0].query["recursive"] == "false"
    assert "timeout" not in streams.upgrades[0].query


async def test_watch_as_a_context_manager(ws_flavour: Flavour, streams: FakeStreams) -> None:
    streams.add([READY, ("sleep", 30)])
    machine = await ws_flavour.machine()
    if ws_flavour.is_async:
        async with await machine.files.watch_dir("/workspace") as handle:
            assert handle.running
    else:
        with machine.files.watch_dir("/workspace") as handle:
            assert handle.running
    assert handle.end_reason == "stopped"


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [(404, "not_found", NotFoundError), (422, "wrong_entry_type", InvalidArgumentError)],
)
async def test_errors_before_the_upgrade_raise_from_watch_dir(
    ws_flavour: Flavour, streams: FakeStreams, status: int, code: str, cls: type[Exception]
) -> None:
    streams.add(("refuse", status, code))
    machine = await ws_flavour.machine()
    with pytest.raises(cls) as info:
        await maybe(machine.files.watch_dir("/workspace/nope"))
    assert info.value.code == code  # type: ignore[attr-defined]


async def test_an_error_message_ends_the_watch_and_is_raised(
    ws_flavour: Flavour, streams: FakeStreams
) -> None:
    streams.add(
        [
            READY,
            event("write", "/workspace/a"),
            ("text", {"type": "error", "code": "internal", "message": "inotify failed"}),
            ("close", 1011),
        ]
    )
    machine = await ws_flavour.machine()
    handle = await maybe(machine.files.watch_dir("/workspace"))
    events: list[FilesystemEvent] = []
    with pytest.raises(ServerError) as info:
        if isinstance(handle, AsyncWatchHandle):
            async for e in handle:
                events.append(e)
        else:
            await asyncio.to_thread(lambda: events.extend(handle))
    assert info.value.message == "inotify failed"
    assert [e.path for e in events] == ["/workspace/a"]  # what came before the error


async def test_an_error_before_ready_raises_from_watch_dir(
    ws_flavour: Flavour, streams: FakeStreams
) -> None:
    streams.add([("text", {"type": "error", "code": "not_found", "message": "gone"})])
    machine = await ws_flavour.machine()
    with pytest.raises(NotFoundError):
        await maybe(machine.files.watch_dir("/workspace"))


async def test_a_dropped_connection_is_an_error(ws_flavour: Flavour, streams: FakeStreams) -> None:
    streams.add([READY, ("drop",)])
    machine = await ws_flavour.machine()
    handle = await maybe(machine.files.watch_dir("/workspace"))
    with pytest.raises(ServerError) as info:
        await collect(handle)
    assert info.value.code == "connection_error"


async def test_bad_arguments_are_refused_before_connecting(
    ws_flavour: Flavour, streams: FakeStreams
) -> None:
    machine = await ws_flavour.machine()
    for kwargs in ({"timeout": 0}, {"timeout": -1}, {"timeout": 86_401}, {"recursive": "yes"}):
        with pytest.raises(InvalidArgumentError):
            await maybe(machine.files.watch_dir("/workspace", **kwargs))
    assert streams.upgrades == []


def test_watch_state_skips_unknown_event_kinds() -> None:
    state = WatchState("/w")
    assert state.feed('{"type": "event", "kind": "teleport", "path": "/w/a"}') is None
    assert state.feed("not json") is None
    assert isinstance(state.error, ServerError)
