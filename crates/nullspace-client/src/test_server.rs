//! A recording HTTP server with canned replies, for tests of code that uses the client
//! (this crate's and the CLI's). It runs on its own thread and runtime, so it serves
//! both async tests and tests that drive a separate process. WebSocket upgrades can be
//! answered by a [`WsPlan`]: frames sent on connect, and frames sent in answer to each
//! frame received (all of which are recorded).

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use axum::body::{to_bytes, Body};
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{header, StatusCode};
use axum::response::Response;
use axum::Router;
use nullspace_api::{
    EntryInfo, EntryType, ErrorBody, ErrorCode, ErrorDetail, KillOutcome, KillResponse,
    LogEncoding, Machine, MachineMetrics, PartialOutput, ProcessInfo, ProcessLogs, PtySession,
    PtySize, Snapshot, StreamFacts, TimeoutAction,
};
use nullspace_types::MachineState;
use serde::Serialize;
use tokio::sync::oneshot;

/// One request the server received.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// HTTP method, upper case.
    pub method: String,
    /// Path without the query.
    pub path: String,
    /// Raw query string (empty if none).
    pub query: String,
    /// Headers, names lower case.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl Recorded {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The decoded query pairs, in order.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(self.query.as_bytes())
            .into_owned()
            .collect()
    }

    /// The first value of query parameter `name`.
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query_pairs()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// The body as JSON (`Null` if it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// `"METHOD /path"`, handy for matching routes.
    pub fn route(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// A canned answer.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// `Content-Type`, if any.
    pub content_type: Option<&'static str>,
    /// Other headers (e.g. `Retry-After`).
    pub headers: Vec<(&'static str, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl Reply {
    /// `status` with `value` as a JSON body.
    pub fn json(status: u16, value: &impl Serialize) -> Self {
        Self {
            status,
            content_type: Some("application/json"),
            headers: Vec::new(),
            body: serde_json::to_vec(value).expect("test reply serializes"),
        }
    }

    /// `200` with raw bytes.
    pub fn bytes(body: impl Into<Vec<u8>>) -> Self {
        Self {
            status: 200,
            content_type: Some("application/octet-stream"),
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// `status` with no body (e.g. 204).
    pub fn empty(status: u16) -> Self {
        Self {
            status,
            content_type: None,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// The API error `code` with its status.
    pub fn error(code: ErrorCode, message: &str) -> Self {
        Self::error_body(code, message, None)
    }

    /// The API error `code` of a command cut short, with what it printed until then.
    pub fn error_with_output(code: ErrorCode, message: &str, output: PartialOutput) -> Self {
        Self::error_body(code, message, Some(output))
    }

    fn error_body(code: ErrorCode, message: &str, output: Option<PartialOutput>) -> Self {
        let body = ErrorBody {
            error: ErrorDetail {
                code,
                message: message.to_owned(),
                output,
            },
        };
        Self::json(code.status(), &body)
    }

    /// This reply with header `name: value` added.
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

type Handler = dyn Fn(&Recorded) -> Reply + Send + Sync;
type WsHandler = dyn Fn(&Recorded) -> Option<WsPlan> + Send + Sync;
type Respond = dyn Fn(&Frame) -> Vec<Frame> + Send + Sync;

/// A WebSocket frame of the fake channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A text message.
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
    /// A close with this code (the server stops after sending it).
    Close(u16),
}

impl Frame {
    /// A text frame holding `value` as JSON.
    pub fn json(value: serde_json::Value) -> Self {
        Frame::Text(value.to_string())
    }

    /// An output frame: `stream` (1 stdout, 2 stderr) then `bytes`.
    pub fn output(stream: u8, bytes: &[u8]) -> Self {
        let mut frame = vec![stream];
        frame.extend_from_slice(bytes);
        Frame::Binary(frame)
    }
}

/// How the fake answers one WebSocket channel.
#[derive(Clone)]
pub struct WsPlan {
    /// Frames sent right after the upgrade.
    pub greeting: Vec<Frame>,
    /// Frames sent in answer to each frame received.
    pub respond: Arc<Respond>,
}

impl std::fmt::Debug for WsPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsPlan")
            .field("greeting", &self.greeting)
            .finish_non_exhaustive()
    }
}

impl WsPlan {
    /// Sends `greeting`, then answers nothing.
    pub fn script(greeting: Vec<Frame>) -> Self {
        Self::new(greeting, |_| Vec::new())
    }

    /// Sends `greeting`, then `respond(frame)` for each frame received.
    pub fn new(
        greeting: Vec<Frame>,
        respond: impl Fn(&Frame) -> Vec<Frame> + Send + Sync + 'static,
    ) -> Self {
        Self {
            greeting,
            respond: Arc::new(respond),
        }
    }
}

#[derive(Clone)]
struct Shared {
    handler: Arc<Handler>,
    ws: Arc<WsHandler>,
    requests: Arc<Mutex<Vec<Recorded>>>,
    frames: Arc<Mutex<Vec<Frame>>>,
}

/// A running test server; stops when dropped.
pub struct TestServer {
    url: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
    frames: Arc<Mutex<Vec<Frame>>>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for TestServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestServer")
            .field("url", &self.url)
            .finish()
    }
}

impl TestServer {
    /// Starts a server on a free loopback port answering every request with `handler`.
    pub fn start(handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) -> Self {
        Self::start_with_ws(handler, |_| None)
    }

    /// Like [`TestServer::start`], and a WebSocket upgrade for which `ws` gives a plan
    /// is upgraded and served by it (others go to `handler`).
    pub fn start_with_ws(
        handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static,
        ws: impl Fn(&Recorded) -> Option<WsPlan> + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let url = format!("http://{}", listener.local_addr().expect("local address"));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let frames = Arc::new(Mutex::new(Vec::new()));
        let shared = Shared {
            handler: Arc::new(handler),
            ws: Arc::new(ws),
            requests: requests.clone(),
            frames: frames.clone(),
        };
        let (tx, rx) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("test server runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                let app = Router::new().fallback(serve).with_state(shared);
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = rx.await;
                    })
                    .await
                    .expect("test server runs");
            });
        });
        Self {
            url,
            requests,
            frames,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().expect("requests lock").clone()
    }

    /// Every WebSocket frame received from clients so far, in order.
    pub fn frames(&self) -> Vec<Frame> {
        self.frames.lock().expect("frames lock").clone()
    }

    /// The last request received.
    pub fn last(&self) -> Recorded {
        self.requests().pop().expect("at least one request")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn serve(State(shared): State<Shared>, request: Request) -> Response {
    let (mut parts, body) = request.into_parts();
    let body = to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default()
        .to_vec();
    let recorded = Recorded {
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or_default().to_owned(),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body,
    };
    if let Some(plan) = (shared.ws)(&recorded) {
        shared
            .requests
            .lock()
            .expect("requests lock")
            .push(recorded);
        return match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
            Ok(upgrade) => {
                let frames = shared.frames.clone();
                upgrade.on_upgrade(move |socket| channel(socket, plan, frames))
            }
            Err(rejection) => axum::response::IntoResponse::into_response(rejection),
        };
    }
    let reply = (shared.handler)(&recorded);
    shared
        .requests
        .lock()
        .expect("requests lock")
        .push(recorded);
    let mut response = Response::builder()
        .status(StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR));
    if let Some(content_type) = reply.content_type {
        response = response.header(header::CONTENT_TYPE, content_type);
    }
    for (name, value) in reply.headers {
        response = response.header(name, value);
    }
    response
        .body(Body::from(reply.body))
        .expect("test response builds")
}

/// Serves one WebSocket channel by `plan`, recording the frames received.
async fn channel(mut socket: WebSocket, plan: WsPlan, frames: Arc<Mutex<Vec<Frame>>>) {
    if !send_all(&mut socket, plan.greeting.clone()).await {
        return;
    }
    while let Some(Ok(message)) = socket.recv().await {
        let frame = match message {
            Message::Text(text) => Frame::Text(text.as_str().to_owned()),
            Message::Binary(bytes) => Frame::Binary(bytes.to_vec()),
            Message::Close(frame) => Frame::Close(frame.map_or(1005, |f| f.code)),
            Message::Ping(_) | Message::Pong(_) => continue,
        };
        frames.lock().expect("frames lock").push(frame.clone());
        if matches!(frame, Frame::Close(_)) {
            return;
        }
        if !send_all(&mut socket, (plan.respond)(&frame)).await {
            return;
        }
    }
}

/// Sends `out`; false once a close was sent (or the client is gone).
async fn send_all(socket: &mut WebSocket, out: Vec<Frame>) -> bool {
    for frame in out {
        let message = match frame {
            Frame::Text(text) => Message::Text(text.into()),
            Frame::Binary(bytes) => Message::Binary(bytes.into()),
            Frame::Close(code) => {
                let _ = socket
                    .send(Message::Close(Some(CloseFrame {
                        code,
                        reason: "".into(),
                    })))
                    .await;
                return false;
            }
        };
        if socket.send(message).await.is_err() {
            return false;
        }
    }
    true
}

/// A running `base` machine with id `id`, shaped like the API's.
pub fn sample_machine(id: &str) -> Machine {
    Machine {
        id: id.parse().expect("valid machine id"),
        template: "base".into(),
        state: MachineState::Running,
        cpu_count: 1,
        memory_mb: 512,
        metadata: BTreeMap::new(),
        cwd: "/workspace".into(),
        created_at: "2026-01-01T00:00:00Z".into(),
        end_at: "2026-01-01T00:05:00Z".into(),
        timeout_action: TimeoutAction::Kill,
        auto_resume: false,
        snapshot_id: None,
        forked_from: None,
        failure_reason: None,
        network: Default::default(),
        internet_access: true,
        traffic_access_token: None,
    }
}

/// The answer of a kill of `id` that was in state `previous_state`: `killed`, or
/// `create_cancelled` when it was still starting.
pub fn sample_kill(id: &str, previous_state: MachineState) -> KillResponse {
    let outcome = if previous_state == MachineState::Starting {
        KillOutcome::CreateCancelled
    } else {
        KillOutcome::Killed
    };
    KillResponse {
        id: id.parse().expect("valid machine id"),
        outcome,
        previous_state,
    }
}

/// A 64 MiB snapshot `id` of machine `machine_id`, shaped like the API's.
pub fn sample_snapshot(id: &str, machine_id: &str) -> Snapshot {
    Snapshot {
        id: id.parse().expect("valid snapshot id"),
        machine_id: machine_id.parse().expect("valid machine id"),
        template: "base".into(),
        cpu_count: 1,
        memory_mb: 512,
        metadata: BTreeMap::new(),
        size_bytes: 64 * 1024 * 1024,
        source_stall_ms: 120,
        created_at: "2026-01-01T00:01:00Z".into(),
    }
}

/// One metrics sample of a 2-vCPU machine, shaped like the API's.
pub fn sample_metrics() -> MachineMetrics {
    MachineMetrics {
        cpu_count: 2,
        cpu_used_pct: 12.5,
        mem_total_bytes: 512 * 1024 * 1024,
        mem_used_bytes: 128 * 1024 * 1024,
        disk_total_bytes: 4 * 1024 * 1024 * 1024,
        disk_used_bytes: 1024 * 1024 * 1024 + 512 * 1024 * 1024,
        uptime_secs: 3723,
        timestamp: "2026-01-01T01:02:03Z".into(),
    }
}

/// A 5-byte `rw-r--r--` file at `path`, shaped like the API's.
pub fn sample_entry(path: &str) -> EntryInfo {
    EntryInfo {
        name: path.rsplit('/').next().unwrap_or(path).to_owned(),
        path: path.to_owned(),
        kind: EntryType::File,
        size: 5,
        mode: 0o644,
        permissions: "rw-r--r--".into(),
        owner: "user".into(),
        group: "user".into(),
        modified_time: "2026-01-01T00:00:00Z".into(),
        symlink_target: None,
    }
}

/// A running `python3 -m http.server` process `pid` with some output, shaped like the API's.
pub fn sample_process(pid: u32) -> ProcessInfo {
    ProcessInfo {
        pid,
        tag: None,
        command: None,
        args: vec!["python3".into(), "-m".into(), "http.server".into()],
        cwd: "/workspace".into(),
        user: "user".into(),
        pty: None,
        started_at: "2026-01-01T00:00:00Z".into(),
        running: true,
        stdin_open: false,
        exit_code: None,
        signal: None,
        timed_out: false,
        duration_ms: None,
        stdout: StreamFacts {
            total_bytes: 6,
            kept_from: 0,
        },
        stderr: StreamFacts::default(),
    }
}

/// The logs of process `pid`: `hello\n` on stdout, `warn\n` on stderr, still running.
pub fn sample_logs(pid: u32) -> ProcessLogs {
    ProcessLogs {
        pid,
        encoding: LogEncoding::Utf8,
        stdout: "hello\n".into(),
        stderr: "warn\n".into(),
        stdout_next: 6,
        stderr_next: 5,
        stdout_dropped: 0,
        stderr_dropped: 0,
        running: true,
        exit_code: None,
    }
}

/// A PTY session `pid` running `bash -l` on an 80x24 terminal, shaped like the API's.
pub fn sample_pty(pid: u32) -> PtySession {
    PtySession {
        session_id: pid,
        process: ProcessInfo {
            args: vec!["bash".into(), "-l".into()],
            pty: Some(PtySize { cols: 80, rows: 24 }),
            stdin_open: true,
            ..sample_process(pid)
        },
    }
}
