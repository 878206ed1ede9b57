"""Fork against a real server, both flavours: children carry the source's memory,
processes and disk, get their own identity, and the source runs on."""

from __future__ import annotations

import asyncio
from typing import Any

from ..conftest import maybe
from .conftest import Flavour, discard, read_counter, run_ok, start_counter, wait_advance

UUID4 = "python3 -c 'import uuid;print(uuid.uuid4())'"


async def _fork_watching_source(flavour: Flavour, source: Any, count: int) -> tuple[Any, list[str]]:
    """Fork while polling the source's state; return the children and the states seen."""
    if flavour.is_async:
        work: asyncio.Future[Any] = asyncio.ensure_future(source.fork(count))
    else:
        work = asyncio.ensure_future(asyncio.to_thread(source.fork, count))
    states: list[str] = []
    while not work.done():
        states.append((await maybe(flavour.Machine.get_info_by_id(source.id))).state)
        await asyncio.sleep(0.05)
    return await work, states


async def test_fork_three_children(flavour: Flavour, machine: Any) -> None:
    await maybe(machine.files.write("/workspace/before-fork.txt", "written by the source\n"))
    pid = await start_counter(machine)
    source_host = await run_ok(machine, "hostname")
    source_uuid = await run_ok(machine, UUID4)

    children, states = await _fork_watching_source(flavour, machine, 3)
    try:
        # the source was only ever running (or briefly saving its memory)
        assert set(states) <= {"running", "snapshotting"}, states
        assert isinstance(machine.last_fork_stall_ms, int) and machine.last_fork_stall_ms >= 0

        assert len(children) == 3
        ids = [c.id for c in children]
        assert len(set(ids)) == 3 and machine.id not in ids
        uuids, hosts = {source_uuid}, {source_host}
        for child in children:
            assert type(child) is flavour.Machine
            assert child.info.state == "running"
            assert child.info.forked_from == machine.id
            assert child.info.template == machine.info.template
            by_id = await maybe(flavour.Machine.get_info_by_id(child.id))
            assert by_id.forked_from == machine.id and by_id.state == "running"

            text = await maybe(child.files.read("/workspace/before-fork.txt"))
            assert text == "written by the source\n"
            alive = await maybe(child.commands.run(f"kill -0 {pid}"))
            assert alive.exit_code == 0, f"counter {pid} not running in {child.id}"
            await wait_advance(child, await read_counter(child))

            uuids.add(await run_ok(child, UUID4))
            hosts.add(await run_ok(child, "hostname"))
        assert len(uuids) == 4, f"children share entropy: {uuids}"
        assert len(hosts) == 4, f"children share a hostname: {hosts}"

        # children are independent of the source and of each other
        await maybe(children[0].files.write("/workspace/child-only.txt", children[0].id))
        assert not await maybe(machine.files.exists("/workspace/child-only.txt"))
        assert not await maybe(children[1].files.exists("/workspace/child-only.txt"))

        # the source runs on: same state, same counter process, still counting
        assert (await maybe(machine.get_info())).state == "running"
        alive = await maybe(machine.commands.run(f"kill -0 {pid}"))
        assert alive.exit_code == 0
        await wait_advance(machine, await read_counter(machine))
        assert await run_ok(machine, "hostname") == source_host
    finally:
        for child in children:
            await discard(child)


async def test_fork_options(flavour: Flavour, machine: Any, run_tag: str) -> None:
    [child] = await maybe(machine.fork(metadata={"test": run_tag, "role": "child"}, timeout=120))
    try:
        info = await maybe(child.get_info())
        assert info.metadata == {"test": run_tag, "role": "child"}
        assert 60 < (info.end_at - info.created_at).total_seconds() <= 180
        assert await run_ok(child, "echo forked") == "forked"
    finally:
        await discard(child)
