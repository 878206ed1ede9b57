"""Managing templates on the fake API, both flavours: list, get, exists, delete, tags
and the step cache, with the error classes of their codes."""

from __future__ import annotations

from typing import Any

import pytest

import nullspace
from nullspace import InvalidArgumentError, TemplateInfo, TemplateTag

from .conftest import Flavour, error_response, maybe


def template_json(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "tpl_web1",
        "name": "web",
        "builtin": False,
        "tags": [
            {"tag": "latest", "build_id": "tb_2"},
            {"tag": "stable", "build_id": "tb_1"},
        ],
        "cpu_count": 2,
        "memory_mb": 512,
        "cwd": "/srv/app",
        "envs": {"HELLO": "world"},
        "start_cmd": "python3 -m http.server 8000",
        "ready_cmd": "ss -ltn | grep -q ':8000 '",
        "size_bytes": 123456789,
        "created_at": "2026-01-02T03:04:05Z",
        "updated_at": "2026-01-02T04:04:05Z",
    }
    body.update(overrides)
    return body


BASE: dict[str, Any] = {
    "id": None,
    "name": "base",
    "builtin": True,
    "tags": [],
    "cpu_count": 1,
    "memory_mb": 512,
    "cwd": "/workspace",
    "envs": {},
    "start_cmd": None,
    "ready_cmd": None,
    "size_bytes": 0,
}


def T(flavour: Flavour) -> Any:
    return nullspace.AsyncTemplate if flavour.is_async else nullspace.Template


async def test_list(flavour: Flavour) -> None:
    flavour.api.on("GET", "/v1/templates", {"templates": [BASE, template_json()]})
    items = await maybe(T(flavour).list(**flavour.conn()))
    assert [(t.name, t.builtin, t.id) for t in items] == [
        ("base", True, None),
        ("web", False, "tpl_web1"),
    ]
    web = items[1]
    assert isinstance(web, TemplateInfo)
    assert web.build_id_of("stable") == "tb_1" and web.build_id_of("nope") is None
    assert (web.cwd, web.envs, web.size_bytes) == ("/srv/app", {"HELLO": "world"}, 123456789)
    assert web.template_id == "tpl_web1" and items[0].created_at is None


async def test_get_by_ref(flavour: Flavour) -> None:
    flavour.api.on("GET", "/v1/templates/web:stable", template_json())
    got = await maybe(T(flavour).get("web:stable", **flavour.conn()))
    assert flavour.api.raw[-1].url.raw_path == b"/v1/templates/web:stable"
    assert got.start_cmd == "python3 -m http.server 8000"
    assert [t.tag for t in got.tags] == ["latest", "stable"]


async def test_get_missing(flavour: Flavour) -> None:
    flavour.api.on("GET", "/v1/templates/nope", response=error_response(404, "template_not_found"))
    with pytest.raises(nullspace.TemplateNotFoundError) as info:
        await maybe(T(flavour).get("nope", **flavour.conn()))
    assert isinstance(info.value, nullspace.NotFoundError)


async def test_exists(flavour: Flavour) -> None:
    api = flavour.api
    api.on("GET", "/v1/templates/web", template_json())
    api.on("GET", "/v1/templates/gone", response=error_response(404, "template_not_found"))
    api.on("GET", "/v1/templates/locked", response=error_response(401, "unauthorized"))
    assert await maybe(T(flavour).exists("web", **flavour.conn())) is True
    assert await maybe(T(flavour).exists("gone", **flavour.conn())) is False
    with pytest.raises(nullspace.AuthError):
        await maybe(T(flavour).exists("locked", **flavour.conn()))


async def test_delete(flavour: Flavour) -> None:
    api = flavour.api
    api.on("DELETE", "/v1/templates/web", status=204)
    api.on("DELETE", "/v1/templates/gone", response=error_response(404, "template_not_found"))
    api.on(
        "DELETE",
        "/v1/templates/used",
        response=error_response(409, "template_in_use", "used by sb_1, sb_2"),
    )
    api.on("DELETE", "/v1/templates/busy", response=error_response(409, "conflict", "building"))
    assert await maybe(T(flavour).delete("web", **flavour.conn())) is True
    assert api.last.method == "DELETE"
    assert await maybe(T(flavour).delete("gone", **flavour.conn())) is False
    with pytest.raises(nullspace.TemplateInUseError) as info:
        await maybe(T(flavour).delete("used", **flavour.conn()))
    assert isinstance(info.value, nullspace.ConflictError) and "sb_2" in str(info.value)
    with pytest.raises(nullspace.ConflictError):
        await maybe(T(flavour).delete("busy", **flavour.conn()))


async def test_tags(flavour: Flavour) -> None:
    api = flavour.api
    tags = [{"tag": "latest", "build_id": "tb_2"}, {"tag": "prod", "build_id": "tb_1"}]
    api.on("GET", "/v1/templates/web/tags", {"tags": tags})
    got = await maybe(T(flavour).get_tags("web", **flavour.conn()))
    assert got == [
        TemplateTag(tag="latest", build_id="tb_2"),
        TemplateTag(tag="prod", build_id="tb_1"),
    ]

    api.on("POST", "/v1/templates/web/tags", {"tags": tags})
    moved = await maybe(T(flavour).assign_tags("web", ["prod"], target="tb_1", **flavour.conn()))
    assert api.last.json() == {"tags": ["prod"], "target": "tb_1"}
    assert [t.tag for t in moved] == ["latest", "prod"]


async def test_assign_tags_answered_without_a_body(flavour: Flavour) -> None:
    api = flavour.api
    api.on("POST", "/v1/templates/web/tags", status=204)
    api.on("GET", "/v1/templates/web/tags", {"tags": [{"tag": "v1", "build_id": "tb_9"}]})
    moved = await maybe(T(flavour).assign_tags("web", "v1", **flavour.conn()))
    assert [(r.method, r.path) for r in api.requests] == [
        ("POST", "/v1/templates/web/tags"),
        ("GET", "/v1/templates/web/tags"),
    ]
    assert api.requests[0].json() == {"tags": ["v1"]}
    assert moved == [TemplateTag(tag="v1", build_id="tb_9")]


async def test_remove_tag(flavour: Flavour) -> None:
    api = flavour.api
    api.on("DELETE", "/v1/templates/web/tags/prod", status=204)
    api.on("DELETE", "/v1/templates/web/tags/old", response=error_response(404, "not_found"))
    api.on(
        "DELETE",
        "/v1/templates/web/tags/latest",
        response=error_response(422, "validation_error", "latest cannot be removed"),
    )
    assert await maybe(T(flavour).remove_tag("web", "prod", **flavour.conn())) is True
    assert await maybe(T(flavour).remove_tag("web", "old", **flavour.conn())) is False
    with pytest.raises(InvalidArgumentError, match="latest"):
        await maybe(T(flavour).remove_tag("web", "latest", **flavour.conn()))


async def test_prune_cache(flavour: Flavour) -> None:
    flavour.api.on("DELETE", "/v1/templates/cache", {"deleted": 3, "bytes": 4096})
    result = await maybe(T(flavour).prune_cache(**flavour.conn()))
    assert isinstance(result, nullspace.PruneCacheResult)
    assert (result.deleted, result.bytes) == (3, 4096)
    assert flavour.api.last.method == "DELETE"


async def test_bad_answers_are_server_errors(flavour: Flavour) -> None:
    flavour.api.on("GET", "/v1/templates", {"items": []})
    with pytest.raises(nullspace.ServerError) as info:
        await maybe(T(flavour).list(**flavour.conn()))
    assert info.value.code == "invalid_response"


@pytest.mark.parametrize(
    "call",
    [
        lambda t, c: t.get("", **c),
        lambda t, c: t.get(None, **c),
        lambda t, c: t.exists(" web", **c),
        lambda t, c: t.delete("", **c),
        lambda t, c: t.get_tags("", **c),
        lambda t, c: t.assign_tags("web", [], **c),
        lambda t, c: t.assign_tags("web", ["bad tag"], **c),
        lambda t, c: t.assign_tags("web", ["ok"], target="", **c),
        lambda t, c: t.remove_tag("web", "", **c),
    ],
)
async def test_bad_refs_send_nothing(flavour: Flavour, call: Any) -> None:
    with pytest.raises(InvalidArgumentError):
        await maybe(call(T(flavour), flavour.conn()))
    assert flavour.api.requests == []
