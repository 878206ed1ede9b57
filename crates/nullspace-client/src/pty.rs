//! PTY sessions: processes on a terminal of the machine, found by their pid (the
//! session id). Their terminal is reached with [`Client::connect_pty`].

use nullspace_api::{CreatePtyRequest, KillProcessResponse, PtySession, PtySessionList, PtySize};
use nullspace_types::MachineId;
use reqwest::Method;

use crate::{Client, ClientError};

impl Client {
    /// `POST /v1/machines/{id}/pty`: starts a program (the user's login shell unless
    /// `request.command`) on a new terminal (201).
    pub async fn create_pty(
        &self,
        id: &MachineId,
        request: &CreatePtyRequest,
    ) -> Result<PtySession, ClientError> {
        let url = self.url(&format!("v1/machines/{id}/pty"), &[])?;
        self.json(self.request(Method::POST, &url).json(request), &url)
            .await
    }

    /// `GET /v1/machines/{id}/pty`: the machine's PTY sessions.
    pub async fn list_pty(&self, id: &MachineId) -> Result<PtySessionList, ClientError> {
        let url = self.url(&format!("v1/machines/{id}/pty"), &[])?;
        self.json(self.request(Method::GET, &url), &url).await
    }

    /// `GET /v1/machines/{id}/pty/{pid}`: one session.
    pub async fn get_pty(&self, id: &MachineId, pid: u32) -> Result<PtySession, ClientError> {
        let url = self.url(&format!("v1/machines/{id}/pty/{pid}"), &[])?;
        self.json(self.request(Method::GET, &url), &url).await
    }

    /// `POST /v1/machines/{id}/pty/{pid}/resize`: sets the terminal's size.
    pub async fn resize_pty(
        &self,
        id: &MachineId,
        pid: u32,
        size: PtySize,
    ) -> Result<(), ClientError> {
        let url = self.url(&format!("v1/machines/{id}/pty/{pid}/resize"), &[])?;
        self.empty(self.request(Method::POST, &url).json(&size), &url)
            .await
    }

    /// `DELETE /v1/machines/{id}/pty/{pid}`: SIGKILL to the session's process group.
    pub async fn kill_pty(
        &self,
        id: &MachineId,
        pid: u32,
    ) -> Result<KillProcessResponse, ClientError> {
        let url = self.url(&format!("v1/machines/{id}/pty/{pid}"), &[])?;
        self.json(self.request(Method::DELETE, &url), &url).await
    }
}

#[cfg(test)]
mod tests {
    use nullspace_api::ErrorCode;

    use super::*;
    use crate::test_server::{sample_pty, Reply, TestServer};

    #[tokio::test]
    async fn pty_routes_send_and_decode() {
        let server = TestServer::start(|r| match r.route().as_str() {
            "POST /v1/machines/sb_a/pty" => Reply::json(201, &sample_pty(9)),
            "GET /v1/machines/sb_a/pty" => Reply::json(
                200,
                &PtySessionList {
                    sessions: vec![sample_pty(9)],
                },
            ),
            "GET /v1/machines/sb_a/pty/9" => Reply::json(200, &sample_pty(9)),
            "POST /v1/machines/sb_a/pty/9/resize" => Reply::empty(204),
            "DELETE /v1/machines/sb_a/pty/9" => Reply::json(
                200,
                &KillProcessResponse {
                    pid: 9,
                    killed: true,
                },
            ),
            "POST /v1/machines/sb_a/pty/8/resize" => {
                Reply::error(ErrorCode::NotAPty, "process 8 has no terminal")
            }
            _ => Reply::error(ErrorCode::ProcessNotFound, "no session"),
        });
        let client = Client::new(server.url(), "k").unwrap();
        let id: MachineId = "sb_a".parse().unwrap();
        let request = CreatePtyRequest {
            cols: Some(120),
            rows: Some(30),
            user: Some("root".into()),
            ..Default::default()
        };
        let session = client.create_pty(&id, &request).await.unwrap();
        assert_eq!(session.session_id, 9);
        assert_eq!(
            server.last().json(),
            serde_json::json!({"cols":120,"rows":30,"user":"root"})
        );
        assert_eq!(client.list_pty(&id).await.unwrap().sessions.len(), 1);
        assert_eq!(client.get_pty(&id, 9).await.unwrap().session_id, 9);
        client
            .resize_pty(
                &id,
                9,
                PtySize {
                    cols: 100,
                    rows: 20,
                },
            )
            .await
            .unwrap();
        assert_eq!(
            server.last().json(),
            serde_json::json!({"cols":100,"rows":20})
        );
        assert!(client.kill_pty(&id, 9).await.unwrap().killed);
        assert_eq!(server.last().route(), "DELETE /v1/machines/sb_a/pty/9");
        let err = client.get_pty(&id, 3).await.unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::ProcessNotFound));
        let err = client
            .resize_pty(&id, 8, PtySize { cols: 1, rows: 1 })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::NotAPty));
        assert_eq!(err.status(), Some(409));
    }
}
