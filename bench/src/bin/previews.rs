//! Preview proxy benchmark: requests/s and p50/p99 latency of a small HTTP
//! answer through the proxy (wrk on loopback, by preview host) against the same
//! request straight into a machine's namespace (wrk run inside it: the floor,
//! same run); WebSocket echo round trips through the proxy against a
//! connection made in the namespace; and the time from a request to a paused
//! machine with auto-resume to its answer, against an explicit resume followed
//! by the request.
//!
//! Usage: `previews [--seconds N] [--connections N] [--samples N] [--wakes N]`;
//! prints JSON. Needs `wrk` and root.

use std::process::Command;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use nullspace_api::{CreateMachineRequest, StartProcessRequest};
use nullspace_bench::{arg, round, stats, Served};
use nullspace_client::Client;
use nullspace_guest_proto::{ExecRequest, ProcessStart};
use nullspace_host::agent::WriteOptions;
use nullspace_types::MachineId;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

const APP: &[u8] = include_bytes!("../../../crates/nullspace-server/tests/fixtures/preview_app.py");
const PORT: u16 = 8080;

/// What `wrk --latency` printed: requests/s, p50 and p99 (ms).
fn wrk(prefix: &[&str], url: &str, host: Option<&str>, secs: usize, conns: usize) -> Value {
    let mut cmd = Command::new(prefix[0]);
    cmd.args(&prefix[1..]).args([
        "wrk",
        "-t1",
        &format!("-c{conns}"),
        &format!("-d{secs}s"),
        "--latency",
    ]);
    if let Some(h) = host {
        cmd.args(["-H", &format!("Host: {h}")]);
    }
    let out = cmd.arg(url).output().expect("wrk (apt install wrk)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "wrk failed: {text}");
    let ms = |label: &str| -> f64 {
        let line = text
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with(label))
            .unwrap_or_else(|| panic!("no {label} in {text}"));
        let v = line.split_whitespace().nth(1).unwrap();
        let (num, unit) = v.split_at(v.find(|c: char| c.is_ascii_alphabetic()).unwrap());
        let n: f64 = num.parse().unwrap();
        match unit {
            "us" => n / 1000.0,
            "ms" => n,
            "s" => n * 1000.0,
            u => panic!("unit {u}"),
        }
    };
    let rps: f64 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or_else(|| panic!("no Requests/sec in {text}"));
    let non_2xx = text.contains("Non-2xx");
    assert!(!non_2xx, "some answers were not 2xx: {text}");
    json!({"requests_per_s": round(rps), "p50_ms": round(ms("50%")), "p99_ms": round(ms("99%"))})
}

/// One GET through the server for `host`; the status.
async fn get(addr: std::net::SocketAddr, host: &str, path: &str) -> u16 {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    String::from_utf8_lossy(&raw)
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

async fn start_app_via_api(client: &Client, id: &MachineId) {
    client
        .write_file(id, "/workspace/app.py", APP.to_vec(), None, None)
        .await
        .expect("write app");
    let req = StartProcessRequest {
        args: Some(vec![
            "python3".into(),
            "/workspace/app.py".into(),
            PORT.to_string(),
        ]),
        ..Default::default()
    };
    client.start_process(id, &req).await.expect("start app");
}

/// `n` WebSocket echo round trips over `stream`, opened as `url`.
async fn echoes<S>(stream: S, url: &str, n: usize) -> Vec<Duration>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (mut ws, _) = tokio_tungstenite::client_async(url, stream)
        .await
        .expect("websocket");
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        ws.send(Message::Text(format!("m{i}").into()))
            .await
            .unwrap();
        let got = ws.next().await.unwrap().unwrap();
        out.push(t.elapsed());
        assert_eq!(got.into_text().unwrap().as_str(), format!("echo: m{i}"));
    }
    out
}

#[tokio::main]
async fn main() {
    let (secs, conns, samples, wakes) = (
        arg("--seconds", 5),
        arg("--connections", 4),
        arg("--samples", 200),
        arg("--wakes", 5),
    );
    let served = Served::start("previews").await;
    let client = &served.client;
    let (api_m, rt_m, agent) = served.pair().await;
    start_app_via_api(client, &api_m.id).await;
    agent
        .write_file("/workspace/app.py", APP, WriteOptions::default())
        .await
        .expect("write app");
    agent
        .process_start(ProcessStart {
            exec: ExecRequest {
                argv: vec![
                    "python3".into(),
                    "/workspace/app.py".into(),
                    PORT.to_string(),
                ],
                ..Default::default()
            },
            tag: None,
            pty: None,
        })
        .await
        .expect("start app");
    let host = format!("{PORT}-{}.localhost", api_m.id);
    let ready = Instant::now();
    while get(served.addr, &host, "/info").await != 200 || rt_m.connect_port(PORT).await.is_err() {
        assert!(
            ready.elapsed() < Duration::from_secs(120),
            "the apps never answered"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // HTTP through the proxy against wrk inside the namespace.
    let url = format!("http://{}/info", served.addr);
    let proxy = wrk(&["env"], &url, Some(&host), secs, conns);
    let floor = wrk(
        &["ip", "netns", "exec", rt_m.netns()],
        &format!("http://10.0.2.2:{PORT}/info"),
        None,
        secs,
        conns,
    );
    let ratio = proxy["p50_ms"].as_f64().unwrap() / floor["p50_ms"].as_f64().unwrap();

    // WebSocket echo round trips.
    let through = tokio::net::TcpStream::connect(served.addr).await.unwrap();
    let ws_proxy = echoes(through, &format!("ws://{host}/ws"), samples).await;
    let direct = rt_m.connect_port(PORT).await.unwrap();
    let ws_floor = echoes(direct, &format!("ws://10.0.2.2:{PORT}/ws"), samples).await;

    // Wake on traffic: pause, then one request; against resume + request.
    let wake_m = client
        .create_machine(&CreateMachineRequest {
            auto_resume: Some(true),
            ..Default::default()
        })
        .await
        .expect("machine");
    start_app_via_api(client, &wake_m.id).await;
    let wake_host = format!("{PORT}-{}.localhost", wake_m.id);
    while get(served.addr, &wake_host, "/info").await != 200 {
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let (mut woken, mut explicit) = (Vec::new(), Vec::new());
    for _ in 0..wakes {
        client.pause_machine(&wake_m.id).await.expect("pause");
        let t = Instant::now();
        assert_eq!(get(served.addr, &wake_host, "/info").await, 200);
        woken.push(t.elapsed());
        client.pause_machine(&wake_m.id).await.expect("pause");
        let t = Instant::now();
        client.resume_machine(&wake_m.id).await.expect("resume");
        assert_eq!(get(served.addr, &wake_host, "/info").await, 200);
        explicit.push(t.elapsed());
    }
    for id in [&api_m.id, &wake_m.id] {
        let _ = client.kill_machine(id).await;
    }
    let _ = served.direct.destroy(rt_m.id()).await;
    println!(
        "{}",
        serde_json::to_string_pretty(&json!({
            "http": {
                "proxy": proxy,
                "floor_in_namespace": floor,
                "p50_ratio": round(ratio),
                "seconds": secs,
                "connections": conns,
            },
            "websocket_echo": {"proxy": stats(&ws_proxy), "floor_in_namespace": stats(&ws_floor)},
            "wake_on_request": {"auto_resume": stats(&woken), "floor_resume_then_request": stats(&explicit)},
        }))
        .unwrap()
    );
}
