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
    /// End time, Unix seconds (for killed and failed machines, when they ended).
    pub end_at_unix: i64,
    /// What happens at the timeout.
    pub timeout_action: TimeoutAction,
    /// Whether requests wake the machine when paused.
    pub auto_resume: bool,
    /// Snapshot it was started from.
    pub snapshot_id: Option<SnapshotId>,
    /// Machine it was forked from.
    pub forked_from: Option<MachineId>,
    /// Why it failed.
    pub failure_reason: Option<String>,
    /// Outbound policy and preview access.
    pub network: super::Network,
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
            failure_reason: self
                .failure_reason
                .clone()
                .filter(|_| self.state == MachineState::Failed),
            network: self.network.to_api(),
            internet_access: self.network.egress.internet_access,
            traffic_access_token: None,
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
    /// Idempotency key and a hash of the request it came with.
    pub idempotency: Option<(String, String)>,
    /// What happens at the timeout.
    pub timeout_action: TimeoutAction,
    /// Whether requests wake the machine when paused.
    pub auto_resume: bool,
    /// Snapshot it starts from.
    pub snapshot_id: Option<SnapshotId>,
    /// Machine it is forked from.
    pub forked_from: Option<MachineId>,
    /// Outbound policy and preview access.
    pub network: super::Network,
}

/// What recording a new machine did.
#[derive(Debug, Clone, PartialEq)]
pub enum Inserted {
    /// A new row, state `starting`.
    New(MachineRow),
    /// The idempotency key was used before with the same request: that machine.
    Existing(MachineRow),
    /// The idempotency key was used before with another request.
    KeyReused,
}

/// Filters of a list.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only machines in these states (none: every state but killed and failed).
    pub states: Vec<MachineState>,
    /// Only machines of this template.
    pub template: Option<String>,
    /// Metadata pairs, cursor and page size.
    pub page: super::Page,
}

/// What a state change writes besides the state.
#[derive(Debug, Clone, Default)]
pub struct Change {
    /// Why the machine failed (with `Failed`).
    pub failure_reason: Option<String>,
    /// Record now as the machine's end (for `Killed` and `Failed`).
    pub ended: bool,
    /// If the machine's end has passed, give it this many seconds from now (in
    /// the same write, so the reaper never sees it running past its end).
    pub renew_if_passed: Option<i64>,
}

/// Outcome of [`Store::transition`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moved {
    /// The machine moved; its state before.
    From(MachineState),
    /// The machine was in another state (or gone: `None`) and was left as it was.
    Not(Option<MachineState>),
}

const COLUMNS: &str = "seq, id, tenant_id, template, state, cpu_count, memory_mb, metadata, envs, cwd, created_at, end_at_unix, timeout_action, auto_resume, snapshot_id, forked_from, failure_reason, network";

/// States that hold something on the host (all but killed and failed).
const LIVE: &str =
    "('starting', 'running', 'snapshotting', 'pausing', 'paused', 'resuming', 'killing')";

fn from_row(r: &Row<'_>) -> rusqlite::Result<Result<MachineRow, StoreError>> {
    let id: String = r.get(1)?;
    let state: String = r.get(4)?;
    let metadata: String = r.get(7)?;
    let envs: String = r.get(8)?;
    let action: String = r.get(12)?;
    let snapshot: Option<String> = r.get(14)?;
    let forked: Option<String> = r.get(15)?;
    let network: String = r.get(17)?;
    let build = || -> Result<MachineRow, StoreError> {
        Ok(MachineRow {
            seq: r.get(0)?,
            id: id.parse().map_err(|_| StoreError::Corrupt("machine id"))?,
            tenant_id: r.get(2)?,
            template: r.get(3)?,
            state: state
                .parse()
                .map_err(|_| StoreError::Corrupt("machine state"))?,
            cpu_count: r.get(5)?,
            memory_mb: r.get(6)?,
            metadata: serde_json::from_str(&metadata)?,
            envs: serde_json::from_str(&envs)?,
            cwd: r.get(9)?,
            created_at: r.get(10)?,
            end_at_unix: r.get(11)?,
            timeout_action: match action.as_str() {
                "kill" => TimeoutAction::Kill,
                "pause" => TimeoutAction::Pause,
                _ => return Err(StoreError::Corrupt("timeout action")),
            },
            auto_resume: r.get(13)?,
            snapshot_id: snapshot
                .map(|s| s.parse())
                .transpose()
                .map_err(|_| StoreError::Corrupt("snapshot id"))?,
            forked_from: forked
                .map(|s| s.parse())
                .transpose()
                .map_err(|_| StoreError::Corrupt("machine id"))?,
            failure_reason: r.get(16)?,
            network: super::Network::from_column(&network)?,
        })
    };
    Ok(build())
}

impl Store {
    /// Record a new machine in state `starting`, unless its idempotency key was
    /// used by this tenant before (see [`Inserted`]).
    pub fn insert_machine(&self, id: &MachineId, m: &NewMachine) -> Result<Inserted, StoreError> {
        let (created_at, now_unix) = now();
        self.with(|c| {
            let tx = c.transaction()?;
            if let Some((key, hash)) = &m.idempotency {
                let existing = tx
                    .query_row(
                        &format!("SELECT {COLUMNS}, idempotency_hash FROM machines WHERE tenant_id = ?1 AND idempotency_key = ?2"),
                        params![m.tenant_id, key],
                        |r| Ok((from_row(r)?, r.get::<_, Option<String>>(18)?)),
                    )
                    .optional()?;
                if let Some((row, stored)) = existing {
                    // Rows made before hashes were kept match any request.
                    if stored.is_some_and(|s| s != *hash) {
                        return Ok(Inserted::KeyReused);
                    }
                    return Ok(Inserted::Existing(row?));
                }
            }
            tx.execute(
                "INSERT INTO machines (id, tenant_id, template, state, cpu_count, memory_mb, metadata, envs, cwd,
                    created_at, end_at, end_at_unix, idempotency_key, idempotency_hash, timeout_action,
                    auto_resume, snapshot_id, forked_from, network)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)",
                params![
                    id.as_str(),
                    m.tenant_id,
                    m.template,
                    MachineState::Starting.as_str(),
                    m.cpu_count,
                    m.memory_mb,
                    serde_json::to_string(&m.metadata)?,
                    serde_json::to_string(&m.envs)?,
                    m.cwd,
                    created_at,
                    rfc3339(now_unix + m.timeout_secs),
                    now_unix + m.timeout_secs,
                    m.idempotency.as_ref().map(|(k, _)| k),
                    m.idempotency.as_ref().map(|(_, h)| h),
                    m.timeout_action.as_str(),
                    m.auto_resume,
                    m.snapshot_id.as_ref().map(|s| s.as_str()),
                    m.forked_from.as_ref().map(|s| s.as_str()),
                    m.network.to_column(),
                ],
            )?;
            let row = tx.query_row(
                &format!("SELECT {COLUMNS} FROM machines WHERE id = ?1"),
                [id.as_str()],
                from_row,
            )??;
            tx.commit()?;
            Ok(Inserted::New(row))
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
        if f.states.is_empty() {
            sql.push_str(&format!(" AND state IN {LIVE}"));
        } else {
            let marks = vec!["?"; f.states.len()].join(", ");
            sql.push_str(&format!(" AND state IN ({marks})"));
            args.extend(
                f.states
                    .iter()
                    .map(|s| Box::new(s.as_str()) as Box<dyn rusqlite::ToSql>),
            );
        }
        if let Some(t) = &f.template {
            sql.push_str(" AND template = ?");
            args.push(Box::new(t.clone()));
        }
        self.page(sql, args, &f.page, from_row)
    }

    /// Move machine `id` to `to` if its state is one of `from`, writing `change`
    /// with it; the check and the write are one step, so two requests never both
    /// win the same change.
    pub fn transition(
        &self,
        id: &MachineId,
        from: &[MachineState],
        to: MachineState,
        change: &Change,
    ) -> Result<Moved, StoreError> {
        let (_, now_unix) = now();
        self.with(|c| {
            let tx = c.transaction()?;
            let current: Option<String> = tx
                .query_row(
                    "SELECT state FROM machines WHERE id = ?1",
                    [id.as_str()],
                    |r| r.get(0),
                )
                .optional()?;
            let current = current
                .map(|s| s.parse::<MachineState>())
                .transpose()
                .map_err(|_| StoreError::Corrupt("machine state"))?;
            let Some(prev) = current.filter(|s| from.contains(s)) else {
                return Ok(Moved::Not(current));
            };
            let renewed = change.renew_if_passed.map(|secs| now_unix + secs);
            tx.execute(
                "UPDATE machines SET state = ?2,
                    failure_reason = COALESCE(?3, failure_reason),
                    end_at = CASE WHEN ?4 THEN ?5
                        WHEN ?7 IS NOT NULL AND end_at_unix <= ?6 THEN ?8 ELSE end_at END,
                    end_at_unix = CASE WHEN ?4 THEN ?6
                        WHEN ?7 IS NOT NULL AND end_at_unix <= ?6 THEN ?7 ELSE end_at_unix END
                 WHERE id = ?1",
                params![
                    id.as_str(),
                    to.as_str(),
                    change.failure_reason,
                    change.ended,
                    rfc3339(now_unix),
                    now_unix,
                    renewed,
                    renewed.map(rfc3339),
                ],
            )?;
            tx.commit()?;
            Ok(Moved::From(prev))
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

    /// Machines whose state says they hold something on the host (recovery after
    /// a restart, and a stop that destroys everything).
    pub fn held_machines(&self) -> Result<Vec<MachineRow>, StoreError> {
        self.rows_where(&format!("state IN {LIVE} AND ?1 = ?1"), 0)
    }

    /// Delete the records of killed and failed machines that ended before
    /// `before_unix`; returns their ids.
    pub fn purge_history(&self, before_unix: i64) -> Result<Vec<MachineId>, StoreError> {
        self.with(|c| {
            let tx = c.transaction()?;
            let ids = {
                let mut stmt = tx.prepare(
                    "DELETE FROM machines WHERE state IN ('killed', 'failed') AND end_at_unix < ?1
                     RETURNING id",
                )?;
                let rows = stmt.query_map([before_unix], |r| r.get::<_, String>(0))?;
                let mut ids = Vec::new();
                for r in rows {
                    ids.push(r?.parse().map_err(|_| StoreError::Corrupt("machine id"))?);
                }
                ids
            };
            tx.commit()?;
            Ok(ids)
        })
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

    fn new(tenant: &str, key: Option<(&str, &str)>, meta: &[(&str, &str)]) -> NewMachine {
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
            idempotency: key.map(|(k, h)| (k.to_owned(), h.to_owned())),
            timeout_action: TimeoutAction::Kill,
            auto_resume: false,
            snapshot_id: None,
            forked_from: None,
            network: Default::default(),
        }
    }

    fn insert(s: &Store, m: &NewMachine) -> MachineRow {
        match s.insert_machine(&MachineId::random(), m).unwrap() {
            Inserted::New(row) => row,
            other => panic!("expected a new row, got {other:?}"),
        }
    }

    #[test]
    fn a_transition_can_renew_a_passed_end_in_the_same_write() {
        let s = Store::in_memory().unwrap();
        let t = s.create_key("one").unwrap().tenant_id;
        let m = insert(&s, &new(&t, None, &[]));
        s.set_end(&m.id, -5).unwrap();
        let renew = Change {
            renew_if_passed: Some(300),
            ..Default::default()
        };
        let moved = s
            .transition(
                &m.id,
                &[MachineState::Starting],
                MachineState::Running,
                &renew,
            )
            .unwrap();
        assert_eq!(moved, Moved::From(MachineState::Starting));
        let row = s.machine_by_id(&m.id).unwrap().unwrap();
        let now_unix = now().1;
        assert!(
            row.end_at_unix >= now_unix + 299,
            "renewed: {}",
            row.end_at_unix
        );
        // An end still ahead is kept.
        s.set_end(&m.id, 1000).unwrap();
        let before = s.machine_by_id(&m.id).unwrap().unwrap().end_at_unix;
        s.transition(
            &m.id,
            &[MachineState::Running],
            MachineState::Pausing,
            &renew,
        )
        .unwrap();
        assert_eq!(s.machine_by_id(&m.id).unwrap().unwrap().end_at_unix, before);
    }

    #[test]
    fn idempotency_tenancy_filters_and_pages() {
        let s = Store::in_memory().unwrap();
        let t1 = s.create_key("one").unwrap().tenant_id;
        let t2 = s.create_key("two").unwrap().tenant_id;
        let a = insert(&s, &new(&t1, Some(("k", "h1")), &[("team", "eval")]));
        assert_eq!(a.state, MachineState::Starting);
        let again = s
            .insert_machine(&MachineId::random(), &new(&t1, Some(("k", "h1")), &[]))
            .unwrap();
        assert_eq!(again, Inserted::Existing(a.clone()));
        let reused = s
            .insert_machine(&MachineId::random(), &new(&t1, Some(("k", "h2")), &[]))
            .unwrap();
        assert_eq!(reused, Inserted::KeyReused, "same key, other request");
        // Same key, other tenant: a new machine.
        insert(&s, &new(&t2, Some(("k", "h2")), &[]));
        assert!(
            s.get_machine(&t2, &a.id).unwrap().is_none(),
            "other tenant sees nothing"
        );
        for i in 0..5 {
            insert(&s, &new(&t1, None, &[("i", &i.to_string())]));
        }
        let running = Change::default();
        assert_eq!(
            s.transition(
                &a.id,
                &[MachineState::Starting],
                MachineState::Running,
                &running
            )
            .unwrap(),
            Moved::From(MachineState::Starting)
        );
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
        assert_eq!(seen.last().unwrap(), &a.id, "newest first");
        let f = ListFilter {
            page: page(10, vec![("team".into(), "eval".into())]),
            ..Default::default()
        };
        assert_eq!(s.list_machines(&t1, &f).unwrap().0.len(), 1);
        let f = ListFilter {
            page: page(10, vec![]),
            states: vec![MachineState::Running],
            ..Default::default()
        };
        let running = s.list_machines(&t1, &f).unwrap().0;
        assert_eq!(running.len(), 1);
        assert_eq!(running[0].id, a.id);
        s.set_end(&a.id, -1).unwrap();
        assert_eq!(s.expired(now().1).unwrap().len(), 1);
    }

    #[test]
    fn transitions_are_compare_and_swap_and_history_is_listed_on_request() {
        let s = Store::in_memory().unwrap();
        let t = s.create_key("one").unwrap().tenant_id;
        let a = insert(&s, &new(&t, None, &[]));
        let b = insert(&s, &new(&t, None, &[]));
        let none = Change::default();
        let kill = |id| s.transition(id, &[MachineState::Starting], MachineState::Killing, &none);
        assert_eq!(kill(&a.id).unwrap(), Moved::From(MachineState::Starting));
        // The create that started it loses: the row is no longer starting.
        assert_eq!(
            s.transition(
                &a.id,
                &[MachineState::Starting],
                MachineState::Running,
                &none
            )
            .unwrap(),
            Moved::Not(Some(MachineState::Killing))
        );
        assert_eq!(
            s.transition(
                &MachineId::random(),
                &[MachineState::Starting],
                MachineState::Running,
                &none
            )
            .unwrap(),
            Moved::Not(None)
        );
        let ended = Change {
            ended: true,
            ..Default::default()
        };
        s.transition(
            &a.id,
            &[MachineState::Killing],
            MachineState::Killed,
            &ended,
        )
        .unwrap();
        let failed = Change {
            failure_reason: Some("VM died".into()),
            ended: true,
            ..Default::default()
        };
        s.transition(
            &b.id,
            &[MachineState::Starting],
            MachineState::Failed,
            &failed,
        )
        .unwrap();
        let b = s.get_machine(&t, &b.id).unwrap().unwrap();
        assert_eq!(b.to_api().failure_reason.as_deref(), Some("VM died"));
        assert!(b.end_at_unix <= now().1, "a failed machine ended now");
        let live = ListFilter {
            page: crate::store::Page {
                limit: 10,
                ..Default::default()
            },
            ..Default::default()
        };
        assert!(
            s.list_machines(&t, &live).unwrap().0.is_empty(),
            "killed and failed are hidden"
        );
        let history = ListFilter {
            states: vec![MachineState::Killed, MachineState::Failed],
            ..live.clone()
        };
        assert_eq!(s.list_machines(&t, &history).unwrap().0.len(), 2);
        assert!(
            s.purge_history(now().1 - 60).unwrap().is_empty(),
            "kept within retention"
        );
        assert_eq!(s.purge_history(now().1 + 1).unwrap().len(), 2);
        assert!(s.list_machines(&t, &history).unwrap().0.is_empty());
    }
}
