//! Template builds on real machines: a builder with steps, a copied context, and a
//! start command serving HTTP with a port readiness probe; a machine created from
//! it answers on that port at once. A changed last step reruns only that step, a
//! failing step and a probe that never succeeds fail cleanly, and deleting a
//! template in use is refused. Everything the test made is deleted at its end.

mod support;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use support::{call, temp_state, Server};

struct Builds<'a> {
    server: &'a Server,
    key: String,
}

impl Builds<'_> {
    fn url(&self, path: &str) -> String {
        format!("{}/v1{path}", self.server.url)
    }

    /// Start a build and wait for its end (at most 10 minutes under emulation).
    fn build(&self, body: Value) -> Value {
        let (s, b) = call(
            "POST",
            &self.url("/templates/builds"),
            &self.key,
            Some(body),
        );
        assert_eq!(s, 202, "{b}");
        let id = b["id"].as_str().unwrap().to_owned();
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            let (s, b) = call(
                "GET",
                &self.url(&format!("/templates/builds/{id}")),
                &self.key,
                None,
            );
            assert_eq!(s, 200, "{b}");
            if b["status"] == "ready" || b["status"] == "error" {
                return b;
            }
            assert!(Instant::now() < deadline, "build {id} did not end: {b}");
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    fn exec(&self, id: &str, cmd: &str) -> Value {
        let (s, r) = call(
            "POST",
            &self.url(&format!("/machines/{id}/commands")),
            &self.key,
            Some(json!({"command": cmd, "timeout": 60})),
        );
        assert_eq!(s, 200, "{cmd}: {r}");
        r
    }

    fn kill(&self, id: &str) {
        let (s, r) = call(
            "DELETE",
            &self.url(&format!("/machines/{id}")),
            &self.key,
            None,
        );
        assert_eq!(s, 200, "{r}");
    }
}

fn messages(b: &Value) -> Vec<String> {
    b["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap().to_owned())
        .collect()
}

/// A context: a tar holding `site/index.html`.
fn context() -> (Vec<u8>, String) {
    let mut tar = tar::Builder::new(Vec::new());
    let page = b"hello from a template\n";
    let mut h = tar::Header::new_gnu();
    h.set_size(page.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    tar.append_data(&mut h, "index.html", &page[..]).unwrap();
    let tar = tar.into_inner().unwrap();
    let sha = hex::encode(Sha256::digest(&tar));
    (tar, sha)
}

fn steps(sha: &str, last: &str) -> Value {
    json!([
        {"kind": "run", "cmd": "echo built > /tmp/built.txt && whoami > /tmp/who.txt", "user": "root"},
        {"kind": "workdir", "path": "/srv/site"},
        {"kind": "env", "envs": {"GREETING": "hi"}},
        {"kind": "copy", "context": sha, "dest": "/srv/site"},
        {"kind": "run", "cmd": last}
    ])
}

#[test]
fn built_templates_start_machines_with_their_service_running() {
    if support::skip("template build end-to-end test") {
        return;
    }
    let state = temp_state("templates");
    let server = Server::start(&state, None);
    let b = Builds {
        key: server.key("templates"),
        server: &server,
    };
    let name = format!("e2e-site-{}", std::process::id());
    let (tar, sha) = context();
    let (s, r) = support::put_bytes(&b.url(&format!("/templates/contexts/{sha}")), &b.key, tar);
    assert_eq!(s, 204, "{r}");
    let serve = json!({
        "name": format!("{name}:v1"),
        "steps": steps(&sha, "echo \"$GREETING from $(pwd)\" > step.txt"),
        "start_cmd": "python3 -m http.server 8000",
        "ready_cmd": "ss -ltn | grep -q ':8000 '",
        "runtime_envs": {"MODE": "served"}
    });
    let built = b.build(serve.clone());
    assert_eq!(built["status"], "ready", "{built}");
    assert_eq!(built["steps_cached"], 0);
    let logs = messages(&built);
    assert!(
        logs.iter().any(|l| l.starts_with("ready after")),
        "{logs:?}"
    );

    // A machine from the template: the server is already listening.
    let (s, m) = call(
        "POST",
        &b.url("/machines"),
        &b.key,
        Some(json!({"template": format!("{name}:v1")})),
    );
    assert_eq!(s, 201, "{m}");
    let id = m["id"].as_str().unwrap().to_owned();
    assert_eq!(m["cwd"], "/srv/site");
    let r = b.exec(&id, "curl -sf http://127.0.0.1:8000/index.html");
    assert_eq!(r["exit_code"], 0, "{r}");
    assert_eq!(r["stdout"], "hello from a template\n");
    let r = b.exec(
        &id,
        "cat /tmp/built.txt /tmp/who.txt step.txt; echo $MODE; stat -c %U index.html",
    );
    assert_eq!(
        r["stdout"], "built\nroot\nhi from /srv/site\nserved\nuser\n",
        "{r}"
    );

    // A changed last step reruns only it.
    let mut changed = serve.clone();
    changed["name"] = json!(name);
    changed["steps"] = steps(&sha, "echo changed > step.txt");
    let again = b.build(changed);
    assert_eq!(again["status"], "ready", "{again}");
    assert_eq!(again["steps_cached"], 4, "{again}");
    let (s, m2) = call(
        "POST",
        &b.url("/machines"),
        &b.key,
        Some(json!({"template": name})),
    );
    assert_eq!(s, 201, "{m2}");
    let id2 = m2["id"].as_str().unwrap().to_owned();
    let r = b.exec(
        &id2,
        "cat step.txt; curl -sf -o /dev/null -w '%{http_code}' http://127.0.0.1:8000/",
    );
    assert_eq!(r["stdout"], "changed\n200", "{r}");

    // A failing step says which and how; a probe that never succeeds times out.
    let failed = b.build(json!({"name": format!("{name}-bad"), "steps": [{"kind": "run", "cmd": "echo about to fail; exit 7"}]}));
    assert_eq!(failed["error"]["code"], "step_failed", "{failed}");
    assert_eq!(failed["error"]["step"], 1);
    assert_eq!(failed["error"]["exit_code"], 7);
    assert_eq!(failed["error"]["last_lines"], json!(["about to fail"]));
    let slow = b.build(json!({"name": format!("{name}-slow"), "ready_cmd": "test -e /nonexistent", "ready_timeout_secs": 3}));
    assert_eq!(slow["error"]["code"], "ready_timeout", "{slow}");

    // In use: refused; then everything goes.
    let (s, e) = call(
        "DELETE",
        &b.url(&format!("/templates/{name}")),
        &b.key,
        None,
    );
    assert_eq!(
        (s, e["error"]["code"].clone()),
        (409, json!("template_in_use")),
        "{e}"
    );
    b.kill(&id);
    b.kill(&id2);
    for t in [name.clone(), format!("{name}-bad"), format!("{name}-slow")] {
        let (s, e) = call("DELETE", &b.url(&format!("/templates/{t}")), &b.key, None);
        assert_eq!(s, 204, "{t}: {e}");
    }
    let (s, p) = call("DELETE", &b.url("/templates/cache"), &b.key, None);
    assert_eq!(s, 200, "{p}");
    assert!(p["deleted"].as_u64().unwrap() >= 2, "{p}");
}
