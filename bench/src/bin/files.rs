//! File transfer benchmark: upload and download throughput through the API
//! (client → server → guest and back, streamed) for a small and a large file,
//! each against the same bytes moved over the bare agent channel (the floor,
//! same run: `write_stream` and `read_stream` on a machine of the runtime).
//!
//! Usage: `files [--samples N] [--small-kib N] [--large-mib N]`; prints JSON.

use std::time::{Duration, Instant};

use futures_util::TryStreamExt;
use nullspace_bench::{arg, round, stats, Served};
use nullspace_client::{Body, ReadFile};
use nullspace_guest_proto::Op;
use nullspace_host::agent::{write_op, Agent, WriteOptions};
use nullspace_types::MachineId;
use serde_json::{json, Value};

/// Bytes of a generated upload chunk.
const CHUNK: usize = 1 << 20;

/// `total` bytes as 1 MiB chunks, generated as they are sent.
fn chunks(total: u64) -> impl futures_util::Stream<Item = Result<Vec<u8>, String>> + Unpin {
    let mut left = total;
    futures_util::stream::iter(std::iter::from_fn(move || {
        let n = left.min(CHUNK as u64) as usize;
        left -= n as u64;
        (n > 0).then(|| Ok(vec![b'x'; n]))
    }))
}

/// One upload and one download of `bytes` through the API; their times.
async fn api_round(
    client: &nullspace_client::Client,
    id: &MachineId,
    bytes: u64,
) -> (Duration, Duration) {
    let path = "/workspace/bench.bin";
    let t = Instant::now();
    let body = Body::wrap_stream(chunks(bytes));
    let e = client
        .write_file_body(id, path, body, None, None)
        .await
        .expect("upload");
    assert_eq!(e.size, bytes);
    let up = t.elapsed();
    let t = Instant::now();
    let mut got = 0u64;
    let mut s = client
        .read_file_stream(id, path, &ReadFile::default())
        .await
        .expect("download");
    while let Some(c) = s.try_next().await.expect("chunk") {
        got += c.len() as u64;
    }
    assert_eq!(got, bytes);
    (up, t.elapsed())
}

/// The same over the bare agent channel.
async fn agent_round(agent: &Agent, bytes: u64) -> (Duration, Duration) {
    let path = "/workspace/bench.bin";
    let opts = WriteOptions {
        user: Some("user".into()),
        create_parents: true,
        ..Default::default()
    };
    let t = Instant::now();
    let e = agent
        .write_stream(
            write_op(path, opts),
            chunks(bytes),
            Duration::from_secs(120),
        )
        .await
        .expect("upload");
    assert_eq!(e.size, bytes);
    let up = t.elapsed();
    let t = Instant::now();
    let op = Op::ReadFile {
        path: path.into(),
        root: None,
        user: Some("user".into()),
        offset: 0,
        limit: None,
    };
    let mut r = agent.read_stream(op).await.expect("download");
    let mut got = 0u64;
    while let Some(c) = r.next().await.expect("chunk") {
        got += c.len() as u64;
    }
    assert_eq!(got, bytes);
    (up, t.elapsed())
}

/// Median throughput in MB/s of `bytes` moved in each of `times`.
fn mb_s(bytes: u64, times: &[Duration]) -> f64 {
    let p50 = stats(times)["p50_ms"].as_f64().unwrap_or(f64::NAN) / 1000.0;
    round(bytes as f64 / 1e6 / p50)
}

/// Figures of `samples` rounds of `bytes` each way, API against the floor.
async fn measure(
    client: &nullspace_client::Client,
    id: &MachineId,
    agent: &Agent,
    bytes: u64,
    samples: usize,
) -> Value {
    let (mut up, mut down, mut fup, mut fdown) = (vec![], vec![], vec![], vec![]);
    for _ in 0..samples {
        let (u, d) = api_round(client, id, bytes).await;
        up.push(u);
        down.push(d);
        let (u, d) = agent_round(agent, bytes).await;
        fup.push(u);
        fdown.push(d);
    }
    let (a_up, a_down, f_up, f_down) = (
        mb_s(bytes, &up),
        mb_s(bytes, &down),
        mb_s(bytes, &fup),
        mb_s(bytes, &fdown),
    );
    json!({
        "bytes": bytes,
        "upload": {"api": stats(&up), "agent_floor": stats(&fup),
                   "api_mb_s": a_up, "agent_floor_mb_s": f_up, "ratio": round(a_up / f_up)},
        "download": {"api": stats(&down), "agent_floor": stats(&fdown),
                     "api_mb_s": a_down, "agent_floor_mb_s": f_down, "ratio": round(a_down / f_down)},
    })
}

#[tokio::main]
async fn main() {
    let (samples, small_kib, large_mib) = (
        arg("--samples", 5),
        arg("--small-kib", 1024) as u64,
        arg("--large-mib", 256) as u64,
    );
    let served = Served::start("files").await;
    let client = &served.client;
    let (api_m, rt_m, agent) = served.pair().await;
    let small = measure(client, &api_m.id, &agent, small_kib << 10, samples * 4).await;
    let large = measure(client, &api_m.id, &agent, large_mib << 20, samples).await;
    client.kill_machine(&api_m.id).await.expect("kill");
    served.direct.destroy(rt_m.id()).await.expect("destroy");
    let out = json!({"small": small, "large": large});
    println!("{}", serde_json::to_string_pretty(&out).unwrap());
}
