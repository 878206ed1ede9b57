//! `nullspace sandbox …` (alias `machine`): machines and their commands.

use std::io::Read;
use std::path::PathBuf;

use clap::{ArgGroup, Args, Subcommand, ValueEnum};
use nullspace_api::{CreateMachineRequest, Machine, MachineList, RunCommandRequest};
use nullspace_client::ListMachines;
use nullspace_types::{MachineId, MachineState};

use super::{file, Ctx, Outcome, OK};
use crate::args::{merge, JsonMap, KeyValue};
use crate::error::CliError;
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
    /// Create a machine from a template.
    Create(CreateArgs),
    /// List machines, newest first.
    List(ListArgs),
    /// Show one machine.
    Get(IdArg),
    /// Run a command in a machine and exit with its exit code.
    Exec(ExecArgs),
    /// Kill a machine; nothing of it is left.
    Kill(IdArg),
    /// Pause a running machine: memory, processes and devices are saved to disk and the
    /// VM stops (no CPU, no RAM; the disk is kept).
    #[command(visible_alias = "hibernate")]
    Pause(IdArg),
    /// Resume a paused machine with its processes and files (a running one is left as is).
    Resume(IdArg),
    /// Change when a machine ends.
    Timeout(TimeoutArgs),
    /// Read, write and manage files of a machine.
    File(file::FileArgs),
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
    /// Template to create the machine from.
    #[arg(long, default_value = nullspace_api::DEFAULT_TEMPLATE)]
    pub template: String,
    /// Seconds until the machine is killed (server default 300).
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<i64>,
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
        CreateMachineRequest {
            template: Some(self.template.clone()),
            cpu_count: self.cpu_count,
            memory_mb: self.memory_mb,
            timeout: self.timeout,
            metadata: merge(self.metadata_json.clone(), &self.metadata),
            envs: merge(self.env_json.clone(), &self.envs),
            cwd: self.cwd.clone(),
            idempotency_key: self.idempotency_key.clone(),
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
    /// Only machines in this state.
    #[arg(long, value_enum)]
    pub state: Option<StateArg>,
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

/// Flags of `sandbox exec`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("program").required(true).args(["shell", "argv"])))]
pub struct ExecArgs {
    /// Machine id (sb_…).
    pub id: MachineId,
    /// Command line run by `bash -c`.
    #[arg(long, value_name = "CMD")]
    pub shell: Option<String>,
    /// Program and arguments, after `--` (looked up in PATH).
    #[arg(last = true, value_name = "ARGV")]
    pub argv: Vec<String>,
    /// Working directory (default: the machine's).
    #[arg(long)]
    pub cwd: Option<String>,
    /// Environment variable, KEY=VALUE (repeatable).
    #[arg(long = "env", value_name = "KEY=VALUE")]
    pub envs: Vec<KeyValue>,
    /// Guest user (server default `user`).
    #[arg(long)]
    pub user: Option<String>,
    /// Seconds before the command is killed (server default 60; 0 = no limit).
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<f64>,
    /// File whose text is the command's stdin; `-` reads this process's stdin.
    #[arg(long, value_name = "FILE")]
    pub stdin_file: Option<PathBuf>,
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
    /// Make the machine end SECONDS from now.
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
        SandboxCommand::Exec(args) => exec(ctx, &args).await,
        SandboxCommand::Kill(IdArg { id }) => {
            ctx.client()?.kill_machine(&id).await?;
            if ctx.json() {
                output::json(&serde_json::json!({"id": id, "killed": true}))?;
            } else {
                output::line(&format!("killed {id}"))?;
            }
            Ok(OK)
        }
        SandboxCommand::Pause(IdArg { id }) => {
            let machine = ctx.client()?.pause_machine(&id).await?;
            show_transition(ctx, "paused", &machine)
        }
        SandboxCommand::Resume(IdArg { id }) => {
            let machine = ctx.client()?.resume_machine(&id).await?;
            show_transition(ctx, "resumed", &machine)
        }
        SandboxCommand::Timeout(TimeoutArgs {
            command: TimeoutCommand::Set(args),
        }) => {
            let seconds = args.seconds.or(args.seconds_flag).unwrap_or_default();
            let machine = ctx.client()?.set_timeout(&args.id, seconds).await?;
            if ctx.json() {
                output::json(&machine)?;
            } else {
                output::line(&format!("{} now ends at {}", machine.id, machine.end_at))?;
            }
            Ok(OK)
        }
        SandboxCommand::File(args) => file::run(ctx, args).await,
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

async fn list(ctx: &Ctx, args: &ListArgs) -> Outcome {
    let client = ctx.client()?;
    let mut filter = ListMachines {
        state: args.state.map(MachineState::from),
        template: args.template.clone(),
        metadata: args
            .metadata
            .iter()
            .map(|KeyValue(k, v)| (k.clone(), v.clone()))
            .collect(),
        limit: args.limit,
        cursor: args.cursor.clone(),
    };
    let mut page = client.list_machines(&filter).await?;
    if args.all {
        let mut machines = std::mem::take(&mut page.machines);
        while let Some(cursor) = page.next_cursor.take() {
            filter.cursor = Some(cursor);
            page = client.list_machines(&filter).await?;
            machines.append(&mut page.machines);
        }
        page = MachineList {
            machines,
            next_cursor: None,
        };
    }
    if ctx.json() {
        output::json(&page)?;
    } else if page.machines.is_empty() {
        output::line("no machines")?;
    } else {
        output::line(&output::machines(&page.machines))?;
        if let Some(cursor) = &page.next_cursor {
            output::line(&format!("more: --cursor {cursor} (or --all)"))?;
        }
    }
    Ok(OK)
}

/// The request of `exec`, reading its stdin file.
fn exec_request(args: &ExecArgs) -> Result<RunCommandRequest, CliError> {
    let stdin = match &args.stdin_file {
        None => None,
        Some(path) => Some(read_text(path)?),
    };
    Ok(RunCommandRequest {
        command: args.shell.clone(),
        args: (!args.argv.is_empty()).then(|| args.argv.clone()),
        cwd: args.cwd.clone(),
        envs: merge(None, &args.envs),
        user: args.user.clone(),
        timeout: args.timeout,
        stdin,
    })
}

/// The text of `path`, or of standard input for `-`.
pub fn read_text(path: &std::path::Path) -> Result<String, CliError> {
    let (what, bytes) = read_bytes(path)?;
    String::from_utf8(bytes).map_err(|_| CliError::NotUtf8 { what })
}

/// A description and the bytes of `path`, or of standard input for `-`.
pub fn read_bytes(path: &std::path::Path) -> Result<(String, Vec<u8>), CliError> {
    if path.as_os_str() == "-" {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .map_err(|source| CliError::ReadInput {
                what: "standard input".into(),
                source,
            })?;
        return Ok(("standard input".into(), bytes));
    }
    let what = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| CliError::ReadInput {
        what: what.clone(),
        source,
    })?;
    Ok((what, bytes))
}

async fn exec(ctx: &Ctx, args: &ExecArgs) -> Outcome {
    let request = exec_request(args)?;
    let result = ctx.client()?.run_command(&args.id, &request).await?;
    if ctx.json() {
        output::json(&result)?;
    } else {
        output::bytes(result.stdout.as_bytes())?;
        eprint!("{}", result.stderr);
    }
    Ok(command_status(result.exit_code))
}

/// The exit status that reports a command's exit code (out-of-range codes become 255).
fn command_status(exit_code: i32) -> u8 {
    u8::try_from(exit_code).unwrap_or(u8::MAX)
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
    fn exec_needs_exactly_one_of_shell_and_argv() {
        let SandboxCommand::Exec(args) = sandbox(&["exec", "sb_a", "--", "ls", "-l"]) else {
            panic!()
        };
        let r = exec_request(&args).unwrap();
        assert_eq!(r.args, Some(vec!["ls".to_string(), "-l".to_string()]));
        assert_eq!(r.command, None);
        let parse =
            |a: &[&str]| Cli::try_parse_from(["nullspace", "sandbox", "exec"].iter().chain(a));
        assert!(parse(&["sb_a"]).is_err());
        assert!(parse(&["sb_a", "--shell", "ls", "--", "ls"]).is_err());
        assert!(parse(&["not-an-id", "--shell", "ls"]).is_err());
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
            SandboxCommand::Resume(_)
        ));
        assert!(Cli::try_parse_from(["nullspace", "sandbox", "pause"]).is_err());
        assert!(Cli::try_parse_from(["nullspace", "sandbox", "resume", "nope"]).is_err());
        let SandboxCommand::List(args) = sandbox(&["list", "--state", "paused"]) else {
            panic!()
        };
        assert_eq!(
            args.state.map(MachineState::from),
            Some(MachineState::Paused)
        );
    }

    #[test]
    fn command_exit_codes_pass_through() {
        assert_eq!(command_status(0), 0);
        assert_eq!(command_status(137), 137);
        assert_eq!(command_status(300), 255);
        assert_eq!(command_status(-1), 255);
    }
}
