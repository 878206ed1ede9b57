"""Waiting for template builds over their log stream, both flavours: a scripted
WebSocket server on 127.0.0.1 stands in for ``GET …/logs/stream`` and the fake API
for the rest. Every entry is handed over once, in order, as it arrives; a stream
that breaks off is opened again from the next entry; ``done`` is followed by one
request for the ended build; failures, timeouts, refusals and ``follow_logs``."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

import nullspace
from nullspace import BuildError

from .conftest import API_KEY, Flavour, maybe
from .test_template_build import BUILD, BUILD_ID, BUILDS, TB, T, build_json, entry
from .ws_fake import FakeStreams, Step

STREAM = f"{BUILD}/logs/stream"
TICK = 0.001
"""Pause before a stream is opened again: the fake answers at once."""

FAILURE = {
    "code": "step_failed",
    "message": "step 2/3 run exited 2",
    "step": 2,
    "exit_code": 2,
    "last_lines": ["compiling", "error: no such file"],
}


def log(offset: int) -> Step:
    return ("text", {"type": "log", **entry(offset)})


def done(status: str = "ready", error: dict[str, Any] | None = None) -> Step:
    return ("text", {"type": "done", "status": status, "error": error})


def ended(status: str = "ready", next_offset: int = 0, **extra: Any) -> dict[str, Any]:
    """The build as the request after ``done`` finds it."""
    return build_json(
        status=status,
        logs_next_offset=next_offset,
        steps_done=3,
        finished_at="2026-01-02T03:05:05Z",
        error=FAILURE if status == "error" else None,
        **extra,
    )


class PagedBuild:
    """``GET /v1/templates/builds/{id}``: an ended build that has written ``total``
    entries, at most ``page`` of them an answer, from ``logs_offset``."""

    def __init__(self, total: int, page: int) -> None:
        self.total, self.page = total, page
        self.offsets: list[int] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params["logs_offset"])
        self.offsets.append(offset)
        end = min(self.total, offset + self.page)
        logs = [entry(i) for i in range(offset, end)]
        return httpx.Response(200, json=ended(logs=logs, next_offset=max(offset, end)))


async def build(flavour: Flavour, **kwargs: Any) -> Any:
    flavour.api.on("POST", BUILDS, build_json(), status=202)
    return await maybe(
        T(flavour).build(
            T(flavour)().run_cmd("make"), "web", poll_interval=TICK, **kwargs, **flavour.conn()
        )
    )


async def test_build_hands_over_every_entry_once_in_order_as_it_arrives(
    ws_flavour: Flavour, streams: FakeStreams
) -> None:
    streams.add([log(0), log(1), ("sleep", 0.3), log(2), done()])
    ws_flavour.api.on("GET", BUILD, ended(next_offset=3))
    seen: list[tuple[int, float]] = []
    result = await build(
        ws_flavour, on_log_entry=lambda e: seen.append((e.offset, time.monotonic()))
    )
    assert [o for o, _ in seen] == [0, 1, 2]
    assert seen[2][1] - seen[1][1] >= 0.25, "handed over as they arrived, not at the end"
    upgrade = streams.upgrades[0]
    assert (upgrade.path, upgrade.query) == (STREAM, {"offset": "0"})
    assert upgrade.headers["Authorization"] == f"Bearer {API_KEY}"
    # after done: the ended build, asked for from the next entry
    last = ws_flavour.api.requests[-1]
    assert (last.method, last.path, last.param("logs_offset")) == ("GET", BUILD, "3")
    assert result.status == "ready" and result.logs_offset == 3
    assert result.info.steps_done == 3 and result.info.finished_at is not None


async def test_resent_entries_are_not_handed_over_twice(
    ws_flavour: Flavour, streams: FakeStreams
) -> None:
    streams.add([log(0), log(1), log(2), log(1), log(2), log(3), done()])
    ws_flavour.api.on("GET", BUILD, ended(next_offset=4))
    seen: list[int] = []
    await build(ws_flavour, on_log_entry=lambda e: seen.append(e.offset))
    assert seen == [0, 1, 2, 3]


async def test_a_stream_that_breaks_off_is_opened_again_from_the_next_entry(
    ws_flavour: Flavour, streams: FakeStreams
) -> None:
    streams.add(
        [log(0), log(1), ("drop",)],
        [("close", 1011)],
        [("text", {"type": "error", "code": "internal", "message": "store failed"})],
        [log(2), ("text", {"type": "later", "x": 1}), done()],
    )
    ws_flavour.api.on("GET", BUILD, ended(next_offset=3))
    seen: list[int] = []
    await build(ws_flavour, on_log_entry=lambda e: seen.append(e.offset))
    assert seen == [0, 1, 2]
    assert [u.query["offset"] for u in streams.upgrades] == ["0", "2", "2", "2"]


async def test_a_stream_that_keeps_breaking_off_raises(
    ws_flavour: Flavour, streams: FakeStreams
) -> None:
    # every upgrade closes at once (the fake's default): opened 1 + 3 times
    with pytest.raises(nullspace.ServerError) as info:
        await build(ws_flavour)
    assert info.value.code == "connection_error" and "4500" in info.value.message
    assert len(streams.upgrades) == 4


async def test_entries_the_stream_did_not_carry_come_from_the_ended_build(
    ws_flavour: Flavour, streams: FakeStreams
) -> None:
    streams.add([log(0), done()])
    paged = PagedBuild(total=5, page=2)
    ws_flavour.api.on("GET", BUILD, response=paged)
    seen: list[int] = []
    result = await build(ws_flavour, on_log_entry=lambda e: seen.append(e.offset))
    assert seen == [0, 1, 2, 3, 4]
    assert paged.offsets == [1, 3, 5] and result.logs_offset == 5


async def test_build_error_carries_the_failure(ws_flavour: Flavour, streams: FakeStreams) -> None:
    streams.add([log(0), log(1), log(2), done("error", FAILURE)])
    ws_flavour.api.on("GET", BUILD, ended("error", next_offset=3))
    seen: list[int] = []
    with pytest.raises(BuildError) as info:
        await build(ws_flavour, on_log_entry=lambda e: seen.append(e.offset))
    err = info.value
    assert isinstance(err, nullspace.NullspaceError)
    assert (err.error_code, err.code, err.step, err.exit_code) == (
        "step_failed",
        "step_failed",
        2,
        2,
    )
    assert (err.build_id, err.status) == (BUILD_ID, None)
    assert err.last_lines == ["compiling", "error: no such file"]
    assert "step 2/3 run exited 2" in str(err) and "| error: no such file" in str(err)
    assert seen == [0, 1, 2]  # the log came whole before the error


async def test_wait_timeout(ws_flavour: Flavour, streams: FakeStreams) -> None:
    streams.add([log(0), ("sleep", 10)])
    ws_flavour.api.on("GET", BUILD, build_json(status="building", logs_next_offset=1))
    seen: list[int] = []
    started = time.monotonic()
    with pytest.raises(nullspace.TimeoutError) as info:
        await build(ws_flavour, on_log_entry=lambda e: seen.append(e.offset), timeout=0.3)
    assert time.monotonic() - started < 5
    assert info.value.code == "wait_timeout"
    assert BUILD_ID in info.value.message and "building" in info.value.message
    assert seen == [0]


async def test_an_unknown_build_raises_the_refusal(
    ws_flavour: Flavour, streams: FakeStreams
) -> None:
    ws_flavour.api.on("GET", BUILD, build_json(status="building"))
    handle = await maybe(TB(ws_flavour).connect(BUILD_ID, **ws_flavour.conn()))
    streams.add(("refuse", 404, "build_not_found"))
    with pytest.raises(nullspace.BuildNotFoundError) as info:
        await maybe(handle.wait(poll_interval=TICK))
    assert info.value.status == 404 and len(streams.upgrades) == 1


async def test_an_unexpected_message_raises(ws_flavour: Flavour, streams: FakeStreams) -> None:
    streams.add([("text", ["not", "an", "object"])])
    with pytest.raises(nullspace.ServerError) as info:
        await build(ws_flavour)
    assert info.value.code == "invalid_response"


async def test_default_logger_prints_the_build(
    ws_flavour: Flavour, streams: FakeStreams, capsys: pytest.CaptureFixture[str]
) -> None:
    streams.add([log(0), log(1), done()])
    ws_flavour.api.on("GET", BUILD, ended(next_offset=2))
    await build(ws_flavour, on_log_entry=nullspace.default_build_logger())
    assert capsys.readouterr().out == "[03:04:05] INFO line 0\n[03:04:05] INFO line 1\n"


async def test_connect_and_wait_from_the_first_entry(
    ws_flavour: Flavour, streams: FakeStreams
) -> None:
    api = ws_flavour.api
    api.on("GET", BUILD, build_json(status="building", logs=[entry(0)], logs_next_offset=1))
    handle = await maybe(TB(ws_flavour).connect(BUILD_ID, **ws_flavour.conn()))
    assert type(handle) is TB(ws_flavour) and handle.status == "building"
    api.routes.pop(("GET", BUILD))
    api.on("GET", BUILD, ended(next_offset=4))
    streams.add([log(0), log(1), log(2), log(3), done()], [done()])
    seen: list[int] = []
    assert await maybe(handle.wait(lambda e: seen.append(e.offset), poll_interval=TICK)) is handle
    assert seen == [0, 1, 2, 3] and handle.status == "ready"
    again: list[int] = []
    await maybe(handle.wait(lambda e: again.append(e.offset), poll_interval=TICK))
    assert again == []  # a second wait hands over nothing twice
    assert streams.upgrades[1].query == {"offset": "4"}


async def test_follow_logs_from_an_offset_returns_a_failed_build(
    ws_flavour: Flavour, streams: FakeStreams
) -> None:
    api = ws_flavour.api
    api.on("GET", BUILD, build_json(status="building"))
    handle = await maybe(TB(ws_flavour).connect(BUILD_ID, **ws_flavour.conn()))
    api.routes.pop(("GET", BUILD))
    api.on("GET", BUILD, ended("error", next_offset=4))
    streams.add([log(2), log(3), done("error", FAILURE)], [log(0), done("error", FAILURE)])
    seen: list[int] = []
    info = await maybe(handle.follow_logs(lambda e: seen.append(e.offset), offset=2))
    assert isinstance(info, nullspace.TemplateBuildInfo)
    assert (info.status, info.error.code if info.error else None) == ("error", "step_failed")
    assert seen == [2, 3] and streams.upgrades[0].query == {"offset": "2"}
    assert (handle.status, handle.logs_offset) == ("error", 4)
    # an earlier offset hands those entries over again; the handle's offset stays
    await maybe(handle.follow_logs(lambda e: seen.append(e.offset), offset=0))
    assert seen == [2, 3, 0] and handle.logs_offset == 4


async def test_background_handle_waits_without_a_callback(
    ws_flavour: Flavour, streams: FakeStreams
) -> None:
    ws_flavour.api.on("POST", BUILDS, build_json(), status=202)
    handle = await maybe(
        T(ws_flavour).build_in_background(T(ws_flavour)().run_cmd("x"), "web", **ws_flavour.conn())
    )
    streams.add([log(0), log(1), done()])
    ws_flavour.api.on("GET", BUILD, ended(next_offset=2))
    assert await maybe(handle.wait(poll_interval=TICK)) is handle
    assert handle.status == "ready" and handle.logs_offset == 2


async def test_bad_follow_arguments_send_nothing(flavour: Flavour) -> None:
    flavour.api.on("GET", BUILD, build_json())
    handle = await maybe(TB(flavour).connect(BUILD_ID, **flavour.conn()))
    for kwargs in ({"offset": -1}, {"offset": True}, {"poll_interval": 0}, {"timeout": -1}):
        with pytest.raises(nullspace.InvalidArgumentError):
            await maybe(handle.follow_logs(**kwargs))
    assert len(flavour.api.requests) == 1
