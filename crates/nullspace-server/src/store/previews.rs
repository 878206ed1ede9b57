//! Preview grants: signed access to one machine port, with their revocation and
//! usage counters.

use rusqlite::{params, OptionalExtension};

use super::{Store, StoreError};

/// A stored preview grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewGrantRow {
    /// `pvg_…`.
    pub id: String,
    /// Owning tenant.
    pub tenant: String,
    /// The machine it opens.
    pub machine_id: String,
    /// The machine port.
    pub port: u16,
    /// `url` (a browser link) or `proxy` (header tokens for a customer proxy).
    pub kind: String,
    /// Transports it grants, comma-separated (`http`, `websocket`).
    pub transports: String,
    /// Creation, Unix seconds.
    pub created_unix: i64,
    /// End of validity, Unix seconds.
    pub expires_unix: i64,
    /// When it was revoked, Unix seconds.
    pub revoked_unix: Option<i64>,
    /// Requests it let through.
    pub request_count: u64,
    /// WebSocket upgrades among them.
    pub websocket_count: u64,
    /// Requests refused with it.
    pub denied_count: u64,
    /// Last request it let through, Unix seconds.
    pub last_used_unix: Option<i64>,
    /// Last failure of a request it let through: code, message, Unix seconds.
    pub last_error: Option<(String, String, i64)>,
}

/// What one request did with a grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantUse {
    /// It passed (`websocket`: as an upgrade).
    Passed {
        /// Whether it was a WebSocket upgrade.
        websocket: bool,
    },
    /// It was refused.
    Denied,
}

fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<PreviewGrantRow> {
    let code: Option<String> = r.get(13)?;
    let message: Option<String> = r.get(14)?;
    let at: Option<i64> = r.get(15)?;
    Ok(PreviewGrantRow {
        id: r.get(0)?,
        tenant: r.get(1)?,
        machine_id: r.get(2)?,
        port: r.get::<_, i64>(3)? as u16,
        kind: r.get(4)?,
        transports: r.get(5)?,
        created_unix: r.get(6)?,
        expires_unix: r.get(7)?,
        revoked_unix: r.get(8)?,
        request_count: r.get::<_, i64>(9)? as u64,
        websocket_count: r.get::<_, i64>(10)? as u64,
        denied_count: r.get::<_, i64>(11)? as u64,
        last_used_unix: r.get(12)?,
        last_error: match (code, message, at) {
            (Some(c), Some(m), Some(a)) => Some((c, m, a)),
            _ => None,
        },
    })
}

const COLUMNS: &str = "id, tenant, machine_id, port, kind, transports, created_unix, \
                       expires_unix, revoked_unix, request_count, websocket_count, denied_count, \
                       last_used_unix, last_error_code, last_error_message, last_error_unix";

impl Store {
    /// Record a new grant.
    pub fn insert_preview_grant(&self, g: &PreviewGrantRow) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "INSERT INTO preview_grants (id, tenant, machine_id, port, kind, transports, \
                 created_unix, expires_unix) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    g.id,
                    g.tenant,
                    g.machine_id,
                    g.port,
                    g.kind,
                    g.transports,
                    g.created_unix,
                    g.expires_unix
                ],
            )?;
            Ok(())
        })
    }

    /// Grant `id`, if it exists.
    pub fn preview_grant(&self, id: &str) -> Result<Option<PreviewGrantRow>, StoreError> {
        self.with(|c| {
            Ok(c.query_row(
                &format!("SELECT {COLUMNS} FROM preview_grants WHERE id = ?1"),
                params![id],
                read,
            )
            .optional()?)
        })
    }

    /// Grants of machine `machine` (of port `port` if given), newest first.
    pub fn preview_grants(
        &self,
        machine: &str,
        port: Option<u16>,
    ) -> Result<Vec<PreviewGrantRow>, StoreError> {
        self.with(|c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {COLUMNS} FROM preview_grants WHERE machine_id = ?1 \
                 AND (?2 IS NULL OR port = ?2) ORDER BY created_unix DESC, rowid DESC"
            ))?;
            let rows = stmt.query_map(params![machine, port], read)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// Revoke grant `id` at `now` (a revoked one keeps its first time); the grant
    /// as it is after.
    pub fn revoke_preview_grant(
        &self,
        id: &str,
        now: i64,
    ) -> Result<Option<PreviewGrantRow>, StoreError> {
        self.with(|c| {
            c.execute(
                "UPDATE preview_grants SET revoked_unix = ?2 WHERE id = ?1 AND revoked_unix IS NULL",
                params![id, now],
            )?;
            Ok(c.query_row(
                &format!("SELECT {COLUMNS} FROM preview_grants WHERE id = ?1"),
                params![id],
                read,
            )
            .optional()?)
        })
    }

    /// Count one request made with grant `id` at `now`.
    pub fn count_preview_use(&self, id: &str, used: GrantUse, now: i64) -> Result<(), StoreError> {
        self.with(|c| {
            match used {
                GrantUse::Passed { websocket } => c.execute(
                    "UPDATE preview_grants SET request_count = request_count + 1, \
                     websocket_count = websocket_count + ?3, last_used_unix = ?2 WHERE id = ?1",
                    params![id, now, i64::from(websocket)],
                )?,
                GrantUse::Denied => c.execute(
                    "UPDATE preview_grants SET denied_count = denied_count + 1 WHERE id = ?1",
                    params![id],
                )?,
            };
            Ok(())
        })
    }

    /// Note the failure of a request made with grant `id`.
    pub fn set_preview_error(
        &self,
        id: &str,
        code: &str,
        message: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "UPDATE preview_grants SET last_error_code = ?2, last_error_message = ?3, \
                 last_error_unix = ?4 WHERE id = ?1",
                params![id, code, message, now],
            )?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, port: u16, created: i64) -> PreviewGrantRow {
        PreviewGrantRow {
            id: id.into(),
            tenant: "t".into(),
            machine_id: "sb_a".into(),
            port,
            kind: "url".into(),
            transports: "http,websocket".into(),
            created_unix: created,
            expires_unix: created + 60,
            revoked_unix: None,
            request_count: 0,
            websocket_count: 0,
            denied_count: 0,
            last_used_unix: None,
            last_error: None,
        }
    }

    #[test]
    fn grants_count_their_use_and_revoke_once() {
        let s = Store::in_memory().unwrap();
        s.insert_preview_grant(&row("pvg_a", 8080, 10)).unwrap();
        s.insert_preview_grant(&row("pvg_b", 9000, 20)).unwrap();
        let all = s.preview_grants("sb_a", None).unwrap();
        assert_eq!(
            all.iter().map(|g| g.id.as_str()).collect::<Vec<_>>(),
            ["pvg_b", "pvg_a"]
        );
        assert_eq!(s.preview_grants("sb_a", Some(8080)).unwrap().len(), 1);
        s.count_preview_use("pvg_a", GrantUse::Passed { websocket: false }, 30)
            .unwrap();
        s.count_preview_use("pvg_a", GrantUse::Passed { websocket: true }, 31)
            .unwrap();
        s.count_preview_use("pvg_a", GrantUse::Denied, 32).unwrap();
        s.set_preview_error("pvg_a", "preview_upstream_unavailable", "refused", 33)
            .unwrap();
        let g = s.preview_grant("pvg_a").unwrap().unwrap();
        assert_eq!(
            (g.request_count, g.websocket_count, g.denied_count),
            (2, 1, 1)
        );
        assert_eq!(g.last_used_unix, Some(31));
        assert_eq!(g.last_error.unwrap().0, "preview_upstream_unavailable");
        assert_eq!(
            s.revoke_preview_grant("pvg_a", 40)
                .unwrap()
                .unwrap()
                .revoked_unix,
            Some(40)
        );
        assert_eq!(
            s.revoke_preview_grant("pvg_a", 50)
                .unwrap()
                .unwrap()
                .revoked_unix,
            Some(40)
        );
        assert!(s.revoke_preview_grant("pvg_z", 50).unwrap().is_none());
    }
}
