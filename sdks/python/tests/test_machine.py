"""Machine / AsyncMachine lifecycle on the fake API (every test runs in both flavours)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

import nullspace
from nullspace import MachineError, MachineInfo, NotFoundError

from .conftest import (
    API_KEY,
    MACHINE_ID,
    FakeApi,
    Flavour,
    error_response,
    machine_json,
    maybe,
    result_json,
)

BASE = f"/v1/machines/{MACHINE_ID}"


async def test_create_defaults(flavour: Flavour) -> None:
    flavour.api.on("POST", "/v1/machines", machine_json(), status=201)
    machine = await maybe(flavour.Machine.create(**flavour.conn()))
    req = flavour.api.last
    assert (req.method, req.path) == ("POST", "/v1/machines")
    assert req.json() == {"template": "base", "timeout": 300}
    assert req.headers["authorization"] == f"Bearer {API_KEY}"
    assert req.headers["content-type"] == "application/json"
    assert "idempotency-key" not in req.headers
    assert req.headers["user-agent"].startswith("nullspace-sdk-python/")
    assert machine.id == MACHINE_ID
    assert machine.machine_id == machine.sandbox_id == MACHINE_ID
    assert machine.info.state == "running"
    assert machine.info.created_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    await maybe(machine.close())


async def test_create_all_arguments(flavour: Flavour) -> None:
    flavour.api.on("POST", "/v1/machines", machine_json(template="py"), status=200)
    machine = await maybe(
        flavour.Machine.create(
            template="py",
            timeout=60,
            metadata={"team": "eval"},
            envs={"A": "1"},
            cwd="/tmp",
            cpu_count=4,
            memory_mb=1024,
            idempotency_key="idem-1",
            **flavour.conn(),
        )
    )
    req = flavour.api.last
    assert req.json() == {
        "template": "py",
        "timeout": 60,
        "metadata": {"team": "eval"},
        "envs": {"A": "1"},
        "cwd": "/tmp",
        "cpu_count": 4,
        "memory_mb": 1024,
        "idempotency_key": "idem-1",
    }
    assert req.headers["idempotency-key"] == "idem-1"
    assert machine.info.template == "py"


async def test_create_network_settings(flavour: Flavour) -> None:
    flavour.api.on(
        "POST",
        "/v1/machines",
        machine_json(
            network={"allow_out": [], "deny_out": [], "allow_public_traffic": False},
            traffic_access_token="nstt_abc",
        ),
        status=201,
    )
    machine = await maybe(
        flavour.Machine.create(
            network={"deny_out": [nullspace.ALL_TRAFFIC], "allow_public_traffic": False},
            internet_access=True,
            **flavour.conn(),
        )
    )
    assert flavour.api.last.json() == {
        "template": "base",
        "timeout": 300,
        "network": {"deny_out": ["0.0.0.0/0"], "allow_public_traffic": False},
        "internet_access": True,
    }
    assert machine.traffic_access_token == "nstt_abc"
    assert machine.info.network.allow_public_traffic is False
    assert machine.info.internet_access is True
    await maybe(machine.close())


@pytest.mark.parametrize(
    ("network", "internet", "needle"),
    [
        ({"allow_out": "10.0.0.0/8"}, None, "list of IPv4"),
        ({"allow_out": ["10.0.0.1/33"]}, None, "10.0.0.1/33"),
        ({"deny_out": ["fe80::/10"]}, None, "IPv6"),
        ({"allow_out": [1]}, None, "not a string"),
        ({"alow_out": []}, None, "unknown: alow_out"),
        ({"allow_public_traffic": "no"}, None, "True or False"),
        ({"deny_out": ["10.0.0.0/8"] * 257}, None, "at most 256"),
        (None, "no", "internet_access"),
    ],
)
async def test_create_refuses_bad_network_settings_before_any_request(
    flavour: Flavour, network: object, internet: object, needle: str
) -> None:
    with pytest.raises(nullspace.InvalidArgumentError, match=needle):
        await maybe(
            flavour.Machine.create(
                network=network,  # type: ignore[arg-type]
                internet_access=internet,  # type: ignore[arg-type]
                **flavour.conn(),
            )
        )
    assert flavour.api.requests == []


async def test_create_base_url_alias(flavour: Flavour) -> None:
    flavour.api.on("POST", "/v1/machines", machine_json(), status=201)
    conn = flavour.conn()
    conn["base_url"] = conn.pop("api_url") + "/"
    await maybe(flavour.Machine.create(**conn))
    assert str(flavour.api.raw[-1].url) == "http://nullspace.test:7070/v1/machines"


async def test_create_unknown_template(flavour: Flavour) -> None:
    flavour.api.on(
        "POST", "/v1/machines", response=error_response(404, "not_found", "no template nope")
    )
    with pytest.raises(NotFoundError) as info:
        await maybe(flavour.Machine.create(template="nope", **flavour.conn()))
    assert info.value.code == "not_found"
    assert info.value.status == 404
    assert "no template nope" in str(info.value)


async def test_connect_running(flavour: Flavour) -> None:
    flavour.api.on("GET", BASE, machine_json())
    machine = await maybe(flavour.Machine.connect(MACHINE_ID, **flavour.conn()))
    assert flavour.api.last.method == "GET"
    assert flavour.api.last.path == BASE
    assert machine.id == MACHINE_ID


@pytest.mark.parametrize("state", ["killed", "starting", "failed"])
async def test_connect_not_running(flavour: Flavour, state: str) -> None:
    flavour.api.on("GET", BASE, machine_json(state=state))
    with pytest.raises(MachineError) as info:
        await maybe(flavour.Machine.connect(MACHINE_ID, **flavour.conn()))
    assert info.value.code == "machine_not_running"
    assert state in info.value.message


async def test_connect_missing(flavour: Flavour) -> None:
    flavour.api.on("GET", BASE, response=error_response(404, "not_found"))
    with pytest.raises(NotFoundError):
        await maybe(flavour.Machine.connect(MACHINE_ID, **flavour.conn()))


async def test_get_info_by_id_sees_killed(flavour: Flavour) -> None:
    flavour.api.on("GET", BASE, machine_json(state="killed", metadata={"a": "b"}))
    info = await maybe(flavour.Machine.get_info_by_id(MACHINE_ID, **flavour.conn()))
    assert isinstance(info, MachineInfo)
    assert info.state == "killed"
    assert info.metadata == {"a": "b"}
    assert not info.is_running


async def test_failed_machine_says_why(flavour: Flavour) -> None:
    flavour.api.on(
        "GET",
        BASE,
        machine_json(
            state="failed",
            end_at="2026-01-02T03:04:09Z",
            failure_reason="guest agent did not answer within 30 s",
        ),
    )
    info = await maybe(flavour.Machine.get_info_by_id(MACHINE_ID, **flavour.conn()))
    assert info.state == "failed"
    assert info.failure_reason == "guest agent did not answer within 30 s"
    assert info.end_at == datetime(2026, 1, 2, 3, 4, 9, tzinfo=UTC)  # when it ended


async def test_machine_id_is_quoted(flavour: Flavour) -> None:
    flavour.api.on("GET", "/v1/machines/a/b", machine_json())  # .path is decoded
    await maybe(flavour.Machine.get_info_by_id("a/b", **flavour.conn()))
    assert flavour.api.raw[-1].url.raw_path == b"/v1/machines/a%2Fb"


async def test_get_info_refreshes(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on("GET", BASE, machine_json(state="killing"))
    info = await maybe(machine.get_info())
    assert info.state == "killing"
    assert machine.info.state == "killing"
    assert await maybe(machine.is_running()) is False


async def test_set_timeout(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on("POST", f"{BASE}/timeout", machine_json(end_at="2026-01-02T04:00:00Z"))
    info = await maybe(machine.set_timeout(600))
    assert flavour.api.last.json() == {"timeout": 600}
    assert info.end_at == datetime(2026, 1, 2, 4, tzinfo=UTC)
    assert machine.info.end_at == info.end_at


async def test_set_timeout_rejects_non_int(flavour: Flavour) -> None:
    machine = await flavour.machine()
    with pytest.raises(nullspace.InvalidArgumentError):
        await maybe(machine.set_timeout("10"))
    assert flavour.api.requests == []


@pytest.mark.parametrize(
    "outcome,previous",
    [("killed", "running"), ("killed", "failed"), ("create_cancelled", "starting")],
)
async def test_kill_true(flavour: Flavour, outcome: str, previous: str) -> None:
    machine = await flavour.machine()
    answer = {"id": MACHINE_ID, "outcome": outcome, "previous_state": previous}
    flavour.api.on("DELETE", BASE, answer)
    assert await maybe(machine.kill()) is True
    assert flavour.api.last.method == "DELETE"
    assert flavour.api.last.path == BASE


async def test_kill_204_from_an_older_server(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on("DELETE", BASE, status=204)
    assert await maybe(machine.kill()) is True


async def test_kill_already_gone(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on("DELETE", BASE, response=error_response(404, "not_found"))
    assert await maybe(machine.kill()) is False


@pytest.mark.parametrize("code", ["machine_not_running", "conflict"])
async def test_kill_not_running_is_false(flavour: Flavour, code: str) -> None:
    machine = await flavour.machine()
    flavour.api.on("DELETE", BASE, response=error_response(409, code))
    assert await maybe(machine.kill()) is False


async def test_kill_other_errors_raise(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on("DELETE", BASE, response=error_response(401, "unauthorized"))
    with pytest.raises(nullspace.AuthError):
        await maybe(machine.kill())


async def test_kill_by_id(flavour: Flavour) -> None:
    killed = {"id": MACHINE_ID, "outcome": "killed", "previous_state": "paused"}
    flavour.api.on("DELETE", BASE, killed)
    assert await maybe(flavour.Machine.kill_by_id(MACHINE_ID, **flavour.conn())) is True
    flavour.api.routes.clear()
    flavour.api.on("DELETE", BASE, status=204)
    assert await maybe(flavour.Machine.kill_by_id(MACHINE_ID, **flavour.conn())) is True
    flavour.api.routes.clear()
    flavour.api.on("DELETE", BASE, response=error_response(404, "not_found"))
    assert await maybe(flavour.Machine.kill_by_id(MACHINE_ID, **flavour.conn())) is False


async def test_run_once_shell(flavour: Flavour) -> None:
    flavour.api.on("POST", "/v1/machines", machine_json(), status=201)
    flavour.api.on("POST", f"{BASE}/commands", result_json(stdout="hi\n"))
    flavour.api.on("DELETE", BASE, status=204)
    result = await maybe(
        flavour.Machine.run_once("echo hi", envs={"X": "1"}, metadata={"k": "v"}, **flavour.conn())
    )
    assert result.stdout == "hi\n"
    methods = [(r.method, r.path) for r in flavour.api.requests]
    assert methods == [
        ("POST", "/v1/machines"),
        ("POST", f"{BASE}/commands"),
        ("DELETE", BASE),
    ]
    assert flavour.api.requests[0].json() == {
        "template": "base",
        "timeout": 300,
        "metadata": {"k": "v"},
    }
    assert flavour.api.requests[1].json() == {
        "command": "echo hi",
        "envs": {"X": "1"},
        "timeout": 60,
    }


async def test_run_once_args_and_kill_on_error(flavour: Flavour) -> None:
    flavour.api.on("POST", "/v1/machines", machine_json(), status=201)
    flavour.api.on("POST", f"{BASE}/commands", response=error_response(422, "command_not_found"))
    flavour.api.on("DELETE", BASE, status=204)
    with pytest.raises(nullspace.InvalidArgumentError):
        await maybe(
            flavour.Machine.run_once(
                "python3", ["-c", "print(1)"], template="py", timeout=5, **flavour.conn()
            )
        )
    assert flavour.api.requests[1].json() == {"args": ["python3", "-c", "print(1)"], "timeout": 5}
    assert flavour.api.requests[0].json()["template"] == "py"
    assert flavour.api.last.method == "DELETE"


def test_sync_context_manager_kills(api: FakeApi) -> None:
    api.on("POST", "/v1/machines", machine_json(), status=201)
    api.on("DELETE", BASE, status=204)
    with nullspace.Machine.create(
        api_key=API_KEY, api_url="http://x", transport=api.transport()
    ) as machine:
        assert machine.id == MACHINE_ID
    assert api.last.method == "DELETE"


def test_sync_context_manager_kills_on_exception(api: FakeApi) -> None:
    api.on("POST", "/v1/machines", machine_json(), status=201)
    api.on("DELETE", BASE, response=error_response(500, "internal"))
    with pytest.raises(RuntimeError, match="inner"):
        with nullspace.Machine.create(api_key=API_KEY, transport=api.transport()):
            raise RuntimeError("inner")
    # the kill was attempted; its failure did not hide the body's exception
    assert api.last.method == "DELETE"


def test_sync_context_manager_kill_error_surfaces(api: FakeApi) -> None:
    api.on("POST", "/v1/machines", machine_json(), status=201)
    api.on("DELETE", BASE, response=error_response(500, "internal"))
    with pytest.raises(nullspace.ServerError):
        with nullspace.Machine.create(api_key=API_KEY, transport=api.transport()):
            pass


async def test_async_context_manager_kills(api: FakeApi) -> None:
    api.on("POST", "/v1/machines", machine_json(), status=201)
    api.on("DELETE", BASE, status=204)
    async with await nullspace.AsyncMachine.create(
        api_key=API_KEY, transport=api.transport()
    ) as machine:
        assert machine.id == MACHINE_ID
        assert api.last.method == "POST"
    assert api.last.method == "DELETE"


async def test_async_context_manager_kills_on_exception(api: FakeApi) -> None:
    api.on("POST", "/v1/machines", machine_json(), status=201)
    api.on("DELETE", BASE, status=204)
    with pytest.raises(RuntimeError):
        async with await nullspace.AsyncMachine.create(api_key=API_KEY, transport=api.transport()):
            raise RuntimeError("inner")
    assert api.last.method == "DELETE"


def test_aliases() -> None:
    assert nullspace.Sandbox is nullspace.Machine
    assert nullspace.AsyncSandbox is nullspace.AsyncMachine
    assert nullspace.SandboxError is nullspace.MachineError


async def test_repr_does_not_leak_key(flavour: Flavour) -> None:
    machine = await flavour.machine()
    assert MACHINE_ID in repr(machine)
    assert API_KEY not in repr(machine.config)


# -- pause / resume -------------------------------------------------------------


async def test_pause(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on("POST", f"{BASE}/pause", machine_json(state="paused"))
    info = await maybe(machine.pause())
    assert (flavour.api.last.method, flavour.api.last.path) == ("POST", f"{BASE}/pause")
    assert flavour.api.last.body == b""
    assert isinstance(info, MachineInfo)
    assert info.state == "paused" and info.is_paused and not info.is_running
    assert machine.info.state == "paused"


async def test_hibernate_is_pause(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on("POST", f"{BASE}/pause", machine_json(state="paused"))
    info = await maybe(machine.hibernate())
    assert (flavour.api.last.method, flavour.api.last.path) == ("POST", f"{BASE}/pause")
    assert info.state == "paused"


async def test_resume(flavour: Flavour) -> None:
    machine = await flavour.machine()  # connect would resume a paused one itself
    flavour.api.on("POST", f"{BASE}/resume", machine_json(state="running"))
    info = await maybe(machine.resume())
    assert (flavour.api.last.method, flavour.api.last.path) == ("POST", f"{BASE}/resume")
    assert info.state == "running"
    assert machine.info.state == "running"


@pytest.mark.parametrize("route", ["pause", "resume"])
async def test_pause_resume_not_running_409(flavour: Flavour, route: str) -> None:
    machine = await flavour.machine()
    flavour.api.on(
        "POST", f"{BASE}/{route}", response=error_response(409, "machine_not_running", "nope")
    )
    with pytest.raises(MachineError) as info:
        await maybe(getattr(machine, route)())
    assert info.value.code == "machine_not_running"
    assert info.value.status == 409


@pytest.mark.parametrize("route", ["pause", "resume"])
async def test_pause_resume_missing_404(flavour: Flavour, route: str) -> None:
    flavour.api.on("POST", f"{BASE}/{route}", response=error_response(404, "not_found"))
    with pytest.raises(NotFoundError):
        await maybe(getattr(flavour.Machine, f"{route}_by_id")(MACHINE_ID, **flavour.conn()))


async def test_pause_and_resume_by_id(flavour: Flavour) -> None:
    flavour.api.on("POST", f"{BASE}/pause", machine_json(state="paused"))
    flavour.api.on("POST", f"{BASE}/resume", machine_json(state="running"))
    info = await maybe(flavour.Machine.pause_by_id(MACHINE_ID, **flavour.conn()))
    assert (flavour.api.last.method, flavour.api.last.path) == ("POST", f"{BASE}/pause")
    assert info.state == "paused"
    info = await maybe(flavour.Machine.resume_by_id(MACHINE_ID, **flavour.conn()))
    assert (flavour.api.last.method, flavour.api.last.path) == ("POST", f"{BASE}/resume")
    assert info.state == "running"


async def test_connect_resumes_paused(flavour: Flavour) -> None:
    flavour.api.on("GET", BASE, machine_json(state="paused"))
    flavour.api.on("POST", f"{BASE}/resume", machine_json(state="running"))
    machine = await maybe(flavour.Machine.connect(MACHINE_ID, **flavour.conn()))
    assert [(r.method, r.path) for r in flavour.api.requests] == [
        ("GET", BASE),
        ("POST", f"{BASE}/resume"),
    ]
    assert machine.info.state == "running"
    flavour.api.on("POST", f"{BASE}/commands", result_json(stdout="hi\n"))
    assert (await maybe(machine.commands.run("echo hi"))).stdout == "hi\n"
    await maybe(machine.close())


async def test_connect_resume_failure_raises(flavour: Flavour) -> None:
    flavour.api.on("GET", BASE, machine_json(state="paused"))
    flavour.api.on("POST", f"{BASE}/resume", response=error_response(409, "machine_not_running"))
    with pytest.raises(MachineError):
        await maybe(flavour.Machine.connect(MACHINE_ID, **flavour.conn()))


@pytest.mark.parametrize("state", ["pausing", "resuming"])
async def test_connect_transitional_states_raise(flavour: Flavour, state: str) -> None:
    flavour.api.on("GET", BASE, machine_json(state=state))
    with pytest.raises(MachineError) as info:
        await maybe(flavour.Machine.connect(MACHINE_ID, **flavour.conn()))
    assert state in info.value.message
    assert [r.method for r in flavour.api.requests] == ["GET"]


async def test_get_info_by_id_does_not_resume(flavour: Flavour) -> None:
    flavour.api.on("GET", BASE, machine_json(state="paused"))
    info = await maybe(flavour.Machine.get_info_by_id(MACHINE_ID, **flavour.conn()))
    assert info.state == "paused"
    assert [(r.method, r.path) for r in flavour.api.requests] == [("GET", BASE)]


async def test_commands_on_paused_machine_raise(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on("POST", f"{BASE}/commands", response=error_response(409, "machine_not_running"))
    with pytest.raises(MachineError):
        await maybe(machine.commands.run("echo hi"))


@pytest.mark.parametrize("state", ["pausing", "paused", "resuming"])
def test_new_states_parse(state: str) -> None:
    info = MachineInfo.model_validate(machine_json(state=state))
    assert info.state == state
    assert not info.is_running
