"""Machine.list paginators on the fake API, both flavours."""

from __future__ import annotations

import httpx
import pytest

import nullspace

from .conftest import Flavour, collect, machine_json, maybe


def three_pages(flavour: Flavour) -> None:
    pages = {
        None: (
            {"machines": [machine_json(id="sb_1"), machine_json(id="sb_2")], "next_cursor": "c1"}
        ),
        "c1": ({"machines": [machine_json(id="sb_3")], "next_cursor": "c2"}),
        "c2": ({"machines": [machine_json(id="sb_4")], "next_cursor": None}),
    }

    def reply(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=pages[request.url.params.get("cursor")])

    flavour.api.on("GET", "/v1/machines", response=reply)


async def test_iterates_all_pages(flavour: Flavour) -> None:
    three_pages(flavour)
    paginator = flavour.Machine.list(
        state="running",
        template="base",
        metadata={"team": "eval", "run": "7"},
        limit=2,
        **flavour.conn(),
    )
    assert flavour.api.requests == []  # lazy
    ids = [m.id for m in await collect(paginator)]
    assert ids == ["sb_1", "sb_2", "sb_3", "sb_4"]
    assert not paginator.has_next
    assert len(flavour.api.requests) == 3
    first, second, third = flavour.api.requests
    assert first.params == [
        ("state", "running"),
        ("template", "base"),
        ("metadata", "team=eval"),
        ("metadata", "run=7"),
        ("limit", "2"),
    ]
    assert second.params[-1] == ("cursor", "c1")
    assert third.params[-1] == ("cursor", "c2")
    assert all(r.headers["authorization"].startswith("Bearer ") for r in flavour.api.requests)


async def test_next_page(flavour: Flavour) -> None:
    three_pages(flavour)
    paginator = flavour.Machine.list(**flavour.conn())
    assert paginator.has_next
    page = await maybe(paginator.next_page())
    assert [m.id for m in page] == ["sb_1", "sb_2"]
    assert paginator.has_next and paginator.next_cursor == "c1"
    assert [m.id for m in await maybe(paginator.next_page())] == ["sb_3"]
    assert [m.id for m in await maybe(paginator.next_page())] == ["sb_4"]
    assert not paginator.has_next and paginator.next_cursor is None
    assert await maybe(paginator.next_page()) == []
    assert len(flavour.api.requests) == 3
    assert flavour.api.requests[0].params == []


async def test_iteration_continues_after_next_page(flavour: Flavour) -> None:
    three_pages(flavour)
    paginator = flavour.Machine.list(**flavour.conn())
    await maybe(paginator.next_page())
    assert [m.id for m in await collect(paginator)] == ["sb_3", "sb_4"]


async def test_empty(flavour: Flavour) -> None:
    flavour.api.on("GET", "/v1/machines", {"machines": [], "next_cursor": None})
    assert await collect(flavour.Machine.list(**flavour.conn())) == []


async def test_bad_metadata_fails_early(flavour: Flavour) -> None:
    with pytest.raises(nullspace.InvalidArgumentError):
        flavour.Machine.list(metadata={"a": 1}, **flavour.conn())


async def test_list_error(flavour: Flavour) -> None:
    flavour.api.on(
        "GET",
        "/v1/machines",
        response=httpx.Response(
            422, json={"error": {"code": "validation_error", "message": "limit"}}
        ),
    )
    with pytest.raises(nullspace.InvalidArgumentError):
        await collect(flavour.Machine.list(limit=5000, **flavour.conn()))


def test_sandbox_paginator_aliases() -> None:
    assert nullspace.SandboxPaginator is nullspace.MachinePaginator
    assert nullspace.AsyncSandboxPaginator is nullspace.AsyncMachinePaginator


async def test_default_lists_what_the_server_lists_by_default(flavour: Flavour) -> None:
    """No ``state`` parameter at all: the server's default (live machines) applies."""
    flavour.api.on("GET", "/v1/machines", {"machines": [], "next_cursor": None})
    await collect(flavour.Machine.list(**flavour.conn()))
    assert "state" not in [k for k, _ in flavour.api.last.params]


@pytest.mark.parametrize(
    "state,sent",
    [
        ("killed", ["killed"]),
        (["killed", "failed"], ["killed", "failed"]),
        (("running", "paused"), ["running", "paused"]),
        ("killed,failed", ["killed", "failed"]),
        (["running", "killed, failed"], ["running", "killed", "failed"]),
    ],
)
async def test_state_filter_is_repeated(
    flavour: Flavour, state: str | list[str], sent: list[str]
) -> None:
    flavour.api.on(
        "GET",
        "/v1/machines",
        {"machines": [machine_json(state="killed", failure_reason=None)], "next_cursor": None},
    )
    infos = await collect(flavour.Machine.list(state=state, **flavour.conn()))
    assert [i.state for i in infos] == ["killed"]
    assert [v for k, v in flavour.api.last.params if k == "state"] == sent


async def test_state_filter_on_every_page(flavour: Flavour) -> None:
    three_pages(flavour)
    states = ["running", "killed"]
    paginator = flavour.Machine.list(state=states, **flavour.conn())
    await maybe(paginator.next_page())
    states.append("failed")  # changing the caller's list between pages changes nothing
    await collect(paginator)
    assert len(flavour.api.requests) == 3
    for req in flavour.api.requests:
        assert [v for k, v in req.params if k == "state"] == ["running", "killed"]


@pytest.mark.parametrize("state", ["", [], [""], ["running", 3], 7, "running,,"])
async def test_bad_state_fails_early(flavour: Flavour, state: object) -> None:
    with pytest.raises(nullspace.InvalidArgumentError):
        flavour.Machine.list(state=state, **flavour.conn())
    assert flavour.api.requests == []
