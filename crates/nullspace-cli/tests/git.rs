//! `nullspace sandbox git …` against a recording fake server: the seeds' shapes
//! become the right requests, tokens come from the environment, and git failures
//! exit with their documented codes.

mod support;

use nullspace_api::{ErrorCode, GitCommitResult, GitRepoState, GitStatus};
use nullspace_client::test_server::{Recorded, Reply, TestServer};
use serde_json::json;
use support::{run, run_in_with, Input, KEY};

fn api(r: &Recorded) -> Reply {
    let state = GitRepoState {
        path: "/workspace".into(),
        branch: Some("main".into()),
        head: Some("0123456789abcdef".into()),
    };
    match r.path.as_str() {
        "/v1/machines/sb_123/git/clone" => Reply::json(200, &state),
        "/v1/machines/sb_123/git/status" => Reply::json(
            200,
            &GitStatus {
                branch: Some("main".into()),
                upstream: Some("origin/main".into()),
                ahead: 1,
                behind: 0,
                detached: false,
                head: Some("abc".into()),
                files: Vec::new(),
                clean: true,
            },
        ),
        "/v1/machines/sb_123/git/commit" => Reply::json(
            200,
            &GitCommitResult {
                sha: "feedbeef".into(),
                branch: Some("main".into()),
            },
        ),
        "/v1/machines/sb_123/git/push" => Reply::error(ErrorCode::GitPushRejected, "fetch first"),
        "/v1/machines/sb_123/git/pull" => {
            Reply::error(ErrorCode::GitAuthFailed, "Authentication failed")
        }
        "/v1/machines/sb_123/git/checkout" => {
            Reply::error(ErrorCode::GitRefNotFound, "no such branch")
        }
        _ => Reply::error(ErrorCode::NotFound, "no such route"),
    }
}

#[test]
fn the_documented_shapes_become_requests() {
    let server = TestServer::start(api);
    let r = run(
        &server,
        &[
            "sandbox",
            "git",
            "clone",
            "sb_123",
            "https://github.com/acme/repo",
            "/workspace",
        ],
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "cloned into /workspace (main at 0123456)\n");
    let req = server.last();
    assert_eq!(req.route(), "POST /v1/machines/sb_123/git/clone");
    assert_eq!(
        req.json(),
        json!({"url": "https://github.com/acme/repo", "path": "/workspace"})
    );

    let r = run(
        &server,
        &["sandbox", "git", "status", "sb_123", "--path", "/workspace"],
    );
    assert_eq!(
        (r.status, r.stdout.as_str()),
        (0, "## main...origin/main [ahead 1]\n"),
        "{}",
        r.stderr
    );
    assert_eq!(server.last().json(), json!({"path": "/workspace"}));

    let r = run(
        &server,
        &[
            "sandbox",
            "git",
            "commit",
            "sb_123",
            "update files",
            "--path",
            "/workspace",
            "--json",
        ],
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(r.json()["sha"], "feedbeef");
    assert_eq!(
        server.last().json(),
        json!({"path": "/workspace", "message": "update files"})
    );
}

#[test]
fn tokens_are_read_from_the_environment() {
    let server = TestServer::start(api);
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("NULLSPACE_API_URL", server.url()),
        ("NULLSPACE_API_KEY", KEY),
        ("MY_GIT_TOKEN", "s3cr3t"),
    ];
    let args = [
        "sandbox",
        "git",
        "clone",
        "sb_123",
        "https://h/r.git",
        "--username",
        "bob",
        "--token-env",
        "MY_GIT_TOKEN",
    ];
    let r = run_in_with(dir.path(), &env, &args, Input::Null);
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(
        server.last().json(),
        json!({"url": "https://h/r.git", "auth": {"username": "bob", "token": "s3cr3t"}})
    );
    let args = [
        "sandbox",
        "git",
        "clone",
        "sb_123",
        "https://h/r.git",
        "--token-env",
        "NOT_SET_ANYWHERE",
    ];
    let r = run_in_with(dir.path(), &env, &args, Input::Null);
    assert_eq!(r.status, 7, "an unreadable input: {}", r.stderr);
    assert!(r.stderr.contains("NOT_SET_ANYWHERE"), "{}", r.stderr);
}

#[test]
fn git_failures_exit_with_their_class() {
    let server = TestServer::start(api);
    for (args, exit, code) in [
        (vec!["push", "sb_123"], 6, "git_push_rejected"),
        (vec!["pull", "sb_123"], 7, "git_auth_failed"),
        (vec!["checkout", "sb_123", "nope"], 5, "git_ref_not_found"),
    ] {
        let mut full = vec!["--json", "sandbox", "git"];
        full.extend(args);
        let r = run(&server, &full);
        assert_eq!(r.status, exit, "{full:?}: {}", r.stderr);
        let err: serde_json::Value = serde_json::from_str(&r.stderr).unwrap();
        assert_eq!(err["error"]["code"], code);
    }
}
