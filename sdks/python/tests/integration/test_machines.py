"""Machine lifecycle and errors against a real server, both flavours."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import nullspace

from ..conftest import collect, maybe
from .conftest import TEST_URL, Flavour, discard, wait_state


async def test_info_and_connect(flavour: Flavour, machine: Any, run_tag: str) -> None:
    info = await maybe(machine.get_info())
    assert info.id == machine.id
    assert info.state == "running"
    assert info.template == "base"
    assert info.metadata == {"test": run_tag}
    assert info.cwd == "/workspace"
    assert info.cpu_count >= 1 and info.memory_mb >= 1
    assert info.end_at > info.created_at
    again = await maybe(flavour.Machine.connect(machine.id))
    try:
        assert (await maybe(again.commands.run("echo same"))).stdout == "same\n"
    finally:
        await maybe(again.close())
    by_id = await maybe(flavour.Machine.get_info_by_id(machine.id))
    assert by_id.id == machine.id


async def test_set_timeout(machine: Any) -> None:
    before = datetime.now(UTC)
    info = await maybe(machine.set_timeout(900))
    assert before + timedelta(seconds=850) < info.end_at < before + timedelta(seconds=960)
    assert (await maybe(machine.get_info())).end_at == info.end_at


async def test_kill_and_after(flavour: Flavour, run_tag: str) -> None:
    m = await maybe(flavour.Machine.create(metadata={"test": run_tag}))
    try:
        assert await maybe(m.kill()) is True
        info = await maybe(m.get_info())  # killed machines stay visible
        assert info.state in ("killing", "killed")
        with pytest.raises(nullspace.MachineError):
            await maybe(m.commands.run("echo too late"))
        with pytest.raises(nullspace.MachineError):
            await maybe(flavour.Machine.connect(m.id))
        assert await maybe(m.kill()) is False
        assert await maybe(flavour.Machine.kill_by_id(m.id)) is False
    finally:
        await maybe(m.close())


async def test_kill_by_id(flavour: Flavour, run_tag: str) -> None:
    m = await maybe(flavour.Machine.create(metadata={"test": run_tag}))
    await maybe(m.close())
    assert await maybe(flavour.Machine.kill_by_id(m.id)) is True


async def test_bad_key(flavour: Flavour) -> None:
    with pytest.raises(nullspace.AuthError) as info:
        await maybe(flavour.Machine.create(api_key="ns_live_definitely_not_valid"))
    assert info.value.status == 401
    with pytest.raises(nullspace.AuthError):
        await collect(flavour.Machine.list(api_key="ns_live_definitely_not_valid"))


async def test_unknown_machine(flavour: Flavour) -> None:
    with pytest.raises(nullspace.NotFoundError):
        await maybe(flavour.Machine.get_info_by_id("sb_doesnotexist0"))
    with pytest.raises(nullspace.NotFoundError):
        await maybe(flavour.Machine.connect("sb_doesnotexist0"))
    assert await maybe(flavour.Machine.kill_by_id("sb_doesnotexist0")) is False


async def test_unknown_template(flavour: Flavour) -> None:
    with pytest.raises(nullspace.NotFoundError):
        await maybe(flavour.Machine.create(template="no-such-template-xyz"))


async def test_invalid_create_arguments(flavour: Flavour) -> None:
    with pytest.raises(nullspace.InvalidArgumentError):
        await maybe(flavour.Machine.create(timeout=0))


async def test_idempotency_key(flavour: Flavour, run_tag: str) -> None:
    key = f"idem-{uuid.uuid4().hex}"
    first = await maybe(flavour.Machine.create(idempotency_key=key, metadata={"test": run_tag}))
    try:
        second = await maybe(
            flavour.Machine.create(idempotency_key=key, metadata={"test": run_tag})
        )
        assert second.id == first.id
        await maybe(second.close())
    finally:
        await maybe(first.kill())
        await maybe(first.close())


async def test_list_with_metadata_and_pages(flavour: Flavour, run_tag: str) -> None:
    made = []
    try:
        for i in range(3):
            made.append(
                await maybe(flavour.Machine.create(metadata={"test": run_tag, "i": str(i)}))
            )
        paginator = flavour.Machine.list(metadata={"test": run_tag}, limit=1)
        infos = await collect(paginator)
        assert sorted(m.id for m in infos) == sorted(m.id for m in made)
        # newest first
        assert [m.id for m in infos] == [m.id for m in reversed(made)]
        assert not paginator.has_next

        paged = flavour.Machine.list(metadata={"test": run_tag}, limit=2)
        first_page = await maybe(paged.next_page())
        assert len(first_page) == 2 and paged.has_next
        second_page = await maybe(paged.next_page())
        assert len(second_page) == 1

        one = await collect(flavour.Machine.list(metadata={"test": run_tag, "i": "1"}))
        assert [m.id for m in one] == [made[1].id]

        await maybe(made[0].kill())
        running = await collect(flavour.Machine.list(state="running", metadata={"test": run_tag}))
        assert sorted(m.id for m in running) == sorted(m.id for m in made[1:])
        by_template = await collect(
            flavour.Machine.list(template="base", metadata={"test": run_tag})
        )
        assert sorted(m.id for m in by_template) == sorted(m.id for m in made[1:])  # live only
    finally:
        for m in made:
            await maybe(m.kill())
            await maybe(m.close())


async def test_list_defaults_to_live_machines_and_filters_by_state(
    flavour: Flavour, run_tag: str
) -> None:
    """Killed machines leave the default list and are listed with ``state="killed"``
    (kept for the server's history retention); ``end_at`` then says when they ended."""
    tag = {"test": run_tag}
    gone = await maybe(flavour.Machine.create(metadata=tag))
    live = await maybe(flavour.Machine.create(metadata=tag))
    try:
        both = await collect(flavour.Machine.list(metadata=tag))
        assert sorted(m.id for m in both) == sorted([gone.id, live.id])

        killed_at = datetime.now(UTC)
        assert await maybe(gone.kill()) is True
        await wait_state(flavour, gone.id, "killed", 30)

        default = await collect(flavour.Machine.list(metadata=tag))
        assert [m.id for m in default] == [live.id]
        assert [m.state for m in default] == ["running"]

        killed = await collect(flavour.Machine.list(state="killed", metadata=tag))
        assert [m.id for m in killed] == [gone.id]
        assert killed[0].state == "killed"
        assert killed[0].failure_reason is None
        # end_at was the timeout (about 300 s away); now it is when the kill ended it
        slack = timedelta(seconds=30)
        assert killed_at - slack <= killed[0].end_at <= datetime.now(UTC) + slack

        for state in (["running", "killed"], "running,killed"):
            listed = await collect(flavour.Machine.list(state=state, metadata=tag))
            assert sorted(m.id for m in listed) == sorted([gone.id, live.id]), state
        running = await collect(flavour.Machine.list(state="running", metadata=tag))
        assert [m.id for m in running] == [live.id]
        assert await collect(flavour.Machine.list(state="failed", metadata=tag)) == []
    finally:
        await discard(gone)
        await discard(live)


async def test_failure_reason_absent_on_running_machines(
    flavour: Flavour, machine: Any, run_tag: str
) -> None:
    assert machine.info.failure_reason is None  # the answer of create
    assert (await maybe(machine.get_info())).failure_reason is None
    assert (await maybe(flavour.Machine.get_info_by_id(machine.id))).failure_reason is None
    listed = await collect(flavour.Machine.list(metadata={"test": run_tag}))
    assert [(m.id, m.failure_reason) for m in listed] == [(machine.id, None)]


async def test_connection_error_names_url(flavour: Flavour) -> None:
    with pytest.raises(nullspace.ServerError) as info:
        await maybe(flavour.Machine.get_info_by_id("sb_x", api_url="http://127.0.0.1:9"))
    assert info.value.code == "connection_error"
    assert "http://127.0.0.1:9" in info.value.message


def test_env_points_at_server() -> None:
    assert os.environ["NULLSPACE_API_URL"] == TEST_URL


async def test_network_settings_are_shown_and_kept_by_forks(flavour: Flavour, run_tag: str) -> None:
    m = await maybe(
        flavour.Machine.create(
            template="base",
            timeout=300,
            metadata={"test": run_tag},
            network={"allow_out": ["198.51.100.0/24", "198.51.100.7/32"], "deny_out": []},
            internet_access=False,
        )
    )
    try:
        info = await maybe(m.get_info())
        assert info.internet_access is False
        assert info.network.allow_out == ["198.51.100.0/24"]
        assert info.network.allow_public_traffic is True
        assert m.traffic_access_token is None
        kids = await maybe(m.fork())
        try:
            assert kids[0].info.network == info.network
            assert kids[0].info.internet_access is False
        finally:
            for k in kids:
                await discard(k)
    finally:
        await discard(m)
    with pytest.raises(nullspace.InvalidArgumentError):
        await maybe(flavour.Machine.create(network={"allow_out": ["2001:db8::/32"]}))
