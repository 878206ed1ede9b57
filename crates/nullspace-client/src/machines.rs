//! Machines: create, get, list, kill, timeout, pause, resume, metrics.

use nullspace_api::{
    CreateMachineRequest, KillResponse, Machine, MachineList, MachineMetrics, SetTimeoutRequest,
    TimeoutAction, IDEMPOTENCY_HEADER,
};
use nullspace_types::{MachineId, MachineState};
use reqwest::Method;

use crate::{Client, ClientError};

/// Filters and paging of `GET /v1/machines`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListMachines {
    /// Only machines in one of these states. Empty: the server's default, every live
    /// state (all but `killed` and `failed`, which are kept for the server's history
    /// retention, 7 days by default).
    pub states: Vec<MachineState>,
    /// Only machines of this template.
    pub template: Option<String>,
    /// Only machines whose metadata has every one of these `(key, value)` pairs.
    pub metadata: Vec<(String, String)>,
    /// Page size (1..=1000; the server's default is 100).
    pub limit: Option<u32>,
    /// Cursor from the previous page's `next_cursor`.
    pub cursor: Option<String>,
}

impl ListMachines {
    /// The query string pairs of these filters, in a stable order.
    fn query(&self) -> Vec<(&'static str, String)> {
        let mut query = Vec::new();
        for state in &self.states {
            query.push(("state", state_name(*state)));
        }
        if let Some(template) = &self.template {
            query.push(("template", template.clone()));
        }
        for (k, v) in &self.metadata {
            query.push(("metadata", format!("{k}={v}")));
        }
        if let Some(limit) = self.limit {
            query.push(("limit", limit.to_string()));
        }
        if let Some(cursor) = &self.cursor {
            query.push(("cursor", cursor.clone()));
        }
        query
    }
}

/// The wire name of a state (`running`, `killed`…).
fn state_name(state: MachineState) -> String {
    match serde_json::to_value(state) {
        Ok(serde_json::Value::String(s)) => s,
        _ => format!("{state:?}").to_lowercase(),
    }
}

impl Client {
    /// `POST /v1/machines`. An idempotency key goes both in the body and in the
    /// `Idempotency-Key` header.
    pub async fn create_machine(
        &self,
        request: &CreateMachineRequest,
    ) -> Result<Machine, ClientError> {
        let url = self.url("v1/machines", &[])?;
        let mut builder = self.request(Method::POST, &url).json(request);
        if let Some(key) = &request.idempotency_key {
            builder = builder.header(IDEMPOTENCY_HEADER, key);
        }
        self.json(builder, &url).await
    }

    /// `GET /v1/machines/{id}` (killed and failed machines stay visible for the
    /// server's history retention; a failed one says why in `failure_reason`).
    pub async fn get_machine(&self, id: &MachineId) -> Result<Machine, ClientError> {
        let url = self.url(&format!("v1/machines/{id}"), &[])?;
        self.json(self.request(Method::GET, &url), &url).await
    }

    /// `GET /v1/machines`: one page, newest first; live machines only unless
    /// [`ListMachines::states`] names others.
    pub async fn list_machines(&self, filter: &ListMachines) -> Result<MachineList, ClientError> {
        let url = self.url("v1/machines", &filter.query())?;
        self.json(self.request(Method::GET, &url), &url).await
    }

    /// `DELETE /v1/machines/{id}`: what the kill did, `killed` or (for a machine still
    /// starting) `create_cancelled`, and the state it found. `None` when the server
    /// predates that answer and said only 204 (the machine was killed).
    pub async fn kill_machine(&self, id: &MachineId) -> Result<Option<KillResponse>, ClientError> {
        let url = self.url(&format!("v1/machines/{id}"), &[])?;
        self.optional_json(self.request(Method::DELETE, &url), &url)
            .await
    }

    /// `POST /v1/machines/{id}/pause`: save memory, processes and devices to disk and
    /// stop the VM. Answers the machine in state `paused`; `machine_not_running` (409)
    /// when it is not running.
    pub async fn pause_machine(&self, id: &MachineId) -> Result<Machine, ClientError> {
        let url = self.url(&format!("v1/machines/{id}/pause"), &[])?;
        self.json(self.request(Method::POST, &url), &url).await
    }

    /// `POST /v1/machines/{id}/resume`: restore a paused machine with its processes and
    /// files. Answers the machine in state `running` (a running machine as is);
    /// `machine_not_running` (409) when it was killed.
    pub async fn resume_machine(&self, id: &MachineId) -> Result<Machine, ClientError> {
        let url = self.url(&format!("v1/machines/{id}/resume"), &[])?;
        self.json(self.request(Method::POST, &url), &url).await
    }

    /// `POST /v1/machines/{id}/timeout`: the timeout is reached `seconds` from now, and
    /// then `action` happens (`None` keeps the machine's current action).
    pub async fn set_timeout(
        &self,
        id: &MachineId,
        seconds: i64,
        action: Option<TimeoutAction>,
    ) -> Result<Machine, ClientError> {
        let url = self.url(&format!("v1/machines/{id}/timeout"), &[])?;
        let body = SetTimeoutRequest {
            timeout: seconds,
            action,
        };
        self.json(self.request(Method::POST, &url).json(&body), &url)
            .await
    }

    /// `GET /v1/machines/{id}/metrics`: one sample of CPU, memory and disk use and the
    /// uptime. `machine_not_running` (409) unless the machine runs (or is paused with
    /// auto-resume).
    pub async fn machine_metrics(&self, id: &MachineId) -> Result<MachineMetrics, ClientError> {
        let url = self.url(&format!("v1/machines/{id}/metrics"), &[])?;
        self.json(self.request(Method::GET, &url), &url).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_server::{sample_kill, sample_machine, sample_metrics, Reply, TestServer};
    use nullspace_api::{ErrorCode, KillOutcome};

    fn machines_server() -> TestServer {
        TestServer::start(|r| match r.route().as_str() {
            "POST /v1/machines" => Reply::json(201, &sample_machine("sb_new")),
            "GET /v1/machines" => Reply::json(
                200,
                &MachineList {
                    machines: vec![sample_machine("sb_a")],
                    next_cursor: Some("c2".into()),
                },
            ),
            "DELETE /v1/machines/sb_a" => {
                Reply::json(200, &sample_kill("sb_a", MachineState::Running))
            }
            "DELETE /v1/machines/sb_new" => {
                Reply::json(200, &sample_kill("sb_new", MachineState::Starting))
            }
            "DELETE /v1/machines/sb_old" => Reply::empty(204),
            "DELETE /v1/machines/sb_bad" => Reply::json(200, &serde_json::json!({"id": "sb_bad"})),
            "POST /v1/machines/sb_a/pause" => Reply::json(
                200,
                &Machine {
                    state: MachineState::Paused,
                    ..sample_machine("sb_a")
                },
            ),
            "POST /v1/machines/sb_gone/pause" | "POST /v1/machines/sb_gone/resume" => {
                Reply::error(ErrorCode::MachineNotRunning, "machine sb_gone is killed")
            }
            "POST /v1/machines/sb_none/pause" => Reply::error(ErrorCode::NotFound, "no machine"),
            "GET /v1/machines/sb_a/metrics" => Reply::json(200, &sample_metrics()),
            "GET /v1/machines/sb_gone/metrics" => {
                Reply::error(ErrorCode::MachineNotRunning, "machine sb_gone is killed")
            }
            _ => Reply::json(200, &sample_machine("sb_a")),
        })
    }

    #[tokio::test]
    async fn create_sends_idempotency_key_in_body_and_header() {
        let server = machines_server();
        let client = Client::new(server.url(), "k").unwrap();
        let request = CreateMachineRequest {
            template: Some("base".into()),
            idempotency_key: Some("once".into()),
            timeout: Some(60),
            ..Default::default()
        };
        let machine = client.create_machine(&request).await.unwrap();
        assert_eq!(machine.id.as_str(), "sb_new");
        let req = server.last();
        assert_eq!(req.header("idempotency-key"), Some("once"));
        assert_eq!(
            req.json(),
            serde_json::json!({"template":"base","timeout":60,"idempotency_key":"once"})
        );
        assert_eq!(req.header("content-type"), Some("application/json"));
    }

    #[tokio::test]
    async fn create_without_key_sends_no_header() {
        let server = machines_server();
        let client = Client::new(server.url(), "k").unwrap();
        client
            .create_machine(&CreateMachineRequest::default())
            .await
            .unwrap();
        assert_eq!(server.last().header("idempotency-key"), None);
        assert_eq!(server.last().json(), serde_json::json!({}));
    }

    #[tokio::test]
    async fn list_encodes_filters_as_repeated_query_pairs() {
        let server = machines_server();
        let client = Client::new(server.url(), "k").unwrap();
        let filter = ListMachines {
            states: vec![MachineState::Running, MachineState::Paused],
            template: Some("base".into()),
            metadata: vec![("team".into(), "eval".into()), ("a b".into(), "c&d".into())],
            limit: Some(5),
            cursor: Some("c1".into()),
        };
        let page = client.list_machines(&filter).await.unwrap();
        assert_eq!(page.next_cursor.as_deref(), Some("c2"));
        let pairs = server.last().query_pairs();
        let expected: Vec<(String, String)> = [
            ("state", "running"),
            ("state", "paused"),
            ("template", "base"),
            ("metadata", "team=eval"),
            ("metadata", "a b=c&d"),
            ("limit", "5"),
            ("cursor", "c1"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(pairs, expected);

        client
            .list_machines(&ListMachines::default())
            .await
            .unwrap();
        assert_eq!(
            server.last().query,
            "",
            "the server's default: live machines"
        );
        let killed = ListMachines {
            states: vec![MachineState::Killed],
            ..ListMachines::default()
        };
        client.list_machines(&killed).await.unwrap();
        assert_eq!(server.last().query, "state=killed");
    }

    #[tokio::test]
    async fn kill_says_what_it_did_and_accepts_an_older_204() {
        let server = machines_server();
        let client = Client::new(server.url(), "k").unwrap();
        let killed = client
            .kill_machine(&"sb_a".parse().unwrap())
            .await
            .unwrap()
            .expect("a kill answer");
        assert_eq!(killed.id.as_str(), "sb_a");
        assert_eq!(killed.outcome, KillOutcome::Killed);
        assert_eq!(killed.previous_state, MachineState::Running);
        let cancelled = client
            .kill_machine(&"sb_new".parse().unwrap())
            .await
            .unwrap()
            .expect("a kill answer");
        assert_eq!(cancelled.outcome, KillOutcome::CreateCancelled);
        assert_eq!(cancelled.previous_state, MachineState::Starting);
        let old = client.kill_machine(&"sb_old".parse().unwrap()).await;
        assert!(matches!(old, Ok(None)), "{old:?}");
        let err = client
            .kill_machine(&"sb_bad".parse().unwrap())
            .await
            .unwrap_err();
        assert!(
            matches!(err, ClientError::Decode { status: 200, .. }),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn get_kill_and_timeout_hit_their_routes() {
        let server = machines_server();
        let client = Client::new(server.url(), "k").unwrap();
        let id: MachineId = "sb_a".parse().unwrap();
        client.get_machine(&id).await.unwrap();
        client.kill_machine(&id).await.unwrap();
        client.set_timeout(&id, 120, None).await.unwrap();
        client
            .set_timeout(&id, 60, Some(TimeoutAction::Pause))
            .await
            .unwrap();
        let reqs = server.requests();
        assert_eq!(reqs[0].route(), "GET /v1/machines/sb_a");
        assert_eq!(reqs[1].route(), "DELETE /v1/machines/sb_a");
        assert_eq!(reqs[2].route(), "POST /v1/machines/sb_a/timeout");
        assert_eq!(reqs[2].json(), serde_json::json!({"timeout":120}));
        assert_eq!(
            reqs[3].json(),
            serde_json::json!({"timeout":60,"action":"pause"})
        );
    }

    #[tokio::test]
    async fn create_sends_the_lifecycle_fields() {
        let server = machines_server();
        let client = Client::new(server.url(), "k").unwrap();
        let request = CreateMachineRequest {
            snapshot_id: Some("snap_abc".parse().unwrap()),
            timeout_action: Some(TimeoutAction::Pause),
            auto_resume: Some(true),
            ..Default::default()
        };
        client.create_machine(&request).await.unwrap();
        assert_eq!(
            server.last().json(),
            serde_json::json!({"snapshot_id":"snap_abc","timeout_action":"pause","auto_resume":true})
        );
    }

    #[tokio::test]
    async fn metrics_decode_and_keep_error_codes() {
        let server = machines_server();
        let client = Client::new(server.url(), "k").unwrap();
        let metrics = client
            .machine_metrics(&"sb_a".parse().unwrap())
            .await
            .unwrap();
        assert_eq!(metrics, sample_metrics());
        assert_eq!(server.last().route(), "GET /v1/machines/sb_a/metrics");
        let err = client
            .machine_metrics(&"sb_gone".parse().unwrap())
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::MachineNotRunning), "{err}");
    }

    #[tokio::test]
    async fn pause_and_resume_hit_their_routes() {
        let server = machines_server();
        let client = Client::new(server.url(), "k").unwrap();
        let id: MachineId = "sb_a".parse().unwrap();
        let paused = client.pause_machine(&id).await.unwrap();
        assert_eq!(paused.state, MachineState::Paused);
        let resumed = client.resume_machine(&id).await.unwrap();
        assert_eq!(resumed.state, MachineState::Running);
        let reqs = server.requests();
        assert_eq!(reqs[0].route(), "POST /v1/machines/sb_a/pause");
        assert_eq!(reqs[1].route(), "POST /v1/machines/sb_a/resume");
        assert!(reqs.iter().all(|r| r.body.is_empty()));
        assert_eq!(reqs[0].header("authorization"), Some("Bearer k"));
    }

    #[tokio::test]
    async fn pause_and_resume_errors_keep_their_codes() {
        let server = machines_server();
        let client = Client::new(server.url(), "k").unwrap();
        let gone: MachineId = "sb_gone".parse().unwrap();
        for err in [
            client.pause_machine(&gone).await.unwrap_err(),
            client.resume_machine(&gone).await.unwrap_err(),
        ] {
            assert_eq!(err.code(), Some(ErrorCode::MachineNotRunning), "{err}");
        }
        let none: MachineId = "sb_none".parse().unwrap();
        let err = client.pause_machine(&none).await.unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::NotFound), "{err}");
    }
}
