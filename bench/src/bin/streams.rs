//! Streaming benchmark: time to the first byte of a background process's
//! output, output throughput through the server's WebSocket against the same
//! bytes read over the bare agent channel (the floor, same run), PTY keystroke
//! echo round trips, and 100 background processes started and listed.
//!
//! Usage: `streams [--samples N] [--mib N] [--keys N] [--processes N]`; prints JSON.

use std::time::{Duration, Instant};

use nullspace_api::{CreatePtyRequest, StartProcessRequest};
use nullspace_bench::{arg, round, stats, Served};
use nullspace_client::{Client, StreamEvent, StreamOptions};
use nullspace_guest_proto::ExecRequest;
use nullspace_types::MachineId;
use serde_json::json;

/// Start `command` in the background and stream it from its first byte; returns
/// (time to the first output byte, bytes received, bytes reported dropped).
async fn stream_once(client: &Client, id: &MachineId, command: &str) -> (Duration, u64, u64) {
    let t = Instant::now();
    let req = StartProcessRequest {
        command: Some(command.into()),
        user: Some("root".into()),
        ..Default::default()
    };
    let p = client.start_process(id, &req).await.expect("start");
    let options = StreamOptions {
        stdout_offset: Some(0),
        stderr_offset: Some(0),
        follow: Some(true),
    };
    let mut stream = client
        .stream_process(id, p.pid, &options)
        .await
        .expect("stream");
    let (mut first, mut got, mut dropped) = (None, 0u64, 0u64);
    while let Some(event) = stream.next_event().await.expect("event") {
        match event {
            StreamEvent::Output { bytes, .. } => {
                first.get_or_insert_with(|| t.elapsed());
                got += bytes.len() as u64;
            }
            StreamEvent::Gap { bytes, .. } => dropped += bytes,
            StreamEvent::End(_) => break,
            _ => {}
        }
    }
    (first.expect("some output"), got, dropped)
}

#[tokio::main]
async fn main() {
    let (samples, mib, keys, procs) = (
        arg("--samples", 20),
        arg("--mib", 200) as u64,
        arg("--keys", 50),
        arg("--processes", 100),
    );
    let served = Served::start("streams").await;
    let client = &served.client;
    let (api_m, rt_m, agent) = served.pair().await;
    let exec = |cmd: &str| ExecRequest {
        shell: Some(cmd.into()),
        ..Default::default()
    };

    // Time to first byte: API (start + stream) against the bare channel.
    let (mut api_ttfb, mut rt_ttfb) = (Vec::new(), Vec::new());
    for _ in 0..samples {
        api_ttfb.push(stream_once(client, &api_m.id, "echo first").await.0);
        let t = Instant::now();
        let mut first = None;
        agent
            .exec_stream(exec("echo first"), None, |_, _| {
                first.get_or_insert_with(|| t.elapsed());
                true
            })
            .await
            .expect("exec");
        rt_ttfb.push(first.expect("output"));
    }

    // Throughput of `yes | head -c N`.
    let total = mib << 20;
    let flood = format!("yes | head -c {total}");
    let t = Instant::now();
    let (_, got, dropped) = stream_once(client, &api_m.id, &flood).await;
    let api_secs = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut floor_bytes = 0u64;
    agent
        .exec_stream(exec(&flood), None, |_, d| {
            floor_bytes += d.len() as u64;
            true
        })
        .await
        .expect("exec");
    let floor_secs = t.elapsed().as_secs_f64();
    assert_eq!(floor_bytes, total);
    assert_eq!(
        got + dropped,
        total,
        "every byte arrived or was reported dropped"
    );
    let mb = |bytes: u64, secs: f64| round(bytes as f64 / 1e6 / secs);

    // PTY keystroke echo: one byte to a terminal running `cat` (the terminal
    // echoes it), round trip to its echo.
    let pty = client
        .create_pty(
            &api_m.id,
            &CreatePtyRequest {
                command: Some("stty -icanon; cat >/dev/null".into()),
                ..Default::default()
            },
        )
        .await
        .expect("pty");
    let mut term = client
        .connect_pty(&api_m.id, pty.session_id)
        .await
        .expect("connect");
    // Let the shell set the terminal up before timing.
    tokio::time::sleep(Duration::from_millis(500)).await;
    while let Ok(Ok(Some(_))) =
        tokio::time::timeout(Duration::from_millis(200), term.next_event()).await
    {}
    let mut echo = Vec::new();
    for i in 0..keys {
        let key = [b'a' + (i % 26) as u8];
        let t = Instant::now();
        term.input().stdin(&key).await.expect("key");
        loop {
            match term.next_event().await.expect("event") {
                Some(StreamEvent::Output { bytes, .. }) if bytes.contains(&key[0]) => break,
                Some(_) => {}
                None => panic!("terminal ended"),
            }
        }
        echo.push(t.elapsed());
    }
    client
        .kill_pty(&api_m.id, pty.session_id)
        .await
        .expect("kill pty");

    // 100 background processes started one after another, then listed.
    let mut starts = Vec::new();
    let t = Instant::now();
    for _ in 0..procs {
        let s = Instant::now();
        let req = StartProcessRequest {
            command: Some("sleep 600".into()),
            ..Default::default()
        };
        client.start_process(&api_m.id, &req).await.expect("start");
        starts.push(s.elapsed());
    }
    let all = t.elapsed();
    let t = Instant::now();
    let list = client.list_processes(&api_m.id).await.expect("list");
    let listed = t.elapsed();
    let running = list.processes.iter().filter(|p| p.running).count();
    assert!(running >= procs, "{running} running of {procs}");

    client.kill_machine(&api_m.id).await.expect("kill");
    served.direct.destroy(rt_m.id()).await.expect("destroy");
    let ttfb = stats(&api_ttfb);
    let ttfb_floor = stats(&rt_ttfb);
    let out = json!({
        "first_byte": {
            "api": ttfb,
            "agent_floor": ttfb_floor,
            "ratio_p50": round(ttfb["p50_ms"].as_f64().unwrap() / ttfb_floor["p50_ms"].as_f64().unwrap()),
        },
        "throughput": {
            "bytes": total,
            "api_mb_s": mb(total, api_secs),
            "api_delivered_bytes": got,
            "api_dropped_bytes": dropped,
            "agent_floor_mb_s": mb(total, floor_secs),
            "ratio": round(floor_secs / api_secs),
        },
        "pty_echo": stats(&echo),
        "background": {
            "processes": procs,
            "start": stats(&starts),
            "all_started_ms": round(all.as_secs_f64() * 1000.0),
            "list_ms": round(listed.as_secs_f64() * 1000.0),
            "listed": list.processes.len(),
        },
    });
    println!("{}", serde_json::to_string_pretty(&out).unwrap());
}
