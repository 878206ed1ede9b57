//! The three services the operations are grouped in. The grouping is the
//! agent's and the spec's, not the wire's: a call still carries one flat `op`
//! tag, and [`Op::service`] says which service answers it.

use crate::msg::Op;

/// A group of related operations, served by its own part of the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Service {
    /// The guest itself: handshake and identity, liveness, resource use.
    System,
    /// Processes: one-shot `exec` and the process table.
    Process,
    /// Files and directories, with a user's rights.
    Filesystem,
}

impl Service {
    /// Every service, in the order of the spec.
    pub const ALL: [Service; 3] = [Service::System, Service::Process, Service::Filesystem];

    /// The service's name in the spec (`system`, `process`, `filesystem`).
    pub fn name(self) -> &'static str {
        match self {
            Service::System => "system",
            Service::Process => "process",
            Service::Filesystem => "filesystem",
        }
    }
}

impl Op {
    /// The service the operation belongs to.
    pub fn service(&self) -> Service {
        match self {
            Op::Hello { .. } | Op::Health | Op::Metrics { .. } => Service::System,
            Op::Exec(_)
            | Op::ProcessStart(_)
            | Op::ProcessList
            | Op::ProcessAttach(_)
            | Op::ProcessInput { .. }
            | Op::ProcessSignal { .. }
            | Op::ProcessResize { .. }
            | Op::ProcessWait { .. } => Service::Process,
            Op::ReadFile { .. }
            | Op::WriteFile { .. }
            | Op::List { .. }
            | Op::Stat { .. }
            | Op::Exists { .. }
            | Op::Mkdir { .. }
            | Op::Remove { .. }
            | Op::Rename { .. }
            | Op::Chmod { .. }
            | Op::SearchFiles(_)
            | Op::FindInFiles(_)
            | Op::ReplaceInFiles(_)
            | Op::WatchDir(_)
            | Op::ExtractArchive(_)
            | Op::CreateArchive(_)
            | Op::DigestFile(_) => Service::Filesystem,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::{
        Conflict, ExtractRequest, FindRequest, ReplaceRequest, Scope, SearchRequest, TextMatch,
        WatchRequest,
    };
    use crate::process::{ProcessAttach, ProcessStart, PtySize, Selector};
    use crate::KNOWN_OPS;

    /// One operation of every kind, in the order of `KNOWN_OPS`.
    fn every_op() -> Vec<Op> {
        let path = || "/workspace/f".to_string();
        let pid = || Selector::Pid(1);
        vec![
            Op::Hello {
                identity: None,
                protocol: 2,
            },
            Op::Health,
            Op::Metrics { sample_ms: 0 },
            Op::Exec(Default::default()),
            Op::ReadFile {
                path: path(),
                root: None,
                user: None,
                offset: 0,
                limit: None,
            },
            Op::WriteFile {
                path: path(),
                root: None,
                user: None,
                mode: None,
                owner: None,
                create_parents: false,
                append: false,
                offset: None,
            },
            Op::List {
                path: path(),
                root: None,
                user: None,
                depth: 1,
            },
            Op::Stat {
                path: path(),
                root: None,
                user: None,
            },
            Op::Exists {
                path: path(),
                root: None,
                user: None,
            },
            Op::Mkdir {
                path: path(),
                root: None,
                user: None,
                mode: None,
                owner: None,
            },
            Op::Remove {
                path: path(),
                root: None,
                user: None,
                recursive: false,
            },
            Op::Rename {
                from: path(),
                to: path(),
                root: None,
                user: None,
            },
            Op::Chmod {
                path: path(),
                root: None,
                user: None,
                mode: 0o644,
            },
            Op::ProcessStart(ProcessStart::default()),
            Op::ProcessList,
            Op::ProcessAttach(ProcessAttach {
                process: pid(),
                stdout_from: None,
                stderr_from: None,
                follow: false,
            }),
            Op::ProcessInput {
                process: pid(),
                close: false,
            },
            Op::ProcessSignal {
                process: pid(),
                signal: 15,
            },
            Op::ProcessResize {
                process: pid(),
                size: PtySize { cols: 80, rows: 24 },
            },
            Op::ProcessWait { process: pid() },
            Op::SearchFiles(SearchRequest {
                scope: scope(),
                pattern: "*".into(),
                limit: 1,
            }),
            Op::FindInFiles(FindRequest {
                scope: scope(),
                text: text(),
                max_results: 1,
                max_file_bytes: 1,
            }),
            Op::ReplaceInFiles(ReplaceRequest {
                paths: vec![path()],
                root: None,
                user: None,
                text: text(),
                replacement: String::new(),
                dry_run: true,
                max_files: 1,
            }),
            Op::WatchDir(WatchRequest {
                scope: scope(),
                recursive: false,
            }),
            Op::ExtractArchive(ExtractRequest {
                scope: scope(),
                conflict: Conflict::Merge,
                source: None,
            }),
            Op::CreateArchive(scope()),
            Op::DigestFile(scope()),
        ]
    }

    fn scope() -> Scope {
        Scope {
            path: "/workspace".into(),
            root: None,
            user: None,
        }
    }

    fn text() -> TextMatch {
        TextMatch {
            pattern: "x".into(),
            regex: false,
            case_sensitive: true,
            include: None,
        }
    }

    #[test]
    fn every_operation_has_its_service() {
        let ops = every_op();
        let names: Vec<&str> = ops.iter().map(Op::name).collect();
        assert_eq!(names, KNOWN_OPS);
        for op in &ops {
            let expected = match op.name() {
                "hello" | "health" | "metrics" => Service::System,
                "exec" => Service::Process,
                name if name.starts_with("process_") => Service::Process,
                "read_file" | "write_file" | "list" | "stat" | "exists" | "mkdir" | "remove"
                | "rename" | "chmod" | "search_files" | "find_in_files" | "replace_in_files"
                | "watch_dir" | "extract_archive" | "create_archive" | "digest_file" => {
                    Service::Filesystem
                }
                other => panic!("{other} is not placed in a service by this test"),
            };
            assert_eq!(op.service(), expected, "{}", op.name());
        }
    }

    #[test]
    fn services_have_names_and_operations() {
        let names: Vec<&str> = Service::ALL.iter().map(|s| s.name()).collect();
        assert_eq!(names, ["system", "process", "filesystem"]);
        let ops = every_op();
        for service in Service::ALL {
            assert!(ops.iter().any(|op| op.service() == service), "{service:?}");
        }
    }
}
