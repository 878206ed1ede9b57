//! Tenants and their API keys (stored as SHA-256 hashes).

use rand::Rng;
use rusqlite::{params, OptionalExtension};
use sha2::{Digest, Sha256};

use super::{now, Store, StoreError};

/// A key found by its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    /// Tenant the key acts for.
    pub tenant_id: String,
    /// Tenant name.
    pub tenant_name: String,
}

/// A key just made; `secret` is shown once and never stored.
#[derive(Debug, Clone)]
pub struct NewKey {
    /// The full key (`ns_live_…`).
    pub secret: String,
    /// Tenant id.
    pub tenant_id: String,
}

/// SHA-256 of a key, hex.
pub fn hash_key(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn random_token(n: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rngs::OsRng;
    (0..n)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

impl Store {
    /// Create a key for tenant `name`, creating the tenant if needed.
    pub fn create_key(&self, tenant_name: &str) -> Result<NewKey, StoreError> {
        let secret = format!("{}{}", nullspace_api::API_KEY_PREFIX, random_token(40));
        let (created, _) = now();
        self.with(|c| {
            let tx = c.transaction()?;
            let existing: Option<String> = tx
                .query_row("SELECT id FROM tenants WHERE name = ?1", [tenant_name], |r| r.get(0))
                .optional()?;
            let tenant_id = match existing {
                Some(id) => id,
                None => {
                    let id = format!("tn_{}", random_token(16).to_lowercase());
                    tx.execute(
                        "INSERT INTO tenants (id, name, created_at) VALUES (?1, ?2, ?3)",
                        params![id, tenant_name, created],
                    )?;
                    id
                }
            };
            tx.execute(
                "INSERT INTO api_keys (tenant_id, prefix, hash, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![tenant_id, &secret[..12], hash_key(&secret), created],
            )?;
            tx.commit()?;
            Ok(NewKey {
                secret: secret.clone(),
                tenant_id,
            })
        })
    }

    /// The tenant of a key, if the key is known and not revoked.
    pub fn find_key(&self, secret: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        let hash = hash_key(secret);
        self.with(|c| {
            Ok(c.query_row(
                "SELECT t.id, t.name FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
                 WHERE k.hash = ?1 AND k.revoked = 0",
                [hash],
                |r| {
                    Ok(ApiKeyRecord {
                        tenant_id: r.get(0)?,
                        tenant_name: r.get(1)?,
                    })
                },
            )
            .optional()?)
        })
    }

    /// Number of keys ever made.
    pub fn key_count(&self) -> Result<i64, StoreError> {
        self.with(|c| Ok(c.query_row("SELECT COUNT(*) FROM api_keys", [], |r| r.get(0))?))
    }

    /// Revoke every key of tenant `name`; returns how many were revoked.
    pub fn revoke_keys(&self, tenant_name: &str) -> Result<usize, StoreError> {
        self.with(|c| {
            Ok(c.execute(
                "UPDATE api_keys SET revoked = 1 WHERE tenant_id = (SELECT id FROM tenants WHERE name = ?1)",
                [tenant_name],
            )?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_hashed_found_and_revoked() {
        let store = Store::in_memory().unwrap();
        let a = store.create_key("alpha").unwrap();
        let a2 = store.create_key("alpha").unwrap();
        let b = store.create_key("beta").unwrap();
        assert!(a.secret.starts_with("ns_live_") && a.secret.len() == 48);
        assert_eq!(a.tenant_id, a2.tenant_id);
        assert_ne!(a.tenant_id, b.tenant_id);
        let stored: String = store
            .with(|c| Ok(c.query_row("SELECT group_concat(hash) FROM api_keys", [], |r| r.get(0))?))
            .unwrap();
        assert!(!stored.contains(&a.secret), "keys are stored hashed");
        assert_eq!(
            store.find_key(&a.secret).unwrap().unwrap().tenant_name,
            "alpha"
        );
        assert!(store.find_key("ns_live_nope").unwrap().is_none());
        assert_eq!(store.revoke_keys("alpha").unwrap(), 2);
        assert!(store.find_key(&a.secret).unwrap().is_none());
        assert!(store.find_key(&b.secret).unwrap().is_some());
    }
}
