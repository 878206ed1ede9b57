//! Background processes and terminals on real machines through the real
//! server: they outlive client disconnects, a server crash and restart, and a
//! pause and resume; a flood of output streams through with the server's memory
//! flat.

mod support;

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use support::{call, temp_state, Server};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

/// Peak resident memory of a process, bytes.
fn peak_rss(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap()
        * 1024
}

/// What a stream channel delivered.
#[derive(Debug, Default)]
struct Streamed {
    text: Vec<Value>,
    stdout: Vec<u8>,
    stdout_bytes: u64,
    gap_bytes: u64,
}

/// Open a process stream, optionally send `input` text messages, and read until
/// `stop` says so (or the channel ends); then drop the connection.
fn stream(
    base: &str,
    path: &str,
    key: &str,
    input: &[Value],
    keep: bool,
    stop: impl Fn(&Streamed) -> bool,
) -> Streamed {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let url = format!("{}{path}", base.replacen("http", "ws", 1));
        let mut req = url.into_client_request().unwrap();
        req.headers_mut()
            .insert("authorization", format!("Bearer {key}").parse().unwrap());
        let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
        for m in input {
            ws.send(Message::Text(m.to_string().into())).await.unwrap();
        }
        let mut got = Streamed::default();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
        while let Ok(Some(msg)) = tokio::time::timeout_at(deadline, ws.next()).await {
            match msg.unwrap() {
                Message::Binary(b) if b[0] == 1 => {
                    got.stdout_bytes += b.len() as u64 - 1;
                    if keep {
                        got.stdout.extend_from_slice(&b[1..]);
                    }
                }
                Message::Text(t) => {
                    let v: Value = serde_json::from_str(t.as_str()).unwrap();
                    if v["type"] == "gap" {
                        got.gap_bytes += v["bytes"].as_u64().unwrap();
                    }
                    got.text.push(v);
                }
                Message::Close(_) => break,
                _ => {}
            }
            if stop(&got) {
                break;
            }
        }
        got
    })
}

fn process(base: &str, key: &str, id: &str, pid: u64) -> Value {
    let (s, p) = call(
        "GET",
        &format!("{base}/v1/machines/{id}/processes/{pid}"),
        key,
        None,
    );
    assert_eq!(s, 200, "{p}");
    p
}

/// Wait until process `pid` has printed more than `than` bytes of stdout.
fn wait_growth(base: &str, key: &str, id: &str, pid: u64, than: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let p = process(base, key, id, pid);
        assert_eq!(p["running"], true, "{p}");
        let total = p["stdout"]["total_bytes"].as_u64().unwrap();
        if total > than {
            return total;
        }
        assert!(Instant::now() < deadline, "no new output: {p}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn processes_and_terminals_survive_disconnects_restarts_and_pauses() {
    if support::skip("process survival test") {
        return;
    }
    let state = temp_state("procs");
    let mut server = Server::start_with(&state, None, "keep");
    let key = server.key("procs");
    let base = server.url.clone();
    let (s, m) = call(
        "POST",
        &format!("{base}/v1/machines"),
        &key,
        Some(json!({"timeout": 900})),
    );
    assert_eq!(s, 201, "{m}");
    let id = m["id"].as_str().unwrap().to_owned();
    let procs = format!("{base}/v1/machines/{id}/processes");
    let ticker = json!({"command": "i=0; while true; do echo tick$i; i=$((i+1)); sleep 0.2; done", "tag": "ticker"});
    let (s, p) = call("POST", &procs, &key, Some(ticker));
    assert_eq!(s, 201, "{p}");
    let pid = p["pid"].as_u64().unwrap();
    let (s, t) = call(
        "POST",
        &format!("{base}/v1/machines/{id}/pty"),
        &key,
        Some(json!({"cols": 100, "rows": 30})),
    );
    assert_eq!(s, 201, "{t}");
    let tty = t["session_id"].as_u64().unwrap();

    // A client that leaves mid-stream ends only its channel.
    let path = format!("/v1/machines/{id}/processes/{pid}/stream");
    let got = stream(&base, &path, &key, &[], true, |g| g.stdout.len() > 20);
    assert_eq!(got.text[0]["type"], "start", "{:?}", got.text);
    assert!(
        String::from_utf8_lossy(&got.stdout).starts_with("tick0\n"),
        "{:?}",
        got.stdout
    );
    let seen = wait_growth(&base, &key, &id, pid, got.stdout.len() as u64 + 20);

    // The server crashes and comes back: the machine is taken over, and its
    // processes are still listed, running and reconnectable.
    server.stop(libc::SIGKILL);
    let mut server = Server::start_with(&state, Some(server.port), "keep");
    let (s, list) = call("GET", &procs, &key, None);
    assert_eq!(s, 200, "{list}");
    let pids: Vec<u64> = list["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["pid"].as_u64().unwrap())
        .collect();
    assert!(pids.contains(&pid) && pids.contains(&tty), "{list}");
    let seen = wait_growth(&base, &key, &id, pid, seen);
    let from = format!("{path}?stdout_offset={}", seen - 6);
    let got = stream(&base, &from, &key, &[], true, |g| g.stdout.len() >= 6);
    assert_eq!(got.text[0]["stdout_offset"], seen - 6, "{:?}", got.text);

    // Pause and resume: both processes live on, and the terminal takes input.
    let (s, r) = call(
        "POST",
        &format!("{base}/v1/machines/{id}/pause"),
        &key,
        None,
    );
    assert_eq!(s, 200, "{r}");
    let (s, r) = call(
        "POST",
        &format!("{base}/v1/machines/{id}/resume"),
        &key,
        None,
    );
    assert_eq!(s, 200, "{r}");
    wait_growth(&base, &key, &id, pid, seen + 6);
    let tty_path = format!("/v1/machines/{id}/pty/{tty}/connect");
    let input = [
        json!({"type": "resize", "cols": 77, "rows": 11}),
        json!({"type": "stdin", "data": "stty size; echo $((6*7))x\n"}),
    ];
    let got = stream(&base, &tty_path, &key, &input, true, |g| {
        String::from_utf8_lossy(&g.stdout).contains("42x")
    });
    let screen = String::from_utf8_lossy(&got.stdout).into_owned();
    assert!(screen.contains("11 77"), "{screen}");
    assert!(screen.contains("42x"), "{screen}");

    // Kill the ticker; its end is reported, and a second kill says it exited.
    let (s, _) = call("DELETE", &format!("{procs}/{pid}"), &key, None);
    assert_eq!(s, 200);
    let got = stream(&base, &path, &key, &[], false, |_| false);
    let end = got.text.last().unwrap();
    assert_eq!(
        (end["type"].as_str(), end["signal"].as_i64()),
        (Some("end"), Some(9)),
        "{end}"
    );
    let (s, v) = call("DELETE", &format!("{procs}/{pid}"), &key, None);
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (409, Some("process_exited")),
        "{v}"
    );
    let (s, _) = call("DELETE", &format!("{base}/v1/machines/{id}"), &key, None);
    assert_eq!(s, 200);
    server.stop(libc::SIGTERM);
    std::fs::remove_dir_all(&state).unwrap();
}

#[test]
fn a_flood_of_output_streams_with_the_servers_memory_flat() {
    if support::skip("process flood test") {
        return;
    }
    let state = temp_state("flood");
    let mut server = Server::start(&state, None);
    let key = server.key("flood");
    let base = server.url.clone();
    let (s, m) = call(
        "POST",
        &format!("{base}/v1/machines"),
        &key,
        Some(json!({})),
    );
    assert_eq!(s, 201, "{m}");
    let id = m["id"].as_str().unwrap().to_owned();
    let before = peak_rss(server.pid());
    const TOTAL: u64 = 200 << 20;
    let (s, p) = call(
        "POST",
        &format!("{base}/v1/machines/{id}/processes"),
        &key,
        Some(json!({"command": format!("head -c {TOTAL} /dev/zero")})),
    );
    assert_eq!(s, 201, "{p}");
    let pid = p["pid"].as_u64().unwrap();
    let path = format!("/v1/machines/{id}/processes/{pid}/stream?stdout_offset=0");
    let got = stream(&base, &path, &key, &[], false, |_| false);
    let end = got.text.last().unwrap();
    assert_eq!(
        (end["type"].as_str(), end["exit_code"].as_i64()),
        (Some("end"), Some(0)),
        "{end}"
    );
    // Every byte arrived or was reported dropped, and the offsets agree.
    assert_eq!(got.stdout_bytes + got.gap_bytes, TOTAL, "{:?}", got.text);
    assert_eq!(end["stdout_offset"], TOTAL);
    let grew = peak_rss(server.pid()).saturating_sub(before);
    assert!(
        grew < 64 << 20,
        "the server grew by {grew} bytes streaming {TOTAL}"
    );
    let (s, _) = call("DELETE", &format!("{base}/v1/machines/{id}"), &key, None);
    assert_eq!(s, 200);
    server.stop(libc::SIGTERM);
    std::fs::remove_dir_all(&state).unwrap();
}
