//! `nullspace sandbox …` (alias `machine`): machines and their commands.

use clap::{ArgGroup, Args, Subcommand, ValueEnum};
use nullspace_api::{
    CreateMachineRequest, KillOutcome, KillResponse, Machine, MachineList, TimeoutAction,
    DEFAULT_TEMPLATE,
};
use nullspace_client::ListMachines;
use nullspace_types::{MachineId, MachineState, SnapshotId};

use super::{exec, file, fork, metrics, process, pty, snapshot, Ctx, Outcome, OK};
use crate::args::{merge, JsonMap, KeyValue, MachineOrSnapshot, OnTimeout};
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
    /// Background processes: list, logs, stdin, stream, attach, kill.
    Process(process::ProcessArgs),
    /// Terminal sessions: create, list, connect, resize, kill.
    Pty(pty::PtyArgs),
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

/// Flags of `sandbox create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Template to create the machine from (default base; with --snapshot-id, the
    /// snapshot's).
    #[arg(long)]
    pub template: Option<String>,
    /// Start from this snapshot (its memory, processes and disk) instead of a template.
    #[arg(long, value_name = "SNAPSHOT_ID")]
    pub snapshot_id: Option<SnapshotId>,
    /// Seconds until the timeout is reached (1-2592000; server default 300).
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(i64).range(1..=nullspace_api::MAX_TIMEOUT_SECS))]
    pub timeout: Option<i64>,
    /// What happens at the timeout (server default kill; hibernate is pause).
    #[arg(long, value_enum, value_name = "ACTION")]
    pub on_timeout: Option<OnTimeout>,
    /// --on-timeout under the API's field name.
    #[arg(long, value_enum, value_name = "ACTION", conflicts_with = "on_timeout")]
    pub timeout_action: Option<OnTimeout>,
    /// Wake the machine when a request reaches it while it is paused.
    #[arg(long, overrides_with = "no_auto_resume")]
    pub auto_resume: bool,
    /// Leave the machine paused until it is resumed explicitly (server default).
    #[arg(long, overrides_with = "auto_resume")]
    pub no_auto_resume: bool,
    /// Default working directory of commands (server default /workspace).
    #[arg(long)]
    pub cwd: Option<String>,
    /// Environment variable of every command, KEY=VALUE (repeatable; wins over --env-json).
    #[arg(long = "env", value_name = "KEY=VALUE")]
    pub envs: Vec<KeyValue>,
    /// Environment variables as a JSON object.
    #[arg(long, value_name = "JSON")]
    pub env_json: Option<JsonMap>,
    /// Label, KEY=VALUE (repeatable; wins over --metadata-json).
    #[arg(long, value_name = "KEY=VALUE")]
    pub metadata: Vec<KeyValue>,
    /// Labels as a JSON object.
    #[arg(long, value_name = "JSON")]
    pub metadata_json: Option<JsonMap>,
    /// Repeating a create with the same key returns the same machine.
    #[arg(long, value_name = "KEY")]
    pub idempotency_key: Option<String>,
    /// vCPUs (must be what the template allows).
    #[arg(long, value_name = "N")]
    pub cpu_count: Option<u32>,
    /// Memory in MiB (must be what the template allows).
    #[arg(long, value_name = "N")]
    pub memory_mb: Option<u64>,
}

impl CreateArgs {
    /// The request these flags describe.
    pub fn request(&self) -> CreateMachineRequest {
        let template = match (&self.template, &self.snapshot_id) {
            (Some(template), _) => Some(template.clone()),
            (None, None) => Some(DEFAULT_TEMPLATE.to_owned()),
            // The snapshot knows its template.
            (None, Some(_)) => None,
        };
        let auto_resume = match (self.auto_resume, self.no_auto_resume) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        };
        CreateMachineRequest {
            template,
            cpu_count: self.cpu_count,
            memory_mb: self.memory_mb,
            timeout: self.timeout,
            metadata: merge(self.metadata_json.clone(), &self.metadata),
            envs: merge(self.env_json.clone(), &self.envs),
            cwd: self.cwd.clone(),
            idempotency_key: self.idempotency_key.clone(),
            snapshot_id: self.snapshot_id.clone(),
            timeout_action: self
                .on_timeout
                .or(self.timeout_action)
                .map(TimeoutAction::from),
            auto_resume,
        }
    }
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
        SandboxCommand::Process(args) => process::run(ctx, args).await,
        SandboxCommand::Pty(args) => pty::run(ctx, args).await,
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
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn sandbox(args: &[&str]) -> SandboxCommand {
        let cli = Cli::try_parse_from(["nullspace", "sandbox"].iter().chain(args)).unwrap();
        match cli.command {
            Command::Sandbox(s) => s.command,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn create_flags_build_the_request() {
        let SandboxCommand::Create(args) = sandbox(&[
            "create",
            "--env",
            "A=1",
            "--env-json",
            r#"{"A":"0","B":"2"}"#,
            "--metadata",
            "team=eval",
            "--timeout",
            "60",
            "--idempotency-key",
            "k",
        ]) else {
            panic!()
        };
        let r = args.request();
        assert_eq!(r.template.as_deref(), Some("base"));
        assert_eq!(r.envs["A"], "1");
        assert_eq!(r.envs["B"], "2");
        assert_eq!(r.metadata["team"], "eval");
        assert_eq!(r.timeout, Some(60));
        assert_eq!(r.idempotency_key.as_deref(), Some("k"));
    }

    #[test]
    fn create_lifecycle_flags_build_the_request() {
        let create = |a: &[&str]| {
            let mut all = vec!["create"];
            all.extend_from_slice(a);
            let SandboxCommand::Create(args) = sandbox(&all) else {
                panic!()
            };
            args.request()
        };
        let r = create(&[]);
        assert_eq!(r.template.as_deref(), Some("base"));
        assert_eq!(
            (r.snapshot_id, r.timeout_action, r.auto_resume),
            (None, None, None)
        );
        let r = create(&["--snapshot-id", "snap_x", "--on-timeout", "hibernate"]);
        assert_eq!(r.template, None, "the snapshot's template");
        assert_eq!(r.snapshot_id.unwrap().as_str(), "snap_x");
        assert_eq!(r.timeout_action, Some(TimeoutAction::Pause));
        let r = create(&["--snapshot-id", "snap_x", "--template", "py"]);
        assert_eq!(r.template.as_deref(), Some("py"));
        let r = create(&["--timeout-action", "kill", "--auto-resume"]);
        assert_eq!(r.timeout_action, Some(TimeoutAction::Kill));
        assert_eq!(r.auto_resume, Some(true));
        let r = create(&["--auto-resume", "--no-auto-resume"]);
        assert_eq!(r.auto_resume, Some(false), "the last one wins");
        let r = create(&["--no-auto-resume", "--auto-resume"]);
        assert_eq!(r.auto_resume, Some(true));

        let parse =
            |a: &[&str]| Cli::try_parse_from(["nullspace", "sandbox", "create"].iter().chain(a));
        for bad in [
            &["--on-timeout", "sleep"][..],
            &["--timeout-action", "pause", "--on-timeout", "pause"][..],
            &["--snapshot-id", "sb_x"][..],
            &["--timeout", "0"][..],
            &["--timeout", "2592001"][..],
        ] {
            assert_eq!(parse(bad).unwrap_err().exit_code(), 2, "{bad:?}");
        }
        let err = parse(&["--on-timeout", "sleep"]).unwrap_err().to_string();
        assert!(err.contains("kill, pause, hibernate"), "{err}");
    }

    #[test]
    fn timeout_set_takes_positional_or_flag() {
        for a in [
            &["timeout", "set", "sb_a", "120"][..],
            &["timeout", "set", "sb_a", "--seconds", "120"][..],
        ] {
            let SandboxCommand::Timeout(TimeoutArgs {
                command: TimeoutCommand::Set(t),
            }) = sandbox(a)
            else {
                panic!()
            };
            assert_eq!(t.seconds.or(t.seconds_flag), Some(120));
        }
        let SandboxCommand::Timeout(TimeoutArgs {
            command: TimeoutCommand::Set(t),
        }) = sandbox(&[
            "timeout",
            "set",
            "sb_a",
            "--seconds",
            "9",
            "--action",
            "hibernate",
        ])
        else {
            panic!()
        };
        assert_eq!(
            t.action.map(TimeoutAction::from),
            Some(TimeoutAction::Pause)
        );
        assert!(Cli::try_parse_from([
            "nullspace",
            "sandbox",
            "timeout",
            "set",
            "sb_a",
            "9",
            "--action",
            "sleep"
        ])
        .is_err());
        assert!(Cli::try_parse_from(["nullspace", "sandbox", "timeout", "set", "sb_a"]).is_err());
        assert!(
            Cli::try_parse_from(["nullspace", "sandbox", "timeout", "set", "sb_a", "0"]).is_err()
        );
    }

    #[test]
    fn pause_resume_and_new_states_parse() {
        let SandboxCommand::Pause(IdArg { id }) = sandbox(&["pause", "sb_a"]) else {
            panic!()
        };
        assert_eq!(id.as_str(), "sb_a");
        assert!(matches!(
            sandbox(&["hibernate", "sb_a"]),
            SandboxCommand::Pause(_)
        ));
        assert!(matches!(
            sandbox(&["resume", "sb_a"]),
            SandboxCommand::Resume(ResumeArgs {
                target: MachineOrSnapshot::Machine(_)
            })
        ));
        assert!(matches!(
            sandbox(&["resume", "snap_a"]),
            SandboxCommand::Resume(ResumeArgs {
                target: MachineOrSnapshot::Snapshot(_)
            })
        ));
        assert!(Cli::try_parse_from(["nullspace", "sandbox", "pause"]).is_err());
        assert!(Cli::try_parse_from(["nullspace", "sandbox", "resume", "nope"]).is_err());
        let SandboxCommand::List(args) = sandbox(&["list", "--state", "paused"]) else {
            panic!()
        };
        assert_eq!(args.state, [StateArg::Paused]);
    }

    #[test]
    fn states_are_repeatable_and_comma_separated() {
        let states = |a: &[&str]| {
            let mut all = vec!["list"];
            all.extend_from_slice(a);
            let SandboxCommand::List(args) = sandbox(&all) else {
                panic!()
            };
            args.state
                .into_iter()
                .map(MachineState::from)
                .collect::<Vec<_>>()
        };
        assert_eq!(states(&[]), [], "the server's default: live machines");
        assert_eq!(
            states(&["--state", "killed,failed", "--state", "paused"]),
            [
                MachineState::Killed,
                MachineState::Failed,
                MachineState::Paused
            ]
        );
        let err = Cli::try_parse_from(["nullspace", "sandbox", "list", "--state", "running,gone"])
            .unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("'gone'"), "{err}");
    }

    #[test]
    fn kill_says_what_it_did() {
        let id: MachineId = "sb_a".parse().unwrap();
        let killed = KillResponse {
            id: id.clone(),
            outcome: KillOutcome::Killed,
            previous_state: MachineState::Paused,
        };
        assert_eq!(kill_text(&id, Some(&killed)), "killed sb_a (was paused)");
        assert_eq!(
            kill_json(&id, Some(&killed)),
            serde_json::json!({"id": "sb_a", "outcome": "killed", "previous_state": "paused"})
        );
        let cancelled = KillResponse {
            outcome: KillOutcome::CreateCancelled,
            previous_state: MachineState::Starting,
            ..killed
        };
        assert_eq!(
            kill_text(&id, Some(&cancelled)),
            "cancelled the create of sb_a: it was still starting and never became usable"
        );
        assert_eq!(kill_text(&id, None), "killed sb_a");
        assert_eq!(
            kill_json(&id, None),
            serde_json::json!({"id": "sb_a", "outcome": "killed", "previous_state": null})
        );
    }
}
