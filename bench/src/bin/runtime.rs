//! Runtime benchmark: template boot, create, exec round trip, destroy, memory per
//! idle machine, and the floor (a bare QEMU restore of the same template).
//!
//! Usage: `nullspace-bench-runtime [--creates N] [--execs N] [--idle N]`; prints JSON.

use std::time::{Duration, Instant};

use nullspace_bench::{arg, floor, pss_kib, round, stats};
use nullspace_guest_proto::ExecRequest;
use nullspace_host::image::{build_image, ImageSpec};
use nullspace_host::{Runtime, RuntimeConfig};
use serde_json::json;

#[tokio::main]
async fn main() {
    let (creates, execs, idle) = (arg("--creates", 20), arg("--execs", 200), arg("--idle", 20));
    let mut cfg = RuntimeConfig::from_env();
    cfg.die_with_parent = true;
    let data_dir = cfg.data_dir.clone();
    let guestd: std::path::PathBuf = std::env::var_os("NULLSPACE_GUESTD")
        .map(Into::into)
        .unwrap_or_else(|| "target/x86_64-unknown-linux-gnu/release/nullspace-guestd".into());
    let image = build_image(&ImageSpec::base(&data_dir, guestd))
        .await
        .expect("image");
    let rt = Runtime::new(cfg.clone()).await.expect("runtime");
    let template = rt.ensure_template("base", &image).await.expect("template");

    // Template boot: a fresh template under a throw-away name.
    let boot_name = format!("bench-boot-{}", std::process::id());
    let boot = rt
        .ensure_template(&boot_name, &image)
        .await
        .expect("boot template");
    let _ = std::fs::remove_dir_all(data_dir.join("templates").join(&boot_name));

    let floor = floor(&cfg, &template, creates).await;

    let mut create = Vec::new();
    let mut destroy = Vec::new();
    for _ in 0..creates {
        let t = Instant::now();
        let m = rt.create_machine(&template).await.expect("create");
        create.push(t.elapsed());
        let t = Instant::now();
        rt.destroy(m.id()).await.expect("destroy");
        destroy.push(t.elapsed());
    }

    let m = rt.create_machine(&template).await.expect("create");
    let mut exec = Vec::new();
    for _ in 0..execs {
        let t = Instant::now();
        let out = m
            .exec(
                ExecRequest {
                    argv: vec!["true".into()],
                    ..Default::default()
                },
                None,
            )
            .await
            .expect("exec");
        exec.push(t.elapsed());
        assert_eq!(out.result.exit_code, Some(0));
    }
    // Pause and resume (to the first command answered) of the same machine.
    let (mut pause, mut resume) = (Vec::new(), Vec::new());
    let mut paused_disk = 0u64;
    let id = m.id().clone();
    let dir = m.dir().to_owned();
    for _ in 0..arg("--pauses", 5) {
        let t = Instant::now();
        rt.pause(&id).await.expect("pause");
        pause.push(t.elapsed());
        paused_disk = std::fs::read_dir(&dir)
            .map(|rd| {
                rd.flatten()
                    .filter_map(|e| e.metadata().ok())
                    .map(|md| {
                        use std::os::unix::fs::MetadataExt;
                        md.blocks() * 512
                    })
                    .sum()
            })
            .unwrap_or(0);
        let t = Instant::now();
        let resumed = rt.resume(&id).await.expect("resume");
        resumed
            .exec(
                ExecRequest {
                    argv: vec!["true".into()],
                    ..Default::default()
                },
                None,
            )
            .await
            .expect("exec after resume");
        resume.push(t.elapsed());
    }
    let m = rt.machine(&id).expect("resumed machine");
    let mut health = Vec::new();
    for _ in 0..execs {
        let t = Instant::now();
        m.agent()
            .expect("agent")
            .health(Duration::from_secs(10))
            .await
            .expect("health");
        health.push(t.elapsed());
    }
    rt.destroy(m.id()).await.expect("destroy");

    // Idle machines at once.
    let mut machines = Vec::new();
    for _ in 0..idle {
        machines.push(rt.create_machine(&template).await.expect("create idle"));
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut answering = 0;
    for m in &machines {
        if m.agent()
            .expect("agent")
            .health(Duration::from_secs(10))
            .await
            .is_ok()
        {
            answering += 1;
        }
    }
    let pss: Vec<u64> = machines
        .iter()
        .filter_map(|m| pss_kib(m.vmm_pid()))
        .collect();
    let total_pss: u64 = pss.iter().sum();
    for m in &machines {
        rt.destroy(m.id()).await.expect("destroy idle");
    }

    let create_stats = stats(&create);
    let floor_stats = stats(&floor);
    let ratio = create_stats["p50_ms"].as_f64().unwrap() / floor_stats["p50_ms"].as_f64().unwrap();
    let report = json!({
        "benchmark": "runtime",
        "accel": cfg.qemu.accel.accel.as_str(),
        "accel_reason": cfg.qemu.accel.reason,
        "memory_mib": cfg.memory_mib,
        "template_boot_ms": boot.boot_ms,
        "floor_bare_qemu_restore": floor_stats,
        "create": create_stats,
        "create_p50_over_floor_p50": round(ratio),
        "exec_true_round_trip": stats(&exec),
        "agent_health_round_trip": stats(&health),
        "pause": stats(&pause),
        "resume_to_first_command": stats(&resume),
        "disk_per_paused_machine_mib": round(paused_disk as f64 / 1048576.0),
        "destroy": stats(&destroy),
        "idle_machines": {
            "count": idle,
            "answering": answering,
            "pss_per_machine_mib": round(total_pss as f64 / pss.len().max(1) as f64 / 1024.0),
            "pss_total_mib": round(total_pss as f64 / 1024.0),
        },
        "targets": {
            "create_p50_over_floor_max": 1.5,
            "exec_p50_ms_max": 10.0,
            "idle_machines_min": 20,
        },
    });
    println!("{}", serde_json::to_string_pretty(&report).unwrap());
}
