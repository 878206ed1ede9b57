//! Builds from OCI images over the do-nothing node: the image's environment and
//! working directory, the cache keyed by its digest, pull failures reported as the
//! build's error, bad references and logins refused before anything runs, and
//! registry credentials never stored.

mod common;

use std::time::Duration;

use axum::http::{Method, StatusCode};
use common::{api, code, Api};
use serde_json::{json, Value};

async fn build(api: &Api, body: Value) -> Value {
    let (s, b) = api
        .call(Method::POST, "/v1/templates/builds", Some(body))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    let id = b["id"].as_str().unwrap().to_owned();
    for _ in 0..500 {
        let (s, b) = api
            .call(Method::GET, &format!("/v1/templates/builds/{id}"), None)
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        if b["status"] == "ready" || b["status"] == "error" {
            return b;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("build {id} did not end");
}

fn messages(b: &Value) -> Vec<String> {
    b["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn an_image_build_takes_the_image_env_and_workdir_and_caches_by_digest() {
    let api = api();
    let aws = build(
        &api,
        json!({"name": "ecr", "from_image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:1",
               "registry_auth": {"kind": "aws", "access_key_id": "AKID", "secret_access_key": "aws-s3cret",
                                 "region": "us-east-1", "session_token": "aws-session"}}),
    )
    .await;
    assert_eq!(aws["status"], "ready", "{aws}");
    let tid = aws["template_id"].as_str().unwrap().to_owned();
    let rows = api
        .state
        .store_call(move |s| s.builds_of(&tid))
        .await
        .unwrap();
    assert!(
        rows.iter()
            .all(|r| !r.request.contains("aws-s3cret") && !r.request.contains("aws-session")),
        "{:?}",
        rows.iter().map(|r| &r.request).collect::<Vec<_>>()
    );
    let body = json!({
        "name": "py",
        "from_image": "python:3.12",
        "registry_auth": {"kind": "basic", "username": "me", "password": "s3cret-pass"},
        "steps": [{"kind": "run", "cmd": "echo built"}],
        "runtime_envs": {"MODE": "prod"}
    });
    let b = build(&api, body.clone()).await;
    assert_eq!(b["status"], "ready", "{b}");
    let logs = messages(&b);
    assert!(
        logs.iter().any(|l| l == "pulling image python:3.12"),
        "{logs:?}"
    );
    assert!(
        logs.iter()
            .any(|l| l.starts_with("image docker.io/library/python:3.12 is sha256:")),
        "{logs:?}"
    );
    let (s, t) = api.call(Method::GET, "/v1/templates/py", None).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert_eq!(t["cwd"], "/app", "{t}");
    assert_eq!(t["envs"]["IMAGE_ENV"], "library/python", "{t}");
    assert_eq!(t["envs"]["MODE"], "prod", "{t}");

    // The same image and steps: every step is cached.
    let again = build(&api, body).await;
    assert_eq!(again["status"], "ready", "{again}");
    assert_eq!(again["steps_cached"], 1, "{again}");
    // Another image: nothing is.
    let other = build(
        &api,
        json!({"name": "py", "from_image": "python:3.13",
               "steps": [{"kind": "run", "cmd": "echo built"}]}),
    )
    .await;
    assert_eq!(other["status"], "ready", "{other}");
    assert_eq!(other["steps_cached"], 0, "{other}");

    // The password was never stored.
    let tid = b["template_id"].as_str().unwrap().to_owned();
    let rows = api
        .state
        .store_call(move |s| s.builds_of(&tid))
        .await
        .unwrap();
    assert_eq!(rows.len(), 3);
    for r in rows {
        assert!(r.request.contains("python:3."), "{}", r.request);
        assert!(!r.request.contains("s3cret-pass"), "{}", r.request);
        assert!(!r.request.contains("registry_auth"), "{}", r.request);
    }

    // A machine from it gets the image's environment and directory.
    let (s, m) = api
        .call(
            Method::POST,
            "/v1/machines",
            Some(json!({"template": "py"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{m}");
}

#[tokio::test]
async fn a_workdir_step_wins_over_the_image_workdir() {
    let api = api();
    let b = build(
        &api,
        json!({"name": "wd", "from_image": "team/app:1",
               "steps": [{"kind": "workdir", "path": "/srv"}, {"kind": "run", "cmd": "true"}]}),
    )
    .await;
    assert_eq!(b["status"], "ready", "{b}");
    let (_, t) = api.call(Method::GET, "/v1/templates/wd", None).await;
    assert_eq!(t["cwd"], "/srv", "{t}");
}

#[tokio::test]
async fn an_image_that_cannot_be_pulled_fails_the_build_with_image_pull_failed() {
    let api = api();
    let b = build(
        &api,
        json!({"name": "nope", "from_image": "127.0.0.1:5999/team/missing:1",
               "steps": [{"kind": "run", "cmd": "true"}]}),
    )
    .await;
    assert_eq!(b["status"], "error", "{b}");
    assert_eq!(b["error"]["code"], "image_pull_failed", "{b}");
    let msg = b["error"]["message"].as_str().unwrap();
    assert!(msg.contains("127.0.0.1:5999"), "{msg}");
    assert!(msg.contains("not found"), "{msg}");
    // Nothing was made: the template has no version to start machines from.
    let (s, t) = api.call(Method::GET, "/v1/templates/nope", None).await;
    assert!(
        s == StatusCode::NOT_FOUND || t["tags"].as_array().is_some_and(|t| t.is_empty()),
        "{t}"
    );
    let (s, m) = api
        .call(
            Method::POST,
            "/v1/machines",
            Some(json!({"template": "nope"})),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{m}");
}

#[tokio::test]
async fn bad_image_requests_are_refused_before_anything_runs() {
    let api = api();
    let cases = [
        (
            json!({"name": "a", "from_image": "python:3.12", "from_template": "base"}),
            "from_image",
        ),
        (
            json!({"name": "a", "from_image": "UPPER/Case"}),
            "from_image",
        ),
        (json!({"name": "a", "from_image": ""}), "from_image"),
        (
            json!({"name": "a", "registry_auth": {"kind": "basic", "username": "u", "password": "p"}}),
            "registry_auth",
        ),
        (
            json!({"name": "a", "from_image": "x", "registry_auth": {"kind": "basic", "username": "", "password": "p"}}),
            "registry_auth.username",
        ),
        (
            json!({"name": "a", "from_image": "x", "registry_auth": {"kind": "gcp", "service_account_json": "not json"}}),
            "registry_auth.service_account_json",
        ),
        (
            json!({"name": "a", "from_image": "x", "registry_auth": {"kind": "aws", "access_key_id": "AKID", "secret_access_key": "s", "region": "Not A Region"}}),
            "registry_auth.region",
        ),
        (
            json!({"name": "a", "from_image": "x", "registry_auth": {"kind": "aws", "access_key_id": "AKID", "secret_access_key": "", "region": "us-east-1"}}),
            "registry_auth.secret_access_key",
        ),
    ];
    for (body, field) in cases {
        let (s, e) = api
            .call(Method::POST, "/v1/templates/builds", Some(body.clone()))
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body} -> {e}");
        assert_eq!(code(&e), "validation_error", "{e}");
        assert!(
            e["error"]["message"].as_str().unwrap().contains(field),
            "{body} -> {e}"
        );
    }
    let (s, e) = api
        .call(
            Method::POST,
            "/v1/templates/builds",
            Some(json!({"name": "a", "from_image": "x", "registry_auth": {"kind": "ftp"}})),
        )
        .await;
    assert!(s.is_client_error(), "{e}");
    let (s, l) = api.call(Method::GET, "/v1/templates", None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        l["templates"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["name"] != "a"),
        "{l}"
    );
}
