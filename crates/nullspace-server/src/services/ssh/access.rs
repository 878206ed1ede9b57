//! SSH access grants: minted for a tenant's machine and a public key, revoked
//! by id, and looked up by the relay on every login and every channel.

use nullspace_api::{
    CreateSshAccessRequest, ErrorCode, SshAccess, DEFAULT_SSH_MINUTES, MAX_SSH_MINUTES,
    MIN_SSH_MINUTES,
};
use nullspace_types::{MachineId, SshAccessId};
use russh::keys::ssh_key::public::KeyData;
use russh::keys::ssh_key::PublicKey;

use super::ca::{self, Issue, BACKDATE_SECS};
use super::{keys, RelayAddress};
use crate::auth::Tenant;
use crate::error::{ApiError, ApiResult};
use crate::services::{load, not_running};
use crate::state::AppState;
use crate::store::{self, SshAccessRow};

/// Longest public key line taken.
const MAX_KEY_LINE: usize = 16 << 10;

/// The user's public key, if it is an OpenSSH ed25519 or ECDSA key line.
pub fn parse_key(line: &str) -> ApiResult<PublicKey> {
    let invalid = |why: &str| {
        ApiError::new(
            ErrorCode::SshKeyInvalid,
            format!("public_key: {why}; give one OpenSSH public key line, e.g. the contents of ~/.ssh/id_ed25519.pub"),
        )
    };
    let line = line.trim();
    if line.is_empty() {
        return Err(invalid("is empty"));
    }
    if line.len() > MAX_KEY_LINE || line.contains('\n') {
        return Err(invalid("is more than one key line"));
    }
    let key = PublicKey::from_openssh(line).map_err(|e| invalid(&format!("not readable ({e})")))?;
    match key.key_data() {
        KeyData::Ed25519(_) | KeyData::Ecdsa(_) => Ok(key),
        _ => Err(invalid(&format!(
            "{} keys are not taken (use ssh-ed25519 or ecdsa-sha2-nistp256/384/521)",
            key.algorithm()
        ))),
    }
}

/// The life of a grant in seconds, from the request's minutes.
fn lifetime(minutes: Option<u64>) -> ApiResult<i64> {
    let m = minutes.unwrap_or(DEFAULT_SSH_MINUTES);
    if !(MIN_SSH_MINUTES..=MAX_SSH_MINUTES).contains(&m) {
        return Err(ApiError::field(
            "expires_in_minutes",
            format!("must be between {MIN_SSH_MINUTES} and {MAX_SSH_MINUTES}, got {m}"),
        ));
    }
    Ok(m as i64 * 60)
}

/// `known_hosts` host pattern of the relay (`[host]:port` unless port 22).
pub fn known_hosts_host(addr: &RelayAddress) -> String {
    if addr.port == 22 {
        addr.host.clone()
    } else {
        format!("[{}]:{}", addr.host, addr.port)
    }
}

/// `POST /v1/machines/{id}/ssh-access`.
pub async fn create(
    state: &AppState,
    tenant: &Tenant,
    id: &MachineId,
    req: CreateSshAccessRequest,
) -> ApiResult<SshAccess> {
    let key = parse_key(&req.public_key)?;
    let secs = lifetime(req.expires_in_minutes)?;
    let row = load(state, tenant, id).await?;
    if row.state.is_terminal() {
        return Err(not_running(id, row.state));
    }
    let keys = keys(state).await?;
    let (_, now) = store::now();
    let access = SshAccessRow {
        id: SshAccessId::random().to_string(),
        tenant: tenant.id.clone(),
        machine_id: id.to_string(),
        key_fingerprint: ca::fingerprint(key.key_data()),
        created_unix: now,
        expires_unix: now + secs,
        revoked_unix: None,
    };
    let cert = keys
        .sign(&Issue {
            key: &key,
            access_id: &access.id,
            machine: id.as_str(),
            valid_after: now - BACKDATE_SECS,
            valid_before: access.expires_unix,
        })
        .and_then(|c| c.to_openssh().map_err(ca::SignError::from))
        .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?;
    let stored = access.clone();
    state
        .store_call(move |s| s.insert_ssh_access(&stored))
        .await?;
    let addr = &state.settings.ssh;
    let host_key = keys.host_public();
    Ok(SshAccess {
        command: format!(
            "ssh -o CertificateFile={}-cert.pub -p {} {}@{}",
            access.id, addr.port, id, addr.host
        ),
        known_hosts: format!("{} {}", known_hosts_host(addr), host_key),
        id: access.id,
        machine_id: id.to_string(),
        username: id.to_string(),
        relay_host: addr.host.clone(),
        relay_port: addr.port,
        certificate: cert,
        host_key,
        key_fingerprint: access.key_fingerprint,
        expires_at: store::rfc3339(access.expires_unix),
    })
}

/// `DELETE /v1/machines/{id}/ssh-access/{access_id}`: new logins and channels
/// with its certificate are refused from now on.
pub async fn revoke(
    state: &AppState,
    tenant: &Tenant,
    id: &MachineId,
    access: &str,
) -> ApiResult<()> {
    let row = load(state, tenant, id).await?;
    let missing = || {
        ApiError::new(
            ErrorCode::SshAccessNotFound,
            format!("machine {id} has no SSH access {access}"),
        )
    };
    let key = access.to_owned();
    let found = state.store_call(move |s| s.ssh_access(&key)).await?;
    if found.is_none_or(|a| a.tenant != row.tenant_id) {
        return Err(missing());
    }
    let (_, now) = store::now();
    let (m, key) = (id.to_string(), access.to_owned());
    if !state
        .store_call(move |s| s.revoke_ssh_access(&m, &key, now))
        .await?
    {
        return Err(missing());
    }
    Ok(())
}

/// Why the relay refuses a grant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrantRefusal {
    /// The certificate's key id names no grant.
    #[error("no such SSH access")]
    Unknown,
    /// It was revoked.
    #[error("the SSH access was revoked")]
    Revoked,
    /// Its time is over.
    #[error("the SSH access expired")]
    Expired,
    /// It is for another machine, another key or a tenant that no longer owns
    /// the machine.
    #[error("the SSH access is not for this machine and key")]
    Mismatch,
    /// The store could not be read.
    #[error("the SSH access could not be read: {0}")]
    Store(String),
}

/// The grant `access` for `machine` and `key` if it stands at `now`; answers the
/// owning tenant.
pub async fn authorize(
    state: &AppState,
    machine: &MachineId,
    access: &str,
    key: &KeyData,
    now: i64,
) -> Result<Tenant, GrantRefusal> {
    let id = access.to_owned();
    let found = state
        .store_call(move |s| s.ssh_access(&id))
        .await
        .map_err(|e| GrantRefusal::Store(e.message))?
        .ok_or(GrantRefusal::Unknown)?;
    if found.revoked_unix.is_some() {
        return Err(GrantRefusal::Revoked);
    }
    if now >= found.expires_unix {
        return Err(GrantRefusal::Expired);
    }
    if found.machine_id != machine.as_str() || found.key_fingerprint != ca::fingerprint(key) {
        return Err(GrantRefusal::Mismatch);
    }
    let tenant = Tenant { id: found.tenant };
    // The machine must still be this tenant's.
    load(state, &tenant, machine)
        .await
        .map_err(|_| GrantRefusal::Mismatch)?;
    Ok(tenant)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_checked() {
        let ok = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICgrN1WcdO0UyautNtCJ6wQeACUBRAw8he96n/NACseF me@host";
        assert!(parse_key(ok).is_ok());
        assert!(parse_key(&format!("  {ok}\n")).is_ok());
        for bad in [
            "",
            "ssh-ed25519",
            "ssh-ed25519 AAAA",
            "hello world",
            &format!("{ok}\n{ok}"),
        ] {
            let e = parse_key(bad).unwrap_err();
            assert_eq!(e.code, ErrorCode::SshKeyInvalid, "{bad:?}");
        }
    }

    #[test]
    fn lifetimes_are_bounded() {
        assert_eq!(lifetime(None).unwrap(), 30 * 60);
        assert_eq!(lifetime(Some(1)).unwrap(), 60);
        assert_eq!(lifetime(Some(1440)).unwrap(), 1440 * 60);
        assert_eq!(
            lifetime(Some(0)).unwrap_err().code,
            ErrorCode::ValidationError
        );
        assert_eq!(
            lifetime(Some(1441)).unwrap_err().code,
            ErrorCode::ValidationError
        );
    }
}
