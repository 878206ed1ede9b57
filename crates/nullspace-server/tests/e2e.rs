//! The real server binary with real microVMs: the API end to end, timeouts,
//! graceful stop, and a restart in the middle of a create.

mod support;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{call, data_dir, no_vmm_named, temp_state, Server};

#[test]
fn api_end_to_end_with_real_machines() {
    if support::skip("server end-to-end test") {
        return;
    }
    let state = temp_state("api");
    let server = Server::start(&state, None);
    let (key, other) = (server.key("e2e"), server.key("someone-else"));
    let u = |p: &str| format!("{}{p}", server.url);

    let (s, m) = call(
        "POST",
        &u("/v1/machines"),
        &key,
        Some(
            json!({"template": "base", "timeout": 300, "envs": {"GREETING": "hi"}, "metadata": {"suite": "e2e"}}),
        ),
    );
    assert_eq!(s, 201, "{m}");
    let id = m["id"].as_str().unwrap().to_owned();
    let mu = |p: &str| u(&format!("/v1/machines/{id}{p}"));

    let (s, r) = call(
        "POST",
        &mu("/commands"),
        &key,
        Some(json!({"command": "python3 --version && id -un && pwd && echo $GREETING"})),
    );
    assert_eq!(s, 200, "{r}");
    let out = r["stdout"].as_str().unwrap();
    assert!(out.starts_with("Python 3."), "{out}");
    assert!(out.ends_with("user\n/workspace\nhi\n"), "{out}");
    let (_, r) = call(
        "POST",
        &mu("/commands"),
        &key,
        Some(json!({"args": ["cat"], "stdin": "piped in", "user": "root"})),
    );
    assert_eq!(r["stdout"], "piped in");
    let (_, r) = call(
        "POST",
        &mu("/commands"),
        &key,
        Some(json!({"command": "echo oops >&2; exit 4"})),
    );
    assert_eq!(
        (r["exit_code"].as_i64(), r["stderr"].as_str()),
        (Some(4), Some("oops\n"))
    );
    let (s, r) = call(
        "POST",
        &mu("/commands"),
        &key,
        Some(json!({"command": "sleep 100", "timeout": 1})),
    );
    assert_eq!(
        (s, r["error"]["code"].as_str()),
        (504, Some("command_timeout")),
        "{r}"
    );
    let (s, r) = call(
        "POST",
        &mu("/commands"),
        &key,
        Some(json!({"args": ["no-such-program"]})),
    );
    assert_eq!(
        (s, r["error"]["code"].as_str()),
        (422, Some("command_not_found")),
        "{r}"
    );
    let (s, r) = call(
        "POST",
        &mu("/commands"),
        &key,
        Some(json!({"command": "true", "user": "nobody-here"})),
    );
    assert_eq!(
        (s, r["error"]["code"].as_str()),
        (422, Some("user_not_found")),
        "{r}"
    );

    // Files.
    let resp = ureq::put(&mu("/files?path=/workspace/dir/a.bin"))
        .set("Authorization", &format!("Bearer {key}"))
        .send_bytes(&[0, 1, 2, 255])
        .unwrap();
    let info: Value = resp.into_json().unwrap();
    assert_eq!(
        (info["size"].as_u64(), info["owner"].as_str()),
        (Some(4), Some("user"))
    );
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(
        &mut ureq::get(&mu("/files?path=/workspace/dir/a.bin"))
            .set("Authorization", &format!("Bearer {key}"))
            .call()
            .unwrap()
            .into_reader(),
        &mut bytes,
    )
    .unwrap();
    assert_eq!(bytes, [0, 1, 2, 255]);
    let (s, r) = call(
        "POST",
        &mu("/files/batch"),
        &key,
        Some(
            json!({"files": [{"path": "/workspace/t1.txt", "content": "one"}, {"path": "t2.txt", "content_base64": "dHdv"}]}),
        ),
    );
    assert_eq!(
        (s, r["files"][1]["path"].as_str()),
        (200, Some("/workspace/t2.txt")),
        "{r}"
    );
    let (_, r) = call(
        "GET",
        &mu("/files/list?path=/workspace&depth=2"),
        &key,
        None,
    );
    let paths: Vec<&str> = r["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert!(
        paths.contains(&"/workspace/dir/a.bin") && paths.contains(&"/workspace/t1.txt"),
        "{paths:?}"
    );
    let (_, r) = call(
        "POST",
        &mu("/files/mkdir"),
        &key,
        Some(json!({"path": "/workspace/new/sub"})),
    );
    assert_eq!(r["created"], true);
    let (_, r) = call(
        "POST",
        &mu("/files/rename"),
        &key,
        Some(json!({"source": "/workspace/t1.txt", "destination": "/workspace/new/t1.txt"})),
    );
    assert_eq!(r["path"], "/workspace/new/t1.txt");
    let (_, r) = call(
        "POST",
        &mu("/files/chmod"),
        &key,
        Some(json!({"path": "/workspace/new/t1.txt", "mode": "0600"})),
    );
    assert_eq!(r["permissions"], "rw-------");
    let (_, r) = call(
        "GET",
        &mu("/files/exists?path=/workspace/t1.txt"),
        &key,
        None,
    );
    assert_eq!(r["exists"], false);
    let (s, _) = call("DELETE", &mu("/files?path=/workspace/new"), &key, None);
    assert_eq!(s, 204);
    let (s, r) = call("GET", &mu("/files/info?path=/workspace/new"), &key, None);
    assert_eq!((s, r["error"]["code"].as_str()), (404, Some("not_found")));
    let (s, r) = call(
        "POST",
        &mu("/files/mkdir"),
        &key,
        Some(json!({"path": "/workspace/.nullspace/x"})),
    );
    assert_eq!(
        (s, r["error"]["code"].as_str()),
        (403, Some("reserved_path"))
    );

    // Tenancy, list, timeout.
    let (s, _) = call("GET", &mu(""), &other, None);
    assert_eq!(s, 404);
    let (_, r) = call(
        "GET",
        &u("/v1/machines?metadata=suite%3De2e&state=running"),
        &key,
        None,
    );
    assert_eq!(r["machines"].as_array().unwrap().len(), 1);
    let (s, r) = call("POST", &mu("/timeout"), &key, Some(json!({"timeout": 2})));
    assert_eq!(s, 200, "{r}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, r) = call("GET", &mu(""), &key, None);
        if r["state"] == "killed" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "machine outlived its timeout: {r}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(no_vmm_named(&id));
    let (s, r) = call(
        "POST",
        &mu("/commands"),
        &key,
        Some(json!({"command": "true"})),
    );
    assert_eq!(
        (s, r["error"]["code"].as_str()),
        (409, Some("machine_not_running"))
    );

    // A graceful stop kills running machines and leaves nothing.
    let (_, m2) = call("POST", &u("/v1/machines"), &key, Some(json!({})));
    let id2 = m2["id"].as_str().unwrap().to_owned();
    let mut server = server;
    server.stop(libc::SIGTERM);
    assert!(no_vmm_named(&id2));
    assert!(!data_dir().join("machines").join(&id2).exists());
    let _ = std::fs::remove_dir_all(&state);
}

#[test]
fn restart_in_the_middle_of_a_create_leaves_nothing() {
    if support::skip("server restart test") {
        return;
    }
    let state = temp_state("restart");
    let mut server = Server::start(&state, None);
    let key = server.key("restart");
    let url = server.url.clone();
    let k2 = key.clone();
    let creator = std::thread::spawn(move || {
        call("POST", &format!("{url}/v1/machines"), &k2, Some(json!({})))
    });
    // Kill the server as soon as the machine is recorded and its VM is starting.
    let deadline = Instant::now() + Duration::from_secs(30);
    let id = loop {
        let (_, r) = call("GET", &format!("{}/v1/machines", server.url), &key, None);
        if let Some(m) = r["machines"].as_array().and_then(|a| a.first()) {
            break m["id"].as_str().unwrap().to_owned();
        }
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(2));
    };
    let old_pid = server.pid();
    server.stop(libc::SIGKILL);
    let _ = creator.join();
    let server = Server::start(&state, Some(server.port));
    assert_ne!(server.pid(), old_pid);
    let (s, r) = call(
        "GET",
        &format!("{}/v1/machines/{id}", server.url),
        &key,
        None,
    );
    assert_eq!((s, r["state"].as_str()), (200, Some("failed")), "{r}");
    assert!(
        no_vmm_named(&id),
        "the VMM of the interrupted create was stopped"
    );
    assert!(!data_dir().join("machines").join(&id).exists());
    let leftover: Vec<String> = std::fs::read_dir("/run/netns")
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.contains(&format!("p{old_pid}x")))
                .collect()
        })
        .unwrap_or_default();
    assert!(
        leftover.is_empty(),
        "namespaces of the dead server left: {leftover:?}"
    );
    // The restarted server serves new machines.
    let (s, m) = call(
        "POST",
        &format!("{}/v1/machines", server.url),
        &key,
        Some(json!({})),
    );
    assert_eq!(s, 201, "{m}");
    drop(server);
    assert!(no_vmm_named(m["id"].as_str().unwrap()));
    let _ = std::fs::remove_dir_all(&state);
}

#[test]
fn running_machines_survive_server_restarts_and_crashes() {
    if support::skip("server take-over test") {
        return;
    }
    let state = temp_state("takeover");
    let mut server = Server::start_with(&state, None, "keep");
    let key = server.key("takeover");
    let (s, m) = call(
        "POST",
        &format!("{}/v1/machines", server.url),
        &key,
        Some(json!({"timeout": 600})),
    );
    assert_eq!(s, 201, "{m}");
    let id = m["id"].as_str().unwrap().to_owned();
    let run = |url: &str, cmd: &str| {
        call(
            "POST",
            &format!("{url}/v1/machines/{id}/commands"),
            &key,
            Some(json!({"command": cmd})),
        )
    };
    let (_, r) = run(&server.url, "echo kept > /workspace/state.txt; nohup sh -c 'while true; do date +%s%N > /tmp/tick; sleep 0.2; done' >/dev/null 2>&1 & echo $!");
    let bg_pid = r["stdout"].as_str().unwrap().trim().to_owned();
    let port = server.port;

    // A graceful restart keeps the machine; the next start takes it over.
    server.stop(libc::SIGTERM);
    assert!(
        !no_vmm_named(&id),
        "the VM keeps running while no server runs"
    );
    let mut server = Server::start_with(&state, Some(port), "keep");
    let (s, r) = call(
        "GET",
        &format!("{}/v1/machines/{id}", server.url),
        &key,
        None,
    );
    assert_eq!((s, r["state"].as_str()), (200, Some("running")), "{r}");
    let (_, r) = run(
        &server.url,
        &format!("cat /workspace/state.txt; kill -0 {bg_pid} && echo alive"),
    );
    assert_eq!(r["stdout"], "kept\nalive\n", "{r}");

    // So does a crash.
    server.stop(libc::SIGKILL);
    let server = Server::start_with(&state, Some(port), "keep");
    let (_, r) = run(&server.url, "cat /workspace/state.txt");
    assert_eq!(r["stdout"], "kept\n", "{r}");

    // A paused machine survives a restart and resumes with its processes.
    let (s, r) = call(
        "POST",
        &format!("{}/v1/machines/{id}/pause", server.url),
        &key,
        None,
    );
    assert_eq!((s, r["state"].as_str()), (200, Some("paused")), "{r}");
    assert!(no_vmm_named(&id), "a paused machine has no VMM");
    let mut server = server;
    server.stop(libc::SIGTERM);
    let server = Server::start_with(&state, Some(port), "keep");
    let (_, r) = call(
        "GET",
        &format!("{}/v1/machines/{id}", server.url),
        &key,
        None,
    );
    assert_eq!(r["state"], "paused", "{r}");
    let (s, r) = call(
        "POST",
        &format!("{}/v1/machines/{id}/resume", server.url),
        &key,
        None,
    );
    assert_eq!((s, r["state"].as_str()), (200, Some("running")), "{r}");
    let (_, r) = run(
        &server.url,
        &format!("cat /workspace/state.txt; kill -0 {bg_pid} && echo alive"),
    );
    assert_eq!(r["stdout"], "kept\nalive\n", "{r}");
    let (s, _) = call(
        "POST",
        &format!("{}/v1/machines/{id}/pause", server.url),
        &key,
        None,
    );
    assert_eq!(s, 200);
    // A crash in the middle of a pause (the row still says `pausing`) whose saved
    // state is complete: the next start keeps the machine paused, and it resumes.
    let mut server = server;
    server.stop(libc::SIGKILL);
    {
        let db = rusqlite::Connection::open(state.join("state.db")).unwrap();
        let n = db
            .execute(
                "UPDATE machines SET state = 'pausing' WHERE id = ?1",
                [id.as_str()],
            )
            .unwrap();
        assert_eq!(n, 1);
    }
    let server = Server::start_with(&state, Some(port), "keep");
    let (_, r) = call(
        "GET",
        &format!("{}/v1/machines/{id}", server.url),
        &key,
        None,
    );
    assert_eq!(r["state"], "paused", "{r}");
    let (_, r) = run(&server.url, "cat /workspace/state.txt");
    assert_eq!(
        r["error"]["code"], "machine_not_running",
        "no auto-resume: {r}"
    );
    let (s, r) = call(
        "POST",
        &format!("{}/v1/machines/{id}/resume", server.url),
        &key,
        None,
    );
    assert_eq!((s, r["state"].as_str()), (200, Some("running")), "{r}");
    let (_, r) = run(&server.url, "cat /workspace/state.txt");
    assert_eq!(r["stdout"], "kept\n", "{r}");
    let (s, _) = call(
        "POST",
        &format!("{}/v1/machines/{id}/pause", server.url),
        &key,
        None,
    );
    assert_eq!(s, 200);
    // Killing a paused machine removes its files.
    let (s, _) = call(
        "DELETE",
        &format!("{}/v1/machines/{id}", server.url),
        &key,
        None,
    );
    assert_eq!(s, 200);
    assert!(no_vmm_named(&id));
    assert!(!data_dir().join("machines").join(&id).exists());
    drop(server);
    let _ = std::fs::remove_dir_all(&state);
}

#[test]
fn snapshots_forks_and_damaged_state_through_the_api() {
    if support::skip("snapshot test") {
        return;
    }
    let state = temp_state("snapshots");
    let server = Server::start(&state, None);
    let key = server.key("snapshots");
    let url = |p: &str| format!("{}/v1{p}", server.url);
    let (s, m) = call("POST", &url("/machines"), &key, Some(json!({})));
    assert_eq!(s, 201, "{m}");
    let id = m["id"].as_str().unwrap().to_owned();
    let run = |mid: &str, cmd: &str| {
        call(
            "POST",
            &url(&format!("/machines/{mid}/commands")),
            &key,
            Some(json!({"command": cmd})),
        )
    };
    run(&id, "echo kept > /workspace/kept.txt");
    let (s, f) = call(
        "POST",
        &url(&format!("/machines/{id}/fork")),
        &key,
        Some(json!({"count": 2})),
    );
    assert_eq!(s, 201, "{f}");
    let kids: Vec<String> = f["machines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kids.len(), 2);
    for k in &kids {
        let (_, r) = run(k, "cat /workspace/kept.txt; hostname");
        assert_eq!(
            r["stdout"],
            format!("kept\nns-{}\n", k.trim_start_matches("sb_")),
            "{r}"
        );
    }
    let (s, snap) = call(
        "POST",
        &url(&format!("/machines/{id}/snapshots")),
        &key,
        None,
    );
    assert_eq!(s, 201, "{snap}");
    let snap_id = snap["id"].as_str().unwrap().to_owned();
    assert!(snap["size_bytes"].as_u64().unwrap() > 1 << 20, "{snap}");
    let (s, m) = call("GET", &url(&format!("/machines/{id}/metrics")), &key, None);
    assert_eq!(s, 200, "{m}");
    assert!(m["mem_total_bytes"].as_u64().unwrap() > 256 << 20, "{m}");
    assert!(m["disk_used_bytes"].as_u64() <= m["disk_total_bytes"].as_u64());

    // A damaged snapshot file is refused with a clear error; the server keeps serving.
    let file = data_dir().join("snapshots").join(&snap_id).join("state");
    let len = std::fs::metadata(&file).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&file)
        .unwrap()
        .set_len(len - 4096)
        .unwrap();
    let (s, r) = call(
        "POST",
        &url("/machines"),
        &key,
        Some(json!({"snapshot_id": snap_id})),
    );
    assert_eq!(
        (s, r["error"]["code"].as_str()),
        (409, Some("state_corrupt")),
        "{r}"
    );
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("truncated"),
        "{r}"
    );
    let (s, _) = call("GET", &url("/health"), &key, None);
    assert_eq!(s, 200);
    let (_, r) = run(&id, "echo still");
    assert_eq!(r["stdout"], "still\n", "{r}");
    // The failed create holds nothing, so the snapshot can be deleted.
    let (s, r) = call("DELETE", &url(&format!("/snapshots/{snap_id}")), &key, None);
    assert_eq!(s, 204, "{r}");
    assert!(!file.exists());
    for m in kids.iter().chain([&id]) {
        let (s, _) = call("DELETE", &url(&format!("/machines/{m}")), &key, None);
        assert_eq!(s, 200);
        assert!(no_vmm_named(m));
    }
    drop(server);
    let _ = std::fs::remove_dir_all(&state);
}
