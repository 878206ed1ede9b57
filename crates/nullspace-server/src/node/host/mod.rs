//! The in-process host runtime as a node: node calls become runtime and guest
//! agent calls ([`convert`]), runtime errors become node errors ([`error`]).

mod convert;
mod error;
mod image;
mod tree;

pub use image::ImageSource;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Bytes;
use nullspace_guest_proto::Op;
use nullspace_host::agent::{write_op, AgentError, ReadStream, WriteError, WriteOptions};
use nullspace_host::{Machine, Runtime, RuntimeError, Template};
use nullspace_types::{Egress, MachineId, MachineState, SnapshotId};

use super::{
    ArchiveFacts, ArchiveSpec, AttachRequest, AttachStream, Command, CommandOutput, Download,
    Entry, FileAnswer, FileOp, FileRead, FileWrite, ImageImport, ImportedImage, Metrics, Node,
    NodeError, NodeErrorCode, NodeEvent, NodeResult, Process, ProcessRef, ProcessSpec,
    SnapshotFacts, TemplateShape, TermSize, Upload, WatchStream,
};

/// How long the CPU of a machine is sampled for its metrics.
const METRICS_SAMPLE: Duration = Duration::from_millis(200);
/// Longest wait for the guest to take one chunk of an upload or to finish a file
/// call once its input is complete.
pub(super) const FILE_STEP: Duration = Duration::from_secs(60);

/// One call to the agent of running machine `$id`: `$call` runs with `$agent`
/// bound, a dead VM is reported as such, and the answer becomes the node's.
macro_rules! on_agent {
    ($node:expr, $id:expr, |$agent:ident| $call:expr) => {{
        let m = $node.machine($id)?;
        let $agent = m.agent()?;
        let r = $call;
        Ok(m.check(r).await.map(Into::into)?)
    }};
}

/// Machines on this host, through [`Runtime`].
pub struct HostNode {
    runtime: Runtime,
    templates: HashMap<String, Template>,
    images: image::Images,
}

impl HostNode {
    /// A node over `runtime` offering `templates`, importing OCI images from `source`.
    pub fn new(runtime: Runtime, templates: Vec<Template>, source: ImageSource) -> Self {
        let templates = templates.into_iter().map(|t| (t.name.clone(), t)).collect();
        Self {
            runtime,
            templates,
            images: image::Images::new(source),
        }
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

    async fn import_image(&self, image: ImageImport) -> NodeResult<ImportedImage> {
        let base = self.templates.get("base").ok_or_else(|| {
            NodeError::new(
                NodeErrorCode::TemplateNotFound,
                "images boot with the kernel of template base, which this node lacks",
            )
        })?;
        self.images.import(&self.runtime, base, image).await
    }

    async fn create(&self, id: MachineId, template: &str, egress: Egress) -> NodeResult<()> {
        let t = match self.templates.get(template) {
            Some(t) => t.clone(),
            None => self.images.template(template).ok_or_else(|| {
                NodeError::new(
                    NodeErrorCode::TemplateNotFound,
                    format!("template {template}: no such template"),
                )
            })?,
        };
        self.runtime.create_machine_as(id, &t, egress).await?;
        Ok(())
    }

    async fn create_from_snapshot(
        &self,
        id: MachineId,
        snapshot: &SnapshotId,
        egress: Egress,
    ) -> NodeResult<()> {
        self.runtime
            .restore_snapshot_as(id, snapshot, egress)
            .await?;
        Ok(())
    }

    async fn fork(&self, id: &MachineId, children: Vec<MachineId>) -> NodeResult<u64> {
        Ok(self.runtime.fork(id, children).await?.stall_ms)
    }

    async fn snapshot(&self, id: &MachineId, snapshot: SnapshotId) -> NodeResult<SnapshotFacts> {
        let info = self.runtime.snapshot_as(snapshot, id).await?;
        Ok(SnapshotFacts {
            size_bytes: info.size_bytes(),
            stall_ms: info.pause_ms,
        })
    }

    async fn delete_snapshot(&self, snapshot: &SnapshotId) -> NodeResult<()> {
        Ok(self.runtime.delete_snapshot(snapshot)?)
    }

    async fn metrics(&self, id: &MachineId) -> NodeResult<Metrics> {
        on_agent!(self, id, |agent| agent.metrics(METRICS_SAMPLE).await)
    }

    async fn connect_port(&self, id: &MachineId, port: u16) -> NodeResult<super::PortStream> {
        let m = self.machine(id)?;
        match m.connect_port(port).await {
            Ok(stream) => Ok(Box::new(stream)),
            Err(e) => Err(NodeError::new(
                NodeErrorCode::PortClosed,
                format!("port {port} of machine {id}: {e}"),
            )),
        }
    }

    async fn recover_paused(&self, id: &MachineId) -> bool {
        self.runtime.recover_paused(id).await
    }

    async fn pause(&self, id: &MachineId) -> NodeResult<()> {
        Ok(self.runtime.pause(id).await?)
    }

    async fn resume(&self, id: &MachineId) -> NodeResult<()> {
        self.runtime.resume(id).await?;
        Ok(())
    }

    async fn kill(&self, id: &MachineId) -> NodeResult<()> {
        match self.runtime.destroy(id).await {
            // Nothing live (paused, failed, or a start that never finished): remove
            // whatever is left of it on this host.
            Err(RuntimeError::MachineNotFound(_)) => {
                self.runtime.discard(id, false).await;
                Ok(())
            }
            other => Ok(other?),
        }
    }

    async fn exec(
        &self,
        id: &MachineId,
        command: Command,
        stdin: Option<Vec<u8>>,
    ) -> NodeResult<CommandOutput> {
        let out = self
            .machine(id)?
            .exec(command.into(), stdin.as_deref())
            .await?;
        Ok(out.into())
    }

    async fn read_file(&self, id: &MachineId, read: FileRead) -> NodeResult<Download> {
        let op = Op::ReadFile {
            path: read.path,
            root: None,
            offset: read.offset,
            limit: read.limit,
            user: read.user,
        };
        download(self.machine(id)?, op).await
    }

    async fn write_file(
        &self,
        id: &MachineId,
        write: FileWrite,
        body: Upload,
    ) -> NodeResult<Entry> {
        let m = self.machine(id)?;
        let opts = WriteOptions {
            user: write.user,
            mode: write.mode,
            owner: write.owner,
            create_parents: true,
            offset: write.offset,
            ..Default::default()
        };
        let op = write_op(&write.path, opts);
        let r = match m.agent()?.write_stream(op, body, FILE_STEP).await {
            Ok(e) => Ok(e),
            Err(WriteError::Agent(e)) => Err(e),
            Err(WriteError::Source(why)) => return Err(RuntimeError::InputAborted(why).into()),
        };
        Ok(m.check(r).await?.into())
    }

    async fn process_start(&self, id: &MachineId, spec: ProcessSpec) -> NodeResult<Process> {
        let info = self.machine(id)?.process_start(spec.into()).await?;
        Ok(info.into())
    }

    async fn process_list(&self, id: &MachineId) -> NodeResult<Vec<Process>> {
        on_agent!(self, id, |agent| agent
            .process_list()
            .await
            .map(|all| all.into_iter().map(Process::from).collect::<Vec<_>>()))
    }

    async fn process_attach(
        &self,
        id: &MachineId,
        attach: AttachRequest,
    ) -> NodeResult<AttachStream> {
        let m = self.machine(id)?;
        let r = m.agent()?.process_attach(attach.into()).await;
        let reader = m.check(r).await?;
        let events = futures_util::stream::unfold(Some((reader, m)), |st| async move {
            let (mut reader, m) = st?;
            match reader.next().await {
                Ok(Some(event)) => Some((Ok(event.into()), Some((reader, m)))),
                Ok(None) => None,
                Err(e) => {
                    // A dead VM is reported as such; the stream ends after it.
                    let err = m.check::<()>(Err(e)).await.err()?;
                    Some((Err(err.into()), None))
                }
            }
        });
        Ok(Box::pin(events))
    }

    async fn process_input(
        &self,
        id: &MachineId,
        process: ProcessRef,
        data: Vec<u8>,
        close: bool,
    ) -> NodeResult<()> {
        on_agent!(self, id, |agent| agent
            .process_input(process.into(), &data, close)
            .await)
    }

    async fn process_signal(
        &self,
        id: &MachineId,
        process: ProcessRef,
        signal: i32,
    ) -> NodeResult<()> {
        on_agent!(self, id, |agent| agent
            .process_signal(process.into(), signal)
            .await)
    }

    async fn process_resize(
        &self,
        id: &MachineId,
        process: ProcessRef,
        size: TermSize,
    ) -> NodeResult<()> {
        on_agent!(self, id, |agent| agent
            .process_resize(process.into(), size.into())
            .await)
    }

    async fn file_op(&self, id: &MachineId, op: FileOp) -> NodeResult<FileAnswer> {
        let m = self.machine(id)?;
        let r = m.agent()?.file_op(op.into()).await;
        convert::file_answer(m.check(r).await?)
    }

    async fn extract_archive(
        &self,
        id: &MachineId,
        spec: ArchiveSpec,
        body: Option<Upload>,
    ) -> NodeResult<ArchiveFacts> {
        tree::extract(self.machine(id)?, spec, body).await
    }

    async fn read_archive(
        &self,
        id: &MachineId,
        path: String,
        user: Option<String>,
    ) -> NodeResult<Download> {
        tree::archive(self.machine(id)?, path, user).await
    }

    async fn watch(
        &self,
        id: &MachineId,
        path: String,
        user: Option<String>,
        recursive: bool,
    ) -> NodeResult<WatchStream> {
        tree::watch(self.machine(id)?, path, user, recursive).await
    }

    async fn adopt(&self, id: &MachineId) -> NodeResult<()> {
        self.runtime.adopt(id).await?;
        Ok(())
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
                    Ok(nullspace_host::RuntimeEvent::ProcessExited { id, pid, tag, end }) => {
                        NodeEvent::ProcessExited {
                            id,
                            pid,
                            tag,
                            exit: end.into(),
                        }
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

/// The next bytes of a file read, waiting at most [`FILE_STEP`] for the guest.
/// Start `op` (a call answered in `data` frames: `read_file`, `create_archive`)
/// and stream its bytes. What the guest says first (bytes, the end, or why it
/// cannot read) is the call's answer; the rest follows as the stream is polled,
/// and a dead VM is reported as such.
async fn download(m: Arc<Machine>, op: Op) -> NodeResult<Download> {
    let r = m.agent()?.read_stream(op).await;
    let mut reader = m.check(r).await?;
    let first = next_chunk(&mut reader).await;
    let first = m.check(first).await?;
    let rest = futures_util::stream::unfold(Some((first, reader, m)), |st| async move {
        let (pending, mut reader, m) = st?;
        let next = match pending {
            Some(bytes) => Ok(Some(bytes)),
            None => next_chunk(&mut reader).await,
        };
        match next {
            Ok(Some(bytes)) => Some((Ok(Bytes::from(bytes)), Some((None, reader, m)))),
            Ok(None) => None,
            Err(e) => {
                let err = m.check::<()>(Err(e)).await.err()?;
                Some((Err(err.into()), None))
            }
        }
    });
    Ok(Box::pin(rest))
}

async fn next_chunk(reader: &mut ReadStream) -> Result<Option<Vec<u8>>, AgentError> {
    tokio::time::timeout(FILE_STEP, reader.next())
        .await
        .unwrap_or(Err(AgentError::Timeout {
            what: "read_file",
            after: FILE_STEP,
        }))
}
