//! `nullspace sandbox …` (alias `machine`): machines and their commands.

use clap::{ArgGroup, Args, Subcommand, ValueEnum};
use nullspace_api::{
    CreateMachineRequest, KillOutcome, KillResponse, Machine, MachineList, TimeoutAction,
};
use nullspace_client::ListMachines;
use nullspace_types::{MachineId, MachineState};

pub use super::sandbox_create::CreateArgs;
use super::{
    exec, file, fork, git, metrics, preview, process, pty, snapshot, ssh, upload, Ctx, Outcome, OK,
};
use crate::args::{KeyValue, MachineOrSnapshot, OnTimeout};
use crate::output;

/// `sandbox` and its subcommands.
#[derive(Debug, Args)]
pub struct SandboxArgs {
    /// The subcommand.
    #[command(subcommand)]
    pub command: SandboxCommand,
}

/// Subcommands of `sandbox`.
#[derive(Debug, Subcommand)]
pub enum SandboxCommand {
    /// Create a machine from a template or a snapshot.
    Create(CreateArgs),
    /// List machines, newest first: the live ones unless --state names others.
    List(ListArgs),
    /// Show one machine (and why it failed, if it did).
    Get(IdArg),
    /// Run a command in a machine and exit with its exit code: `exec ID COMMAND
    /// [ARGS]...` or `exec ID --shell "CMD"`; piped standard input is sent to it.
    Exec(exec::ExecArgs),
    /// Kill a machine (or cancel its create if it is still starting); nothing of it is
    /// left.
    Kill(IdArg),
    /// Pause a running machine: memory, processes and devices are saved to disk and the
    /// VM stops (no CPU, no RAM; the disk is kept).
    #[command(visible_alias = "hibernate")]
    Pause(IdArg),
    /// Resume a paused machine (sb_…) with its processes and files (a running one is left
    /// as is), or start a new machine from a snapshot (snap_…).
    Resume(ResumeArgs),
    /// Change when a machine's timeout is reached, and what happens then.
    Timeout(TimeoutArgs),
    /// Make running copies of a running machine (memory, processes, disk); it keeps running.
    Fork(fork::ForkArgs),
    /// Show CPU, memory and disk use inside a machine, and its uptime.
    Metrics(IdArg),
    /// Capture a reusable snapshot of a machine.
    Snapshot(snapshot::SandboxSnapshotArgs),
    /// Read, write and manage files of a machine.
    File(file::FileArgs),
    /// Upload a local file, directory or standard input (-) into a machine.
    Upload(upload::UploadArgs),
    /// Background processes: list, logs, stdin, stream, attach, kill.
    Process(process::ProcessArgs),
    /// Terminal sessions: create, list, connect, resize, kill.
    Pty(pty::PtyArgs),
    /// Git in a machine: clone, status, log, diff, add, commit, checkout, branch, pull,
    /// push, fetch, remote, config.
    Git(git::GitArgs),
    /// Print the preview host of a machine port (`8080-sb_….localhost:7070`).
    Host(preview::PortArgs),
    /// Print the preview URL of a machine port, signed with a new one-hour grant when the
    /// machine takes no public traffic (its token redacted unless --raw).
    Url(preview::UrlArgs),
    /// Preview URLs of machine ports: get, create (signed links), list and revoke grants.
    PreviewUrl(preview::PreviewUrlArgs),
    /// Upstreams and header tokens for a reverse proxy of your own.
    PreviewProxyTarget(preview::ProxyTargetArgs),
    /// Certify an SSH public key for the machine through the server's relay (the
    /// certificate is written beside the key); --print-command prints a ready `ssh` line.
    SshAccess(ssh::SshAccessArgs),
}

/// Argument of `sandbox resume`.
#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// Paused machine id (sb_…), or snapshot id (snap_…) to start a new machine from.
    #[arg(value_name = "ID")]
    pub target: MachineOrSnapshot,
}

/// A machine id argument.
#[derive(Debug, Args)]
pub struct IdArg {
    /// Machine id (sb_…).
    pub id: MachineId,
}

/// A machine state, as `--state` spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StateArg {
    /// Being restored.
    Starting,
    /// Running.
    Running,
    /// Briefly paused for a snapshot.
    Snapshotting,
    /// Being saved to disk.
    Pausing,
    /// Saved to disk; resumable.
    Paused,
    /// Being restored from its paused state.
    Resuming,
    /// Being torn down.
    Killing,
    /// Gone.
    Killed,
    /// Its VMM died.
    Failed,
}

impl From<StateArg> for MachineState {
    fn from(state: StateArg) -> Self {
        match state {
            StateArg::Starting => MachineState::Starting,
            StateArg::Running => MachineState::Running,
            StateArg::Snapshotting => MachineState::Snapshotting,
            StateArg::Pausing => MachineState::Pausing,
            StateArg::Paused => MachineState::Paused,
            StateArg::Resuming => MachineState::Resuming,
            StateArg::Killing => MachineState::Killing,
            StateArg::Killed => MachineState::Killed,
            StateArg::Failed => MachineState::Failed,
        }
    }
}

/// Flags of `sandbox list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only machines in these states (repeatable, or comma-separated: killed,failed).
    /// Default: the live ones, every state but killed and failed; those are kept for
    /// the server's history retention (7 days by default).
    #[arg(long, value_enum, value_name = "STATE", value_delimiter = ',')]
    pub state: Vec<StateArg>,
    /// Only machines of this template.
    #[arg(long)]
    pub template: Option<String>,
    /// Only machines with this label, KEY=VALUE (repeatable; all must match).
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

/// `sandbox timeout` and its subcommand.
#[derive(Debug, Args)]
pub struct TimeoutArgs {
    /// The subcommand.
    #[command(subcommand)]
    pub command: TimeoutCommand,
}

/// Subcommands of `sandbox timeout`.
#[derive(Debug, Subcommand)]
pub enum TimeoutCommand {
    /// Reach the machine's timeout SECONDS from now (and then kill or pause it).
    Set(TimeoutSetArgs),
}

/// Arguments of `sandbox timeout set`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("secs").required(true).args(["seconds", "seconds_flag"])))]
pub struct TimeoutSetArgs {
    /// Machine id (sb_…).
    pub id: MachineId,
    /// Seconds from now (1-2592000).
    #[arg(value_parser = clap::value_parser!(i64).range(1..=nullspace_api::MAX_TIMEOUT_SECS))]
    pub seconds: Option<i64>,
    /// Seconds from now, as a flag.
    #[arg(long = "seconds", value_name = "SECONDS", value_parser = clap::value_parser!(i64).range(1..=nullspace_api::MAX_TIMEOUT_SECS))]
    pub seconds_flag: Option<i64>,
    /// What happens at the timeout (default: unchanged; hibernate is pause).
    #[arg(long, value_enum, value_name = "ACTION")]
    pub action: Option<OnTimeout>,
}

/// Runs `sandbox …`.
pub async fn run(ctx: &Ctx, args: SandboxArgs) -> Outcome {
    match args.command {
        SandboxCommand::Create(args) => create(ctx, &args).await,
        SandboxCommand::List(args) => list(ctx, &args).await,
        SandboxCommand::Get(IdArg { id }) => {
            let machine = ctx.client()?.get_machine(&id).await?;
            show_machine(ctx, &machine)
        }
        SandboxCommand::Exec(args) => exec::run(ctx, &args).await,
        SandboxCommand::Kill(IdArg { id }) => {
            let answer = ctx.client()?.kill_machine(&id).await?;
            if ctx.json() {
                output::json(&kill_json(&id, answer.as_ref()))?;
            } else {
                output::line(&kill_text(&id, answer.as_ref()))?;
            }
            Ok(OK)
        }
        SandboxCommand::Pause(IdArg { id }) => {
            let machine = ctx.client()?.pause_machine(&id).await?;
            show_transition(ctx, "paused", &machine)
        }
        SandboxCommand::Resume(ResumeArgs { target }) => resume(ctx, target).await,
        SandboxCommand::Timeout(TimeoutArgs {
            command: TimeoutCommand::Set(args),
        }) => {
            let seconds = args.seconds.or(args.seconds_flag).unwrap_or_default();
            let action = args.action.map(TimeoutAction::from);
            let machine = ctx.client()?.set_timeout(&args.id, seconds, action).await?;
            if ctx.json() {
                output::json(&machine)?;
            } else {
                output::line(&format!(
                    "{} reaches its timeout at {}, then: {}",
                    machine.id,
                    machine.end_at,
                    machine.timeout_action.as_str()
                ))?;
            }
            Ok(OK)
        }
        SandboxCommand::Fork(args) => fork::run(ctx, &args).await,
        SandboxCommand::Metrics(IdArg { id }) => metrics::run(ctx, &id).await,
        SandboxCommand::Snapshot(args) => snapshot::run_sandbox(ctx, args).await,
        SandboxCommand::File(args) => file::run(ctx, args).await,
        SandboxCommand::Upload(args) => upload::run(ctx, args).await,
        SandboxCommand::Process(args) => process::run(ctx, args).await,
        SandboxCommand::Pty(args) => pty::run(ctx, args).await,
        SandboxCommand::Git(args) => git::run(ctx, args).await,
        SandboxCommand::Host(args) => preview::host(ctx, &args).await,
        SandboxCommand::Url(args) => preview::url(ctx, &args).await,
        SandboxCommand::PreviewUrl(args) => preview::run_url(ctx, args).await,
        SandboxCommand::PreviewProxyTarget(args) => preview::run_proxy_target(ctx, args).await,
        SandboxCommand::SshAccess(args) => ssh::access(ctx, args).await,
    }
}

/// `paused sb_…` / `resumed sb_…` (or the machine as JSON with `--json`).
fn show_transition(ctx: &Ctx, done: &str, machine: &Machine) -> Outcome {
    if ctx.json() {
        output::json(machine)?;
    } else {
        output::line(&format!("{done} {}", machine.id))?;
    }
    Ok(OK)
}

/// Resumes a paused machine in place, or starts a new machine from a snapshot (printed
/// like `create` prints one).
async fn resume(ctx: &Ctx, target: MachineOrSnapshot) -> Outcome {
    match target {
        MachineOrSnapshot::Machine(id) => {
            let machine = ctx.client()?.resume_machine(&id).await?;
            show_transition(ctx, "resumed", &machine)
        }
        MachineOrSnapshot::Snapshot(snapshot_id) => {
            let request = CreateMachineRequest {
                snapshot_id: Some(snapshot_id),
                ..CreateMachineRequest::default()
            };
            let machine = ctx.client()?.create_machine(&request).await?;
            show_machine(ctx, &machine)
        }
    }
}

fn show_machine(ctx: &Ctx, machine: &Machine) -> Outcome {
    if ctx.json() {
        output::json(machine)?;
    } else {
        output::line(&output::machine(machine))?;
    }
    Ok(OK)
}

async fn create(ctx: &Ctx, args: &CreateArgs) -> Outcome {
    let machine = ctx.client()?.create_machine(&args.request()).await?;
    show_machine(ctx, &machine)
}

/// What `sandbox kill` says: whether it killed the machine or cancelled its create.
/// A server older than the kill answer (`None`) only said that it killed it.
fn kill_text(id: &MachineId, answer: Option<&KillResponse>) -> String {
    match answer {
        None => format!("killed {id}"),
        Some(k) => match k.outcome {
            KillOutcome::Killed => {
                format!("killed {id} (was {})", output::wire_name(&k.previous_state))
            }
            KillOutcome::CreateCancelled => format!(
                "cancelled the create of {id}: it was still {} and never became usable",
                output::wire_name(&k.previous_state)
            ),
        },
    }
}

/// The API's `KillResponse`, or for an older server's 204 the same fields with the
/// previous state unknown (`null`).
fn kill_json(id: &MachineId, answer: Option<&KillResponse>) -> serde_json::Value {
    match answer {
        Some(k) => serde_json::json!(k),
        None => {
            serde_json::json!({"id": id, "outcome": KillOutcome::Killed, "previous_state": null})
        }
    }
}

async fn list(ctx: &Ctx, args: &ListArgs) -> Outcome {
    let client = ctx.client()?;
    let filter = ListMachines {
        states: args.state.iter().copied().map(MachineState::from).collect(),
        template: args.template.clone(),
        metadata: args
            .metadata
            .iter()
            .map(|KeyValue(k, v)| (k.clone(), v.clone()))
            .collect(),
        limit: args.limit,
        cursor: None,
    };
    let (machines, next_cursor) = super::fetch_pages(args.cursor.clone(), args.all, |cursor| {
        let (client, filter) = (
            &client,
            ListMachines {
                cursor,
                ..filter.clone()
            },
        );
        async move {
            let page = client.list_machines(&filter).await?;
            Ok((page.machines, page.next_cursor))
        }
    })
    .await?;
    let page = MachineList {
        machines,
        next_cursor,
    };
    let table = (!page.machines.is_empty()).then(|| output::machines(&page.machines));
    let none = if args.state.is_empty() {
        "no live machines (killed and failed ones: --state killed,failed)"
    } else {
        "no machines"
    };
    super::show_list(ctx, &page, none, table, page.next_cursor.as_deref())
}

#[cfg(test)]
#[path = "sandbox_tests.rs"]
mod tests;
