//! SSH relay benchmark: the round trip of `true` run in a machine by the real
//! OpenSSH client through the relay, on a connection kept open (a new exec
//! channel per sample, `ControlMaster`) and with a new connection each time
//! (handshake and certificate login included), against the same command run
//! through the HTTP API (`POST …/commands`, the floor, same run, same machine).
//!
//! Usage: `ssh [--samples N] [--logins N]`; prints JSON. Needs root and `ssh`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nullspace_api::{CreateMachineRequest, RunCommandRequest};
use nullspace_bench::{arg, round, stats, Served};
use serde_json::json;

/// `ssh` with the grant's files, to the machine; `extra` options first.
fn ssh(dir: &Path, port: u16, user: &str, extra: &[String], remote: &str) -> Command {
    let mut c = Command::new("ssh");
    c.args(["-F", "/dev/null", "-i"])
        .arg(dir.join("key"))
        .arg("-o")
        .arg(format!(
            "CertificateFile={}",
            dir.join("key-cert.pub").display()
        ))
        .arg("-o")
        .arg(format!(
            "UserKnownHostsFile={}",
            dir.join("known_hosts").display()
        ))
        .args(["-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes"])
        .args(["-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none"])
        .args(extra)
        .args(["-p", &port.to_string()])
        .arg(format!("{user}@127.0.0.1"))
        .args((!remote.is_empty()).then_some(remote))
        .stdin(Stdio::null());
    c
}

/// Time `n` runs of `cmd()`, each of which must succeed.
fn time(n: usize, mut cmd: impl FnMut() -> Command) -> Vec<Duration> {
    (0..n)
        .map(|_| {
            let t = Instant::now();
            let out = cmd().output().expect("ssh (openssh-client)");
            let took = t.elapsed();
            assert!(
                out.status.success(),
                "ssh failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            took
        })
        .collect()
}

#[tokio::main]
async fn main() {
    let (samples, logins) = (arg("--samples", 100), arg("--logins", 20));
    let served = Served::start("ssh").await;
    let client = &served.client;
    let m = client
        .create_machine(&CreateMachineRequest::default())
        .await
        .expect("create");
    let dir = std::env::temp_dir().join(format!("ns-bench-ssh-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let made = Command::new("ssh-keygen")
        .args(["-t", "ed25519", "-N", "", "-q", "-f"])
        .arg(dir.join("key"))
        .status()
        .expect("ssh-keygen");
    assert!(made.success());
    let public = std::fs::read_to_string(dir.join("key.pub")).unwrap();
    let access = client
        .create_ssh_access(&m.id, public.trim(), Some(60))
        .await
        .expect("ssh access");
    std::fs::write(
        dir.join("key-cert.pub"),
        format!("{}\n", access.certificate),
    )
    .unwrap();
    std::fs::write(dir.join("known_hosts"), format!("{}\n", access.known_hosts)).unwrap();
    let port = served.ssh_addr.port();
    let user = m.id.to_string();

    // The floor: the same command through the HTTP API.
    let req = RunCommandRequest {
        args: Some(vec!["true".into()]),
        ..Default::default()
    };
    let mut api = Vec::new();
    for _ in 0..samples {
        let t = Instant::now();
        let r = client.run_command(&m.id, &req).await.expect("api exec");
        api.push(t.elapsed());
        assert_eq!(r.exit_code, 0);
    }

    let (dir2, user2) = (dir.clone(), user.clone());
    let (channel, login) = tokio::task::spawn_blocking(move || {
        let control = dir2.join("control");
        let path = [
            "-o".to_owned(),
            format!("ControlPath={}", control.display()),
        ];
        // A master connection of our own (killed by its pid below); each sample
        // opens a new exec channel on it.
        let mut master = ssh(&dir2, port, &user2, &["-M".into(), "-N".into()], "")
            .args(path.iter())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("ssh master");
        let up = Instant::now();
        while !control.exists() {
            assert!(
                up.elapsed() < Duration::from_secs(60),
                "the master never came up"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut shared = path.to_vec();
        shared.extend(["-o".to_owned(), "ControlMaster=no".to_owned()]);
        let channel = time(samples, || ssh(&dir2, port, &user2, &shared, "true"));
        let _ = master.kill();
        let _ = master.wait();
        let login = time(logins, || ssh(&dir2, port, &user2, &[], "true"));
        (channel, login)
    })
    .await
    .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let p50 = |v: &[Duration]| stats(v)["p50_ms"].as_f64().unwrap();
    println!(
        "{}",
        serde_json::to_string_pretty(&json!({
            "ssh_exec_channel": stats(&channel),
            "ssh_exec_new_connection": stats(&login),
            "api_exec_floor": stats(&api),
            "channel_over_floor_p50": round(p50(&channel) / p50(&api)),
            "note": "channel: a new exec channel on an open ssh connection (ControlMaster), timed around the ssh client process; new connection: key exchange and certificate login included; floor: POST /commands of the same command, same machine, same run",
        }))
        .unwrap()
    );
}
