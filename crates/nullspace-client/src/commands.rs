//! Foreground commands.

use nullspace_api::{CommandResult, RunCommandRequest};
use nullspace_types::MachineId;
use reqwest::Method;

use crate::{Client, ClientError};

impl Client {
    /// `POST /v1/machines/{id}/commands`: runs a command to its end. A non-zero exit
    /// is a result, not an error.
    pub async fn run_command(
        &self,
        id: &MachineId,
        request: &RunCommandRequest,
    ) -> Result<CommandResult, ClientError> {
        let url = self.url(&format!("v1/machines/{id}/commands"), &[])?;
        self.json(self.request(Method::POST, &url).json(request), &url)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_server::{Reply, TestServer};

    #[tokio::test]
    async fn run_command_posts_the_request_and_decodes_the_result() {
        let server = TestServer::start(|_| {
            Reply::json(
                200,
                &CommandResult {
                    stdout: "hi\n".into(),
                    stderr: String::new(),
                    exit_code: 3,
                    duration_ms: 7,
                },
            )
        });
        let client = Client::new(server.url(), "k").unwrap();
        let request = RunCommandRequest {
            args: Some(vec!["echo".into(), "hi".into()]),
            timeout: Some(5.0),
            ..Default::default()
        };
        let result = client
            .run_command(&"sb_a".parse().unwrap(), &request)
            .await
            .unwrap();
        assert_eq!(result.exit_code, 3);
        let req = server.last();
        assert_eq!(req.route(), "POST /v1/machines/sb_a/commands");
        assert_eq!(
            req.json(),
            serde_json::json!({"args":["echo","hi"],"timeout":5.0})
        );
    }
}
