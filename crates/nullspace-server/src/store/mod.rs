//! State in SQLite (WAL): tenants, API keys and machines, with migrations.

mod keys;
mod machines;
mod network;
mod previews;
mod secrets;
mod snapshots;
mod ssh_access;
mod templates;
mod uploads;

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::Connection;

pub use keys::{hash_key, ApiKeyRecord, NewKey};
pub use machines::{Change, Inserted, ListFilter, MachineRow, Moved, NewMachine};
pub use network::Network;
pub use previews::{GrantUse, PreviewGrantRow};
pub use snapshots::{NewSnapshot, SnapshotFilter, SnapshotRow};
pub use ssh_access::SshAccessRow;
pub use templates::{BuildRow, CacheRow, LogRow, TemplateRow};
pub use uploads::UploadRow;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored JSON column could not be read.
    #[error("stored JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A stored value is not what it should be.
    #[error("corrupt row: {0}")]
    Corrupt(&'static str),
}

/// Migrations, applied in order; the index is the schema version.
const MIGRATIONS: &[&str] = &[
    "CREATE TABLE tenants (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL
    );
    CREATE TABLE api_keys (
        id INTEGER PRIMARY KEY,
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        prefix TEXT NOT NULL,
        hash TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        revoked INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE machines (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        template TEXT NOT NULL,
        state TEXT NOT NULL,
        cpu_count INTEGER NOT NULL,
        memory_mb INTEGER NOT NULL,
        metadata TEXT NOT NULL,
        envs TEXT NOT NULL,
        cwd TEXT NOT NULL,
        created_at TEXT NOT NULL,
        end_at TEXT NOT NULL,
        end_at_unix INTEGER NOT NULL,
        idempotency_key TEXT,
        vmm_pid INTEGER,
        note TEXT
    );
    CREATE UNIQUE INDEX machines_idem ON machines(tenant_id, idempotency_key)
        WHERE idempotency_key IS NOT NULL;
    CREATE INDEX machines_tenant ON machines(tenant_id, seq);
    CREATE INDEX machines_running_end ON machines(state, end_at_unix);",
    "ALTER TABLE machines ADD COLUMN timeout_action TEXT NOT NULL DEFAULT 'kill';
    ALTER TABLE machines ADD COLUMN auto_resume INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE machines ADD COLUMN snapshot_id TEXT;
    ALTER TABLE machines ADD COLUMN forked_from TEXT;
    CREATE INDEX machines_snapshot ON machines(snapshot_id) WHERE snapshot_id IS NOT NULL;
    CREATE TABLE snapshots (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        machine_id TEXT NOT NULL,
        template TEXT NOT NULL,
        cpu_count INTEGER NOT NULL,
        memory_mb INTEGER NOT NULL,
        metadata TEXT NOT NULL,
        envs TEXT NOT NULL,
        cwd TEXT NOT NULL,
        size_bytes INTEGER NOT NULL,
        source_stall_ms INTEGER NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE INDEX snapshots_tenant ON snapshots(tenant_id, seq);",
    "ALTER TABLE machines ADD COLUMN failure_reason TEXT;
    ALTER TABLE machines ADD COLUMN idempotency_hash TEXT;
    UPDATE machines SET failure_reason = note WHERE state = 'failed';",
    // Which VMM process runs a machine is the node's business, not the record's.
    "ALTER TABLE machines DROP COLUMN vmm_pid;",
    "CREATE TABLE secrets (name TEXT PRIMARY KEY, value BLOB NOT NULL);",
    // Resumable uploads: one row per session, a bit per chunk received.
    "CREATE TABLE uploads (
        id TEXT PRIMARY KEY,
        tenant TEXT NOT NULL,
        machine_id TEXT NOT NULL,
        path TEXT NOT NULL,
        staging TEXT NOT NULL,
        kind TEXT NOT NULL,
        size INTEGER NOT NULL,
        chunk_size INTEGER NOT NULL,
        received BLOB NOT NULL,
        sha256 TEXT,
        conflict TEXT NOT NULL,
        mode INTEGER,
        user TEXT NOT NULL,
        state TEXT NOT NULL,
        created_unix INTEGER NOT NULL,
        expires_unix INTEGER NOT NULL
    );
    CREATE INDEX uploads_by_machine ON uploads (machine_id);",
    // Preview grants: signed access to a machine port, revocable, with counters.
    "CREATE TABLE preview_grants (
        id TEXT PRIMARY KEY,
        tenant TEXT NOT NULL,
        machine_id TEXT NOT NULL,
        port INTEGER NOT NULL,
        kind TEXT NOT NULL,
        transports TEXT NOT NULL,
        created_unix INTEGER NOT NULL,
        expires_unix INTEGER NOT NULL,
        revoked_unix INTEGER,
        request_count INTEGER NOT NULL DEFAULT 0,
        websocket_count INTEGER NOT NULL DEFAULT 0,
        denied_count INTEGER NOT NULL DEFAULT 0,
        last_used_unix INTEGER,
        last_error_code TEXT,
        last_error_message TEXT,
        last_error_unix INTEGER
    );
    CREATE INDEX preview_grants_by_machine ON preview_grants (machine_id, port);",
    // Outbound policy and preview access of machines and of the machines snapshots come from.
    "ALTER TABLE machines ADD COLUMN network TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE snapshots ADD COLUMN network TEXT NOT NULL DEFAULT '{}';",
    // SSH access grants: the certificates the relay accepts, revocable.
    "CREATE TABLE ssh_access (
        id TEXT PRIMARY KEY,
        tenant TEXT NOT NULL,
        machine_id TEXT NOT NULL,
        key_fingerprint TEXT NOT NULL,
        created_unix INTEGER NOT NULL,
        expires_unix INTEGER NOT NULL,
        revoked_unix INTEGER
    );
    CREATE INDEX ssh_access_by_machine ON ssh_access (machine_id);",
    // Built templates: names, versions (builds) with their logs, tags, the step cache.
    "CREATE TABLE templates (
        id TEXT PRIMARY KEY,
        tenant TEXT NOT NULL,
        name TEXT NOT NULL,
        created_unix INTEGER NOT NULL,
        UNIQUE (tenant, name)
    );
    CREATE TABLE template_builds (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        template_id TEXT NOT NULL,
        tenant TEXT NOT NULL,
        request TEXT NOT NULL,
        tags TEXT NOT NULL,
        status TEXT NOT NULL,
        steps_total INTEGER NOT NULL,
        steps_done INTEGER NOT NULL,
        steps_cached INTEGER NOT NULL,
        machine_id TEXT,
        snapshot_id TEXT,
        cpu_count INTEGER NOT NULL,
        memory_mb INTEGER NOT NULL,
        cwd TEXT NOT NULL,
        envs TEXT NOT NULL,
        size_bytes INTEGER NOT NULL,
        error TEXT,
        created_unix INTEGER NOT NULL,
        finished_unix INTEGER
    );
    CREATE INDEX template_builds_by_template ON template_builds (template_id, seq);
    CREATE TABLE template_tags (
        template_id TEXT NOT NULL,
        tag TEXT NOT NULL,
        build_id TEXT NOT NULL,
        PRIMARY KEY (template_id, tag)
    );
    CREATE TABLE build_logs (
        build_id TEXT NOT NULL,
        pos INTEGER NOT NULL,
        at_ms INTEGER NOT NULL,
        level TEXT NOT NULL,
        step INTEGER,
        message TEXT NOT NULL,
        PRIMARY KEY (build_id, pos)
    );
    CREATE TABLE template_cache (
        tenant TEXT NOT NULL,
        key TEXT NOT NULL,
        snapshot_id TEXT NOT NULL,
        size_bytes INTEGER NOT NULL,
        created_unix INTEGER NOT NULL,
        PRIMARY KEY (tenant, key)
    );",
];

/// The database, shared by request handlers.
#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

impl Store {
    /// Open (creating and migrating) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path)?;
        Self::init(conn)
    }

    /// An in-memory database (tests).
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<Self, StoreError> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            conn.execute_batch(&format!(
                "BEGIN; {sql}; PRAGMA user_version = {}; COMMIT;",
                i + 1
            ))?;
        }
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Run `f` with the connection (briefly: the lock serialises writers).
    pub(crate) fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut conn)
    }
}

/// A row reader of a paged query.
pub(crate) type RowReader<T> = fn(&rusqlite::Row<'_>) -> rusqlite::Result<Result<T, StoreError>>;

/// What every list adds to its query: metadata pairs, a cursor and a page size.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// Only rows whose metadata has all these pairs.
    pub metadata: Vec<(String, String)>,
    /// Page size.
    pub limit: usize,
    /// Only rows older than this sequence number.
    pub before_seq: Option<i64>,
}

impl Store {
    /// Run `sql` (a `SELECT … WHERE …` with `args`) narrowed by `page`, newest
    /// first; the bool says whether more rows follow.
    pub(crate) fn page<T>(
        &self,
        mut sql: String,
        mut args: Vec<Box<dyn rusqlite::ToSql>>,
        page: &Page,
        read: RowReader<T>,
    ) -> Result<(Vec<T>, bool), StoreError> {
        for (k, v) in &page.metadata {
            sql.push_str(" AND json_extract(metadata, ?) = ?");
            args.push(Box::new(format!("$.\"{}\"", k.replace('"', "\\\""))));
            args.push(Box::new(v.clone()));
        }
        if let Some(seq) = page.before_seq {
            sql.push_str(" AND seq < ?");
            args.push(Box::new(seq));
        }
        sql.push_str(" ORDER BY seq DESC LIMIT ?");
        args.push(Box::new(page.limit as i64 + 1));
        self.with(|c| {
            let mut stmt = c.prepare(&sql)?;
            let rows = stmt.query_map(
                rusqlite::params_from_iter(args.iter().map(|b| b.as_ref())),
                read,
            )?;
            let mut out = Vec::new();
            for r in rows {
                out.push(r??);
            }
            let more = out.len() > page.limit;
            out.truncate(page.limit);
            Ok((out, more))
        })
    }
}

/// Now as RFC 3339 (UTC) and as Unix seconds.
pub fn now() -> (String, i64) {
    let t = time::OffsetDateTime::now_utc();
    (rfc3339(t.unix_timestamp()), t.unix_timestamp())
}

/// Unix seconds as RFC 3339 (UTC).
pub fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_once_and_reopens() {
        let dir = std::env::temp_dir().join(format!("ns-store-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.db");
        let _ = std::fs::remove_file(&path);
        let store = Store::open(&path).unwrap();
        let v: i64 = store
            .with(|c| Ok(c.query_row("PRAGMA user_version", [], |r| r.get(0))?))
            .unwrap();
        assert_eq!(v, MIGRATIONS.len() as i64);
        drop(store);
        let again = Store::open(&path).unwrap();
        let mode: String = again
            .with(|c| Ok(c.query_row("PRAGMA journal_mode", [], |r| r.get(0))?))
            .unwrap();
        assert_eq!(mode, "wal");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn rfc3339_format() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    }
}
