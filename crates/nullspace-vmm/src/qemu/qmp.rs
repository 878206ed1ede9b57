//! Asynchronous QMP client: commands matched to replies by id, events broadcast.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::OwnedWriteHalf;
use tokio::sync::{broadcast, oneshot};

/// Why a QMP exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum QmpError {
    /// The socket could not be reached in time.
    #[error("cannot connect to QMP socket {path}: {source}")]
    Connect {
        /// Socket path.
        path: String,
        /// Last OS error.
        source: std::io::Error,
    },
    /// Reading or writing the socket failed.
    #[error("QMP I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The VMM closed the socket (it probably exited).
    #[error("QMP connection closed")]
    Closed,
    /// QEMU refused a command.
    #[error("QMP command {command} failed: {class}: {desc}")]
    Command {
        /// The command.
        command: String,
        /// QEMU's error class.
        class: String,
        /// QEMU's description.
        desc: String,
    },
    /// A message was not valid QMP.
    #[error("invalid QMP message: {0}")]
    Protocol(String),
}

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Result<Value, QmpError>>>>>;

/// A connected QMP session.
pub struct Qmp {
    writer: tokio::sync::Mutex<OwnedWriteHalf>,
    pending: Pending,
    next_id: AtomicU64,
    events: broadcast::Sender<Value>,
}

impl std::fmt::Debug for Qmp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Qmp").finish_non_exhaustive()
    }
}

impl Qmp {
    /// Connect to `path` (retrying until `timeout`), read the greeting and
    /// negotiate capabilities.
    pub async fn connect(path: &Path, timeout: Duration) -> Result<Self, QmpError> {
        let stream = crate::connect_with_retry(path, timeout)
            .await
            .map_err(|source| QmpError::Connect {
                path: path.display().to_string(),
                source,
            })?;
        let (read, write) = stream.into_split();
        let mut lines = BufReader::new(read).lines();
        let greeting = lines.next_line().await?.ok_or(QmpError::Closed)?;
        if !greeting.contains("\"QMP\"") {
            return Err(QmpError::Protocol(format!(
                "unexpected greeting: {greeting}"
            )));
        }
        let pending: Pending = Arc::default();
        let (events, _) = broadcast::channel(64);
        tokio::spawn(read_loop(lines, pending.clone(), events.clone()));
        let qmp = Qmp {
            writer: tokio::sync::Mutex::new(write),
            pending,
            next_id: AtomicU64::new(1),
            events,
        };
        qmp.execute("qmp_capabilities", Value::Null).await?;
        Ok(qmp)
    }

    /// Subscribe to asynchronous events (`{"event": ..., "data": ...}`).
    pub fn events(&self) -> broadcast::Receiver<Value> {
        self.events.subscribe()
    }

    /// Run a command and return its `return` value.
    pub async fn execute(&self, command: &str, arguments: Value) -> Result<Value, QmpError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut msg = json!({ "execute": command, "id": id });
        if !arguments.is_null() {
            msg["arguments"] = arguments;
        }
        let (tx, rx) = oneshot::channel();
        self.pending
            .lock()
            .expect("qmp pending lock")
            .insert(id, tx);
        let mut line = serde_json::to_vec(&msg).expect("json serializes");
        line.push(b'\n');
        let written = self.writer.lock().await.write_all(&line).await;
        if let Err(e) = written {
            self.pending.lock().expect("qmp pending lock").remove(&id);
            return Err(e.into());
        }
        match rx.await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(QmpError::Command { class, desc, .. })) => Err(QmpError::Command {
                command: command.to_owned(),
                class,
                desc,
            }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(QmpError::Closed),
        }
    }
}

async fn read_loop(
    mut lines: tokio::io::Lines<BufReader<tokio::net::unix::OwnedReadHalf>>,
    pending: Pending,
    events: broadcast::Sender<Value>,
) {
    while let Ok(Some(line)) = lines.next_line().await {
        let Ok(msg) = serde_json::from_str::<Value>(&line) else {
            tracing::warn!(%line, "ignoring unparsable QMP line");
            continue;
        };
        if msg.get("event").is_some() {
            let _ = events.send(msg);
            continue;
        }
        let Some(id) = msg.get("id").and_then(Value::as_u64) else {
            continue;
        };
        let Some(tx) = pending.lock().expect("qmp pending lock").remove(&id) else {
            continue;
        };
        let result = if let Some(ret) = msg.get("return") {
            Ok(ret.clone())
        } else if let Some(err) = msg.get("error") {
            Err(QmpError::Command {
                command: String::new(),
                class: err["class"].as_str().unwrap_or("?").to_owned(),
                desc: err["desc"].as_str().unwrap_or("?").to_owned(),
            })
        } else {
            Err(QmpError::Protocol(line))
        };
        let _ = tx.send(result);
    }
    // Connection gone: fail every waiter.
    for (_, tx) in pending.lock().expect("qmp pending lock").drain() {
        let _ = tx.send(Err(QmpError::Closed));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::UnixListener;

    /// A scripted QMP server: greets, then answers each command by name.
    async fn fake_server(path: &Path) {
        let listener = UnixListener::bind(path).unwrap();
        tokio::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            let (r, mut w) = s.into_split();
            w.write_all(b"{\"QMP\": {\"version\": {}, \"capabilities\": []}}\n")
                .await
                .unwrap();
            let mut lines = BufReader::new(r).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let v: Value = serde_json::from_str(&line).unwrap();
                let id = v["id"].clone();
                let reply = match v["execute"].as_str().unwrap() {
                    "boom" => json!({"error": {"class": "GenericError", "desc": "no"}, "id": id}),
                    "status" => {
                        w.write_all(b"{\"event\": \"STOP\", \"data\": {}}\n")
                            .await
                            .unwrap();
                        json!({"return": {"status": "paused"}, "id": id})
                    }
                    _ => json!({"return": {}, "id": id}),
                };
                w.write_all(format!("{reply}\n").as_bytes()).await.unwrap();
            }
        });
    }

    #[tokio::test]
    async fn commands_errors_events_and_close() {
        let dir = std::env::temp_dir().join(format!("ns-qmp-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let sock = dir.join("qmp.sock");
        fake_server(&sock).await;
        let qmp = Qmp::connect(&sock, Duration::from_secs(2)).await.unwrap();
        let mut events = qmp.events();
        let ret = qmp.execute("status", Value::Null).await.unwrap();
        assert_eq!(ret["status"], "paused");
        assert_eq!(events.recv().await.unwrap()["event"], "STOP");
        let err = qmp.execute("boom", Value::Null).await.unwrap_err();
        assert!(
            matches!(&err, QmpError::Command { command, desc, .. } if command == "boom" && desc == "no"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn missing_socket_times_out_with_path() {
        let err = Qmp::connect(
            Path::new("/nonexistent/qmp.sock"),
            Duration::from_millis(20),
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains("/nonexistent/qmp.sock"), "{err}");
    }
}
