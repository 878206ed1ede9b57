"""Template builds on the fake API, both flavours: contexts uploaded before the build,
the request body, background builds and their handles, and checks that fail before
any request. Waiting for a build (its log stream) is in ``test_template_follow``."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path
from typing import Any

import httpx
import pytest

import nullspace
from nullspace import InvalidArgumentError, wait_for_port

from .conftest import Flavour, error_response, maybe

BUILD_ID = "tb_0123abcd"
BUILDS = "/v1/templates/builds"
BUILD = f"{BUILDS}/{BUILD_ID}"


def build_json(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": BUILD_ID,
        "template_id": "tpl_web1",
        "name": "web",
        "tags": ["latest", "stable", "prod"],
        "status": "waiting",
        "steps_total": 3,
        "steps_done": 0,
        "steps_cached": 0,
        "logs": [],
        "logs_next_offset": 0,
        "error": None,
        "created_at": "2026-01-02T03:04:05Z",
        "finished_at": None,
    }
    body.update(overrides)
    return body


def entry(offset: int, message: str | None = None, level: str = "info") -> dict[str, Any]:
    return {
        "offset": offset,
        "at": "2026-01-02T03:04:05Z",
        "level": level,
        "step": 1,
        "message": message or f"line {offset}",
    }


def T(flavour: Flavour) -> Any:
    return nullspace.AsyncTemplate if flavour.is_async else nullspace.Template


def TB(flavour: Flavour) -> Any:
    return nullspace.AsyncTemplateBuild if flavour.is_async else nullspace.TemplateBuild


def _app(tmp_path: Path) -> Path:
    app = tmp_path / "app"
    (app / "pkg").mkdir(parents=True)
    (app / "pkg" / "mod.py").write_text("X = 1\n")
    (app / "notes.log").write_text("noise\n")
    (app / ".nullspaceignore").write_text("*.log\n")
    return app


# -- contexts and the request ---------------------------------------------------------


async def test_copy_uploads_the_context_before_the_build(flavour: Flavour, tmp_path: Path) -> None:
    app = _app(tmp_path)
    builder = (
        T(flavour)()
        .run_cmd("echo hi")
        .copy(app, "/srv/app")
        .copy(app, "/srv/again")  # the same context: one upload
        .set_start_cmd("python3 -m http.server 8000", wait_for_port(8000))
    )
    api = flavour.api
    api.on("POST", BUILDS, build_json(), status=202)
    put_paths: list[str] = []

    def put(request: httpx.Request) -> httpx.Response:
        put_paths.append(request.url.path)
        return httpx.Response(204)

    sha = nullspace._template_context.pack(str(app)).sha256
    api.on("PUT", f"/v1/templates/contexts/{sha}", response=put)
    build = await maybe(
        T(flavour).build_in_background(
            builder,
            "web:stable",
            tags=["prod"],
            cpu_count=2,
            memory_mb=512,
            internet_access=False,
            skip_cache=True,
            ready_timeout_secs=30,
            step_timeout_secs=600,
            **flavour.conn(),
        )
    )
    assert [(r.method, r.path) for r in api.requests] == [
        ("PUT", f"/v1/templates/contexts/{sha}"),
        ("POST", BUILDS),
    ]
    upload = api.requests[0]
    assert hashlib.sha256(upload.body).hexdigest() == sha
    assert upload.headers["content-type"] == "application/x-tar"
    with tarfile.open(fileobj=io.BytesIO(upload.body)) as tar:
        assert sorted(tar.getnames()) == [".nullspaceignore", "pkg", "pkg/mod.py"]
    assert api.requests[1].json() == {
        "name": "web:stable",
        "from_template": "base",
        "steps": [
            {"kind": "run", "cmd": "echo hi"},
            {"kind": "copy", "context": sha, "dest": "/srv/app"},
            {"kind": "copy", "context": sha, "dest": "/srv/again"},
        ],
        "start_cmd": "python3 -m http.server 8000",
        "ready_cmd": "ss -ltn | grep -q ':8000 '",
        "runtime_envs": {},
        "skip_cache": True,
        "tags": ["prod"],
        "cpu_count": 2,
        "memory_mb": 512,
        "internet_access": False,
        "ready_timeout_secs": 30,
        "step_timeout_secs": 600,
    }
    assert type(build) is TB(flavour)
    assert (build.build_id, build.id, build.template_id, build.name) == (
        BUILD_ID,
        BUILD_ID,
        "tpl_web1",
        "web",
    )
    assert (build.status, build.tags) == ("waiting", ["latest", "stable", "prod"])


async def test_a_failed_upload_asks_for_no_build(flavour: Flavour, tmp_path: Path) -> None:
    app = _app(tmp_path)
    sha = nullspace._template_context.pack(str(app)).sha256
    flavour.api.on(
        "PUT",
        f"/v1/templates/contexts/{sha}",
        response=error_response(422, "validation_error", "hash mismatch"),
    )
    with pytest.raises(InvalidArgumentError, match="hash mismatch"):
        await maybe(T(flavour).build(T(flavour)().copy(app, "/x"), "web", **flavour.conn()))
    assert [r.method for r in flavour.api.requests] == ["PUT"]


# -- background builds and handles --------------------------------------------------------


async def test_background_build_handle(flavour: Flavour) -> None:
    api = flavour.api
    api.on("POST", BUILDS, build_json(), status=202)
    build = await maybe(
        T(flavour).build_in_background(T(flavour)().run_cmd("x"), "web", **flavour.conn())
    )
    assert api.requests[-1].path == BUILDS
    api.on("GET", BUILD, build_json(status="building", logs=[entry(3)], logs_next_offset=4))
    status = await maybe(build.get_status(logs_offset=3))
    assert api.last.param("logs_offset") == "3"
    assert (status.status, [e.offset for e in status.logs]) == ("building", [3])
    assert build.status == "building"
    api.on(
        "GET",
        f"{BUILD}/logs",
        {"logs": [entry(2), entry(3)], "next_offset": 4, "done": False},
    )
    page = await maybe(build.logs(offset=2, limit=2))
    assert (api.last.param("offset"), api.last.param("limit")) == ("2", "2")
    assert isinstance(page, nullspace.BuildLogs)
    assert ([e.offset for e in page.logs], page.next_offset, page.done) == ([2, 3], 4, False)


async def test_connect_unknown_build(flavour: Flavour) -> None:
    flavour.api.on("GET", BUILD, response=error_response(404, "build_not_found", "no build"))
    with pytest.raises(nullspace.BuildNotFoundError) as info:
        await maybe(TB(flavour).connect(BUILD_ID, **flavour.conn()))
    assert isinstance(info.value, nullspace.NotFoundError) and info.value.status == 404


# -- checks before any request -------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("", {}),
        ("Web", {}),
        ("-web", {}),
        ("base", {}),
        ("web:", {}),
        ("web:-x", {}),
        ("w" * 64, {}),
        ("web", {"tags": ["ok", "bad tag"]}),
        ("web", {"tags": [f"t{i}" for i in range(17)]}),
        ("web", {"cpu_count": 0}),
        ("web", {"memory_mb": "512"}),
        ("web", {"internet_access": "no"}),
        ("web", {"skip_cache": 1}),
        ("web", {"ready_timeout_secs": 0}),
        ("web", {"ready_timeout_secs": 3601}),
        ("web", {"step_timeout_secs": 86_401}),
        ("web", {"poll_interval": 0}),
        ("web", {"timeout": -1}),
        ("web", {"on_log_entry": "print"}),
    ],
)
async def test_bad_build_arguments_send_nothing(
    flavour: Flavour, name: str, kwargs: dict[str, Any]
) -> None:
    with pytest.raises(InvalidArgumentError):
        await maybe(T(flavour).build(T(flavour)().run_cmd("x"), name, **kwargs, **flavour.conn()))
    assert flavour.api.requests == []


async def test_async_log_callbacks_are_refused(flavour: Flavour) -> None:
    async def log(entry: nullspace.BuildLogEntry) -> None:
        pass

    with pytest.raises(InvalidArgumentError, match="plain function"):
        await maybe(T(flavour).build(T(flavour)(), "web", on_log_entry=log, **flavour.conn()))
    assert flavour.api.requests == []


async def test_the_builder_comes_first(flavour: Flavour) -> None:
    with pytest.raises(InvalidArgumentError, match="first argument is the builder"):
        await maybe(T(flavour).build("web", "web", **flavour.conn()))
    assert flavour.api.requests == []


async def test_too_many_steps(flavour: Flavour) -> None:
    builder = T(flavour)()
    for i in range(257):
        builder.run_cmd(f"echo {i}")
    with pytest.raises(InvalidArgumentError, match="at most 256 steps"):
        await maybe(T(flavour).build_in_background(builder, "web", **flavour.conn()))
    assert flavour.api.requests == []
