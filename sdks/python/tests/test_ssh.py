"""SSH access on the fake API, both flavours: the request and decoding of
``create_ssh_access`` and ``revoke_ssh_access``, argument checks before any request,
and the error codes of bad keys and unknown grants."""

from __future__ import annotations

from typing import Any

import pytest

from nullspace import (
    InvalidArgumentError,
    NotFoundError,
    SshAccess,
    SshAccessNotFoundError,
    SshKeyInvalidError,
)

from .conftest import MACHINE_ID, Flavour, error_response, maybe

BASE = f"/v1/machines/{MACHINE_ID}/ssh-access"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICgrN1WcdO0UyautNtCJ6wQeACUBRAw8he96n/NACseF me@host"


def access_json(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "ssha_1a2b",
        "machine_id": MACHINE_ID,
        "username": MACHINE_ID,
        "relay_host": "127.0.0.1",
        "relay_port": 2222,
        "certificate": "ssh-ed25519-cert-v01@openssh.com AAAAIHNzaC1lZDI1NTE5LWNlcnQ ssha_1a2b",
        "host_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHost",
        "known_hosts": "[127.0.0.1]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHost",
        "key_fingerprint": "SHA256:abc",
        "expires_at": "2026-01-02T04:04:05Z",
        "command": f"ssh -o CertificateFile=ssha_1a2b-cert.pub -p 2222 {MACHINE_ID}@127.0.0.1",
    }
    body.update(overrides)
    return body


async def test_create_sends_the_key_and_minutes_and_decodes_the_access(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on("POST", BASE, access_json(extra="ignored"))
    access = await maybe(machine.create_ssh_access(f"  {KEY}\n", expires_in_minutes=5))
    assert isinstance(access, SshAccess)
    assert (access.id, access.username, access.relay_port) == ("ssha_1a2b", MACHINE_ID, 2222)
    assert access.expires_at.year == 2026
    req = flavour.api.last
    assert (req.method, req.path) == ("POST", BASE)
    assert req.json() == {"public_key": KEY, "expires_in_minutes": 5}
    args = access.ssh_args("k", "k-cert.pub", "kh")
    assert args[:3] == ["ssh", "-i", "k"]
    assert args[-3:] == ["-p", "2222", f"{MACHINE_ID}@127.0.0.1"]
    assert "StrictHostKeyChecking=yes" in args


async def test_create_defaults_to_thirty_minutes(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on("POST", BASE, access_json())
    await maybe(machine.create_ssh_access(KEY))
    assert flavour.api.last.json() == {"public_key": KEY, "expires_in_minutes": 30}


@pytest.mark.parametrize(
    ("key", "minutes"),
    [("", 30), ("   ", 30), (KEY, 0), (KEY, 1441), (KEY, True), (KEY, 2.5)],
)
async def test_bad_arguments_are_refused_before_any_request(
    flavour: Flavour, key: Any, minutes: Any
) -> None:
    machine = await flavour.machine()
    sent = len(flavour.api.requests)
    with pytest.raises(InvalidArgumentError):
        await maybe(machine.create_ssh_access(key, expires_in_minutes=minutes))
    assert len(flavour.api.requests) == sent


async def test_a_bad_key_is_ssh_key_invalid(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on("POST", BASE, response=error_response(422, "ssh_key_invalid"))
    with pytest.raises(SshKeyInvalidError) as info:
        await maybe(machine.create_ssh_access("ssh-rsa AAAA"))
    assert isinstance(info.value, InvalidArgumentError)
    assert (info.value.code, info.value.status) == ("ssh_key_invalid", 422)


async def test_revoke_is_one_delete_and_unknown_grants_are_not_found(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on("DELETE", f"{BASE}/ssha_1a2b", status=204)
    assert await maybe(machine.revoke_ssh_access("ssha_1a2b")) is None
    assert (flavour.api.last.method, flavour.api.last.path) == ("DELETE", f"{BASE}/ssha_1a2b")
    flavour.api.on(
        "DELETE", f"{BASE}/ssha_nope", response=error_response(404, "ssh_access_not_found")
    )
    with pytest.raises(SshAccessNotFoundError) as info:
        await maybe(machine.revoke_ssh_access("ssha_nope"))
    assert isinstance(info.value, NotFoundError)
    with pytest.raises(InvalidArgumentError):
        await maybe(machine.revoke_ssh_access(""))
