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

// -- the log stream ----------------------------------------------------------------

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The app on a loopback port: its `ws://` base.
async fn serve(api: &Api) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = api.app.clone();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("ws://{addr}")
}

/// Upgrade `path` with `key`; a refused upgrade is its status and JSON body.
async fn open_ws(base: &str, path: &str, key: Option<&str>) -> Result<Socket, (u16, Value)> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = format!("{base}{path}").into_client_request().unwrap();
    if let Some(k) = key {
        req.headers_mut()
            .insert("authorization", format!("Bearer {k}").parse().unwrap());
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            let body = resp.body().clone().unwrap_or_default();
            let v = serde_json::from_slice(&body).unwrap_or(Value::Null);
            Err((resp.status().as_u16(), v))
        }
        Err(e) => panic!("{e}"),
    }
}

/// The next text message as JSON, or the close code once the server closed.
async fn next_msg(ws: &mut Socket) -> Result<Value, Option<u16>> {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(20), ws.next())
            .await
            .expect("a message within 20 s");
        match msg {
            Some(Ok(Message::Text(t))) => return Ok(serde_json::from_str(t.as_str()).unwrap()),
            Some(Ok(Message::Close(frame))) => return Err(frame.map(|f| u16::from(f.code))),
            Some(Ok(_)) => continue,
            None | Some(Err(_)) => return Err(None),
        }
    }
}

/// Every message until the close, and the close code.
async fn read_to_close(ws: &mut Socket) -> (Vec<Value>, Option<u16>) {
    let mut got = Vec::new();
    loop {
        match next_msg(ws).await {
            Ok(v) => got.push(v),
            Err(code) => return (got, code),
        }
    }
}

/// Every entry of a build's log, over the polled route.
async fn all_logs(api: &Api, id: &str) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        let (s, page) = api
            .call(
                Method::GET,
                &format!("/v1/templates/builds/{id}/logs?offset={}", out.len()),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{page}");
        let logs = page["logs"].as_array().unwrap();
        if logs.is_empty() {
            return out;
        }
        out.extend(logs.iter().cloned());
    }
}

/// A log message of the stream as the entry the polled route answers.
fn as_entry(msg: &Value) -> Value {
    assert_eq!(msg["type"], "log", "{msg}");
    let mut e = msg.clone();
    e.as_object_mut().unwrap().remove("type");
    e
}

#[tokio::test]
async fn a_running_build_streams_every_entry_in_order_as_it_is_written_then_done() {
    let api = api_over_shared(Arc::new(FakeNode::default()), 10_000.0);
    let base = serve(&api).await;
    // Enough steps for more than one page of the store; then a ready command that
    // never succeeds keeps the build running for a second before it fails.
    let steps: Vec<Value> = (0..150)
        .map(|i| json!({"kind": "run", "cmd": format!("echo {i}")}))
        .collect();
    let body = json!({
        "name": "live", "steps": steps,
        "start_cmd": "sleep 1000", "ready_cmd": "exit 1", "ready_timeout_secs": 1
    });
    let (s, b) = api
        .call(Method::POST, "/v1/templates/builds", Some(body))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    let id = b["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/templates/builds/{id}/logs/stream");
    let mut ws = open_ws(&base, &path, Some(&api.key)).await.unwrap();
    let mut got = Vec::new();
    loop {
        let msg = next_msg(&mut ws).await.expect("a message before the close");
        if msg["type"] != "log" {
            got.push(msg);
            break;
        }
        let waiting = msg["message"] == "waiting for: exit 1";
        got.push(msg);
        if waiting {
            // Sent as it was written: the build still runs.
            let (_, now) = api
                .call(Method::GET, &format!("/v1/templates/builds/{id}"), None)
                .await;
            assert_eq!(now["status"], "building", "{now}");
        }
    }
    let (rest, close) = read_to_close(&mut ws).await;
    assert!(rest.is_empty(), "nothing after done: {rest:?}");
    assert_eq!(close, Some(1000));
    let done = got.pop().unwrap();
    assert_eq!(done["type"], "done", "{done}");
    assert_eq!(done["status"], "error");
    assert_eq!(done["error"]["code"], "ready_timeout", "{done}");
    assert!(
        got.iter().any(|m| m["message"] == "waiting for: exit 1"),
        "{got:?}"
    );
    // Every entry once, in order, none missing: the same as the polled log.
    let offsets: Vec<u64> = got.iter().map(|m| m["offset"].as_u64().unwrap()).collect();
    assert_eq!(offsets, (0..got.len() as u64).collect::<Vec<_>>());
    assert!(got.len() > 300, "more than a page: {}", got.len());
    let streamed: Vec<Value> = got.iter().map(as_entry).collect();
    assert_eq!(streamed, all_logs(&api, &id).await);
    // The build's writer is gone, and with it its feed.
    assert_eq!(api.state.build_logs.open_count(), 0);
}

#[tokio::test]
async fn an_ended_build_streams_from_an_offset_then_done_at_once() {
    let api = api_over_shared(Arc::new(FakeNode::default()), 10_000.0);
    let base = serve(&api).await;
    let b = build(&api, json!({"name": "done", "steps": steps("echo two")})).await;
    assert_eq!(b["status"], "ready", "{b}");
    let id = b["id"].as_str().unwrap();
    let all = all_logs(&api, id).await;
    assert!(all.len() > 5, "{all:?}");

    let path = format!("/v1/templates/builds/{id}/logs/stream?offset=3");
    let mut ws = open_ws(&base, &path, Some(&api.key)).await.unwrap();
    let (mut got, close) = read_to_close(&mut ws).await;
    assert_eq!(close, Some(1000));
    assert_eq!(
        got.pop().unwrap(),
        json!({"type": "done", "status": "ready", "error": null})
    );
    let streamed: Vec<Value> = got.iter().map(as_entry).collect();
    assert_eq!(streamed, all[3..]);

    // From the start without an offset; past the end only `done`.
    let path = format!("/v1/templates/builds/{id}/logs/stream");
    let mut ws = open_ws(&base, &path, Some(&api.key)).await.unwrap();
    let (got, _) = read_to_close(&mut ws).await;
    assert_eq!(got.len(), all.len() + 1);
    assert_eq!(as_entry(&got[0]), all[0]);
    let path = format!("/v1/templates/builds/{id}/logs/stream?offset=100000");
    let mut ws = open_ws(&base, &path, Some(&api.key)).await.unwrap();
    let (got, close) = read_to_close(&mut ws).await;
    assert_eq!((got.len(), got[0]["type"].clone()), (1, json!("done")));
    assert_eq!(close, Some(1000));

    // A failed build's done carries its error.
    let bad = build(
        &api,
        json!({"name": "bad", "steps": [{"kind": "run", "cmd": "exit 3"}]}),
    )
    .await;
    let path = format!(
        "/v1/templates/builds/{}/logs/stream",
        bad["id"].as_str().unwrap()
    );
    let mut ws = open_ws(&base, &path, Some(&api.key)).await.unwrap();
    let (got, _) = read_to_close(&mut ws).await;
    let done = got.last().unwrap();
    assert_eq!(done["status"], "error");
    assert_eq!(done["error"], bad["error"]);
}

#[tokio::test]
async fn the_log_stream_refuses_before_the_upgrade() {
    let api = api_over_shared(Arc::new(FakeNode::default()), 10_000.0);
    let base = serve(&api).await;
    let b = build(&api, json!({"name": "mine"})).await;
    let id = b["id"].as_str().unwrap();
    let stream = format!("/v1/templates/builds/{id}/logs/stream");
    let err = |e: (u16, Value)| (e.0, e.1["error"]["code"].as_str().unwrap_or("").to_owned());

    let unknown = "/v1/templates/builds/tb_nope/logs/stream";
    let e = open_ws(&base, unknown, Some(&api.key)).await.err().unwrap();
    assert_eq!(err(e), (404, "build_not_found".into()));
    // Another tenant's build does not exist for this key.
    let e = open_ws(&base, &stream, Some(&api.other_key))
        .await
        .err()
        .unwrap();
    assert_eq!(err(e), (404, "build_not_found".into()));
    let e = open_ws(&base, &stream, None).await.err().unwrap();
    assert_eq!(err(e), (401, "unauthorized".into()));
    let bad_id = "/v1/templates/builds/x1/logs/stream";
    let e = open_ws(&base, bad_id, Some(&api.key)).await.err().unwrap();
    assert_eq!(err(e), (422, "validation_error".into()));
    for query in ["offset=-1", "offset=x", "from=1"] {
        let e = open_ws(&base, &format!("{stream}?{query}"), Some(&api.key))
            .await
            .err()
            .unwrap();
        assert_eq!(err(e), (422, "validation_error".into()), "{query}");
    }
    // Not an upgrade.
    let (s, e) = api.call(Method::GET, &stream, None).await;
    assert_eq!(
        (s, code(&e)),
        (StatusCode::BAD_REQUEST, "bad_request"),
        "{e}"
    );
}
