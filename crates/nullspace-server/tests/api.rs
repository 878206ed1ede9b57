//! The HTTP layer over the do-nothing node: auth, tenancy, validation, errors,
//! pagination, idempotency, and the router against `spec/openapi.yaml`.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::{api, api_with_rate, code};
use http_body_util::BodyExt;
use nullspace_server::table;
use serde_json::{json, Value};
use tower::ServiceExt;

#[tokio::test]
async fn auth_is_required_and_tenants_are_isolated() {
    let api = api();
    let (s, v) = api
        .send(Method::GET, "/v1/machines", None, None, false)
        .await;
    assert_eq!((s, code(&v)), (StatusCode::UNAUTHORIZED, "unauthorized"));
    let (s, v) = api
        .send(
            Method::GET,
            "/v1/machines",
            Some("ns_live_wrong"),
            None,
            false,
        )
        .await;
    assert_eq!((s, code(&v)), (StatusCode::UNAUTHORIZED, "unauthorized"));
    let (s, _) = api.send(Method::GET, "/v1/health", None, None, false).await;
    assert_eq!(s, StatusCode::OK);
    let m = api.create(json!({"template": "base"})).await;
    let id = m["id"].as_str().unwrap();
    assert!(id.starts_with("sb_"));
    assert_eq!(m["state"], "running");
    // Another tenant's machine answers 404, not 403.
    let (s, v) = api
        .send(
            Method::GET,
            &format!("/v1/machines/{id}"),
            Some(&api.other_key),
            None,
            false,
        )
        .await;
    assert_eq!((s, code(&v)), (StatusCode::NOT_FOUND, "not_found"));
    let (s, _) = api
        .send(
            Method::DELETE,
            &format!("/v1/machines/{id}"),
            Some(&api.other_key),
            None,
            false,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = api
        .call(Method::GET, &format!("/v1/machines/{id}"), None)
        .await;
    assert_eq!((s, v["id"].as_str()), (StatusCode::OK, Some(id)));
}

#[tokio::test]
async fn bad_input_is_rejected_with_field_names() {
    let api = api();
    let cases = [
        (
            json!({"template": "nope"}),
            404,
            "template_not_found",
            "nope",
        ),
        (json!({"timeout": -5}), 422, "validation_error", "timeout"),
        (
            json!({"timeout": 99_999_999}),
            422,
            "validation_error",
            "timeout",
        ),
        (
            json!({"timeout": "soon"}),
            422,
            "validation_error",
            "timeout",
        ),
        (
            json!({"templte": "base"}),
            422,
            "validation_error",
            "templte",
        ),
        (json!({"cpu_count": 64}), 409, "conflict", "cpu_count"),
        (json!({"timeout": null}), 422, "validation_error", "timeout"),
        (
            json!({"metadata": {"a": 1}}),
            422,
            "validation_error",
            "metadata",
        ),
        (json!({"cwd": "relative"}), 422, "validation_error", "cwd"),
        (
            json!({"cwd": "/workspace/.nullspace"}),
            403,
            "reserved_path",
            "reserved",
        ),
    ];
    for (body, status, c, needle) in cases {
        let (s, v) = api
            .call(Method::POST, "/v1/machines", Some(body.clone()))
            .await;
        assert_eq!((s.as_u16(), code(&v)), (status, c), "{body} -> {v}");
        assert!(
            v["error"]["message"].as_str().unwrap().contains(needle),
            "{body} -> {v}"
        );
    }
    let (s, v) = api
        .send(
            Method::POST,
            "/v1/machines",
            Some(&api.key),
            Some(Body::from("{not json")),
            true,
        )
        .await;
    assert_eq!((s, code(&v)), (StatusCode::BAD_REQUEST, "bad_request"));
    let huge = format!("{{\"metadata\":{{\"k\":\"{}\"}}}}", "x".repeat(17 << 20));
    let (s, v) = api
        .send(
            Method::POST,
            "/v1/machines",
            Some(&api.key),
            Some(Body::from(huge)),
            true,
        )
        .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
    );
    let (s, v) = api
        .call(Method::GET, "/v1/machines/sb_doesnotexist", None)
        .await;
    assert_eq!((s, code(&v)), (StatusCode::NOT_FOUND, "not_found"));
    let (s, v) = api.call(Method::GET, "/v1/machines/not-an-id", None).await;
    assert_eq!((s, code(&v)), (StatusCode::NOT_FOUND, "not_found"));
    let (s, v) = api.call(Method::GET, "/v1/machines?limit=0", None).await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_error")
    );
    let (s, v) = api
        .call(Method::GET, "/v1/machines?cursor=garbage", None)
        .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_error")
    );
    let (s, v) = api.call(Method::GET, "/v1/nowhere", None).await;
    assert_eq!((s, code(&v)), (StatusCode::NOT_FOUND, "not_found"));
}

#[tokio::test]
async fn kill_twice_and_commands_on_killed_machines() {
    let api = api();
    let id = api.create(json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (s, v) = api
        .call(
            Method::POST,
            &format!("/v1/machines/{id}/commands"),
            Some(json!({"command": "exit 3"})),
        )
        .await;
    assert_eq!((s, v["exit_code"].as_i64()), (StatusCode::OK, Some(3)));
    let (s, v) = api
        .call(
            Method::POST,
            &format!("/v1/machines/{id}/commands"),
            Some(json!({"command": "x", "args": ["y"]})),
        )
        .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_error")
    );
    let (s, v) = api
        .call(
            Method::POST,
            &format!("/v1/machines/{id}/commands"),
            Some(json!({"command": "x", "timeout": -1})),
        )
        .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_error"),
        "{v}"
    );
    let (s, v) = api
        .call(Method::DELETE, &format!("/v1/machines/{id}"), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (v["outcome"].as_str(), v["previous_state"].as_str()),
        (Some("killed"), Some("running"))
    );
    let (s, v) = api
        .call(Method::DELETE, &format!("/v1/machines/{id}"), None)
        .await;
    assert_eq!((s, code(&v)), (StatusCode::CONFLICT, "machine_not_running"));
    let (s, v) = api
        .call(
            Method::POST,
            &format!("/v1/machines/{id}/commands"),
            Some(json!({"command": "true"})),
        )
        .await;
    assert_eq!((s, code(&v)), (StatusCode::CONFLICT, "machine_not_running"));
    let (s, v) = api
        .call(Method::GET, &format!("/v1/machines/{id}"), None)
        .await;
    assert_eq!((s, v["state"].as_str()), (StatusCode::OK, Some("killed")));
    let (s, v) = api
        .call(
            Method::POST,
            &format!("/v1/machines/{id}/timeout"),
            Some(json!({"timeout": 10})),
        )
        .await;
    assert_eq!((s, code(&v)), (StatusCode::CONFLICT, "machine_not_running"));
}

#[tokio::test]
async fn list_filters_and_pages() {
    let api = api();
    for i in 0..5 {
        api.create(json!({"metadata": {"team": if i % 2 == 0 { "eval" } else { "ops" }, "i": i.to_string()}})).await;
    }
    let mut ids = BTreeSet::new();
    let mut uri = "/v1/machines?limit=2".to_owned();
    let mut pages = 0;
    loop {
        let (s, v) = api.call(Method::GET, &uri, None).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        pages += 1;
        for m in v["machines"].as_array().unwrap() {
            assert!(ids.insert(m["id"].as_str().unwrap().to_owned()));
        }
        match v["next_cursor"].as_str() {
            Some(c) => uri = format!("/v1/machines?limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!((ids.len(), pages), (5, 3));
    let (_, v) = api
        .call(
            Method::GET,
            "/v1/machines?metadata=team%3Deval&state=running&template=base",
            None,
        )
        .await;
    assert_eq!(v["machines"].as_array().unwrap().len(), 3);
    let (_, v) = api
        .call(
            Method::GET,
            "/v1/machines?metadata=team=ops&metadata=i=1",
            None,
        )
        .await;
    assert_eq!(v["machines"].as_array().unwrap().len(), 1);
    let (s, v) = api
        .call(Method::GET, "/v1/machines?state=sleeping", None)
        .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_error")
    );
}

#[tokio::test]
async fn concurrent_creates_with_one_idempotency_key_make_one_machine() {
    let api = Arc::new(api());
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let api = api.clone();
        tasks.push(tokio::spawn(async move {
            let req = Request::builder()
                .method(Method::POST)
                .uri("/v1/machines")
                .header("authorization", format!("Bearer {}", api.key))
                .header("content-type", "application/json")
                .header("idempotency-key", "same")
                .body(Body::from("{}"))
                .unwrap();
            let resp = api.app.clone().oneshot(req).await.unwrap();
            let status = resp.status();
            let v: Value =
                serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes())
                    .unwrap();
            (status, v["id"].as_str().unwrap().to_owned())
        }));
    }
    let mut ids = BTreeSet::new();
    let mut created = 0;
    for t in tasks {
        let (s, id) = t.await.unwrap();
        if s == StatusCode::CREATED {
            created += 1;
        } else {
            assert_eq!(s, StatusCode::OK);
        }
        ids.insert(id);
    }
    assert_eq!((ids.len(), created), (1, 1));
    let (_, v) = api.call(Method::GET, "/v1/machines", None).await;
    assert_eq!(v["machines"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn rate_limit_answers_429() {
    let api = api_with_rate(2.0);
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(api.call(Method::GET, "/v1/machines", None).await.0);
    }
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    let (_, v) = api.call(Method::GET, "/v1/machines", None).await;
    assert_eq!(code(&v), "rate_limited");
}

#[tokio::test]
async fn files_round_trip_on_the_fake_node() {
    let api = api();
    let id = api.create(json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (s, v) = api
        .send(
            Method::PUT,
            &format!("/v1/machines/{id}/files?path=/workspace/a.txt&mode=0600"),
            Some(&api.key),
            Some(Body::from("hello")),
            false,
        )
        .await;
    assert_eq!((s, v["size"].as_u64()), (StatusCode::OK, Some(5)), "{v}");
    assert_eq!(v["permissions"], "rw-r--r--");
    let (s, v) = api
        .call(
            Method::GET,
            &format!("/v1/machines/{id}/files?path=/workspace/a.txt"),
            None,
        )
        .await;
    assert_eq!((s, v.as_str()), (StatusCode::OK, Some("hello")));
    let (s, v) = api
        .call(
            Method::PUT,
            &format!("/v1/machines/{id}/files?path=/workspace/b&mode=99"),
            None,
        )
        .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_error")
    );
    let (s, v) = api
        .call(
            Method::GET,
            &format!("/v1/machines/{id}/files/exists"),
            None,
        )
        .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_error"),
        "missing path is named: {v}"
    );
    assert!(v["error"]["message"].as_str().unwrap().contains("path"));
    let body = json!({"files": [{"path": "/workspace/x", "content": "1"}, {"path": "/workspace/y", "content_base64": "AAE="}]});
    let (s, v) = api
        .call(
            Method::POST,
            &format!("/v1/machines/{id}/files/batch"),
            Some(body),
        )
        .await;
    assert_eq!(
        (s, v["files"].as_array().map(Vec::len)),
        (StatusCode::OK, Some(2)),
        "{v}"
    );
    let body =
        json!({"files": [{"path": "/workspace/x", "content": "1", "content_base64": "AA=="}]});
    let (s, v) = api
        .call(
            Method::POST,
            &format!("/v1/machines/{id}/files/batch"),
            Some(body),
        )
        .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_error")
    );
    assert!(v["error"]["message"].as_str().unwrap().contains("files[0]"));
    let (s, v) = api
        .send(
            Method::PUT,
            &format!("/v1/machines/{id}/files?path=/workspace/.nullspace/x"),
            Some(&api.key),
            Some(Body::from("x")),
            false,
        )
        .await;
    assert_eq!((s, code(&v)), (StatusCode::FORBIDDEN, "reserved_path"));
    let (s, v) = api
        .call(
            Method::GET,
            &format!("/v1/machines/{id}/files?path=/nope"),
            None,
        )
        .await;
    assert_eq!((s, code(&v)), (StatusCode::NOT_FOUND, "not_found"));
}

/// Every route of the router is in the spec and every operation of the spec is
/// routed, with the same methods.
#[test]
fn router_matches_openapi_spec() {
    let spec = nullspace_server::openapi_json();
    let mut in_spec = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for method in ["get", "post", "put", "delete", "patch"] {
            if item.get(method).is_some() {
                in_spec.insert((method.to_owned(), path.clone()));
            }
        }
    }
    let routed: BTreeSet<_> = table()
        .into_iter()
        .map(|(m, p, _)| (m.to_owned(), p.to_owned()))
        .collect();
    let missing_in_spec: Vec<_> = routed.difference(&in_spec).collect();
    let missing_in_router: Vec<_> = in_spec.difference(&routed).collect();
    assert!(missing_in_spec.is_empty() && missing_in_router.is_empty(), "routed but not in spec: {missing_in_spec:?}; in spec but not routed: {missing_in_router:?}");
}

#[tokio::test]
async fn every_spec_operation_is_reachable_and_openapi_is_served() {
    let api = api();
    let (s, v) = api
        .send(Method::GET, "/v1/openapi.json", None, None, false)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["openapi"], "3.1.0");
    for (method, path, _) in table() {
        let uri = path.replace("{id}", "sb_missing");
        let m: Method = method.to_uppercase().parse().unwrap();
        let (_, v) = api.call(m, &uri, None).await;
        assert_ne!(
            v["error"]["message"], "no such route",
            "{method} {path} is not routed"
        );
    }
}
