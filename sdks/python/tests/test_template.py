"""The template builder without a server: the request body of every step, the
Dockerfile rendering, the readiness helpers, copy contexts (packing, hashing,
``.nullspaceignore``) and the checks of bad arguments."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import nullspace
from nullspace import (
    InvalidArgumentError,
    ReadyCmd,
    Template,
    wait_for_file,
    wait_for_port,
    wait_for_process,
    wait_for_timeout,
    wait_for_url,
)
from nullspace._template_context import pack


def _tree(root: Path) -> Path:
    (root / "app").mkdir(parents=True)
    (root / "app" / "main.py").write_text("print('hi')\n")
    (root / "app" / "secret.env").write_text("TOKEN=1\n")
    (root / "app" / "cache").mkdir()
    (root / "app" / "cache" / "big.bin").write_bytes(b"\0" * 100)
    (root / "app" / ".nullspaceignore").write_text("*.env\ncache/\n")
    return root / "app"


def _members(data: bytes) -> dict[str, bytes | None]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        out: dict[str, bytes | None] = {}
        for m in tar.getmembers():
            f = tar.extractfile(m) if m.isfile() else None
            out[m.name] = f.read() if f is not None else None
            assert m.mtime == 0, m.name
        return out


# -- the request body -----------------------------------------------------------------


def test_every_builder_method_renders(tmp_path: Path) -> None:
    app = _tree(tmp_path)
    builder = (
        Template()
        .from_template("web:stable")
        .run_cmd("echo one")
        .run_cmd(["mkdir -p /srv", "touch /srv/x"], user="root")
        .apt_install(["curl", "jq"])
        .apt_install("git", no_install_recommends=False)
        .pip_install(["flask==3.0", "requests"])
        .npm_install("typescript", g=True)
        .npm_install(["left-pad"])
        .set_envs({"APP_ENV": "prod"})
        .set_workdir("/srv/app")
        .set_user("root")
        .copy(app, "src")
        .set_user("user")
        .set_workdir("sub")
        .set_runtime_envs({"HELLO": "world"})
        .set_runtime_envs({"MORE": "1"})
        .set_start_cmd("python3 -m http.server 8000", wait_for_port(8000, timeout_secs=90))
        .skip_cache()
    )
    sha = pack(str(app)).sha256
    body = json.loads(builder.to_json())
    assert body == builder.to_dict()
    assert body == {
        "from_template": "web:stable",
        "steps": [
            {"kind": "run", "cmd": "echo one"},
            {"kind": "run", "cmd": "mkdir -p /srv && touch /srv/x", "user": "root"},
            {
                "kind": "run",
                "cmd": "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y "
                "--no-install-recommends curl jq",
                "user": "root",
            },
            {
                "kind": "run",
                "cmd": "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y git",
                "user": "root",
            },
            {
                "kind": "run",
                "cmd": "python3 -m pip install --break-system-packages flask==3.0 requests",
                "user": "root",
            },
            {"kind": "run", "cmd": "npm install -g typescript", "user": "root"},
            {"kind": "run", "cmd": "npm install left-pad"},
            {"kind": "env", "envs": {"APP_ENV": "prod"}},
            {"kind": "workdir", "path": "/srv/app"},
            {"kind": "user", "user": "root"},
            {"kind": "copy", "context": sha, "dest": "/srv/app/src"},
            {"kind": "user", "user": "user"},
            {"kind": "workdir", "path": "/srv/app/sub"},
        ],
        "start_cmd": "python3 -m http.server 8000",
        "ready_cmd": "ss -ltn | grep -q ':8000 '",
        "ready_timeout_secs": 90,
        "runtime_envs": {"HELLO": "world", "MORE": "1"},
        "skip_cache": True,
    }
    assert builder.step_count == 13
    assert builder.parent == "web:stable"


def test_defaults_and_base() -> None:
    assert Template().to_dict() == {
        "from_template": "base",
        "steps": [],
        "runtime_envs": {},
        "skip_cache": False,
    }
    assert Template().from_template("x").from_base_image().parent == "base"
    ready_only = Template().set_ready_cmd("test -e /tmp/ok").to_dict()
    assert ready_only["ready_cmd"] == "test -e /tmp/ok" and "start_cmd" not in ready_only


def test_package_names_are_quoted() -> None:
    body = Template().pip_install(["a b", "x;rm -rf /"]).to_dict()
    assert body["steps"][0]["cmd"].endswith("'a b' 'x;rm -rf /'")


def test_start_cmd_readiness_forms() -> None:
    seed = Template().set_start_cmd(
        "echo $HELLO > /tmp/boot.log", readiness=wait_for_timeout(5_000)
    )
    assert seed.to_dict()["ready_cmd"] == "sleep 5"
    assert "ready_timeout_secs" not in seed.to_dict()
    as_text = Template().set_start_cmd("srv", "curl -sf localhost:1").to_dict()
    assert as_text["ready_cmd"] == "curl -sf localhost:1"
    with pytest.raises(InvalidArgumentError, match="not both"):
        Template().set_start_cmd("srv", "a", readiness="b")


# -- Dockerfile -------------------------------------------------------------------------


def test_dockerfile(tmp_path: Path) -> None:
    app = _tree(tmp_path)
    (tmp_path / "one.txt").write_text("1")
    builder = (
        Template()
        .run_cmd("echo one")
        .pip_install("flask")
        .set_envs({"A": "x y", "B": '"q"'})
        .set_workdir("/srv/app")
        .copy(app, "/srv/app")
        .copy(tmp_path / "one.txt", "/etc/one")
        .set_user("root")
        .run_cmd("printf 'a\nb'")
        .set_runtime_envs({"HELLO": "world"})
        .set_start_cmd("python3 -m http.server 8000", wait_for_port(8000))
    )
    assert builder.to_dockerfile() == "\n".join(
        [
            "FROM base",
            "RUN echo one",
            "USER root",
            "RUN python3 -m pip install --break-system-packages flask",
            "USER user",
            'ENV A="x y" B="\\"q\\""',
            "WORKDIR /srv/app",
            f"COPY {app}/ /srv/app/",
            f"COPY {tmp_path / 'one.txt'} /etc/one/",
            "USER root",
            'RUN ["bash", "-c", "printf \'a\\nb\'"]',
            'ENV HELLO="world"',
            "# ready when this succeeds: ss -ltn | grep -q ':8000 '",
            "CMD python3 -m http.server 8000",
            "",
        ]
    )
    assert Template().from_template("web:v2").to_dockerfile() == "FROM web:v2\n"


# -- readiness --------------------------------------------------------------------------


def test_readiness_helpers() -> None:
    assert wait_for_port(8000).get_cmd() == "ss -ltn | grep -q ':8000 '"
    assert wait_for_port(8000).timeout_secs is None
    assert wait_for_url("http://localhost:3000/health").get_cmd() == (
        "test \"$(curl -s -o /dev/null -w '%{http_code}' http://localhost:3000/health)\" = 200"
    )
    assert (
        wait_for_url("http://x/?a=1&b=2", status_code=204)
        .get_cmd()
        .endswith("'http://x/?a=1&b=2')\" = 204")
    )
    assert wait_for_file("/tmp/my file").get_cmd() == "test -e '/tmp/my file'"
    assert wait_for_process("nginx").get_cmd() == "pgrep -x nginx >/dev/null"
    assert wait_for_timeout(1500).get_cmd() == "sleep 1.5"
    assert wait_for_timeout(0).get_cmd() == "sleep 0"
    assert wait_for_timeout(5000).timeout_secs is None
    long = wait_for_timeout(120_000)
    assert (long.get_cmd(), long.timeout_secs) == ("sleep 120", 130)
    assert str(wait_for_file("/x")) == "test -e /x"
    assert isinstance(wait_for_port(1), ReadyCmd)


@pytest.mark.parametrize(
    "make",
    [
        lambda: wait_for_port(0),
        lambda: wait_for_port(70000),
        lambda: wait_for_port(True),
        lambda: wait_for_url(""),
        lambda: wait_for_url("http://x", status_code=99),
        lambda: wait_for_file(""),
        lambda: wait_for_process(""),
        lambda: wait_for_timeout(-1),
        lambda: wait_for_timeout(float("nan")),
        lambda: wait_for_port(80, timeout_secs=0),
        lambda: wait_for_port(80, timeout_secs=3601),
        lambda: ReadyCmd("  "),
    ],
)
def test_readiness_bad_arguments(make: Any) -> None:
    with pytest.raises(InvalidArgumentError):
        make()


# -- contexts ---------------------------------------------------------------------------


def test_context_honours_nullspaceignore_and_is_stable(tmp_path: Path) -> None:
    app = _tree(tmp_path)
    first = pack(str(app))
    data = b"".join(first.stream().chunks())
    assert hashlib.sha256(data).hexdigest() == first.sha256
    assert len(data) == first.size
    assert _members(data) == {".nullspaceignore": b"*.env\ncache/\n", "main.py": b"print('hi')\n"}
    os.utime(app / "main.py", (1_000_000, 1_000_000))  # a new mtime: the same bytes
    assert pack(str(app)).sha256 == first.sha256
    (app / "main.py").write_text("print('changed')\n")
    assert pack(str(app)).sha256 != first.sha256
    more = pack(str(app), ["main.py"])
    assert ".nullspaceignore" in _members(b"".join(more.stream().chunks()))
    assert "main.py" not in _members(b"".join(more.stream().chunks()))


def test_file_context(tmp_path: Path) -> None:
    f = tmp_path / "conf.ini"
    f.write_text("[x]\n")
    os.chmod(f, 0o640)
    ctx = pack(str(f))
    data = b"".join(ctx.stream().chunks())
    assert _members(data) == {"conf.ini": b"[x]\n"}
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        assert tar.getmember("conf.ini").mode == 0o640


def test_copy_dest_is_relative_to_the_workdir(tmp_path: Path) -> None:
    body = Template().copy(tmp_path, ".").set_workdir("/opt").copy(tmp_path, "../etc/x").to_dict()
    assert [s["dest"] for s in body["steps"] if s["kind"] == "copy"] == ["/workspace", "/etc/x"]


# -- bad arguments ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "step",
    [
        lambda t: t.run_cmd(""),
        lambda t: t.run_cmd([]),
        lambda t: t.run_cmd(["ok", ""]),
        lambda t: t.run_cmd(7),
        lambda t: t.run_cmd("x", user=""),
        lambda t: t.apt_install([]),
        lambda t: t.apt_install(["ok", ""]),
        lambda t: t.pip_install(""),
        lambda t: t.npm_install([None]),
        lambda t: t.set_envs(["A=1"]),
        lambda t: t.set_envs({"A": 1}),
        lambda t: t.set_envs({"A=B": "1"}),
        lambda t: t.set_runtime_envs("A=1"),
        lambda t: t.set_workdir(""),
        lambda t: t.set_user(""),
        lambda t: t.copy("/no/such/path/anywhere", "/x"),
        lambda t: t.copy(".", ""),
        lambda t: t.copy(".", "/x", ignore_patterns="*.pyc"),
        lambda t: t.from_template(""),
        lambda t: t.set_start_cmd(""),
        lambda t: t.set_ready_cmd(5),
    ],
)
def test_bad_steps_raise_at_once(step: Any) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        step(Template())
    assert info.value.status is None and info.value.code == "bad_request"


def test_non_dict_envs_message() -> None:
    with pytest.raises(InvalidArgumentError, match="envs must be a dict"):
        Template().set_envs(["A=1"])  # type: ignore[arg-type]


def test_async_template_shares_the_builder() -> None:
    a = nullspace.AsyncTemplate().run_cmd("echo hi").set_workdir("/srv")
    s = Template().run_cmd("echo hi").set_workdir("/srv")
    assert a.to_dict() == s.to_dict()
    assert isinstance(a, nullspace.TemplateBuilder) and isinstance(s, nullspace.TemplateBuilder)


# -- the build logger ---------------------------------------------------------------------


def test_default_build_logger(capsys: pytest.CaptureFixture[str]) -> None:
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    log = nullspace.default_build_logger()
    log(nullspace.BuildLogEntry(offset=0, at=at, level="info", message="step 1/2 run: x"))
    quiet = nullspace.default_build_logger(min_level="warn")
    quiet(nullspace.BuildLogEntry(offset=1, at=at, level="info", message="hidden"))
    quiet(nullspace.BuildLogEntry(offset=2, at=at, level="error", message="shown"))
    assert capsys.readouterr().out == "[03:04:05] INFO step 1/2 run: x\n[03:04:05] ERROR shown\n"
    with pytest.raises(InvalidArgumentError):
        nullspace.default_build_logger(min_level="loud")
