//! Reusable snapshots and forks of running machines.

use nullspace_api::{CreateSnapshotRequest, ForkRequest, ForkResponse, Snapshot, SnapshotList};
use nullspace_types::{MachineId, SnapshotId};
use reqwest::Method;

use crate::{Client, ClientError};

/// Filters and paging of `GET /v1/snapshots`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListSnapshots {
    /// Only snapshots taken from this machine.
    pub machine_id: Option<MachineId>,
    /// Only snapshots whose metadata has every one of these `(key, value)` pairs.
    pub metadata: Vec<(String, String)>,
    /// Page size (1..=1000; the server's default is 100).
    pub limit: Option<u32>,
    /// Cursor from the previous page's `next_cursor`.
    pub cursor: Option<String>,
}

impl ListSnapshots {
    /// The query string pairs of these filters, in a stable order.
    fn query(&self) -> Vec<(&'static str, String)> {
        let mut query = Vec::new();
        if let Some(id) = &self.machine_id {
            query.push(("machine_id", id.to_string()));
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

impl Client {
    /// `POST /v1/machines/{id}/fork`: `request.count` running children of the machine,
    /// each with its memory, processes and disk. The source keeps running.
    pub async fn fork_machine(
        &self,
        id: &MachineId,
        request: &ForkRequest,
    ) -> Result<ForkResponse, ClientError> {
        let url = self.url(&format!("v1/machines/{id}/fork"), &[])?;
        self.json(self.request(Method::POST, &url).json(request), &url)
            .await
    }

    /// `POST /v1/machines/{id}/snapshots`: a reusable snapshot of the running machine,
    /// which keeps running. Start machines from it with
    /// [`CreateMachineRequest::snapshot_id`](nullspace_api::CreateMachineRequest::snapshot_id).
    pub async fn create_snapshot(
        &self,
        id: &MachineId,
        request: &CreateSnapshotRequest,
    ) -> Result<Snapshot, ClientError> {
        let url = self.url(&format!("v1/machines/{id}/snapshots"), &[])?;
        self.json(self.request(Method::POST, &url).json(request), &url)
            .await
    }

    /// `GET /v1/snapshots/{id}`.
    pub async fn get_snapshot(&self, id: &SnapshotId) -> Result<Snapshot, ClientError> {
        let url = self.url(&format!("v1/snapshots/{id}"), &[])?;
        self.json(self.request(Method::GET, &url), &url).await
    }

    /// `GET /v1/snapshots`: one page, newest first.
    pub async fn list_snapshots(
        &self,
        filter: &ListSnapshots,
    ) -> Result<SnapshotList, ClientError> {
        let url = self.url("v1/snapshots", &filter.query())?;
        self.json(self.request(Method::GET, &url), &url).await
    }

    /// `DELETE /v1/snapshots/{id}`: the snapshot and its files. `snapshot_in_use` (409)
    /// while a machine started from it exists.
    pub async fn delete_snapshot(&self, id: &SnapshotId) -> Result<(), ClientError> {
        let url = self.url(&format!("v1/snapshots/{id}"), &[])?;
        self.empty(self.request(Method::DELETE, &url), &url).await
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use nullspace_api::{ErrorCode, Machine};
    use serde_json::json;

    use super::*;
    use crate::test_server::{sample_machine, sample_snapshot, Reply, TestServer};

    fn snapshots_server() -> TestServer {
        TestServer::start(|r| match r.route().as_str() {
            "POST /v1/machines/sb_a/fork" => Reply::json(
                201,
                &ForkResponse {
                    machines: vec![
                        Machine {
                            forked_from: Some("sb_a".parse().unwrap()),
                            ..sample_machine("sb_c1")
                        },
                        sample_machine("sb_c2"),
                    ],
                    source_stall_ms: 42,
                },
            ),
            "POST /v1/machines/sb_a/snapshots" => {
                Reply::json(201, &sample_snapshot("snap_s1", "sb_a"))
            }
            "GET /v1/snapshots/snap_s1" => Reply::json(200, &sample_snapshot("snap_s1", "sb_a")),
            "GET /v1/snapshots" => Reply::json(
                200,
                &SnapshotList {
                    snapshots: vec![sample_snapshot("snap_s1", "sb_a")],
                    next_cursor: Some("c2".into()),
                },
            ),
            "DELETE /v1/snapshots/snap_s1" => Reply::empty(204),
            "DELETE /v1/snapshots/snap_used" => {
                Reply::error(ErrorCode::SnapshotInUse, "snapshot snap_used is in use")
            }
            "GET /v1/snapshots/snap_bad" => Reply::error(
                ErrorCode::StateCorrupt,
                "snapshot snap_bad failed its checksum",
            ),
            _ => Reply::error(ErrorCode::NotFound, "no such route"),
        })
    }

    #[tokio::test]
    async fn fork_posts_only_the_fields_given() {
        let server = snapshots_server();
        let client = Client::new(server.url(), "k").unwrap();
        let id: MachineId = "sb_a".parse().unwrap();
        let forked = client
            .fork_machine(
                &id,
                &ForkRequest {
                    count: Some(2),
                    metadata: Some(BTreeMap::from([("k".into(), "v".into())])),
                    timeout: Some(60),
                },
            )
            .await
            .unwrap();
        assert_eq!(forked.machines.len(), 2);
        assert_eq!(forked.source_stall_ms, 42);
        assert_eq!(forked.machines[0].forked_from.as_ref(), Some(&id));
        assert_eq!(
            server.last().json(),
            json!({"count": 2, "metadata": {"k": "v"}, "timeout": 60})
        );
        let bare = ForkRequest {
            count: None,
            metadata: None,
            timeout: None,
        };
        client.fork_machine(&id, &bare).await.unwrap();
        assert_eq!(server.last().route(), "POST /v1/machines/sb_a/fork");
        assert_eq!(server.last().json(), json!({}));
    }

    #[tokio::test]
    async fn snapshot_routes_and_bodies() {
        let server = snapshots_server();
        let client = Client::new(server.url(), "k").unwrap();
        let snap = client
            .create_snapshot(
                &"sb_a".parse().unwrap(),
                &CreateSnapshotRequest {
                    metadata: BTreeMap::from([("purpose".into(), "checkpoint".into())]),
                },
            )
            .await
            .unwrap();
        assert_eq!(snap.id.as_str(), "snap_s1");
        assert_eq!(
            server.last().json(),
            json!({"metadata": {"purpose": "checkpoint"}})
        );
        client
            .create_snapshot(&"sb_a".parse().unwrap(), &CreateSnapshotRequest::default())
            .await
            .unwrap();
        assert_eq!(server.last().json(), json!({}));

        let id: SnapshotId = "snap_s1".parse().unwrap();
        assert_eq!(client.get_snapshot(&id).await.unwrap().size_bytes, 64 << 20);
        client.delete_snapshot(&id).await.unwrap();
        let reqs = server.requests();
        assert_eq!(reqs[2].route(), "GET /v1/snapshots/snap_s1");
        assert_eq!(reqs[3].route(), "DELETE /v1/snapshots/snap_s1");
    }

    #[tokio::test]
    async fn list_encodes_filters_as_query_pairs() {
        let server = snapshots_server();
        let client = Client::new(server.url(), "k").unwrap();
        let page = client
            .list_snapshots(&ListSnapshots {
                machine_id: Some("sb_a".parse().unwrap()),
                metadata: vec![("purpose".into(), "check point".into())],
                limit: Some(10),
                cursor: Some("c1".into()),
            })
            .await
            .unwrap();
        assert_eq!(page.next_cursor.as_deref(), Some("c2"));
        let pairs: Vec<(String, String)> = [
            ("machine_id", "sb_a"),
            ("metadata", "purpose=check point"),
            ("limit", "10"),
            ("cursor", "c1"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(server.last().query_pairs(), pairs);
        client
            .list_snapshots(&ListSnapshots::default())
            .await
            .unwrap();
        assert_eq!(server.last().query, "");
    }

    #[tokio::test]
    async fn in_use_and_corrupt_keep_their_codes() {
        let server = snapshots_server();
        let client = Client::new(server.url(), "k").unwrap();
        let err = client
            .delete_snapshot(&"snap_used".parse().unwrap())
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::SnapshotInUse), "{err}");
        assert_eq!(err.status(), Some(409));
        let err = client
            .get_snapshot(&"snap_bad".parse().unwrap())
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::StateCorrupt), "{err}");
        let err = client
            .get_snapshot(&"snap_none".parse().unwrap())
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::NotFound), "{err}");
    }
}
