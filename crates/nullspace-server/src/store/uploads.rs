//! Resumable upload sessions: what was declared, and a bit per chunk received.

use rusqlite::{params, OptionalExtension};

use super::{Store, StoreError};

/// A stored upload session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRow {
    /// `upl_…`.
    pub id: String,
    /// Owning tenant.
    pub tenant: String,
    /// The machine it writes into.
    pub machine_id: String,
    /// Destination in the guest.
    pub path: String,
    /// Guest file the chunks are staged in.
    pub staging: String,
    /// `file` or `archive`.
    pub kind: String,
    /// Total bytes.
    pub size: u64,
    /// Bytes per chunk.
    pub chunk_size: u64,
    /// One bit per chunk, set once it arrived.
    pub received: Vec<u8>,
    /// Declared SHA-256 (hex).
    pub sha256: Option<String>,
    /// Archive conflict policy.
    pub conflict: String,
    /// Permission bits of a file.
    pub mode: Option<u32>,
    /// Guest user.
    pub user: String,
    /// `open`, `complete`, `aborted` (by the client) or `expired` (past its expiry).
    pub state: String,
    /// Creation, Unix seconds.
    pub created_unix: i64,
    /// Expiry, Unix seconds.
    pub expires_unix: i64,
}

impl UploadRow {
    /// Number of chunks.
    pub fn chunks(&self) -> u64 {
        self.size.div_ceil(self.chunk_size).max(1)
    }

    /// Whether chunk `i` arrived.
    pub fn has(&self, i: u64) -> bool {
        self.received
            .get((i / 8) as usize)
            .is_some_and(|b| b & (1 << (i % 8)) != 0)
    }

    /// Bytes chunk `i` holds.
    pub fn chunk_len(&self, i: u64) -> u64 {
        self.chunk_size
            .min(self.size.saturating_sub(i * self.chunk_size))
    }
}

fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<UploadRow> {
    Ok(UploadRow {
        id: r.get(0)?,
        tenant: r.get(1)?,
        machine_id: r.get(2)?,
        path: r.get(3)?,
        staging: r.get(4)?,
        kind: r.get(5)?,
        size: r.get::<_, i64>(6)? as u64,
        chunk_size: r.get::<_, i64>(7)? as u64,
        received: r.get(8)?,
        sha256: r.get(9)?,
        conflict: r.get(10)?,
        mode: r.get(11)?,
        user: r.get(12)?,
        state: r.get(13)?,
        created_unix: r.get(14)?,
        expires_unix: r.get(15)?,
    })
}

const COLUMNS: &str = "id, tenant, machine_id, path, staging, kind, size, chunk_size, received, \
                       sha256, conflict, mode, user, state, created_unix, expires_unix";

impl Store {
    /// Record a new session.
    pub fn insert_upload(&self, u: &UploadRow) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                &format!(
                    "INSERT INTO uploads ({COLUMNS}) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)"
                ),
                params![
                    u.id,
                    u.tenant,
                    u.machine_id,
                    u.path,
                    u.staging,
                    u.kind,
                    u.size as i64,
                    u.chunk_size as i64,
                    u.received,
                    u.sha256,
                    u.conflict,
                    u.mode,
                    u.user,
                    u.state,
                    u.created_unix,
                    u.expires_unix
                ],
            )?;
            Ok(())
        })
    }

    /// Session `id`, if it exists.
    pub fn upload(&self, id: &str) -> Result<Option<UploadRow>, StoreError> {
        self.with(|c| {
            Ok(c.query_row(
                &format!("SELECT {COLUMNS} FROM uploads WHERE id = ?1"),
                params![id],
                read,
            )
            .optional()?)
        })
    }

    /// Mark chunk `index` of session `id` received (if the session is still open);
    /// answers the session as it is now.
    pub fn mark_chunk(&self, id: &str, index: u64) -> Result<Option<UploadRow>, StoreError> {
        self.with(|c| {
            let tx = c.transaction()?;
            let row = tx
                .query_row(
                    &format!("SELECT {COLUMNS} FROM uploads WHERE id = ?1"),
                    params![id],
                    read,
                )
                .optional()?;
            let Some(mut row) = row else {
                return Ok(None);
            };
            if row.state == "open" {
                if let Some(b) = row.received.get_mut((index / 8) as usize) {
                    *b |= 1 << (index % 8);
                }
                tx.execute(
                    "UPDATE uploads SET received = ?2 WHERE id = ?1",
                    params![id, row.received],
                )?;
            }
            tx.commit()?;
            Ok(Some(row))
        })
    }

    /// Move session `id` from `from` to state `to`; false if it was not in `from`.
    pub fn set_upload_state(&self, id: &str, from: &str, to: &str) -> Result<bool, StoreError> {
        self.with(|c| {
            let n = c.execute(
                "UPDATE uploads SET state = ?3 WHERE id = ?1 AND state = ?2",
                params![id, from, to],
            )?;
            Ok(n == 1)
        })
    }

    /// Open sessions that expired before `now` (Unix seconds).
    pub fn expired_uploads(&self, now: i64) -> Result<Vec<UploadRow>, StoreError> {
        self.with(|c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {COLUMNS} FROM uploads WHERE state = 'open' AND expires_unix < ?1"
            ))?;
            let rows = stmt.query_map(params![now], read)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> UploadRow {
        UploadRow {
            id: "upl_a".into(),
            tenant: "t".into(),
            machine_id: "sb_a".into(),
            path: "/w/f".into(),
            staging: "/w/.f.part".into(),
            kind: "file".into(),
            size: 20,
            chunk_size: 8,
            received: vec![0],
            sha256: None,
            conflict: "merge".into(),
            mode: None,
            user: "user".into(),
            state: "open".into(),
            created_unix: 1,
            expires_unix: 100,
        }
    }

    #[test]
    fn chunks_are_marked_while_open() {
        let s = Store::in_memory().unwrap();
        s.insert_upload(&row()).unwrap();
        let r = s.upload("upl_a").unwrap().unwrap();
        assert_eq!((r.chunks(), r.chunk_len(2)), (3, 4));
        s.mark_chunk("upl_a", 2).unwrap();
        let r = s.mark_chunk("upl_a", 0).unwrap().unwrap();
        assert!(r.has(0) && !r.has(1) && r.has(2));
        assert!(s.set_upload_state("upl_a", "open", "complete").unwrap());
        assert!(!s.set_upload_state("upl_a", "open", "aborted").unwrap());
        let r = s.mark_chunk("upl_a", 1).unwrap().unwrap();
        assert!(!r.has(1), "a closed session takes no chunk");
        assert!(s.upload("upl_b").unwrap().is_none());
        assert!(
            s.expired_uploads(1000).unwrap().is_empty(),
            "only open ones"
        );
    }
}
