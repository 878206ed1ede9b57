//! Directory benchmark: a tree of many small files uploaded as a tar stream and
//! downloaded as one through the API, each against the same archive moved over
//! the bare agent channel (the floor, same run: `extract_archive` and
//! `create_archive` on a machine of the runtime); and the time of a content
//! search and a name search over that tree, through the API and over the bare
//! channel.
//!
//! Usage: `tree [--samples N] [--files N]`; prints JSON.

use std::time::{Duration, Instant};

use futures_util::TryStreamExt;
use nullspace_api::{Conflict, FindRequest};
use nullspace_bench::{arg, round, stats, Served};
use nullspace_client::{Body, Client};
use nullspace_guest_proto::{
    Conflict as GuestConflict, ExtractRequest, FindRequest as GuestFind, Op, Scope, TextMatch,
};
use nullspace_host::agent::Agent;
use nullspace_types::MachineId;
use serde_json::{json, Value};

/// A tar of `files` small files in directories of 100, one in 100 holding `NEEDLE`.
fn tree(files: usize) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for i in 0..files {
        let text = if i % 100 == 7 {
            format!("line one\nfile {i} has the NEEDLE here\n")
        } else {
            format!("line one\nfile {i} is plain text of a small source file\n")
        };
        let mut h = tar::Header::new_gnu();
        h.set_size(text.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(
            &mut h,
            format!("d{:03}/f{i:05}.txt", i / 100),
            text.as_bytes(),
        )
        .expect("tar");
    }
    b.into_inner().expect("tar")
}

fn scope(path: &str) -> Scope {
    Scope {
        path: path.into(),
        root: None,
        user: Some("user".into()),
    }
}

async fn api_upload(client: &Client, id: &MachineId, tar: &[u8], dest: &str) -> Duration {
    let t = Instant::now();
    let facts = client
        .write_archive_body(id, dest, Body::from(tar.to_vec()), Conflict::Merge, None)
        .await
        .expect("archive upload");
    assert!(facts.files > 0);
    t.elapsed()
}

async fn agent_upload(agent: &Agent, tar: &[u8], dest: &str) -> Duration {
    let op = Op::ExtractArchive(ExtractRequest {
        scope: scope(dest),
        conflict: GuestConflict::Merge,
        source: None,
    });
    let t = Instant::now();
    let pieces =
        futures_util::stream::iter(tar.chunks(1 << 20).map(|c| Ok::<_, String>(c.to_vec())));
    agent
        .input_stream(op, pieces, Duration::from_secs(600))
        .await
        .expect("extract");
    t.elapsed()
}

async fn api_download(client: &Client, id: &MachineId, dir: &str) -> (Duration, u64) {
    let t = Instant::now();
    let mut s = client
        .read_archive_stream(id, dir, None)
        .await
        .expect("archive");
    let mut n = 0u64;
    while let Some(c) = s.try_next().await.expect("chunk") {
        n += c.len() as u64;
    }
    (t.elapsed(), n)
}

async fn agent_download(agent: &Agent, dir: &str) -> Duration {
    let t = Instant::now();
    let mut r = agent
        .read_stream(Op::CreateArchive(scope(dir)))
        .await
        .expect("archive");
    while r.next().await.expect("chunk").is_some() {}
    t.elapsed()
}

fn find_op(dir: &str) -> Op {
    Op::FindInFiles(GuestFind {
        scope: scope(dir),
        text: TextMatch {
            pattern: "NEEDLE".into(),
            regex: false,
            case_sensitive: true,
            include: None,
        },
        max_results: 10_000,
        max_file_bytes: 10 << 20,
    })
}

fn pair(api: &[Duration], floor: &[Duration]) -> Value {
    let (a, f) = (stats(api), stats(floor));
    let ratio = a["p50_ms"].as_f64().unwrap_or(f64::NAN) / f["p50_ms"].as_f64().unwrap_or(f64::NAN);
    json!({"api": a, "agent_floor": f, "time_ratio": round(ratio)})
}

#[tokio::main]
async fn main() {
    let (samples, files) = (arg("--samples", 3), arg("--files", 10_000));
    let served = Served::start("tree").await;
    let client = &served.client;
    let (api_m, rt_m, agent) = served.pair().await;
    let id = &api_m.id;
    let tar = tree(files);
    let (mut up, mut fup, mut down, mut fdown, mut find, mut ffind, mut search) =
        (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
    let mut archive_bytes = 0;
    for i in 0..samples {
        let dest = format!("/workspace/t{i}");
        up.push(api_upload(client, id, &tar, &dest).await);
        fup.push(agent_upload(&agent, &tar, &dest).await);
        let (d, n) = api_download(client, id, &dest).await;
        down.push(d);
        archive_bytes = n;
        fdown.push(agent_download(&agent, &dest).await);
        let t = Instant::now();
        let req = FindRequest {
            path: dest.clone(),
            pattern: "NEEDLE".into(),
            max_results: Some(10_000),
            ..Default::default()
        };
        let hits = client.find_in_files(id, &req).await.expect("find");
        find.push(t.elapsed());
        assert_eq!(
            hits.matches.len(),
            (0..files).filter(|i| i % 100 == 7).count()
        );
        let t = Instant::now();
        agent.file_op(find_op(&dest)).await.expect("find floor");
        ffind.push(t.elapsed());
        let t = Instant::now();
        client
            .search_files(id, &dest, "f0*7.txt", Some(10_000), None)
            .await
            .expect("search");
        search.push(t.elapsed());
    }
    client.kill_machine(id).await.expect("kill");
    served.direct.destroy(rt_m.id()).await.expect("destroy");
    let out = json!({
        "files": files,
        "tar_bytes": tar.len(),
        "archive_download_bytes": archive_bytes,
        "upload_dir": pair(&up, &fup),
        "download_dir": pair(&down, &fdown),
        "find_files": pair(&find, &ffind),
        "search_files": {"api": stats(&search)},
    });
    println!("{}", serde_json::to_string_pretty(&out).unwrap());
}
