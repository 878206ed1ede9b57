"""Pydantic models mirror the spec schemas."""

from __future__ import annotations

from datetime import datetime

import pytest
from pydantic import ValidationError

from nullspace import CommandResult, EntryInfo, MachineInfo, WriteEntry

from .conftest import entry_json, machine_json


def test_machine_info() -> None:
    info = MachineInfo.model_validate(machine_json(extra_future_field=1))
    assert isinstance(info.created_at, datetime) and isinstance(info.end_at, datetime)
    assert info.machine_id == info.sandbox_id == info.id
    assert info.is_running
    with pytest.raises(ValidationError):
        MachineInfo.model_validate({"id": "sb_1"})


def test_failure_reason() -> None:
    assert MachineInfo.model_validate(machine_json()).failure_reason is None
    older = machine_json()
    del older["failure_reason"]  # servers before the field existed
    assert MachineInfo.model_validate(older).failure_reason is None
    failed = MachineInfo.model_validate(machine_json(state="failed", failure_reason="oom"))
    assert failed.failure_reason == "oom"


def test_entry_info_nullable_symlink() -> None:
    assert EntryInfo.model_validate(entry_json()).symlink_target is None
    link = EntryInfo.model_validate(entry_json(type="symlink", symlink_target="/t"))
    assert link.symlink_target == "/t"


def test_command_result() -> None:
    result = CommandResult(stdout="a", stderr="", exit_code=0, duration_ms=1)
    assert result.ok


def test_write_entry_keeps_types() -> None:
    assert WriteEntry("/a", b"\x00").data == b"\x00"
    assert WriteEntry("/a", "text").data == "text"
    assert WriteEntry(path="/a", data="kw").path == "/a"
