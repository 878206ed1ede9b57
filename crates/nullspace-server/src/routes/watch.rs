//! `GET /v1/machines/{id}/files/watch`: a WebSocket of a directory's changes
//! (`spec/files.md`). The path is checked and the watch put in place before the
//! upgrade, so a missing path is a plain JSON error; the channel then sends
//! `ready`, `event`s, and `end` or `error`.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::response::Response;
use futures_util::StreamExt;
use nullspace_api::{ErrorCode, WatchEnd, WatchMsg, CLOSE_INTERNAL};
use serde::Deserialize;

use crate::auth::Tenant;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiQuery;
use crate::node::WatchStream;
use crate::params;
use crate::services;
use crate::state::AppState;
use crate::wire::{running, user};

/// Longest `timeout` of a watch, seconds (a day).
const MAX_WATCH_SECS: f64 = 86_400.0;

/// `?path=&recursive=&timeout=&user=` of a watch.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchQuery {
    path: String,
    recursive: Option<bool>,
    timeout: Option<f64>,
    user: Option<String>,
}

/// `GET /files/watch`.
pub async fn watch(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<WatchQuery>,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    let path = params::path("path", &q.path)?;
    let timeout = match q.timeout {
        None => None,
        Some(t) if t > 0.0 && t <= MAX_WATCH_SECS => Some(Duration::from_secs_f64(t)),
        Some(_) => {
            return Err(ApiError::field(
                "timeout",
                format!("must be above 0 and at most {MAX_WATCH_SECS} seconds"),
            ))
        }
    };
    let user = user(q.user)?;
    let ws = ws.map_err(|e| {
        ApiError::new(
            ErrorCode::BadRequest,
            format!("this route is a WebSocket: {e}"),
        )
    })?;
    let id = running(&state, &tenant, &id).await?;
    let recursive = q.recursive.unwrap_or(false);
    let events = services::files::watch(&state, &id, path.clone(), user, recursive).await?;
    Ok(ws.on_upgrade(move |socket| run(socket, events, path, timeout)))
}

fn text(msg: &WatchMsg) -> Message {
    Message::Text(
        serde_json::to_string(msg)
            .expect("watch messages serialise")
            .into(),
    )
}

async fn run(
    mut socket: WebSocket,
    mut events: WatchStream,
    path: String,
    timeout: Option<Duration>,
) {
    if socket.send(text(&WatchMsg::Ready { path })).await.is_err() {
        return;
    }
    let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
    let expired = async {
        match deadline {
            Some(d) => tokio::time::sleep_until(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(expired);
    let (close, reason) = loop {
        tokio::select! {
            _ = &mut expired => break (1000, Some(WatchMsg::End { reason: WatchEnd::Timeout })),
            event = events.next() => match event {
                Some(Ok(e)) => {
                    if socket.send(text(&WatchMsg::Event(e))).await.is_err() {
                        return;
                    }
                }
                None => break (1000, Some(WatchMsg::End { reason: WatchEnd::Removed })),
                Some(Err(e)) => {
                    let e = ApiError::from(e);
                    break (CLOSE_INTERNAL, Some(WatchMsg::Error { code: e.code, message: e.message }));
                }
            },
            incoming = socket.recv() => match incoming {
                // The client closed or went away: the watch stops (dropping it).
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            },
        }
    };
    if let Some(msg) = reason {
        let _ = socket.send(text(&msg)).await;
    }
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code: close,
            reason: "".into(),
        })))
        .await;
}
