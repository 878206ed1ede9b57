"""Machine lifecycle beyond pause/resume on the fake API, both flavours: create from a
snapshot, timeout actions, auto-resume, fork, snapshots of a machine, metrics."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

import nullspace
from nullspace import InvalidArgumentError, MachineError, MachineInfo, MachineMetrics

from .conftest import (
    API_KEY,
    API_URL,
    MACHINE_ID,
    SNAPSHOT_ID,
    Flavour,
    error_response,
    machine_json,
    maybe,
    metrics_json,
    result_json,
    snapshot_json,
)

BASE = f"/v1/machines/{MACHINE_ID}"

# -- create -----------------------------------------------------------------------


async def test_create_from_snapshot_leaves_template_out(flavour: Flavour) -> None:
    flavour.api.on("POST", "/v1/machines", machine_json(snapshot_id=SNAPSHOT_ID), status=201)
    machine = await maybe(flavour.Machine.create(snapshot_id=SNAPSHOT_ID, **flavour.conn()))
    assert flavour.api.last.json() == {"timeout": 300, "snapshot_id": SNAPSHOT_ID}
    assert machine.info.snapshot_id == SNAPSHOT_ID
    await maybe(machine.close())


async def test_create_from_snapshot_with_template(flavour: Flavour) -> None:
    flavour.api.on("POST", "/v1/machines", machine_json(snapshot_id=SNAPSHOT_ID), status=201)
    await maybe(flavour.Machine.create("py", 60, snapshot_id=SNAPSHOT_ID, **flavour.conn()))
    assert flavour.api.last.json() == {"template": "py", "timeout": 60, "snapshot_id": SNAPSHOT_ID}


@pytest.mark.parametrize("action", ["kill", "pause", "hibernate"])
async def test_create_on_timeout(flavour: Flavour, action: str) -> None:
    answered = "kill" if action == "kill" else "pause"
    flavour.api.on("POST", "/v1/machines", machine_json(timeout_action=answered), status=201)
    machine = await maybe(flavour.Machine.create(timeout=5, on_timeout=action, **flavour.conn()))
    assert flavour.api.last.json() == {"template": "base", "timeout": 5, "timeout_action": action}
    assert machine.info.timeout_action == answered


@pytest.mark.parametrize("value", [True, False])
async def test_create_auto_resume(flavour: Flavour, value: bool) -> None:
    flavour.api.on("POST", "/v1/machines", machine_json(auto_resume=value), status=201)
    machine = await maybe(flavour.Machine.create(auto_resume=value, **flavour.conn()))
    assert flavour.api.last.json() == {"template": "base", "timeout": 300, "auto_resume": value}
    assert machine.info.auto_resume is value


async def test_create_all_lifecycle_arguments(flavour: Flavour) -> None:
    flavour.api.on("POST", "/v1/machines", machine_json(), status=201)
    await maybe(
        flavour.Machine.create(
            template="base",
            timeout=4,
            metadata={"k": "v"},
            snapshot_id=SNAPSHOT_ID,
            on_timeout="pause",
            auto_resume=True,
            **flavour.conn(),
        )
    )
    assert flavour.api.last.json() == {
        "template": "base",
        "timeout": 4,
        "metadata": {"k": "v"},
        "snapshot_id": SNAPSHOT_ID,
        "timeout_action": "pause",
        "auto_resume": True,
    }


@pytest.mark.parametrize(
    "kwargs,needle",
    [
        ({"on_timeout": "sleep"}, "on_timeout must be one of 'kill', 'pause', 'hibernate'"),
        ({"on_timeout": "PAUSE"}, "on_timeout"),
        ({"auto_resume": "yes"}, "auto_resume"),
        ({"snapshot_id": ""}, "snapshot_id"),
    ],
)
async def test_create_bad_lifecycle_arguments(
    flavour: Flavour, kwargs: dict[str, Any], needle: str
) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        await maybe(flavour.Machine.create(**kwargs, **flavour.conn()))
    assert needle in info.value.message
    assert info.value.status is None
    assert flavour.api.requests == []


def test_machine_info_lifecycle_fields() -> None:
    info = MachineInfo.model_validate(
        machine_json(
            timeout_action="pause", auto_resume=True, snapshot_id=SNAPSHOT_ID, forked_from="sb_p"
        )
    )
    assert (info.timeout_action, info.auto_resume) == ("pause", True)
    assert (info.snapshot_id, info.forked_from) == (SNAPSHOT_ID, "sb_p")


def test_machine_info_from_an_older_server() -> None:
    old = machine_json()
    for key in ("timeout_action", "auto_resume", "snapshot_id", "forked_from"):
        del old[key]
    info = MachineInfo.model_validate(old)
    assert (info.timeout_action, info.auto_resume) == ("kill", False)
    assert info.snapshot_id is None and info.forked_from is None


# -- set_timeout --------------------------------------------------------------------


@pytest.mark.parametrize("action", ["kill", "pause", "hibernate"])
async def test_set_timeout_with_action(flavour: Flavour, action: str) -> None:
    machine = await flavour.machine()
    answered = "kill" if action == "kill" else "pause"
    flavour.api.on("POST", f"{BASE}/timeout", machine_json(timeout_action=answered))
    info = await maybe(machine.set_timeout(3, action=action))
    assert flavour.api.last.json() == {"timeout": 3, "action": action}
    assert info.timeout_action == answered == machine.info.timeout_action


async def test_set_timeout_action_positional(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on("POST", f"{BASE}/timeout", machine_json(timeout_action="pause"))
    await maybe(machine.set_timeout(30, "pause"))
    assert flavour.api.last.json() == {"timeout": 30, "action": "pause"}


async def test_set_timeout_bad_action(flavour: Flavour) -> None:
    machine = await flavour.machine()
    with pytest.raises(InvalidArgumentError) as info:
        await maybe(machine.set_timeout(3, action="stop"))
    assert "action must be one of" in info.value.message
    assert flavour.api.requests == []


# -- auto-resume ----------------------------------------------------------------------


async def test_paused_auto_resume_handle_still_sends(flavour: Flavour) -> None:
    """The SDK does not refuse a paused handle itself: the server wakes an auto-resume
    machine, and answers 409 for the others."""
    machine = await flavour.machine(auto_resume=True)
    flavour.api.on("POST", f"{BASE}/pause", machine_json(state="paused", auto_resume=True))
    await maybe(machine.pause())
    flavour.api.on("POST", f"{BASE}/commands", result_json(stdout="awake\n"))
    assert (await maybe(machine.commands.run("echo awake"))).stdout == "awake\n"
    assert [r.path for r in flavour.api.requests] == [f"{BASE}/pause", f"{BASE}/commands"]


# -- fork ---------------------------------------------------------------------------


def _fork_answer(count: int, stall: int = 37) -> dict[str, Any]:
    return {
        "machines": [machine_json(id=f"sb_child{i}", forked_from=MACHINE_ID) for i in range(count)],
        "source_stall_ms": stall,
    }


async def test_fork(flavour: Flavour) -> None:
    machine = await flavour.machine()
    assert machine.last_fork_stall_ms is None
    flavour.api.on("POST", f"{BASE}/fork", _fork_answer(3), status=201)
    children = await maybe(machine.fork(3))
    req = flavour.api.last
    assert (req.method, req.path) == ("POST", f"{BASE}/fork")
    assert req.json() == {"count": 3}
    assert [c.id for c in children] == ["sb_child0", "sb_child1", "sb_child2"]
    assert all(type(c) is flavour.Machine for c in children)
    assert all(c.info.forked_from == MACHINE_ID for c in children)
    assert machine.last_fork_stall_ms == 37
    assert machine.info.id == MACHINE_ID  # the source handle is unchanged

    # children are ready to use, with the source's connection settings
    flavour.api.on("POST", "/v1/machines/sb_child1/commands", result_json(stdout="child\n"))
    assert (await maybe(children[1].commands.run("hostname"))).stdout == "child\n"
    sent = flavour.api.raw[-1]
    assert str(sent.url) == f"{API_URL}/v1/machines/sb_child1/commands"
    assert sent.headers["authorization"] == f"Bearer {API_KEY}"
    assert children[1].config == machine.config

    # each child owns its connections: closing one leaves the others and the source
    await maybe(children[0].close())
    flavour.api.on("DELETE", "/v1/machines/sb_child2", status=204)
    assert await maybe(children[2].kill()) is True
    flavour.api.on("GET", BASE, machine_json())
    assert (await maybe(machine.get_info())).state == "running"


async def test_fork_defaults_and_options(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on("POST", f"{BASE}/fork", _fork_answer(1), status=201)
    [child] = await maybe(machine.fork())
    assert flavour.api.last.json() == {"count": 1}
    assert child.id == "sb_child0"
    await maybe(machine.fork(2, metadata={"branch": "b"}, timeout=120))
    assert flavour.api.last.json() == {"count": 2, "metadata": {"branch": "b"}, "timeout": 120}


async def test_fork_waits_longer_than_a_plain_request(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on("POST", f"{BASE}/fork", _fork_answer(1), status=201)
    await maybe(machine.fork())
    timeout = flavour.api.raw[-1].extensions["timeout"]
    assert timeout["read"] >= 300


@pytest.mark.parametrize("count", [0, -1, "2", True, 1.5])
async def test_fork_bad_count(flavour: Flavour, count: Any) -> None:
    machine = await flavour.machine()
    with pytest.raises(InvalidArgumentError):
        await maybe(machine.fork(count))
    assert flavour.api.requests == []


async def test_fork_bad_timeout_and_metadata(flavour: Flavour) -> None:
    machine = await flavour.machine()
    with pytest.raises(InvalidArgumentError):
        await maybe(machine.fork(timeout="60"))
    with pytest.raises(InvalidArgumentError):
        await maybe(machine.fork(metadata={"k": 1}))
    assert flavour.api.requests == []


async def test_fork_not_running(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on("POST", f"{BASE}/fork", response=error_response(409, "machine_not_running"))
    with pytest.raises(MachineError):
        await maybe(machine.fork(2))
    assert machine.last_fork_stall_ms is None


@pytest.mark.parametrize(
    "answer",
    [
        {"machines": []},
        {"source_stall_ms": 3},
        {"machines": [{"id": "sb_1"}], "source_stall_ms": 3},
        {"machines": [], "source_stall_ms": "3"},
        [],
    ],
)
async def test_fork_bad_answer(flavour: Flavour, answer: Any) -> None:
    machine = await flavour.machine()
    flavour.api.on("POST", f"{BASE}/fork", answer, status=201)
    with pytest.raises(nullspace.ServerError) as info:
        await maybe(machine.fork())
    assert info.value.code == "invalid_response"


# -- snapshots of a machine --------------------------------------------------------


async def test_create_snapshot(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on(
        "POST", f"{BASE}/snapshots", snapshot_json(metadata={"purpose": "ckpt"}), status=201
    )
    snap = await maybe(machine.create_snapshot(metadata={"purpose": "ckpt"}))
    req = flavour.api.last
    assert (req.method, req.path) == ("POST", f"{BASE}/snapshots")
    assert req.json() == {"metadata": {"purpose": "ckpt"}}
    assert type(snap) is flavour.Snapshot
    assert isinstance(snap, nullspace.SnapshotInfo)
    assert (snap.id, snap.machine_id, snap.metadata) == (
        SNAPSHOT_ID,
        MACHINE_ID,
        {"purpose": "ckpt"},
    )
    assert (snap.size_bytes, snap.source_stall_ms) == (123456789, 42)
    assert snap.created_at == datetime(2026, 1, 2, 3, 5, tzinfo=UTC)

    # the snapshot keeps the machine's connection settings
    flavour.api.on("DELETE", f"/v1/snapshots/{SNAPSHOT_ID}", status=204)
    assert await maybe(snap.delete()) is True
    assert str(flavour.api.raw[-1].url) == f"{API_URL}/v1/snapshots/{SNAPSHOT_ID}"
    assert flavour.api.last.headers["authorization"] == f"Bearer {API_KEY}"


async def test_create_snapshot_without_metadata(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on("POST", f"{BASE}/snapshots", snapshot_json(), status=201)
    await maybe(machine.create_snapshot())
    assert flavour.api.last.json() == {}
    assert flavour.api.last.headers["content-type"] == "application/json"


async def test_create_snapshot_not_running(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on("POST", f"{BASE}/snapshots", response=error_response(409, "machine_not_running"))
    with pytest.raises(MachineError):
        await maybe(machine.create_snapshot())


# -- metrics --------------------------------------------------------------------------


async def test_get_metrics(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on("GET", f"{BASE}/metrics", metrics_json())
    metrics = await maybe(machine.get_metrics())
    assert (flavour.api.last.method, flavour.api.last.path) == ("GET", f"{BASE}/metrics")
    assert isinstance(metrics, MachineMetrics)
    assert metrics.cpu_count == 2 and metrics.cpu_used_pct == 12.5
    assert metrics.mem_total_bytes == 512 * 2**20
    assert metrics.disk_used_bytes <= metrics.disk_total_bytes
    assert metrics.uptime_secs == 17
    assert metrics.timestamp == datetime(2026, 1, 2, 3, 4, 22, tzinfo=UTC)


async def test_get_metrics_integer_percent(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on("GET", f"{BASE}/metrics", metrics_json(cpu_used_pct=0))
    metrics = await maybe(machine.get_metrics())
    assert metrics.cpu_used_pct == 0.0 and isinstance(metrics.cpu_used_pct, float)


async def test_get_metrics_errors(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on("GET", f"{BASE}/metrics", response=error_response(409, "machine_not_running"))
    with pytest.raises(MachineError):
        await maybe(machine.get_metrics())
    flavour.api.routes.clear()
    flavour.api.on("GET", f"{BASE}/metrics", {"cpu_count": 1})
    with pytest.raises(nullspace.ServerError):
        await maybe(machine.get_metrics())


def test_fork_transport_closes_only_its_own(api: Any) -> None:
    """A child's ``close`` does not close the caller's ``httpx`` transport."""
    closed: list[bool] = []

    class Tracking(httpx.MockTransport):
        def close(self) -> None:
            closed.append(True)

    api.on("GET", BASE, machine_json())
    api.on("POST", f"{BASE}/fork", _fork_answer(2), status=201)
    machine = nullspace.Machine.connect(
        MACHINE_ID, api_key=API_KEY, api_url=API_URL, transport=Tracking(api.handle)
    )
    children = machine.fork(2)
    for child in children:
        child.close()
    machine.close()
    assert closed == []
