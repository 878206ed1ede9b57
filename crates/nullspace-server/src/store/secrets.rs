//! Server secrets kept with the state: made once, at random, on first use.

use rand::RngCore;
use rusqlite::params;

use super::{Store, StoreError};

impl Store {
    /// The 32-byte secret called `name`, made at random the first time.
    pub fn secret(&self, name: &str) -> Result<[u8; 32], StoreError> {
        let mut fresh = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut fresh);
        self.with(|c| {
            c.execute(
                "INSERT OR IGNORE INTO secrets (name, value) VALUES (?1, ?2)",
                params![name, fresh.as_slice()],
            )?;
            let value: Vec<u8> = c.query_row(
                "SELECT value FROM secrets WHERE name = ?1",
                params![name],
                |r| r.get(0),
            )?;
            value
                .try_into()
                .map_err(|_| StoreError::Corrupt("secret length"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_made_once_and_kept() {
        let s = Store::in_memory().unwrap();
        let a = s.secret("url_signing").unwrap();
        assert_eq!(s.secret("url_signing").unwrap(), a, "kept");
        assert_ne!(s.secret("other").unwrap(), a, "one per name");
    }
}
