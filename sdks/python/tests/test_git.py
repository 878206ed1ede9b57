"""machine.git on the fake API, both flavours; the pure builders of _git_ops."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import httpx
import pytest

import nullspace
from nullspace import (
    ConflictError,
    GitAuthError,
    GitBranches,
    GitCommit,
    GitError,
    GitNotARepositoryError,
    GitNothingToCommitError,
    GitPushRejectedError,
    GitRefNotFoundError,
    GitRepositoryNotFoundError,
    GitStatus,
    InvalidArgumentError,
    NotFoundError,
    _git_ops,
)
from nullspace._ops import COMMAND_GRACE_SECONDS, DEFAULT

from .conftest import MACHINE_ID, Flavour, error_response, maybe

BASE = f"/v1/machines/{MACHINE_ID}/git"

STATE = {"path": "/workspace/repo", "branch": "main", "head": "a" * 40}
STATUS = {
    "branch": "main",
    "upstream": "origin/main",
    "ahead": 1,
    "behind": 0,
    "detached": False,
    "head": "a" * 40,
    "files": [
        {
            "path": "new.txt",
            "index_status": "A",
            "worktree_status": " ",
            "status": "added",
            "staged": True,
        },
        {
            "path": "scratch",
            "index_status": "?",
            "worktree_status": "?",
            "status": "untracked",
            "staged": False,
        },
    ],
    "clean": False,
}


async def call(flavour: Flavour, op: str, answer: Any, method: str, *args: Any, **kw: Any) -> Any:
    if isinstance(answer, httpx.Response):
        flavour.api.on("POST", f"{BASE}/{op}", response=answer)
    else:
        flavour.api.on("POST", f"{BASE}/{op}", answer)
    machine = await flavour.machine()
    return await maybe(getattr(machine.git, method)(*args, **kw))


async def test_clone_sends_credentials_in_the_body_only(flavour: Flavour) -> None:
    state = await call(
        flavour,
        "clone",
        STATE,
        "clone",
        "https://h/acme/repo.git",
        branch="dev",
        depth=1,
        username="bob",
        token="s3cr3t",
    )
    assert (state.path, state.branch) == ("/workspace/repo", "main")
    req = flavour.api.last
    assert req.json() == {
        "url": "https://h/acme/repo.git",
        "branch": "dev",
        "depth": 1,
        "auth": {"username": "bob", "token": "s3cr3t"},
    }
    assert "s3cr3t" not in str(flavour.api.raw[-1].url)


async def test_status_add_and_diff(flavour: Flavour) -> None:
    status = await call(flavour, "status", STATUS, "status")
    assert isinstance(status, GitStatus)
    assert flavour.api.last.json() == {"path": "/workspace"}
    assert [f.path for f in status.staged] == ["new.txt"]
    assert [f.path for f in status.untracked] == ["scratch"]
    assert status.conflicts == [] and not status.clean
    await call(flavour, "add", STATUS, "add", "/w/r", ["a.txt", "-weird"])
    assert flavour.api.last.json() == {"path": "/w/r", "paths": ["a.txt", "-weird"]}
    text = await call(flavour, "diff", {"diff": "+x\n"}, "diff", "/w/r", staged=True, paths="a")
    assert text == "+x\n"
    assert flavour.api.last.json() == {"path": "/w/r", "staged": True, "paths": ["a"]}


async def test_commit_log_branches_and_remotes(flavour: Flavour) -> None:
    done = await call(
        flavour,
        "commit",
        {"sha": "b" * 40, "branch": "main"},
        "commit",
        "/w/r",
        "update files",
        author_name="Ada",
        author_email="ada@example.com",
        all=True,
    )
    assert done.sha == "b" * 40
    assert flavour.api.last.json() == {
        "path": "/w/r",
        "message": "update files",
        "all": True,
        "author_name": "Ada",
        "author_email": "ada@example.com",
    }
    commit = {
        "sha": "c" * 40,
        "author_name": "Ada",
        "author_email": "ada@example.com",
        "date": "2026-01-02T03:04:05+00:00",
        "message": "subject\n\nbody",
    }
    commits = await call(flavour, "log", {"commits": [commit]}, "log", limit=5)
    assert isinstance(commits[0], GitCommit) and commits[0].subject == "subject"
    assert flavour.api.last.json() == {"path": "/workspace", "limit": 5}
    branch = {"name": "main", "current": True, "upstream": None, "sha": "c" * 40}
    listed = {"branches": [branch], "current": "main"}
    branches = await call(flavour, "branch/create", listed, "create_branch", "/w/r", "x")
    assert isinstance(branches, GitBranches) and branches.names == ["main"]
    assert flavour.api.last.json() == {"path": "/w/r", "name": "x"}
    remotes = {"remotes": [{"name": "origin", "url": "https://h/r.git"}]}
    got = await call(flavour, "remote/set-url", remotes, "set_remote_url", "/w/r", "o", "/x")
    assert got[0].url == "https://h/r.git" and got[0].push_url is None
    assert flavour.api.last.json() == {"path": "/w/r", "name": "o", "url": "/x"}


async def test_config(flavour: Flavour) -> None:
    unset = {"key": "user.name", "value": None, "scope": "global"}
    assert (
        await call(flavour, "config/get", unset, "get_config", "user.name", scope="global") is None
    )
    assert flavour.api.last.json() == {"key": "user.name", "scope": "global"}
    with pytest.raises(InvalidArgumentError):
        await call(flavour, "config/get", unset, "get_config", "user.name", scope="system")


@pytest.mark.parametrize(
    ("code", "status", "cls", "also"),
    [
        ("git_auth_failed", 422, GitAuthError, GitError),
        ("git_repository_not_found", 404, GitRepositoryNotFoundError, NotFoundError),
        ("git_not_a_repository", 422, GitNotARepositoryError, InvalidArgumentError),
        ("git_ref_not_found", 404, GitRefNotFoundError, NotFoundError),
        ("git_push_rejected", 409, GitPushRejectedError, ConflictError),
        ("git_conflict", 409, nullspace.GitConflictError, ConflictError),
        ("git_nothing_to_commit", 409, GitNothingToCommitError, ConflictError),
        ("git_failed", 422, GitError, nullspace.NullspaceError),
    ],
)
async def test_git_failures_raise_typed_errors(
    flavour: Flavour, code: str, status: int, cls: type[Exception], also: type[Exception]
) -> None:
    with pytest.raises(cls) as info:
        await call(flavour, "push", error_response(status, code, "no"), "push", "/w/r")
    assert isinstance(info.value, also) and isinstance(info.value, GitError)
    assert info.value.code == code


async def test_bad_arguments_are_refused_before_sending(flavour: Flavour) -> None:
    machine = await flavour.machine()
    sent = len(flavour.api.requests)
    calls: list[Callable[[], Any]] = [
        lambda: machine.git.clone("https://h/r.git", password="a", token="b"),
        lambda: machine.git.clone("https://h/r.git", depth=0),
        lambda: machine.git.clone(""),
        lambda: machine.git.log(limit=0),
        lambda: machine.git.status(timeout=-1),
        lambda: machine.git.push(force="yes"),
    ]
    for bad in calls:
        with pytest.raises(InvalidArgumentError):
            await maybe(bad())
    assert len(flavour.api.requests) == sent


def test_request_timeouts_follow_gits() -> None:
    default = _git_ops.status(MACHINE_ID, "/w", user=None, timeout=DEFAULT)
    assert default.request.timeout == _git_ops.DEFAULT_GIT_TIMEOUT + COMMAND_GRACE_SECONDS
    assert "timeout" not in default.request.json
    unlimited = _git_ops.status(MACHINE_ID, "/w", user="root", timeout=None)
    assert unlimited.request.no_timeout and unlimited.request.json["timeout"] == 0
    short = _git_ops.status(MACHINE_ID, "/w", user=None, timeout=5)
    assert short.request.timeout == 5 + COMMAND_GRACE_SECONDS


def test_both_flavours_have_the_same_methods() -> None:
    def public(cls: type) -> dict[str, inspect.Signature]:
        return {n: inspect.signature(f) for n, f in vars(cls).items() if not n.startswith("_")}

    sync, aio = public(nullspace.Git), public(nullspace.AsyncGit)
    assert sync.keys() == aio.keys()
    for name in sync:
        assert sync[name] == aio[name], name
        assert inspect.iscoroutinefunction(getattr(nullspace.AsyncGit, name)), name
