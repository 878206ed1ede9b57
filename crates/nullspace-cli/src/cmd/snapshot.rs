//! `nullspace snapshot …` and `nullspace sandbox snapshot create`: reusable snapshots.
//!
//! A snapshot holds a running machine's memory, processes and disk; machines start from
//! it with `sandbox create --snapshot-id` or `sandbox resume snap_…`.

use clap::{Args, Subcommand};
use nullspace_api::{CreateSnapshotRequest, Snapshot, SnapshotList};
use nullspace_client::ListSnapshots;
use nullspace_types::{MachineId, SnapshotId};

use super::{Ctx, Outcome, OK};
use crate::args::{merge, JsonMap, KeyValue};
use crate::output;

/// `snapshot` and its subcommands.
#[derive(Debug, Args)]
pub struct SnapshotArgs {
    /// The subcommand.
    #[command(subcommand)]
    pub command: SnapshotCommand,
}

/// Subcommands of `snapshot`.
#[derive(Debug, Subcommand)]
pub enum SnapshotCommand {
    /// Capture a reusable snapshot of a running machine (it keeps running).
    Create(CreateArgs),
    /// List snapshots, newest first.
    List(ListArgs),
    /// Show one snapshot.
    Get(IdArg),
    /// Delete a snapshot and its files (refused while a machine started from it exists).
    Delete(IdArg),
}

/// `sandbox snapshot` and its subcommand.
#[derive(Debug, Args)]
pub struct SandboxSnapshotArgs {
    /// The subcommand.
    #[command(subcommand)]
    pub command: SandboxSnapshotCommand,
}

/// Subcommands of `sandbox snapshot`.
#[derive(Debug, Subcommand)]
pub enum SandboxSnapshotCommand {
    /// Capture a reusable snapshot of a running machine (it keeps running).
    Create(CreateArgs),
}

/// A snapshot id argument.
#[derive(Debug, Args)]
pub struct IdArg {
    /// Snapshot id (snap_…).
    pub id: SnapshotId,
}

/// Arguments of `snapshot create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Machine id (sb_…).
    pub id: MachineId,
    /// Label, KEY=VALUE (repeatable; wins over --metadata-json).
    #[arg(long, value_name = "KEY=VALUE")]
    pub metadata: Vec<KeyValue>,
    /// Labels as a JSON object.
    #[arg(long, value_name = "JSON")]
    pub metadata_json: Option<JsonMap>,
}

impl CreateArgs {
    /// The request these flags describe.
    pub fn request(&self) -> CreateSnapshotRequest {
        CreateSnapshotRequest {
            metadata: merge(self.metadata_json.clone(), &self.metadata),
        }
    }
}

/// Flags of `snapshot list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only snapshots taken from this machine.
    #[arg(long, visible_alias = "machine-id", value_name = "ID")]
    pub sandbox_id: Option<MachineId>,
    /// Only snapshots with this label, KEY=VALUE (repeatable; all must match).
    #[arg(long, value_name = "KEY=VALUE")]
    pub metadata: Vec<KeyValue>,
    /// Page size (1-1000; server default 100).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub limit: Option<u32>,
    /// Start at this cursor (from a previous page's next_cursor).
    #[arg(long, conflicts_with = "all")]
    pub cursor: Option<String>,
    /// Follow next_cursor and list every page.
    #[arg(long)]
    pub all: bool,
}

/// Runs `snapshot …`.
pub async fn run(ctx: &Ctx, args: SnapshotArgs) -> Outcome {
    match args.command {
        SnapshotCommand::Create(args) => create(ctx, &args).await,
        SnapshotCommand::List(args) => list(ctx, &args).await,
        SnapshotCommand::Get(IdArg { id }) => {
            let snapshot = ctx.client()?.get_snapshot(&id).await?;
            show(ctx, &snapshot)
        }
        SnapshotCommand::Delete(IdArg { id }) => {
            ctx.client()?.delete_snapshot(&id).await?;
            if ctx.json() {
                output::json(&serde_json::json!({"id": id, "deleted": true}))?;
            } else {
                output::line(&format!("deleted {id}"))?;
            }
            Ok(OK)
        }
    }
}

/// Runs `sandbox snapshot …`.
pub async fn run_sandbox(ctx: &Ctx, args: SandboxSnapshotArgs) -> Outcome {
    match args.command {
        SandboxSnapshotCommand::Create(args) => create(ctx, &args).await,
    }
}

async fn create(ctx: &Ctx, args: &CreateArgs) -> Outcome {
    let snapshot = ctx
        .client()?
        .create_snapshot(&args.id, &args.request())
        .await?;
    show(ctx, &snapshot)
}

async fn list(ctx: &Ctx, args: &ListArgs) -> Outcome {
    let client = ctx.client()?;
    let filter = ListSnapshots {
        machine_id: args.sandbox_id.clone(),
        metadata: args
            .metadata
            .iter()
            .map(|KeyValue(k, v)| (k.clone(), v.clone()))
            .collect(),
        limit: args.limit,
        cursor: None,
    };
    let (snapshots, next_cursor) = super::fetch_pages(args.cursor.clone(), args.all, |cursor| {
        let (client, filter) = (
            &client,
            ListSnapshots {
                cursor,
                ..filter.clone()
            },
        );
        async move {
            let page = client.list_snapshots(&filter).await?;
            Ok((page.snapshots, page.next_cursor))
        }
    })
    .await?;
    let page = SnapshotList {
        snapshots,
        next_cursor,
    };
    let table = (!page.snapshots.is_empty()).then(|| table(&page.snapshots));
    super::show_list(
        ctx,
        &page,
        "no snapshots",
        table,
        page.next_cursor.as_deref(),
    )
}

fn show(ctx: &Ctx, snapshot: &Snapshot) -> Outcome {
    if ctx.json() {
        output::json(snapshot)?;
    } else {
        output::line(&fields(snapshot))?;
    }
    Ok(OK)
}

/// A snapshot, one field a line.
fn fields(s: &Snapshot) -> String {
    output::fields(&[
        ("id", s.id.to_string()),
        ("machine_id", s.machine_id.to_string()),
        ("template", s.template.clone()),
        ("cpu_count", s.cpu_count.to_string()),
        ("memory_mb", s.memory_mb.to_string()),
        ("size", output::size(s.size_bytes)),
        ("source_stall", format!("{} ms", s.source_stall_ms)),
        ("metadata", output::labels(&s.metadata)),
        ("created_at", s.created_at.clone()),
    ])
}

/// Snapshots as a table.
fn table(list: &[Snapshot]) -> String {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|s| {
            vec![
                s.id.to_string(),
                s.machine_id.to_string(),
                s.template.clone(),
                output::size(s.size_bytes),
                s.created_at.clone(),
                output::labels(&s.metadata),
            ]
        })
        .collect();
    output::table(
        &["ID", "MACHINE", "TEMPLATE", "SIZE", "CREATED", "METADATA"],
        &rows,
    )
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(["nullspace"].iter().chain(args))
    }

    #[test]
    fn create_merges_metadata_flags_over_json() {
        let Command::Snapshot(SnapshotArgs {
            command: SnapshotCommand::Create(args),
        }) = parse(&[
            "snapshot",
            "create",
            "sb_a",
            "--metadata-json",
            r#"{"a":"0","b":"1"}"#,
            "--metadata",
            "a=2",
        ])
        .unwrap()
        .command
        else {
            panic!()
        };
        let r = args.request();
        assert_eq!(r.metadata["a"], "2");
        assert_eq!(r.metadata["b"], "1");
    }

    #[test]
    fn ids_are_typed() {
        assert!(parse(&["snapshot", "get", "sb_a"]).is_err());
        assert!(parse(&["snapshot", "delete", "snap_a"]).is_ok());
        assert!(parse(&["snapshot", "create", "snap_a"]).is_err());
        assert!(parse(&["snapshot", "list", "--sandbox-id", "snap_a"]).is_err());
        assert!(parse(&["snapshot", "list", "--machine-id", "sb_a"]).is_ok());
        assert!(parse(&["snapshot", "list", "--limit", "0"]).is_err());
        assert!(parse(&["sandbox", "snapshot", "create", "sb_a"]).is_ok());
        assert!(parse(&["machine", "snapshot", "list"]).is_err());
    }

    #[test]
    fn human_output_has_units() {
        let s = nullspace_client::test_server::sample_snapshot("snap_a", "sb_a");
        let text = fields(&s);
        assert!(text.contains("64.0 MiB"), "{text}");
        assert!(text.contains("120 ms"), "{text}");
        let t = table(&[s]);
        assert!(t.starts_with("ID"), "{t}");
        assert!(t.contains("snap_a  sb_a"), "{t}");
    }
}
