"""Snapshot / AsyncSnapshot on the fake API, both flavours: get, list (pagination),
delete on the class and on an instance, error mapping."""

from __future__ import annotations

import httpx
import pytest
from pydantic import ValidationError

import nullspace
from nullspace import NotFoundError, SnapshotInfo, SnapshotInUseError

from .conftest import (
    API_KEY,
    API_URL,
    SNAPSHOT_ID,
    Flavour,
    collect,
    error_response,
    maybe,
    snapshot_json,
)

PATH = f"/v1/snapshots/{SNAPSHOT_ID}"


async def test_get(flavour: Flavour) -> None:
    flavour.api.on("GET", PATH, snapshot_json(metadata={"purpose": "checkpoint"}))
    snap = await maybe(flavour.Snapshot.get(SNAPSHOT_ID, **flavour.conn()))
    req = flavour.api.last
    assert (req.method, req.path) == ("GET", PATH)
    assert req.headers["authorization"] == f"Bearer {API_KEY}"
    assert type(snap) is flavour.Snapshot
    assert snap.id == snap.snapshot_id == SNAPSHOT_ID
    assert snap.metadata == {"purpose": "checkpoint"}
    assert (snap.template, snap.cpu_count, snap.memory_mb) == ("base", 2, 512)
    assert API_KEY not in repr(snap)


async def test_get_missing(flavour: Flavour) -> None:
    flavour.api.on("GET", PATH, response=error_response(404, "not_found", "no snapshot"))
    with pytest.raises(NotFoundError) as info:
        await maybe(flavour.Snapshot.get(SNAPSHOT_ID, **flavour.conn()))
    assert info.value.status == 404


async def test_get_base_url_alias_and_quoting(flavour: Flavour) -> None:
    flavour.api.on("GET", "/v1/snapshots/a/b", snapshot_json())
    conn = flavour.conn()
    conn["base_url"] = conn.pop("api_url") + "/"
    await maybe(flavour.Snapshot.get("a/b", **conn))
    assert flavour.api.raw[-1].url.raw_path == b"/v1/snapshots/a%2Fb"
    assert str(flavour.api.raw[-1].url).startswith(API_URL + "/v1/snapshots/")


@pytest.mark.parametrize("bad", ["", None, 7])
async def test_bad_ids_fail_before_sending(flavour: Flavour, bad: object) -> None:
    with pytest.raises(nullspace.InvalidArgumentError):
        await maybe(flavour.Snapshot.get(bad, **flavour.conn()))
    with pytest.raises(nullspace.InvalidArgumentError):
        await maybe(flavour.Snapshot.delete(bad, **flavour.conn()))
    assert flavour.api.requests == []


# -- delete ---------------------------------------------------------------------------


async def test_delete_by_id(flavour: Flavour) -> None:
    flavour.api.on("DELETE", PATH, status=204)
    assert await maybe(flavour.Snapshot.delete(SNAPSHOT_ID, **flavour.conn())) is True
    assert (flavour.api.last.method, flavour.api.last.path) == ("DELETE", PATH)


async def test_delete_missing_is_false(flavour: Flavour) -> None:
    flavour.api.on("DELETE", PATH, response=error_response(404, "not_found"))
    assert await maybe(flavour.Snapshot.delete(SNAPSHOT_ID, **flavour.conn())) is False


async def test_delete_in_use(flavour: Flavour) -> None:
    flavour.api.on("DELETE", PATH, response=error_response(409, "snapshot_in_use", "used by sb_1"))
    with pytest.raises(SnapshotInUseError) as info:
        await maybe(flavour.Snapshot.delete(SNAPSHOT_ID, **flavour.conn()))
    assert isinstance(info.value, nullspace.ConflictError)
    assert (info.value.code, info.value.status) == ("snapshot_in_use", 409)
    assert "sb_1" in str(info.value)


async def test_delete_other_errors_raise(flavour: Flavour) -> None:
    flavour.api.on("DELETE", PATH, response=error_response(401, "unauthorized"))
    with pytest.raises(nullspace.AuthError):
        await maybe(flavour.Snapshot.delete(SNAPSHOT_ID, **flavour.conn()))


async def test_instance_delete(flavour: Flavour) -> None:
    flavour.api.on("GET", PATH, snapshot_json())
    snap = await maybe(flavour.Snapshot.get(SNAPSHOT_ID, **flavour.conn()))
    flavour.api.on("DELETE", PATH, status=204)
    assert await maybe(snap.delete()) is True
    assert str(flavour.api.raw[-1].url) == f"{API_URL}{PATH}"
    flavour.api.routes.clear()
    flavour.api.on("DELETE", PATH, response=error_response(409, "snapshot_in_use"))
    with pytest.raises(SnapshotInUseError):
        await maybe(snap.delete())
    flavour.api.routes.clear()
    flavour.api.on("DELETE", PATH, response=error_response(404, "not_found"))
    assert await maybe(snap.delete()) is False


async def test_unbound_snapshot_uses_the_environment(
    flavour: Flavour, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A snapshot built from data (not fetched) resolves the connection like the SDK."""
    monkeypatch.setenv("NULLSPACE_API_KEY", "ns_live_fromenv")
    monkeypatch.setenv("NULLSPACE_API_URL", "http://127.0.0.1:9")
    snap = flavour.Snapshot.model_validate(snapshot_json())
    with pytest.raises(nullspace.ServerError) as info:  # nothing listens on port 9
        await maybe(snap.delete())
    assert info.value.code == "connection_error"
    assert "127.0.0.1:9" in info.value.message


def test_delete_is_documented_on_class_and_instance() -> None:
    assert "SnapshotInUseError" in (nullspace.Snapshot.delete.__doc__ or "")
    snap = nullspace.Snapshot.model_validate(snapshot_json())
    assert "SnapshotInUseError" in (snap.delete.__doc__ or "")
    assert snap.delete.__self__ is snap


# -- list -----------------------------------------------------------------------------


def three_pages(flavour: Flavour) -> None:
    pages = {
        None: {
            "snapshots": [snapshot_json(id="snap_1"), snapshot_json(id="snap_2")],
            "next_cursor": "c1",
        },
        "c1": {"snapshots": [snapshot_json(id="snap_3")], "next_cursor": "c2"},
        "c2": {"snapshots": [snapshot_json(id="snap_4")], "next_cursor": None},
    }

    def reply(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=pages[request.url.params.get("cursor")])

    flavour.api.on("GET", "/v1/snapshots", response=reply)


async def test_list_iterates_all_pages(flavour: Flavour) -> None:
    three_pages(flavour)
    paginator = flavour.Snapshot.list(
        machine_id="sb_src",
        metadata={"purpose": "checkpoint", "run": "7"},
        limit=2,
        **flavour.conn(),
    )
    assert flavour.api.requests == []  # lazy
    snaps = await collect(paginator)
    assert [s.id for s in snaps] == ["snap_1", "snap_2", "snap_3", "snap_4"]
    assert all(type(s) is flavour.Snapshot for s in snaps)
    assert not paginator.has_next
    first, second, third = flavour.api.requests
    assert first.params == [
        ("machine_id", "sb_src"),
        ("metadata", "purpose=checkpoint"),
        ("metadata", "run=7"),
        ("limit", "2"),
    ]
    assert second.params[-1] == ("cursor", "c1")
    assert third.params[-1] == ("cursor", "c2")

    # listed snapshots carry the connection settings
    flavour.api.on("DELETE", "/v1/snapshots/snap_3", status=204)
    assert await maybe(snaps[2].delete()) is True
    assert flavour.api.last.headers["authorization"] == f"Bearer {API_KEY}"


async def test_list_next_page(flavour: Flavour) -> None:
    three_pages(flavour)
    paginator = flavour.Snapshot.list(**flavour.conn())
    assert paginator.has_next and paginator.next_cursor is None
    page = await maybe(paginator.next_page())
    assert [s.id for s in page] == ["snap_1", "snap_2"]
    assert flavour.api.last.params == []
    assert paginator.next_cursor == "c1"
    await maybe(paginator.next_page())
    await maybe(paginator.next_page())
    assert not paginator.has_next
    assert await maybe(paginator.next_page()) == []
    assert len(flavour.api.requests) == 3


async def test_list_paginator_types(flavour: Flavour) -> None:
    paginator = flavour.Snapshot.list(**flavour.conn())
    if flavour.is_async:
        assert isinstance(paginator, nullspace.AsyncSnapshotPaginator)
        assert isinstance(paginator, nullspace.AsyncPaginator)
    else:
        assert isinstance(paginator, nullspace.SnapshotPaginator)
        assert isinstance(paginator, nullspace.Paginator)


async def test_list_empty_string_cursor_ends(flavour: Flavour) -> None:
    flavour.api.on("GET", "/v1/snapshots", {"snapshots": [snapshot_json()], "next_cursor": ""})
    assert len(await collect(flavour.Snapshot.list(**flavour.conn()))) == 1
    assert len(flavour.api.requests) == 1


async def test_list_bad_metadata_fails_at_call(flavour: Flavour) -> None:
    with pytest.raises(nullspace.InvalidArgumentError):
        flavour.Snapshot.list(metadata={"k": 1}, **flavour.conn())


async def test_list_bad_answer(flavour: Flavour) -> None:
    flavour.api.on("GET", "/v1/snapshots", {"machines": []})
    with pytest.raises(nullspace.ServerError) as info:
        await collect(flavour.Snapshot.list(**flavour.conn()))
    assert info.value.code == "invalid_response"


# -- model ----------------------------------------------------------------------------


def test_snapshot_info_model() -> None:
    info = SnapshotInfo.model_validate(snapshot_json(new_field=1))
    assert info.size_bytes == 123456789
    with pytest.raises(ValidationError):
        SnapshotInfo.model_validate({"id": SNAPSHOT_ID})
    snap = nullspace.Snapshot.model_validate(snapshot_json())
    assert snap.model_dump()["id"] == SNAPSHOT_ID
    with pytest.raises(ValidationError):  # frozen
        snap.id = "snap_other"  # type: ignore[misc]
