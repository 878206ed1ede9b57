//! Snapshot rows.

use std::collections::BTreeMap;

use nullspace_types::{MachineId, SnapshotId};
use rusqlite::{params, OptionalExtension, Row};

use super::{now, Store, StoreError};

/// A snapshot as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotRow {
    /// Insertion order (cursor of pagination).
    pub seq: i64,
    /// Snapshot id.
    pub id: SnapshotId,
    /// Owning tenant.
    pub tenant_id: String,
    /// Machine it was taken from.
    pub machine_id: MachineId,
    /// Template of that machine.
    pub template: String,
    /// vCPUs.
    pub cpu_count: u32,
    /// Memory in MiB.
    pub memory_mb: u64,
    /// Labels.
    pub metadata: BTreeMap<String, String>,
    /// Environment of the source, inherited by machines started from it.
    pub envs: BTreeMap<String, String>,
    /// Working directory of the source, inherited likewise.
    pub cwd: String,
    /// Bytes on disk.
    pub size_bytes: u64,
    /// How long the source was stopped, ms.
    pub source_stall_ms: u64,
    /// Creation time, RFC 3339.
    pub created_at: String,
    /// Network settings of the source, inherited by machines started from it.
    pub network: super::Network,
}

impl SnapshotRow {
    /// The API view of the row.
    pub fn to_api(&self) -> nullspace_api::Snapshot {
        nullspace_api::Snapshot {
            id: self.id.clone(),
            machine_id: self.machine_id.clone(),
            template: self.template.clone(),
            cpu_count: self.cpu_count,
            memory_mb: self.memory_mb,
            metadata: self.metadata.clone(),
            size_bytes: self.size_bytes,
            source_stall_ms: self.source_stall_ms,
            created_at: self.created_at.clone(),
        }
    }
}

/// A snapshot to record once its files are complete.
#[derive(Debug, Clone)]
pub struct NewSnapshot {
    /// Snapshot id.
    pub id: SnapshotId,
    /// Owning tenant.
    pub tenant_id: String,
    /// Machine it was taken from.
    pub machine_id: MachineId,
    /// Template of that machine.
    pub template: String,
    /// vCPUs.
    pub cpu_count: u32,
    /// Memory in MiB.
    pub memory_mb: u64,
    /// Labels.
    pub metadata: BTreeMap<String, String>,
    /// Environment of the source.
    pub envs: BTreeMap<String, String>,
    /// Working directory of the source.
    pub cwd: String,
    /// Bytes on disk.
    pub size_bytes: u64,
    /// How long the source was stopped, ms.
    pub source_stall_ms: u64,
    /// Network settings of the source.
    pub network: super::Network,
}

/// Filters of a snapshot list.
#[derive(Debug, Clone, Default)]
pub struct SnapshotFilter {
    /// Only snapshots of this machine.
    pub machine_id: Option<MachineId>,
    /// Metadata pairs, cursor and page size.
    pub page: super::Page,
}

const COLUMNS: &str = "seq, id, tenant_id, machine_id, template, cpu_count, memory_mb, metadata, envs, cwd, size_bytes, source_stall_ms, created_at, network";

fn from_row(r: &Row<'_>) -> rusqlite::Result<Result<SnapshotRow, StoreError>> {
    let id: String = r.get(1)?;
    let machine: String = r.get(3)?;
    let metadata: String = r.get(7)?;
    let envs: String = r.get(8)?;
    let network: String = r.get(13)?;
    let build = || -> Result<SnapshotRow, StoreError> {
        Ok(SnapshotRow {
            seq: r.get(0)?,
            id: id.parse().map_err(|_| StoreError::Corrupt("snapshot id"))?,
            tenant_id: r.get(2)?,
            machine_id: machine
                .parse()
                .map_err(|_| StoreError::Corrupt("machine id"))?,
            template: r.get(4)?,
            cpu_count: r.get(5)?,
            memory_mb: r.get(6)?,
            metadata: serde_json::from_str(&metadata)?,
            envs: serde_json::from_str(&envs)?,
            cwd: r.get(9)?,
            size_bytes: r.get::<_, i64>(10)? as u64,
            source_stall_ms: r.get::<_, i64>(11)? as u64,
            created_at: r.get(12)?,
            network: super::Network::from_column(&network)?,
        })
    };
    Ok(build())
}

impl Store {
    /// Record a complete snapshot.
    pub fn insert_snapshot(&self, s: &NewSnapshot) -> Result<SnapshotRow, StoreError> {
        let (created_at, _) = now();
        self.with(|c| {
            c.execute(
                "INSERT INTO snapshots (id, tenant_id, machine_id, template, cpu_count, memory_mb,
                    metadata, envs, cwd, size_bytes, source_stall_ms, created_at, network)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                params![
                    s.id.as_str(),
                    s.tenant_id,
                    s.machine_id.as_str(),
                    s.template,
                    s.cpu_count,
                    s.memory_mb,
                    serde_json::to_string(&s.metadata)?,
                    serde_json::to_string(&s.envs)?,
                    s.cwd,
                    s.size_bytes as i64,
                    s.source_stall_ms as i64,
                    created_at,
                    s.network.to_column(),
                ],
            )?;
            c.query_row(
                &format!("SELECT {COLUMNS} FROM snapshots WHERE id = ?1"),
                [s.id.as_str()],
                from_row,
            )?
        })
    }

    /// A snapshot of `tenant_id` (None for unknown ids and other tenants' snapshots).
    pub fn get_snapshot(
        &self,
        tenant_id: &str,
        id: &SnapshotId,
    ) -> Result<Option<SnapshotRow>, StoreError> {
        self.with(|c| {
            c.query_row(
                &format!("SELECT {COLUMNS} FROM snapshots WHERE id = ?1 AND tenant_id = ?2"),
                params![id.as_str(), tenant_id],
                from_row,
            )
            .optional()?
            .transpose()
        })
    }

    /// One page of a tenant's snapshots, newest first; the bool says whether more follow.
    pub fn list_snapshots(
        &self,
        tenant_id: &str,
        f: &SnapshotFilter,
    ) -> Result<(Vec<SnapshotRow>, bool), StoreError> {
        let mut sql = format!("SELECT {COLUMNS} FROM snapshots WHERE tenant_id = ?");
        let mut args: Vec<Box<dyn rusqlite::ToSql>> = vec![Box::new(tenant_id.to_owned())];
        if let Some(m) = &f.machine_id {
            sql.push_str(" AND machine_id = ?");
            args.push(Box::new(m.as_str().to_owned()));
        }
        self.page(sql, args, &f.page, from_row)
    }

    /// Forget a snapshot.
    pub fn delete_snapshot(&self, id: &SnapshotId) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute("DELETE FROM snapshots WHERE id = ?1", [id.as_str()])?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(tenant: &str, machine: &MachineId, meta: &[(&str, &str)]) -> NewSnapshot {
        NewSnapshot {
            id: SnapshotId::random(),
            tenant_id: tenant.into(),
            machine_id: machine.clone(),
            template: "base".into(),
            cpu_count: 1,
            memory_mb: 512,
            metadata: meta
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            envs: BTreeMap::new(),
            cwd: "/workspace".into(),
            size_bytes: 10,
            source_stall_ms: 5,
            network: Default::default(),
        }
    }

    #[test]
    fn tenancy_filters_pages_and_delete() {
        let s = Store::in_memory().unwrap();
        let t1 = s.create_key("one").unwrap().tenant_id;
        let t2 = s.create_key("two").unwrap().tenant_id;
        let (m1, m2) = (MachineId::random(), MachineId::random());
        let a = s
            .insert_snapshot(&snap(&t1, &m1, &[("purpose", "checkpoint")]))
            .unwrap();
        s.insert_snapshot(&snap(&t1, &m2, &[])).unwrap();
        s.insert_snapshot(&snap(&t1, &m1, &[])).unwrap();
        assert!(s.get_snapshot(&t2, &a.id).unwrap().is_none());
        assert_eq!(s.get_snapshot(&t1, &a.id).unwrap().unwrap(), a);
        let f = |machine: Option<&MachineId>, meta: &[(&str, &str)], limit| SnapshotFilter {
            machine_id: machine.cloned(),
            page: crate::store::Page {
                metadata: meta
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                limit,
                before_seq: None,
            },
        };
        assert_eq!(
            s.list_snapshots(&t1, &f(Some(&m1), &[], 10))
                .unwrap()
                .0
                .len(),
            2
        );
        let by_meta = s
            .list_snapshots(&t1, &f(None, &[("purpose", "checkpoint")], 10))
            .unwrap()
            .0;
        assert_eq!(by_meta.len(), 1);
        assert_eq!(by_meta[0].id, a.id);
        let (page, more) = s.list_snapshots(&t1, &f(None, &[], 2)).unwrap();
        assert!(more);
        assert_eq!(page.len(), 2);
        assert!(s
            .list_snapshots(&t2, &f(None, &[], 10))
            .unwrap()
            .0
            .is_empty());
        s.delete_snapshot(&a.id).unwrap();
        assert!(s.get_snapshot(&t1, &a.id).unwrap().is_none());
    }
}
