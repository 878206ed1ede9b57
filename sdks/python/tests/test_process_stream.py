"""Process handles over a scripted WebSocket server on 127.0.0.1 (both flavours):
callbacks as output arrives, binary output, a dropped stream resumed from its offsets,
refused upgrades, foreground commands with callbacks, PTY sessions."""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
from typing import Any

import pytest

import nullspace
from nullspace import CommandResult

from .conftest import API_KEY, MACHINE_ID, Flavour, maybe, process_json
from .ws_fake import FakeStreams, end, start

BASE = f"/v1/machines/{MACHINE_ID}"
PROCS = f"{BASE}/processes"
STREAM = f"{PROCS}/42/stream"


async def background(flavour: Flavour, *args: Any, **kwargs: Any) -> Any:
    machine = await flavour.machine()
    flavour.api.on("POST", PROCS, process_json(42, tag=kwargs.get("tag")), status=201)
    return await maybe(machine.commands.run(*args, background=True, **kwargs))


async def test_background_handle_follows_and_calls_back(
    ws_flavour: Flavour, streams: FakeStreams
) -> None:
    streams.add(
        [
            start(42),
            ("out", b"hel"),
            ("err", b"warn\n"),
            ("out", b"lo\n"),
            end(42, 0, stdout=6, stderr=5),
        ]
    )
    out: list[str] = []
    err: list[str] = []
    handle = await background(
        ws_flavour, "echo hello", tag="t", on_stdout=out.append, on_stderr=err.append
    )
    result = await maybe(handle.wait(timeout=10))
    assert isinstance(result, CommandResult)
    assert (result.stdout, result.stderr, result.exit_code, result.duration_ms) == (
        "hello\n",
        "warn\n",
        0,
        12,
    )
    assert out == ["hel", "lo\n"] and err == ["warn\n"]
    assert (handle.stdout, handle.exit_code, handle.offsets, handle.tag) == (
        "hello\n",
        0,
        (6, 5),
        "t",
    )
    upgrade = streams.upgrades[0]
    assert upgrade.path == STREAM and upgrade.query == {"follow": "true"}
    assert upgrade.headers["Authorization"] == f"Bearer {API_KEY}"


async def test_drop_mid_stream_resumes_from_offsets(
    ws_flavour: Flavour, streams: FakeStreams
) -> None:
    streams.add(
        [start(42), ("out", b"abc"), ("err", b"e"), ("drop",)],
        [start(42, 3, 1), ("out", b"def"), end(42, 1, stdout=6, stderr=1)],
    )
    handle = await background(ws_flavour, "x")
    result = await maybe(handle.wait(timeout=10))
    assert (result.stdout, result.stderr, result.exit_code) == ("abcdef", "e", 1)
    assert streams.upgrades[1].query == {
        "stdout_offset": "3",
        "stderr_offset": "1",
        "follow": "true",
    }


async def test_close_without_end_resumes_and_overlap_is_not_repeated(
    ws_flavour: Flavour, streams: FakeStreams
) -> None:
    streams.add(
        [start(42), ("out", b"abc"), ("close", 1001)],
        [start(42, 1, 0), ("out", b"bcdef"), end(42, 0, stdout=6)],  # resent from 1
    )
    seen: list[str] = []
    handle = await background(ws_flavour, "x", on_stdout=seen.append)
    assert (await maybe(handle.wait(timeout=10))).stdout == "abcdef"
    assert "".join(seen) == "abcdef"


async def test_binary_output_is_not_corrupted(ws_flavour: Flavour, streams: FakeStreams) -> None:
    payload = os.urandom(300_000) + "é€😀".encode() * 1000
    chunks = [payload[i : i + 4093] for i in range(0, len(payload), 4093)]
    streams.add([start(42), *[("out", c) for c in chunks], end(42, 0, stdout=len(payload))])
    texts: list[str] = []
    handle = await background(ws_flavour, "x", on_stdout=texts.append)
    await maybe(handle.wait(timeout=30))
    assert hashlib.sha256(handle.stdout_bytes).digest() == hashlib.sha256(payload).digest()
    # incremental decoding gives what decoding the whole does: no char cut at a chunk edge
    assert "".join(texts) == payload.decode("utf-8", errors="replace")
    assert "é€😀" * 1000 in handle.stdout


async def test_refused_upgrade_is_the_rest_error(ws_flavour: Flavour, streams: FakeStreams) -> None:
    streams.add(("refuse", 404, "process_not_found"))
    handle = await background(ws_flavour, "x")
    with pytest.raises(nullspace.ProcessNotFoundError) as info:
        await maybe(handle.wait(timeout=10))
    assert info.value.status == 404


async def test_error_then_close_code(ws_flavour: Flavour, streams: FakeStreams) -> None:
    streams.add(
        [
            start(42),
            ("text", {"type": "error", "code": "machine_died", "message": "vm died"}),
            ("close", 4502),
        ]
    )
    handle = await background(ws_flavour, "x")
    with pytest.raises(nullspace.MachineError) as info:
        await maybe(handle.wait(timeout=10))
    assert (info.value.code, info.value.message) == ("machine_died", "vm died")


async def test_stream_lost_for_good(
    ws_flavour: Flavour, streams: FakeStreams, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(nullspace._stream, "RECONNECT_DELAYS", (0.01, 0.01, 0.01))
    streams.add(*[[("drop",)] for _ in range(20)])
    handle = await background(ws_flavour, "x")
    with pytest.raises(nullspace.ServerError) as info:
        await maybe(handle.wait(timeout=30))
    assert info.value.code == "connection_error"
    # each reader reconnects 3 times; wait() starts a new reader twice more
    assert len(streams.upgrades) == 12


async def test_wait_timeout_leaves_it_running(ws_flavour: Flavour, streams: FakeStreams) -> None:
    streams.add([start(42), ("out", b"tick\n"), ("sleep", 5), end(42, 0, stdout=5)])
    handle = await background(ws_flavour, "x")
    with pytest.raises(nullspace.TimeoutError) as info:
        await maybe(handle.wait(timeout=0.5))
    assert info.value.code == "wait_timeout" and info.value.stdout == "tick\n"
    assert ws_flavour.api.requests[-1].method == "POST"  # nothing killed it
    await maybe(handle.disconnect())


async def test_callback_error_is_raised_by_wait(ws_flavour: Flavour, streams: FakeStreams) -> None:
    streams.add([start(42), ("out", b"a"), ("out", b"b"), end(42, 0, stdout=2)])

    def boom(text: str) -> None:
        raise ValueError(f"bad {text}")

    handle = await background(ws_flavour, "x", on_stdout=boom)
    with pytest.raises(ValueError, match="bad a"):
        await maybe(handle.wait(timeout=10))
    assert handle.stdout == "ab"  # the stream was followed to the end anyway


async def test_handle_kill_and_stdin(ws_flavour: Flavour, streams: FakeStreams) -> None:
    streams.add([start(42), ("sleep", 0.3), end(42, None, signal=9)])
    ws_flavour.api.on("DELETE", f"{PROCS}/42", {"pid": 42, "killed": True})
    ws_flavour.api.on("POST", f"{PROCS}/42/stdin", status=204)
    ws_flavour.api.on("POST", f"{PROCS}/42/close-stdin", status=204)
    ws_flavour.api.on("POST", f"{PROCS}/42/signal", status=204)
    handle = await background(ws_flavour, "cat", stdin=True)
    await maybe(handle.send_stdin("hi\n"))
    await maybe(handle.close_stdin())
    await maybe(handle.signal("SIGINT"))
    assert await maybe(handle.kill()) is True
    assert (await maybe(handle.wait(timeout=10))).exit_code == 137
    paths = [r.path for r in ws_flavour.api.requests[1:]]
    assert paths == [
        f"{PROCS}/42/stdin",
        f"{PROCS}/42/close-stdin",
        f"{PROCS}/42/signal",
        f"{PROCS}/42",
    ]


async def test_connect_replays_from_the_start(ws_flavour: Flavour, streams: FakeStreams) -> None:
    machine = await ws_flavour.machine()
    ws_flavour.api.on("GET", f"{PROCS}/42", process_json(42, tag="srv"))
    streams.add([start(42, 10, 0), ("out", b"kept"), end(42, 0, stdout=14)])
    seen: list[str] = []
    handle = await maybe(machine.commands.connect(42, on_stdout=seen.append))
    assert handle.tag == "srv"
    assert (await maybe(handle.wait(timeout=10))).stdout == "kept"
    assert seen == ["kept"] and streams.upgrades[0].query == {"follow": "true"}


async def test_disconnect_then_wait_follows_again(
    ws_flavour: Flavour, streams: FakeStreams
) -> None:
    streams.add(
        [start(42), ("out", b"one"), ("sleep", 10)],
        [start(42, 3, 0), ("out", b"two"), end(42, 0, stdout=6)],
    )
    seen: list[str] = []
    handle = await background(ws_flavour, "x", on_stdout=seen.append)
    for _ in range(100):
        if handle.stdout:
            break
        await asyncio.sleep(0.05)
    await maybe(handle.disconnect())
    assert (await maybe(handle.wait(timeout=10))).stdout == "onetwo"
    assert streams.upgrades[1].query["stdout_offset"] == "3"


# -- foreground commands with callbacks -------------------------------------------


async def test_foreground_callbacks_stream(ws_flavour: Flavour, streams: FakeStreams) -> None:
    machine = await ws_flavour.machine()
    ws_flavour.api.on("POST", PROCS, process_json(42), status=201)
    ws_flavour.api.on("POST", f"{PROCS}/42/stdin", status=204)
    streams.add([start(42), ("out", b"HI\n"), ("err", b"e"), end(42, 2, stdout=3, stderr=1)])
    seen: list[tuple[str, str]] = []
    threads: set[int] = set()

    def on_out(text: str) -> None:
        threads.add(threading.get_ident())
        seen.append(("out", text))

    result = await maybe(
        machine.commands.run(
            "tr a-z A-Z",
            stdin="hi\n",
            timeout=30,
            on_stdout=on_out,
            on_stderr=lambda t: seen.append(("err", t)),
        )
    )
    assert isinstance(result, CommandResult)
    assert (result.stdout, result.stderr, result.exit_code) == ("HI\n", "e", 2)
    assert seen == [("out", "HI\n"), ("err", "e")]
    assert threads == {threading.get_ident()}  # in the caller's thread
    start_req, stdin_req = ws_flavour.api.requests[:2]
    assert start_req.json() == {"command": "tr a-z A-Z", "stdin": True, "timeout": 30}
    assert stdin_req.json() == {"data": "hi\n", "close": True}


async def test_foreground_default_timeout_is_60(ws_flavour: Flavour, streams: FakeStreams) -> None:
    machine = await ws_flavour.machine()
    ws_flavour.api.on("POST", PROCS, process_json(42), status=201)
    streams.add([start(42), end(42, 0)])
    await maybe(machine.commands.run("true", on_stdout=print))
    assert ws_flavour.api.requests[0].json() == {"command": "true", "timeout": 60}


async def test_foreground_timeout_keeps_output(ws_flavour: Flavour, streams: FakeStreams) -> None:
    machine = await ws_flavour.machine()
    ws_flavour.api.on("POST", PROCS, process_json(42), status=201)
    streams.add([start(42), ("out", b"before\n"), end(42, None, signal=9, timed_out=True)])
    seen: list[str] = []
    with pytest.raises(nullspace.TimeoutError) as info:
        await maybe(machine.commands.run("echo before; sleep 9", timeout=1, on_stdout=seen.append))
    assert (info.value.code, info.value.stdout) == ("command_timeout", "before\n")
    assert seen == ["before\n"]


async def test_async_callbacks_are_awaited(api: Any, streams: FakeStreams) -> None:
    flavour = Flavour("async", nullspace.AsyncMachine, api, streams.url)
    machine = await flavour.machine()
    api.on("POST", PROCS, process_json(42), status=201)
    streams.add([start(42), ("out", b"o"), end(42, 0, stdout=1)])
    seen: list[str] = []

    async def collect(text: str) -> None:
        await asyncio.sleep(0)
        seen.append(text)

    await machine.commands.run("x", on_stdout=collect)
    assert seen == ["o"]


# -- PTY ------------------------------------------------------------------------------


async def test_pty_session(ws_flavour: Flavour, streams: FakeStreams) -> None:
    machine = await ws_flavour.machine()
    process = process_json(7, command=None, pty={"cols": 80, "rows": 24}, stdin_open=True)
    ws_flavour.api.on("POST", f"{BASE}/pty", {"session_id": 7, "process": process}, status=201)
    ws_flavour.api.on("POST", f"{PROCS}/7/stdin", status=204)
    ws_flavour.api.on("POST", f"{BASE}/pty/7/resize", status=204)
    ws_flavour.api.on("DELETE", f"{BASE}/pty/7", {"pid": 7, "killed": True})
    streams.add(
        [
            start(7),
            ("out", b"$ \x1b[0m"),
            ("out", "é".encode()[:1]),
            ("out", "é".encode()[1:]),
            ("sleep", 0.2),
            end(7, None, signal=9, stdout=9),
        ]
    )
    data: list[bytes] = []
    session = await maybe(machine.pty.create_session(on_data=data.append))
    await maybe(session.send_input("stty size\n"))
    await maybe(session.resize(100, 40))
    assert await maybe(session.kill()) is True
    result = await maybe(session.wait(timeout=10))
    assert result.exit_code == 137
    assert b"".join(data) == session.output == b"$ \x1b[0m" + "é".encode()
    assert streams.upgrades[0].path == f"{BASE}/pty/7/connect"
    assert ws_flavour.api.requests[1].json() == {"data": "stty size\n"}
    assert ws_flavour.api.requests[2].json() == {"cols": 100, "rows": 40}
    with pytest.raises(nullspace.InvalidArgumentError):
        await maybe(session.resize(0, 0))
