//! Machine rows.

use std::collections::BTreeMap;

use nullspace_api::TimeoutAction;
use nullspace_types::{MachineId, MachineState, SnapshotId};
use rusqlite::{params, OptionalExtension, Row};

use super::{now, rfc3339, Store, StoreError};

/// A machine as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct MachineRow {
    /// Insertion order (cursor of pagination).
    pub seq: i64,
    /// Machine id.
    pub id: MachineId,
    /// Owning tenant.
    pub tenant_id: String,
    /// Template name.
    pub template: String,
    /// Lifecycle state.
    pub state: MachineState,
    /// vCPUs.
    pub cpu_count: u32,
    /// Memory in MiB.
    pub memory_mb: u64,
    /// Labels.
    pub metadata: BTreeMap<String, String>,
    /// Environment of every command.
    pub envs: BTreeMap<String, String>,
    /// Default working directory.
    pub cwd: String,
    /// Creation time, RFC 3339.
    pub created_at: String,
    /// End time, Unix seconds.
    pub end_at_unix: i64,
    /// Pid of the VMM process, once running.
    pub vmm_pid: Option<u32>,
    /// What happens at the timeout.
    pub timeout_action: TimeoutAction,
    /// Whether requests wake the machine when paused.
    pub auto_resume: bool,
    /// Snapshot it was started from.
    pub snapshot_id: Option<SnapshotId>,
    /// Machine it was forked from.
    pub forked_from: Option<MachineId>,
}

impl MachineRow {
    /// The API view of the row.
    pub fn to_api(&self) -> nullspace_api::Machine {
        nullspace_api::Machine {
            id: self.id.clone(),
            template: self.template.clone(),
            state: self.state,
            cpu_count: self.cpu_count,
            memory_mb: self.memory_mb,
            metadata: self.metadata.clone(),
            cwd: self.cwd.clone(),
            created_at: self.created_at.clone(),
            end_at: rfc3339(self.end_at_unix),
            timeout_action: self.timeout_action,
            auto_resume: self.auto_resume,
            snapshot_id: self.snapshot_id.clone(),
            forked_from: self.forked_from.clone(),
            failure_reason: None,
        }
    }
}

/// A machine to record before it is started.
#[derive(Debug, Clone)]
pub struct NewMachine {
    /// Owning tenant.
    pub tenant_id: String,
    /// Template name.
    pub template: String,
    /// vCPUs.
    pub cpu_count: u32,
    /// Memory in MiB.
    pub memory_mb: u64,
    /// Labels.
    pub metadata: BTreeMap<String, String>,
    /// Environment.
    pub envs: BTreeMap<String, String>,
    /// Default working directory.
    pub cwd: String,
    /// Lifetime in seconds.
    pub timeout_secs: i64,
    /// Idempotency key.
    pub idempotency_key: Option<String>,
    /// What happens at the timeout.
    pub timeout_action: TimeoutAction,
    /// Whether requests wake the machine when paused.
    pub auto_resume: bool,
    /// Snapshot it starts from.
    pub snapshot_id: Option<SnapshotId>,
    /// Machine it is forked from.
    pub forked_from: Option<MachineId>,
}

/// Filters of a list.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only machines in this state.
    pub state: Option<MachineState>,
    /// Only machines of this template.
    pub template: Option<String>,
    /// Metadata pairs, cursor and page size.
    pub page: super::Page,
}

const COLUMNS: &str = "seq, id, tenant_id, template, state, cpu_count, memory_mb, metadata, envs, cwd, created_at, end_at_unix, vmm_pid, timeout_action, auto_resume, snapshot_id, forked_from";

/// Wire name of a state, as stored.
pub(crate) fn state_str(s: MachineState) -> String {
    serde_json::to_value(s)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn from_row(r: &Row<'_>) -> rusqlite::Result<Result<MachineRow, StoreError>> {
    let id: String = r.get(1)?;
    let state: String = r.get(4)?;
    let metadata: String = r.get(7)?;
    let envs: String = r.get(8)?;
    let action: String = r.get(13)?;
    let snapshot: Option<String> = r.get(15)?;
    let forked: Option<String> = r.get(16)?;
    let build = || -> Result<MachineRow, StoreError> {
        Ok(MachineRow {
            seq: r.get(0)?,
            id: id.parse().map_err(|_| StoreError::Corrupt("machine id"))?,
            tenant_id: r.get(2)?,
            template: r.get(3)?,
            state: serde_json::from_value(serde_json::Value::String(state.clone()))?,
            cpu_count: r.get(5)?,
            memory_mb: r.get(6)?,
            metadata: serde_json::from_str(&metadata)?,
            envs: serde_json::from_str(&envs)?,
            cwd: r.get(9)?,
            created_at: r.get(10)?,
            end_at_unix: r.get(11)?,
            vmm_pid: r.get(12)?,
            timeout_action: serde_json::from_value(serde_json::Value::String(action.clone()))?,
            auto_resume: r.get(14)?,
            snapshot_id: snapshot
                .map(|s| s.parse())
                .transpose()
                .map_err(|_| StoreError::Corrupt("snapshot id"))?,
            forked_from: forked
                .map(|s| s.parse())
                .transpose()
                .map_err(|_| StoreError::Corrupt("machine id"))?,
        })
    };
    Ok(build())
}

impl Store {
    /// Record a new machine in state `starting`. With an idempotency key already
    /// used by this tenant, returns the existing row instead (`false`).
    pub fn insert_machine(
        &self,
        id: &MachineId,
        m: &NewMachine,
    ) -> Result<(MachineRow, bool), StoreError> {
        let (created_at, now_unix) = now();
        self.with(|c| {
            let tx = c.transaction()?;
            if let Some(key) = &m.idempotency_key {
                let existing = tx
                    .query_row(
                        &format!("SELECT {COLUMNS} FROM machines WHERE tenant_id = ?1 AND idempotency_key = ?2"),
                        params![m.tenant_id, key],
                        from_row,
                    )
                    .optional()?;
                if let Some(row) = existing {
                    return Ok((row?, false));
                }
            }
            tx.execute(
                "INSERT INTO machines (id, tenant_id, template, state, cpu_count, memory_mb, metadata, envs, cwd,
                    created_at, end_at, end_at_unix, idempotency_key, timeout_action, auto_resume,
                    snapshot_id, forked_from)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
                params![
                    id.as_str(),
                    m.tenant_id,
                    m.template,
                    state_str(MachineState::Starting),
                    m.cpu_count,
                    m.memory_mb,
                    serde_json::to_string(&m.metadata)?,
                    serde_json::to_string(&m.envs)?,
                    m.cwd,
                    created_at,
                    rfc3339(now_unix + m.timeout_secs),
                    now_unix + m.timeout_secs,
                    m.idempotency_key,
                    m.timeout_action.as_str(),
                    m.auto_resume,
                    m.snapshot_id.as_ref().map(|s| s.as_str()),
                    m.forked_from.as_ref().map(|s| s.as_str()),
                ],
            )?;
            let row = tx.query_row(
                &format!("SELECT {COLUMNS} FROM machines WHERE id = ?1"),
                [id.as_str()],
                from_row,
            )??;
            tx.commit()?;
            Ok((row, true))
        })
    }

    /// A machine of `tenant_id` (None for unknown ids and other tenants' machines).
    pub fn get_machine(
        &self,
        tenant_id: &str,
        id: &MachineId,
    ) -> Result<Option<MachineRow>, StoreError> {
        self.with(|c| {
            c.query_row(
                &format!("SELECT {COLUMNS} FROM machines WHERE id = ?1 AND tenant_id = ?2"),
                params![id.as_str(), tenant_id],
                from_row,
            )
            .optional()?
            .transpose()
        })
    }

    /// A machine of any tenant (internal use: reaper, recovery).
    pub fn machine_by_id(&self, id: &MachineId) -> Result<Option<MachineRow>, StoreError> {
        self.with(|c| {
            c.query_row(
                &format!("SELECT {COLUMNS} FROM machines WHERE id = ?1"),
                params![id.as_str()],
                from_row,
            )
            .optional()?
            .transpose()
        })
    }

    /// One page of a tenant's machines, newest first; the bool says whether more follow.
    pub fn list_machines(
        &self,
        tenant_id: &str,
        f: &ListFilter,
    ) -> Result<(Vec<MachineRow>, bool), StoreError> {
        let mut sql = format!("SELECT {COLUMNS} FROM machines WHERE tenant_id = ?");
        let mut args: Vec<Box<dyn rusqlite::ToSql>> = vec![Box::new(tenant_id.to_owned())];
        if let Some(state) = f.state {
            sql.push_str(" AND state = ?");
            args.push(Box::new(state_str(state)));
        }
        if let Some(t) = &f.template {
            sql.push_str(" AND template = ?");
            args.push(Box::new(t.clone()));
        }
        self.page(sql, args, &f.page, from_row)
    }

    /// Set a machine's state (and its VMM pid if given).
    pub fn set_state(
        &self,
        id: &MachineId,
        state: MachineState,
        vmm_pid: Option<u32>,
        note: Option<&str>,
    ) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "UPDATE machines SET state = ?2, vmm_pid = COALESCE(?3, vmm_pid), note = COALESCE(?4, note) WHERE id = ?1",
                params![id.as_str(), state_str(state), vmm_pid, note],
            )?;
            Ok(())
        })
    }

    /// Set a machine's end time to `timeout_secs` from now.
    pub fn set_end(&self, id: &MachineId, timeout_secs: i64) -> Result<(), StoreError> {
        let (_, now_unix) = now();
        let end = now_unix + timeout_secs;
        self.with(|c| {
            c.execute(
                "UPDATE machines SET end_at = ?2, end_at_unix = ?3 WHERE id = ?1",
                params![id.as_str(), rfc3339(end), end],
            )?;
            Ok(())
        })
    }

    /// Set what happens at a machine's timeout.
    pub fn set_timeout_action(
        &self,
        id: &MachineId,
        action: TimeoutAction,
    ) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "UPDATE machines SET timeout_action = ?2 WHERE id = ?1",
                params![id.as_str(), action.as_str()],
            )?;
            Ok(())
        })
    }

    /// Move a machine from state `from` to `to`; false if it was not in `from`
    /// (another request got there first).
    pub fn swap_state(
        &self,
        id: &MachineId,
        from: MachineState,
        to: MachineState,
    ) -> Result<bool, StoreError> {
        self.with(|c| {
            let n = c.execute(
                "UPDATE machines SET state = ?3 WHERE id = ?1 AND state = ?2",
                params![id.as_str(), state_str(from), state_str(to)],
            )?;
            Ok(n == 1)
        })
    }

    /// Machines (not killed or failed) started from snapshot `id`.
    pub fn snapshot_users(&self, id: &SnapshotId) -> Result<Vec<MachineId>, StoreError> {
        self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT id FROM machines WHERE snapshot_id = ?1 AND state NOT IN ('killed', 'failed')",
            )?;
            let rows = stmt.query_map([id.as_str()], |r| r.get::<_, String>(0))?;
            let mut out = Vec::new();
            for r in rows {
                out.push(r?.parse().map_err(|_| StoreError::Corrupt("machine id"))?);
            }
            Ok(out)
        })
    }

    /// Running machines whose end time has passed.
    pub fn expired(&self, now_unix: i64) -> Result<Vec<MachineRow>, StoreError> {
        self.rows_where("state = 'running' AND end_at_unix <= ?1", now_unix)
    }

    /// Machines that were starting or running (for recovery after a restart).
    pub fn live_machines(&self) -> Result<Vec<MachineRow>, StoreError> {
        self.rows_where(
            "state IN ('starting', 'running', 'snapshotting', 'pausing', 'resuming', 'killing') AND ?1 = ?1",
            0,
        )
    }

    /// Machines that hold anything on the host: live ones and paused ones.
    pub fn held_machines(&self) -> Result<Vec<MachineRow>, StoreError> {
        self.rows_where(
            "state IN ('starting', 'running', 'snapshotting', 'pausing', 'paused', 'resuming', 'killing') AND ?1 = ?1",
            0,
        )
    }

    fn rows_where(&self, cond: &str, arg: i64) -> Result<Vec<MachineRow>, StoreError> {
        self.with(|c| {
            let mut stmt = c.prepare(&format!("SELECT {COLUMNS} FROM machines WHERE {cond}"))?;
            let rows = stmt.query_map([arg], from_row)?;
            let mut out = Vec::new();
            for r in rows {
                out.push(r??);
            }
            Ok(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(tenant: &str, key: Option<&str>, meta: &[(&str, &str)]) -> NewMachine {
        NewMachine {
            tenant_id: tenant.into(),
            template: "base".into(),
            cpu_count: 1,
            memory_mb: 512,
            metadata: meta
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            envs: BTreeMap::new(),
            cwd: "/workspace".into(),
            timeout_secs: 300,
            idempotency_key: key.map(str::to_owned),
            timeout_action: TimeoutAction::Kill,
            auto_resume: false,
            snapshot_id: None,
            forked_from: None,
        }
    }

    #[test]
    fn idempotency_tenancy_filters_and_pages() {
        let s = Store::in_memory().unwrap();
        let t1 = s.create_key("one").unwrap().tenant_id;
        let t2 = s.create_key("two").unwrap().tenant_id;
        let a = MachineId::random();
        let (row, fresh) = s
            .insert_machine(&a, &new(&t1, Some("k"), &[("team", "eval")]))
            .unwrap();
        assert!(fresh);
        assert_eq!(row.state, MachineState::Starting);
        let (again, fresh) = s
            .insert_machine(&MachineId::random(), &new(&t1, Some("k"), &[]))
            .unwrap();
        assert!(!fresh);
        assert_eq!(again.id, a);
        // Same key, other tenant: a new machine.
        assert!(
            s.insert_machine(&MachineId::random(), &new(&t2, Some("k"), &[]))
                .unwrap()
                .1
        );
        assert!(
            s.get_machine(&t2, &a).unwrap().is_none(),
            "other tenant sees nothing"
        );
        for i in 0..5 {
            let m = new(&t1, None, &[("i", &i.to_string())]);
            s.insert_machine(&MachineId::random(), &m).unwrap();
        }
        s.set_state(&a, MachineState::Running, Some(42), None)
            .unwrap();
        let page = |limit, metadata: Vec<(String, String)>| crate::store::Page {
            limit,
            metadata,
            before_seq: None,
        };
        let mut f = ListFilter {
            page: page(2, vec![]),
            ..Default::default()
        };
        let mut seen = Vec::new();
        loop {
            let (page, more) = s.list_machines(&t1, &f).unwrap();
            seen.extend(page.iter().map(|r| r.id.clone()));
            if !more {
                break;
            }
            f.page.before_seq = Some(page.last().unwrap().seq);
        }
        assert_eq!(seen.len(), 6);
        assert_eq!(seen.last().unwrap(), &a, "newest first");
        let f = ListFilter {
            page: page(10, vec![("team".into(), "eval".into())]),
            ..Default::default()
        };
        assert_eq!(s.list_machines(&t1, &f).unwrap().0.len(), 1);
        let f = ListFilter {
            page: page(10, vec![]),
            state: Some(MachineState::Running),
            ..Default::default()
        };
        let running = s.list_machines(&t1, &f).unwrap().0;
        assert_eq!(running.len(), 1);
        assert_eq!(running[0].vmm_pid, Some(42));
        s.set_end(&a, -1).unwrap();
        assert_eq!(s.expired(now().1).unwrap().len(), 1);
    }
}
