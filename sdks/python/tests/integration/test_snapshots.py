"""Reusable snapshots against a real server, both flavours: machines started from a
snapshot, listing and getting it, and the rules of deleting it."""

from __future__ import annotations

from typing import Any

import pytest

import nullspace

from ..conftest import collect, maybe
from .conftest import Flavour, discard, read_counter, run_ok, start_counter, wait_advance

UUID4 = "python3 -c 'import uuid;print(uuid.uuid4())'"


async def _drop_snapshot(flavour: Flavour, snapshot_id: str) -> None:
    """Cleanup: delete the snapshot unless the test did."""
    await maybe(flavour.Snapshot.delete(snapshot_id))


async def test_machines_from_a_snapshot(flavour: Flavour, machine: Any, run_tag: str) -> None:
    await maybe(machine.files.write("/workspace/checkpoint.txt", "before the snapshot\n"))
    await start_counter(machine)
    labels = {"purpose": "checkpoint", "test": run_tag}
    snap = await maybe(machine.create_snapshot(metadata=labels))
    made: list[Any] = []
    try:
        assert type(snap) is flavour.Snapshot
        assert snap.id.startswith("snap_")
        assert snap.machine_id == machine.id
        assert snap.metadata == labels
        assert snap.template == machine.info.template
        assert (snap.cpu_count, snap.memory_mb) == (machine.info.cpu_count, machine.info.memory_mb)
        assert snap.size_bytes > 0 and snap.source_stall_ms >= 0

        # the source kept running; a change after the snapshot is not in it
        assert (await maybe(machine.get_info())).state == "running"
        await wait_advance(machine, await read_counter(machine))
        await maybe(machine.files.write("/workspace/after.txt", "after"))

        for _ in range(3):
            made.append(
                await maybe(flavour.Machine.create(snapshot_id=snap.id, metadata={"test": run_tag}))
            )
        uuids = set()
        for m in made:
            assert m.id != machine.id
            assert m.info.state == "running"
            assert m.info.snapshot_id == snap.id
            assert m.info.template == snap.template
            text = await maybe(m.files.read("/workspace/checkpoint.txt"))
            assert text == "before the snapshot\n"
            assert not await maybe(m.files.exists("/workspace/after.txt"))
            await wait_advance(m, await read_counter(m))  # its processes came along
            uuids.add(await run_ok(m, UUID4))
        assert len(uuids) == 3, f"machines from one snapshot share entropy: {uuids}"
        assert len({m.id for m in made}) == 3

        # found by machine, by metadata, and by id
        by_machine = await collect(flavour.Snapshot.list(machine_id=machine.id))
        assert [s.id for s in by_machine] == [snap.id]
        by_labels = await collect(flavour.Snapshot.list(metadata={"purpose": "checkpoint"}))
        assert snap.id in {s.id for s in by_labels}
        assert all(s.metadata.get("purpose") == "checkpoint" for s in by_labels)
        mine = await collect(flavour.Snapshot.list(metadata=labels, limit=1))
        assert [s.id for s in mine] == [snap.id]
        got = await maybe(flavour.Snapshot.get(snap.id))
        assert got.model_dump() == snap.model_dump()

        assert (await maybe(machine.get_info())).state == "running"
    finally:
        for m in made:
            await discard(m)
        await _drop_snapshot(flavour, snap.id)


async def test_snapshot_list_pages(flavour: Flavour, machine: Any, run_tag: str) -> None:
    snaps = [
        await maybe(machine.create_snapshot(metadata={"test": run_tag, "i": str(i)}))
        for i in range(2)
    ]
    try:
        paginator = flavour.Snapshot.list(metadata={"test": run_tag}, limit=1)
        first = await maybe(paginator.next_page())
        assert [s.id for s in first] == [snaps[1].id]  # newest first
        assert paginator.has_next
        rest = await collect(paginator)
        assert [s.id for s in rest] == [snaps[0].id]
        assert not paginator.has_next
    finally:
        for snap in snaps:
            await maybe(snap.delete())


async def test_delete_rules(flavour: Flavour, machine: Any, run_tag: str) -> None:
    snap = await maybe(machine.create_snapshot(metadata={"test": run_tag}))
    child = await maybe(flavour.Machine.create(snapshot_id=snap.id, metadata={"test": run_tag}))
    try:
        with pytest.raises(nullspace.SnapshotInUseError) as err:
            await maybe(flavour.Snapshot.delete(snap.id))
        assert (err.value.code, err.value.status) == ("snapshot_in_use", 409)

        assert (await maybe(child.pause())).state == "paused"
        with pytest.raises(nullspace.SnapshotInUseError):
            await maybe(snap.delete())
        # the refused deletes left it whole
        assert (await maybe(flavour.Snapshot.get(snap.id))).id == snap.id

        assert await maybe(child.kill()) is True
        assert await maybe(snap.delete()) is True
        with pytest.raises(nullspace.NotFoundError):
            await maybe(flavour.Snapshot.get(snap.id))
        assert await maybe(flavour.Snapshot.delete(snap.id)) is False
        assert await collect(flavour.Snapshot.list(machine_id=machine.id)) == []
        with pytest.raises(nullspace.NotFoundError):
            await maybe(flavour.Machine.create(snapshot_id=snap.id))
    finally:
        await discard(child)
        await _drop_snapshot(flavour, snap.id)


def test_delete_keeps_what_depends_on_it(run_tag: str) -> None:
    """Forks and snapshots of a machine started from a snapshot do not depend on it:
    once that machine is gone the snapshot can be deleted and they stay usable."""
    source = nullspace.Machine.create(metadata={"test": run_tag})
    made: list[Any] = []
    snap: Any = None
    later: Any = None
    try:
        source.files.write("/workspace/a.txt", "a")
        snap = source.create_snapshot(metadata={"test": run_tag})
        from_snap = nullspace.Machine.create(snapshot_id=snap.id, metadata={"test": run_tag})
        made.append(from_snap)
        [grandchild] = from_snap.fork(metadata={"test": run_tag})
        made.append(grandchild)
        later = from_snap.create_snapshot(metadata={"test": run_tag})
        from_snap.kill()
        assert snap.delete() is True
        snap = None
        assert grandchild.pause().state == "paused"
        assert grandchild.resume().state == "running"
        assert grandchild.files.read("/workspace/a.txt") == "a"
        again = nullspace.Machine.create(snapshot_id=later.id, metadata={"test": run_tag})
        made.append(again)
        assert again.files.read("/workspace/a.txt") == "a"
    finally:
        for m in [*made, source]:
            try:
                m.kill()
            finally:
                m.close()
        for s in (later, snap):
            if s is not None:
                s.delete()
