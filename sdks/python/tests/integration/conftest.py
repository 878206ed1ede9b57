"""Integration tests against a real Nullspace server.

They run when ``NULLSPACE_TEST_API_URL`` and ``NULLSPACE_TEST_API_KEY`` are set (the
project's test script starts a server and sets them) and are skipped, with that
reason printed, otherwise. Every test runs with the sync and the async client.
"""

from __future__ import annotations

import os
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
