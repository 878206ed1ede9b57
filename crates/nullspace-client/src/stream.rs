//! WebSocket channels of a process (`spec/websocket.md`): its output as typed
//! [`StreamEvent`]s, and its input (stdin bytes, end of input, signals, terminal
//! size). The upgrade carries the API key like every request, and an upgrade the
//! server refuses becomes the same [`ClientError::Api`] a REST route would give.

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use nullspace_api::{ErrorBody, PtySize, SignalName};
use nullspace_types::MachineId;
use serde::Serialize;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::header::{AUTHORIZATION, RETRY_AFTER, USER_AGENT};
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use url::Url;

use crate::error::parse_retry_after;
use crate::events::{self, StreamEvent};
use crate::{Client, ClientError};

/// Bytes of stdin sent in one binary message (the server takes at most 1 MiB).
const STDIN_CHUNK: usize = 256 * 1024;
/// First byte of a binary message carrying stdin.
const STDIN_BYTE: u8 = 0x00;

pub(crate) type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Where a stream channel starts and whether it follows new output.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamOptions {
    /// Stdout offset to start at (default: the oldest kept byte).
    pub stdout_offset: Option<u64>,
    /// Stderr offset to start at (default: the oldest kept byte).
    pub stderr_offset: Option<u64>,
    /// Keep sending output until the process ends (server default `true`); `false`
    /// sends what is kept, then `end`.
    pub follow: Option<bool>,
}

/// A text message of the client.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ClientText {
    CloseStdin,
    Signal { signal: SignalName },
    Resize { cols: u16, rows: u16 },
}

impl StreamOptions {
    fn query(&self) -> Vec<(&'static str, String)> {
        let mut query = Vec::new();
        if let Some(offset) = self.stdout_offset {
            query.push(("stdout_offset", offset.to_string()));
        }
        if let Some(offset) = self.stderr_offset {
            query.push(("stderr_offset", offset.to_string()));
        }
        if let Some(follow) = self.follow {
            query.push(("follow", follow.to_string()));
        }
        query
    }
}

impl Client {
    /// `GET /v1/machines/{id}/processes/{pid}/stream` (WebSocket): the process's
    /// output from `options`' offsets, and a way to its input.
    pub async fn stream_process(
        &self,
        id: &MachineId,
        pid: u32,
        options: &StreamOptions,
    ) -> Result<ProcessStream, ClientError> {
        let url = self.url(
            &format!("v1/machines/{id}/processes/{pid}/stream"),
            &options.query(),
        )?;
        self.open_channel(url).await
    }

    /// `GET /v1/machines/{id}/pty/{pid}/connect` (WebSocket): a PTY session's terminal.
    pub async fn connect_pty(
        &self,
        id: &MachineId,
        pid: u32,
    ) -> Result<ProcessStream, ClientError> {
        let url = self.url(&format!("v1/machines/{id}/pty/{pid}/connect"), &[])?;
        self.open_channel(url).await
    }

    /// Upgrades `url` (http or https) to a channel with the API key.
    async fn open_channel(&self, url: Url) -> Result<ProcessStream, ClientError> {
        let (socket, url) = self.connect_ws(url).await?;
        let (sink, stream) = socket.split();
        Ok(ProcessStream {
            input: StreamInput {
                sink,
                url: url.clone(),
            },
            output: StreamOutput {
                stream,
                url,
                finished: false,
            },
        })
    }

    /// Upgrades `url` (http or https) to a WebSocket with the API key; an HTTP
    /// error answer is the call's typed error. Answers the socket and its URL.
    pub(crate) async fn connect_ws(&self, mut url: Url) -> Result<(Socket, String), ClientError> {
        let scheme = if url.scheme() == "https" { "wss" } else { "ws" };
        // Both are special schemes, so the swap always succeeds.
        let _ = url.set_scheme(scheme);
        let ws_error = |source| ClientError::WebSocket {
            url: url.to_string(),
            source: Box::new(source),
        };
        let mut request = url.as_str().into_client_request().map_err(ws_error)?;
        let headers = request.headers_mut();
        headers.insert(
            USER_AGENT,
            HeaderValue::from_static(concat!("nullspace-client/", env!("CARGO_PKG_VERSION"))),
        );
        if let Some(key) = self.api_key() {
            let value = HeaderValue::from_str(&format!("Bearer {key}")).map_err(|_| {
                ws_error(tungstenite::Error::Url(
                    tungstenite::error::UrlError::UnsupportedUrlScheme,
                ))
            })?;
            headers.insert(AUTHORIZATION, value);
        }
        match tokio_tungstenite::connect_async(request).await {
            Ok((socket, _)) => Ok((socket, url.to_string())),
            Err(tungstenite::Error::Http(response)) => Err(refused(&url, &response)),
            Err(source) => Err(ws_error(source)),
        }
    }
}

/// The error of an upgrade the server answered with an HTTP error.
fn refused(url: &Url, response: &tungstenite::http::Response<Option<Vec<u8>>>) -> ClientError {
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after);
    let bytes = response.body().clone().unwrap_or_default();
    match serde_json::from_slice::<ErrorBody>(&bytes) {
        Ok(body) => ClientError::Api {
            status,
            code: body.error.code,
            message: body.error.message,
            output: body.error.output,
            retry_after,
        },
        Err(_) => ClientError::Http {
            status,
            url: url.to_string(),
            body: String::from_utf8_lossy(&bytes).chars().take(512).collect(),
            retry_after,
        },
    }
}

/// An open channel: its output and input halves.
#[derive(Debug)]
pub struct ProcessStream {
    input: StreamInput,
    output: StreamOutput,
}

impl ProcessStream {
    /// The input and output halves, to read and write at the same time.
    pub fn split(self) -> (StreamInput, StreamOutput) {
        (self.input, self.output)
    }

    /// The next event, or `None` after `end` (see [`StreamOutput::next_event`]).
    pub async fn next_event(&mut self) -> Result<Option<StreamEvent>, ClientError> {
        self.output.next_event().await
    }

    /// The input half.
    pub fn input(&mut self) -> &mut StreamInput {
        &mut self.input
    }
}

/// The sending half of a channel: the process's input.
#[derive(Debug)]
pub struct StreamInput {
    sink: SplitSink<Socket, Message>,
    url: String,
}

impl StreamInput {
    /// Writes `bytes` to the process's stdin (or terminal).
    pub async fn stdin(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        for chunk in bytes.chunks(STDIN_CHUNK) {
            let mut message = Vec::with_capacity(chunk.len() + 1);
            message.push(STDIN_BYTE);
            message.extend_from_slice(chunk);
            self.send(Message::Binary(message.into())).await?;
        }
        Ok(())
    }

    /// Closes the process's stdin: it reads end of file.
    pub async fn close_stdin(&mut self) -> Result<(), ClientError> {
        self.text(&ClientText::CloseStdin).await
    }

    /// Sends `signal` to the process group.
    pub async fn signal(&mut self, signal: SignalName) -> Result<(), ClientError> {
        self.text(&ClientText::Signal { signal }).await
    }

    /// Resizes the process's terminal (PTY processes).
    pub async fn resize(&mut self, size: PtySize) -> Result<(), ClientError> {
        self.text(&ClientText::Resize {
            cols: size.cols,
            rows: size.rows,
        })
        .await
    }

    /// Closes the channel (normal closure); the process keeps running.
    pub async fn close(&mut self) -> Result<(), ClientError> {
        self.send(Message::Close(None)).await
    }

    async fn text(&mut self, message: &ClientText) -> Result<(), ClientError> {
        let text = serde_json::to_string(message).expect("client messages serialize");
        self.send(Message::Text(text.into())).await
    }

    async fn send(&mut self, message: Message) -> Result<(), ClientError> {
        self.sink
            .send(message)
            .await
            .map_err(|source| ClientError::WebSocket {
                url: self.url.clone(),
                source: Box::new(source),
            })
    }
}

/// The receiving half of a channel: the process's output and what happens to it.
#[derive(Debug)]
pub struct StreamOutput {
    stream: SplitStream<Socket>,
    url: String,
    /// An `end` or `error` was read: a close that follows is expected.
    finished: bool,
}

impl StreamOutput {
    /// The next event. `None` once the server closed after `end` or `error`; a
    /// channel that closes without either is [`ClientError::StreamClosed`].
    pub async fn next_event(&mut self) -> Result<Option<StreamEvent>, ClientError> {
        loop {
            let message = match self.stream.next().await {
                None => return self.closed(None),
                Some(Err(tungstenite::Error::ConnectionClosed)) => return self.closed(None),
                Some(Err(source)) => {
                    return Err(ClientError::WebSocket {
                        url: self.url.clone(),
                        source: Box::new(source),
                    })
                }
                Some(Ok(message)) => message,
            };
            let event = match message {
                Message::Binary(bytes) => {
                    Some(events::output(&bytes).map_err(|e| self.invalid(e))?)
                }
                Message::Text(text) => events::text(text.as_str()).map_err(|e| self.invalid(e))?,
                Message::Close(frame) => return self.closed(frame),
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => None,
            };
            if let Some(event) = event {
                if matches!(event, StreamEvent::End(_) | StreamEvent::Error { .. }) {
                    self.finished = true;
                }
                return Ok(Some(event));
            }
        }
    }

    fn closed(&self, frame: Option<CloseFrame>) -> Result<Option<StreamEvent>, ClientError> {
        if self.finished {
            return Ok(None);
        }
        Err(ClientError::StreamClosed {
            url: self.url.clone(),
            code: frame.as_ref().map(|f| u16::from(f.code)),
            reason: frame.map(|f| f.reason.to_string()).unwrap_or_default(),
        })
    }

    fn invalid(&self, what: String) -> ClientError {
        ClientError::StreamMessage {
            url: self.url.clone(),
            what,
        }
    }
}

#[cfg(test)]
mod tests {
    use nullspace_api::ErrorCode;

    use super::*;
    use crate::events::{OutputStream, StreamStart};
    use crate::test_server::{Frame, Reply, TestServer, WsPlan};

    fn end(exit_code: i32) -> Frame {
        Frame::json(serde_json::json!({
            "type": "end", "pid": 42, "running": false, "exit_code": exit_code,
            "signal": null, "timed_out": false, "duration_ms": 5,
            "stdout_offset": 3, "stderr_offset": 1,
        }))
    }

    /// A fake whose stream of pid 42 greets with start and output, echoes stdin as
    /// stdout, answers a bad signal with an input error, and ends (code 3) on close_stdin.
    fn stream_server() -> TestServer {
        TestServer::start_with_ws(
            |_| Reply::error(ErrorCode::ProcessNotFound, "no process 7"),
            |r| {
                if !r.path.ends_with("/processes/42/stream") && !r.path.ends_with("/pty/42/connect")
                {
                    return None;
                }
                let greeting = vec![
                    Frame::json(
                        serde_json::json!({"type":"start","pid":42,"stdout_offset":0,"stderr_offset":0}),
                    ),
                    Frame::output(1, b"hi\n"),
                    Frame::json(serde_json::json!({"type":"gap","stream":"stderr","bytes":10})),
                    Frame::output(2, b"!"),
                    Frame::json(serde_json::json!({"type":"future_thing"})),
                ];
                Some(WsPlan::new(greeting, |frame| match frame {
                    Frame::Binary(b) if b.first() == Some(&0) => vec![Frame::output(1, &b[1..])],
                    Frame::Text(t) if t.contains("close_stdin") => vec![end(3), Frame::Close(1000)],
                    Frame::Text(t) if t.contains("SIGNOPE") => vec![Frame::json(
                        serde_json::json!({"type":"error","code":"bad_request","message":"unknown signal"}),
                    )],
                    _ => Vec::new(),
                }))
            },
        )
    }

    #[tokio::test]
    async fn events_arrive_typed_and_input_is_sent() {
        let server = stream_server();
        let client = Client::new(server.url(), "ns_live_k").unwrap();
        let id: MachineId = "sb_a".parse().unwrap();
        let options = StreamOptions {
            stdout_offset: Some(0),
            follow: Some(true),
            ..Default::default()
        };
        let stream = client.stream_process(&id, 42, &options).await.unwrap();
        let upgrade = server.last();
        assert_eq!(upgrade.route(), "GET /v1/machines/sb_a/processes/42/stream");
        assert_eq!(upgrade.query, "stdout_offset=0&follow=true");
        assert_eq!(upgrade.header("authorization"), Some("Bearer ns_live_k"));
        let (mut input, mut output) = stream.split();
        let start = StreamStart {
            pid: 42,
            stdout_offset: 0,
            stderr_offset: 0,
        };
        assert_eq!(
            output.next_event().await.unwrap(),
            Some(StreamEvent::Start(start))
        );
        let out = |stream, bytes: &[u8]| StreamEvent::Output {
            stream,
            bytes: bytes.to_vec(),
        };
        assert_eq!(
            output.next_event().await.unwrap(),
            Some(out(OutputStream::Stdout, b"hi\n"))
        );
        assert_eq!(
            output.next_event().await.unwrap(),
            Some(StreamEvent::Gap {
                stream: OutputStream::Stderr,
                bytes: 10
            })
        );
        assert_eq!(
            output.next_event().await.unwrap(),
            Some(out(OutputStream::Stderr, b"!"))
        );
        input.stdin(b"typed").await.unwrap();
        assert_eq!(
            output.next_event().await.unwrap(),
            Some(out(OutputStream::Stdout, b"typed"))
        );
        input
            .signal(SignalName::Name("SIGNOPE".into()))
            .await
            .unwrap();
        assert_eq!(
            output.next_event().await.unwrap(),
            Some(StreamEvent::Error {
                code: ErrorCode::BadRequest,
                message: "unknown signal".into()
            })
        );
        input
            .resize(PtySize {
                cols: 120,
                rows: 40,
            })
            .await
            .unwrap();
        input.close_stdin().await.unwrap();
        match output.next_event().await.unwrap() {
            Some(StreamEvent::End(end)) => {
                assert_eq!(
                    (end.exit_code, end.running, end.stdout_offset),
                    (Some(3), false, 3)
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(output.next_event().await.unwrap(), None, "closed after end");
        let frames = server.frames();
        assert_eq!(frames[0], Frame::Binary(b"\0typed".to_vec()));
        assert_eq!(
            frames[1],
            Frame::Text(r#"{"type":"signal","signal":"SIGNOPE"}"#.into())
        );
        assert_eq!(
            frames[2],
            Frame::Text(r#"{"type":"resize","cols":120,"rows":40}"#.into())
        );
        assert_eq!(frames[3], Frame::Text(r#"{"type":"close_stdin"}"#.into()));
    }

    #[tokio::test]
    async fn refused_upgrades_keep_the_api_code() {
        let server = stream_server();
        let client = Client::new(server.url(), "k").unwrap();
        let id: MachineId = "sb_a".parse().unwrap();
        let err = client
            .stream_process(&id, 7, &StreamOptions::default())
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::ProcessNotFound), "{err}");
        assert_eq!(err.status(), Some(404));
        let err = client.connect_pty(&id, 7).await.unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::ProcessNotFound), "{err}");
        let mut pty = client.connect_pty(&id, 42).await.unwrap();
        assert!(matches!(
            pty.next_event().await,
            Ok(Some(StreamEvent::Start(_)))
        ));
        assert_eq!(server.last().path, "/v1/machines/sb_a/pty/42/connect");
    }

    #[tokio::test]
    async fn an_early_close_is_an_error_with_its_close_code() {
        let server = TestServer::start_with_ws(
            |_| Reply::empty(404),
            |_| {
                Some(WsPlan::script(vec![
                    Frame::json(
                        serde_json::json!({"type":"start","pid":1,"stdout_offset":0,"stderr_offset":0}),
                    ),
                    Frame::Close(4502),
                ]))
            },
        );
        let client = Client::new(server.url(), "k").unwrap();
        let mut stream = client
            .stream_process(&"sb_a".parse().unwrap(), 1, &StreamOptions::default())
            .await
            .unwrap();
        assert!(matches!(
            stream.next_event().await,
            Ok(Some(StreamEvent::Start(_)))
        ));
        let err = stream.next_event().await.unwrap_err();
        assert_eq!(err.close_code(), Some(4502), "{err}");
        assert!(err.to_string().contains("closed before the end"), "{err}");
    }

    #[tokio::test]
    async fn an_unknown_stream_byte_is_a_protocol_error() {
        let server = TestServer::start_with_ws(
            |_| Reply::empty(404),
            |_| Some(WsPlan::script(vec![Frame::Binary(vec![9, 1])])),
        );
        let client = Client::new(server.url(), "k").unwrap();
        let mut stream = client
            .stream_process(&"sb_a".parse().unwrap(), 1, &StreamOptions::default())
            .await
            .unwrap();
        let err = stream.next_event().await.unwrap_err();
        assert!(matches!(err, ClientError::StreamMessage { .. }), "{err}");
    }
}
