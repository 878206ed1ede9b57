//! The git routes over the do-nothing node (whose exec answers the argv it was
//! given as stdout): input is checked before git runs, option-looking values are
//! refused by field, paths come after `--`, and a missing machine is 404.

mod common;

use axum::http::{Method, StatusCode};
use common::{api, code, Api};
use serde_json::{json, Value};

async fn machine(api: &Api) -> String {
    api.create(json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn git(api: &Api, id: &str, op: &str, body: Value) -> (StatusCode, Value) {
    api.call(
        Method::POST,
        &format!("/v1/machines/{id}/git/{op}"),
        Some(body),
    )
    .await
}

#[tokio::test]
async fn option_looking_input_is_refused_by_field() {
    let api = api();
    let id = machine(&api).await;
    let cases = [
        (
            "clone",
            json!({"url": "--upload-pack=touch /tmp/x"}),
            "url:",
        ),
        ("clone", json!({"url": "ext::sh -c id"}), "url:"),
        (
            "clone",
            json!({"url": "https://h/r.git", "branch": "-b"}),
            "branch:",
        ),
        (
            "clone",
            json!({"url": "https://h/r.git", "depth": 0}),
            "depth:",
        ),
        ("checkout", json!({"branch": "--orphan"}), "branch:"),
        ("branch/create", json!({"name": "-D"}), "name:"),
        (
            "branch/create",
            json!({"name": "ok", "start_point": "--all"}),
            "start_point:",
        ),
        (
            "log",
            json!({"revision": "--output=/etc/passwd"}),
            "revision:",
        ),
        ("log", json!({"limit": 0}), "limit:"),
        ("diff", json!({"revision": "-p"}), "revision:"),
        ("push", json!({"remote": "--receive-pack=x"}), "remote:"),
        (
            "pull",
            json!({"branch": "-x", "remote": "origin"}),
            "branch:",
        ),
        (
            "remote/add",
            json!({"name": "o", "url": "https://u:secret@h/r.git"}),
            "url:",
        ),
        (
            "config/set",
            json!({"key": "--global", "value": "x"}),
            "key:",
        ),
        ("commit", json!({"message": "  "}), "message:"),
        (
            "commit",
            json!({"message": "m", "author_name": "A <a@b>"}),
            "author_name:",
        ),
        (
            "push",
            json!({"auth": {"token": "a", "password": "b"}}),
            "auth.token:",
        ),
        (
            "push",
            json!({"auth": {"token": "line\nusername=evil"}}),
            "auth.password:",
        ),
        (
            "fetch",
            json!({"auth": {"ssh_key": "not a key"}}),
            "auth.ssh_key:",
        ),
        ("status", json!({"user": "Root"}), "user:"),
        ("status", json!({"timeout": -1}), "timeout:"),
    ];
    for (op, body, field) in cases {
        let (s, v) = git(&api, &id, op, body.clone()).await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::UNPROCESSABLE_ENTITY, "validation_error"),
            "{op} {body}: {v}"
        );
        let message = v["error"]["message"].as_str().unwrap();
        assert!(message.starts_with(field), "{op} {body}: {message}");
    }
}

#[tokio::test]
async fn paths_and_revisions_are_given_after_and_before_the_double_dash() {
    let api = api();
    let id = machine(&api).await;
    let body = json!({"revision": "HEAD~1", "paths": ["-rf", "a b"], "staged": true});
    let (s, v) = git(&api, &id, "diff", body).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v["diff"],
        "git diff --no-color --no-ext-diff --cached HEAD~1 -- -rf a b"
    );
}

#[tokio::test]
async fn bodies_are_typed_and_machines_are_looked_up_first() {
    let api = api();
    let (s, v) = git(&api, "sb_missing", "checkout", json!({"branch": "-f"})).await;
    assert_eq!((s, code(&v)), (StatusCode::NOT_FOUND, "not_found"), "{v}");
    let id = machine(&api).await;
    let (s, v) = git(&api, &id, "status", json!({"pth": "/w"})).await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_error"),
        "{v}"
    );
    assert!(
        v["error"]["message"].as_str().unwrap().contains("pth"),
        "{v}"
    );
    let (s, v) = git(&api, &id, "clone", json!({})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (s, v) = api
        .send(
            Method::POST,
            &format!("/v1/machines/{id}/git/status"),
            Some(&api.key),
            None,
            false,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "an empty body is all defaults: {v}");
    assert_eq!(v["clean"], true);
    let (s, v) = api
        .send(
            Method::GET,
            &format!("/v1/machines/{id}/git/status"),
            Some(&api.key),
            None,
            false,
        )
        .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
    );
}
