//! Files in the guest.

use std::time::Duration;

use nullspace_guest_proto::{EntryInfo, GuestMsg, Op, OpResult};

use super::{Agent, AgentError};

/// Time allowed for a file operation other than reads and writes.
const FILE_TIMEOUT: Duration = Duration::from_secs(30);
/// Time allowed per MiB moved by reads and writes (on top of `FILE_TIMEOUT`).
const PER_MIB: Duration = Duration::from_millis(500);

/// Options of [`Agent::write_file`].
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// Permission bits.
    pub mode: Option<u32>,
    /// Owner user name.
    pub owner: Option<String>,
    /// Create missing parent directories.
    pub create_parents: bool,
    /// Append instead of replacing.
    pub append: bool,
    /// Confine the path to this directory.
    pub root: Option<String>,
}

fn unexpected(r: OpResult) -> AgentError {
    AgentError::Protocol(format!("{r:?}"))
}

impl Agent {
    /// Read a whole file (or `limit` bytes from `offset`).
    pub async fn read_file(
        &self,
        path: &str,
        offset: u64,
        limit: Option<u64>,
    ) -> Result<Vec<u8>, AgentError> {
        let op = Op::ReadFile {
            user: None,
            path: path.to_owned(),
            root: None,
            offset,
            limit,
        };
        let (_, data) = self.request("read_file", op, FILE_TIMEOUT * 10).await?;
        Ok(data)
    }

    /// Write a file atomically.
    pub async fn write_file(
        &self,
        path: &str,
        data: &[u8],
        opts: WriteOptions,
    ) -> Result<EntryInfo, AgentError> {
        let op = Op::WriteFile {
            user: None,
            path: path.to_owned(),
            root: opts.root,
            mode: opts.mode,
            owner: opts.owner,
            create_parents: opts.create_parents,
            append: opts.append,
        };
        let timeout = FILE_TIMEOUT + PER_MIB * (data.len() / (1 << 20)) as u32;
        let mut call = self.start(op).await?;
        let work = async {
            call.input(data).await?;
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
        tokio::time::timeout(timeout, work)
            .await
            .map_err(|_| AgentError::Timeout {
                what: "write_file",
                after: timeout,
            })?
    }

    async fn simple(&self, what: &'static str, op: Op) -> Result<OpResult, AgentError> {
        Ok(self.request(what, op, FILE_TIMEOUT).await?.0)
    }

    /// List a directory to `depth` levels.
    pub async fn list(&self, path: &str, depth: u32) -> Result<Vec<EntryInfo>, AgentError> {
        let op = Op::List {
            user: None,
            path: path.to_owned(),
            root: None,
            depth,
        };
        match self.simple("list", op).await? {
            OpResult::Entries(e) => Ok(e),
            r => Err(unexpected(r)),
        }
    }

    /// Facts about one entry.
    pub async fn stat(&self, path: &str) -> Result<EntryInfo, AgentError> {
        let op = Op::Stat {
            user: None,
            path: path.to_owned(),
            root: None,
        };
        match self.simple("stat", op).await? {
            OpResult::Entry(e) => Ok(e),
            r => Err(unexpected(r)),
        }
    }

    /// Whether an entry exists.
    pub async fn exists(&self, path: &str) -> Result<bool, AgentError> {
        let op = Op::Exists {
            user: None,
            path: path.to_owned(),
            root: None,
        };
        match self.simple("exists", op).await? {
            OpResult::Exists(b) => Ok(b),
            r => Err(unexpected(r)),
        }
    }

    /// Create a directory and its parents; false if it already existed.
    pub async fn mkdir(&self, path: &str, owner: Option<&str>) -> Result<bool, AgentError> {
        let op = Op::Mkdir {
            user: None,
            path: path.to_owned(),
            root: None,
            mode: None,
            owner: owner.map(str::to_owned),
        };
        match self.simple("mkdir", op).await? {
            OpResult::Created(b) => Ok(b),
            r => Err(unexpected(r)),
        }
    }

    /// Remove an entry (directories with their contents if `recursive`).
    pub async fn remove(&self, path: &str, recursive: bool) -> Result<(), AgentError> {
        let op = Op::Remove {
            user: None,
            path: path.to_owned(),
            root: None,
            recursive,
        };
        self.simple("remove", op).await.map(drop)
    }

    /// Rename an entry.
    pub async fn rename(&self, from: &str, to: &str) -> Result<EntryInfo, AgentError> {
        let op = Op::Rename {
            user: None,
            from: from.to_owned(),
            to: to.to_owned(),
            root: None,
        };
        match self.simple("rename", op).await? {
            OpResult::Entry(e) => Ok(e),
            r => Err(unexpected(r)),
        }
    }

    /// Change permission bits.
    pub async fn chmod(&self, path: &str, mode: u32) -> Result<(), AgentError> {
        let op = Op::Chmod {
            user: None,
            path: path.to_owned(),
            root: None,
            mode,
        };
        self.simple("chmod", op).await.map(drop)
    }

    /// Run any file operation (for confined paths and options not covered above).
    pub async fn file_op(&self, op: Op) -> Result<OpResult, AgentError> {
        self.simple("file operation", op).await
    }
}
