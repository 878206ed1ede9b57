//! Real microVMs: machines from the `base` template, exec and files, isolation.

mod common;

use nullspace_guest_proto::ExecRequest;
use nullspace_host::agent::WriteOptions;
use nullspace_host::Origin;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_machines_from_base_are_isolated() {
    let rt = common::runtime().await;
    let Some(template) = common::template(&rt).await else {
        return;
    };
    let (a, b, c) = tokio::join!(
        rt.create_machine(&template),
        rt.create_machine(&template),
        rt.create_machine(&template)
    );
    let machines = [a.unwrap(), b.unwrap(), c.unwrap()];
    for m in &machines {
        assert_eq!(m.origin(), &Origin::Template("base".into()));
        let (code, out, _) = common::sh(
            m,
            "python3 --version && hostname && id -un user && stat -c %U /workspace",
        )
        .await;
        assert_eq!(code, 0);
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[0].starts_with("Python 3."), "{out}");
        assert_eq!(lines[1], m.hostname(), "hostname is the machine's own");
        assert_eq!(lines[2], "user");
        assert_eq!(lines[3], "user");
        // Files: write in this machine only.
        let agent = m.agent().unwrap();
        let body = format!("hello from {}", m.id());
        let info = agent
            .write_file(
                "/workspace/mine.txt",
                body.as_bytes(),
                WriteOptions {
                    owner: Some("user".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(info.owner, "user");
        assert_eq!(info.size, body.len() as u64);
    }
    for m in &machines {
        let agent = m.agent().unwrap();
        let got = agent
            .read_file("/workspace/mine.txt", 0, None)
            .await
            .unwrap();
        assert_eq!(
            got,
            format!("hello from {}", m.id()).as_bytes(),
            "each machine sees only its own file"
        );
        let entries = agent.list("/workspace", 1).await.unwrap();
        assert_eq!(entries.iter().filter(|e| e.name == "mine.txt").count(), 1);
    }
    // A file written in one is invisible in the others.
    machines[0]
        .agent()
        .unwrap()
        .write_file("/tmp/only-a", b"a", Default::default())
        .await
        .unwrap();
    assert!(machines[0]
        .agent()
        .unwrap()
        .exists("/tmp/only-a")
        .await
        .unwrap());
    assert!(!machines[1]
        .agent()
        .unwrap()
        .exists("/tmp/only-a")
        .await
        .unwrap());
    assert!(!machines[2]
        .agent()
        .unwrap()
        .exists("/tmp/only-a")
        .await
        .unwrap());
    // Distinct entropy: the clones of one template read different random bytes.
    let mut seen = std::collections::HashSet::new();
    for m in &machines {
        let (_, out, _) =
            common::sh(m, "head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n'").await;
        assert_eq!(out.len(), 64);
        assert!(seen.insert(out), "two machines read the same random bytes");
    }
    // Exec as user, with env, cwd and stdin.
    let out = machines[0]
        .exec(
            ExecRequest {
                argv: vec![
                    "sh".into(),
                    "-c".into(),
                    "echo $(id -un):$PWD:$FOO:$(cat)".into(),
                ],
                env: [("FOO".to_string(), "bar".to_string())].into(),
                cwd: Some("/workspace".into()),
                user: Some("user".into()),
                ..Default::default()
            },
            Some(b"piped"),
        )
        .await
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "user:/workspace:bar:piped\n"
    );
    // Guest network: an HTTP server on the gateway address, inside this machine's
    // own namespace, answers the guest.
    let server = serve_once_in_netns(machines[1].netns(), "10.0.2.1:18080", "hello-from-host");
    let (code, out, err) = common::sh(&machines[1], "curl -s -m 20 http://10.0.2.1:18080/").await;
    assert_eq!((code, out.as_str()), (0, "hello-from-host"), "{err}");
    server.join().unwrap();
    for m in &machines {
        let (pid, ns, dir) = (m.vmm_pid(), m.netns().to_owned(), m.dir().to_owned());
        rt.destroy(m.id()).await.unwrap();
        common::assert_released(pid, &ns, &dir).await;
    }
    assert!(rt.machines().is_empty());
}

/// Serve one HTTP response on `addr` inside network namespace `netns`.
fn serve_once_in_netns(netns: &str, addr: &str, body: &'static str) -> std::thread::JoinHandle<()> {
    use std::io::{Read, Write};
    use std::os::fd::AsRawFd;
    let ns = std::fs::File::open(format!("/run/netns/{netns}")).unwrap();
    let addr = addr.to_owned();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let handle = std::thread::spawn(move || {
        // SAFETY: setns on a valid namespace fd; affects only this thread.
        let entered = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(entered, 0);
        let listener = std::net::TcpListener::bind(&addr).unwrap();
        ready_tx.send(()).unwrap();
        let (mut conn, _) = listener.accept().unwrap();
        let mut buf = [0u8; 1024];
        let _ = conn.read(&mut buf).unwrap();
        write!(
            conn,
            "HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
    });
    ready_rx.recv().unwrap();
    handle
}
