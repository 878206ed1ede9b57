"""machine.commands.run on the fake API, both flavours."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

import nullspace
from nullspace import CommandResult, InvalidArgumentError

from .conftest import MACHINE_ID, Flavour, error_response, maybe, result_json

PATH = f"/v1/machines/{MACHINE_ID}/commands"


async def run(flavour: Flavour, *args: Any, **kwargs: Any) -> Any:
    machine = await flavour.machine()
    if (("POST", PATH)) not in flavour.api.routes:
        flavour.api.on("POST", PATH, result_json(stdout="out", stderr="err", exit_code=3))
    return await maybe(machine.commands.run(*args, **kwargs))


async def test_shell_string(flavour: Flavour) -> None:
    result = await run(flavour, "python3 --version", shell=True)
    assert isinstance(result, CommandResult)
    assert (result.stdout, result.stderr, result.exit_code, result.duration_ms) == (
        "out",
        "err",
        3,
        3,
    )
    assert not result.ok
    req = flavour.api.last
    assert (req.method, req.path) == ("POST", PATH)
    assert req.json() == {"command": "python3 --version", "timeout": 60}


async def test_default_is_shell(flavour: Flavour) -> None:
    await run(flavour, "echo $HOME | wc -c")
    assert flavour.api.last.json()["command"] == "echo $HOME | wc -c"


async def test_args(flavour: Flavour) -> None:
    await run(flavour, args=["ls", "-la", "a b"])
    assert flavour.api.last.json() == {"args": ["ls", "-la", "a b"], "timeout": 60}


async def test_cmd_plus_args(flavour: Flavour) -> None:
    await run(flavour, "python3", args=["-c", "print(1)"])
    assert flavour.api.last.json()["args"] == ["python3", "-c", "print(1)"]


async def test_shell_false_splits(flavour: Flavour) -> None:
    await run(flavour, "printf '%s\\n' 'a b' c", shell=False)
    assert flavour.api.last.json()["args"] == ["printf", "%s\\n", "a b", "c"]


async def test_all_options(flavour: Flavour) -> None:
    await run(
        flavour,
        "cat",
        cwd="/tmp",
        envs={"A": "1", "B": "two"},
        user="root",
        timeout=2.5,
        stdin="hello",
    )
    assert flavour.api.last.json() == {
        "command": "cat",
        "cwd": "/tmp",
        "envs": {"A": "1", "B": "two"},
        "user": "root",
        "timeout": 2.5,
        "stdin": "hello",
    }


async def test_stdin_bytes_and_no_timeout(flavour: Flavour) -> None:
    await run(flavour, "cat", stdin=b"raw", timeout=0)
    assert flavour.api.last.json() == {"command": "cat", "timeout": 0, "stdin": "raw"}
    await maybe(None)
    timeout = flavour.api.raw[-1].extensions["timeout"]
    assert timeout["read"] is None


async def test_http_timeout_exceeds_command_timeout(flavour: Flavour) -> None:
    await run(flavour, "sleep 100", timeout=100)
    timeout = flavour.api.raw[-1].extensions["timeout"]
    assert timeout["read"] >= 130


async def test_none_timeout_means_no_limit(flavour: Flavour) -> None:
    await run(flavour, "true", timeout=None)
    assert flavour.api.last.json()["timeout"] == 0


@pytest.mark.parametrize(
    "args,kwargs",
    [
        ((), {}),
        (("",), {}),
        ((), {"args": []}),
        ((), {"args": "ls -l"}),
        (("  ",), {"shell": False}),
        ((), {"args": ["ls"], "timeout": -1}),
        (("x",), {"envs": {"A": 1}}),
        (("ls",), {"args": ["-l"], "shell": True}),
        (("x",), {"stdin": True}),
        (("x",), {"tag": "web"}),
        (("x",), {"timeout": "5"}),
    ],
)
async def test_bad_arguments(flavour: Flavour, args: Any, kwargs: Any) -> None:
    machine = await flavour.machine()
    with pytest.raises(InvalidArgumentError):
        await maybe(machine.commands.run(*args, **kwargs))
    assert flavour.api.requests == []


@pytest.mark.parametrize(
    "status,code,exc",
    [
        (504, "command_timeout", nullspace.TimeoutError),
        (413, "output_limit_exceeded", nullspace.OutputLimitError),
        (409, "machine_not_running", nullspace.MachineError),
        (502, "machine_died", nullspace.MachineError),
        (422, "cwd_not_found", InvalidArgumentError),
        (422, "command_not_found", InvalidArgumentError),
        (422, "user_not_found", InvalidArgumentError),
    ],
)
async def test_command_errors(
    flavour: Flavour, status: int, code: str, exc: type[nullspace.NullspaceError]
) -> None:
    flavour.api.on("POST", PATH, response=error_response(status, code))
    with pytest.raises(exc) as info:
        await run(flavour, "x")
    assert info.value.code == code


async def test_client_side_timeout(flavour: Flavour) -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    flavour.api.on("POST", PATH, response=slow)
    with pytest.raises(nullspace.TimeoutError) as info:
        await run(flavour, "sleep 1000")
    assert info.value.code == "request_timeout"
    assert (info.value.stdout, info.value.stderr, info.value.truncated) == ("", "", False)


def cut_short(status: int, code: str, stdout: str, stderr: str) -> httpx.Response:
    output = {"stdout": stdout, "stderr": stderr, "truncated": True}
    return httpx.Response(
        status, json={"error": {"code": code, "message": "cut short", "output": output}}
    )


@pytest.mark.parametrize(
    "status,code,exc",
    [
        (504, "command_timeout", nullspace.TimeoutError),
        (413, "output_limit_exceeded", nullspace.OutputLimitError),
    ],
)
async def test_partial_output_of_a_command_cut_short(
    flavour: Flavour, status: int, code: str, exc: type[nullspace.NullspaceError]
) -> None:
    flavour.api.on("POST", PATH, response=cut_short(status, code, "before\n", "warn\n"))
    with pytest.raises(exc) as info:
        await run(flavour, "echo before; sleep 30", timeout=2)
    err = info.value
    assert type(err) is exc and (err.code, err.status) == (code, status)
    assert isinstance(err, nullspace.TimeoutError | nullspace.OutputLimitError)
    assert (err.stdout, err.stderr, err.truncated) == ("before\n", "warn\n", True)


async def test_cut_short_without_output_from_an_older_server(flavour: Flavour) -> None:
    flavour.api.on("POST", PATH, response=error_response(504, "command_timeout"))
    with pytest.raises(nullspace.TimeoutError) as info:
        await run(flavour, "sleep 30", timeout=1)
    assert (info.value.stdout, info.value.stderr, info.value.truncated) == ("", "", False)


async def test_malformed_partial_output_is_ignored(flavour: Flavour) -> None:
    body = {"error": {"code": "command_timeout", "message": "m", "output": {"stdout": 3}}}
    flavour.api.on("POST", PATH, response=httpx.Response(504, json=body))
    with pytest.raises(nullspace.TimeoutError) as info:
        await run(flavour, "sleep 30", timeout=1)
    assert (info.value.stdout, info.value.stderr, info.value.truncated) == ("", "", False)
