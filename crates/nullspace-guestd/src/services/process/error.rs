//! Errors of the process-table operations and their protocol codes.

use nullspace_guest_proto::{ErrorCode, Selector, StreamKind};

/// Why a process-table operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProcError {
    /// No process of the table matches the selector.
    #[error("no process matches {0}")]
    NotFound(String),
    /// The process has exited.
    #[error("process {0} has exited")]
    Exited(u32),
    /// The process's stdin is closed or was never open.
    #[error("stdin of process {0} is closed")]
    StdinClosed(u32),
    /// The process does not run on a terminal.
    #[error("process {0} has no terminal")]
    NotAPty(u32),
    /// A running process already has the tag.
    #[error("a running process already has tag {0:?}")]
    TagInUse(String),
    /// A terminal size outside 1 to `MAX_PTY_SIDE`.
    #[error("terminal size {cols}x{rows} is out of range")]
    BadSize {
        /// Columns asked for.
        cols: u16,
        /// Rows asked for.
        rows: u16,
    },
    /// An attach offset beyond what the stream has produced.
    #[error("{stream:?} offset {offset} is beyond its end ({total})")]
    OffsetBeyondEnd {
        /// The stream.
        stream: StreamKind,
        /// Offset asked for.
        offset: u64,
        /// Bytes produced so far.
        total: u64,
    },
    /// A signal number the kernel refuses.
    #[error("invalid signal {0}")]
    BadSignal(i32),
}

impl ProcError {
    /// The protocol code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            ProcError::NotFound(_) => ErrorCode::ProcessNotFound,
            ProcError::Exited(_) => ErrorCode::ProcessExited,
            ProcError::StdinClosed(_) => ErrorCode::StdinClosed,
            ProcError::NotAPty(_) => ErrorCode::NotAPty,
            ProcError::TagInUse(_) => ErrorCode::TagInUse,
            ProcError::BadSize { .. }
            | ProcError::OffsetBeyondEnd { .. }
            | ProcError::BadSignal(_) => ErrorCode::InvalidArgument,
        }
    }

    /// `process_not_found` for `selector`.
    pub fn not_found(selector: &Selector) -> Self {
        ProcError::NotFound(match selector {
            Selector::Pid(pid) => format!("pid {pid}"),
            Selector::Tag(tag) => format!("tag {tag:?}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_map_to_codes() {
        let nf = ProcError::not_found(&Selector::Tag("web".into()));
        assert_eq!(nf.code(), ErrorCode::ProcessNotFound);
        assert!(nf.to_string().contains("\"web\""));
        assert_eq!(ProcError::Exited(3).code(), ErrorCode::ProcessExited);
        assert_eq!(ProcError::StdinClosed(3).code(), ErrorCode::StdinClosed);
        assert_eq!(ProcError::NotAPty(3).code(), ErrorCode::NotAPty);
        assert_eq!(ProcError::TagInUse("t".into()).code(), ErrorCode::TagInUse);
        let bad = ProcError::BadSize { cols: 0, rows: 1 };
        assert_eq!(bad.code(), ErrorCode::InvalidArgument);
    }
}
