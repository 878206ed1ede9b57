"""``files.search_files``, ``find_files`` and ``replace_in_files`` on the fake API,
both flavours: the requests, the typed answers, and arguments refused before any
request."""

from __future__ import annotations

import pytest

from nullspace import (
    EntryInfo,
    FindMatch,
    FindResult,
    InvalidArgumentError,
    InvalidPatternError,
    NotFoundError,
    ReplaceResult,
)

from .conftest import MACHINE_ID, Flavour, entry_json, error_response, maybe

FILES = f"/v1/machines/{MACHINE_ID}/files"


async def test_search_files(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on(
        "GET",
        f"{FILES}/search",
        {
            "entries": [entry_json("/workspace/a.py"), entry_json("/workspace/s/b.py")],
            "truncated": False,
        },
    )
    found = await maybe(machine.files.search_files("/workspace", "*.py", limit=5))
    assert [e.path for e in found] == ["/workspace/a.py", "/workspace/s/b.py"]
    assert all(isinstance(e, EntryInfo) for e in found)
    assert flavour.api.last.params == [
        ("path", "/workspace"),
        ("pattern", "*.py"),
        ("limit", "5"),
        ("user", "user"),
    ]


async def test_search_errors(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on("GET", f"{FILES}/search", response=error_response(422, "invalid_pattern"))
    with pytest.raises(InvalidPatternError):
        await maybe(machine.files.search_files("/workspace", "[unclosed"))
    for bad in ({"limit": 0}, {"limit": 10_001}, {"limit": True}):
        with pytest.raises(InvalidArgumentError):
            await maybe(machine.files.search_files("/workspace", "*", **bad))
    with pytest.raises(InvalidArgumentError):
        await maybe(machine.files.search_files("/workspace", ""))
    assert len(flavour.api.requests) == 1


async def test_find_files(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on(
        "POST",
        f"{FILES}/find",
        {
            "matches": [{"path": "/workspace/a.py", "line": 3, "column": 5, "text": "x  # TODO"}],
            "files_scanned": 12,
            "truncated": True,
        },
    )
    result = await maybe(
        machine.files.find_files(
            "/workspace", "todo", case_sensitive=False, include="*.py", max_results=1
        )
    )
    assert isinstance(result, FindResult)
    assert result.matches == [FindMatch(path="/workspace/a.py", line=3, column=5, text="x  # TODO")]
    assert (result.files_scanned, result.truncated) == (12, True)
    assert flavour.api.last.json() == {
        "path": "/workspace",
        "pattern": "todo",
        "regex": False,
        "case_sensitive": False,
        "include": "*.py",
        "max_results": 1,
        "user": "user",
    }


async def test_find_files_errors(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on("POST", f"{FILES}/find", response=error_response(404, "not_found"))
    with pytest.raises(NotFoundError):
        await maybe(machine.files.find_files("/nope", "x"))
    with pytest.raises(InvalidArgumentError):
        await maybe(machine.files.find_files("/w", "x", regex="yes"))
    with pytest.raises(InvalidArgumentError):
        await maybe(machine.files.find_files("/w", "x", max_file_bytes=0))
    with pytest.raises(InvalidArgumentError):
        await maybe(machine.files.find_files("/w", "x", include=""))
    assert len(flavour.api.requests) == 1


REPLACED = {
    "files": [{"path": "/workspace/app.py", "replacements": 2}],
    "total_replacements": 2,
    "files_scanned": 5,
    "dry_run": True,
    "truncated": False,
}


async def test_replace_in_files(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on("POST", f"{FILES}/replace", REPLACED)
    result = await maybe(
        machine.files.replace_in_files(
            r"(\w+)_old", "${1}_new", "/workspace", regex=True, dry_run=True, max_files=10
        )
    )
    assert isinstance(result, ReplaceResult)
    assert [(f.path, f.replacements) for f in result.files] == [("/workspace/app.py", 2)]
    assert (result.total_replacements, result.files_scanned, result.dry_run) == (2, 5, True)
    assert flavour.api.last.json() == {
        "paths": ["/workspace"],  # one path is sent as a list
        "find": r"(\w+)_old",
        "replace": "${1}_new",
        "regex": True,
        "case_sensitive": True,
        "dry_run": True,
        "max_files": 10,
        "user": "user",
    }
    await maybe(machine.files.replace_in_files("a", "", ["/w/x.py", "/w/y.py"], include="*.py"))
    assert flavour.api.last.json()["paths"] == ["/w/x.py", "/w/y.py"]
    assert flavour.api.last.json()["replace"] == ""


async def test_replace_errors(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on(
        "POST", f"{FILES}/replace", response=error_response(422, "invalid_pattern", "bad regex")
    )
    with pytest.raises(InvalidPatternError) as info:
        await maybe(machine.files.replace_in_files("(", "x", "/w", regex=True))
    assert info.value.message == "bad regex"
    for paths in ([], [""], 7, ["/w"] * 1001):
        with pytest.raises(InvalidArgumentError):
            await maybe(machine.files.replace_in_files("a", "b", paths))
    with pytest.raises(InvalidArgumentError):
        await maybe(machine.files.replace_in_files("", "b", "/w"))
    with pytest.raises(InvalidArgumentError):
        await maybe(machine.files.replace_in_files("a", None, "/w"))
    assert len(flavour.api.requests) == 1
