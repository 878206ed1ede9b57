"""SSH access (``spec/ssh.md``) against a real server and a real machine, both
flavours: a certificate from ``create_ssh_access`` lets the system ``ssh`` run a
command in the machine through the relay, and once revoked it is refused."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from nullspace import SshAccess

from ..conftest import maybe


def _ssh(access: SshAccess, key: Path, command: str) -> subprocess.CompletedProcess[bytes]:
    cert = key.with_name(key.name + "-cert.pub")
    known = key.with_name("known_hosts")
    args = access.ssh_args(str(key), str(cert), str(known))
    extra = ["-F", "/dev/null", "-o", "BatchMode=yes", "-o", "IdentityAgent=none"]
    return subprocess.run([args[0], *extra, *args[1:], command], capture_output=True, timeout=120)


async def test_a_certificate_runs_ssh_until_revoked(machine: Any, tmp_path: Path) -> None:
    if shutil.which("ssh") is None or shutil.which("ssh-keygen") is None:
        pytest.fail("the OpenSSH client (ssh, ssh-keygen) must be installed")
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-t", "ed25519", "-N", "", "-q", "-f", str(key)], check=True)
    public = key.with_suffix(".pub").read_text()
    access = await maybe(machine.create_ssh_access(public, expires_in_minutes=5))
    assert isinstance(access, SshAccess)
    assert access.username == machine.id and access.id.startswith("ssha_")
    key.with_name(key.name + "-cert.pub").write_text(access.certificate + "\n")
    (tmp_path / "known_hosts").write_text(access.known_hosts + "\n")

    done = _ssh(access, key, "echo from-python; exit 3")
    assert (done.returncode, done.stdout) == (3, b"from-python\n"), done.stderr

    await maybe(machine.revoke_ssh_access(access.id))
    refused = _ssh(access, key, "true")
    assert refused.returncode == 255 and b"Permission denied" in refused.stderr, refused.stderr
