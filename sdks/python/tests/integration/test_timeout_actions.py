"""Auto-resume, timeout actions and metrics against a real server, both flavours."""

from __future__ import annotations

from typing import Any

import pytest

import nullspace

from ..conftest import maybe
from .conftest import Flavour, discard, run_ok, wait_state

DEAD = ("killing", "killed", "failed")


async def test_auto_resume(flavour: Flavour, run_tag: str) -> None:
    m = await maybe(flavour.Machine.create(auto_resume=True, metadata={"test": run_tag}))
    try:
        assert m.info.auto_resume is True
        await maybe(m.files.write("/workspace/auto.txt", "kept\n"))
        assert (await maybe(m.pause())).state == "paused"
        # the same handle just works: the request wakes the machine
        assert await run_ok(m, "cat /workspace/auto.txt") == "kept"
        info = await maybe(m.get_info())
        assert info.state == "running" and info.auto_resume is True
        assert (await maybe(m.files.read("/workspace/auto.txt"))) == "kept\n"
    finally:
        await discard(m)


async def test_without_auto_resume_paused_refuses(flavour: Flavour, machine: Any) -> None:
    assert machine.info.auto_resume is False
    await maybe(machine.pause())
    with pytest.raises(nullspace.MachineError) as err:
        await maybe(machine.commands.run("echo asleep"))
    assert (err.value.code, err.value.status) == ("machine_not_running", 409)
    assert (await maybe(flavour.Machine.get_info_by_id(machine.id))).state == "paused"


async def test_on_timeout_pause(flavour: Flavour, run_tag: str) -> None:
    m = await maybe(
        flavour.Machine.create(timeout=4, on_timeout="pause", metadata={"test": run_tag})
    )
    try:
        assert m.info.timeout_action == "pause"
        await maybe(m.files.write("/workspace/slept.txt", "before the timeout\n"))
        await wait_state(flavour, m.id, "paused", 60, never=DEAD)
        again = await maybe(flavour.Machine.connect(m.id))
        try:
            assert again.info.state == "running"
            text = await maybe(again.files.read("/workspace/slept.txt"))
            assert text == "before the timeout\n"
        finally:
            await maybe(again.close())
    finally:
        await discard(m)


async def test_set_timeout_hibernate(flavour: Flavour, machine: Any) -> None:
    assert machine.info.timeout_action == "kill"
    info = await maybe(machine.set_timeout(3, action="hibernate"))
    assert info.timeout_action == "pause"  # hibernate is an alias; answers say pause
    await wait_state(flavour, machine.id, "paused", 60, never=DEAD)
    assert (await maybe(machine.resume())).state == "running"
    assert await run_ok(machine, "echo back") == "back"


async def test_metrics(flavour: Flavour, machine: Any) -> None:
    metrics = await maybe(machine.get_metrics())
    assert isinstance(metrics, nullspace.MachineMetrics)
    assert metrics.cpu_count >= 1
    assert metrics.cpu_count == machine.info.cpu_count
    assert 0 <= metrics.cpu_used_pct <= 100
    assert metrics.mem_total_bytes > 100 * 2**20
    assert 0 < metrics.mem_used_bytes <= metrics.mem_total_bytes
    assert 0 < metrics.disk_used_bytes <= metrics.disk_total_bytes
    assert metrics.uptime_secs >= 0
    assert metrics.timestamp >= machine.info.created_at
