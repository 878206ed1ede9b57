//! `nullspace sandbox exec`: run a command in a machine.
//!
//! `exec ID COMMAND [ARGS]...` runs a program looked up in PATH. Everything after the
//! program is its own, dashes included, so nullspace's options go before it (`--`
//! before the program is allowed too). `exec ID --shell "CMD"` runs a command line with
//! `bash -c`. Standard input goes to the command when it is a pipe or a regular file,
//! never when it is a terminal; `--stdin-file` names the input and `--no-stdin` sends
//! none. A command stopped by its timeout or the output cap prints what it printed
//! until then before the error.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;
use nullspace_api::{CommandResult, PartialOutput, RunCommandRequest, StartProcessRequest};
use nullspace_client::ClientError;
use nullspace_types::MachineId;

use super::{Ctx, Outcome};
use crate::args::{merge, KeyValue, UserName};
use crate::error::CliError;
use crate::input::{read_text, stdin_kind, StdinKind};
use crate::output;

/// The command of `sandbox exec` and `sandbox process stream`: a program and
/// its arguments or a shell line, with its directory, environment and user.
#[derive(Debug, Args)]
pub struct CommandLine {
    /// Program and its arguments, looked up in PATH. Everything after the program is
    /// its own, dashes too: give nullspace's options before it.
    #[arg(
        value_name = "COMMAND",
        trailing_var_arg = true,
        required_unless_present = "shell",
        conflicts_with = "shell"
    )]
    pub command: Vec<String>,
    /// Command line run by `bash -c`, instead of COMMAND.
    #[arg(long, value_name = "CMD")]
    pub shell: Option<String>,
    /// Working directory (default: the machine's).
    #[arg(long)]
    pub cwd: Option<String>,
    /// Environment variable, KEY=VALUE (repeatable).
    #[arg(long = "env", value_name = "KEY=VALUE")]
    pub envs: Vec<KeyValue>,
    /// Guest user (server default `user`; root only when named).
    #[arg(long)]
    pub user: Option<UserName>,
}

impl CommandLine {
    /// The program and its arguments, if given (not a shell line).
    pub fn args(&self) -> Option<Vec<String>> {
        (!self.command.is_empty()).then(|| self.command.clone())
    }

    /// The guest user, if named.
    pub fn user(&self) -> Option<String> {
        self.user.clone().map(|u| u.0)
    }
}

/// Arguments of `sandbox exec`.
#[derive(Debug, Args)]
#[command(
    override_usage = "nullspace sandbox exec [OPTIONS] <ID> <COMMAND> [ARGS]...\n       \
                            nullspace sandbox exec [OPTIONS] <ID> --shell <CMD>"
)]
pub struct ExecArgs {
    /// Machine id (sb_…).
    pub id: MachineId,
    /// What to run, where and as whom.
    #[command(flatten)]
    pub line: CommandLine,
    /// Seconds before the command is stopped (server default 60; 0 = no limit).
    #[arg(
        long,
        value_name = "SECONDS",
        value_parser = seconds,
        allow_negative_numbers = true
    )]
    pub timeout: Option<f64>,
    /// File whose text is the command's standard input; `-` reads this process's
    /// standard input whatever it is. Without it, standard input is sent when it is a
    /// pipe or a file.
    #[arg(long, value_name = "FILE")]
    pub stdin_file: Option<PathBuf>,
    /// Send no standard input, even when it is a pipe or a file.
    #[arg(long, conflicts_with = "stdin_file")]
    pub no_stdin: bool,
    /// Start the command in the background and print its pid (the process with
    /// --json); no standard input is sent. Follow it with `sandbox process attach`.
    #[arg(long, conflicts_with = "stdin_file")]
    pub background: bool,
    /// With --background: a name to find the process by.
    #[arg(long, requires = "background")]
    pub tag: Option<String>,
    /// With --background: keep the process's stdin open for `sandbox process stdin`
    /// (else it reads end of file).
    #[arg(long, requires = "background")]
    pub keep_stdin: bool,
}

/// A timeout in seconds: a finite number, zero or more.
pub(crate) fn seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs >= 0.0 => Ok(secs),
        _ => Err(format!(
            "expected seconds, a number of 0 or more (0 = no limit), got {s:?}"
        )),
    }
}

/// Where the command's standard input comes from.
#[derive(Debug, PartialEq, Eq)]
enum Stdin<'a> {
    /// This file (`-`: this process's standard input), sent even when empty.
    File(&'a Path),
    /// This process's standard input, a pipe or a file; sent unless empty.
    Forward,
    /// None: the command reads end-of-file.
    Nothing,
}

impl ExecArgs {
    /// Where the standard input comes from, when this process's is `kind`.
    fn stdin(&self, kind: StdinKind) -> Stdin<'_> {
        match (&self.stdin_file, self.no_stdin, kind) {
            (Some(path), _, _) => Stdin::File(path),
            (None, false, StdinKind::Data) => Stdin::Forward,
            _ => Stdin::Nothing,
        }
    }

    /// The text to send as the command's standard input, when this process's is `kind`.
    fn stdin_text(&self, kind: StdinKind) -> Result<Option<String>, CliError> {
        match self.stdin(kind) {
            Stdin::File(path) => read_text(path).map(Some),
            Stdin::Forward => {
                let text = read_text(Path::new("-"))?;
                Ok((!text.is_empty()).then_some(text))
            }
            Stdin::Nothing => Ok(None),
        }
    }

    /// The request these arguments describe, with `stdin` as the command's input.
    fn request(&self, stdin: Option<String>) -> RunCommandRequest {
        let l = &self.line;
        RunCommandRequest {
            command: l.shell.clone(),
            args: l.args(),
            cwd: l.cwd.clone(),
            envs: merge(None, &l.envs),
            user: l.user(),
            timeout: self.timeout,
            stdin,
        }
    }
}

impl ExecArgs {
    /// The background process these arguments describe (`--background`).
    fn background_request(&self) -> StartProcessRequest {
        let run = self.request(None);
        StartProcessRequest {
            command: run.command,
            args: run.args,
            cwd: run.cwd,
            envs: run.envs,
            user: run.user,
            timeout: run.timeout.filter(|t| *t > 0.0),
            tag: self.tag.clone(),
            stdin: self.keep_stdin.then_some(true),
            pty: None,
        }
    }
}

/// Runs `sandbox exec`: prints the command's output and exits with its exit code.
pub async fn run(ctx: &Ctx, args: &ExecArgs) -> Outcome {
    if args.background {
        let process = ctx
            .client()?
            .start_process(&args.id, &args.background_request())
            .await?;
        if ctx.json() {
            output::json(&process)?;
        } else {
            output::line(&process.pid.to_string())?;
        }
        return Ok(0);
    }
    let stdin = args.stdin_text(stdin_kind())?;
    let request = args.request(stdin);
    let result = ctx
        .client()?
        .run_command(&args.id, &request)
        .await
        .map_err(|err| not_run(ctx.json(), err))?;
    show(ctx, &result)?;
    Ok(command_status(result.exit_code))
}

/// Prints a command's result: its stdout and stderr, or the result as JSON.
fn show(ctx: &Ctx, result: &CommandResult) -> Result<(), CliError> {
    if ctx.json() {
        output::json(result)
    } else {
        output::bytes(result.stdout.as_bytes())?;
        eprint!("{}", result.stderr);
        Ok(())
    }
}

/// The error of a command that did not run to its end. One cut short (timeout, output
/// cap) first prints what it printed until then, unless `json` puts it in the error.
fn not_run(json: bool, err: ClientError) -> CliError {
    let Some(partial) = err.output() else {
        return err.into();
    };
    if json {
        return CliError::CommandCut {
            source: err,
            shown: "in error.output",
        };
    }
    print_partial(partial);
    CliError::CommandCut {
        source: err,
        shown: "above",
    }
}

/// Prints partial output like a finished command's, and ends the line so the error
/// that follows starts on its own. Failures to print are left to the error to report.
fn print_partial(partial: &PartialOutput) {
    let _ = output::bytes(partial.stdout.as_bytes());
    let mut stderr = std::io::stderr().lock();
    let _ = stderr.write_all(partial.stderr.as_bytes());
    let last = if partial.stderr.is_empty() {
        &partial.stdout
    } else {
        &partial.stderr
    };
    if !last.is_empty() && !last.ends_with('\n') {
        let _ = stderr.write_all(b"\n");
    }
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
    use crate::cmd::sandbox::SandboxCommand;

    fn parse(args: &[&str]) -> Result<ExecArgs, clap::Error> {
        let cli = Cli::try_parse_from(["nullspace", "sandbox", "exec"].iter().chain(args))?;
        match cli.command {
            Command::Sandbox(s) => match s.command {
                SandboxCommand::Exec(e) => Ok(e),
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
    }

    fn argv(args: &ExecArgs) -> Vec<&str> {
        args.line.command.iter().map(String::as_str).collect()
    }

    #[test]
    fn the_command_needs_no_double_dash_and_keeps_its_dashes() {
        let e = parse(&["sb_a", "ls", "-la"]).unwrap();
        assert_eq!(argv(&e), ["ls", "-la"]);
        let r = e.request(None);
        assert_eq!(r.args, Some(vec!["ls".to_owned(), "-la".to_owned()]));
        assert_eq!(r.command, None);

        let e = parse(&["sb_a", "--", "ls", "-l"]).unwrap();
        assert_eq!(argv(&e), ["ls", "-l"], "-- still works");
        let e = parse(&["sb_a", "--", "-weird-program"]).unwrap();
        assert_eq!(argv(&e), ["-weird-program"]);

        // Options before the command are nullspace's; after it, the command's.
        let e = parse(&[
            "--cwd", "/w", "sb_a", "--user", "root", "grep", "--cwd", "x",
        ])
        .unwrap();
        assert_eq!(e.line.cwd.as_deref(), Some("/w"));
        assert_eq!(e.line.user, Some(UserName("root".into())));
        assert_eq!(argv(&e), ["grep", "--cwd", "x"]);
        let e = parse(&["sb_a", "echo", "--json", "--shell", "x"]).unwrap();
        assert_eq!(argv(&e), ["echo", "--json", "--shell", "x"]);
        assert_eq!(e.line.shell, None);
    }

    #[test]
    fn shell_or_a_command_exactly_one() {
        let e = parse(&["sb_a", "--shell", "echo hi | wc -c"]).unwrap();
        let r = e.request(None);
        assert_eq!(r.command.as_deref(), Some("echo hi | wc -c"));
        assert_eq!(r.args, None);
        let e = parse(&["--shell", "true", "sb_a"]).unwrap();
        assert_eq!(e.line.shell.as_deref(), Some("true"));

        use clap::error::ErrorKind;
        for (bad, kind) in [
            (&["sb_a"][..], ErrorKind::MissingRequiredArgument),
            (
                &["sb_a", "--shell", "ls", "ls"][..],
                ErrorKind::ArgumentConflict,
            ),
            (
                &["sb_a", "--shell", "ls", "--", "ls"][..],
                ErrorKind::ArgumentConflict,
            ),
            (&["not-an-id", "ls"][..], ErrorKind::ValueValidation),
            (
                &["sb_a", "--tiemout", "5", "ls"][..],
                ErrorKind::UnknownArgument,
            ),
            (
                &["sb_a", "--timeout", "-1", "ls"][..],
                ErrorKind::ValueValidation,
            ),
            (
                &["sb_a", "--timeout=-1", "ls"][..],
                ErrorKind::ValueValidation,
            ),
            (
                &["sb_a", "--timeout", "soon", "ls"][..],
                ErrorKind::ValueValidation,
            ),
            (
                &["sb_a", "--user", "", "ls"][..],
                ErrorKind::ValueValidation,
            ),
            (
                &["sb_a", "--no-stdin", "--stdin-file", "f", "ls"][..],
                ErrorKind::ArgumentConflict,
            ),
        ] {
            let err = parse(bad).unwrap_err();
            assert_eq!(err.kind(), kind, "{bad:?}: {err}");
            assert_eq!(err.exit_code(), 2, "{bad:?}");
        }
    }

    #[test]
    fn usage_reads_id_then_command() {
        let err = parse(&["sb_a"]).unwrap_err().to_string();
        assert!(
            err.contains("nullspace sandbox exec [OPTIONS] <ID> <COMMAND> [ARGS]..."),
            "{err}"
        );
        assert!(err.contains("--shell <CMD>"), "{err}");
        assert!(!err.contains("<--shell"), "{err}");
    }

    #[test]
    fn stdin_is_forwarded_from_pipes_and_files_only() {
        let e = parse(&["sb_a", "cat"]).unwrap();
        assert_eq!(e.stdin(StdinKind::Data), Stdin::Forward);
        assert_eq!(e.stdin(StdinKind::Terminal), Stdin::Nothing);
        assert_eq!(e.stdin(StdinKind::Other), Stdin::Nothing);
        let e = parse(&["sb_a", "--no-stdin", "cat"]).unwrap();
        assert_eq!(e.stdin(StdinKind::Data), Stdin::Nothing);
        let e = parse(&["sb_a", "--stdin-file", "-", "cat"]).unwrap();
        assert_eq!(e.stdin(StdinKind::Terminal), Stdin::File(Path::new("-")));
        let e = parse(&["sb_a", "--stdin-file", "in.txt", "cat"]).unwrap();
        assert_eq!(e.stdin(StdinKind::Data), Stdin::File(Path::new("in.txt")));
        // Nothing to read is never read.
        assert_eq!(e.stdin_text(StdinKind::Other).ok(), None);
        let e = parse(&["sb_a", "cat"]).unwrap();
        assert_eq!(e.stdin_text(StdinKind::Terminal).unwrap(), None);
    }

    #[test]
    fn flags_build_the_request() {
        let e = parse(&[
            "sb_a",
            "--cwd",
            "/w",
            "--env",
            "A=1",
            "--user",
            "root",
            "--timeout",
            "2.5",
            "cat",
        ])
        .unwrap();
        let r = e.request(Some("in".into()));
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            serde_json::json!({"args": ["cat"], "cwd": "/w", "envs": {"A": "1"},
                               "user": "root", "timeout": 2.5, "stdin": "in"})
        );
        assert_eq!(
            parse(&["sb_a", "--timeout", "0", "x"]).unwrap().timeout,
            Some(0.0)
        );
    }

    #[test]
    fn background_starts_a_process() {
        let e = parse(&[
            "--background",
            "--tag",
            "web",
            "--timeout",
            "0",
            "sb_a",
            "sleep",
            "9",
        ])
        .unwrap();
        assert_eq!(
            serde_json::to_value(e.background_request()).unwrap(),
            serde_json::json!({"args": ["sleep", "9"], "tag": "web"})
        );
        let e = parse(&["--background", "--keep-stdin", "sb_a", "cat"]).unwrap();
        assert_eq!(e.background_request().stdin, Some(true));
        let err = parse(&["--tag", "web", "sb_a", "ls"]).unwrap_err();
        assert_eq!(err.exit_code(), 2, "--tag needs --background");
    }

    #[test]
    fn command_exit_codes_pass_through() {
        assert_eq!(command_status(0), 0);
        assert_eq!(command_status(137), 137);
        assert_eq!(command_status(300), 255);
        assert_eq!(command_status(-1), 255);
    }

    #[test]
    fn only_errors_with_output_are_cut() {
        let api = |output| ClientError::Api {
            status: 504,
            code: nullspace_api::ErrorCode::CommandTimeout,
            message: "killed after 1s".into(),
            output,
            retry_after: None,
        };
        assert!(matches!(not_run(true, api(None)), CliError::Client(_)));
        let partial = PartialOutput {
            stdout: String::new(),
            stderr: String::new(),
            truncated: true,
        };
        match not_run(true, api(Some(partial))) {
            CliError::CommandCut { shown, .. } => assert_eq!(shown, "in error.output"),
            other => panic!("{other:?}"),
        }
    }
}
