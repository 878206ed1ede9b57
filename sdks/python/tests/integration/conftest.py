"""Integration tests against a real Nullspace server.

They run when ``NULLSPACE_TEST_API_URL`` and ``NULLSPACE_TEST_API_KEY`` are set (the
project's test script starts a server and sets them) and are skipped, with that
reason printed, otherwise. Every test runs with the sync and the async client.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

import nullspace

from ..conftest import maybe

TEST_URL = os.environ.get("NULLSPACE_TEST_API_URL", "")
TEST_KEY = os.environ.get("NULLSPACE_TEST_API_KEY", "")
CONFIGURED = bool(TEST_URL and TEST_KEY)
SKIP_REASON = (
    "Nullspace integration tests skipped: set NULLSPACE_TEST_API_URL and "
    "NULLSPACE_TEST_API_KEY to a running server (scripts/test.sh does this)"
)


@pytest.fixture(autouse=True)
def _server_env(_isolated_config: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Skip without a server; otherwise point the SDK's normal config at it, so tests
    can call ``Machine.create()`` exactly as the docs do."""
    if not CONFIGURED:
        pytest.skip(SKIP_REASON)
    monkeypatch.setenv("NULLSPACE_API_URL", TEST_URL)
    monkeypatch.setenv("NULLSPACE_API_KEY", TEST_KEY)


@dataclass
class Flavour:
    name: str
    Machine: Any

    @property
    def is_async(self) -> bool:
        return self.name == "async"

    @property
    def Snapshot(self) -> Any:
        return nullspace.AsyncSnapshot if self.is_async else nullspace.Snapshot


@pytest.fixture(params=["sync", "async"])
def flavour(request: pytest.FixtureRequest) -> Flavour:
    cls = nullspace.Machine if request.param == "sync" else nullspace.AsyncMachine
    return Flavour(request.param, cls)


@pytest.fixture
def run_tag() -> str:
    """A unique metadata value marking the machines of one test."""
    return uuid.uuid4().hex[:12]


@pytest.fixture
async def machine(flavour: Flavour, run_tag: str) -> AsyncIterator[Any]:
    """A fresh running machine of the test's flavour, killed afterwards."""
    m = await maybe(
        flavour.Machine.create(template="base", timeout=300, metadata={"test": run_tag})
    )
    try:
        yield m
    finally:
        try:
            await maybe(m.kill())
        finally:
            await maybe(m.close())


# -- helpers shared by the lifecycle tests -------------------------------------------

COUNTER = (
    "nohup sh -c 'i=0; while true; do i=$((i+1)); "
    # Written aside and renamed, so a reader never sees a half-written file.
    "echo $i > /tmp/c.tmp; mv /tmp/c.tmp /tmp/c; sleep 0.2; done'"
    " >/dev/null 2>&1 & echo $!"
)
"""Starts a counter in the background writing ``/tmp/c`` every 0.2 s; prints its pid."""


async def start_counter(machine: Any) -> str:
    """Start :data:`COUNTER` and wait until it counts; return its pid."""
    started = await maybe(machine.commands.run(COUNTER))
    assert started.exit_code == 0, started.stderr
    pid = started.stdout.strip()
    assert pid.isdigit(), started.stdout
    await wait_advance(machine, 0)
    return pid


async def read_counter(machine: Any) -> int:
    return int((await maybe(machine.files.read("/tmp/c"))).strip())


async def wait_advance(machine: Any, than: int, seconds: float = 15.0) -> int:
    """The counter once it is above ``than`` (fails after ``seconds``)."""
    value = than
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        await asyncio.sleep(0.25)
        try:
            value = await read_counter(machine)
        except nullspace.NotFoundError:  # not written yet
            continue
        if value > than:
            return value
    pytest.fail(f"the counter of {machine.id} did not advance past {than} (still {value})")


async def run_ok(machine: Any, command: str) -> str:
    """Run ``command``, require exit 0, return its stripped stdout."""
    result = await maybe(machine.commands.run(command))
    assert result.exit_code == 0, f"{command!r} on {machine.id}: {result.stderr}"
    return str(result.stdout.strip())


async def discard(machine: Any) -> None:
    """Kill a machine handle and release it, whatever state it is in."""
    try:
        await maybe(machine.kill())
    finally:
        await maybe(machine.close())


async def wait_state(
    flavour: Flavour, machine_id: str, want: str, seconds: float, never: tuple[str, ...] = ()
) -> list[str]:
    """Poll ``get_info_by_id`` until the state is ``want``; fail on a state of ``never``
    or after ``seconds``. Returns the states seen, in order, without repeats."""
    seen: list[str] = []
    deadline = time.monotonic() + seconds
    while True:
        state = (await maybe(flavour.Machine.get_info_by_id(machine_id))).state
        if not seen or seen[-1] != state:
            seen.append(state)
        assert state not in never, f"{machine_id} went {state} (states seen: {seen})"
        if state == want:
            return seen
        if time.monotonic() > deadline:
            pytest.fail(f"{machine_id} not {want} after {seconds} s (states seen: {seen})")
        await asyncio.sleep(0.5)
