"""Operations on machines, forks, snapshots and metrics (see :mod:`._ops`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, get_args

import httpx

from ._op_base import (
    Page,
    _check_bool,
    _check_int,
    _check_str_map,
    _drop_none,
    _json,
    _machine_path,
    _model,
    _page,
    _snapshot_path,
    _validate,
)
from ._transport import Operation, RequestSpec
from .errors import (
    InvalidArgumentError,
    MachineError,
    NotFoundError,
    NullspaceError,
    ServerError,
)
from .models import (
    MachineInfo,
    MachineMetrics,
    SnapshotInfo,
    TimeoutAction,
)
from .network import check_network

S = TypeVar("S", bound=SnapshotInfo)

FORK_REQUEST_SECONDS = 300.0
"""Least HTTP time a fork may take: it starts up to 16 machines before answering."""

DEFAULT_TEMPLATE = "base"
TIMEOUT_ACTIONS: tuple[str, ...] = get_args(TimeoutAction)


def _timeout_action(name: str, value: str | None) -> str | None:
    """Check a :data:`~nullspace.models.TimeoutAction` before any request is made."""
    if value is not None and value not in TIMEOUT_ACTIONS:
        choices = ", ".join(repr(a) for a in TIMEOUT_ACTIONS)
        raise InvalidArgumentError("bad_request", f"{name} must be one of {choices}, got {value!r}")
    return value


# ---------------------------------------------------------------------------
# machines


def create_machine(
    *,
    template: str | None = None,
    timeout: int | None = 300,
    metadata: Mapping[str, str] | None = None,
    envs: Mapping[str, str] | None = None,
    cwd: str | None = None,
    cpu_count: int | None = None,
    memory_mb: int | None = None,
    idempotency_key: str | None = None,
    snapshot_id: str | None = None,
    on_timeout: str | None = None,
    auto_resume: bool | None = None,
    network: Mapping[str, Any] | None = None,
    internet_access: bool | None = None,
) -> Operation[MachineInfo]:
    """``template`` defaults to ``base``; with ``snapshot_id`` it is left out unless
    given (the server then checks it matches the snapshot's)."""
    if snapshot_id is not None:
        _snapshot_path(snapshot_id)
    elif template is None:
        template = DEFAULT_TEMPLATE
    body = _drop_none(
        {
            "template": template,
            "timeout": timeout,
            "metadata": _check_str_map("metadata", metadata),
            "envs": _check_str_map("envs", envs),
            "cwd": cwd,
            "cpu_count": cpu_count,
            "memory_mb": memory_mb,
            "idempotency_key": idempotency_key,
            "snapshot_id": snapshot_id,
            "timeout_action": _timeout_action("on_timeout", on_timeout),
            "auto_resume": _check_bool("auto_resume", auto_resume),
            "network": check_network(network),
            "internet_access": _check_bool("internet_access", internet_access),
        }
    )
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key is not None else {}
    return Operation(
        RequestSpec("POST", "/v1/machines", json=body, headers=headers), _model(MachineInfo)
    )


def get_machine(machine_id: str) -> Operation[MachineInfo]:
    return Operation(RequestSpec("GET", _machine_path(machine_id)), _model(MachineInfo))


def _kill_recover(err: NullspaceError) -> bool:
    # 404: no such machine; 409 machine_not_running: already killed; 409 conflict:
    # another request is killing it right now. In each case this call killed nothing.
    if isinstance(err, NotFoundError) or err.code in ("machine_not_running", "conflict"):
        return False
    raise err


def _killed(response: httpx.Response) -> bool:
    # 200 {"id", "outcome": "killed" | "create_cancelled", "previous_state"}, or 204
    # without a body from older servers. Either way the machine is gone now: a
    # success status is the answer, and an odd body must not turn a done kill into an
    # error.
    return True


def kill_machine(machine_id: str) -> Operation[bool]:
    """``True`` when killed now (also a machine still starting, whose create is then
    cancelled), ``False`` when it was already gone or going (404, or 409
    ``machine_not_running`` / ``conflict``)."""
    return Operation(
        RequestSpec("DELETE", _machine_path(machine_id)), _killed, on_error=_kill_recover
    )


def set_machine_timeout(
    machine_id: str, timeout: int, action: str | None = None
) -> Operation[MachineInfo]:
    """``action`` (``kill``, ``pause``, ``hibernate``) is left unchanged when ``None``."""
    if isinstance(timeout, bool) or not isinstance(timeout, int):
        raise InvalidArgumentError("bad_request", "timeout must be an integer number of seconds")
    body = _drop_none({"timeout": timeout, "action": _timeout_action("action", action)})
    return Operation(
        RequestSpec("POST", _machine_path(machine_id, "/timeout"), json=body),
        _model(MachineInfo),
    )


def pause_machine(machine_id: str) -> Operation[MachineInfo]:
    """Save memory, processes and devices to disk and stop the VM; the answer has state
    ``paused``. 409 ``machine_not_running`` when it is not running."""
    return Operation(RequestSpec("POST", _machine_path(machine_id, "/pause")), _model(MachineInfo))


def resume_machine(machine_id: str) -> Operation[MachineInfo]:
    """Restore a paused machine; the answer has state ``running`` (a running machine is
    returned as is). 409 ``machine_not_running`` when it was killed."""
    return Operation(RequestSpec("POST", _machine_path(machine_id, "/resume")), _model(MachineInfo))


MachinePage = Page[MachineInfo]


def _list_params(
    filters: Sequence[tuple[str, str | None]],
    metadata: Mapping[str, str] | None,
    limit: int | None,
    cursor: str | None,
) -> list[tuple[str, str]]:
    params = [(name, value) for name, value in filters if value is not None]
    for key, value in (_check_str_map("metadata", metadata) or {}).items():
        params.append(("metadata", f"{key}={value}"))
    if limit is not None:
        params.append(("limit", str(int(limit))))
    if cursor is not None:
        params.append(("cursor", cursor))
    return params


StateFilter = str | Sequence[str]
"""One machine state, or several (``"killed"``, ``["running", "paused"]``)."""


def machine_states(state: StateFilter | None) -> list[str]:
    """The states of a list filter, one per ``state=`` query parameter (``[]``: none
    given, the server lists every live state). A comma-separated string is split."""
    if state is None:
        return []
    items = [state] if isinstance(state, str) else state
    if not isinstance(items, Sequence) or not all(isinstance(s, str) for s in items):
        raise InvalidArgumentError(
            "bad_request", f"state must be a string or a list of strings, got {state!r}"
        )
    states = [part.strip() for item in items for part in item.split(",")]
    if not states or not all(states):
        raise InvalidArgumentError("bad_request", f"state names no state: {state!r}")
    return states


def list_machines(
    *,
    state: StateFilter | None = None,
    template: str | None = None,
    metadata: Mapping[str, str] | None = None,
    limit: int | None = None,
    cursor: str | None = None,
) -> Operation[Page[MachineInfo]]:
    """Without ``state`` the server lists the live machines (every state but
    ``killed`` and ``failed``)."""
    filters = [("state", s) for s in machine_states(state)] + [("template", template)]
    params = _list_params(filters, metadata, limit, cursor)
    return Operation(
        RequestSpec("GET", "/v1/machines", params=params), _page("machines", MachineInfo)
    )


def needs_resume(info: MachineInfo) -> bool:
    """``connect`` resumes a paused machine instead of refusing it."""
    return info.state == "paused"


def ensure_running(info: MachineInfo) -> MachineInfo:
    """Raise :class:`MachineError` unless the machine is running (``connect``)."""
    if info.state != "running":
        raise MachineError(
            "machine_not_running", f"machine {info.id} is {info.state}, not running", None
        )
    return info


# ---------------------------------------------------------------------------
# fork, snapshots, metrics


@dataclass(frozen=True)
class Fork:
    """The answer of a fork: the children, running, and how long the source stopped."""

    machines: list[MachineInfo]
    source_stall_ms: int


def _decode_fork(response: httpx.Response) -> Fork:
    data = _json(response)
    machines = data.get("machines") if isinstance(data, dict) else None
    stall = data.get("source_stall_ms") if isinstance(data, dict) else None
    if not isinstance(machines, list) or isinstance(stall, bool) or not isinstance(stall, int):
        raise ServerError(
            "invalid_response",
            f"expected {{machines, source_stall_ms}} from {response.request.url.path}",
            response.status_code,
        )
    return Fork([_validate(MachineInfo, m, response) for m in machines], stall)


def fork_machine(
    machine_id: str,
    count: int = 1,
    *,
    metadata: Mapping[str, str] | None = None,
    timeout: int | None = None,
    request_timeout: float | None = None,
) -> Operation[Fork]:
    """``count`` children (1-16) of the running machine. The HTTP request waits at
    least :data:`FORK_REQUEST_SECONDS`."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise InvalidArgumentError("bad_request", f"count must be an integer >= 1, got {count!r}")
    body = _drop_none(
        {
            "count": count,
            "metadata": _check_str_map("metadata", metadata),
            "timeout": _check_int("timeout", timeout),
        }
    )
    return Operation(
        RequestSpec(
            "POST",
            _machine_path(machine_id, "/fork"),
            json=body,
            timeout=max(FORK_REQUEST_SECONDS, request_timeout or 0.0),
        ),
        _decode_fork,
    )


def create_snapshot(
    machine_id: str, *, metadata: Mapping[str, str] | None = None, cls: type[S]
) -> Operation[S]:
    """A reusable snapshot of the running machine, decoded as ``cls``."""
    body = _drop_none({"metadata": _check_str_map("metadata", metadata)})
    return Operation(
        RequestSpec("POST", _machine_path(machine_id, "/snapshots"), json=body), _model(cls)
    )


def get_snapshot(snapshot_id: str, *, cls: type[S]) -> Operation[S]:
    return Operation(RequestSpec("GET", _snapshot_path(snapshot_id)), _model(cls))


def _delete_recover(err: NullspaceError) -> bool:
    if isinstance(err, NotFoundError):
        return False
    raise err


def delete_snapshot(snapshot_id: str) -> Operation[bool]:
    """``True`` when deleted now, ``False`` when there was no such snapshot (404); 409
    ``snapshot_in_use`` raises."""
    return Operation(
        RequestSpec("DELETE", _snapshot_path(snapshot_id)),
        lambda _response: True,
        on_error=_delete_recover,
    )


def list_snapshots(
    *,
    cls: type[S],
    machine_id: str | None = None,
    metadata: Mapping[str, str] | None = None,
    limit: int | None = None,
    cursor: str | None = None,
) -> Operation[Page[S]]:
    params = _list_params([("machine_id", machine_id)], metadata, limit, cursor)
    return Operation(RequestSpec("GET", "/v1/snapshots", params=params), _page("snapshots", cls))


def get_metrics(machine_id: str) -> Operation[MachineMetrics]:
    return Operation(
        RequestSpec("GET", _machine_path(machine_id, "/metrics")), _model(MachineMetrics)
    )
