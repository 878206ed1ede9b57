"""Template builds against a real server: a template whose start command is already
serving in the machines created from it, and a failing step's ``BuildError``.

Each build takes tens of seconds under emulation, so there are two: the sync flavour
builds the good template, the async flavour the failing one.
"""

from __future__ import annotations

import uuid

import pytest

import nullspace
from nullspace import AsyncTemplate, BuildError, BuildLogEntry, Machine, Template, wait_for_port

BUILD_TIMEOUT = 900.0
"""Seconds a build may take here (emulated machines are slow)."""


def _name() -> str:
    return f"pytest-tpl-{uuid.uuid4().hex[:10]}"


def test_build_and_start_machines_from_it() -> None:
    name = _name()
    builder = (
        Template()
        .run_cmd("echo hi > /workspace/hello.txt")
        .set_workdir("/workspace")
        .set_start_cmd("python3 -m http.server 8000", wait_for_port(8000))
    )
    seen: list[BuildLogEntry] = []
    try:
        build = Template.build(builder, name, on_log_entry=seen.append, timeout=BUILD_TIMEOUT)
        assert build.status == "ready", build.info
        assert build.name == name and "latest" in build.tags
        assert build.build_id.startswith("tb_") and build.template_id.startswith("tpl_")
        offsets = [e.offset for e in seen]
        assert offsets and offsets == sorted(set(offsets)), offsets  # in order, once each

        info = Template.get(name)
        assert (info.name, info.builtin, info.cwd) == (name, False, "/workspace")
        assert info.start_cmd == "python3 -m http.server 8000"
        assert info.build_id_of("latest") == build.build_id
        assert Template.exists(name) and Template.exists(f"{name}:latest")
        assert name in {t.name for t in Template.list()}

        machine = Machine.create(template=name, timeout=300)
        try:
            # the service was running when the template was snapshotted: no wait
            served = machine.commands.run("curl -s --max-time 5 localhost:8000")
            assert served.exit_code == 0, served.stderr
            assert "hello.txt" in served.stdout
            assert machine.files.read("/workspace/hello.txt") == "hi\n"
            assert machine.info.template == name
        finally:
            machine.kill()
            machine.close()
        assert Template.delete(name) is True
        assert Template.exists(name) is False
        # its cached step (the ``run``) is used by no version any more
        pruned = Template.prune_cache()
        assert pruned.deleted >= 1 and pruned.bytes > 0, pruned
    finally:
        Template.delete(name)  # when the test failed before its own delete


async def test_failing_step_raises_build_error() -> None:
    name = _name()
    builder = AsyncTemplate().run_cmd("echo before").run_cmd("echo failing >&2; exit 3")
    try:
        with pytest.raises(BuildError) as info:
            await AsyncTemplate.build(builder, name, timeout=BUILD_TIMEOUT)
        err = info.value
        assert (err.error_code, err.step, err.exit_code) == ("step_failed", 2, 3), err
        assert err.build_id is not None and err.build_id.startswith("tb_")
        assert any("failing" in line for line in err.last_lines), err.last_lines
        status = await (await nullspace.AsyncTemplateBuild.connect(err.build_id)).get_status()
        assert status.status == "error" and status.error is not None
    finally:
        await AsyncTemplate.delete(name)  # a failed build leaves no version
    pruned = await AsyncTemplate.prune_cache()  # step 1 was cached; no version uses it
    assert pruned.deleted >= 1, pruned
