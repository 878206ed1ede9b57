"""The SSH access routes as operations, shared by both flavours (``spec/ssh.md``,
:mod:`._ops`). Every argument is checked here, before any request."""

from __future__ import annotations

from urllib.parse import quote

from ._op_base import _check_int, _machine_path, _model, _none
from ._transport import Operation, RequestSpec
from .errors import InvalidArgumentError
from .ssh import SshAccess

__all__ = [
    "DEFAULT_SSH_MINUTES",
    "MAX_SSH_MINUTES",
    "MIN_SSH_MINUTES",
    "create_ssh_access",
    "revoke_ssh_access",
]

MIN_SSH_MINUTES = 1
MAX_SSH_MINUTES = 1440
DEFAULT_SSH_MINUTES = 30
"""Life of a certificate when none is asked for (the server's default too)."""


def _public_key(value: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidArgumentError(
            "bad_request", "public_key must be an OpenSSH public key line (ssh-ed25519 AAAA…)"
        )
    return value.strip()


def _minutes(value: int) -> int:
    _check_int("expires_in_minutes", value)
    if not MIN_SSH_MINUTES <= value <= MAX_SSH_MINUTES:
        raise InvalidArgumentError(
            "bad_request",
            f"expires_in_minutes must be {MIN_SSH_MINUTES}..{MAX_SSH_MINUTES}, got {value}",
        )
    return value


def create_ssh_access(
    machine_id: str, public_key: str, expires_in_minutes: int = DEFAULT_SSH_MINUTES
) -> Operation[SshAccess]:
    """A certificate for ``public_key`` good for the machine through the relay."""
    body = {
        "public_key": _public_key(public_key),
        "expires_in_minutes": _minutes(expires_in_minutes),
    }
    path = _machine_path(machine_id, "/ssh-access")
    return Operation(RequestSpec("POST", path, json=body), _model(SshAccess))


def revoke_ssh_access(machine_id: str, access_id: str) -> Operation[None]:
    """Revoke a grant (idempotent); an unknown one is 404 ``ssh_access_not_found``."""
    if not isinstance(access_id, str) or not access_id:
        raise InvalidArgumentError("bad_request", "access_id must be a non-empty string")
    path = _machine_path(machine_id, f"/ssh-access/{quote(access_id, safe='')}")
    return Operation(RequestSpec("DELETE", path), _none)
