//! Control-plane benchmark: create and exec through the HTTP API beside the
//! runtime's own figures in the same run, and creates per second with 8 clients
//! in parallel, so the API's overhead is a ratio.
//!
//! Usage: `api [--creates N] [--execs N] [--parallel-creates N]`; prints JSON.

use std::time::{Duration, Instant};

use nullspace_api::{CreateMachineRequest, RunCommandRequest};
use nullspace_bench::{arg, round, stats, Served};
use nullspace_guest_proto::ExecRequest;
use serde_json::json;

/// Ratio of two p50s.
fn ratio(a: &serde_json::Value, b: &serde_json::Value) -> f64 {
    round(a["p50_ms"].as_f64().unwrap() / b["p50_ms"].as_f64().unwrap())
}

#[tokio::main]
async fn main() {
    let (n, execs, parallel) = (
        arg("--creates", 20),
        arg("--execs", 200),
        arg("--parallel-creates", 16),
    );
    let served = Served::start("api").await;
    let (direct, template, client) = (&served.direct, &served.template, &served.client);

    // Creates, interleaved so both see the same machine conditions.
    let (mut api_create, mut rt_create) = (Vec::new(), Vec::new());
    for _ in 0..n {
        let t = Instant::now();
        let m = client
            .create_machine(&CreateMachineRequest::default())
            .await
            .expect("api create");
        api_create.push(t.elapsed());
        client.kill_machine(&m.id).await.expect("api kill");
        let t = Instant::now();
        let m = direct
            .create_machine(template)
            .await
            .expect("runtime create");
        rt_create.push(t.elapsed());
        direct.destroy(m.id()).await.expect("destroy");
    }

    // Exec `true` as root through both paths on one machine each.
    let api_m = client
        .create_machine(&CreateMachineRequest::default())
        .await
        .expect("create");
    let rt_m = direct.create_machine(template).await.expect("create");
    let (mut api_exec, mut rt_exec) = (Vec::new(), Vec::new());
    let req = RunCommandRequest {
        args: Some(vec!["true".into()]),
        user: Some("root".into()),
        ..Default::default()
    };
    for _ in 0..execs {
        let t = Instant::now();
        let r = client.run_command(&api_m.id, &req).await.expect("api exec");
        api_exec.push(t.elapsed());
        assert_eq!(r.exit_code, 0);
        let t = Instant::now();
        let r = rt_m
            .exec(
                ExecRequest {
                    argv: vec!["true".into()],
                    cwd: Some("/workspace".into()),
                    ..Default::default()
                },
                None,
            )
            .await
            .expect("runtime exec");
        rt_exec.push(t.elapsed());
        assert_eq!(r.result.exit_code, Some(0));
    }
    client.kill_machine(&api_m.id).await.expect("kill");
    direct.destroy(rt_m.id()).await.expect("destroy");

    // Creates per second, 8 clients in parallel.
    let clients = 8;
    let t = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let client = client.clone();
        let per = parallel / clients + usize::from(c < parallel % clients);
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for _ in 0..per {
                ids.push(
                    client
                        .create_machine(&CreateMachineRequest::default())
                        .await
                        .expect("create")
                        .id,
                );
            }
            ids
        }));
    }
    let mut ids = Vec::new();
    for task in tasks {
        ids.extend(task.await.unwrap());
    }
    let api_rate = ids.len() as f64 / t.elapsed().as_secs_f64();
    for id in &ids {
        client.kill_machine(id).await.expect("kill");
    }
    let t = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (rt, template) = (direct.clone(), template.clone());
        let per = parallel / clients + usize::from(c < parallel % clients);
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for _ in 0..per {
                ids.push(
                    rt.create_machine(&template)
                        .await
                        .expect("create")
                        .id()
                        .clone(),
                );
            }
            ids
        }));
    }
    let mut rt_ids = Vec::new();
    for task in tasks {
        rt_ids.extend(task.await.unwrap());
    }
    let rt_rate = rt_ids.len() as f64 / t.elapsed().as_secs_f64();
    for id in &rt_ids {
        direct.destroy(id).await.expect("destroy");
    }
    tokio::time::sleep(Duration::from_millis(100)).await;

    let (ac, rc, ae, re) = (
        stats(&api_create),
        stats(&rt_create),
        stats(&api_exec),
        stats(&rt_exec),
    );
    let report = json!({
        "benchmark": "api",
        "accel": direct.config().qemu.accel.accel.as_str(),
        "create": {"api": ac, "runtime": rc, "api_over_runtime_p50": ratio(&ac, &rc)},
        "exec_true_round_trip": {
            "api": ae,
            "runtime": re,
            "api_minus_runtime_p50_ms": round(ae["p50_ms"].as_f64().unwrap() - re["p50_ms"].as_f64().unwrap()),
        },
        "creates_per_second_8_clients": {
            "machines": parallel,
            "api": round(api_rate),
            "runtime": round(rt_rate),
            "api_over_runtime": round(api_rate / rt_rate),
        },
        "targets": {"create_api_over_runtime_max": 1.10, "exec_added_ms_max": 2.0},
    });
    println!("{}", serde_json::to_string_pretty(&report).unwrap());
}
