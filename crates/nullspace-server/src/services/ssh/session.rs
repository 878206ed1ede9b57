//! A session channel: its first `exec`, `shell` or `subsystem sftp` request
//! becomes a process of the machine's process table (on a terminal after a
//! `pty-req`), whose stdin the channel's data feed and whose output goes back
//! as channel data (stdout) and extended data (stderr), then `exit-status`.

use std::collections::BTreeMap;

use futures_util::StreamExt;
use nullspace_api::{PtySize, StartProcessRequest};
use russh::server::Msg;
use russh::{Channel, ChannelMsg, ChannelWriteHalf, Sig};

use super::relay::Login;
use crate::node::{AttachEvent, AttachRequest, AttachStream, OutputStream, ProcessRef, TermSize};
use crate::params;
use crate::services::processes;
use crate::state::AppState;

/// The guest's SFTP server (package `openssh-sftp-server`).
pub const SFTP_SERVER: &str = "/usr/lib/openssh/sftp-server";
/// SSH extended data type of stderr.
const STDERR: u32 = 1;
/// Exit status sent when the relay itself gave up.
const RELAY_FAILED: u32 = 255;
/// Environment variables a client may pass (`SendEnv`).
const PASSED_ENV: &[&str] = &["LANG", "LANGUAGE", "COLORTERM"];

/// What the channel asked to run.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Run {
    /// A shell command line.
    Exec(String),
    /// An interactive login shell.
    Shell,
    /// The SFTP subsystem.
    Sftp,
}

impl Run {
    /// What it is, for messages.
    fn what(&self) -> &'static str {
        match self {
            Run::Exec(_) => "the command",
            Run::Shell => "the shell",
            Run::Sftp => "the SFTP server",
        }
    }
}

/// A terminal asked for by `pty-req`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pty {
    term: String,
    size: PtySize,
}

/// Clamp a client's terminal side to what the process table takes.
fn side(v: u32, default: u16) -> u16 {
    match v {
        0 => default,
        v => v.min(u32::from(nullspace_api::MAX_PTY_SIDE)) as u16,
    }
}

/// The process start for `run`.
fn start_request(
    run: &Run,
    pty: Option<&Pty>,
    mut envs: BTreeMap<String, String>,
) -> StartProcessRequest {
    if let Some(p) = pty {
        envs.insert("TERM".into(), p.term.clone());
    }
    let (command, args) = match run {
        Run::Exec(c) => (Some(c.clone()), None),
        Run::Shell => (None, Some(vec!["/bin/bash".into(), "-l".into()])),
        Run::Sftp => (None, Some(vec![SFTP_SERVER.into()])),
    };
    StartProcessRequest {
        command,
        args,
        envs,
        stdin: Some(true),
        pty: match run {
            Run::Sftp => None,
            _ => pty.map(|p| p.size),
        },
        ..Default::default()
    }
}

/// Serve session channel `channel` of `login` until it closes.
pub async fn serve(state: AppState, login: Login, channel: Channel<Msg>) {
    let (mut rx, tx) = channel.split();
    let mut pty = None;
    let mut envs = BTreeMap::new();
    let run = loop {
        match rx.wait().await {
            Some(ChannelMsg::RequestPty {
                term,
                col_width,
                row_height,
                ..
            }) => {
                pty = Some(Pty {
                    term,
                    size: PtySize {
                        cols: side(col_width, 80),
                        rows: side(row_height, 24),
                    },
                })
            }
            Some(ChannelMsg::SetEnv {
                variable_name,
                variable_value,
                ..
            }) if PASSED_ENV.contains(&variable_name.as_str())
                || variable_name.starts_with("LC_") =>
            {
                envs.insert(variable_name, variable_value);
            }
            Some(ChannelMsg::Exec { command, .. }) => {
                break Run::Exec(String::from_utf8_lossy(&command).into_owned())
            }
            Some(ChannelMsg::RequestShell { .. }) => break Run::Shell,
            Some(ChannelMsg::RequestSubsystem { name, .. }) if name == "sftp" => break Run::Sftp,
            Some(ChannelMsg::Eof | ChannelMsg::Close) | None => return,
            Some(_) => {}
        }
    };
    let started = match params::start_spec(start_request(&run, pty.as_ref(), envs)) {
        Ok(spec) => processes::start(&state, &login.tenant, &login.machine, spec).await,
        Err(e) => Err(e),
    };
    let pid = match started {
        Ok(p) => p.pid,
        Err(e) => return fail(&tx, &format!("cannot start {}: {}", run.what(), e.message)).await,
    };
    tracing::info!(machine = %login.machine, access = %login.access, pid, ?run, "ssh channel started");
    let attach = AttachRequest {
        process: ProcessRef::Pid(pid),
        stdout_from: Some(0),
        stderr_from: Some(0),
        follow: true,
    };
    let events = match state.node.process_attach(&login.machine, attach).await {
        Ok(events) => events,
        Err(e) => return fail(&tx, &format!("cannot read the process output: {e}")).await,
    };
    let mut pump = tokio::spawn(pump(events, tx));
    let ended = loop {
        tokio::select! {
            done = &mut pump => break done.unwrap_or(false),
            msg = rx.wait() => if !input(&state, &login, pid, msg).await {
                break false;
            },
        }
    };
    if !ended {
        // The client went away (or the relay gave up) first: hang up on the process.
        pump.abort();
        let _ = state
            .node
            .process_signal(&login.machine, ProcessRef::Pid(pid), libc::SIGHUP)
            .await;
    }
}

/// Pass one channel message on to process `pid`; false once the channel is gone.
async fn input(state: &AppState, login: &Login, pid: u32, msg: Option<ChannelMsg>) -> bool {
    let node = &state.node;
    let (m, p) = (&login.machine, ProcessRef::Pid(pid));
    let r = match msg {
        Some(ChannelMsg::Data { data }) => node.process_input(m, p, data.to_vec(), false).await,
        Some(ChannelMsg::Eof) => node.process_input(m, p, Vec::new(), true).await,
        Some(ChannelMsg::WindowChange {
            col_width,
            row_height,
            ..
        }) => {
            let size = TermSize {
                cols: side(col_width, 80),
                rows: side(row_height, 24),
            };
            node.process_resize(m, p, size).await
        }
        Some(ChannelMsg::Signal { signal }) => match signal_number(&signal) {
            Some(n) => node.process_signal(m, p, n).await,
            None => Ok(()),
        },
        Some(ChannelMsg::Close) | None => return false,
        Some(_) => Ok(()),
    };
    if let Err(e) = r {
        // Input to a process that already ended is not the channel's end: its
        // output and exit status are still on their way.
        tracing::debug!(machine = %m, pid, "ssh input: {e}");
    }
    true
}

/// Copy the process's output to the channel, then its exit status; true when
/// the process ended and the channel was closed after it.
async fn pump(mut events: AttachStream, tx: ChannelWriteHalf<Msg>) -> bool {
    while let Some(event) = events.next().await {
        let sent = match event {
            Ok(AttachEvent::Output {
                stream: OutputStream::Stdout,
                data,
            }) => tx.data_bytes(data).await,
            Ok(AttachEvent::Output {
                stream: OutputStream::Stderr,
                data,
            }) => tx.extended_data_bytes(STDERR, data).await,
            Ok(AttachEvent::Started { .. }) => Ok(()),
            Ok(AttachEvent::Gap { bytes, .. }) => {
                // A gap would corrupt a byte stream (scp, sftp): end it loudly.
                fail(
                    &tx,
                    &format!("{bytes} bytes of output were lost: the client read too slowly"),
                )
                .await;
                return true;
            }
            Ok(AttachEvent::End(end)) => {
                let status = end.end.map(|e| match (e.exit_code, e.signal) {
                    (Some(code), _) => code as u32,
                    (None, Some(sig)) => 128 + sig as u32,
                    (None, None) => RELAY_FAILED,
                });
                let _ = tx.eof().await;
                if let Some(s) = status {
                    let _ = tx.exit_status(s).await;
                }
                let _ = tx.close().await;
                return true;
            }
            Err(e) => {
                fail(&tx, &format!("the process output broke off: {e}")).await;
                return true;
            }
        };
        if sent.is_err() {
            return false;
        }
    }
    fail(&tx, "the process output ended without an exit status").await;
    true
}

/// Tell the client why on stderr, exit 255 and close.
async fn fail(tx: &ChannelWriteHalf<Msg>, why: &str) {
    let _ = tx
        .extended_data_bytes(STDERR, format!("nullspace: {why}\r\n").into_bytes())
        .await;
    let _ = tx.eof().await;
    let _ = tx.exit_status(RELAY_FAILED).await;
    let _ = tx.close().await;
}

/// The Linux number of an SSH signal name.
fn signal_number(sig: &Sig) -> Option<i32> {
    Some(match sig {
        Sig::ABRT => libc::SIGABRT,
        Sig::ALRM => libc::SIGALRM,
        Sig::FPE => libc::SIGFPE,
        Sig::HUP => libc::SIGHUP,
        Sig::ILL => libc::SIGILL,
        Sig::INT => libc::SIGINT,
        Sig::KILL => libc::SIGKILL,
        Sig::PIPE => libc::SIGPIPE,
        Sig::QUIT => libc::SIGQUIT,
        Sig::SEGV => libc::SIGSEGV,
        Sig::TERM => libc::SIGTERM,
        Sig::USR1 => libc::SIGUSR1,
        Sig::Custom(_) => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_become_process_starts() {
        let pty = Pty {
            term: "xterm".into(),
            size: PtySize {
                cols: 100,
                rows: 30,
            },
        };
        let shell = start_request(&Run::Shell, Some(&pty), BTreeMap::new());
        assert_eq!(
            shell.args.as_deref(),
            Some(&["/bin/bash".to_owned(), "-l".to_owned()][..])
        );
        assert_eq!(shell.pty, Some(pty.size));
        assert_eq!(shell.envs.get("TERM").map(String::as_str), Some("xterm"));
        assert_eq!(shell.stdin, Some(true));
        let exec = start_request(&Run::Exec("echo hi".into()), None, BTreeMap::new());
        assert_eq!(exec.command.as_deref(), Some("echo hi"));
        assert_eq!(exec.pty, None);
        let sftp = start_request(&Run::Sftp, Some(&pty), BTreeMap::new());
        assert_eq!(sftp.args.as_deref(), Some(&[SFTP_SERVER.to_owned()][..]));
        assert_eq!(
            sftp.pty, None,
            "sftp speaks bytes, never through a terminal"
        );
        assert_eq!(side(0, 80), 80);
        assert_eq!(side(100_000, 80), nullspace_api::MAX_PTY_SIDE);
    }
}
