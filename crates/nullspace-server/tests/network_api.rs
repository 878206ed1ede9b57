//! Network settings of machines over the do-nothing node: what a create asks
//! for reaches the node, is shown, and is kept by forks, snapshots, pause and
//! resume; bad policies are refused with the field named.

mod common;

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use common::{api_over_shared, code};
use nullspace_server::node::FakeNode;
use nullspace_types::Egress;
use serde_json::{json, Value};

fn egress(allow: &[&str], deny: &[&str], internet: bool) -> Egress {
    Egress::new(
        allow.iter().map(|c| c.parse().unwrap()).collect(),
        deny.iter().map(|c| c.parse().unwrap()).collect(),
        internet,
    )
    .unwrap()
}

fn id_of(v: &Value) -> nullspace_types::MachineId {
    v["id"].as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn policies_reach_the_node_and_are_kept_by_forks_snapshots_and_resumes() {
    let node = Arc::new(FakeNode::default());
    let api = api_over_shared(node.clone(), 10_000.0);
    let open = api.create(json!({})).await;
    assert_eq!(open["internet_access"], true);
    assert_eq!(
        open["network"],
        json!({"allow_out": [], "deny_out": [], "allow_public_traffic": true})
    );
    assert!(open.get("traffic_access_token").is_none(), "{open}");
    assert_eq!(node.egress_of(&id_of(&open)), Some(Egress::OPEN));

    let m = api
        .create(json!({
            "network": {"allow_out": ["198.51.100.10", "198.51.100.7/24", "192.0.2.0/24"]},
            "internet_access": false
        }))
        .await;
    let want = egress(&["192.0.2.0/24", "198.51.100.0/24"], &[], false);
    assert_eq!(
        m["network"]["allow_out"],
        json!(["192.0.2.0/24", "198.51.100.0/24"]),
        "masked, sorted, a network inside another dropped: {m}"
    );
    assert_eq!(m["internet_access"], false);
    let id = id_of(&m);
    assert_eq!(node.egress_of(&id), Some(want.clone()));

    // Fork children run with the source's policy and show it.
    let (s, f) = api
        .call(
            Method::POST,
            &format!("/v1/machines/{id}/fork"),
            Some(json!({"count": 2})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{f}");
    for kid in f["machines"].as_array().unwrap() {
        assert_eq!(kid["network"], m["network"]);
        assert_eq!(kid["internet_access"], false);
        assert_eq!(node.egress_of(&id_of(kid)), Some(want.clone()));
    }

    // A snapshot keeps it for the machines started from it, unless they say otherwise.
    let (s, snap) = api
        .call(
            Method::POST,
            &format!("/v1/machines/{id}/snapshots"),
            Some(json!({})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{snap}");
    let sid = snap["id"].as_str().unwrap();
    let from = api.create(json!({"snapshot_id": sid})).await;
    assert_eq!(from["network"], m["network"], "{from}");
    assert_eq!(node.egress_of(&id_of(&from)), Some(want.clone()));
    let online = api
        .create(json!({"snapshot_id": sid, "internet_access": true}))
        .await;
    assert_eq!(online["internet_access"], true);
    assert_eq!(online["network"]["allow_out"], m["network"]["allow_out"]);
    let replaced = api
        .create(json!({"snapshot_id": sid, "network": {"deny_out": ["203.0.113.0/24"]}}))
        .await;
    assert_eq!(replaced["network"]["allow_out"], json!([]));
    assert_eq!(
        node.egress_of(&id_of(&replaced)),
        Some(egress(&[], &["203.0.113.0/24"], false))
    );

    // Pause and resume: the machine shows the same policy afterwards.
    let uri = format!("/v1/machines/{id}");
    let (s, _) = api.call(Method::POST, &format!("{uri}/pause"), None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, r) = api.call(Method::POST, &format!("{uri}/resume"), None).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["network"], m["network"]);
    let (_, got) = api.call(Method::GET, &uri, None).await;
    assert_eq!(got["internet_access"], false);
}

#[tokio::test]
async fn bad_policies_are_refused_with_the_field_named() {
    let node = Arc::new(FakeNode::default());
    let api = api_over_shared(node, 10_000.0);
    let too_many: Vec<String> = (0..=nullspace_types::MAX_CIDRS)
        .map(|i| format!("10.{}.{}.0/24", i / 256, i % 256))
        .collect();
    for (body, needle) in [
        (json!({"network": {"allow_out": ["::1/128"]}}), "IPv6"),
        (
            json!({"network": {"allow_out": ["1.2.3.4/33"]}}),
            "1.2.3.4/33",
        ),
        (
            json!({"network": {"deny_out": ["10.1.2.3/08"]}}),
            "10.1.2.3/08",
        ),
        (json!({"network": {"deny_out": "10.0.0.0/8"}}), "deny_out"),
        (json!({"network": {"allow_outt": []}}), "allow_outt"),
        (
            json!({"network": {"allow_public_traffic": "no"}}),
            "allow_public_traffic",
        ),
        (json!({"network": null}), "network"),
        (json!({"internet_access": "false"}), "internet_access"),
        (json!({"network": {"deny_out": too_many}}), "at most"),
    ] {
        let (s, v) = api
            .call(Method::POST, "/v1/machines", Some(body.clone()))
            .await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::UNPROCESSABLE_ENTITY, "validation_error"),
            "{body}: {v}"
        );
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(msg.contains(needle), "{body}: {msg}");
    }
    // Nothing was made.
    let (_, list) = api.call(Method::GET, "/v1/machines", None).await;
    assert_eq!(list["machines"], json!([]));
}
