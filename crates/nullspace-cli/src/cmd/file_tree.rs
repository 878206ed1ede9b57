//! `nullspace sandbox file find | search | replace | watch`: tree-wide file
//! work done inside the machine.

use clap::{Args, Subcommand};
use nullspace_api::{FindRequest, ReplaceRequest, WatchMsg};
use nullspace_client::WatchOptions;
use nullspace_types::MachineId;

use super::file::AsUser;
use super::{Ctx, Outcome, OK};
use crate::output;

/// How text is matched.
#[derive(Debug, Clone, Args)]
pub struct MatchFlags {
    /// The pattern is a regular expression (default: a literal).
    #[arg(long)]
    pub regex: bool,
    /// Ignore case.
    #[arg(long, short = 'i')]
    pub ignore_case: bool,
    /// Only files whose names match this glob (e.g. '*.py').
    #[arg(long, value_name = "GLOB")]
    pub include: Option<String>,
}

/// The tree-wide subcommands of `sandbox file`.
#[derive(Debug, Subcommand)]
pub enum TreeCommand {
    /// Print the lines of files below a directory (or of one file) that match.
    Find {
        /// Machine id (sb_…).
        id: MachineId,
        /// Directory (walked) or file.
        path: String,
        /// What to look for.
        pattern: String,
        #[command(flatten)]
        flags: MatchFlags,
        /// Most matches (1-10000; server default 1000).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=10000))]
        max_results: Option<u32>,
        #[command(flatten)]
        as_user: AsUser,
    },
    /// Print the entries below a directory whose names match a glob ('*.py', 'src/**/*.rs').
    Search {
        /// Machine id (sb_…).
        id: MachineId,
        /// Directory.
        path: String,
        /// Glob.
        pattern: String,
        /// Most entries (1-10000; server default 1000).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=10000))]
        limit: Option<u32>,
        #[command(flatten)]
        as_user: AsUser,
    },
    /// Replace text in files (named, or below named directories).
    Replace {
        /// Machine id (sb_…).
        id: MachineId,
        /// What to replace.
        find: String,
        /// The replacement ($1, ${name} refer to groups with --regex).
        replace: String,
        /// Files or directories.
        #[arg(required = true)]
        paths: Vec<String>,
        #[command(flatten)]
        flags: MatchFlags,
        /// Count what would change, and write nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        as_user: AsUser,
    },
    /// Print changes below a directory as they happen (until Ctrl-C or --timeout).
    Watch {
        /// Machine id (sb_…).
        id: MachineId,
        /// Directory.
        path: String,
        /// Watch subdirectories too.
        #[arg(long, short)]
        recursive: bool,
        /// Stop after this many seconds.
        #[arg(long, value_name = "SECONDS")]
        timeout: Option<f64>,
        #[command(flatten)]
        as_user: AsUser,
    },
}

/// Runs one of the tree-wide subcommands.
pub async fn run(ctx: &Ctx, command: TreeCommand) -> Outcome {
    let client = ctx.client()?;
    let json = ctx.json();
    match command {
        TreeCommand::Find {
            id,
            path,
            pattern,
            flags,
            max_results,
            as_user,
        } => {
            let request = FindRequest {
                path,
                pattern,
                regex: flags.regex,
                case_sensitive: flags.ignore_case.then_some(false),
                include: flags.include,
                max_results,
                max_file_bytes: None,
                user: as_user.user.map(|u| u.0),
            };
            let found = client.find_in_files(&id, &request).await?;
            if json {
                output::json(&found)?;
            } else {
                for m in &found.matches {
                    output::line(&format!("{}:{}:{}: {}", m.path, m.line, m.column, m.text))?;
                }
                if found.truncated {
                    output::line("(more matches: raise --max-results)")?;
                }
            }
        }
        TreeCommand::Search {
            id,
            path,
            pattern,
            limit,
            as_user,
        } => {
            let user = as_user.user.map(|u| u.0);
            let found = client
                .search_files(&id, &path, &pattern, limit, user.as_deref())
                .await?;
            if json {
                output::json(&found)?;
            } else {
                for e in &found.entries {
                    output::line(&e.path)?;
                }
                if found.truncated {
                    output::line("(more entries: raise --limit)")?;
                }
            }
        }
        TreeCommand::Replace {
            id,
            find,
            replace,
            paths,
            flags,
            dry_run,
            as_user,
        } => {
            let request = ReplaceRequest {
                paths,
                find,
                replace,
                regex: flags.regex,
                case_sensitive: flags.ignore_case.then_some(false),
                include: flags.include,
                dry_run,
                max_files: None,
                user: as_user.user.map(|u| u.0),
            };
            let done = client.replace_in_files(&id, &request).await?;
            if json {
                output::json(&done)?;
            } else {
                let verb = if dry_run { "would replace" } else { "replaced" };
                for f in &done.files {
                    output::line(&format!("{}: {verb} {}", f.path, f.replacements))?;
                }
                output::line(&format!(
                    "{verb} {} in {} files",
                    done.total_replacements,
                    done.files.len()
                ))?;
            }
        }
        TreeCommand::Watch {
            id,
            path,
            recursive,
            timeout,
            as_user,
        } => {
            let options = WatchOptions {
                recursive,
                timeout,
                user: as_user.user.map(|u| u.0),
            };
            let mut watch = client.watch_dir(&id, &path, &options).await?;
            while let Some(msg) = watch.next().await? {
                if json {
                    output::json_line(&msg)?;
                    continue;
                }
                match msg {
                    WatchMsg::Ready { path } => eprintln!("watching {path}"),
                    WatchMsg::Event(e) => {
                        let dir = if e.is_dir { "/" } else { "" };
                        let kind = serde_json::to_value(e.kind).unwrap_or_default();
                        output::line(&format!("{} {}{dir}", kind.as_str().unwrap_or("?"), e.path))?;
                    }
                    WatchMsg::End { reason } => {
                        let why = serde_json::to_value(reason).unwrap_or_default();
                        eprintln!("watch ended: {}", why.as_str().unwrap_or("?"));
                    }
                    WatchMsg::Error { code, message } => {
                        return Err(nullspace_client::ClientError::Api {
                            status: 500,
                            code,
                            message,
                            output: None,
                            retry_after: None,
                        }
                        .into())
                    }
                }
            }
        }
    }
    Ok(OK)
}
