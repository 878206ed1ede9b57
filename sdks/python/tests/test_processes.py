"""Process and PTY requests and answers on the fake API (no stream), both flavours."""

from __future__ import annotations

import base64
from typing import Any

import pytest

import nullspace
from nullspace import InvalidArgumentError, ProcessInfo, ProcessLogs, PtySessionInfo
from nullspace import _process_ops as pops

from .conftest import MACHINE_ID, Flavour, error_response, maybe, process_json

BASE = f"/v1/machines/{MACHINE_ID}"
PROCS = f"{BASE}/processes"


def logs_json(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "pid": 42,
        "encoding": "utf8",
        "stdout": "out",
        "stderr": "",
        "stdout_next": 3,
        "stderr_next": 0,
        "stdout_dropped": 0,
        "stderr_dropped": 0,
        "running": True,
        "exit_code": None,
    }
    body.update(overrides)
    return body


def pty_json(pid: int = 7, cols: int = 80, rows: int = 24) -> dict[str, Any]:
    process = process_json(pid, command=None, args=["bash", "-l"], pty={"cols": cols, "rows": rows})
    return {"session_id": pid, "process": process}


# -- start ------------------------------------------------------------------------


async def test_background_start_body(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on("POST", PROCS, process_json(tag="web"), status=201)
    # a handle follows its stream at once; no stream server here, the reader gives up
    handle = await maybe(
        machine.commands.run(
            "python3 -m http.server 8080",
            background=True,
            cwd="/tmp",
            envs={"A": "1"},
            user="root",
            stdin=True,
            tag="web",
            timeout=30,
        )
    )
    try:
        assert (handle.pid, handle.tag, handle.exit_code) == (42, "web", None)
        start = flavour.api.requests[0]
        assert (start.method, start.path) == ("POST", PROCS)
        assert start.json() == {
            "command": "python3 -m http.server 8080",
            "cwd": "/tmp",
            "envs": {"A": "1"},
            "user": "root",
            "stdin": True,
            "tag": "web",
            "timeout": 30,
        }
    finally:
        await maybe(handle.disconnect())


async def test_background_defaults_have_no_timeout(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on("POST", PROCS, process_json(), status=201)
    handle = await maybe(machine.commands.run(args=["sleep", "100"], background=True))
    await maybe(handle.disconnect())
    assert flavour.api.requests[0].json() == {"args": ["sleep", "100"]}


async def test_background_stdin_text_is_written_and_closed(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on("POST", PROCS, process_json(stdin_open=True), status=201)
    flavour.api.on("POST", f"{PROCS}/42/stdin", status=204)
    handle = await maybe(machine.commands.run("cat", background=True, stdin="hello"))
    await maybe(handle.disconnect())
    assert flavour.api.requests[0].json()["stdin"] is True
    written = [r for r in flavour.api.requests if r.path.endswith("/stdin")]
    assert written[0].json() == {"data": "hello", "close": True}


@pytest.mark.parametrize(
    "args,kwargs",
    [
        (("ls",), {"args": ["-l"], "shell": True}),
        ((), {"args": ["ls"], "shell": True}),
        ((), {}),
        (("x",), {"tag": ""}),
        (("x",), {"timeout": -2}),
        (("x",), {"stdin": 3}),
        (("x",), {"background": "yes"}),
    ],
)
async def test_bad_background_arguments(flavour: Flavour, args: Any, kwargs: Any) -> None:
    machine = await flavour.machine()
    kwargs.setdefault("background", True)
    with pytest.raises(InvalidArgumentError):
        await maybe(machine.commands.run(*args, **kwargs))
    assert flavour.api.requests == []


@pytest.mark.parametrize(
    "status,code,exc",
    [
        (409, "tag_in_use", nullspace.TagInUseError),
        (409, "agent_outdated", nullspace.AgentOutdatedError),
        (422, "command_not_found", InvalidArgumentError),
        (409, "machine_not_running", nullspace.MachineError),
    ],
)
async def test_start_errors(
    flavour: Flavour, status: int, code: str, exc: type[nullspace.NullspaceError]
) -> None:
    machine = await flavour.machine()
    flavour.api.on("POST", PROCS, response=error_response(status, code))
    with pytest.raises(exc) as info:
        await maybe(machine.commands.run("x", background=True, tag="t"))
    assert info.value.code == code


async def test_agent_outdated_foreground_falls_back_to_commands(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on("POST", PROCS, response=error_response(409, "agent_outdated"))
    flavour.api.on(
        "POST", f"{BASE}/commands", {"stdout": "o", "stderr": "", "exit_code": 0, "duration_ms": 1}
    )
    seen: list[str] = []
    result = await maybe(machine.commands.run("echo o", on_stdout=seen.append))
    assert (result.stdout, seen) == ("o", ["o"])
    assert [r.path for r in flavour.api.requests] == [PROCS, f"{BASE}/commands"]


# -- the other process routes -------------------------------------------------------


async def test_list_and_get(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on("GET", PROCS, {"processes": [process_json(1), process_json(2, running=False)]})
    flavour.api.on("GET", f"{PROCS}/2", process_json(2, running=False, exit_code=0))
    listed = await maybe(machine.commands.list())
    assert [p.pid for p in listed] == [1, 2] and all(isinstance(p, ProcessInfo) for p in listed)
    info = await maybe(machine.commands.get_info(2))
    assert (info.running, info.exit_code, info.stdout.total_bytes) == (False, 0, 0)


async def test_list_invalid_answer(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on("GET", PROCS, {"processes": "nope"})
    with pytest.raises(nullspace.ServerError) as info:
        await maybe(machine.commands.list())
    assert info.value.code == "invalid_response"


async def test_kill(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on("DELETE", f"{PROCS}/42", {"pid": 42, "killed": True})
    flavour.api.on("DELETE", f"{PROCS}/43", response=error_response(409, "process_exited"))
    flavour.api.on("DELETE", f"{PROCS}/44", response=error_response(404, "process_not_found"))
    assert await maybe(machine.commands.kill(42)) is True
    assert await maybe(machine.commands.kill(43)) is False
    assert await maybe(machine.commands.kill(44)) is False


async def test_kill_of_a_missing_machine_raises(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on("DELETE", f"{PROCS}/42", response=error_response(404, "not_found"))
    with pytest.raises(nullspace.NotFoundError) as info:
        await maybe(machine.commands.kill(42))
    assert not isinstance(info.value, nullspace.ProcessNotFoundError)


async def test_stdin_text_bytes_and_close(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on("POST", f"{PROCS}/42/stdin", status=204)
    flavour.api.on("POST", f"{PROCS}/42/close-stdin", status=204)
    await maybe(machine.commands.send_stdin(42, "héllo\n"))
    await maybe(machine.commands.send_stdin(42, b"\x00\xff"))
    await maybe(machine.commands.close_stdin(42))
    bodies = [r.body for r in flavour.api.requests]
    assert flavour.api.requests[0].json() == {"data": "héllo\n"}
    assert flavour.api.requests[1].json() == {"data_base64": "AP8="}
    assert bodies[2] == b"" and flavour.api.requests[2].path.endswith("/close-stdin")


async def test_long_stdin_is_split_in_order(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on("POST", f"{PROCS}/42/stdin", status=204)
    data = bytes(range(256)) * (3 * pops.MAX_STDIN_CHUNK // 256 + 1)
    await maybe(machine.commands.send_stdin(42, data, close=True))
    parts = [r.json() for r in flavour.api.requests]
    assert len(parts) == 4
    assert b"".join(base64.b64decode(p["data_base64"]) for p in parts) == data
    assert [p.get("close", False) for p in parts] == [False, False, False, True]


async def test_stdin_to_closed_stdin(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on("POST", f"{PROCS}/42/stdin", response=error_response(409, "stdin_closed"))
    with pytest.raises(nullspace.StdinClosedError) as info:
        await maybe(machine.commands.send_stdin(42, "x"))
    assert isinstance(info.value, nullspace.ConflictError)
    assert (info.value.code, info.value.status) == ("stdin_closed", 409)


async def test_stdin_too_large_answer(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on("POST", f"{PROCS}/42/stdin", response=error_response(413, "payload_too_large"))
    with pytest.raises(InvalidArgumentError):
        await maybe(machine.commands.send_stdin(42, "x"))


@pytest.mark.parametrize("signal", ["SIGTERM", "int", 9])
async def test_signal(flavour: Flavour, signal: str | int) -> None:
    machine = await flavour.machine()
    flavour.api.on("POST", f"{PROCS}/42/signal", status=204)
    await maybe(machine.commands.signal(42, signal))
    assert flavour.api.last.json() == {"signal": signal}


@pytest.mark.parametrize("signal", [0, 65, "", True, 1.5])
async def test_bad_signal(flavour: Flavour, signal: Any) -> None:
    machine = await flavour.machine()
    with pytest.raises(InvalidArgumentError):
        await maybe(machine.commands.signal(42, signal))
    assert flavour.api.requests == []


async def test_signal_of_an_exited_process(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on("POST", f"{PROCS}/42/signal", response=error_response(409, "process_exited"))
    with pytest.raises(nullspace.ProcessExitedError):
        await maybe(machine.commands.signal(42, "SIGTERM"))


@pytest.mark.parametrize("pid", [0, -1, True, "42"])
async def test_bad_pid(flavour: Flavour, pid: Any) -> None:
    machine = await flavour.machine()
    with pytest.raises(InvalidArgumentError):
        await maybe(machine.commands.kill(pid))


async def test_logs(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on("GET", f"{PROCS}/42/logs", logs_json())
    logs = await maybe(machine.commands.get_logs(42, stdout_offset=3, stderr_offset=0))
    assert isinstance(logs, ProcessLogs)
    assert (logs.stdout, logs.stdout_next, logs.stdout_bytes) == ("out", 3, b"out")
    assert flavour.api.last.params == [
        ("encoding", "utf8"),
        ("stdout_offset", "3"),
        ("stderr_offset", "0"),
    ]


async def test_logs_base64(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on(
        "GET", f"{PROCS}/42/logs", logs_json(encoding="base64", stdout="AP8=", stderr="")
    )
    logs = await maybe(machine.commands.logs(42, encoding="base64"))
    assert logs.stdout_bytes == b"\x00\xff" and logs.stderr_bytes == b""


@pytest.mark.parametrize("kwargs", [{"encoding": "hex"}, {"stdout_offset": -1}])
async def test_bad_logs_arguments(flavour: Flavour, kwargs: Any) -> None:
    machine = await flavour.machine()
    with pytest.raises(InvalidArgumentError):
        await maybe(machine.commands.get_logs(42, **kwargs))


async def test_process_not_found(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on("GET", f"{PROCS}/9", response=error_response(404, "process_not_found"))
    with pytest.raises(nullspace.ProcessNotFoundError) as info:
        await maybe(machine.commands.connect(9))
    assert isinstance(info.value, nullspace.NotFoundError)


# -- PTY ----------------------------------------------------------------------------


async def test_pty_routes(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on("GET", f"{BASE}/pty", {"sessions": [pty_json(7), pty_json(8)]})
    flavour.api.on("GET", f"{BASE}/pty/7", pty_json(7, 100, 30))
    flavour.api.on("POST", f"{BASE}/pty/7/resize", status=204)
    flavour.api.on("DELETE", f"{BASE}/pty/7", {"pid": 7, "killed": True})
    flavour.api.on("DELETE", f"{BASE}/pty/8", response=error_response(409, "process_exited"))
    sessions = await maybe(machine.pty.list_sessions())
    assert [s.session_id for s in sessions] == [7, 8]
    assert all(isinstance(s, PtySessionInfo) for s in sessions)
    info = await maybe(machine.pty.get_session_info(7))
    assert info.process.pty is not None and (info.process.pty.cols, info.pid) == (100, 7)
    await maybe(machine.pty.resize_session(7, 120, 40))
    assert flavour.api.last.json() == {"cols": 120, "rows": 40}
    assert await maybe(machine.pty.kill_session(7)) is True
    assert await maybe(machine.pty.kill_session(8)) is False


@pytest.mark.parametrize("size", [(0, 0), (80, 0), (1001, 24), (True, 24), (80.0, 24)])
async def test_resize_refused_client_side(flavour: Flavour, size: tuple[Any, Any]) -> None:
    machine = await flavour.machine()
    with pytest.raises(InvalidArgumentError):
        await maybe(machine.pty.resize_session(7, *size))
    with pytest.raises(InvalidArgumentError):
        await maybe(machine.pty.create_session(*size))
    assert flavour.api.requests == []


async def test_resize_of_a_process_without_terminal(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on("POST", f"{BASE}/pty/7/resize", response=error_response(409, "not_a_pty"))
    with pytest.raises(nullspace.NotAPtyError):
        await maybe(machine.pty.resize_session(7, 80, 24))


async def test_pty_create_body(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on("POST", f"{BASE}/pty", pty_json(7), status=201)
    session = await maybe(
        machine.pty.create_session(100, 30, cwd="/tmp", envs={"TERM": "xterm"}, command="sh")
    )
    await maybe(session.disconnect())
    assert flavour.api.requests[0].json() == {
        "cols": 100,
        "rows": 30,
        "cwd": "/tmp",
        "envs": {"TERM": "xterm"},
        "command": "sh",
    }
    assert (session.session_id, session.pid) == (7, 7)
