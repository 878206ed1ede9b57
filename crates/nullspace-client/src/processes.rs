//! Background processes of a machine: start, list, inspect, logs, stdin, signals,
//! kill and resize. A process outlives the request that started it and any client
//! connection; its output is kept (the newest 1 MiB of each stream) for later readers.

use nullspace_api::{
    KillProcessResponse, LogEncoding, ProcessInfo, ProcessList, ProcessLogs, PtySize, SignalName,
    SignalRequest, StartProcessRequest, StdinRequest,
};
use nullspace_types::MachineId;
use reqwest::Method;

use crate::{Client, ClientError};

/// Which kept output [`Client::process_logs`] asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogsQuery {
    /// Stdout byte offset to start at (default: the oldest kept byte).
    pub stdout_offset: Option<u64>,
    /// Stderr byte offset to start at (default: the oldest kept byte).
    pub stderr_offset: Option<u64>,
    /// How the answer writes the bytes (server default `utf8`).
    pub encoding: Option<LogEncoding>,
}

impl LogsQuery {
    /// The query string pairs of this request, in a stable order.
    fn query(&self) -> Vec<(&'static str, String)> {
        let mut query = Vec::new();
        if let Some(offset) = self.stdout_offset {
            query.push(("stdout_offset", offset.to_string()));
        }
        if let Some(offset) = self.stderr_offset {
            query.push(("stderr_offset", offset.to_string()));
        }
        if let Some(encoding) = self.encoding {
            let name = match encoding {
                LogEncoding::Utf8 => "utf8",
                LogEncoding::Base64 => "base64",
            };
            query.push(("encoding", name.to_owned()));
        }
        query
    }
}

impl Client {
    /// `POST /v1/machines/{id}/processes`: starts a background process (201).
    pub async fn start_process(
        &self,
        id: &MachineId,
        request: &StartProcessRequest,
    ) -> Result<ProcessInfo, ClientError> {
        let url = self.url(&format!("v1/machines/{id}/processes"), &[])?;
        self.json(self.request(Method::POST, &url).json(request), &url)
            .await
    }

    /// `GET /v1/machines/{id}/processes`: running and recently exited processes.
    pub async fn list_processes(&self, id: &MachineId) -> Result<ProcessList, ClientError> {
        let url = self.url(&format!("v1/machines/{id}/processes"), &[])?;
        self.json(self.request(Method::GET, &url), &url).await
    }

    /// `GET /v1/machines/{id}/processes/{pid}` (`process_not_found`, 404, if none).
    pub async fn get_process(&self, id: &MachineId, pid: u32) -> Result<ProcessInfo, ClientError> {
        let url = self.url(&format!("v1/machines/{id}/processes/{pid}"), &[])?;
        self.json(self.request(Method::GET, &url), &url).await
    }

    /// `GET /v1/machines/{id}/processes/{pid}/logs`: kept output from the asked offsets.
    pub async fn process_logs(
        &self,
        id: &MachineId,
        pid: u32,
        query: &LogsQuery,
    ) -> Result<ProcessLogs, ClientError> {
        let url = self.url(
            &format!("v1/machines/{id}/processes/{pid}/logs"),
            &query.query(),
        )?;
        self.json(self.request(Method::GET, &url), &url).await
    }

    /// `POST /v1/machines/{id}/processes/{pid}/stdin`: writes (at most
    /// [`MAX_STDIN_BYTES`](nullspace_api::MAX_STDIN_BYTES)) to the process's stdin, and
    /// closes it after when `request.close`. `stdin_closed` (409) once it is closed.
    pub async fn write_stdin(
        &self,
        id: &MachineId,
        pid: u32,
        request: &StdinRequest,
    ) -> Result<(), ClientError> {
        let url = self.url(&format!("v1/machines/{id}/processes/{pid}/stdin"), &[])?;
        self.empty(self.request(Method::POST, &url).json(request), &url)
            .await
    }

    /// `POST /v1/machines/{id}/processes/{pid}/close-stdin`: the process reads end of file.
    pub async fn close_stdin(&self, id: &MachineId, pid: u32) -> Result<(), ClientError> {
        let url = self.url(
            &format!("v1/machines/{id}/processes/{pid}/close-stdin"),
            &[],
        )?;
        self.empty(self.request(Method::POST, &url), &url).await
    }

    /// `POST /v1/machines/{id}/processes/{pid}/signal`: sends `signal` to the process group.
    pub async fn signal_process(
        &self,
        id: &MachineId,
        pid: u32,
        signal: SignalName,
    ) -> Result<(), ClientError> {
        let url = self.url(&format!("v1/machines/{id}/processes/{pid}/signal"), &[])?;
        let body = SignalRequest { signal };
        self.empty(self.request(Method::POST, &url).json(&body), &url)
            .await
    }

    /// `DELETE /v1/machines/{id}/processes/{pid}`: SIGKILL to the process group;
    /// `process_exited` (409) if it had already ended.
    pub async fn kill_process(
        &self,
        id: &MachineId,
        pid: u32,
    ) -> Result<KillProcessResponse, ClientError> {
        let url = self.url(&format!("v1/machines/{id}/processes/{pid}"), &[])?;
        self.json(self.request(Method::DELETE, &url), &url).await
    }

    /// `POST /v1/machines/{id}/processes/{pid}/resize`: resizes a PTY process's
    /// terminal (`not_a_pty`, 409, for another process).
    pub async fn resize_process(
        &self,
        id: &MachineId,
        pid: u32,
        size: PtySize,
    ) -> Result<(), ClientError> {
        let url = self.url(&format!("v1/machines/{id}/processes/{pid}/resize"), &[])?;
        self.empty(self.request(Method::POST, &url).json(&size), &url)
            .await
    }
}

#[cfg(test)]
mod tests {
    use nullspace_api::ErrorCode;

    use super::*;
    use crate::test_server::{sample_logs, sample_process, Reply, TestServer};

    fn processes_server() -> TestServer {
        TestServer::start(|r| match r.route().as_str() {
            "POST /v1/machines/sb_a/processes" => Reply::json(201, &sample_process(42)),
            "GET /v1/machines/sb_a/processes" => Reply::json(
                200,
                &ProcessList {
                    processes: vec![sample_process(42)],
                },
            ),
            "GET /v1/machines/sb_a/processes/42" => Reply::json(200, &sample_process(42)),
            "GET /v1/machines/sb_a/processes/42/logs" => Reply::json(200, &sample_logs(42)),
            "DELETE /v1/machines/sb_a/processes/42" => Reply::json(
                200,
                &KillProcessResponse {
                    pid: 42,
                    killed: true,
                },
            ),
            "DELETE /v1/machines/sb_a/processes/7" => {
                Reply::error(ErrorCode::ProcessExited, "process 7 has exited")
            }
            "POST /v1/machines/sb_a/processes/7/stdin" => {
                Reply::error(ErrorCode::StdinClosed, "stdin of 7 is closed")
            }
            "POST /v1/machines/sb_a/processes/7/resize" => {
                Reply::error(ErrorCode::NotAPty, "process 7 has no terminal")
            }
            "POST /v1/machines/sb_a/processes/7/signal" => {
                Reply::error(ErrorCode::AgentOutdated, "the agent is too old")
            }
            r if r.starts_with("POST /v1/machines/sb_a/processes/42/") => Reply::empty(204),
            _ => Reply::error(ErrorCode::ProcessNotFound, "no process"),
        })
    }

    #[tokio::test]
    async fn start_list_get_and_logs_hit_their_routes() {
        let server = processes_server();
        let client = Client::new(server.url(), "k").unwrap();
        let id: MachineId = "sb_a".parse().unwrap();
        let request = StartProcessRequest {
            args: Some(vec!["sleep".into(), "9".into()]),
            stdin: Some(true),
            tag: Some("web".into()),
            ..Default::default()
        };
        assert_eq!(client.start_process(&id, &request).await.unwrap().pid, 42);
        assert_eq!(
            server.last().json(),
            serde_json::json!({"args":["sleep","9"],"stdin":true,"tag":"web"})
        );
        assert_eq!(client.list_processes(&id).await.unwrap().processes.len(), 1);
        assert_eq!(client.get_process(&id, 42).await.unwrap().pid, 42);
        let logs = client
            .process_logs(
                &id,
                42,
                &LogsQuery {
                    stdout_offset: Some(3),
                    stderr_offset: None,
                    encoding: Some(LogEncoding::Base64),
                },
            )
            .await
            .unwrap();
        assert_eq!(logs.pid, 42);
        assert_eq!(server.last().query, "stdout_offset=3&encoding=base64");
        client
            .process_logs(&id, 42, &LogsQuery::default())
            .await
            .unwrap();
        assert_eq!(server.last().query, "");
    }

    #[tokio::test]
    async fn input_signal_kill_and_resize_send_their_bodies() {
        let server = processes_server();
        let client = Client::new(server.url(), "k").unwrap();
        let id: MachineId = "sb_a".parse().unwrap();
        let stdin = StdinRequest {
            data: Some("q".into()),
            close: true,
            ..Default::default()
        };
        client.write_stdin(&id, 42, &stdin).await.unwrap();
        assert_eq!(
            server.last().route(),
            "POST /v1/machines/sb_a/processes/42/stdin"
        );
        assert_eq!(
            server.last().json(),
            serde_json::json!({"data":"q","close":true})
        );
        client.close_stdin(&id, 42).await.unwrap();
        assert_eq!(
            server.last().route(),
            "POST /v1/machines/sb_a/processes/42/close-stdin"
        );
        client
            .signal_process(&id, 42, SignalName::Name("SIGTERM".into()))
            .await
            .unwrap();
        assert_eq!(
            server.last().json(),
            serde_json::json!({"signal":"SIGTERM"})
        );
        client
            .resize_process(
                &id,
                42,
                PtySize {
                    cols: 120,
                    rows: 30,
                },
            )
            .await
            .unwrap();
        assert_eq!(
            server.last().json(),
            serde_json::json!({"cols":120,"rows":30})
        );
        let killed = client.kill_process(&id, 42).await.unwrap();
        assert!(killed.killed);
        assert_eq!(server.last().header("authorization"), Some("Bearer k"));
    }

    #[tokio::test]
    async fn process_errors_keep_their_codes() {
        let server = processes_server();
        let client = Client::new(server.url(), "k").unwrap();
        let id: MachineId = "sb_a".parse().unwrap();
        fn code<T: std::fmt::Debug>(r: Result<T, ClientError>) -> Option<ErrorCode> {
            r.unwrap_err().code()
        }
        assert_eq!(
            code(client.get_process(&id, 99).await),
            Some(ErrorCode::ProcessNotFound)
        );
        assert_eq!(
            code(client.kill_process(&id, 7).await),
            Some(ErrorCode::ProcessExited)
        );
        assert_eq!(
            code(client.write_stdin(&id, 7, &StdinRequest::default()).await),
            Some(ErrorCode::StdinClosed)
        );
        assert_eq!(
            code(
                client
                    .resize_process(&id, 7, PtySize { cols: 1, rows: 1 })
                    .await
            ),
            Some(ErrorCode::NotAPty)
        );
        assert_eq!(
            code(client.signal_process(&id, 7, SignalName::Number(15)).await),
            Some(ErrorCode::AgentOutdated)
        );
        let err = client.get_process(&id, 99).await.unwrap_err();
        assert_eq!(err.status(), Some(404));
    }
}
