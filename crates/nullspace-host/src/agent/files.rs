//! Files in the guest. Every call has the file-system rights of a guest user:
//! the `*_as` methods and [`WriteOptions::user`] name it, the others act as root.

use std::time::Duration;

use futures_util::{Stream, StreamExt};
use nullspace_guest_proto::{EntryInfo, GuestMsg, Op, OpResult};

use super::{Agent, AgentError};

/// Time allowed for a file operation other than reads and writes.
const FILE_TIMEOUT: Duration = Duration::from_secs(30);
/// Time allowed for a call that walks a tree or reads a whole file.
const TREE_TIMEOUT: Duration = Duration::from_secs(600);
/// Time allowed per MiB moved by reads and writes (on top of `FILE_TIMEOUT`).
const PER_MIB: Duration = Duration::from_millis(500);

/// Options of [`Agent::write_file`].
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// Guest user whose rights the write has (`None`: root). A user's files are
    /// its own; it may not name another `owner`.
    pub user: Option<String>,
    /// Permission bits.
    pub mode: Option<u32>,
    /// Owner user name (root only, or the user itself).
    pub owner: Option<String>,
    /// Create missing parent directories.
    pub create_parents: bool,
    /// Append instead of replacing.
    pub append: bool,
    /// Confine the path to this directory.
    pub root: Option<String>,
    /// Write in place at this offset, keeping the rest of the file.
    pub offset: Option<u64>,
}

/// Why a streamed write failed.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The guest refused it or the connection failed.
    #[error(transparent)]
    Agent(#[from] AgentError),
    /// The caller's source of bytes failed (its reason).
    #[error("input aborted: {0}")]
    Source(String),
}

/// The `write_file` operation for `path` with `opts`.
pub fn write_op(path: &str, opts: WriteOptions) -> Op {
    Op::WriteFile {
        user: opts.user,
        path: path.to_owned(),
        root: opts.root,
        mode: opts.mode,
        owner: opts.owner,
        create_parents: opts.create_parents,
        append: opts.append,
        offset: opts.offset,
    }
}

/// A file read as its bytes arrive (see [`Agent::read_stream`]); dropping it
/// before the end cancels the read in the guest.
pub struct ReadStream {
    call: super::Call,
    done: bool,
}

impl ReadStream {
    /// The next bytes of the file; `None` once all of them arrived.
    pub async fn next(&mut self) -> Result<Option<Vec<u8>>, AgentError> {
        if self.done {
            return Ok(None);
        }
        let frame = self.call.next().await?;
        match frame.msg {
            GuestMsg::Data { .. } => Ok(Some(frame.data)),
            GuestMsg::Done { .. } => {
                self.done = true;
                Ok(None)
            }
            GuestMsg::Failed { error, .. } => {
                self.done = true;
                Err(error.into())
            }
            other => {
                self.done = true;
                Err(AgentError::Protocol(format!("{other:?}")))
            }
        }
    }
}

fn unexpected(r: OpResult) -> AgentError {
    AgentError::Protocol(format!("{r:?}"))
}

impl Agent {
    /// Read a whole file (or `limit` bytes from `offset`) as root.
    pub async fn read_file(
        &self,
        path: &str,
        offset: u64,
        limit: Option<u64>,
    ) -> Result<Vec<u8>, AgentError> {
        self.read_file_as(path, offset, limit, None).await
    }

    /// Read a whole file (or `limit` bytes from `offset`) as `user` (`None`: root).
    pub async fn read_file_as(
        &self,
        path: &str,
        offset: u64,
        limit: Option<u64>,
        user: Option<&str>,
    ) -> Result<Vec<u8>, AgentError> {
        let op = Op::ReadFile {
            user: user.map(str::to_owned),
            path: path.to_owned(),
            root: None,
            offset,
            limit,
        };
        let (_, data) = self.request("read_file", op, FILE_TIMEOUT * 10).await?;
        Ok(data)
    }

    /// Start `op` (a `read_file`) and read its bytes as they arrive, each frame
    /// credited as it is taken, so an unread stream holds at most the call's
    /// window.
    pub async fn read_stream(&self, op: Op) -> Result<ReadStream, AgentError> {
        let call = self.start(op).await?;
        Ok(ReadStream { call, done: false })
    }

    /// Write a file atomically (as `opts.user`).
    pub async fn write_file(
        &self,
        path: &str,
        data: &[u8],
        opts: WriteOptions,
    ) -> Result<EntryInfo, AgentError> {
        let op = write_op(path, opts);
        let step = FILE_TIMEOUT + PER_MIB * (data.len() / (1 << 20)) as u32;
        let body = futures_util::stream::iter([Ok::<_, String>(data)]);
        match self.write_stream(op, body, step).await {
            Ok(e) => Ok(e),
            Err(WriteError::Agent(e)) => Err(e),
            Err(WriteError::Source(why)) => Err(AgentError::Protocol(why)),
        }
    }

    /// Write a file from `body` as it arrives with `op` (a `write_file`): each
    /// chunk goes to the guest within the call's input window, so memory stays
    /// flat; `step` bounds the wait for each chunk and for the answer. A failed
    /// source cancels the call and leaves nothing behind.
    pub async fn write_stream<S, B>(
        &self,
        op: Op,
        body: S,
        step: Duration,
    ) -> Result<EntryInfo, WriteError>
    where
        S: Stream<Item = Result<B, String>> + Unpin,
        B: AsRef<[u8]>,
    {
        match self.input_stream(op, body, step).await? {
            OpResult::Entry(e) => Ok(e),
            other => Err(unexpected(other).into()),
        }
    }

    /// Run `op` (a call that takes input: `write_file`, `extract_archive`) with
    /// `body` as its input, sent as it arrives within the call's window, and
    /// answer its result; `step` bounds the wait for each chunk and for the
    /// answer. A failed source cancels the call.
    pub async fn input_stream<S, B>(
        &self,
        op: Op,
        mut body: S,
        step: Duration,
    ) -> Result<OpResult, WriteError>
    where
        S: Stream<Item = Result<B, String>> + Unpin,
        B: AsRef<[u8]>,
    {
        let late = |what: &'static str| AgentError::Timeout { what, after: step };
        let mut call = self.start(op).await?;
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(why) => {
                    let _ = call.cancel().await;
                    return Err(WriteError::Source(why));
                }
            };
            tokio::time::timeout(step, call.input(chunk.as_ref()))
                .await
                .map_err(|_| late("call input"))??;
            // A guest that refused the write (no rights, no space) says so early.
            if let Some(frame) = call.try_next() {
                return Err(match frame.msg {
                    GuestMsg::Failed { error, .. } => AgentError::from(error).into(),
                    other => AgentError::Protocol(format!("{other:?}")).into(),
                });
            }
        }
        let done = async {
            call.input_end().await?;
            match call.next().await?.msg {
                GuestMsg::Done { result, .. } => Ok(result),
                GuestMsg::Failed { error, .. } => Err(error.into()),
                other => Err(AgentError::Protocol(format!("{other:?}"))),
            }
        };
        Ok(tokio::time::timeout(step, done)
            .await
            .map_err(|_| late("call answer"))??)
    }

    async fn simple(&self, what: &'static str, op: Op) -> Result<OpResult, AgentError> {
        Ok(self.request(what, op, FILE_TIMEOUT).await?.0)
    }

    /// List a directory to `depth` levels as root.
    pub async fn list(&self, path: &str, depth: u32) -> Result<Vec<EntryInfo>, AgentError> {
        self.list_as(path, depth, None).await
    }

    /// List a directory to `depth` levels as `user` (`None`: root).
    pub async fn list_as(
        &self,
        path: &str,
        depth: u32,
        user: Option<&str>,
    ) -> Result<Vec<EntryInfo>, AgentError> {
        let op = Op::List {
            user: user.map(str::to_owned),
            path: path.to_owned(),
            root: None,
            depth,
        };
        match self.simple("list", op).await? {
            OpResult::Entries(e) => Ok(e),
            r => Err(unexpected(r)),
        }
    }

    /// Facts about one entry, as root.
    pub async fn stat(&self, path: &str) -> Result<EntryInfo, AgentError> {
        self.stat_as(path, None).await
    }

    /// Facts about one entry, as `user` (`None`: root).
    pub async fn stat_as(&self, path: &str, user: Option<&str>) -> Result<EntryInfo, AgentError> {
        let op = Op::Stat {
            user: user.map(str::to_owned),
            path: path.to_owned(),
            root: None,
        };
        match self.simple("stat", op).await? {
            OpResult::Entry(e) => Ok(e),
            r => Err(unexpected(r)),
        }
    }

    /// Whether an entry exists, as root sees it.
    pub async fn exists(&self, path: &str) -> Result<bool, AgentError> {
        self.exists_as(path, None).await
    }

    /// Whether an entry exists, as `user` sees it (`None`: root).
    pub async fn exists_as(&self, path: &str, user: Option<&str>) -> Result<bool, AgentError> {
        let op = Op::Exists {
            user: user.map(str::to_owned),
            path: path.to_owned(),
            root: None,
        };
        match self.simple("exists", op).await? {
            OpResult::Exists(b) => Ok(b),
            r => Err(unexpected(r)),
        }
    }

    /// Create a directory and its parents as root; false if it already existed.
    pub async fn mkdir(&self, path: &str, owner: Option<&str>) -> Result<bool, AgentError> {
        self.mkdir_as(path, owner, None).await
    }

    /// Create a directory and its parents as `user` (`None`: root); false if it
    /// already existed. A user may name only itself as `owner`.
    pub async fn mkdir_as(
        &self,
        path: &str,
        owner: Option<&str>,
        user: Option<&str>,
    ) -> Result<bool, AgentError> {
        let op = Op::Mkdir {
            user: user.map(str::to_owned),
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

    /// Remove an entry (directories with their contents if `recursive`) as root.
    pub async fn remove(&self, path: &str, recursive: bool) -> Result<(), AgentError> {
        self.remove_as(path, recursive, None).await
    }

    /// Remove an entry (directories with their contents if `recursive`) as
    /// `user` (`None`: root).
    pub async fn remove_as(
        &self,
        path: &str,
        recursive: bool,
        user: Option<&str>,
    ) -> Result<(), AgentError> {
        let op = Op::Remove {
            user: user.map(str::to_owned),
            path: path.to_owned(),
            root: None,
            recursive,
        };
        self.simple("remove", op).await.map(drop)
    }

    /// Rename an entry as root.
    pub async fn rename(&self, from: &str, to: &str) -> Result<EntryInfo, AgentError> {
        self.rename_as(from, to, None).await
    }

    /// Rename an entry as `user` (`None`: root).
    pub async fn rename_as(
        &self,
        from: &str,
        to: &str,
        user: Option<&str>,
    ) -> Result<EntryInfo, AgentError> {
        let op = Op::Rename {
            user: user.map(str::to_owned),
            from: from.to_owned(),
            to: to.to_owned(),
            root: None,
        };
        match self.simple("rename", op).await? {
            OpResult::Entry(e) => Ok(e),
            r => Err(unexpected(r)),
        }
    }

    /// Change permission bits as root.
    pub async fn chmod(&self, path: &str, mode: u32) -> Result<(), AgentError> {
        self.chmod_as(path, mode, None).await
    }

    /// Change permission bits as `user` (`None`: root).
    pub async fn chmod_as(
        &self,
        path: &str,
        mode: u32,
        user: Option<&str>,
    ) -> Result<(), AgentError> {
        let op = Op::Chmod {
            user: user.map(str::to_owned),
            path: path.to_owned(),
            root: None,
            mode,
        };
        self.simple("chmod", op).await.map(drop)
    }

    /// Run any file operation (for confined paths and options not covered above).
    pub async fn file_op(&self, op: Op) -> Result<OpResult, AgentError> {
        let limit = match op {
            // Tree-wide calls walk whole directories: allowed far longer.
            Op::SearchFiles(_) | Op::FindInFiles(_) | Op::ReplaceInFiles(_) | Op::DigestFile(_) => {
                TREE_TIMEOUT
            }
            _ => FILE_TIMEOUT,
        };
        Ok(self.request("file operation", op, limit).await?.0)
    }
}
