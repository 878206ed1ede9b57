//! Node types to and from the guest protocol's and the host runtime's.

use nullspace_guest_proto as guest;
use nullspace_host::agent;

use crate::node::{
    AttachEnd, AttachEvent, AttachRequest, Command, CommandOutput, Entry, EntryKind, Exit,
    FileAnswer, FileOp, FileReplaced, LineMatch, Metrics, NodeError, NodeErrorCode, OutputStream,
    Process, ProcessRef, ProcessSpec, StreamFacts, TermSize,
};

impl From<Command> for guest::ExecRequest {
    fn from(c: Command) -> Self {
        Self {
            argv: c.argv,
            shell: c.shell,
            env: c.env,
            cwd: c.cwd,
            user: c.user,
            timeout_ms: c.timeout_ms,
            stdin: c.stdin,
        }
    }
}

impl From<guest::ExecResult> for Exit {
    fn from(r: guest::ExecResult) -> Self {
        Self {
            exit_code: r.exit_code,
            signal: r.signal,
            timed_out: r.timed_out,
            duration_ms: r.duration_ms,
        }
    }
}

impl From<agent::ExecOutput> for CommandOutput {
    fn from(o: agent::ExecOutput) -> Self {
        Self {
            stdout: o.stdout,
            stderr: o.stderr,
            exit: o.result.into(),
        }
    }
}

impl From<guest::EntryInfo> for Entry {
    fn from(e: guest::EntryInfo) -> Self {
        Self {
            name: e.name,
            path: e.path,
            kind: match e.kind {
                guest::EntryKind::File => EntryKind::File,
                guest::EntryKind::Dir => EntryKind::Dir,
                guest::EntryKind::Symlink => EntryKind::Symlink,
                guest::EntryKind::Other => EntryKind::Other,
            },
            size: e.size,
            mode: e.mode,
            owner: e.owner,
            group: e.group,
            modified_ms: e.modified_ms,
            symlink_target: e.symlink_target,
        }
    }
}

impl From<guest::GuestMetrics> for Metrics {
    fn from(m: guest::GuestMetrics) -> Self {
        Self {
            cpu_count: m.cpu_count,
            cpu_used_pct: m.cpu_used_pct,
            mem_total_bytes: m.mem_total_bytes,
            mem_used_bytes: m.mem_used_bytes,
            disk_total_bytes: m.disk_total_bytes,
            disk_used_bytes: m.disk_used_bytes,
        }
    }
}

impl From<FileOp> for guest::Op {
    fn from(op: FileOp) -> Self {
        match op {
            FileOp::List { path, user, depth } => Self::List {
                path,
                root: None,
                user,
                depth,
            },
            FileOp::Stat { path, user } => Self::Stat {
                path,
                root: None,
                user,
            },
            FileOp::Exists { path, user } => Self::Exists {
                path,
                root: None,
                user,
            },
            FileOp::Mkdir {
                path,
                user,
                mode,
                owner,
            } => Self::Mkdir {
                path,
                root: None,
                user,
                mode,
                owner,
            },
            FileOp::Remove {
                path,
                user,
                recursive,
            } => Self::Remove {
                path,
                root: None,
                user,
                recursive,
            },
            FileOp::Rename { from, to, user } => Self::Rename {
                from,
                to,
                root: None,
                user,
            },
            FileOp::Chmod { path, user, mode } => Self::Chmod {
                path,
                root: None,
                user,
                mode,
            },
            FileOp::Search {
                path,
                user,
                pattern,
                limit,
            } => Self::SearchFiles(guest::SearchRequest {
                scope: scope(path, user),
                pattern,
                limit,
            }),
            FileOp::Find {
                path,
                user,
                text,
                max_results,
                max_file_bytes,
            } => Self::FindInFiles(guest::FindRequest {
                scope: scope(path, user),
                text: text.into(),
                max_results,
                max_file_bytes,
            }),
            FileOp::Replace {
                paths,
                user,
                text,
                replacement,
                dry_run,
                max_files,
            } => Self::ReplaceInFiles(guest::ReplaceRequest {
                paths,
                root: None,
                user,
                text: text.into(),
                replacement,
                dry_run,
                max_files,
            }),
            FileOp::Digest { path, user } => Self::DigestFile(scope(path, user)),
        }
    }
}

/// Where a tree-wide guest call acts, as whom.
pub(super) fn scope(path: String, user: Option<String>) -> guest::Scope {
    guest::Scope {
        path,
        root: None,
        user,
    }
}

/// The answer of a file call, or an error for one the call does not give.
pub fn file_answer(r: guest::OpResult) -> Result<FileAnswer, NodeError> {
    Ok(match r {
        guest::OpResult::Entries(e) => {
            FileAnswer::Entries(e.into_iter().map(Entry::from).collect())
        }
        guest::OpResult::Entry(e) => FileAnswer::Entry(e.into()),
        guest::OpResult::Exists(b) => FileAnswer::Exists(b),
        guest::OpResult::Created(b) => FileAnswer::Created(b),
        guest::OpResult::Unit => FileAnswer::Done,
        guest::OpResult::Search { entries, truncated } => FileAnswer::Search {
            entries: entries.into_iter().map(Entry::from).collect(),
            truncated,
        },
        guest::OpResult::Found(f) => FileAnswer::Found {
            matches: f
                .matches
                .into_iter()
                .map(|m| LineMatch {
                    path: m.path,
                    line: m.line,
                    column: m.column,
                    text: m.text,
                })
                .collect(),
            files_scanned: f.files_scanned,
            truncated: f.truncated,
        },
        guest::OpResult::Replaced(r) => FileAnswer::Replaced {
            files: r
                .files
                .into_iter()
                .map(|f| FileReplaced {
                    path: f.path,
                    replacements: f.replacements,
                })
                .collect(),
            total_replacements: r.total_replacements,
            files_scanned: r.files_scanned,
            truncated: r.truncated,
        },
        guest::OpResult::Digest(d) => FileAnswer::Digest {
            sha256: d.sha256,
            size: d.size,
        },
        other => {
            return Err(NodeError::new(
                NodeErrorCode::Internal,
                format!("the guest answered a file call with {other:?}"),
            ))
        }
    })
}

impl From<TermSize> for guest::PtySize {
    fn from(s: TermSize) -> Self {
        Self {
            cols: s.cols,
            rows: s.rows,
        }
    }
}

impl From<guest::PtySize> for TermSize {
    fn from(s: guest::PtySize) -> Self {
        Self {
            cols: s.cols,
            rows: s.rows,
        }
    }
}

impl From<ProcessRef> for guest::Selector {
    fn from(r: ProcessRef) -> Self {
        match r {
            ProcessRef::Pid(pid) => Self::Pid(pid),
            ProcessRef::Tag(tag) => Self::Tag(tag),
        }
    }
}

impl From<ProcessSpec> for guest::ProcessStart {
    fn from(s: ProcessSpec) -> Self {
        Self {
            exec: s.command.into(),
            tag: s.tag,
            pty: s.pty.map(Into::into),
        }
    }
}

impl From<guest::StreamInfo> for StreamFacts {
    fn from(s: guest::StreamInfo) -> Self {
        Self {
            total: s.total,
            kept_from: s.kept_from,
        }
    }
}

impl From<guest::ProcessInfo> for Process {
    fn from(p: guest::ProcessInfo) -> Self {
        Self {
            pid: p.pid,
            tag: p.tag,
            argv: p.argv,
            shell: p.shell,
            cwd: p.cwd,
            user: p.user,
            pty: p.pty.map(Into::into),
            started_unix_ms: p.started_unix_ms,
            stdin_open: p.stdin_open,
            end: p.end.map(Into::into),
            stdout: p.stdout.into(),
            stderr: p.stderr.into(),
        }
    }
}

impl From<AttachRequest> for guest::ProcessAttach {
    fn from(a: AttachRequest) -> Self {
        Self {
            process: a.process.into(),
            stdout_from: a.stdout_from,
            stderr_from: a.stderr_from,
            follow: a.follow,
        }
    }
}

impl From<guest::StreamKind> for OutputStream {
    fn from(k: guest::StreamKind) -> Self {
        match k {
            guest::StreamKind::Stdout => Self::Stdout,
            guest::StreamKind::Stderr => Self::Stderr,
        }
    }
}

impl From<agent::AttachEvent> for AttachEvent {
    fn from(e: agent::AttachEvent) -> Self {
        match e {
            agent::AttachEvent::Started { pid } => Self::Started { pid },
            agent::AttachEvent::Output { stream, data } => Self::Output {
                stream: stream.into(),
                data,
            },
            agent::AttachEvent::Gap { stream, bytes } => Self::Gap {
                stream: stream.into(),
                bytes,
            },
            agent::AttachEvent::End(end) => Self::End(AttachEnd {
                stdout_next: end.stdout_next,
                stderr_next: end.stderr_next,
                end: end.end.map(Into::into),
            }),
        }
    }
}
