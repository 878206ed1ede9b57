//! SSH through the relay into real machines with the real OpenSSH client:
//! exec with stdin, stderr and exit codes, a shell on a terminal (`ssh -tt`),
//! `scp` both ways (SFTP and the legacy `-O` protocol), an `sftp -b` batch, an
//! `ssh -L` forward to a web server in the machine, a paused machine woken by
//! a login (or refused without auto-resume); and refusals: an expired
//! certificate, a revoked grant, another CA's certificate, machine A's grant
//! for machine B and for another tenant's machine.

mod sshkit;
mod support;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nullspace_server::services::ssh::ca::Issue;
use nullspace_server::services::ssh::Keys;
use nullspace_server::store::Store;
use russh::keys::ssh_key::PublicKey;
use serde_json::{json, Value};
use sshkit::{refused, show, Client};
use support::{call, temp_state, Server};

/// A running machine of `key`'s tenant.
fn machine(server: &Server, key: &str, body: Value) -> String {
    let (s, m) = call(
        "POST",
        &format!("{}/v1/machines", server.url),
        key,
        Some(body),
    );
    assert_eq!(s, 201, "{m}");
    m["id"].as_str().unwrap().to_owned()
}

/// A grant for `client` on machine `id`.
fn mint(server: &Server, key: &str, id: &str, client: &Client) -> Value {
    let (s, a) = call(
        "POST",
        &format!("{}/v1/machines/{id}/ssh-access", server.url),
        key,
        Some(json!({"public_key": client.public_key(), "expires_in_minutes": 30})),
    );
    assert_eq!(s, 201, "{a}");
    a
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Kills the child it holds (by its pid) when dropped.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn ssh_exec_shell_scp_sftp_and_forwards_reach_the_machine() {
    if support::skip("SSH end-to-end test") {
        return;
    }
    let state = temp_state("ssh");
    let server = Server::start(&state, None);
    let key = server.key("ssh");
    let id = machine(&server, &key, json!({"auto_resume": true, "timeout": 1800}));
    let work = state.join("client");
    let mut client = Client::new(&work, 0);
    let grant = mint(&server, &key, &id, &client);
    client.port = grant["relay_port"].as_u64().unwrap() as u16;
    client.install(&grant);

    // exec: output, stderr, exit code, stdin to the end (EOF closes it).
    let out = client.ssh(&id, &[], &["echo out; echo err >&2; exit 7"], b"");
    assert_eq!(out.status.code(), Some(7), "{}", show(&out));
    assert_eq!(text(&out.stdout), "out\n", "{}", show(&out));
    assert_eq!(text(&out.stderr), "err\n", "{}", show(&out));
    let out = client.ssh(&id, &[], &["whoami; pwd"], b"");
    assert_eq!(text(&out.stdout), "user\n/workspace\n", "{}", show(&out));
    let input = vec![b'x'; 300_000];
    let out = client.ssh(&id, &[], &["wc -c"], &input);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(text(&out.stdout).trim(), "300000", "{}", show(&out));
    // More output than the process table keeps of a stream (1 MiB) streams through.
    let out = client.ssh(&id, &[], &["seq 1 400000"], b"");
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let want: String = (1..=400_000).map(|i| format!("{i}\n")).collect();
    assert!(
        text(&out.stdout) == want,
        "seq output differs ({} bytes)",
        out.stdout.len()
    );

    // A shell on a terminal: commands typed in run in bash, `exit 3` is its status.
    let out = client.ssh(&id, &["-tt"], &[], b"echo $((6*7))-$TERM-$(tty)\nexit 3\n");
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let got = text(&out.stdout);
    assert!(got.contains("42-"), "{}", show(&out));
    assert!(got.contains("/dev/pts/"), "a terminal: {}", show(&out));
    // A command with a terminal.
    let out = client.ssh(&id, &["-tt"], &["tty; exit 4"], b"");
    assert_eq!(out.status.code(), Some(4), "{}", show(&out));
    assert!(text(&out.stdout).contains("/dev/pts/"), "{}", show(&out));

    // scp both ways, over SFTP and the legacy protocol.
    let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let local = work.join("up.bin");
    std::fs::write(&local, &data).unwrap();
    for (label, extra) in [("sftp", &[][..]), ("legacy", &["-O"][..])] {
        let remote = format!("{id}@127.0.0.1:/workspace/{label}.bin");
        let out = client.scp(extra, &[local.to_str().unwrap(), &remote]);
        assert_eq!(out.status.code(), Some(0), "scp {label} up: {}", show(&out));
        let back = work.join(format!("{label}-back.bin"));
        let out = client.scp(extra, &[&remote, back.to_str().unwrap()]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "scp {label} down: {}",
            show(&out)
        );
        assert!(
            std::fs::read(&back).unwrap() == data,
            "scp {label} round trip differs"
        );
    }
    let out = client.ssh(
        &id,
        &[],
        &["cmp /workspace/sftp.bin /workspace/legacy.bin && echo same"],
        b"",
    );
    assert_eq!(text(&out.stdout), "same\n", "{}", show(&out));

    // An sftp batch.
    std::fs::write(work.join("s.txt"), "through sftp\n").unwrap();
    let batch = format!(
        "put {} /workspace/s.txt\nls -1 /workspace\nmkdir /workspace/d\nrename /workspace/s.txt /workspace/d/t.txt\nget /workspace/d/t.txt {}\n",
        work.join("s.txt").display(),
        work.join("t.txt").display()
    );
    let out = client.sftp(&id, &batch);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(text(&out.stdout).contains("s.txt"), "{}", show(&out));
    assert_eq!(
        std::fs::read_to_string(work.join("t.txt")).unwrap(),
        "through sftp\n"
    );

    // ssh -L to a web server in the machine.
    let out = client.ssh(
        &id,
        &[],
        &["mkdir -p /workspace/site && echo served-through-ssh > /workspace/site/index.html"],
        b"",
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let (s, p) = call(
        "POST",
        &format!("{}/v1/machines/{id}/processes", server.url),
        &key,
        Some(
            json!({"args": ["python3", "-m", "http.server", "8000", "-d", "/workspace/site"], "tag": "web"}),
        ),
    );
    assert!(s == 200 || s == 201, "{p}");
    let port = free_port();
    let mut forward = client.ssh_command(
        &id,
        &[
            "-N",
            "-o",
            "ExitOnForwardFailure=yes",
            "-L",
            &format!("127.0.0.1:{port}:localhost:8000"),
        ],
        &[],
    );
    let _forward = Reaped(
        forward
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let body = loop {
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "10"])
            .arg(format!("http://127.0.0.1:{port}/index.html"))
            .output()
            .unwrap();
        if out.status.success() && !out.stdout.is_empty() {
            break text(&out.stdout);
        }
        assert!(
            Instant::now() < deadline,
            "the forward never answered: {}",
            show(&out)
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(body, "served-through-ssh\n");
    drop(_forward);

    // A paused machine with auto-resume is woken by a login.
    let (s, v) = call(
        "POST",
        &format!("{}/v1/machines/{id}/pause", server.url),
        &key,
        None,
    );
    assert_eq!(s, 200, "{v}");
    let out = client.ssh(&id, &[], &["echo awake"], b"");
    assert_eq!(text(&out.stdout), "awake\n", "{}", show(&out));
    let (_, m) = call(
        "GET",
        &format!("{}/v1/machines/{id}", server.url),
        &key,
        None,
    );
    assert_eq!(m["state"], "running", "{m}");
}

#[test]
fn expired_revoked_foreign_and_misdirected_certificates_are_refused() {
    if support::skip("SSH refusal end-to-end test") {
        return;
    }
    let state = temp_state("ssh-refused");
    let server = Server::start(&state, None);
    let key = server.key("alpha");
    let other_key = server.key("beta");
    let a = machine(&server, &key, json!({"timeout": 1800}));
    let b = machine(&server, &key, json!({"timeout": 1800}));
    let other = machine(&server, &other_key, json!({"timeout": 1800}));
    let work = state.join("client");
    let mut client = Client::new(&work, 0);
    let grant = mint(&server, &key, &a, &client);
    client.port = grant["relay_port"].as_u64().unwrap() as u16;
    client.install(&grant);
    let access = grant["id"].as_str().unwrap().to_owned();
    let ok = |user: &str| {
        let out = client.ssh(user, &[], &["echo in"], b"");
        assert_eq!(text(&out.stdout), "in\n", "{}", show(&out));
    };
    let no = |label: &str, user: &str| {
        let out = client.ssh(user, &[], &["echo in"], b"");
        assert!(refused(&out), "{label} must be refused: {}", show(&out));
    };
    ok(&a);
    no("A's certificate for machine B", &b);
    no("A's certificate for another tenant's machine", &other);

    // Certificates signed with the server's own CA (read from its store, as only
    // the server could) but with an expired window or another machine.
    let ours = Keys::from_store(&Store::open(&nullspace_server::db_path(&state)).unwrap()).unwrap();
    let user_key = PublicKey::from_openssh(&client.public_key()).unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let forge = |keys: &Keys, machine: &str, window: (i64, i64)| {
        let cert = keys
            .sign(&Issue {
                key: &user_key,
                access_id: &access,
                machine,
                valid_after: window.0,
                valid_before: window.1,
            })
            .unwrap();
        client.install_cert(&cert.to_openssh().unwrap());
    };
    forge(&ours, &a, (now - 600, now - 60));
    no("an expired certificate", &a);
    forge(&ours, &b, (now - 60, now + 600));
    no("A's grant in a certificate for B", &b);
    forge(&ours, &other, (now - 60, now + 600));
    no(
        "A's grant in a certificate for another tenant's machine",
        &other,
    );
    forge(
        &Keys::from_seeds(&[5; 32], &[6; 32]),
        &a,
        (now - 60, now + 600),
    );
    no("another CA's certificate", &a);

    // A paused machine without auto-resume: the login works, the channel says why.
    client.install(&grant);
    let (s, v) = call(
        "POST",
        &format!("{}/v1/machines/{a}/pause", server.url),
        &key,
        None,
    );
    assert_eq!(s, 200, "{v}");
    let out = client.ssh(&a, &[], &["echo in"], b"");
    assert_eq!(out.status.code(), Some(255), "{}", show(&out));
    assert!(text(&out.stderr).contains("paused"), "{}", show(&out));
    let (s, v) = call(
        "POST",
        &format!("{}/v1/machines/{a}/resume", server.url),
        &key,
        None,
    );
    assert_eq!(s, 200, "{v}");
    ok(&a);

    // Revoked: refused at once, though the certificate is still in its window.
    let (s, v) = call(
        "DELETE",
        &format!("{}/v1/machines/{a}/ssh-access/{access}", server.url),
        &key,
        None,
    );
    assert_eq!(s, 204, "{v}");
    no("a revoked grant", &a);
}
