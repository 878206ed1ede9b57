//! The lifecycle routes over the do-nothing node: fork, snapshots and their
//! deletion rules, metrics, timeout actions and auto-resume, with their bad input.

mod common;

use axum::http::{Method, StatusCode};
use common::{api, code};
use serde_json::json;

#[tokio::test]
async fn fork_makes_children_and_rejects_bad_counts() {
    let api = api();
    let src = api
        .create(json!({"metadata": {"team": "eval"}, "auto_resume": true, "timeout_action": "hibernate"}))
        .await;
    assert_eq!(
        src["timeout_action"], "pause",
        "hibernate is stored as pause"
    );
    let id = src["id"].as_str().unwrap();
    let uri = format!("/v1/machines/{id}/fork");
    for (body, field) in [
        (json!({"count": 0}), "count"),
        (json!({"count": 17}), "count"),
        (json!({"timeout": 0}), "timeout"),
        (json!({"cuont": 2}), "cuont"),
    ] {
        let (s, v) = api.call(Method::POST, &uri, Some(body)).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
        assert!(
            v["error"]["message"].as_str().unwrap().contains(field),
            "{v}"
        );
    }
    // A body of whitespace is not JSON, even though no bytes at all are fine.
    let (s, v) = api
        .send(
            Method::POST,
            &uri,
            Some(&api.key),
            Some(axum::body::Body::from(" ")),
            true,
        )
        .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::BAD_REQUEST, "bad_request"),
        "{v}"
    );
    // No body: one child with the source's labels and settings.
    let (s, v) = api.call(Method::POST, &uri, None).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let kids = v["machines"].as_array().unwrap();
    assert_eq!(kids.len(), 1);
    assert_eq!(kids[0]["forked_from"], id);
    assert_eq!(kids[0]["metadata"]["team"], "eval");
    assert_eq!(kids[0]["auto_resume"], true);
    assert_eq!(kids[0]["timeout_action"], "pause");
    assert_eq!(kids[0]["state"], "running");
    let (s, v) = api
        .call(
            Method::POST,
            &uri,
            Some(json!({"count": 3, "metadata": {"kid": "yes"}})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let kids = v["machines"].as_array().unwrap();
    assert_eq!(kids.len(), 3);
    let ids: std::collections::BTreeSet<_> = kids.iter().map(|k| k["id"].to_string()).collect();
    assert_eq!(ids.len(), 3);
    assert!(kids.iter().all(|k| k["metadata"] == json!({"kid": "yes"})));
    // Another tenant's machine cannot be forked; a killed one neither.
    let (s, _) = api
        .send(Method::POST, &uri, Some(&api.other_key), None, false)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    api.call(Method::DELETE, &format!("/v1/machines/{id}"), None)
        .await;
    let (s, v) = api.call(Method::POST, &uri, None).await;
    assert_eq!((s, code(&v)), (StatusCode::CONFLICT, "machine_not_running"));
}

#[tokio::test]
async fn snapshots_list_filter_start_machines_and_refuse_deletion_in_use() {
    let api = api();
    let src = api
        .create(json!({"envs": {"MODE": "x"}, "cwd": "/tmp"}))
        .await;
    let id = src["id"].as_str().unwrap();
    let uri = format!("/v1/machines/{id}/snapshots");
    let (s, v) = api
        .call(
            Method::POST,
            &uri,
            Some(json!({"metadata": {"purpose": "checkpoint"}})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let snap = v["id"].as_str().unwrap().to_owned();
    assert!(snap.starts_with("snap_"));
    assert_eq!(v["machine_id"], id);
    let (s, _) = api.call(Method::POST, &uri, None).await;
    assert_eq!(s, StatusCode::CREATED, "a body is optional");
    let (s, v) = api
        .call(Method::POST, &uri, Some(json!({"metadata": 5})))
        .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_error")
    );

    let list = |q: &'static str| {
        let api = &api;
        async move {
            let (s, v) = api
                .call(Method::GET, &format!("/v1/snapshots{q}"), None)
                .await;
            assert_eq!(s, StatusCode::OK, "{v}");
            v["snapshots"].as_array().unwrap().len()
        }
    };
    assert_eq!(list("").await, 2);
    assert_eq!(list("?metadata=purpose%3Dcheckpoint").await, 1);
    assert_eq!(list("?limit=1").await, 1);
    let (s, v) = api
        .call(Method::GET, &format!("/v1/snapshots?machine_id={id}"), None)
        .await;
    assert_eq!(
        (s, v["snapshots"].as_array().unwrap().len()),
        (StatusCode::OK, 2)
    );
    for q in [
        "?machine_id=snap_x",
        "?limit=0",
        "?cursor=zz",
        "?colour=red",
        "?metadata=x",
    ] {
        let (s, v) = api
            .call(Method::GET, &format!("/v1/snapshots{q}"), None)
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{q}: {v}");
    }
    let (s, v) = api
        .send(
            Method::GET,
            &format!("/v1/snapshots/{snap}"),
            Some(&api.other_key),
            None,
            false,
        )
        .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::NOT_FOUND, "not_found"),
        "tenants are isolated"
    );
    let (s, _) = api
        .call(Method::GET, "/v1/snapshots/sb_notasnapshot", None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // A machine from the snapshot inherits envs and cwd; the template must match.
    let (s, v) = api
        .call(
            Method::POST,
            "/v1/machines",
            Some(json!({"snapshot_id": snap, "template": "other"})),
        )
        .await;
    assert_eq!((s, code(&v)), (StatusCode::CONFLICT, "conflict"), "{v}");
    let (s, v) = api
        .call(
            Method::POST,
            "/v1/machines",
            Some(json!({"snapshot_id": "snap_doesnotexist000000"})),
        )
        .await;
    assert_eq!((s, code(&v)), (StatusCode::NOT_FOUND, "not_found"));
    let (s, v) = api
        .send(
            Method::POST,
            "/v1/machines",
            Some(&api.other_key),
            Some(axum::body::Body::from(
                json!({"snapshot_id": snap}).to_string(),
            )),
            true,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "another tenant's snapshot: {v}");
    let child = api.create(json!({"snapshot_id": snap})).await;
    assert_eq!(child["snapshot_id"], snap.as_str());
    assert_eq!(child["cwd"], "/tmp");
    let child_id = child["id"].as_str().unwrap();

    // In use while the child runs, and while it is paused.
    let del = format!("/v1/snapshots/{snap}");
    let (s, v) = api.call(Method::DELETE, &del, None).await;
    assert_eq!((s, code(&v)), (StatusCode::CONFLICT, "snapshot_in_use"));
    assert!(v["error"]["message"].as_str().unwrap().contains(child_id));
    let (s, _) = api
        .call(
            Method::POST,
            &format!("/v1/machines/{child_id}/pause"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = api.call(Method::DELETE, &del, None).await;
    assert_eq!((s, code(&v)), (StatusCode::CONFLICT, "snapshot_in_use"));
    let (s, _) = api
        .call(Method::DELETE, &format!("/v1/machines/{child_id}"), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = api.call(Method::DELETE, &del, None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = api.call(Method::DELETE, &del, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(list("").await, 1);
}

#[tokio::test]
async fn auto_resume_timeout_actions_and_metrics() {
    let api = api();
    let sleepy = api.create(json!({"auto_resume": true})).await;
    let plain = api.create(json!({})).await;
    assert_eq!(plain["auto_resume"], false);
    assert_eq!(plain["timeout_action"], "kill");
    for m in [&sleepy, &plain] {
        let id = m["id"].as_str().unwrap();
        let (s, _) = api
            .call(Method::POST, &format!("/v1/machines/{id}/pause"), None)
            .await;
        assert_eq!(s, StatusCode::OK);
    }
    let run = |id: String| {
        let api = &api;
        async move {
            api.call(
                Method::POST,
                &format!("/v1/machines/{id}/commands"),
                Some(json!({"command": "echo hi"})),
            )
            .await
        }
    };
    let (s, v) = run(plain["id"].as_str().unwrap().into()).await;
    assert_eq!((s, code(&v)), (StatusCode::CONFLICT, "machine_not_running"));
    let sid = sleepy["id"].as_str().unwrap();
    let (s, v) = run(sid.into()).await;
    assert_eq!(s, StatusCode::OK, "auto-resume wakes the machine: {v}");
    let (_, v) = api
        .call(Method::GET, &format!("/v1/machines/{sid}"), None)
        .await;
    assert_eq!(v["state"], "running");
    // Metrics of a paused machine wake it too (with auto-resume).
    api.call(Method::POST, &format!("/v1/machines/{sid}/pause"), None)
        .await;
    let (s, v) = api
        .call(Method::GET, &format!("/v1/machines/{sid}/metrics"), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    for f in [
        "cpu_count",
        "cpu_used_pct",
        "mem_total_bytes",
        "mem_used_bytes",
        "disk_total_bytes",
        "disk_used_bytes",
        "uptime_secs",
        "timestamp",
    ] {
        assert!(!v[f].is_null(), "metrics has {f}: {v}");
    }

    // Timeout actions: set on running and paused machines, validated, kept.
    let pid = plain["id"].as_str().unwrap();
    let uri = format!("/v1/machines/{pid}/timeout");
    let (s, v) = api
        .call(
            Method::POST,
            &uri,
            Some(json!({"timeout": 60, "action": "hibernate"})),
        )
        .await;
    assert_eq!(
        s,
        StatusCode::OK,
        "a paused machine's timeout can be set: {v}"
    );
    assert_eq!(v["timeout_action"], "pause");
    assert_eq!(v["state"], "paused", "setting a timeout does not wake it");
    let (s, v) = api
        .call(Method::POST, &uri, Some(json!({"timeout": 60})))
        .await;
    assert_eq!(
        (s, &v["timeout_action"]),
        (StatusCode::OK, &json!("pause")),
        "unchanged"
    );
    let (s, v) = api
        .call(
            Method::POST,
            &uri,
            Some(json!({"timeout": 60, "action": "sleep"})),
        )
        .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_error")
    );
    let (s, v) = api
        .call(
            Method::POST,
            "/v1/machines",
            Some(json!({"timeout_action": "nap"})),
        )
        .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_error")
    );
    api.call(Method::DELETE, &format!("/v1/machines/{pid}"), None)
        .await;
    let (s, v) = api
        .call(Method::POST, &uri, Some(json!({"timeout": 60})))
        .await;
    assert_eq!((s, code(&v)), (StatusCode::CONFLICT, "machine_not_running"));
    let (s, v) = api
        .call(Method::GET, &format!("/v1/machines/{pid}/metrics"), None)
        .await;
    assert_eq!((s, code(&v)), (StatusCode::CONFLICT, "machine_not_running"));
}

#[tokio::test]
async fn a_vm_that_dies_is_failed_when_the_node_says_so() {
    let node = std::sync::Arc::new(nullspace_server::node::FakeNode::default());
    let api = common::api_over_shared(node.clone(), 10_000.0);
    tokio::spawn(nullspace_server::services::node_events::follow(
        api.state.clone(),
        nullspace_server::node::Node::subscribe(node.as_ref()),
    ));
    let m = api.create(json!({})).await;
    let id = m["id"].as_str().unwrap().to_owned();
    node.vm_dies(&id.parse().unwrap()).await;
    // No request touches the machine: the event alone fails it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let row = api
            .state
            .store
            .machine_by_id(&id.parse().unwrap())
            .unwrap()
            .unwrap();
        if row.state == nullspace_types::MachineState::Failed {
            assert_eq!(row.failure_reason.as_deref(), Some("VMM process exited"));
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still {:?}",
            row.state
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let (s, v) = api
        .call(Method::GET, &format!("/v1/machines/{id}?"), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["state"], "failed");
    assert_eq!(v["failure_reason"], "VMM process exited");
}
