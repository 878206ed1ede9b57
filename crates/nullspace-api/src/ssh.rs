//! SSH access through the relay (`spec/ssh.md`): a short-lived OpenSSH user
//! certificate for a public key, good for one machine.

use serde::{Deserialize, Serialize};

/// Default life of an SSH access grant, minutes.
pub const DEFAULT_SSH_MINUTES: u64 = 30;
/// Shortest life of an SSH access grant, minutes.
pub const MIN_SSH_MINUTES: u64 = 1;
/// Longest life of an SSH access grant, minutes (24 h).
pub const MAX_SSH_MINUTES: u64 = 1440;

/// `POST /v1/machines/{id}/ssh-access`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateSshAccessRequest {
    /// The user's OpenSSH public key line (`ssh-ed25519 AAAA… comment`).
    pub public_key: String,
    /// Life of the certificate in minutes (1–1440, default 30).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::de::some_int"
    )]
    pub expires_in_minutes: Option<u64>,
}

/// A granted SSH access: what `ssh` needs to reach the machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SshAccess {
    /// `ssha_…`: the certificate's key id, and what revokes it.
    pub id: String,
    /// The machine.
    pub machine_id: String,
    /// Login name (the machine id).
    pub username: String,
    /// Host of the SSH relay.
    pub relay_host: String,
    /// Port of the SSH relay.
    pub relay_port: u16,
    /// The OpenSSH user certificate (`ssh-ed25519-cert-v01@openssh.com AAAA…`),
    /// to save as `<private key>-cert.pub`.
    pub certificate: String,
    /// The relay's host public key (`ssh-ed25519 AAAA…`), for `known_hosts`.
    pub host_key: String,
    /// A `known_hosts` line for the relay.
    pub known_hosts: String,
    /// SHA-256 fingerprint of the public key the certificate is for.
    pub key_fingerprint: String,
    /// End of validity (RFC 3339).
    pub expires_at: String,
    /// A ready `ssh` command line (the certificate saved as `{id}-cert.pub`
    /// in the working directory, the private key one `ssh` uses by default).
    pub command: String,
}
