"""Background processes, streamed output and PTY sessions against a real machine,
both flavours."""

from __future__ import annotations

import asyncio
import hashlib
import time
from typing import Any

import pytest

import nullspace

from ..conftest import maybe


async def until(predicate: Any, seconds: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        await asyncio.sleep(0.1)
    pytest.fail(f"{what} not met after {seconds} s")


async def test_quickstart_background_server(machine: Any) -> None:
    server = await maybe(
        machine.commands.run("python3 -m http.server 8080", background=True, shell=True)
    )
    try:
        await asyncio.sleep(1.0)
        listed = await maybe(machine.commands.list())
        mine = [p for p in listed if p.pid == server.pid]
        assert mine and mine[0].running, listed
        probe = await maybe(
            machine.commands.run(
                "for i in $(seq 50); do python3 -c 'import urllib.request as u;"
                ' u.urlopen("http://localhost:8080")\' 2>/dev/null && exit 0;'
                " sleep 0.2; done; exit 1"
            )
        )
        assert probe.exit_code == 0, probe.stderr
    finally:
        assert await maybe(server.kill()) is True
    result = await maybe(server.wait(timeout=30))
    assert result.exit_code == 137
    assert await maybe(server.kill()) is False
    assert await maybe(machine.commands.kill(server.pid)) is False


async def test_on_stdout_fires_before_the_end(machine: Any) -> None:
    seen: list[tuple[float, str]] = []
    began = time.monotonic()
    result = await maybe(
        machine.commands.run(
            "echo first; sleep 2; echo second",
            on_stdout=lambda text: seen.append((time.monotonic() - began, text)),
        )
    )
    ended = time.monotonic() - began
    assert result.stdout == "first\nsecond\n" and result.exit_code == 0
    assert seen and seen[0][1].startswith("first")
    assert seen[0][0] < ended - 1.5, (seen, ended)


async def test_background_callbacks_fire_live(machine: Any) -> None:
    seen: list[tuple[float, str]] = []
    began = time.monotonic()
    handle = await maybe(
        machine.commands.run(
            "echo first; sleep 2; echo second >&2",
            background=True,
            on_stdout=lambda t: seen.append((time.monotonic() - began, t)),
        )
    )
    result = await maybe(handle.wait(timeout=30))
    ended = time.monotonic() - began
    assert (result.stdout, result.stderr) == ("first\n", "second\n")
    assert seen and seen[0][0] < ended - 1.5


async def test_stdin_and_close_stdin_with_cat(machine: Any) -> None:
    handle = await maybe(machine.commands.run("cat", background=True, stdin=True))
    await maybe(handle.send_stdin("hello "))
    await maybe(handle.send_stdin(b"bytes\n"))
    await maybe(handle.close_stdin())
    result = await maybe(handle.wait(timeout=30))
    assert (result.stdout, result.exit_code) == ("hello bytes\n", 0)
    with pytest.raises((nullspace.StdinClosedError, nullspace.ProcessExitedError)):
        await maybe(handle.send_stdin("late"))


async def test_stdin_of_a_process_without_stdin(machine: Any) -> None:
    handle = await maybe(machine.commands.run("sleep 30", background=True))
    try:
        with pytest.raises(nullspace.StdinClosedError):
            await maybe(handle.send_stdin("x"))
    finally:
        await maybe(handle.kill())


async def test_connect_after_the_first_handle_was_dropped(machine: Any) -> None:
    first = await maybe(
        machine.commands.run("echo one; sleep 1; echo two; sleep 30", background=True, tag="replay")
    )
    pid = first.pid
    await until(lambda: "two" in first.stdout, what="two printed")
    await maybe(first.disconnect())
    again = await maybe(machine.commands.connect(pid))
    try:
        assert again.tag == "replay"
        await until(lambda: again.stdout == "one\ntwo\n", what="kept output replayed")
    finally:
        assert await maybe(again.kill()) is True
    assert (await maybe(again.wait(timeout=30))).exit_code == 137
    logs = await maybe(machine.commands.get_logs(pid))
    assert logs.stdout == "one\ntwo\n" and not logs.running


async def test_one_megabyte_of_binary_through_connect(machine: Any) -> None:
    script = "head -c 1000000 /dev/urandom > /tmp/blob; sha256sum /tmp/blob | cut -d' ' -f1"
    digest = (await maybe(machine.commands.run(script))).stdout.strip()
    first = await maybe(machine.commands.run("cat /tmp/blob", background=True))
    await maybe(first.wait(timeout=60))
    again = await maybe(machine.commands.connect(first.pid))
    await maybe(again.wait(timeout=60))
    assert len(again.stdout_bytes) == 1_000_000 and again.dropped == 0
    assert hashlib.sha256(again.stdout_bytes).hexdigest() == digest
    assert hashlib.sha256(first.stdout_bytes).hexdigest() == digest


async def test_signal_and_tags(machine: Any) -> None:
    handle = await maybe(machine.commands.run("sleep 60", background=True, tag="sleeper"))
    with pytest.raises(nullspace.TagInUseError):
        await maybe(machine.commands.run("sleep 60", background=True, tag="sleeper"))
    await maybe(machine.commands.signal(handle.pid, "SIGTERM"))
    assert (await maybe(handle.wait(timeout=30))).exit_code == 128 + 15


async def test_background_timeout(machine: Any) -> None:
    handle = await maybe(machine.commands.run("echo up; sleep 30", background=True, timeout=1))
    with pytest.raises(nullspace.TimeoutError) as info:
        await maybe(handle.wait(timeout=30))
    assert info.value.code == "command_timeout" and info.value.stdout == "up\n"


async def test_unknown_pid(machine: Any) -> None:
    with pytest.raises(nullspace.ProcessNotFoundError):
        await maybe(machine.commands.connect(999_999))


async def test_pty_session(machine: Any) -> None:
    session = await maybe(machine.pty.create_session(cols=80, rows=24))
    try:
        await maybe(session.send_input("stty size\n"))
        await until(lambda: b"24 80" in session.output, what="24 80 printed")
        await maybe(session.resize(100, 30))
        info = await maybe(machine.pty.get_session_info(session.session_id))
        assert info.process.pty is not None and (info.process.pty.cols, info.process.pty.rows) == (
            100,
            30,
        )
        await maybe(session.send_input("stty size\n"))
        await until(lambda: b"30 100" in session.output, what="30 100 printed")
        listed = await maybe(machine.pty.list_sessions())
        assert session.session_id in [s.session_id for s in listed]
    finally:
        assert await maybe(session.kill()) is True
    await maybe(session.wait(timeout=30))
    assert await maybe(machine.pty.kill_session(session.session_id)) is False


async def test_pty_on_data_and_connect(machine: Any) -> None:
    data: list[bytes] = []
    session = await maybe(machine.pty.create_session(on_data=data.append))
    try:
        await maybe(session.send_input("echo marker-$((6*7))\n"))
        await until(lambda: b"marker-42" in b"".join(data), what="on_data got the echo")
        await maybe(session.disconnect())
        again = await maybe(machine.pty.connect(session.session_id))
        await until(lambda: b"marker-42" in again.output, what="replayed terminal output")
        with pytest.raises(nullspace.InvalidArgumentError):
            await maybe(again.resize(0, 0))
    finally:
        await maybe(machine.pty.kill_session(session.session_id))


async def test_resize_of_a_plain_process(machine: Any) -> None:
    handle = await maybe(machine.commands.run("sleep 30", background=True))
    try:
        with pytest.raises(nullspace.NotAPtyError):
            await maybe(machine.pty.resize_session(handle.pid, 80, 24))
    finally:
        await maybe(handle.kill())
