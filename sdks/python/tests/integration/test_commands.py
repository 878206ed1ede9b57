"""Commands against a real machine, both flavours."""

from __future__ import annotations

from typing import Any

import pytest

import nullspace

from ..conftest import maybe
from .conftest import Flavour


async def run(machine: Any, *args: Any, **kwargs: Any) -> nullspace.CommandResult:
    result: nullspace.CommandResult = await maybe(machine.commands.run(*args, **kwargs))
    return result


async def test_shell_and_result_fields(machine: Any) -> None:
    result = await run(machine, "echo out; echo err >&2", shell=True)
    assert result.stdout == "out\n"
    assert result.stderr == "err\n"
    assert result.exit_code == 0
    assert result.duration_ms >= 0


async def test_default_cwd_and_user(machine: Any) -> None:
    result = await run(machine, "pwd; id -un")
    assert result.stdout.split() == ["/workspace", "user"]


async def test_cwd(machine: Any) -> None:
    assert (await run(machine, "pwd", cwd="/tmp")).stdout == "/tmp\n"


async def test_envs(machine: Any) -> None:
    result = await run(machine, 'echo "$FOO-$BAR"', envs={"FOO": "foo", "BAR": "b a r"})
    assert result.stdout == "foo-b a r\n"


async def test_user_root(machine: Any) -> None:
    assert (await run(machine, "id -u", user="root")).stdout == "0\n"


async def test_stdin(machine: Any) -> None:
    assert (await run(machine, "tr a-z A-Z", stdin="hello\n")).stdout == "HELLO\n"


async def test_args_no_shell(machine: Any) -> None:
    result = await run(machine, args=["printf", "%s|", "a b", "$HOME"])
    assert result.stdout == "a b|$HOME|"
    result = await run(machine, "printf '%s|' 'a b' c", shell=False)
    assert result.stdout == "a b|c|"


async def test_non_zero_exit_is_a_result(machine: Any) -> None:
    result = await run(machine, "echo partial; exit 3")
    assert result.exit_code == 3
    assert result.stdout == "partial\n"
    assert not result.ok


async def test_timeout(machine: Any) -> None:
    with pytest.raises(nullspace.TimeoutError) as info:
        await run(machine, "sleep 30", timeout=1)
    assert info.value.code == "command_timeout"
    # the machine still works afterwards
    assert (await run(machine, "echo alive")).stdout == "alive\n"


async def test_timeout_keeps_partial_output(machine: Any) -> None:
    with pytest.raises(nullspace.TimeoutError) as info:
        await run(machine, "echo before; echo err-before >&2; sleep 30", timeout=2)
    err = info.value
    assert (err.code, err.status) == ("command_timeout", 504)
    assert "before" in err.stdout
    assert "err-before" in err.stderr
    assert err.truncated is True


async def test_cwd_not_found(machine: Any) -> None:
    with pytest.raises(nullspace.InvalidArgumentError) as info:
        await run(machine, "pwd", cwd="/does/not/exist")
    assert info.value.code == "cwd_not_found"


async def test_command_not_found(machine: Any) -> None:
    with pytest.raises(nullspace.InvalidArgumentError) as info:
        await run(machine, args=["definitely-not-a-command-xyz"])
    assert info.value.code == "command_not_found"


async def test_user_not_found(machine: Any) -> None:
    with pytest.raises(nullspace.InvalidArgumentError) as info:
        await run(machine, "true", user="nobody-here-xyz")
    assert info.value.code == "user_not_found"


async def test_callbacks(machine: Any) -> None:
    out: list[str] = []
    err: list[str] = []
    await run(machine, "echo o; echo e >&2", on_stdout=out.append, on_stderr=err.append)
    # streamed as it arrives: the pieces join to the whole output
    assert "".join(out) == "o\n" and "".join(err) == "e\n"


async def test_create_envs_and_cwd(flavour: Flavour, run_tag: str) -> None:
    m = await maybe(
        flavour.Machine.create(envs={"FROM_CREATE": "yes"}, cwd="/tmp", metadata={"test": run_tag})
    )
    try:
        assert m.info.cwd == "/tmp"
        result = await run(m, 'echo "$FROM_CREATE"; pwd')
        assert result.stdout == "yes\n/tmp\n"
    finally:
        await maybe(m.kill())
        await maybe(m.close())
