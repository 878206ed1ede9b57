"""The git operations of ``machine.git`` as pure :class:`Operation` builders (no I/O).

Every operation is one ``POST /v1/machines/{id}/git/{op}`` whose body names the
repository (``path``, default ``/workspace``), the guest ``user`` git runs as and its
``timeout``; the server builds git's argv, runs it and answers typed JSON. Both
flavours of :mod:`nullspace.git` only send what is built here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel

from ._op_base import _check_bool, _drop_none, _machine_path, _model
from ._ops import COMMAND_GRACE_SECONDS, DEFAULT, Default, json_seconds
from ._transport import Operation, RequestSpec
from .errors import InvalidArgumentError
from .models import (
    GitBranches,
    GitCommit,
    GitCommitResult,
    GitConfigScope,
    GitConfigValue,
    GitFetchResult,
    GitPushResult,
    GitRemote,
    GitRepoState,
    GitStatus,
    _Response,
)

M = TypeVar("M", bound=BaseModel)

DEFAULT_REPO = "/workspace"
"""Repository directory when a call names none."""

DEFAULT_GIT_TIMEOUT = 300.0
"""Seconds the server lets git run when a call names no ``timeout``."""


@dataclass(frozen=True)
class GitAuth:
    """Credentials for one call: HTTPS ``username`` and ``password`` (or ``token``), or
    an SSH private key (``ssh_key``, optionally with ``known_hosts`` lines). They are
    sent for the call only; the server never stores them in the repository."""

    username: str | None = None
    password: str | None = None
    token: str | None = None
    ssh_key: str | None = None
    known_hosts: str | None = None

    def body(self) -> dict[str, str] | None:
        """The ``auth`` object of a request (``None``: no credentials)."""
        fields = {
            "username": self.username,
            "password": self.password,
            "token": self.token,
            "ssh_key": self.ssh_key,
            "known_hosts": self.known_hosts,
        }
        for name, value in fields.items():
            if value is not None and (not isinstance(value, str) or not value):
                raise InvalidArgumentError("bad_request", f"{name} must be a non-empty string")
        if self.password is not None and self.token is not None:
            raise InvalidArgumentError("bad_request", "give either password or token, not both")
        body = _drop_none(fields)
        return body or None


def _str(name: str, value: object, *, optional: bool = True) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise InvalidArgumentError("bad_request", f"{name} must be a non-empty string")
    return value


def _paths(name: str, value: Sequence[str] | None) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    return [str(_str(name, p, optional=False)) for p in value]


def _seconds(timeout: float | None | Default) -> float | None:
    """``None`` (the server default), or the seconds to send (``0``: no limit)."""
    if timeout is DEFAULT:
        return None
    if timeout is None:
        return 0.0
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout < 0:
        raise InvalidArgumentError("bad_request", f"timeout must be a number >= 0, got {timeout!r}")
    return float(timeout)


def call(
    machine_id: str,
    op: str,
    cls: type[M],
    fields: dict[str, Any],
    *,
    path: str | None,
    user: str | None,
    timeout: float | None | Default,
) -> Operation[M]:
    """``POST …/git/{op}`` with the common fields and ``fields`` (``None`` values left
    out), read as ``cls``. The HTTP request waits as long as git may run, plus a grace."""
    seconds = _seconds(timeout)
    body = _drop_none(
        {
            "path": _str("path", path),
            "user": _str("user", user),
            "timeout": None if seconds is None else json_seconds(seconds),
            **fields,
        }
    )
    waits = DEFAULT_GIT_TIMEOUT if seconds is None else seconds
    return Operation(
        RequestSpec(
            "POST",
            _machine_path(machine_id, f"/git/{op}"),
            json=body,
            timeout=None if waits == 0 else waits + COMMAND_GRACE_SECONDS,
            no_timeout=waits == 0,
        ),
        _model(cls),
    )


class _Log(_Response):
    commits: list[GitCommit]


class _Diff(_Response):
    diff: str


class _Remotes(_Response):
    remotes: list[GitRemote]


def _flag(name: str, value: bool) -> bool | None:
    """A boolean field: ``True`` is sent, ``False`` (the server's default) left out."""
    return True if _check_bool(name, value) else None


def _depth(value: int | None) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise InvalidArgumentError(
            "bad_request", f"depth must be a positive integer, got {value!r}"
        )
    return value


def _scope(scope: GitConfigScope | None) -> GitConfigScope | None:
    if scope is not None and scope not in ("repository", "global"):
        raise InvalidArgumentError(
            "bad_request", f"scope must be 'repository' or 'global', got {scope!r}"
        )
    return scope


Timeout = float | None | Default
"""Seconds git may run: left out, the server's 300; ``0`` or ``None``, no limit."""


def clone(
    machine_id: str,
    url: str,
    path: str | None,
    *,
    branch: str | None,
    depth: int | None,
    auth: GitAuth,
    user: str | None,
    timeout: Timeout,
) -> Operation[GitRepoState]:
    fields = {
        "url": _str("url", url, optional=False),
        "branch": _str("branch", branch),
        "depth": _depth(depth),
        "auth": auth.body(),
    }
    return call(machine_id, "clone", GitRepoState, fields, path=path, user=user, timeout=timeout)


def init(
    machine_id: str,
    path: str,
    *,
    initial_branch: str | None,
    bare: bool,
    user: str | None,
    timeout: Timeout,
) -> Operation[GitRepoState]:
    fields = {"initial_branch": _str("initial_branch", initial_branch), "bare": _flag("bare", bare)}
    return call(machine_id, "init", GitRepoState, fields, path=path, user=user, timeout=timeout)


def status(
    machine_id: str, path: str, *, user: str | None, timeout: Timeout
) -> Operation[GitStatus]:
    return call(machine_id, "status", GitStatus, {}, path=path, user=user, timeout=timeout)


def log(
    machine_id: str,
    path: str,
    *,
    limit: int | None,
    revision: str | None,
    user: str | None,
    timeout: Timeout,
) -> Operation[list[GitCommit]]:
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise InvalidArgumentError(
            "bad_request", f"limit must be a positive integer, got {limit!r}"
        )
    fields = {"limit": limit, "revision": _str("revision", revision)}
    op = call(machine_id, "log", _Log, fields, path=path, user=user, timeout=timeout)
    return op.map(lambda r: list(r.commits))


def diff(
    machine_id: str,
    path: str,
    *,
    staged: bool,
    revision: str | None,
    paths: Sequence[str] | None,
    user: str | None,
    timeout: Timeout,
) -> Operation[str]:
    fields = {
        "staged": _flag("staged", staged),
        "revision": _str("revision", revision),
        "paths": _paths("paths", paths),
    }
    op = call(machine_id, "diff", _Diff, fields, path=path, user=user, timeout=timeout)
    return op.map(lambda r: r.diff)


def add(
    machine_id: str,
    path: str,
    paths: Sequence[str] | None,
    *,
    user: str | None,
    timeout: Timeout,
) -> Operation[GitStatus]:
    fields = {"paths": _paths("paths", paths)}
    return call(machine_id, "add", GitStatus, fields, path=path, user=user, timeout=timeout)


def commit(
    machine_id: str,
    path: str,
    message: str,
    *,
    all: bool,
    allow_empty: bool,
    author_name: str | None,
    author_email: str | None,
    user: str | None,
    timeout: Timeout,
) -> Operation[GitCommitResult]:
    fields = {
        "message": _str("message", message, optional=False),
        "all": _flag("all", all),
        "allow_empty": _flag("allow_empty", allow_empty),
        "author_name": _str("author_name", author_name),
        "author_email": _str("author_email", author_email),
    }
    return call(
        machine_id, "commit", GitCommitResult, fields, path=path, user=user, timeout=timeout
    )


def checkout(
    machine_id: str,
    path: str,
    branch: str,
    *,
    create: bool,
    user: str | None,
    timeout: Timeout,
) -> Operation[GitRepoState]:
    fields = {"branch": _str("branch", branch, optional=False), "create": _flag("create", create)}
    return call(machine_id, "checkout", GitRepoState, fields, path=path, user=user, timeout=timeout)


def branches(
    machine_id: str, path: str, *, user: str | None, timeout: Timeout
) -> Operation[GitBranches]:
    return call(machine_id, "branch/list", GitBranches, {}, path=path, user=user, timeout=timeout)


def create_branch(
    machine_id: str,
    path: str,
    name: str,
    *,
    start_point: str | None,
    checkout: bool,
    user: str | None,
    timeout: Timeout,
) -> Operation[GitBranches]:
    fields = {
        "name": _str("name", name, optional=False),
        "start_point": _str("start_point", start_point),
        "checkout": _flag("checkout", checkout),
    }
    return call(
        machine_id, "branch/create", GitBranches, fields, path=path, user=user, timeout=timeout
    )


def delete_branch(
    machine_id: str,
    path: str,
    name: str,
    *,
    force: bool,
    user: str | None,
    timeout: Timeout,
) -> Operation[GitBranches]:
    fields = {"name": _str("name", name, optional=False), "force": _flag("force", force)}
    return call(
        machine_id, "branch/delete", GitBranches, fields, path=path, user=user, timeout=timeout
    )


def pull(
    machine_id: str,
    path: str,
    *,
    remote: str | None,
    branch: str | None,
    rebase: bool,
    auth: GitAuth,
    user: str | None,
    timeout: Timeout,
) -> Operation[GitRepoState]:
    fields = {
        "remote": _str("remote", remote),
        "branch": _str("branch", branch),
        "rebase": _flag("rebase", rebase),
        "auth": auth.body(),
    }
    return call(machine_id, "pull", GitRepoState, fields, path=path, user=user, timeout=timeout)


def push(
    machine_id: str,
    path: str,
    *,
    remote: str | None,
    branch: str | None,
    set_upstream: bool,
    force: bool,
    auth: GitAuth,
    user: str | None,
    timeout: Timeout,
) -> Operation[GitPushResult]:
    fields = {
        "remote": _str("remote", remote),
        "branch": _str("branch", branch),
        "set_upstream": _flag("set_upstream", set_upstream),
        "force": _flag("force", force),
        "auth": auth.body(),
    }
    return call(machine_id, "push", GitPushResult, fields, path=path, user=user, timeout=timeout)


def fetch(
    machine_id: str,
    path: str,
    *,
    remote: str | None,
    prune: bool,
    auth: GitAuth,
    user: str | None,
    timeout: Timeout,
) -> Operation[GitFetchResult]:
    fields = {"remote": _str("remote", remote), "prune": _flag("prune", prune), "auth": auth.body()}
    return call(machine_id, "fetch", GitFetchResult, fields, path=path, user=user, timeout=timeout)


def remote(
    machine_id: str,
    path: str,
    verb: str,
    fields: dict[str, Any],
    *,
    user: str | None,
    timeout: Timeout,
) -> Operation[list[GitRemote]]:
    """``git/remote/{verb}`` (``list``, ``add``, ``set-url``, ``remove``): the remotes
    after it."""
    checked = {k: _str(k, v, optional=False) for k, v in fields.items()}
    op = call(
        machine_id, f"remote/{verb}", _Remotes, checked, path=path, user=user, timeout=timeout
    )
    return op.map(lambda r: list(r.remotes))


def get_config(
    machine_id: str,
    key: str,
    *,
    path: str | None,
    scope: GitConfigScope | None,
    user: str | None,
    timeout: Timeout,
) -> Operation[str | None]:
    fields = {"key": _str("key", key, optional=False), "scope": _scope(scope)}
    op = call(
        machine_id, "config/get", GitConfigValue, fields, path=path, user=user, timeout=timeout
    )
    return op.map(lambda v: v.value)


def set_config(
    machine_id: str,
    key: str,
    value: str,
    *,
    path: str | None,
    scope: GitConfigScope | None,
    user: str | None,
    timeout: Timeout,
) -> Operation[GitConfigValue]:
    if not isinstance(value, str):
        raise InvalidArgumentError("bad_request", f"value must be a string, got {value!r}")
    fields = {"key": _str("key", key, optional=False), "value": value, "scope": _scope(scope)}
    return call(
        machine_id, "config/set", GitConfigValue, fields, path=path, user=user, timeout=timeout
    )
