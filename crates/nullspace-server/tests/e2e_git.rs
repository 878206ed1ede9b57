//! Git through the API on a real machine, against a git server inside the same
//! machine: a bare repository served over smart HTTP on the guest's loopback by
//! `git-http-backend` behind HTTP Basic auth (no outside address is contacted).
//! Clone with a token (which never lands in `.git/config`), commit, push,
//! status, log, diff, branches, checkout, pull, remotes and config; a wrong token,
//! a missing repository and a rejected push answer their typed codes.

mod support;

use std::time::Instant;

use serde_json::{json, Value};
use support::{call, temp_state, Server};

/// Token the in-machine git server accepts (with user name `agent`).
const TOKEN: &str = "tok-3f9a1c7e5b";
/// Where the in-machine git server listens.
const REMOTE: &str = "http://127.0.0.1:8418/repo.git";

/// A smart-HTTP git server: HTTP Basic auth in front of git-http-backend (CGI).
const SERVER_PY: &str = include_str!("../../../scripts/git_http_server.py");

/// Calls against one machine.
struct M {
    base: String,
    key: String,
}

impl M {
    fn git(&self, op: &str, body: Value) -> (u16, Value) {
        call(
            "POST",
            &format!("{}/git/{op}", self.base),
            &self.key,
            Some(body),
        )
    }

    /// A git call that must succeed.
    fn ok(&self, op: &str, body: Value) -> Value {
        let (s, v) = self.git(op, body);
        assert_eq!(s, 200, "git/{op}: {v}");
        v
    }

    /// A git call that must fail with `code` and `status`.
    fn fails(&self, op: &str, body: Value, status: u16, code: &str) -> String {
        let (s, v) = self.git(op, body);
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (status, Some(code)),
            "git/{op}: {v}"
        );
        v["error"]["message"].as_str().unwrap().to_owned()
    }

    /// Run a shell command (as `user`) that must exit 0; its stdout.
    fn sh(&self, command: &str, stdin: Option<&str>) -> String {
        let mut body = json!({"command": command, "timeout": 120});
        if let Some(s) = stdin {
            body["stdin"] = json!(s);
        }
        let (s, r) = call(
            "POST",
            &format!("{}/commands", self.base),
            &self.key,
            Some(body),
        );
        assert_eq!(
            (s, r["exit_code"].as_i64()),
            (200, Some(0)),
            "{command}: {r}"
        );
        r["stdout"].as_str().unwrap().to_owned()
    }
}

fn auth() -> Value {
    json!({"username": "agent", "password": TOKEN})
}

#[test]
fn git_through_the_api_against_an_in_machine_server() {
    if support::skip("git end-to-end test") {
        return;
    }
    let state = temp_state("git");
    let server = Server::start(&state, None);
    let key = server.key("git");
    let (s, m) = call(
        "POST",
        &format!("{}/v1/machines", server.url),
        &key,
        Some(json!({"timeout": 900})),
    );
    assert_eq!(s, 201, "{m}");
    let id = m["id"].as_str().unwrap().to_owned();
    let m = M {
        base: format!("{}/v1/machines/{id}", server.url),
        key,
    };

    // A bare repository with one commit, served over HTTP on the guest's loopback.
    m.sh(
        "set -e; mkdir -p /tmp/srv /tmp/seed; git init -q --bare -b main /tmp/srv/repo.git; \
         git -C /tmp/srv/repo.git config http.receivepack true; cd /tmp/seed; git init -q -b main; \
         echo hello > README; git add README; \
         git -c user.name=Seed -c user.email=seed@x commit -qm 'first commit'; \
         git push -q /tmp/srv/repo.git main",
        None,
    );
    m.sh("cat > /tmp/srv/server.py", Some(SERVER_PY));
    let (s, p) = call(
        "POST",
        &format!("{}/processes", m.base),
        &m.key,
        Some(
            json!({"args": ["python3", "/tmp/srv/server.py", "/tmp/srv"], "envs": {"GIT_TOKEN": TOKEN}}),
        ),
    );
    assert_eq!(s, 201, "{p}");
    m.sh(
        "for i in $(seq 150); do python3 -c \"import socket; socket.create_connection(('127.0.0.1', 8418))\" 2>/dev/null && exit 0; sleep 0.2; done; exit 1",
        None,
    );

    // Clone with a token: the stored remote and the whole .git hold no trace of it.
    let t0 = Instant::now();
    let a = m.ok(
        "clone",
        json!({"url": REMOTE, "path": "/workspace/a", "auth": auth()}),
    );
    eprintln!("clone took {:?}", t0.elapsed());
    assert_eq!(
        (a["path"].as_str(), a["branch"].as_str()),
        (Some("/workspace/a"), Some("main")),
        "{a}"
    );
    assert_eq!(a["head"].as_str().unwrap().len(), 40, "{a}");
    let config = m.sh("cat /workspace/a/.git/config", None);
    assert!(
        config.contains(REMOTE) && !config.contains(TOKEN),
        "{config}"
    );
    assert_eq!(
        m.sh(
            &format!("grep -rl {TOKEN} /workspace/a/.git ~ || true"),
            None
        ),
        ""
    );

    // Token in the URL instead: used, stripped, not stored; default path from the URL.
    let url = format!("http://agent:{TOKEN}@127.0.0.1:8418/repo.git");
    let b = m.ok("clone", json!({"url": url}));
    assert_eq!(b["path"], "/workspace/repo", "{b}");
    let config = m.sh("cat /workspace/repo/.git/config", None);
    assert!(
        config.contains(REMOTE) && !config.contains(TOKEN),
        "{config}"
    );

    // Change, stage, diff, commit, log, push.
    let pa = json!("/workspace/a");
    m.sh(
        "cd /workspace/a && echo new > notes.txt && echo changed >> README",
        None,
    );
    let st = m.ok("status", json!({"path": pa}));
    assert_eq!(
        (
            st["branch"].as_str(),
            st["upstream"].as_str(),
            st["clean"].as_bool()
        ),
        (Some("main"), Some("origin/main"), Some(false)),
        "{st}"
    );
    let files: Vec<(String, String)> = st["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().into(),
                f["status"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        files,
        [
            ("README".into(), "modified".into()),
            ("notes.txt".into(), "untracked".into())
        ],
        "{st}"
    );
    let diff = m.ok("diff", json!({"path": pa}));
    assert!(
        diff["diff"].as_str().unwrap().contains("+changed"),
        "{diff}"
    );
    let st = m.ok("add", json!({"path": pa}));
    assert!(
        st["files"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["staged"] == true),
        "{st}"
    );
    assert_eq!(m.ok("diff", json!({"path": pa}))["diff"], "");
    let staged = m.ok("diff", json!({"path": pa, "staged": true}));
    assert!(
        staged["diff"].as_str().unwrap().contains("+new"),
        "{staged}"
    );
    let c = m.ok(
        "commit",
        json!({"path": pa, "message": "second commit\n\nwith a body", "author_name": "Ada", "author_email": "ada@example.com"}),
    );
    assert_eq!(
        (c["branch"].as_str(), c["sha"].as_str().map(str::len)),
        (Some("main"), Some(40)),
        "{c}"
    );
    let log = m.ok("log", json!({"path": pa}));
    let commits = log["commits"].as_array().unwrap();
    assert_eq!(commits.len(), 2, "{log}");
    assert_eq!(
        (
            commits[0]["sha"].as_str(),
            commits[0]["author_name"].as_str(),
            commits[0]["author_email"].as_str()
        ),
        (c["sha"].as_str(), Some("Ada"), Some("ada@example.com"))
    );
    assert_eq!(commits[0]["message"], "second commit\n\nwith a body");
    assert_eq!(commits[1]["message"], "first commit");
    assert_eq!(
        m.ok("log", json!({"path": pa, "limit": 1}))["commits"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(m.ok("status", json!({"path": pa}))["ahead"], 1);
    m.fails(
        "commit",
        json!({"path": pa, "message": "again"}),
        409,
        "git_nothing_to_commit",
    );
    // Without credentials the push fails fast instead of waiting for a prompt.
    m.fails("push", json!({"path": pa}), 422, "git_auth_failed");
    m.fails(
        "push",
        json!({"path": pa, "auth": {"username": "agent", "token": "wrong"}}),
        422,
        "git_auth_failed",
    );
    let pushed = m.ok("push", json!({"path": pa, "auth": auth()}));
    assert_eq!(
        (pushed["remote"].as_str(), pushed["branch"].as_str()),
        (Some("origin"), Some("main"))
    );
    let st = m.ok("status", json!({"path": pa}));
    assert_eq!(
        (st["ahead"].as_u64(), st["clean"].as_bool()),
        (Some(0), Some(true)),
        "{st}"
    );

    // The other clone diverges: its push is rejected until it pulls.
    let pb = json!("/workspace/repo");
    m.sh("cd /workspace/repo && echo b > b.txt", None);
    m.ok("add", json!({"path": pb, "paths": ["b.txt"]}));
    m.ok("commit", json!({"path": pb, "message": "from b"}));
    let why = m.fails(
        "push",
        json!({"path": pb, "auth": auth()}),
        409,
        "git_push_rejected",
    );
    assert!(why.contains("rejected"), "{why}");
    let pulled = m.ok("pull", json!({"path": pb, "auth": auth()}));
    assert_eq!(pulled["branch"], "main");
    let log = m.ok("log", json!({"path": pb}));
    assert_eq!(
        log["commits"].as_array().unwrap().len(),
        4,
        "a merge commit on top: {log}"
    );
    m.ok("push", json!({"path": pb, "auth": auth()}));
    let before = m.ok("log", json!({"path": pa, "limit": 1}))["commits"][0]["sha"].clone();
    let now = m.ok(
        "pull",
        json!({"path": pa, "remote": "origin", "branch": "main", "auth": auth()}),
    );
    assert_ne!(now["head"], before);
    assert_eq!(m.sh("cat /workspace/a/b.txt", None), "b\n");

    // Branches and checkout.
    let list = m.ok(
        "branch/create",
        json!({"path": pa, "name": "feature/x", "checkout": true}),
    );
    assert_eq!(list["current"], "feature/x", "{list}");
    let names: Vec<&str> = list["branches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["feature/x", "main"]);
    let list = m.ok("branch/list", json!({"path": pa}));
    assert_eq!(list["branches"][1]["upstream"], "origin/main", "{list}");
    let back = m.ok("checkout", json!({"path": pa, "branch": "main"}));
    assert_eq!(back["branch"], "main");
    m.fails(
        "checkout",
        json!({"path": pa, "branch": "nope"}),
        404,
        "git_ref_not_found",
    );
    m.fails(
        "branch/delete",
        json!({"path": pa, "name": "main"}),
        409,
        "git_conflict",
    );
    let list = m.ok("branch/delete", json!({"path": pa, "name": "feature/x"}));
    assert_eq!(list["branches"].as_array().unwrap().len(), 1);
    m.fails(
        "checkout",
        json!({"path": pa, "branch": "-f"}),
        422,
        "validation_error",
    );
    m.fails(
        "branch/create",
        json!({"path": pa, "name": "--track"}),
        422,
        "validation_error",
    );

    // Remotes and config.
    let r = m.ok(
        "remote/add",
        json!({"path": pa, "name": "mirror", "url": "/tmp/srv/repo.git"}),
    );
    assert_eq!(r["remotes"].as_array().unwrap().len(), 2, "{r}");
    m.fails(
        "remote/add",
        json!({"path": pa, "name": "mirror", "url": "/x"}),
        409,
        "already_exists",
    );
    m.fails(
        "remote/add",
        json!({"path": pa, "name": "leak", "url": url}),
        422,
        "validation_error",
    );
    let r = m.ok(
        "remote/set-url",
        json!({"path": pa, "name": "mirror", "url": "/tmp/elsewhere.git"}),
    );
    assert_eq!(r["remotes"][0]["url"], "/tmp/elsewhere.git", "{r}");
    let r = m.ok("remote/remove", json!({"path": pa, "name": "mirror"}));
    assert_eq!(r["remotes"].as_array().unwrap().len(), 1);
    let v = m.ok(
        "config/set",
        json!({"path": pa, "key": "user.name", "value": "Repo Person"}),
    );
    assert_eq!(
        v,
        json!({"key": "user.name", "value": "Repo Person", "scope": "repository"})
    );
    assert_eq!(
        m.ok("config/get", json!({"path": pa, "key": "user.name"}))["value"],
        "Repo Person"
    );
    assert_eq!(
        m.ok("config/get", json!({"path": pa, "key": "no.such"}))["value"],
        Value::Null
    );
    m.ok(
        "config/set",
        json!({"key": "user.email", "value": "me@example.com", "scope": "global"}),
    );
    assert_eq!(
        m.ok(
            "config/get",
            json!({"key": "user.email", "scope": "global"})
        )["value"],
        "me@example.com"
    );

    // Failures with their codes.
    let bad = json!({"url": REMOTE, "path": "/workspace/bad", "auth": {"username": "agent", "token": "wrong"}});
    m.fails("clone", bad, 422, "git_auth_failed");
    let missing =
        json!({"url": "http://127.0.0.1:8418/nope.git", "path": "/workspace/nope", "auth": auth()});
    m.fails("clone", missing, 404, "git_repository_not_found");
    m.fails(
        "clone",
        json!({"url": REMOTE, "path": "/workspace/a", "auth": auth()}),
        409,
        "already_exists",
    );
    m.fails(
        "status",
        json!({"path": "/tmp"}),
        422,
        "git_not_a_repository",
    );
    m.fails(
        "clone",
        json!({"url": "--upload-pack=touch /tmp/pwned", "path": "/workspace/x"}),
        422,
        "validation_error",
    );
    m.fails("clone", json!({"url": ""}), 422, "validation_error");

    // An SSH key is written for the call only: gone after a failed fetch.
    let key_pem = "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n";
    m.ok(
        "remote/add",
        json!({"path": pa, "name": "ssh", "url": "ssh://git@127.0.0.1:1/x.git"}),
    );
    let (s, v) = m.git(
        "fetch",
        json!({"path": pa, "remote": "ssh", "auth": {"ssh_key": key_pem}, "timeout": 60}),
    );
    assert_ne!(s, 200, "{v}");
    assert_eq!(m.sh("ls -a /tmp | grep nullspace-git || true", None), "");

    // A fresh repository: init, first commit with the default identity.
    let r = m.ok(
        "init",
        json!({"path": "/workspace/fresh", "initial_branch": "trunk"}),
    );
    assert_eq!(
        (r["branch"].as_str(), r["head"].as_str()),
        (Some("trunk"), None),
        "{r}"
    );
    assert_eq!(
        m.ok("log", json!({"path": "/workspace/fresh"}))["commits"],
        json!([])
    );
    m.sh("echo x > /workspace/fresh/x", None);
    m.ok("add", json!({"path": "fresh"}));
    m.ok("commit", json!({"path": "fresh", "message": "init"}));
    let log = m.ok("log", json!({"path": "fresh"}));
    assert_eq!(
        log["commits"][0]["author_email"], "me@example.com",
        "global config wins over the default: {log}"
    );

    let (s, _) = call("DELETE", &m.base, &m.key, None);
    assert_eq!(s, 200);
}
