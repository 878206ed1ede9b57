//! SSH access grants: which key may reach which machine through the relay until
//! when, and their revocation. The certificate itself is never stored; the relay
//! looks its key id up here on every login.

use rusqlite::{params, OptionalExtension};

use super::{Store, StoreError};

/// A stored SSH access grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshAccessRow {
    /// `ssha_…`, also the certificate's key id.
    pub id: String,
    /// Owning tenant.
    pub tenant: String,
    /// The machine it opens.
    pub machine_id: String,
    /// SHA-256 fingerprint of the user's public key (`SHA256:…`).
    pub key_fingerprint: String,
    /// Creation, Unix seconds.
    pub created_unix: i64,
    /// End of validity, Unix seconds.
    pub expires_unix: i64,
    /// When it was revoked, Unix seconds.
    pub revoked_unix: Option<i64>,
}

fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<SshAccessRow> {
    Ok(SshAccessRow {
        id: r.get("id")?,
        tenant: r.get("tenant")?,
        machine_id: r.get("machine_id")?,
        key_fingerprint: r.get("key_fingerprint")?,
        created_unix: r.get("created_unix")?,
        expires_unix: r.get("expires_unix")?,
        revoked_unix: r.get("revoked_unix")?,
    })
}

impl Store {
    /// Record a new grant.
    pub fn insert_ssh_access(&self, a: &SshAccessRow) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "INSERT INTO ssh_access (id, tenant, machine_id, key_fingerprint, created_unix, \
                 expires_unix, revoked_unix) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    a.id,
                    a.tenant,
                    a.machine_id,
                    a.key_fingerprint,
                    a.created_unix,
                    a.expires_unix,
                    a.revoked_unix
                ],
            )?;
            Ok(())
        })
    }

    /// Grant `id`, if it exists.
    pub fn ssh_access(&self, id: &str) -> Result<Option<SshAccessRow>, StoreError> {
        self.with(|c| {
            Ok(
                c.query_row("SELECT * FROM ssh_access WHERE id = ?1", params![id], read)
                    .optional()?,
            )
        })
    }

    /// Revoke grant `id` of machine `machine` at `now` (a second revoke keeps the
    /// first time); false if the machine has no such grant.
    pub fn revoke_ssh_access(&self, machine: &str, id: &str, now: i64) -> Result<bool, StoreError> {
        self.with(|c| {
            let n = c.execute(
                "UPDATE ssh_access SET revoked_unix = COALESCE(revoked_unix, ?3) \
                 WHERE id = ?1 AND machine_id = ?2",
                params![id, machine, now],
            )?;
            Ok(n > 0)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str) -> SshAccessRow {
        SshAccessRow {
            id: id.into(),
            tenant: "t1".into(),
            machine_id: "sb_m".into(),
            key_fingerprint: "SHA256:abc".into(),
            created_unix: 10,
            expires_unix: 100,
            revoked_unix: None,
        }
    }

    #[test]
    fn grants_are_stored_and_revoked_once_by_their_machine() {
        let s = Store::in_memory().unwrap();
        s.insert_ssh_access(&row("ssha_a")).unwrap();
        assert_eq!(s.ssh_access("ssha_a").unwrap(), Some(row("ssha_a")));
        assert_eq!(s.ssh_access("ssha_b").unwrap(), None);
        assert!(!s.revoke_ssh_access("sb_other", "ssha_a", 20).unwrap());
        assert!(s.revoke_ssh_access("sb_m", "ssha_a", 20).unwrap());
        assert!(s.revoke_ssh_access("sb_m", "ssha_a", 30).unwrap());
        assert_eq!(
            s.ssh_access("ssha_a").unwrap().unwrap().revoked_unix,
            Some(20)
        );
    }
}
