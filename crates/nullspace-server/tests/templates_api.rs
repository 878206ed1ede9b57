//! Template builds over the do-nothing node: steps, the step cache, start and
//! ready commands, versions and tags, machines from built templates, contexts,
//! deletion rules and every kind of bad input.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, StatusCode};
use common::{api_over_shared, code, Api};
use nullspace_server::node::FakeNode;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// Start a build (must answer 202) and wait for its end; answers the build with
/// every log entry.
async fn build(api: &Api, body: Value) -> Value {
    let (s, b) = api
        .call(Method::POST, "/v1/templates/builds", Some(body))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    assert!(b["id"].as_str().unwrap().starts_with("tb_"), "{b}");
    wait(api, b["id"].as_str().unwrap()).await
}

async fn wait(api: &Api, id: &str) -> Value {
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

fn steps(last: &str) -> Value {
    json!([
        {"kind": "env", "envs": {"STAGE": "build"}},
        {"kind": "run", "cmd": "echo one"},
        {"kind": "workdir", "path": "/srv/app"},
        {"kind": "run", "cmd": last, "user": "root"}
    ])
}

#[tokio::test]
async fn builds_run_their_steps_cache_them_and_make_versions_machines_start_from() {
    let node = Arc::new(FakeNode::default());
    let api = api_over_shared(node.clone(), 10_000.0);
    let b = build(
        &api,
        json!({
            "name": "web:stable",
            "steps": steps("echo two"),
            "start_cmd": "sleep 1000",
            "ready_cmd": "true",
            "runtime_envs": {"HELLO": "world"}
        }),
    )
    .await;
    assert_eq!(b["status"], "ready", "{b}");
    assert_eq!(b["steps_total"], 4);
    assert_eq!(b["steps_done"], 4);
    assert_eq!(b["steps_cached"], 0);
    assert_eq!(b["tags"], json!(["latest", "stable"]));
    assert!(b["error"].is_null());
    let logs = messages(&b);
    for want in [
        "step 2/4 run: echo one",
        "echo one",
        "step 4/4 run as root: echo two",
        "start: sleep 1000",
        "ready after 1 tries",
    ] {
        assert!(logs.iter().any(|l| l == want), "{want:?} not in {logs:?}");
    }
    // Offsets are consecutive from 0, and a later offset answers the rest.
    let offsets: Vec<u64> = b["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["offset"].as_u64().unwrap())
        .collect();
    assert_eq!(offsets, (0..offsets.len() as u64).collect::<Vec<_>>());
    let (_, tail) = api
        .call(
            Method::GET,
            &format!(
                "/v1/templates/builds/{}?logs_offset=2",
                b["id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(tail["logs"][0]["offset"], 2);
    assert_eq!(tail["logs_next_offset"], b["logs_next_offset"]);
    // No build machine is left.
    assert_eq!(node.machine_count(), 0);

    let (s, list) = api.call(Method::GET, "/v1/templates", None).await;
    assert_eq!(s, StatusCode::OK);
    let names: Vec<&str> = list["templates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["base", "web"]);
    let (_, t) = api
        .call(Method::GET, "/v1/templates/web:stable", None)
        .await;
    assert_eq!(t["builtin"], false);
    assert_eq!(t["cwd"], "/srv/app");
    assert_eq!(t["envs"], json!({"HELLO": "world"}));
    assert_eq!(t["start_cmd"], "sleep 1000");
    let tags: Vec<&str> = t["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["tag"].as_str().unwrap())
        .collect();
    assert_eq!(tags, ["latest", "stable"]);
    let (s, base) = api.call(Method::GET, "/v1/templates/base", None).await;
    assert_eq!(
        (s, base["builtin"].clone(), base["id"].clone()),
        (StatusCode::OK, json!(true), Value::Null)
    );

    // A machine from the version restores its saved state, in its workdir.
    let m = api.create(json!({"template": "web:stable"})).await;
    assert_eq!(m["template"], "web:stable");
    assert_eq!(m["cwd"], "/srv/app");
    assert!(m["snapshot_id"].as_str().unwrap().starts_with("snap_"));
    let mid = m["id"].as_str().unwrap().to_owned();
    let (s, out) = api
        .call(
            Method::POST,
            &format!("/v1/machines/{mid}/commands"),
            Some(json!({"command": "echo $HELLO"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{out}");
    // The id and the plain name (latest) name the same version.
    let by_id = api.create(json!({"template": t["id"]})).await;
    assert_eq!(by_id["snapshot_id"], m["snapshot_id"]);

    // A changed last step reruns only that step.
    let again = build(&api, json!({"name": "web", "steps": steps("echo three"), "start_cmd": "sleep 1000", "ready_cmd": "true"})).await;
    assert_eq!(again["status"], "ready", "{again}");
    assert_eq!(again["steps_cached"], 2, "{again}");
    let logs = messages(&again);
    assert!(
        logs.iter().any(|l| l == "step 2/4 run: echo one (cached)"),
        "{logs:?}"
    );
    assert!(
        !logs.iter().any(|l| l == "echo one"),
        "a cached step does not run: {logs:?}"
    );
    assert!(logs.iter().any(|l| l == "echo three"), "{logs:?}");
    // latest moved, stable stayed.
    let (_, t2) = api.call(Method::GET, "/v1/templates/web/tags", None).await;
    let of = |tag: &str| {
        t2["tags"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["tag"] == tag)
            .unwrap()["build_id"]
            .clone()
    };
    assert_eq!(of("latest"), again["id"]);
    assert_eq!(of("stable"), b["id"]);
    // skip_cache reruns everything.
    let fresh = build(
        &api,
        json!({"name": "web", "steps": steps("echo three"), "skip_cache": true}),
    )
    .await;
    assert_eq!(fresh["steps_cached"], 0, "{fresh}");
    // Nothing changed: every step is cached and, without a start command, that state is the version.
    let cached = build(&api, json!({"name": "web", "steps": steps("echo three")})).await;
    assert_eq!(cached["steps_cached"], 4, "{cached}");
    assert_eq!(
        node.machine_count(),
        2,
        "only the two machines made above run"
    );

    // In use: refused, naming the machines; then deleted with every version.
    let (s, e) = api.call(Method::DELETE, "/v1/templates/web", None).await;
    assert_eq!(
        (s, code(&e)),
        (StatusCode::CONFLICT, "template_in_use"),
        "{e}"
    );
    assert!(e["error"]["message"].as_str().unwrap().contains(&mid));
    for id in [&mid, by_id["id"].as_str().unwrap()] {
        let (s, _) = api
            .call(Method::DELETE, &format!("/v1/machines/{id}"), None)
            .await;
        assert_eq!(s, StatusCode::OK);
    }
    let (s, e) = api.call(Method::DELETE, "/v1/templates/web", None).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{e}");
    let (s, e) = api.call(Method::GET, "/v1/templates/web", None).await;
    assert_eq!((s, code(&e)), (StatusCode::NOT_FOUND, "template_not_found"));
    let (s, e) = api
        .call(
            Method::POST,
            "/v1/machines",
            Some(json!({"template": "web:stable"})),
        )
        .await;
    assert_eq!((s, code(&e)), (StatusCode::NOT_FOUND, "template_not_found"));
    // The cached steps go with a prune; then the node keeps nothing.
    let (s, p) = api.call(Method::DELETE, "/v1/templates/cache", None).await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert!(p["deleted"].as_u64().unwrap() >= 2, "{p}");
    assert_eq!(node.snapshot_count(), 0);
}

#[tokio::test]
async fn failures_say_which_step_and_leave_nothing_running() {
    let node = Arc::new(FakeNode::default());
    let api = api_over_shared(node.clone(), 10_000.0);
    let b = build(&api, json!({"name": "bad", "steps": [{"kind": "run", "cmd": "echo ok"}, {"kind": "run", "cmd": "exit 3"}]})).await;
    assert_eq!(b["status"], "error");
    assert_eq!(b["error"]["code"], "step_failed", "{b}");
    assert_eq!(b["error"]["step"], 2);
    assert_eq!(b["error"]["exit_code"], 3);
    assert_eq!(b["error"]["last_lines"], json!(["exit 3"]));
    assert!(
        messages(&b)
            .iter()
            .any(|l| l == "build failed: step 2 exited 3"),
        "{b}"
    );
    assert_eq!(node.machine_count(), 0);
    // No version: the name resolves to nothing, but the template is listed.
    let (s, e) = api
        .call(
            Method::POST,
            "/v1/machines",
            Some(json!({"template": "bad"})),
        )
        .await;
    assert_eq!(
        (s, code(&e)),
        (StatusCode::NOT_FOUND, "template_not_found"),
        "{e}"
    );
    // The step that worked is cached for the next try.
    let fixed = build(&api, json!({"name": "bad", "steps": [{"kind": "run", "cmd": "echo ok"}, {"kind": "run", "cmd": "echo fixed"}]})).await;
    assert_eq!(
        (fixed["status"].clone(), fixed["steps_cached"].clone()),
        (json!("ready"), json!(1)),
        "{fixed}"
    );

    // A ready command that never succeeds times the build out.
    let b = build(&api, json!({"name": "slow", "start_cmd": "sleep 1000", "ready_cmd": "exit 1", "ready_timeout_secs": 1})).await;
    assert_eq!(b["error"]["code"], "ready_timeout", "{b}");
    // A start command that ends is a failure too.
    let b = build(&api, json!({"name": "quits", "start_cmd": "exit 4"})).await;
    assert_eq!(
        (b["error"]["code"].clone(), b["error"]["exit_code"].clone()),
        (json!("start_failed"), json!(4)),
        "{b}"
    );
    assert_eq!(node.machine_count(), 0);

    // A build from a built template layers on its version.
    let child = build(&api, json!({"name": "child", "from_template": "bad", "steps": [{"kind": "run", "cmd": "echo more"}]})).await;
    assert_eq!(child["status"], "ready", "{child}");
    let (s, e) = api.call(Method::DELETE, "/v1/templates/bad", None).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{e}");
    // The child's own state does not depend on the deleted parent.
    let m = api.create(json!({"template": "child"})).await;
    assert_eq!(m["state"], "running");
}

#[tokio::test]
async fn contexts_are_kept_by_hash_and_copied_in() {
    let node = Arc::new(FakeNode::default());
    let api = api_over_shared(node.clone(), 10_000.0);
    let mut tar = tar::Builder::new(Vec::new());
    let data = b"print('hi')\n";
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    tar.append_data(&mut h, "app.py", &data[..]).unwrap();
    let tar = tar.into_inner().unwrap();
    let sha = hex::encode(Sha256::digest(&tar));
    let wrong = hex::encode(Sha256::digest(b"other"));
    let (s, _, e) = api
        .raw(
            Method::PUT,
            &format!("/v1/templates/contexts/{wrong}"),
            Body::from(tar.clone()),
            &[],
        )
        .await;
    assert_eq!(
        (s, code(&e)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_error"),
        "{e}"
    );
    let (s, _, e) = api
        .raw(
            Method::PUT,
            "/v1/templates/contexts/NOTHEX",
            Body::from(tar.clone()),
            &[],
        )
        .await;
    assert_eq!(
        (s, code(&e)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_error")
    );
    let copy =
        json!({"name": "app", "steps": [{"kind": "copy", "context": sha, "dest": "/srv/app"}]});
    let (s, e) = api
        .call(Method::POST, "/v1/templates/builds", Some(copy.clone()))
        .await;
    assert_eq!(
        (s, code(&e)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_error"),
        "not uploaded yet: {e}"
    );
    let (s, _, e) = api
        .raw(
            Method::PUT,
            &format!("/v1/templates/contexts/{sha}"),
            Body::from(tar),
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{e}");
    let b = build(&api, copy).await;
    assert_eq!(b["status"], "ready", "{b}");
    let m = api.create(json!({"template": "app"})).await;
    let (s, body) = api
        .read_some(
            &format!(
                "/v1/machines/{}/files?path=/srv/app/app.py",
                m["id"].as_str().unwrap()
            ),
            1 << 20,
        )
        .await;
    assert_eq!((s, body.as_slice()), (StatusCode::OK, &data[..]));
}

#[tokio::test]
async fn tags_move_and_are_removed() {
    let api = api_over_shared(Arc::new(FakeNode::default()), 10_000.0);
    let one = build(&api, json!({"name": "t"})).await;
    let two = build(&api, json!({"name": "t"})).await;
    let (s, v) = api
        .call(
            Method::POST,
            "/v1/templates/t/tags",
            Some(json!({"tags": ["prod", "v1"], "target": one["id"]})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (_, list) = api.call(Method::GET, "/v1/templates/t/tags", None).await;
    assert_eq!(
        list["tags"],
        json!([
            {"tag": "latest", "build_id": two["id"]},
            {"tag": "prod", "build_id": one["id"]},
            {"tag": "v1", "build_id": one["id"]}
        ])
    );
    // A tag as target, and the default (latest).
    let (s, _) = api
        .call(
            Method::POST,
            "/v1/templates/t/tags",
            Some(json!({"tags": ["v2"], "target": "prod"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let full = json!({"tags": ["v3"], "target": "t:prod"});
    let (s, v) = api
        .call(Method::POST, "/v1/templates/t/tags", Some(full))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let other = json!({"tags": ["v3"], "target": "other:prod"});
    let (s, e) = api
        .call(Method::POST, "/v1/templates/t/tags", Some(other))
        .await;
    assert_eq!(
        (s, code(&e)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_error"),
        "{e}"
    );
    let (s, _) = api
        .call(
            Method::POST,
            "/v1/templates/t/tags",
            Some(json!({"tags": ["prod"]})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (_, t) = api.call(Method::GET, "/v1/templates/t:prod", None).await;
    assert_eq!(t["name"], "t");
    let (s, e) = api
        .call(Method::DELETE, "/v1/templates/t/tags/latest", None)
        .await;
    assert_eq!(
        (s, code(&e)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_error")
    );
    let (s, _) = api
        .call(Method::DELETE, "/v1/templates/t/tags/v1", None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, e) = api
        .call(Method::DELETE, "/v1/templates/t/tags/v1", None)
        .await;
    assert_eq!((s, code(&e)), (StatusCode::NOT_FOUND, "template_not_found"));
    let (s, e) = api.call(Method::GET, "/v1/templates/t:v1", None).await;
    assert_eq!((s, code(&e)), (StatusCode::NOT_FOUND, "template_not_found"));
    let (s, e) = api
        .call(
            Method::POST,
            "/v1/templates/t/tags",
            Some(json!({"tags": ["x"], "target": "tb_nope"})),
        )
        .await;
    assert_eq!((s, code(&e)), (StatusCode::NOT_FOUND, "build_not_found"));
    let (s, e) = api.call(Method::DELETE, "/v1/templates/t:prod", None).await;
    assert_eq!(
        (s, code(&e)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_error"),
        "delete takes no tag: {e}"
    );
}

#[tokio::test]
async fn bad_builds_are_refused_before_anything_runs() {
    let node = Arc::new(FakeNode::default());
    let api = api_over_shared(node.clone(), 10_000.0);
    let cases = [
        (json!({"name": "Web"}), 422, "validation_error", "name"),
        (json!({"name": "web:"}), 422, "validation_error", "name"),
        (json!({"name": "base"}), 409, "conflict", "built in"),
        (
            json!({"name": "cache"}),
            422,
            "validation_error",
            "reserved",
        ),
        (
            json!({"name": "w", "from_template": "nope"}),
            404,
            "template_not_found",
            "nope",
        ),
        (
            json!({"name": "w", "cpu_count": 4}),
            409,
            "conflict",
            "cpu_count",
        ),
        (
            json!({"name": "w", "memory_mb": 4096}),
            409,
            "conflict",
            "memory_mb",
        ),
        (
            json!({"name": "w", "steps": [{"kind": "run", "cmd": "  "}]}),
            422,
            "validation_error",
            "steps[0]",
        ),
        (
            json!({"name": "w", "steps": [{"kind": "run", "cmd": "x", "user": "a b"}]}),
            422,
            "validation_error",
            "steps[0]",
        ),
        (
            json!({"name": "w", "steps": [{"kind": "workdir", "path": "rel"}]}),
            422,
            "validation_error",
            "steps[0]",
        ),
        (
            json!({"name": "w", "steps": [{"kind": "nope"}]}),
            422,
            "validation_error",
            "nope",
        ),
        (
            json!({"name": "w", "steps": [{"kind": "copy", "context": "ab", "dest": "/x"}]}),
            422,
            "validation_error",
            "SHA-256",
        ),
        (
            json!({"name": "w", "ready_timeout_secs": 0}),
            422,
            "validation_error",
            "ready_timeout_secs",
        ),
        (
            json!({"name": "w", "step_timeout_secs": 86401}),
            422,
            "validation_error",
            "step_timeout_secs",
        ),
        (
            json!({"name": "w", "start_cmd": ""}),
            422,
            "validation_error",
            "start_cmd",
        ),
        (
            json!({"name": "w", "tags": ["ok", "-bad"]}),
            422,
            "validation_error",
            "tags",
        ),
        (
            json!({"name": "w", "runtime_envs": {"A=B": "x"}}),
            422,
            "validation_error",
            "runtime_envs",
        ),
        (
            json!({"name": "w", "extra": 1}),
            422,
            "validation_error",
            "extra",
        ),
    ];
    for (body, status, want, needle) in cases {
        let (s, e) = api
            .call(Method::POST, "/v1/templates/builds", Some(body.clone()))
            .await;
        assert_eq!((s.as_u16(), code(&e)), (status, want), "{body}: {e}");
        assert!(
            e["error"]["message"].as_str().unwrap().contains(needle),
            "{body}: {e}"
        );
    }
    let (s, list) = api.call(Method::GET, "/v1/templates", None).await;
    assert_eq!(
        (s, list["templates"].as_array().unwrap().len()),
        (StatusCode::OK, 1),
        "only base: {list}"
    );
    assert_eq!(node.machine_count(), 0);
    // Unknown and malformed builds; another tenant's.
    let (s, e) = api
        .call(Method::GET, "/v1/templates/builds/tb_nope", None)
        .await;
    assert_eq!((s, code(&e)), (StatusCode::NOT_FOUND, "build_not_found"));
    let (s, e) = api.call(Method::GET, "/v1/templates/builds/x1", None).await;
    assert_eq!(
        (s, code(&e)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_error")
    );
    let b = build(&api, json!({"name": "mine"})).await;
    let id = b["id"].as_str().unwrap();
    let (s, _) = api
        .send(
            Method::GET,
            &format!("/v1/templates/builds/{id}"),
            Some(&api.other_key),
            None,
            false,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = api
        .send(
            Method::GET,
            "/v1/templates/mine",
            Some(&api.other_key),
            None,
            false,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, e) = api
        .call(
            Method::GET,
            &format!("/v1/templates/builds/{id}?logs_offset=-1"),
            None,
        )
        .await;
    assert_eq!(
        (s, code(&e)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_error")
    );
    let (s, e) = api
        .call(
            Method::GET,
            &format!("/v1/templates/builds/{id}/logs?limit=0"),
            None,
        )
        .await;
    assert_eq!(
        (s, code(&e)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_error")
    );
    let (s, logs) = api
        .call(
            Method::GET,
            &format!("/v1/templates/builds/{id}/logs?offset=1&limit=1"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{logs}");
    assert_eq!(logs["logs"].as_array().unwrap().len(), 1);
    assert_eq!(
        (logs["next_offset"].clone(), logs["done"].clone()),
        (json!(2), json!(false))
    );
    let (_, all) = api
        .call(
            Method::GET,
            &format!("/v1/templates/builds/{id}/logs"),
            None,
        )
        .await;
    assert_eq!(all["done"], true);
    let (s, e) = api.call(Method::DELETE, "/v1/templates/base", None).await;
    assert_eq!((s, code(&e)), (StatusCode::CONFLICT, "conflict"));
}
