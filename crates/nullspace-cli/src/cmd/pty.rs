//! `nullspace sandbox pty …`: terminal sessions of a machine. `create` and `connect`
//! attach the local terminal: raw mode, every key (Ctrl-C and Ctrl-D too) sent to the
//! remote terminal, its size kept in step with the local one; Ctrl-] then `q`
//! detaches and leaves the session running. Without a local terminal they just stream
//! (piped input is sent, nothing is in raw mode).

use clap::{Args, Subcommand};
use nullspace_api::{CreatePtyRequest, PtySession, PtySize, MAX_PTY_SIDE};
use nullspace_types::MachineId;

use super::process::{command_line, state, MachineArg, PidArgs};
use super::{Ctx, Outcome, OK};
use crate::args::{merge, KeyValue, UserName};
use crate::attach::{self, Attach, Ended, Input};
use crate::input::{stdin_kind, StdinKind};
use crate::output;
use crate::terminal::{self, DETACH_HELP};

/// `sandbox pty` and its subcommands.
#[derive(Debug, Args)]
pub struct PtyArgs {
    /// The subcommand.
    #[command(subcommand)]
    pub command: PtyCommand,
}

/// Subcommands of `sandbox pty`.
#[derive(Debug, Subcommand)]
pub enum PtyCommand {
    /// Start a terminal session (a login shell unless --command) and attach to it;
    /// Ctrl-] then q detaches.
    Create(CreateArgs),
    /// List terminal sessions.
    List(MachineArg),
    /// Attach to a terminal session; Ctrl-] then q detaches.
    Connect(PidArgs),
    /// Set a session's terminal size.
    Resize(ResizeArgs),
    /// Kill a session (SIGKILL to its process group).
    Kill(PidArgs),
}

/// A terminal side: 1 to 1000.
fn side() -> clap::builder::RangedI64ValueParser<u16> {
    clap::value_parser!(u16).range(1..=i64::from(MAX_PTY_SIDE))
}

/// Arguments of `pty create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Machine id (sb_…).
    pub id: MachineId,
    /// Columns (default: the local terminal's, else 80).
    #[arg(long, value_name = "N", value_parser = side())]
    pub cols: Option<u16>,
    /// Rows (default: the local terminal's, else 24).
    #[arg(long, value_name = "N", value_parser = side())]
    pub rows: Option<u16>,
    /// Working directory (default: the machine's).
    #[arg(long)]
    pub cwd: Option<String>,
    /// Guest user (server default `user`; root only when named).
    #[arg(long)]
    pub user: Option<UserName>,
    /// Environment variable, KEY=VALUE (repeatable).
    #[arg(long = "env", value_name = "KEY=VALUE")]
    pub envs: Vec<KeyValue>,
    /// Program to run on the terminal (default: the user's login shell).
    #[arg(long, value_name = "CMD")]
    pub command: Option<String>,
    /// Print the session and leave it running instead of attaching (as --json does).
    #[arg(long)]
    pub no_attach: bool,
}

impl CreateArgs {
    /// The request these flags describe, with `local` (the local terminal's size) for
    /// the sides not given.
    pub fn request(&self, local: Option<PtySize>) -> CreatePtyRequest {
        CreatePtyRequest {
            cols: self.cols.or(local.map(|s| s.cols)),
            rows: self.rows.or(local.map(|s| s.rows)),
            cwd: self.cwd.clone(),
            envs: merge(None, &self.envs),
            user: self.user.clone().map(|u| u.0),
            command: self.command.clone(),
        }
    }
}

/// Arguments of `pty resize`.
#[derive(Debug, Args)]
pub struct ResizeArgs {
    /// Machine id and session id.
    #[command(flatten)]
    pub target: PidArgs,
    /// Columns.
    #[arg(long, value_name = "N", value_parser = side())]
    pub cols: u16,
    /// Rows.
    #[arg(long, value_name = "N", value_parser = side())]
    pub rows: u16,
}

/// Runs `sandbox pty …`.
pub async fn run(ctx: &Ctx, args: PtyArgs) -> Outcome {
    match args.command {
        PtyCommand::Create(args) => {
            let interactive = terminal::interactive();
            let local = interactive.then(terminal::size).flatten();
            let session = ctx
                .client()?
                .create_pty(&args.id, &args.request(local))
                .await?;
            if args.no_attach || ctx.json() {
                show(ctx, &session)?;
                return Ok(OK);
            }
            connect(ctx, &args.id, session.session_id).await
        }
        PtyCommand::List(MachineArg { id }) => {
            let list = ctx.client()?.list_pty(&id).await?;
            let table = (!list.sessions.is_empty()).then(|| table(&list.sessions));
            super::show_list(ctx, &list, "no terminal sessions", table, None)
        }
        PtyCommand::Connect(PidArgs { id, pid }) => connect(ctx, &id, pid).await,
        PtyCommand::Resize(args) => {
            let PidArgs { id, pid } = &args.target;
            let size = PtySize {
                cols: args.cols,
                rows: args.rows,
            };
            ctx.client()?.resize_pty(id, *pid, size).await?;
            if ctx.json() {
                output::json(
                    &serde_json::json!({"session_id": pid, "cols": size.cols, "rows": size.rows}),
                )?;
            } else {
                output::line(&format!(
                    "resized session {pid} to {}x{}",
                    size.cols, size.rows
                ))?;
            }
            Ok(OK)
        }
        PtyCommand::Kill(PidArgs { id, pid }) => {
            let killed = ctx.client()?.kill_pty(&id, pid).await?;
            if ctx.json() {
                output::json(&killed)?;
            } else {
                output::line(&format!("killed session {}", killed.pid))?;
            }
            Ok(OK)
        }
    }
}

/// Attaches to session `pid`: interactive on a local terminal, else a plain stream.
async fn connect(ctx: &Ctx, id: &MachineId, pid: u32) -> Outcome {
    let channel = ctx.client()?.connect_pty(id, pid).await?;
    let interactive = terminal::interactive() && !ctx.json();
    let input = match (interactive, stdin_kind()) {
        (true, _) => Input::Terminal,
        (false, StdinKind::Data) => Input::Pipe {
            close_at_end: false,
        },
        (false, _) => Input::None,
    };
    let how = Attach {
        input,
        json: ctx.json(),
        resize: interactive,
        forward_interrupt: false,
    };
    match attach::attach(channel, how).await? {
        Ended::End(end) => attach::end_status(&end),
        Ended::Terminated(signal) => Ok(u8::try_from(128 + signal).unwrap_or(u8::MAX)),
        Ended::Detached => {
            eprintln!(
                "\r\ndetached from session {pid} ({DETACH_HELP}); reattach with: nullspace sandbox pty connect {id} {pid}"
            );
            Ok(OK)
        }
    }
}

/// A session: one line, or its JSON.
fn show(ctx: &Ctx, session: &PtySession) -> Result<(), crate::error::CliError> {
    if ctx.json() {
        output::json(session)
    } else {
        output::line(&table(std::slice::from_ref(session)))
    }
}

/// Sessions as a table.
fn table(sessions: &[PtySession]) -> String {
    let rows: Vec<Vec<String>> = sessions
        .iter()
        .map(|s| {
            let p = &s.process;
            let size = p
                .pty
                .map_or_else(|| "-".into(), |t| format!("{}x{}", t.cols, t.rows));
            vec![
                s.session_id.to_string(),
                state(p),
                size,
                p.user.clone(),
                p.started_at.clone(),
                command_line(p),
            ]
        })
        .collect();
    output::table(
        &["SESSION", "STATE", "SIZE", "USER", "STARTED", "COMMAND"],
        &rows,
    )
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};
    use crate::cmd::sandbox::SandboxCommand;

    fn parse(args: &[&str]) -> Result<PtyCommand, clap::Error> {
        let cli = Cli::try_parse_from(["nullspace", "sandbox", "pty"].iter().chain(args))?;
        match cli.command {
            Command::Sandbox(s) => match s.command {
                SandboxCommand::Pty(p) => Ok(p.command),
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn create_takes_a_size_and_falls_back_to_the_local_one() {
        let PtyCommand::Create(c) =
            parse(&["create", "sb_123", "--cols", "120", "--rows", "30"]).unwrap()
        else {
            panic!()
        };
        let local = Some(PtySize {
            cols: 200,
            rows: 50,
        });
        let r = c.request(local);
        assert_eq!((r.cols, r.rows), (Some(120), Some(30)));
        let PtyCommand::Create(c) = parse(&[
            "create", "sb_123", "--rows", "30", "--user", "root", "--env", "A=1",
        ])
        .unwrap() else {
            panic!()
        };
        assert_eq!(
            serde_json::to_value(c.request(local)).unwrap(),
            serde_json::json!({"cols": 200, "rows": 30, "user": "root", "envs": {"A": "1"}})
        );
        assert_eq!(
            serde_json::to_value(c.request(None)).unwrap()["cols"],
            serde_json::Value::Null
        );
    }

    #[test]
    fn the_other_commands_parse_and_sizes_are_bounded() {
        assert!(matches!(
            parse(&["list", "sb_a"]).unwrap(),
            PtyCommand::List(_)
        ));
        assert!(matches!(
            parse(&["connect", "sb_a", "9"]).unwrap(),
            PtyCommand::Connect(_)
        ));
        assert!(matches!(
            parse(&["kill", "sb_a", "9"]).unwrap(),
            PtyCommand::Kill(_)
        ));
        let PtyCommand::Resize(r) =
            parse(&["resize", "sb_a", "9", "--cols", "100", "--rows", "20"]).unwrap()
        else {
            panic!()
        };
        assert_eq!((r.target.pid, r.cols, r.rows), (9, 100, 20));
        for bad in [
            &["create", "sb_a", "--cols", "0"][..],
            &["create", "sb_a", "--rows", "1001"][..],
            &["resize", "sb_a", "9", "--cols", "100"][..],
            &["connect", "sb_a"][..],
        ] {
            assert_eq!(parse(bad).unwrap_err().exit_code(), 2, "{bad:?}");
        }
    }
}
