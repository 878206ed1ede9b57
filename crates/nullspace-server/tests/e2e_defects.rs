//! Defects found by probing, on the real server with real microVMs: a kill wins
//! over a create and over a running command, a crash mid-pause keeps the
//! machine, file transfers keep the server's memory bounded, file operations
//! have the user's rights, and a full disk is `no_space`.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{call, no_vmm_named, temp_state, Server};

const MIB: u64 = 1 << 20;
/// Most bytes one upload takes on the memory test's server (`--max-upload-bytes`).
const LIMIT: u64 = 64 * MIB;
/// Most the memory test's server may grow while it moves a transfer: buffers and
/// credit windows, far below the bytes each transfer moves.
const BOUND: u64 = 48 * MIB;
/// Most bytes a test reads of one answer.
const READ_CAP: u64 = 512 * MIB;

fn create(server: &Server, key: &str) -> String {
    let (s, m) = call(
        "POST",
        &format!("{}/v1/machines", server.url),
        key,
        Some(json!({"timeout": 600})),
    );
    assert_eq!(s, 201, "{m}");
    m["id"].as_str().unwrap().to_owned()
}

fn run(server: &Server, key: &str, id: &str, cmd: &str, user: &str) -> Value {
    let (s, r) = call(
        "POST",
        &format!("{}/v1/machines/{id}/commands", server.url),
        key,
        Some(json!({"command": cmd, "user": user, "timeout": 120})),
    );
    assert_eq!(s, 200, "{cmd}: {r}");
    r
}

/// Peak resident memory of process `pid` since the last [`reset_peak`], bytes.
fn peak_rss(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb * 1024
}

fn rss(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb * 1024
}

fn reset_peak(pid: i32) {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").unwrap();
}

/// A raw HTTP/1.1 exchange: the status and body of the answer.
fn raw_http(port: u16, head: &str, body: &mut dyn FnMut(&mut TcpStream)) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(300))).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    body(&mut s);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.as_bytes().to_vec())
        .unwrap_or_default();
    (status, body)
}

/// GET a file and count its bytes without keeping them.
fn read_len(server: &Server, key: &str, query: &str) -> (u16, u64, String) {
    let url = format!("{}/v1/machines/{query}", server.url);
    let resp = match ureq::get(&url)
        .set("Authorization", &format!("Bearer {key}"))
        .call()
    {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{url}: {e}"),
    };
    let status = resp.status();
    let mut reader = resp.into_reader().take(READ_CAP);
    let mut buf = vec![0u8; MIB as usize];
    let (mut n, mut head) = (0u64, Vec::new());
    loop {
        let k = reader.read(&mut buf).unwrap();
        if k == 0 {
            break;
        }
        if head.len() < 512 {
            head.extend_from_slice(&buf[..k.min(512)]);
        }
        n += k as u64;
    }
    (status, n, String::from_utf8_lossy(&head).into_owned())
}

/// Stream `total` bytes as a chunked upload to `path`; returns the status and body.
fn chunked_upload(port: u16, key: &str, id: &str, path: &str, total: u64) -> (u16, String) {
    let head = format!(
        "PUT /v1/machines/{id}/files?path={path} HTTP/1.1\r\nHost: x\r\n\
         Authorization: Bearer {key}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    let chunk = vec![b'z'; MIB as usize];
    let (s, body) = raw_http(port, &head, &mut |s| {
        let mut sent = 0;
        while sent < total {
            let frame = format!("{:x}\r\n", chunk.len());
            if s.write_all(frame.as_bytes()).is_err()
                || s.write_all(&chunk).is_err()
                || s.write_all(b"\r\n").is_err()
            {
                // The server refused the rest: that is the point.
                return;
            }
            sent += MIB;
        }
        let _ = s.write_all(b"0\r\n\r\n");
    });
    (s, String::from_utf8_lossy(&body).into_owned())
}

#[test]
fn a_kill_wins_over_a_create_and_over_a_running_command() {
    if support::skip("kill race test") {
        return;
    }
    let state = temp_state("killrace");
    let server = Server::start(&state, None);
    let key = server.key("killrace");
    let url = server.url.clone();
    let (k2, u2) = (key.clone(), url.clone());
    let creating = std::thread::spawn(move || {
        call(
            "POST",
            &format!("{u2}/v1/machines"),
            &k2,
            Some(json!({"timeout": 600})),
        )
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let id = loop {
        let (_, l) = call(
            "GET",
            &format!("{url}/v1/machines?state=starting"),
            &key,
            None,
        );
        if let Some(id) = l["machines"][0]["id"].as_str() {
            break id.to_owned();
        }
        assert!(Instant::now() < deadline, "no machine was seen starting");
        std::thread::sleep(Duration::from_millis(5));
    };
    let (s, k) = call("DELETE", &format!("{url}/v1/machines/{id}"), &key, None);
    assert_eq!(s, 200, "{k}");
    assert_eq!(k["outcome"], "create_cancelled", "{k}");
    let (s, c) = creating.join().unwrap();
    assert_eq!(
        (s, c["error"]["code"].as_str()),
        (409, Some("machine_not_running")),
        "{c}"
    );
    let (_, m) = call("GET", &format!("{url}/v1/machines/{id}"), &key, None);
    assert_eq!(m["state"], "killed");
    assert!(no_vmm_named(&id), "the cancelled machine's VM is gone");

    // A command running when its machine is killed answers 409, not 5xx.
    let id = create(&server, &key);
    let (k2, u2, i2) = (key.clone(), url.clone(), id.clone());
    let running = std::thread::spawn(move || {
        call(
            "POST",
            &format!("{u2}/v1/machines/{i2}/commands"),
            &k2,
            Some(json!({"command": "sleep 60"})),
        )
    });
    std::thread::sleep(Duration::from_millis(800));
    let (s, k) = call("DELETE", &format!("{url}/v1/machines/{id}"), &key, None);
    assert_eq!((s, k["outcome"].as_str()), (200, Some("killed")), "{k}");
    let (s, r) = running.join().unwrap();
    assert_eq!(
        (s, r["error"]["code"].as_str()),
        (409, Some("machine_not_running")),
        "{r}"
    );
    assert!(no_vmm_named(&id));
    drop(server);
    std::fs::remove_dir_all(&state).unwrap();
}

#[test]
fn a_crash_mid_pause_keeps_the_machine_and_its_data() {
    if support::skip("crash mid-pause test") {
        return;
    }
    // Two crash points: the VM stopped with nothing saved (it must come back
    // running), and the state saved and recorded (it must come back paused).
    for (stage, expect) in [("pause-stopped", "running"), ("pause-saved", "paused")] {
        let state = temp_state(&format!("crashpause-{stage}"));
        let mut server = Server::start_env(&state, None, "keep", &[("NULLSPACE_TEST_HOLD", stage)]);
        let key = server.key("crash");
        let id = create(&server, &key);
        run(
            &server,
            &key,
            &id,
            "echo precious > /workspace/data.txt",
            "user",
        );
        let (url, k2, i2) = (server.url.clone(), key.clone(), id.clone());
        // The pause holds at `stage`; the server is killed there.
        std::thread::spawn(move || {
            call("POST", &format!("{url}/v1/machines/{i2}/pause"), &k2, None)
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (_, m) = call(
                "GET",
                &format!("{}/v1/machines/{id}", server.url),
                &key,
                None,
            );
            if m["state"] == "pausing" {
                break;
            }
            assert!(Instant::now() < deadline, "the pause did not start: {m}");
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(1500));
        server.stop(libc::SIGKILL);

        let server = Server::start_with(&state, Some(server.port), "destroy");
        let (_, m) = call(
            "GET",
            &format!("{}/v1/machines/{id}", server.url),
            &key,
            None,
        );
        assert_eq!(m["state"], expect, "{stage}: {m}");
        if expect == "paused" {
            let (s, r) = call(
                "POST",
                &format!("{}/v1/machines/{id}/resume", server.url),
                &key,
                None,
            );
            assert_eq!(s, 200, "{stage}: {r}");
        }
        let out = run(&server, &key, &id, "cat /workspace/data.txt", "user");
        assert_eq!(out["stdout"], "precious\n", "{stage}");
        let (s, _) = call(
            "DELETE",
            &format!("{}/v1/machines/{id}", server.url),
            &key,
            None,
        );
        assert_eq!(s, 200);
        drop(server);
        std::fs::remove_dir_all(&state).unwrap();
    }
}

#[test]
fn file_transfers_keep_the_servers_memory_bounded() {
    if support::skip("transfer memory test") {
        return;
    }
    let state = temp_state("memory");
    let limit = LIMIT.to_string();
    let server = Server::start_args(&state, &["--max-upload-bytes", &limit]);
    let key = server.key("memory");
    let id = create(&server, &key);
    let pid = server.pid();
    // A sparse 256 MiB file reads as zeros without using the guest's disk.
    run(
        &server,
        &key,
        &id,
        "truncate -s 256M /workspace/big",
        "user",
    );
    let base = rss(pid);
    let mut peaks = Vec::new();
    let mut measure = |what: &str, f: &mut dyn FnMut()| {
        reset_peak(pid);
        f();
        let grew = peak_rss(pid).saturating_sub(base);
        eprintln!("{what}: server peak grew by {} MiB", grew / MIB);
        peaks.push((what.to_owned(), grew));
    };
    measure("read 64 MiB of /dev/zero", &mut || {
        let q = format!("{id}/files?path=/dev/zero&limit={}", 64 * MIB);
        let (s, n, body) = read_len(&server, &key, &q);
        assert_eq!((s, n), (200, 64 * MIB), "{body}");
    });
    measure("read a 256 MiB file whole", &mut || {
        let (s, n, body) = read_len(&server, &key, &format!("{id}/files?path=/workspace/big"));
        assert_eq!((s, n), (200, 256 * MIB), "{body}");
    });
    measure("read 100 MiB of it", &mut || {
        let q = format!(
            "{id}/files?path=/workspace/big&offset={}&limit={}",
            5 * MIB,
            100 * MIB
        );
        let (s, n, _) = read_len(&server, &key, &q);
        assert_eq!((s, n), (200, 100 * MIB));
    });
    measure("a Content-Length over the limit", &mut || {
        let head = format!(
            "PUT /v1/machines/{id}/files?path=/workspace/up HTTP/1.1\r\nHost: x\r\n\
             Authorization: Bearer {key}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            LIMIT + 1
        );
        let started = Instant::now();
        let (s, body) = raw_http(server.port, &head, &mut |_| {});
        assert_eq!(s, 413);
        assert!(String::from_utf8_lossy(&body).contains("payload_too_large"));
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "refused at once"
        );
    });
    measure("three chunked uploads over the limit at once", &mut || {
        let uploads: Vec<_> = (0..3)
            .map(|i| {
                let (port, key, id) = (server.port, key.clone(), id.clone());
                std::thread::spawn(move || {
                    chunked_upload(
                        port,
                        &key,
                        &id,
                        &format!("/workspace/c{i}"),
                        LIMIT + 20 * MIB,
                    )
                })
            })
            .collect();
        for u in uploads {
            let (s, body) = u.join().unwrap();
            assert_eq!(s, 413, "{body}");
            assert!(body.contains("payload_too_large"), "{body}");
        }
    });
    measure("an upload of the limit", &mut || {
        let (s, body) = chunked_upload(server.port, &key, &id, "/workspace/ok", LIMIT);
        assert_eq!(s, 200, "{body}");
    });
    let out = run(
        &server,
        &key,
        &id,
        "stat -c %s /workspace/ok; ls /workspace",
        "user",
    );
    let text = out["stdout"].as_str().unwrap();
    assert!(text.starts_with(&format!("{LIMIT}\n")), "{text}");
    assert!(
        !text.contains("c0") && !text.contains("up\n"),
        "cut uploads leave nothing: {text}"
    );
    for (what, grew) in &peaks {
        assert!(
            *grew < BOUND,
            "{what}: the server grew by {} MiB (bound {} MiB)",
            grew / MIB,
            BOUND / MIB
        );
    }
    let settled = rss(pid);
    assert!(
        settled < base + BOUND,
        "memory is given back: {} MiB now, {} MiB before",
        settled / MIB,
        base / MIB
    );
    drop(server);
    std::fs::remove_dir_all(&state).unwrap();
}

#[test]
fn file_operations_have_the_users_rights_and_a_full_disk_is_no_space() {
    if support::skip("file rights test") {
        return;
    }
    let state = temp_state("rights");
    let server = Server::start(&state, None);
    let key = server.key("rights");
    let id = create(&server, &key);
    let files = format!("{}/v1/machines/{id}/files", server.url);
    let passwd = run(&server, &key, &id, "sha256sum /etc/passwd", "root")["stdout"].clone();
    run(
        &server,
        &key,
        &id,
        "ln -s /etc/passwd /workspace/pwlink",
        "user",
    );
    let put = |query: &str, body: &str| -> (u16, Value) {
        let r = ureq::put(&format!("{files}?{query}"))
            .set("Authorization", &format!("Bearer {key}"))
            .send_string(body);
        let r = match r {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{e}"),
        };
        let status = r.status();
        (
            status,
            serde_json::from_str(&r.into_string().unwrap()).unwrap(),
        )
    };
    let (s, v) = put("path=/workspace/pwlink", "evil::0:0::/:/bin/sh\n");
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (403, Some("permission_denied")),
        "{v}"
    );
    let after = run(&server, &key, &id, "sha256sum /etc/passwd", "root")["stdout"].clone();
    assert_eq!(after, passwd, "/etc/passwd is untouched");
    let (s, v) = call("GET", &format!("{files}?path=/etc/shadow"), &key, None);
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (403, Some("permission_denied")),
        "{v}"
    );
    let (s, v) = call("DELETE", &format!("{files}?path=/etc/hostname"), &key, None);
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (403, Some("permission_denied")),
        "{v}"
    );
    let (s, _, shadow) = read_len(
        &server,
        &key,
        &format!("{id}/files?path=/etc/shadow&user=root"),
    );
    assert_eq!(s, 200);
    assert!(shadow.contains("root:"), "root reads it");
    // Written as the user: owned by the user; through a link as root: the target.
    let (s, v) = put("path=/workspace/mine.txt", "hi");
    assert_eq!((s, v["owner"].as_str()), (200, Some("user")), "{v}");
    run(
        &server,
        &key,
        &id,
        "ln -s /workspace/mine.txt /workspace/link2",
        "user",
    );
    let (s, v) = put("path=/workspace/link2&user=root", "through");
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (v["type"].as_str(), v["path"].as_str()),
        (Some("file"), Some("/workspace/mine.txt")),
        "{v}"
    );
    // A full disk.
    run(
        &server,
        &key,
        &id,
        "fallocate -l $(( $(df --output=avail -B1 / | tail -1) - 4096 )) /fill || true; sync",
        "root",
    );
    let (s, v) = put("path=/workspace/more.bin", &"x".repeat(1 << 20));
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (507, Some("no_space")),
        "{v}"
    );
    run(&server, &key, &id, "rm -f /fill", "root");
    let (s, v) = put("path=/workspace/more.bin", "fits again");
    assert_eq!(s, 200, "{v}");
    let (s, _) = call(
        "DELETE",
        &format!("{}/v1/machines/{id}", server.url),
        &key,
        None,
    );
    assert_eq!(s, 200);
    drop(server);
    std::fs::remove_dir_all(&state).unwrap();
}
