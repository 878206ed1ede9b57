"""Pause / resume against a real server, both flavours: a paused machine keeps its
files and processes, refuses commands, and ``connect`` resumes it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import nullspace

from ..conftest import maybe
from .conftest import Flavour

COUNTER = (
    "nohup sh -c 'i=0; while true; do i=$((i+1)); "
    # Written aside and renamed, so a reader never sees a half-written file.
    "echo $i > /tmp/counter.new; mv /tmp/counter.new /tmp/counter; sleep 0.2; done'"
    " >/dev/null 2>&1 & echo $!"
)


async def _counter(machine: Any) -> int:
    return int((await maybe(machine.files.read("/tmp/counter"))).strip())


async def _wait_advance(machine: Any, than: int, seconds: float = 10.0) -> int:
    """The counter once it is above ``than`` (fails after ``seconds``)."""
    value = than
    for _ in range(int(seconds / 0.25)):
        await asyncio.sleep(0.25)
        value = await _counter(machine)
        if value > than:
            return value
    pytest.fail(f"the counter did not advance past {than} (still {value})")


async def test_pause_connect_resumes(flavour: Flavour, machine: Any) -> None:
    await maybe(machine.files.write("/workspace/keep.txt", "still here\n"))
    started = await maybe(machine.commands.run(COUNTER))
    assert started.exit_code == 0, started.stderr
    pid = started.stdout.strip()
    assert pid.isdigit()
    before = await _wait_advance(machine, 0)

    info = await maybe(machine.pause())
    assert info.state == "paused"
    assert machine.info.state == "paused"
    by_id = await maybe(flavour.Machine.get_info_by_id(machine.id))
    assert by_id.state == "paused"  # looking does not wake it
    with pytest.raises(nullspace.MachineError):
        await maybe(machine.commands.run("echo asleep"))
    assert (await maybe(flavour.Machine.get_info_by_id(machine.id))).state == "paused"

    again = await maybe(flavour.Machine.connect(machine.id))
    try:
        assert again.info.state == "running"
        assert (await maybe(again.files.read("/workspace/keep.txt"))) == "still here\n"
        alive = await maybe(again.commands.run(f"kill -0 {pid}"))
        assert alive.exit_code == 0, f"counter process {pid} is gone: {alive.stderr}"
        now = await _counter(again)
        assert now >= before
        await _wait_advance(again, now)
    finally:
        await maybe(again.close())
    assert (await maybe(machine.get_info())).state == "running"


async def test_pause_resume_methods(flavour: Flavour, machine: Any) -> None:
    await maybe(machine.files.write("/workspace/a.txt", "a"))
    assert (await maybe(machine.pause())).state == "paused"
    with pytest.raises(nullspace.MachineError) as err:
        await maybe(machine.pause())  # pausing twice
    assert err.value.code == "machine_not_running"
    with pytest.raises(nullspace.MachineError):
        await maybe(machine.files.read("/workspace/a.txt"))
    assert (await maybe(machine.resume())).state == "running"
    assert (await maybe(machine.resume())).state == "running"  # running: as is
    assert (await maybe(machine.files.read("/workspace/a.txt"))) == "a"
    assert (await maybe(machine.commands.run("echo awake"))).stdout == "awake\n"


async def test_pause_and_resume_by_id(flavour: Flavour, machine: Any) -> None:
    assert (await maybe(flavour.Machine.pause_by_id(machine.id))).state == "paused"
    with pytest.raises(nullspace.MachineError):
        await maybe(flavour.Machine.pause_by_id(machine.id))
    assert (await maybe(flavour.Machine.resume_by_id(machine.id))).state == "running"
    assert (await maybe(machine.commands.run("echo ok"))).stdout == "ok\n"


async def test_pause_resume_killed_and_missing(flavour: Flavour, run_tag: str) -> None:
    m = await maybe(flavour.Machine.create(metadata={"test": run_tag}))
    try:
        assert await maybe(m.kill()) is True
        with pytest.raises(nullspace.MachineError):
            await maybe(m.pause())
        with pytest.raises(nullspace.MachineError) as err:
            await maybe(m.resume())
        assert err.value.code == "machine_not_running"
    finally:
        await maybe(m.close())
    with pytest.raises(nullspace.NotFoundError):
        await maybe(flavour.Machine.pause_by_id("sb_doesnotexist0000"))
    with pytest.raises(nullspace.NotFoundError):
        await maybe(flavour.Machine.resume_by_id("sb_doesnotexist0000"))
