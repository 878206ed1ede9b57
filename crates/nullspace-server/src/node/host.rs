//! The in-process host runtime as a node.

use std::collections::HashMap;
use std::sync::Arc;

use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use nullspace_guest_proto::{
    EntryInfo, ExecRequest, GuestMetrics, GuestMsg, Op, OpResult, ProcessAttach, ProcessInfo,
    ProcessStart, PtySize, Selector,
};
use nullspace_host::agent::{AgentError, ExecOutput};
use nullspace_host::{Machine, Runtime, RuntimeError, Template};
use nullspace_types::{MachineId, MachineState, SnapshotId};

use super::{
    AttachStream, FileRead, FileWrite, Node, NodeEvent, SnapshotFacts, TemplateShape, Upload,
};

/// How long the CPU of a machine is sampled for its metrics.
const METRICS_SAMPLE: Duration = Duration::from_millis(200);
/// Longest wait for the guest to take one chunk of an upload or to finish a file
/// call once its input is complete.
const FILE_STEP: Duration = Duration::from_secs(60);

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
            // Nothing live (paused, failed, or a start that never finished): remove
            // whatever is left of it on this host.
            Err(RuntimeError::MachineNotFound(_)) => {
                self.runtime.discard(id, false).await;
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

    async fn read_file(&self, id: &MachineId, read: FileRead) -> Result<Vec<u8>, RuntimeError> {
        let m = self.machine(id)?;
        let op = Op::ReadFile {
            path: read.path,
            root: None,
            offset: read.offset,
            limit: Some(read.limit),
            user: read.user,
        };
        let timeout = FILE_STEP + Duration::from_millis(read.limit / 2048);
        let r = m.agent()?.request("read_file", op, timeout).await;
        m.check(r.map(|(_, data)| data)).await
    }

    async fn write_file(
        &self,
        id: &MachineId,
        write: FileWrite,
        mut body: Upload,
    ) -> Result<EntryInfo, RuntimeError> {
        let m = self.machine(id)?;
        let op = Op::WriteFile {
            path: write.path,
            root: None,
            mode: write.mode,
            owner: write.owner,
            create_parents: true,
            append: false,
            user: write.user,
        };
        let step = |what: &'static str| AgentError::Timeout {
            what,
            after: FILE_STEP,
        };
        let mut call = m.agent()?.start(op).await.map_err(RuntimeError::from)?;
        // Chunks go to the guest as they arrive; the agent's bounded queue holds
        // the upload back when the guest is slower, so memory stays flat.
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(why) => {
                    let _ = call.cancel().await;
                    return Err(RuntimeError::InputAborted(why));
                }
            };
            let sent = tokio::time::timeout(FILE_STEP, call.input(&chunk))
                .await
                .map_err(|_| step("write_file input"))
                .and_then(|r| r);
            if let Err(e) = sent {
                return m.check(Err(e)).await;
            }
            // A guest that refused the write (no rights, no space) says so early.
            if let Some(frame) = call.try_next() {
                let e = match frame.msg {
                    GuestMsg::Failed { error, .. } => error.into(),
                    other => AgentError::Protocol(format!("{other:?}")),
                };
                return m.check(Err(e)).await;
            }
        }
        let done = async {
            call.input_end().await?;
            match call.next().await?.msg {
                GuestMsg::Done {
                    result: OpResult::Entry(e),
                    ..
                } => Ok(e),
                GuestMsg::Failed { error, .. } => Err(error.into()),
                other => Err(AgentError::Protocol(format!("{other:?}"))),
            }
        };
        let r = tokio::time::timeout(FILE_STEP, done)
            .await
            .unwrap_or_else(|_| Err(step("write_file")));
        m.check(r).await
    }

    async fn process_start(
        &self,
        id: &MachineId,
        start: ProcessStart,
    ) -> Result<ProcessInfo, RuntimeError> {
        let m = self.machine(id)?;
        let r = m.agent()?.process_start(start).await;
        m.check(r).await
    }

    async fn process_list(&self, id: &MachineId) -> Result<Vec<ProcessInfo>, RuntimeError> {
        let m = self.machine(id)?;
        let r = m.agent()?.process_list().await;
        m.check(r).await
    }

    async fn process_attach(
        &self,
        id: &MachineId,
        attach: ProcessAttach,
    ) -> Result<AttachStream, RuntimeError> {
        let m = self.machine(id)?;
        let r = m.agent()?.process_attach(attach).await;
        let reader = m.check(r).await?;
        let events = futures_util::stream::unfold(Some((reader, m)), |st| async move {
            let (mut reader, m) = st?;
            match reader.next().await {
                Ok(Some(event)) => Some((Ok(event), Some((reader, m)))),
                Ok(None) => None,
                Err(e) => {
                    // A dead VM is reported as such; the stream ends after it.
                    let err = m.check::<()>(Err(e)).await.err()?;
                    Some((Err(err), None))
                }
            }
        });
        Ok(Box::pin(events))
    }

    async fn process_input(
        &self,
        id: &MachineId,
        process: Selector,
        data: Vec<u8>,
        close: bool,
    ) -> Result<(), RuntimeError> {
        let m = self.machine(id)?;
        let r = m.agent()?.process_input(process, &data, close).await;
        m.check(r).await
    }

    async fn process_signal(
        &self,
        id: &MachineId,
        process: Selector,
        signal: i32,
    ) -> Result<(), RuntimeError> {
        let m = self.machine(id)?;
        let r = m.agent()?.process_signal(process, signal).await;
        m.check(r).await
    }

    async fn process_resize(
        &self,
        id: &MachineId,
        process: Selector,
        size: PtySize,
    ) -> Result<(), RuntimeError> {
        let m = self.machine(id)?;
        let r = m.agent()?.process_resize(process, size).await;
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

    async fn discard(&self, id: &MachineId, keep_files: bool) {
        self.runtime.discard(id, keep_files).await;
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

    fn subscribe(&self) -> tokio::sync::mpsc::Receiver<NodeEvent> {
        let mut events = self.runtime.subscribe();
        let (tx, rx) = tokio::sync::mpsc::channel(crate::node::EVENT_QUEUE);
        tokio::spawn(async move {
            loop {
                let event = match events.recv().await {
                    Ok(nullspace_host::RuntimeEvent::MachineDied { id, reason }) => {
                        NodeEvent::MachineDied { id, reason }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(missed = n, "node events dropped; requests will find them");
                        continue;
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                };
                if tx.send(event).await.is_err() {
                    return;
                }
            }
        });
        rx
    }
}
