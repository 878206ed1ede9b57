"""SSH access: the typed answer of ``POST /v1/machines/{id}/ssh-access``
(``spec/ssh.md``).

A grant is an OpenSSH user certificate for one public key, signed by the server's
SSH certificate authority, good for one machine through the server's SSH relay
until :attr:`SshAccess.expires_at` or until it is revoked. Save
:attr:`SshAccess.certificate` beside the private key as ``<key>-cert.pub`` and the
:attr:`SshAccess.known_hosts` line in a ``known_hosts`` file, and the system
``ssh`` logs in as :attr:`SshAccess.username`.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

__all__ = ["SshAccess"]


class SshAccess(BaseModel):
    """A granted SSH access: what ``ssh`` needs to reach the machine."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str
    """``ssha_…``: the certificate's key id, and what revokes it."""
    machine_id: str
    username: str
    """The login name (the machine id)."""
    relay_host: str
    relay_port: int
    certificate: str
    """The OpenSSH user certificate (``ssh-ed25519-cert-v01@openssh.com AAAA…``)."""
    host_key: str
    """The relay's host public key (``ssh-ed25519 AAAA…``)."""
    known_hosts: str
    """A ``known_hosts`` line for the relay."""
    key_fingerprint: str
    """SHA-256 fingerprint of the certified public key (``SHA256:…``)."""
    expires_at: datetime
    command: str
    """A ready ``ssh`` line, the certificate saved as ``{id}-cert.pub`` in the working
    directory and the private key one ``ssh`` uses by default."""

    def ssh_args(
        self, identity_file: str, certificate_file: str, known_hosts_file: str
    ) -> list[str]:
        """The ``ssh`` argument list that uses these files and trusts only the relay."""
        return [
            "ssh",
            "-i",
            identity_file,
            "-o",
            f"CertificateFile={certificate_file}",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            f"UserKnownHostsFile={known_hosts_file}",
            "-o",
            "StrictHostKeyChecking=yes",
            "-p",
            str(self.relay_port),
            f"{self.username}@{self.relay_host}",
        ]
