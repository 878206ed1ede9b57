//! `nullspace sandbox process …`: background processes of a machine. They outlive
//! the command that started them and any connection; their output is kept (the newest
//! 1 MiB of each stream) for `logs` and `attach`.

use std::path::Path;

use base64::Engine;
use clap::{Args, Subcommand, ValueEnum};
use nullspace_api::{LogEncoding, ProcessInfo, StartProcessRequest, StdinRequest, MAX_STDIN_BYTES};
use nullspace_client::{LogsQuery, StreamOptions};
use nullspace_types::MachineId;

use super::exec::CommandLine;
use super::{Ctx, Outcome, OK};
use crate::args::{merge, SignalArg};
use crate::attach::{self, Attach, Ended, Input};
use crate::error::CliError;
use crate::input::{read_bytes, stdin_kind, StdinKind};
use crate::output;

/// `sandbox process` and its subcommands.
#[derive(Debug, Args)]
pub struct ProcessArgs {
    /// The subcommand.
    #[command(subcommand)]
    pub command: ProcessCommand,
}

/// Subcommands of `sandbox process`.
#[derive(Debug, Subcommand)]
pub enum ProcessCommand {
    /// List running and recently exited processes.
    List(MachineArg),
    /// Show one process.
    Get(PidArgs),
    /// Print a process's kept output (stdout to stdout, stderr to stderr); --follow
    /// keeps printing until it ends.
    Logs(LogsArgs),
    /// Write standard input (a pipe) or --data to a process's stdin.
    Stdin(StdinArgs),
    /// Start a process, print its output as it arrives and exit with its exit code;
    /// piped standard input is sent to it.
    Stream(StreamArgs),
    /// Attach to a running process: print its kept output, follow it, and exit with
    /// its exit code; piped standard input is sent to it.
    Attach(AttachArgs),
    /// Kill a process (SIGKILL to its group), or send it --signal.
    Kill(KillArgs),
}

/// A machine id argument.
#[derive(Debug, Args)]
pub struct MachineArg {
    /// Machine id (sb_…).
    pub id: MachineId,
}

/// A machine id and a pid.
#[derive(Debug, Args)]
pub struct PidArgs {
    /// Machine id (sb_…).
    pub id: MachineId,
    /// Process id (from `process list` or `exec --background`).
    pub pid: u32,
}

/// How `logs --json` writes the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EncodingArg {
    /// UTF-8 text, invalid bytes replaced.
    Utf8,
    /// Base64 of the raw bytes.
    Base64,
}

/// Arguments of `process logs`.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Machine id and pid.
    #[command(flatten)]
    pub target: PidArgs,
    /// Keep printing output as it arrives until the process ends.
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// Start stdout at this byte offset (default: the oldest kept byte).
    #[arg(long, value_name = "N")]
    pub stdout_offset: Option<u64>,
    /// Start stderr at this byte offset (default: the oldest kept byte).
    #[arg(long, value_name = "N")]
    pub stderr_offset: Option<u64>,
    /// How --json writes the bytes (default utf8).
    #[arg(long, value_enum, value_name = "ENCODING")]
    pub encoding: Option<EncodingArg>,
}

/// Arguments of `process stdin`.
#[derive(Debug, Args)]
pub struct StdinArgs {
    /// Machine id and pid.
    #[command(flatten)]
    pub target: PidArgs,
    /// Text to write instead of standard input.
    #[arg(long, value_name = "TEXT")]
    pub data: Option<String>,
    /// Close the process's stdin after writing (it reads end of file).
    #[arg(long)]
    pub close: bool,
}

/// Arguments of `process stream`: the command and flags of `sandbox exec`.
#[derive(Debug, Args)]
#[command(
    override_usage = "nullspace sandbox process stream [OPTIONS] <ID> <COMMAND> [ARGS]...\n       \
                      nullspace sandbox process stream [OPTIONS] <ID> --shell <CMD>"
)]
pub struct StreamArgs {
    /// Machine id (sb_…).
    pub id: MachineId,
    /// What to run, where and as whom.
    #[command(flatten)]
    pub line: CommandLine,
    /// Seconds after which the process is killed (default: no limit).
    #[arg(long, value_name = "SECONDS", value_parser = super::exec::seconds)]
    pub timeout: Option<f64>,
    /// A name to find the process by, unique among running processes.
    #[arg(long)]
    pub tag: Option<String>,
    /// Send no standard input, even when it is a pipe or a file.
    #[arg(long)]
    pub no_stdin: bool,
}

impl StreamArgs {
    /// The request these arguments describe; `stdin` keeps the process's stdin open.
    pub fn request(&self, stdin: bool) -> StartProcessRequest {
        StartProcessRequest {
            command: self.line.shell.clone(),
            args: self.line.args(),
            cwd: self.line.cwd.clone(),
            envs: merge(None, &self.line.envs),
            user: self.line.user(),
            stdin: stdin.then_some(true),
            tag: self.tag.clone(),
            timeout: self.timeout,
            pty: None,
        }
    }
}

/// Arguments of `process attach`.
#[derive(Debug, Args)]
pub struct AttachArgs {
    /// Machine id and pid.
    #[command(flatten)]
    pub target: PidArgs,
    /// Close the process's stdin when piped standard input ends.
    #[arg(long, conflicts_with = "no_stdin")]
    pub close_stdin: bool,
    /// Send no standard input, even when it is a pipe or a file.
    #[arg(long)]
    pub no_stdin: bool,
}

/// Arguments of `process kill`.
#[derive(Debug, Args)]
pub struct KillArgs {
    /// Machine id and pid.
    #[command(flatten)]
    pub target: PidArgs,
    /// Send this signal (SIGTERM, TERM, 15…) instead of killing with SIGKILL.
    #[arg(long, short = 's', value_name = "SIGNAL")]
    pub signal: Option<SignalArg>,
}

/// Runs `sandbox process …`.
pub async fn run(ctx: &Ctx, args: ProcessArgs) -> Outcome {
    match args.command {
        ProcessCommand::List(MachineArg { id }) => {
            let list = ctx.client()?.list_processes(&id).await?;
            let table = (!list.processes.is_empty()).then(|| table(&list.processes));
            super::show_list(ctx, &list, "no processes", table, None)
        }
        ProcessCommand::Get(PidArgs { id, pid }) => {
            let process = ctx.client()?.get_process(&id, pid).await?;
            if ctx.json() {
                output::json(&process)?;
            } else {
                output::line(&table(std::slice::from_ref(&process)))?;
            }
            Ok(OK)
        }
        ProcessCommand::Logs(args) => logs(ctx, &args).await,
        ProcessCommand::Stdin(args) => stdin(ctx, &args).await,
        ProcessCommand::Stream(args) => stream(ctx, &args).await,
        ProcessCommand::Attach(args) => {
            let PidArgs { id, pid } = &args.target;
            let input = match (args.no_stdin, stdin_kind()) {
                (false, StdinKind::Data) => Input::Pipe {
                    close_at_end: args.close_stdin,
                },
                _ => Input::None,
            };
            follow(ctx, id, *pid, StreamOptions::default(), input, true).await
        }
        ProcessCommand::Kill(args) => kill(ctx, &args).await,
    }
}

/// Follows process `pid` on its channel from `options` and exits as it does.
async fn follow(
    ctx: &Ctx,
    id: &MachineId,
    pid: u32,
    options: StreamOptions,
    input: Input,
    forward_interrupt: bool,
) -> Outcome {
    let channel = ctx.client()?.stream_process(id, pid, &options).await?;
    let how = Attach {
        input,
        json: ctx.json(),
        resize: false,
        forward_interrupt,
    };
    match attach::attach(channel, how).await? {
        Ended::End(end) => attach::end_status(&end),
        Ended::Terminated(signal) => Ok(u8::try_from(128 + signal).unwrap_or(u8::MAX)),
        Ended::Detached => {
            eprintln!("detached from process {pid}, which keeps running");
            Ok(130)
        }
    }
}

/// `process stream`: start, then follow from the first byte.
async fn stream(ctx: &Ctx, args: &StreamArgs) -> Outcome {
    let piped = !args.no_stdin && stdin_kind() == StdinKind::Data;
    let client = ctx.client()?;
    let process = client.start_process(&args.id, &args.request(piped)).await?;
    let input = if piped {
        Input::Pipe { close_at_end: true }
    } else {
        Input::None
    };
    let options = StreamOptions {
        stdout_offset: Some(0),
        stderr_offset: Some(0),
        follow: Some(true),
    };
    follow(ctx, &args.id, process.pid, options, input, true).await
}

/// `process logs`: the kept output once, or followed to the end.
async fn logs(ctx: &Ctx, args: &LogsArgs) -> Outcome {
    let PidArgs { id, pid } = &args.target;
    if args.follow {
        let options = StreamOptions {
            stdout_offset: args.stdout_offset,
            stderr_offset: args.stderr_offset,
            follow: Some(true),
        };
        follow(ctx, id, *pid, options, Input::None, false).await?;
        return Ok(OK);
    }
    let encoding = match (ctx.json(), args.encoding) {
        (true, Some(EncodingArg::Utf8)) | (true, None) => LogEncoding::Utf8,
        _ => LogEncoding::Base64,
    };
    let query = LogsQuery {
        stdout_offset: args.stdout_offset,
        stderr_offset: args.stderr_offset,
        encoding: Some(encoding),
    };
    let logs = ctx.client()?.process_logs(id, *pid, &query).await?;
    if ctx.json() {
        output::json(&logs)?;
        return Ok(OK);
    }
    let decode = |text: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|e| CliError::BadLogs(e.to_string()))
    };
    for (name, dropped) in [
        ("stdout", logs.stdout_dropped),
        ("stderr", logs.stderr_dropped),
    ] {
        if dropped > 0 {
            eprintln!("[{dropped} bytes of {name} were dropped before they could be read]");
        }
    }
    output::bytes(&decode(&logs.stdout)?)?;
    use std::io::Write;
    let _ = std::io::stderr().write_all(&decode(&logs.stderr)?);
    Ok(OK)
}

/// `process stdin`: piped input or --data, in requests of at most 1 MiB.
async fn stdin(ctx: &Ctx, args: &StdinArgs) -> Outcome {
    let PidArgs { id, pid } = &args.target;
    let bytes = match (&args.data, stdin_kind()) {
        (Some(text), _) => text.clone().into_bytes(),
        (None, StdinKind::Data) => read_bytes(Path::new("-"))?.1,
        (None, _) => Vec::new(),
    };
    if bytes.is_empty() && !args.close && args.data.is_none() {
        return Err(CliError::NothingToSend);
    }
    let client = ctx.client()?;
    let chunks: Vec<&[u8]> = bytes.chunks(MAX_STDIN_BYTES).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        let last = i + 1 == chunks.len();
        client
            .write_stdin(id, *pid, &stdin_request(chunk, args.close && last))
            .await?;
    }
    if chunks.is_empty() && args.close {
        client.close_stdin(id, *pid).await?;
    }
    if ctx.json() {
        output::json(&serde_json::json!({"pid": pid, "bytes": bytes.len(), "closed": args.close}))?;
    }
    Ok(OK)
}

/// A stdin request carrying `bytes`: as text when they are UTF-8, else base64.
fn stdin_request(bytes: &[u8], close: bool) -> StdinRequest {
    match std::str::from_utf8(bytes) {
        Ok(text) => StdinRequest {
            data: Some(text.to_owned()),
            data_base64: None,
            close,
        },
        Err(_) => StdinRequest {
            data: None,
            data_base64: Some(base64::engine::general_purpose::STANDARD.encode(bytes)),
            close,
        },
    }
}

/// `process kill`: SIGKILL by DELETE, or --signal.
async fn kill(ctx: &Ctx, args: &KillArgs) -> Outcome {
    let PidArgs { id, pid } = &args.target;
    let client = ctx.client()?;
    match &args.signal {
        Some(SignalArg(signal)) => {
            client.signal_process(id, *pid, signal.clone()).await?;
            if ctx.json() {
                output::json(&serde_json::json!({"pid": pid, "signal": signal}))?;
            } else {
                let name = match signal {
                    nullspace_api::SignalName::Name(n) => n.clone(),
                    nullspace_api::SignalName::Number(n) => format!("signal {n}"),
                };
                output::line(&format!("sent {name} to process {pid}"))?;
            }
        }
        None => {
            let killed = client.kill_process(id, *pid).await?;
            if ctx.json() {
                output::json(&killed)?;
            } else {
                output::line(&format!("killed process {}", killed.pid))?;
            }
        }
    }
    Ok(OK)
}

/// What a process is doing: `running`, `exited N`, `killed by signal N`, `timed out`.
pub fn state(p: &ProcessInfo) -> String {
    match (p.running, p.timed_out, p.exit_code, p.signal) {
        (true, ..) => "running".into(),
        (false, true, ..) => "timed out".into(),
        (false, false, Some(code), _) => format!("exited {code}"),
        (false, false, None, Some(signal)) => format!("killed by signal {signal}"),
        (false, false, None, None) => "ended".into(),
    }
}

/// The command line of a process, as people read it.
pub fn command_line(p: &ProcessInfo) -> String {
    p.command.clone().unwrap_or_else(|| p.args.join(" "))
}

/// Processes as a table.
fn table(processes: &[ProcessInfo]) -> String {
    let rows: Vec<Vec<String>> = processes
        .iter()
        .map(|p| {
            vec![
                p.pid.to_string(),
                state(p),
                p.tag.clone().unwrap_or_else(|| "-".into()),
                p.user.clone(),
                p.started_at.clone(),
                command_line(p),
            ]
        })
        .collect();
    output::table(
        &["PID", "STATE", "TAG", "USER", "STARTED", "COMMAND"],
        &rows,
    )
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};
    use crate::cmd::sandbox::SandboxCommand;

    fn parse(args: &[&str]) -> Result<ProcessCommand, clap::Error> {
        let cli = Cli::try_parse_from(["nullspace"].iter().chain(args))?;
        match cli.command {
            Command::Sandbox(s) => match s.command {
                SandboxCommand::Process(p) => Ok(p.command),
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_seed_command_lines_parse() {
        let ProcessCommand::Logs(l) =
            parse(&["sandbox", "process", "logs", "sb_123", "1234"]).unwrap()
        else {
            panic!()
        };
        assert_eq!(
            (l.target.id.as_str(), l.target.pid, l.follow),
            ("sb_123", 1234, false)
        );
        let ProcessCommand::Stdin(s) =
            parse(&["sandbox", "process", "stdin", "sb_123", "1234"]).unwrap()
        else {
            panic!()
        };
        assert_eq!((s.target.pid, s.data, s.close), (1234, None, false));
        let ProcessCommand::Stream(s) = parse(&[
            "sandbox",
            "process",
            "stream",
            "sb_123",
            "python",
            "-c",
            "print('hi')",
        ])
        .unwrap() else {
            panic!()
        };
        assert_eq!(s.line.command, ["python", "-c", "print('hi')"]);
        let r = s.request(false);
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            serde_json::json!({"args": ["python", "-c", "print('hi')"]})
        );
        assert!(matches!(
            parse(&["machine", "process", "list", "sb_123", "--json"]).unwrap(),
            ProcessCommand::List(_)
        ));
        assert!(matches!(
            parse(&["sandbox", "process", "attach", "sb_123", "1234"]).unwrap(),
            ProcessCommand::Attach(_)
        ));
    }

    #[test]
    fn stream_takes_the_flags_of_exec() {
        let ProcessCommand::Stream(s) = parse(&[
            "sandbox", "process", "stream", "--cwd", "/w", "--env", "A=1", "--user", "root",
            "--tag", "job", "sb_a", "--shell", "make -j4",
        ])
        .unwrap() else {
            panic!()
        };
        assert_eq!(
            serde_json::to_value(s.request(true)).unwrap(),
            serde_json::json!({"command": "make -j4", "cwd": "/w", "envs": {"A": "1"},
                               "user": "root", "stdin": true, "tag": "job"})
        );
        let ProcessCommand::Stream(s) = parse(&[
            "sandbox", "process", "stream", "sb_a", "grep", "--json", "-r",
        ])
        .unwrap() else {
            panic!()
        };
        assert_eq!(
            s.line.command,
            ["grep", "--json", "-r"],
            "the command keeps its dashes"
        );
        for bad in [
            &["sandbox", "process", "stream", "sb_a"][..],
            &["sandbox", "process", "stream", "sb_a", "--shell", "x", "ls"][..],
            &["sandbox", "process", "logs", "sb_a", "notapid"][..],
            &[
                "sandbox", "process", "kill", "sb_a", "1", "--signal", "SIGNOPE",
            ][..],
            &[
                "sandbox",
                "process",
                "attach",
                "sb_a",
                "1",
                "--no-stdin",
                "--close-stdin",
            ][..],
        ] {
            assert_eq!(parse(bad).unwrap_err().exit_code(), 2, "{bad:?}");
        }
    }

    #[test]
    fn kill_takes_a_signal_and_stdin_data() {
        let ProcessCommand::Kill(k) = parse(&[
            "sandbox", "process", "kill", "sb_a", "7", "--signal", "SIGTERM",
        ])
        .unwrap() else {
            panic!()
        };
        assert_eq!(k.signal.unwrap().0.number(), Some(15));
        let ProcessCommand::Stdin(s) = parse(&[
            "sandbox", "process", "stdin", "sb_a", "7", "--data", "q", "--close",
        ])
        .unwrap() else {
            panic!()
        };
        assert_eq!((s.data.as_deref(), s.close), (Some("q"), true));
        assert_eq!(
            stdin_request(b"q", true),
            StdinRequest {
                data: Some("q".into()),
                data_base64: None,
                close: true
            }
        );
        assert_eq!(
            stdin_request(&[0xff], false).data_base64.as_deref(),
            Some("/w==")
        );
    }

    #[test]
    fn states_read_as_words() {
        let mut p = nullspace_client::test_server::sample_process(3);
        assert_eq!(state(&p), "running");
        p.running = false;
        p.exit_code = Some(2);
        assert_eq!(state(&p), "exited 2");
        p.exit_code = None;
        p.signal = Some(9);
        assert_eq!(state(&p), "killed by signal 9");
        p.timed_out = true;
        assert_eq!(state(&p), "timed out");
        assert_eq!(command_line(&p), "python3 -m http.server");
    }
}
