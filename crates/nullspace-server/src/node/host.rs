//! The in-process host runtime as a node.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use nullspace_guest_proto::{EntryInfo, ExecRequest, GuestMetrics, Op, OpResult};
use nullspace_host::agent::{ExecOutput, WriteOptions};
use nullspace_host::{Machine, Runtime, RuntimeError, Template};
use nullspace_types::{MachineId, MachineState, SnapshotId};

use super::{Node, SnapshotFacts, TemplateShape};

/// How long the CPU of a machine is sampled for its metrics.
const METRICS_SAMPLE: std::time::Duration = std::time::Duration::from_millis(200);

/// Machines on this host, through [`Runtime`].
pub struct HostNode {
    runtime: Runtime,
    templates: HashMap<String, Template>,
}

impl HostNode {
    /// A node over `runtime` offering `templates`.
    pub fn new(runtime: Runtime, templates: Vec<Template>) -> Self {
        let templates = templates.into_iter().map(|t| (t.name.clone(), t)).collect();
        Self { runtime, templates }
    }

    fn machine(&self, id: &MachineId) -> Result<Arc<Machine>, RuntimeError> {
        self.runtime.machine(id)
    }
}

#[async_trait]
impl Node for HostNode {
    fn template(&self, name: &str) -> Option<TemplateShape> {
        self.templates.get(name).map(|t| TemplateShape {
            cpu_count: t.vcpus,
            memory_mb: t.memory_mib,
        })
    }

    async fn create(&self, id: MachineId, template: &str) -> Result<u32, RuntimeError> {
        let t = self
            .templates
            .get(template)
            .ok_or_else(|| RuntimeError::Template {
                name: template.into(),
                reason: "no such template".into(),
            })?;
        let m = self.runtime.create_machine_as(id, t).await?;
        Ok(m.vmm_pid())
    }

    async fn create_from_snapshot(
        &self,
        id: MachineId,
        snapshot: &SnapshotId,
    ) -> Result<u32, RuntimeError> {
        Ok(self
            .runtime
            .restore_snapshot_as(id, snapshot)
            .await?
            .vmm_pid())
    }

    async fn fork(
        &self,
        id: &MachineId,
        children: Vec<MachineId>,
    ) -> Result<(Vec<u32>, u64), RuntimeError> {
        let fork = self.runtime.fork(id, children).await?;
        Ok((
            fork.children.iter().map(|m| m.vmm_pid()).collect(),
            fork.stall_ms,
        ))
    }

    async fn snapshot(
        &self,
        id: &MachineId,
        snapshot: SnapshotId,
    ) -> Result<SnapshotFacts, RuntimeError> {
        let info = self.runtime.snapshot_as(snapshot, id).await?;
        Ok(SnapshotFacts {
            size_bytes: info.size_bytes(),
            stall_ms: info.pause_ms,
        })
    }

    async fn delete_snapshot(&self, snapshot: &SnapshotId) -> Result<(), RuntimeError> {
        self.runtime.delete_snapshot(snapshot)
    }

    async fn metrics(&self, id: &MachineId) -> Result<GuestMetrics, RuntimeError> {
        let m = self.machine(id)?;
        let r = m.agent()?.metrics(METRICS_SAMPLE).await;
        m.check(r).await
    }

    async fn recover_paused(&self, id: &MachineId) -> bool {
        self.runtime.recover_paused(id).await
    }

    async fn pause(&self, id: &MachineId) -> Result<(), RuntimeError> {
        self.runtime.pause(id).await
    }

    async fn resume(&self, id: &MachineId) -> Result<u32, RuntimeError> {
        Ok(self.runtime.resume(id).await?.vmm_pid())
    }

    async fn kill(&self, id: &MachineId) -> Result<(), RuntimeError> {
        match self.runtime.destroy(id).await {
            // Paused machines have no live handle: remove their files.
            Err(RuntimeError::MachineNotFound(_)) if self.runtime.is_paused(id) => {
                self.runtime.discard(id).await;
                Ok(())
            }
            other => other,
        }
    }

    async fn exec(
        &self,
        id: &MachineId,
        req: ExecRequest,
        stdin: Option<Vec<u8>>,
    ) -> Result<ExecOutput, RuntimeError> {
        self.machine(id)?.exec(req, stdin.as_deref()).await
    }

    async fn read_file(&self, id: &MachineId, path: &str) -> Result<Vec<u8>, RuntimeError> {
        let m = self.machine(id)?;
        let r = m.agent()?.read_file(path, 0, None).await;
        m.check(r).await
    }

    async fn write_file(
        &self,
        id: &MachineId,
        path: &str,
        data: Vec<u8>,
        opts: WriteOptions,
    ) -> Result<EntryInfo, RuntimeError> {
        let m = self.machine(id)?;
        let r = m.agent()?.write_file(path, &data, opts).await;
        m.check(r).await
    }

    async fn file_op(&self, id: &MachineId, op: Op) -> Result<OpResult, RuntimeError> {
        let m = self.machine(id)?;
        let r = m.agent()?.file_op(op).await;
        m.check(r).await
    }

    async fn adopt(&self, id: &MachineId) -> Result<u32, RuntimeError> {
        Ok(self.runtime.adopt(id).await?.vmm_pid())
    }

    async fn discard(&self, id: &MachineId) {
        self.runtime.discard(id).await;
    }

    fn is_alive(&self, id: &MachineId) -> bool {
        self.machine(id)
            .map(|m| m.state() == MachineState::Running)
            .unwrap_or(false)
    }

    fn detach(&self) {
        self.runtime.detach_all();
    }

    async fn shutdown(&self) {
        for e in self.runtime.shutdown().await {
            tracing::warn!(error = %e, "machine teardown at shutdown");
        }
    }
}
