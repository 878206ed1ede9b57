//! Being attached to a process's channel: its output printed as it arrives (stdout
//! to stdout, stderr to stderr, or one JSON object a line with `--json`), and local
//! input sent to it. Shared by `process stream`, `process attach`, `process logs
//! --follow` and the PTY commands.

use std::io::{Read, Write};

use nullspace_api::{ErrorCode, SignalName};
use nullspace_client::{
    ClientError, OutputStream, ProcessStream, StreamEnd, StreamEvent, StreamInput,
};
use serde_json::json;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::mpsc;

use crate::error::CliError;
use crate::output;
use crate::terminal::{self, DetachKeys, RawMode};

/// Bytes read from standard input at a time.
const READ_CHUNK: usize = 16 * 1024;

/// What is done with local standard input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// Nothing is read.
    None,
    /// A pipe or file, sent as it is read; at its end the process's stdin is closed
    /// when `close_at_end`.
    Pipe {
        /// Close the process's stdin when local input ends.
        close_at_end: bool,
    },
    /// A terminal in raw mode: every key is sent but the detach sequence.
    Terminal,
}

/// How to attach.
#[derive(Debug, Clone, Copy)]
pub struct Attach {
    /// Local input.
    pub input: Input,
    /// Print events as JSON lines.
    pub json: bool,
    /// Send the local terminal's size at the start and when it changes.
    pub resize: bool,
    /// A local Ctrl-C (SIGINT) sends SIGINT to the process; a second one detaches.
    pub forward_interrupt: bool,
}

/// How an attachment ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// The channel's `end`: the process ended (or what is kept was sent).
    End(StreamEnd),
    /// Left by the detach keys or a second Ctrl-C: the process keeps running.
    Detached,
    /// This process got SIGTERM or SIGHUP (that signal's number); the remote process
    /// keeps running.
    Terminated(i32),
}

/// Attaches to `stream` until it ends or is left.
pub async fn attach(stream: ProcessStream, how: Attach) -> Result<Ended, CliError> {
    let _raw = match how.input {
        Input::Terminal => Some(RawMode::enter().map_err(CliError::Terminal)?),
        _ => None,
    };
    let raw = how.input == Input::Terminal;
    let (mut input, mut output) = stream.split();
    let mut keys = match how.input {
        Input::None => None,
        _ => Some(read_stdin()),
    };
    let mut detach = DetachKeys::default();
    let mut winch = how
        .resize
        .then(|| signal(SignalKind::window_change()).ok())
        .flatten();
    let mut interrupt = how
        .forward_interrupt
        .then(|| signal(SignalKind::interrupt()).ok())
        .flatten();
    let mut interrupts = 0;
    let mut terminate = signal(SignalKind::terminate()).ok();
    let mut hangup = signal(SignalKind::hangup()).ok();
    let mut last_error: Option<(ErrorCode, String)> = None;
    let mut input_open = true;
    if how.resize {
        send_size(&mut input).await;
    }
    loop {
        tokio::select! {
            event = output.next_event() => match event? {
                Some(StreamEvent::End(end)) => {
                    if how.json {
                        output::line(&event_json(&StreamEvent::End(end)).to_string())?;
                    }
                    return Ok(Ended::End(end));
                }
                Some(StreamEvent::Error { code, message }) => {
                    if how.json {
                        let event = StreamEvent::Error { code, message: message.clone() };
                        output::line(&event_json(&event).to_string())?;
                    } else {
                        warn(raw, &format!("error: {message} ({})", nullspace_client::code_name(code)));
                    }
                    last_error = Some((code, message));
                }
                Some(event) => show(&event, how.json, raw)?,
                None => return Err(closed(last_error)),
            },
            chunk = recv(&mut keys) => match chunk {
                Some(bytes) if raw => {
                    let (send, leave) = detach.feed(&bytes);
                    if !send.is_empty() && input_open {
                        input_open = input.stdin(&send).await.is_ok();
                    }
                    if leave {
                        let _ = input.close().await;
                        return Ok(Ended::Detached);
                    }
                }
                Some(bytes) => {
                    if input_open {
                        input_open = input.stdin(&bytes).await.is_ok();
                    }
                }
                None => {
                    keys = None;
                    if how.input == (Input::Pipe { close_at_end: true }) && input_open {
                        input_open = input.close_stdin().await.is_ok();
                    }
                }
            },
            Some(()) = recv_signal(&mut winch) => send_size(&mut input).await,
            Some(()) = recv_signal(&mut interrupt) => {
                interrupts += 1;
                if interrupts > 1 {
                    let _ = input.close().await;
                    return Ok(Ended::Detached);
                }
                let _ = input.signal(SignalName::Name("SIGINT".into())).await;
            },
            Some(()) = recv_signal(&mut terminate) => return Ok(Ended::Terminated(libc::SIGTERM)),
            Some(()) = recv_signal(&mut hangup) => return Ok(Ended::Terminated(libc::SIGHUP)),
        }
    }
}

/// The error of a channel that closed without `end`: the last `error` it sent, if any.
fn closed(last_error: Option<(ErrorCode, String)>) -> CliError {
    match last_error {
        Some((code, message)) => CliError::Client(ClientError::Api {
            status: code.status(),
            code,
            message,
            output: None,
            retry_after: None,
        }),
        None => CliError::StreamEnded,
    }
}

/// Sends the local terminal's size, when there is one; a failure shows in the output.
async fn send_size(input: &mut StreamInput) {
    if let Some(size) = terminal::size() {
        let _ = input.resize(size).await;
    }
}

/// The next chunk of standard input; pending forever once there is none.
async fn recv(keys: &mut Option<mpsc::Receiver<Vec<u8>>>) -> Option<Vec<u8>> {
    match keys {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// The next delivery of a signal; pending forever when it is not watched.
async fn recv_signal(signal: &mut Option<Signal>) -> Option<()> {
    match signal {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}

/// Standard input as chunks, read on a thread of its own: a read blocked on a
/// terminal must not keep the process from exiting when the session ends.
fn read_stdin() -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel(16);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut buf = vec![0; READ_CHUNK];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => {
                    if tx.blocking_send(buf[..n].to_vec()).is_err() {
                        return;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    });
    rx
}

/// Prints a note on stderr (with a carriage return in raw mode).
fn warn(raw: bool, text: &str) {
    let end = if raw { "\r\n" } else { "\n" };
    let _ = write!(std::io::stderr(), "{text}{end}");
}

/// Prints an event other than `end` and `error`.
fn show(event: &StreamEvent, json: bool, raw: bool) -> Result<(), CliError> {
    if json {
        return output::line(&event_json(event).to_string());
    }
    match event {
        StreamEvent::Output {
            stream: OutputStream::Stdout,
            bytes,
        } => output::bytes(bytes),
        StreamEvent::Output {
            stream: OutputStream::Stderr,
            bytes,
        } => {
            let mut err = std::io::stderr().lock();
            let _ = err.write_all(bytes).and_then(|()| err.flush());
            Ok(())
        }
        StreamEvent::Gap { stream, bytes } => {
            warn(
                raw,
                &format!(
                    "[{bytes} bytes of {} were dropped before they could be read]",
                    output::wire_name(stream)
                ),
            );
            Ok(())
        }
        _ => Ok(()),
    }
}

/// An event as one JSON object: `start`, `end` and `gap` as the channel says them,
/// output as `{"type":"output","stream","data"}` (`data_base64` for bytes that are
/// not UTF-8), `error` as `{"type":"error","code","message"}`.
pub fn event_json(event: &StreamEvent) -> serde_json::Value {
    match event {
        StreamEvent::Start(start) => {
            let mut value = json!(start);
            value["type"] = "start".into();
            value
        }
        StreamEvent::End(end) => {
            let mut value = json!(end);
            value["type"] = "end".into();
            value
        }
        StreamEvent::Gap { stream, bytes } => {
            json!({"type": "gap", "stream": stream, "bytes": bytes})
        }
        StreamEvent::Output { stream, bytes } => match std::str::from_utf8(bytes) {
            Ok(text) => json!({"type": "output", "stream": stream, "data": text}),
            Err(_) => {
                use base64::Engine;
                let data = base64::engine::general_purpose::STANDARD.encode(bytes);
                json!({"type": "output", "stream": stream, "data_base64": data})
            }
        },
        StreamEvent::Error { code, message } => {
            json!({"type": "error", "code": code, "message": message})
        }
    }
}

/// The exit status that reports how a process ended: its exit code (255 outside
/// 0-255), 128 + the signal that killed it, or 0 while it still runs. A process its
/// timeout killed is [`CliError::ProcessTimedOut`].
pub fn end_status(end: &StreamEnd) -> Result<u8, CliError> {
    if end.timed_out {
        return Err(CliError::ProcessTimedOut { pid: end.pid });
    }
    Ok(match (end.exit_code, end.signal) {
        (Some(code), _) => u8::try_from(code).unwrap_or(u8::MAX),
        (None, Some(signal)) => u8::try_from(128 + signal).unwrap_or(u8::MAX),
        (None, None) => 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn end(exit_code: Option<i32>, signal: Option<i32>, timed_out: bool) -> StreamEnd {
        StreamEnd {
            pid: 4,
            running: false,
            exit_code,
            signal,
            timed_out,
            duration_ms: Some(1),
            stdout_offset: 0,
            stderr_offset: 0,
        }
    }

    #[test]
    fn end_statuses_follow_the_process() {
        assert_eq!(end_status(&end(Some(3), None, false)).unwrap(), 3);
        assert_eq!(end_status(&end(Some(300), None, false)).unwrap(), 255);
        assert_eq!(end_status(&end(None, Some(9), false)).unwrap(), 137);
        assert_eq!(end_status(&end(None, None, false)).unwrap(), 0);
        let err = end_status(&end(None, Some(9), true)).unwrap_err();
        assert_eq!(err.exit(), crate::exit::Exit::Timeout);
    }

    #[test]
    fn events_become_json_lines() {
        let out = StreamEvent::Output {
            stream: OutputStream::Stderr,
            bytes: b"hi".to_vec(),
        };
        assert_eq!(
            event_json(&out),
            json!({"type":"output","stream":"stderr","data":"hi"})
        );
        let bin = StreamEvent::Output {
            stream: OutputStream::Stdout,
            bytes: vec![0xff],
        };
        assert_eq!(event_json(&bin)["data_base64"], "/w==");
        let value = event_json(&StreamEvent::End(end(Some(0), None, false)));
        assert_eq!(value["type"], "end");
        assert_eq!(value["exit_code"], 0);
        let value = event_json(&StreamEvent::Error {
            code: ErrorCode::StdinClosed,
            message: "closed".into(),
        });
        assert_eq!(
            value,
            json!({"type":"error","code":"stdin_closed","message":"closed"})
        );
    }

    #[test]
    fn a_close_after_an_error_reports_that_error() {
        let err = closed(Some((ErrorCode::ProcessNotFound, "gone".into())));
        assert_eq!(err.exit(), crate::exit::Exit::NotFound);
        assert_eq!(err.code(), "process_not_found");
        assert_eq!(closed(None).exit(), crate::exit::Exit::Server);
    }
}
