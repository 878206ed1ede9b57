//! Template build benchmark: the build time of a small builder template (two run
//! steps, a start command serving HTTP, a port probe) cold and with every step
//! cached, the cost of one added step on top of a cached prefix, and creating a
//! machine from the built template against creating one from `base` (the floor,
//! same run).
//!
//! Usage: `templates [--creates N] [--builds N]`; prints JSON. Needs root.

use std::time::{Duration, Instant};

use nullspace_api::{BuildStatus, CreateMachineRequest, TemplateBuildRequest, TemplateStep};
use nullspace_bench::{arg, round, stats, Served};
use nullspace_client::Client;
use serde_json::json;

fn run(cmd: &str) -> TemplateStep {
    TemplateStep::Run {
        cmd: cmd.into(),
        user: None,
    }
}

fn request(name: &str, steps: Vec<TemplateStep>, skip_cache: bool) -> TemplateBuildRequest {
    TemplateBuildRequest {
        name: name.into(),
        steps,
        start_cmd: Some("python3 -m http.server 8000".into()),
        ready_cmd: Some("ss -ltn | grep -q ':8000 '".into()),
        skip_cache,
        ..Default::default()
    }
}

/// Build and wait; answers the wall time and how many steps were cached.
async fn build(client: &Client, req: &TemplateBuildRequest) -> (Duration, u32) {
    let t = Instant::now();
    let b = client.build_template(req).await.expect("build");
    loop {
        let now = client.template_build(&b.id, 0).await.expect("status");
        match now.status {
            BuildStatus::Ready => return (t.elapsed(), now.steps_cached),
            BuildStatus::Error => panic!("build failed: {:?}", now.error),
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

fn ms(d: Duration) -> f64 {
    round(d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() {
    let (creates, builds) = (arg("--creates", 7), arg("--builds", 3));
    let served = Served::start("templates").await;
    let client = &served.client;
    let name = format!("bench-{}", std::process::id());
    let steps = vec![
        run("mkdir -p /workspace/site && echo hello > /workspace/site/index.html"),
        run("python3 -c 'import json, http.server' && echo warmed"),
    ];
    let mut cold = Vec::new();
    let mut cached = Vec::new();
    for _ in 0..builds {
        cold.push(build(client, &request(&name, steps.clone(), true)).await.0);
        let (d, hit) = build(client, &request(&name, steps.clone(), false)).await;
        assert_eq!(hit, steps.len() as u32, "every step is cached");
        cached.push(d);
    }
    // One more step on a cached prefix (a new command each round).
    let mut added = Vec::new();
    for i in 0..builds {
        let mut more = steps.clone();
        more.push(run(&format!(
            "echo {i}-{} > /workspace/extra",
            std::process::id()
        )));
        let (d, hit) = build(client, &request(&name, more, false)).await;
        assert_eq!(hit, steps.len() as u32);
        added.push(d);
    }
    let mut from_template = Vec::new();
    let mut from_base = Vec::new();
    for _ in 0..creates {
        for (template, out) in [
            (name.as_str(), &mut from_template),
            ("base", &mut from_base),
        ] {
            let req = CreateMachineRequest {
                template: Some(template.into()),
                ..Default::default()
            };
            let t = Instant::now();
            let m = client.create_machine(&req).await.expect("create");
            out.push(t.elapsed());
            client.kill_machine(&m.id).await.expect("kill");
        }
    }
    client.delete_template(&name).await.expect("delete");
    let pruned = client.prune_template_cache().await.expect("prune");
    let median = |v: &[Duration]| {
        let mut v = v.to_vec();
        v.sort();
        v[v.len() / 2]
    };
    println!(
        "{}",
        serde_json::to_string_pretty(&json!({
            "build_cold_ms": stats(&cold),
            "build_cached_ms": stats(&cached),
            "added_step_ms": stats(&added),
            "added_step_cost_ms": round(ms(median(&added)) - ms(median(&cached))),
            "create_from_template_ms": stats(&from_template),
            "create_from_base_ms": stats(&from_base),
            "create_ratio_to_base": round(median(&from_template).as_secs_f64() / median(&from_base).as_secs_f64()),
            "cache_pruned": pruned.deleted,
        }))
        .unwrap()
    );
}
