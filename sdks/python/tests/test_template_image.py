"""Builds on an OCI image instead of a template: the ``from_image`` family of builder
methods, the body they send (the registry login included) and the one they show
(``to_dict`` / ``to_json``, the password or key redacted), a GCP key from a file, a
dict or a string, the Dockerfile ``FROM`` line, the checks of bad arguments, and an
image the server cannot pull failing the build with ``image_pull_failed``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import nullspace
from nullspace import BuildError, InvalidArgumentError, Template

from .conftest import Flavour, maybe
from .test_template_build import BUILD, BUILD_ID, BUILDS, T, build_json, entry
from .ws_fake import FakeStreams

PASSWORD = "s3cr3t-token"
GCP_KEY: dict[str, Any] = {
    "type": "service_account",
    "project_id": "proj",
    "private_key_id": "abc123",
    "private_key": "-----BEGIN PRIVATE KEY-----\nMIIEv...\n-----END PRIVATE KEY-----\n",
    "client_email": "puller@proj.iam.gserviceaccount.com",
}


async def _posted(flavour: Flavour, builder: Any) -> dict[str, Any]:
    """The body ``build_in_background`` POSTs for ``builder``."""
    flavour.api.on("POST", BUILDS, build_json(), status=202)
    await maybe(T(flavour).build_in_background(builder, "app", **flavour.conn()))
    posted = flavour.api.requests[-1]
    assert (posted.method, posted.path) == ("POST", BUILDS)
    body: dict[str, Any] = posted.json()
    return body


# -- the body sent ------------------------------------------------------------------------


async def test_registry_login_is_sent(flavour: Flavour) -> None:
    builder = (
        T(flavour)()
        .from_registry("127.0.0.1:5000/team/app:1", "puller", PASSWORD)
        .run_cmd("echo hi")
        .set_workdir("/srv")
    )
    assert await _posted(flavour, builder) == {
        "name": "app",
        "from_image": "127.0.0.1:5000/team/app:1",
        "registry_auth": {"kind": "basic", "username": "puller", "password": PASSWORD},
        "steps": [
            {"kind": "run", "cmd": "echo hi"},
            {"kind": "workdir", "path": "/srv"},
        ],
        "runtime_envs": {},
        "skip_cache": False,
    }


async def test_public_image_sends_no_login(flavour: Flavour) -> None:
    body = await _posted(flavour, T(flavour)().from_image("python:3.12"))
    assert body["from_image"] == "python:3.12"
    assert "registry_auth" not in body and "from_template" not in body


async def test_gcp_key_is_sent_as_a_string(flavour: Flavour, tmp_path: Path) -> None:
    key_file = tmp_path / "key.json"
    key_text = json.dumps(GCP_KEY, indent=2) + "\n"
    key_file.write_text(key_text)
    image = "europe-docker.pkg.dev/proj/repo/app@sha256:" + "a" * 64
    body = await _posted(flavour, T(flavour)().from_gcp_registry(image, str(key_file)))
    assert body["from_image"] == image
    # a key file is sent as it is written
    assert body["registry_auth"] == {"kind": "gcp", "service_account_json": key_text}
    assert "from_template" not in body


@pytest.mark.parametrize("form", ["path", "pathlike", "dict", "string"])
def test_gcp_key_forms(tmp_path: Path, form: str) -> None:
    key_file = tmp_path / "key.json"
    key_file.write_text(json.dumps(GCP_KEY))
    given: Any = {
        "path": str(key_file),
        "pathlike": key_file,
        "dict": GCP_KEY,
        "string": json.dumps(GCP_KEY),
    }[form]
    builder = Template().from_gcp_registry("gcr.io/proj/app:1", given)
    auth = builder.render([])["registry_auth"]
    assert auth["kind"] == "gcp" and isinstance(auth["service_account_json"], str)
    assert json.loads(auth["service_account_json"]) == GCP_KEY


def test_gcp_key_path_is_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "key.json").write_text(json.dumps(GCP_KEY))
    monkeypatch.chdir(tmp_path)
    builder = Template().from_gcp_registry("gcr.io/proj/app:1", "key.json")
    assert json.loads(builder.render([])["registry_auth"]["service_account_json"]) == GCP_KEY


# -- what is shown ------------------------------------------------------------------------


def test_rendered_json_redacts_the_password() -> None:
    builder = Template().from_image("ghcr.io/x/y:1", username="me", password=PASSWORD)
    shown = builder.to_dict()
    assert shown == {
        "from_image": "ghcr.io/x/y:1",
        "registry_auth": {"kind": "basic", "username": "me", "password": "<redacted>"},
        "steps": [],
        "runtime_envs": {},
        "skip_cache": False,
    }
    text = builder.to_json()
    assert json.loads(text) == shown and PASSWORD not in text
    assert PASSWORD not in builder.to_dockerfile()
    assert PASSWORD not in repr(builder) and PASSWORD not in repr(builder._auth)
    # the body the build sends keeps it
    assert builder.render([])["registry_auth"]["password"] == PASSWORD


def test_rendered_json_redacts_the_gcp_key() -> None:
    builder = Template().from_gcp_registry("gcr.io/proj/app:1", GCP_KEY)
    assert builder.to_dict()["registry_auth"] == {
        "kind": "gcp",
        "service_account_json": "<redacted>",
    }
    text = builder.to_json(indent=None)
    assert "PRIVATE KEY" not in text and "abc123" not in text
    assert "PRIVATE KEY" not in repr(builder._auth)


def test_aws_keys_are_sent_and_redacted_when_shown() -> None:
    builder = Template().from_aws_registry(
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:1",
        "AKIDTEST",
        "aws-secret-key",
        "us-east-1",
        session_token="aws-session-token",
    )
    assert builder.render([])["registry_auth"] == {
        "kind": "aws",
        "access_key_id": "AKIDTEST",
        "secret_access_key": "aws-secret-key",
        "region": "us-east-1",
        "session_token": "aws-session-token",
    }
    text = builder.to_json(indent=None)
    assert "AKIDTEST" in text and "us-east-1" in text
    assert "aws-secret-key" not in text and "aws-session-token" not in text
    assert "aws-secret-key" not in repr(builder._auth)
    without = Template().from_aws_registry("r/app:1", "AKID", "s", "eu-west-1")
    assert "session_token" not in without.render([])["registry_auth"]
    with pytest.raises(InvalidArgumentError):
        Template().from_aws_registry("r/app:1", "AKID", "", "eu-west-1")
    with pytest.raises(InvalidArgumentError):
        Template().from_aws_registry("r/app:1", "AKID", "s", "")


# -- the parent: image or template ----------------------------------------------------------


def test_image_and_template_replace_each_other() -> None:
    builder = Template().from_template("web:stable").from_image("ubuntu:22.04", "u", "p")
    body = builder.to_dict()
    assert body["from_image"] == "ubuntu:22.04" and "from_template" not in body
    assert (builder.parent, builder.image) == ("ubuntu:22.04", "ubuntu:22.04")

    builder.from_template("web:stable")
    body = builder.to_dict()
    assert body["from_template"] == "web:stable"
    assert "from_image" not in body and "registry_auth" not in body
    assert (builder.parent, builder.image) == ("web:stable", None)

    builder.from_gcp_registry("gcr.io/p/a:1", GCP_KEY).from_base_image()
    assert builder.to_dict()["from_template"] == "base"
    assert "registry_auth" not in builder.to_dict() and builder.image is None


def test_a_new_image_drops_the_old_login() -> None:
    builder = Template().from_registry("ghcr.io/x/y:1", "me", PASSWORD).from_image("alpine:3")
    assert "registry_auth" not in builder.to_dict()
    builder.from_registry("ghcr.io/x/y:1", "me", PASSWORD).from_gcp_registry("gcr.io/p/a", GCP_KEY)
    assert builder.to_dict()["registry_auth"]["kind"] == "gcp"


@pytest.mark.parametrize(
    ("make", "image"),
    [
        (lambda t: t.from_ubuntu_image(), "ubuntu:22.04"),
        (lambda t: t.from_ubuntu_image("24.04"), "ubuntu:24.04"),
        (lambda t: t.from_debian_image(), "debian:bookworm"),
        (lambda t: t.from_debian_image("trixie-slim"), "debian:trixie-slim"),
        (lambda t: t.from_python_image(), "python:3.12"),
        (lambda t: t.from_python_image("3.13-slim"), "python:3.13-slim"),
        (lambda t: t.from_node_image(), "node:20"),
        (lambda t: t.from_node_image("22"), "node:22"),
    ],
)
def test_image_shorthands(make: Any, image: str) -> None:
    builder = make(Template().from_template("web"))
    assert builder.to_dict()["from_image"] == image and builder.parent == image
    assert "from_template" not in builder.to_dict() and "registry_auth" not in builder.to_dict()


def test_dockerfile_from_line() -> None:
    builder = Template().from_registry("127.0.0.1:5000/team/app:1", "me", PASSWORD)
    assert builder.run_cmd("make").to_dockerfile() == "FROM 127.0.0.1:5000/team/app:1\nRUN make\n"
    assert Template().from_python_image().to_dockerfile() == "FROM python:3.12\n"
    assert repr(Template().from_node_image()) == "Template(from='node:20', steps=0)"


def test_async_template_has_the_image_methods() -> None:
    a = nullspace.AsyncTemplate().from_registry("ghcr.io/x/y:1", "me", PASSWORD)
    s = Template().from_registry("ghcr.io/x/y:1", "me", PASSWORD)
    assert a.render([]) == s.render([]) and a.to_dict() == s.to_dict()


# -- checks before any request ------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda t: t.from_image(""),
        lambda t: t.from_image("   "),
        lambda t: t.from_image(" python:3.12"),
        lambda t: t.from_image("python 3.12"),
        lambda t: t.from_image("docker://python:3.12"),
        lambda t: t.from_image("x" * 1025),
        lambda t: t.from_image(None),
        lambda t: t.from_image(42),
        lambda t: t.from_image("python:3.12", username="me"),
        lambda t: t.from_image("python:3.12", password=PASSWORD),
        lambda t: t.from_image("python:3.12", username="", password=PASSWORD),
        lambda t: t.from_image("python:3.12", username="me", password=""),
        lambda t: t.from_image("python:3.12", username="me", password="x" * 65_537),
        lambda t: t.from_registry("python:3.12", None, None),
        lambda t: t.from_registry("", "me", PASSWORD),
        lambda t: t.from_gcp_registry("", GCP_KEY),
        lambda t: t.from_gcp_registry("gcr.io/p/a", ""),
        lambda t: t.from_gcp_registry("gcr.io/p/a", "/no/such/key.json"),
        lambda t: t.from_gcp_registry("gcr.io/p/a", "{not json"),
        lambda t: t.from_gcp_registry("gcr.io/p/a", "[1, 2]"),
        lambda t: t.from_gcp_registry("gcr.io/p/a", {"k": object()}),
        lambda t: t.from_gcp_registry("gcr.io/p/a", 42),
        lambda t: t.from_ubuntu_image(""),
        lambda t: t.from_ubuntu_image("22.04:x"),
        lambda t: t.from_debian_image("a/b"),
        lambda t: t.from_python_image("3.12 slim"),
        lambda t: t.from_node_image("20@sha256:x"),
    ],
)
def test_bad_image_arguments_raise_at_once(make: Any) -> None:
    builder = Template().from_template("web")
    with pytest.raises(InvalidArgumentError) as info:
        make(builder)
    assert info.value.status is None and info.value.code == "bad_request"
    assert PASSWORD not in str(info.value)
    assert builder.to_dict()["from_template"] == "web", "a refused parent changes nothing"


def test_a_key_file_that_is_not_a_key(tmp_path: Path) -> None:
    bad = tmp_path / "key.json"
    bad.write_text("not json at all")
    with pytest.raises(InvalidArgumentError, match="JSON object"):
        Template().from_gcp_registry("gcr.io/p/a", bad)
    with pytest.raises(InvalidArgumentError, match="cannot read"):
        Template().from_gcp_registry("gcr.io/p/a", tmp_path)  # a directory


# -- an image the server cannot pull ----------------------------------------------------------

PULL_FAILED = {
    "code": "image_pull_failed",
    "message": "pull 127.0.0.1:5000/team/app:1: registry 127.0.0.1:5000 refused the "
    "credentials (401 Unauthorized)",
    "step": None,
    "exit_code": None,
    "last_lines": [],
}


async def test_image_pull_failed_raises_build_error(
    ws_flavour: Flavour, streams: FakeStreams
) -> None:
    api = ws_flavour.api
    api.on("POST", BUILDS, build_json(), status=202)
    ended = build_json(
        status="error",
        logs_next_offset=1,
        finished_at="2026-01-02T03:05:05Z",
        error=PULL_FAILED,
    )
    api.on("GET", BUILD, ended)
    streams.add(
        [
            ("text", {"type": "log", **entry(0, "pulling 127.0.0.1:5000/team/app:1")}),
            ("text", {"type": "done", "status": "error", "error": PULL_FAILED}),
        ]
    )
    builder = T(ws_flavour)().from_registry("127.0.0.1:5000/team/app:1", "me", PASSWORD)
    with pytest.raises(BuildError) as info:
        await maybe(T(ws_flavour).build(builder, "app", poll_interval=0.001, **ws_flavour.conn()))
    err = info.value
    assert (err.error_code, err.code, err.status) == (
        "image_pull_failed",
        "image_pull_failed",
        None,
    )
    assert (err.build_id, err.step, err.exit_code, err.last_lines) == (BUILD_ID, None, None, [])
    assert "refused the credentials" in str(err)
    sent = next(r for r in api.requests if (r.method, r.path) == ("POST", BUILDS))
    assert sent.json()["registry_auth"]["password"] == PASSWORD


def test_build_info_parses_image_pull_failed() -> None:
    info = nullspace.TemplateBuildInfo.model_validate(build_json(status="error", error=PULL_FAILED))
    assert info.is_done and info.error is not None
    assert info.error.code == "image_pull_failed"
