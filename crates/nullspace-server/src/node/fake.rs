//! A node that starts nothing: it answers commands with their own text and keeps
//! files in memory. For fast tests of the HTTP layer only.

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;

use async_trait::async_trait;
use nullspace_guest_proto::{
    EntryInfo, EntryKind, ErrorCode, ExecRequest, ExecResult, GuestError, Op, OpResult,
};
use nullspace_host::agent::{AgentError, ExecOutput, WriteOptions};
use nullspace_host::RuntimeError;
use nullspace_types::MachineId;

use super::{Node, TemplateShape};

/// The do-nothing node.
#[derive(Debug, Default)]
pub struct FakeNode {
    machines: Mutex<HashSet<MachineId>>,
    files: Mutex<BTreeMap<(MachineId, String), Vec<u8>>>,
}

fn guest(code: ErrorCode, msg: &str) -> RuntimeError {
    RuntimeError::Agent(AgentError::Guest(GuestError::new(code, msg)))
}

fn entry(path: &str, size: usize) -> EntryInfo {
    EntryInfo {
        name: path.rsplit('/').next().unwrap_or(path).to_owned(),
        path: path.to_owned(),
        kind: EntryKind::File,
        size: size as u64,
        mode: 0o644,
        owner: "user".into(),
        group: "user".into(),
        modified_ms: 0,
        symlink_target: None,
    }
}

impl FakeNode {
    fn check(&self, id: &MachineId) -> Result<(), RuntimeError> {
        if self.machines.lock().expect("lock").contains(id) {
            Ok(())
        } else {
            Err(RuntimeError::MachineNotFound(id.clone()))
        }
    }
}

#[async_trait]
impl Node for FakeNode {
    fn template(&self, name: &str) -> Option<TemplateShape> {
        (name == "base").then_some(TemplateShape {
            cpu_count: 1,
            memory_mb: 512,
        })
    }

    async fn create(&self, id: MachineId, _template: &str) -> Result<u32, RuntimeError> {
        self.machines.lock().expect("lock").insert(id);
        Ok(0)
    }

    async fn pause(&self, id: &MachineId) -> Result<(), RuntimeError> {
        self.check(id)
    }

    async fn resume(&self, id: &MachineId) -> Result<u32, RuntimeError> {
        self.check(id).map(|()| 0)
    }

    async fn kill(&self, id: &MachineId) -> Result<(), RuntimeError> {
        self.check(id)?;
        self.machines.lock().expect("lock").remove(id);
        Ok(())
    }

    async fn exec(
        &self,
        id: &MachineId,
        req: ExecRequest,
        stdin: Option<Vec<u8>>,
    ) -> Result<ExecOutput, RuntimeError> {
        self.check(id)?;
        let text = req.shell.clone().unwrap_or_else(|| req.argv.join(" "));
        let exit_code = text
            .strip_prefix("exit ")
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0);
        let mut stdout = text.into_bytes();
        stdout.extend(stdin.unwrap_or_default());
        Ok(ExecOutput {
            stdout,
            stderr: Vec::new(),
            result: ExecResult {
                exit_code: Some(exit_code),
                signal: None,
                timed_out: false,
                duration_ms: 0,
            },
        })
    }

    async fn read_file(&self, id: &MachineId, path: &str) -> Result<Vec<u8>, RuntimeError> {
        self.check(id)?;
        self.files
            .lock()
            .expect("lock")
            .get(&(id.clone(), path.to_owned()))
            .cloned()
            .ok_or_else(|| guest(ErrorCode::NotFound, path))
    }

    async fn write_file(
        &self,
        id: &MachineId,
        path: &str,
        data: Vec<u8>,
        _opts: WriteOptions,
    ) -> Result<EntryInfo, RuntimeError> {
        self.check(id)?;
        if path.starts_with(nullspace_guest_proto::RESERVED_DIR) {
            return Err(guest(ErrorCode::ReservedPath, path));
        }
        let e = entry(path, data.len());
        self.files
            .lock()
            .expect("lock")
            .insert((id.clone(), path.to_owned()), data);
        Ok(e)
    }

    async fn file_op(&self, id: &MachineId, op: Op) -> Result<OpResult, RuntimeError> {
        self.check(id)?;
        let files = self.files.lock().expect("lock");
        let get = |p: &str| {
            files
                .get(&(id.clone(), p.to_owned()))
                .map(|d| entry(p, d.len()))
        };
        Ok(match op {
            Op::Exists { path, .. } => OpResult::Exists(get(&path).is_some()),
            Op::Stat { path, .. } => {
                OpResult::Entry(get(&path).ok_or_else(|| guest(ErrorCode::NotFound, &path))?)
            }
            Op::List { path, .. } => OpResult::Entries(
                files
                    .iter()
                    .filter(|((m, p), _)| m == id && p.starts_with(&format!("{path}/")))
                    .map(|((_, p), d)| entry(p, d.len()))
                    .collect(),
            ),
            Op::Mkdir { .. } => OpResult::Created(true),
            Op::Remove { .. } | Op::Chmod { .. } => OpResult::Unit,
            other => {
                return Err(guest(
                    ErrorCode::InvalidArgument,
                    &format!("fake node cannot {other:?}"),
                ))
            }
        })
    }

    async fn adopt(&self, id: &MachineId) -> Result<u32, RuntimeError> {
        Err(RuntimeError::MachineNotFound(id.clone()))
    }

    async fn discard(&self, _id: &MachineId) {}

    fn is_alive(&self, id: &MachineId) -> bool {
        self.machines.lock().expect("lock").contains(id)
    }

    fn detach(&self) {}

    async fn shutdown(&self) {
        self.machines.lock().expect("lock").clear();
    }
}
