//! The process stream WebSocket (`spec/websocket.md`): a process's output as it
//! arrives, and its input. Everything that can fail before the stream starts
//! (auth, ids, the machine, the process) answers a plain JSON error before the
//! upgrade; the stream itself ends with `end` or `error` and a close code.

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::response::Response;
use futures_util::StreamExt;
use nullspace_api::{
    ClientMsg, ErrorCode, ServerMsg, StreamName, CLOSE_CONFLICT, CLOSE_INTERNAL,
    CLOSE_MACHINE_DIED, CLOSE_NOT_FOUND, MAX_STDIN_BYTES, WS_STDERR, WS_STDIN, WS_STDOUT,
};
use nullspace_types::MachineId;
use serde::Deserialize;

use crate::auth::Tenant;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiQuery;
use crate::node::{AttachEvent, AttachRequest, AttachStream, NodeError, OutputStream, ProcessRef};
use crate::params;
use crate::services::{self, processes};
use crate::state::AppState;

/// Close code of a message the server cannot take.
const CLOSE_POLICY: u16 = 1008;
/// Largest message a client may send (stdin chunk plus framing).
const MAX_MESSAGE: usize = MAX_STDIN_BYTES * 2;

/// Query of the stream routes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamQuery {
    /// Stdout offset to start at (default: the oldest byte kept).
    pub stdout_offset: Option<u64>,
    /// Stderr offset to start at.
    pub stderr_offset: Option<u64>,
    /// Follow the output until the process ends (default true).
    pub follow: Option<bool>,
}

/// `GET /v1/machines/{id}/processes/{pid}/stream`.
pub async fn stream(
    state: State<AppState>,
    tenant: Tenant,
    path: Path<(String, String)>,
    query: ApiQuery<StreamQuery>,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    open(state, tenant, path, query, ws, false).await
}

/// `GET /v1/machines/{id}/pty/{pid}/connect`.
pub async fn connect(
    state: State<AppState>,
    tenant: Tenant,
    path: Path<(String, String)>,
    query: ApiQuery<StreamQuery>,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    open(state, tenant, path, query, ws, true).await
}

async fn open(
    State(state): State<AppState>,
    tenant: Tenant,
    Path((id, pid)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<StreamQuery>,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
    pty: bool,
) -> ApiResult<Response> {
    let (id, pid) = (params::machine_id(&id)?, params::pid(&pid)?);
    let ws = ws.map_err(|e| {
        ApiError::new(
            ErrorCode::BadRequest,
            format!("this route is a WebSocket: {e}"),
        )
    })?;
    let info = processes::get(&state, &tenant, &id, pid).await?;
    if pty && info.pty.is_none() {
        return Err(ApiError::new(
            ErrorCode::ProcessNotFound,
            format!("no terminal session {pid} in this machine"),
        ));
    }
    let from = (
        q.stdout_offset.unwrap_or(info.stdout.kept_from),
        q.stderr_offset.unwrap_or(info.stderr.kept_from),
    );
    let attach = AttachRequest {
        process: ProcessRef::Pid(pid),
        stdout_from: Some(from.0),
        stderr_from: Some(from.1),
        follow: q.follow.unwrap_or(true),
    };
    let mut events = processes::attach(&state, &tenant, &id, attach).await?;
    // The attach answers `started` first, or fails (an offset beyond the output).
    match events.next().await {
        Some(Ok(AttachEvent::Started { .. })) => {}
        Some(Ok(other)) => {
            return Err(ApiError::new(
                ErrorCode::Internal,
                format!("unexpected first attach event {other:?}"),
            ))
        }
        Some(Err(e)) => {
            return Err(services::settle::<()>(&state, &id, Err(e))
                .await
                .unwrap_err())
        }
        None => return Err(processes::not_found(pid)),
    }
    let channel = Channel {
        state,
        tenant,
        id,
        pid,
        offsets: from,
    };
    Ok(ws
        .max_message_size(MAX_MESSAGE)
        .on_upgrade(move |socket| channel.run(socket, events)))
}

/// One open channel.
struct Channel {
    state: AppState,
    tenant: Tenant,
    id: MachineId,
    pid: u32,
    /// Offsets of the next stdout and stderr bytes.
    offsets: (u64, u64),
}

/// How a channel ends.
enum Close {
    /// After `end`.
    Normal,
    /// The client left.
    Gone,
    /// With an error.
    Error(ApiError),
}

impl Channel {
    async fn run(mut self, mut socket: WebSocket, mut events: AttachStream) {
        let start = ServerMsg::Start {
            pid: self.pid,
            stdout_offset: self.offsets.0,
            stderr_offset: self.offsets.1,
        };
        if send_json(&mut socket, &start).await.is_err() {
            return;
        }
        let close = loop {
            tokio::select! {
                event = events.next() => match self.on_event(&mut socket, event).await {
                    Ok(None) => {}
                    Ok(Some(close)) => break close,
                    Err(()) => break Close::Gone,
                },
                msg = socket.recv() => match msg {
                    Some(Ok(msg)) => {
                        if let Some(close) = self.on_message(&mut socket, msg).await {
                            break close;
                        }
                    }
                    Some(Err(_)) | None => break Close::Gone,
                },
            }
        };
        // Dropping the events ends the attach in the guest; the process runs on.
        drop(events);
        let frame = match close {
            Close::Gone => return,
            Close::Normal => CloseFrame {
                code: 1000,
                reason: "end".into(),
            },
            Close::Error(e) => {
                let msg = ServerMsg::Error {
                    code: e.code,
                    message: e.message.clone(),
                };
                let _ = send_json(&mut socket, &msg).await;
                CloseFrame {
                    code: close_code(e.code),
                    reason: e.code.name().into(),
                }
            }
        };
        let _ = socket.send(Message::Close(Some(frame))).await;
    }

    /// Forward one attach event; `Err` when the client is gone.
    async fn on_event(
        &mut self,
        socket: &mut WebSocket,
        event: Option<Result<AttachEvent, NodeError>>,
    ) -> Result<Option<Close>, ()> {
        let event = match event {
            None => {
                let e = ApiError::new(ErrorCode::Internal, "the attach ended without its end");
                return Ok(Some(Close::Error(e)));
            }
            Some(Err(e)) => {
                let err = services::settle::<()>(&self.state, &self.id, Err(e))
                    .await
                    .unwrap_err();
                return Ok(Some(Close::Error(err)));
            }
            Some(Ok(event)) => event,
        };
        match event {
            AttachEvent::Started { .. } => {}
            AttachEvent::Output { stream, data } => {
                let (tag, offset) = match stream {
                    OutputStream::Stdout => (WS_STDOUT, &mut self.offsets.0),
                    OutputStream::Stderr => (WS_STDERR, &mut self.offsets.1),
                };
                *offset += data.len() as u64;
                let mut bytes = Vec::with_capacity(data.len() + 1);
                bytes.push(tag);
                bytes.extend_from_slice(&data);
                socket
                    .send(Message::Binary(bytes.into()))
                    .await
                    .map_err(drop)?;
            }
            AttachEvent::Gap { stream, bytes } => {
                let name = match stream {
                    OutputStream::Stdout => {
                        self.offsets.0 += bytes;
                        StreamName::Stdout
                    }
                    OutputStream::Stderr => {
                        self.offsets.1 += bytes;
                        StreamName::Stderr
                    }
                };
                let gap = ServerMsg::Gap {
                    stream: name,
                    bytes,
                };
                send_json(socket, &gap).await?;
            }
            AttachEvent::End(end) => {
                let result = end.end;
                let msg = ServerMsg::End {
                    pid: self.pid,
                    running: result.is_none(),
                    exit_code: result.as_ref().and_then(|r| r.exit_code),
                    signal: result.as_ref().and_then(|r| r.signal),
                    timed_out: result.as_ref().is_some_and(|r| r.timed_out),
                    duration_ms: result.as_ref().map(|r| r.duration_ms),
                    stdout_offset: end.stdout_next,
                    stderr_offset: end.stderr_next,
                };
                send_json(socket, &msg).await?;
                return Ok(Some(Close::Normal));
            }
        }
        Ok(None)
    }

    /// Act on one client message; `Some` ends the channel.
    async fn on_message(&mut self, socket: &mut WebSocket, msg: Message) -> Option<Close> {
        let result = match msg {
            Message::Binary(bytes) => match bytes.split_first() {
                Some((&WS_STDIN, data)) => self.input(data.to_vec(), false).await,
                _ => return Some(policy("a binary message must start with 0x00 (stdin)")),
            },
            Message::Text(text) => match serde_json::from_str::<ClientMsg>(text.as_str()) {
                Ok(m) => self.client_msg(m).await,
                Err(e) => return Some(policy(&format!("bad message: {e}"))),
            },
            Message::Close(_) => return Some(Close::Gone),
            Message::Ping(_) | Message::Pong(_) => Ok(()),
        };
        // A failed input is answered; the channel stays open.
        if let Err(e) = result {
            let msg = ServerMsg::Error {
                code: e.code,
                message: e.message,
            };
            if send_json(socket, &msg).await.is_err() {
                return Some(Close::Gone);
            }
        }
        None
    }

    async fn client_msg(&mut self, msg: ClientMsg) -> ApiResult<()> {
        match msg {
            ClientMsg::Stdin { data, data_base64 } => {
                let bytes = params::stdin_bytes(data, data_base64)?;
                self.input(bytes, false).await
            }
            ClientMsg::CloseStdin => self.input(Vec::new(), true).await,
            ClientMsg::Signal { signal } => {
                let n = params::signal("signal", &signal)?;
                processes::signal(&self.state, &self.tenant, &self.id, self.pid, n).await
            }
            ClientMsg::Resize { cols, rows } => {
                let size = params::pty_size(nullspace_api::PtySize { cols, rows })?;
                processes::resize(&self.state, &self.tenant, &self.id, self.pid, size).await
            }
        }
    }

    async fn input(&self, data: Vec<u8>, close: bool) -> ApiResult<()> {
        processes::input(&self.state, &self.tenant, &self.id, self.pid, data, close).await
    }
}

fn policy(why: &str) -> Close {
    Close::Error(ApiError::new(ErrorCode::BadRequest, why.to_owned()))
}

/// The close code of an error.
fn close_code(code: ErrorCode) -> u16 {
    match code {
        ErrorCode::BadRequest | ErrorCode::ValidationError => CLOSE_POLICY,
        ErrorCode::NotFound | ErrorCode::ProcessNotFound => CLOSE_NOT_FOUND,
        ErrorCode::MachineNotRunning | ErrorCode::AgentOutdated => CLOSE_CONFLICT,
        ErrorCode::MachineDied => CLOSE_MACHINE_DIED,
        _ => CLOSE_INTERNAL,
    }
}

async fn send_json(socket: &mut WebSocket, msg: &ServerMsg) -> Result<(), ()> {
    let text = serde_json::to_string(msg).map_err(drop)?;
    socket.send(Message::Text(text.into())).await.map_err(drop)
}
