//! A template build's log followed as it is written
//! (`GET /v1/templates/builds/{id}/logs/stream`, a WebSocket; `spec/templates.md`).

use futures_util::StreamExt;
use nullspace_api::BuildLogMsg;
use nullspace_types::TemplateBuildId;
use tokio_tungstenite::tungstenite::Message;

use crate::stream::Socket;
use crate::{Client, ClientError};

/// A build's log as it is written: `log` messages in order, then `done` (or an
/// `error` if the server could not go on).
#[derive(Debug)]
pub struct BuildLogStream {
    socket: Socket,
    url: String,
    done: bool,
}

impl BuildLogStream {
    /// The next message; `None` once the server closed after `done` or `error`. A
    /// channel that closes before either is [`ClientError::StreamClosed`] (follow
    /// again from the offset after the last entry read).
    pub async fn next(&mut self) -> Result<Option<BuildLogMsg>, ClientError> {
        loop {
            if self.done {
                return Ok(None);
            }
            let message = match self.socket.next().await {
                None => return self.closed(None),
                Some(Err(source)) => {
                    return Err(ClientError::WebSocket {
                        url: self.url.clone(),
                        source: Box::new(source),
                    })
                }
                Some(Ok(m)) => m,
            };
            match message {
                Message::Text(text) => {
                    let msg: BuildLogMsg = serde_json::from_str(text.as_str()).map_err(|e| {
                        ClientError::StreamMessage {
                            url: self.url.clone(),
                            what: format!("{e}: {text}"),
                        }
                    })?;
                    if !matches!(msg, BuildLogMsg::Log(_)) {
                        self.done = true;
                    }
                    return Ok(Some(msg));
                }
                Message::Close(frame) => return self.closed(frame.map(|f| u16::from(f.code))),
                _ => continue,
            }
        }
    }

    /// Stop following (the build goes on).
    pub async fn close(mut self) -> Result<(), ClientError> {
        let _ = self.socket.close(None).await;
        Ok(())
    }

    fn closed(&mut self, code: Option<u16>) -> Result<Option<BuildLogMsg>, ClientError> {
        if self.done {
            return Ok(None);
        }
        self.done = true;
        Err(ClientError::StreamClosed {
            url: self.url.clone(),
            code,
            reason: String::new(),
        })
    }
}

impl Client {
    /// `GET /v1/templates/builds/{id}/logs/stream?offset=N` (WebSocket): the build's
    /// log entries from `offset` as they are written, then `done` when it ends (at
    /// once for an ended build). An unknown build is `build_not_found` (404), as
    /// from the polled routes.
    pub async fn follow_build_logs(
        &self,
        id: &TemplateBuildId,
        offset: u64,
    ) -> Result<BuildLogStream, ClientError> {
        let url = self.url(
            &format!("v1/templates/builds/{id}/logs/stream"),
            &[("offset", offset.to_string())],
        )?;
        let (socket, url) = self.connect_ws(url).await?;
        Ok(BuildLogStream {
            socket,
            url,
            done: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use nullspace_api::{BuildLogEntry, BuildStatus, ErrorCode};
    use serde_json::json;

    use super::*;
    use crate::test_server::{Frame, Reply, TestServer, WsPlan};

    fn entry(offset: u64, message: &str) -> BuildLogEntry {
        BuildLogEntry {
            offset,
            at: "2026-01-01T12:34:56.789Z".into(),
            level: "info".into(),
            step: Some(1),
            message: message.into(),
        }
    }

    #[tokio::test]
    async fn build_logs_follow_over_a_websocket_until_done() {
        let server = TestServer::start_with_ws(
            |r| match r.route().as_str() {
                "GET /v1/templates/builds/tb_cccccccccccccccccccc/logs/stream" => {
                    Reply::error(ErrorCode::BuildNotFound, "template build not found")
                }
                _ => Reply::error(ErrorCode::NotFound, "no such route"),
            },
            |r| {
                let log = |o: u64, m: &str| {
                    let mut v = serde_json::to_value(entry(o, m)).unwrap();
                    v["type"] = json!("log");
                    Frame::json(v)
                };
                match r.path.as_str() {
                    "/v1/templates/builds/tb_bbbbbbbbbbbbbbbbbbbb/logs/stream" => {
                        Some(WsPlan::script(vec![
                            log(2, "two"),
                            log(3, "three"),
                            Frame::json(json!({"type": "done", "status": "ready", "error": null})),
                            Frame::Close(1000),
                        ]))
                    }
                    "/v1/templates/builds/tb_dddddddddddddddddddd/logs/stream" => {
                        Some(WsPlan::script(vec![log(0, "zero"), Frame::Close(1001)]))
                    }
                    _ => None,
                }
            },
        );
        let client = Client::new(server.url(), "k").unwrap();
        let id: TemplateBuildId = "tb_bbbbbbbbbbbbbbbbbbbb".parse().unwrap();
        let mut logs = client.follow_build_logs(&id, 2).await.unwrap();
        assert_eq!(server.last().query_param("offset").as_deref(), Some("2"));
        assert_eq!(
            server.last().header("authorization"),
            Some("Bearer k"),
            "the key goes with the upgrade"
        );
        let mut got = Vec::new();
        while let Some(msg) = logs.next().await.unwrap() {
            got.push(msg);
        }
        assert_eq!(
            got,
            vec![
                BuildLogMsg::Log(entry(2, "two")),
                BuildLogMsg::Log(entry(3, "three")),
                BuildLogMsg::Done {
                    status: BuildStatus::Ready,
                    error: None
                },
            ]
        );
        assert!(logs.next().await.unwrap().is_none(), "stays ended");

        // Closed before done: an error naming the close code.
        let cut: TemplateBuildId = "tb_dddddddddddddddddddd".parse().unwrap();
        let mut logs = client.follow_build_logs(&cut, 0).await.unwrap();
        assert!(matches!(logs.next().await, Ok(Some(BuildLogMsg::Log(_)))));
        let err = logs.next().await.unwrap_err();
        assert_eq!(err.close_code(), Some(1001), "{err}");
        // A refused upgrade is the route's typed error.
        let unknown: TemplateBuildId = "tb_cccccccccccccccccccc".parse().unwrap();
        let err = client.follow_build_logs(&unknown, 0).await.unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::BuildNotFound), "{err}");
        assert_eq!(err.status(), Some(404));
    }
}
