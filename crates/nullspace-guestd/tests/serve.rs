//! End-to-end tests: the built binary serving on a unix socket, driven through the
//! protocol crate's encoder and decoder. Run as root on an ordinary Linux host.

mod support;

use std::collections::BTreeMap;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

use nullspace_guest_proto::{
    CallId, EntryKind, ErrorCode, ExecRequest, ExecResult, GuestMsg, HostMsg, Identity, Op,
    OpResult, MAGIC,
};
use support::{exists, Guestd};

fn shell(cmd: &str) -> ExecRequest {
    ExecRequest {
        shell: Some(cmd.into()),
        ..Default::default()
    }
}

fn exec_result(r: OpResult) -> ExecResult {
    match r {
        OpResult::Exec(e) => e,
        other => panic!("not an exec result: {other:?}"),
    }
}

fn entry(r: OpResult) -> nullspace_guest_proto::EntryInfo {
    match r {
        OpResult::Entry(e) => e,
        other => panic!("not an entry: {other:?}"),
    }
}

#[test]
fn hello_records_identity_and_health_reports() {
    let g = Guestd::start("hello");
    let mut c = g.connect();
    let OpResult::Info(first) = c
        .call(Op::Hello {
            identity: None,
            protocol: 1,
        })
        .ok()
    else {
        panic!()
    };
    assert_eq!(first.identity_generation, 0);
    assert_eq!(first.protocol, nullspace_guest_proto::PROTOCOL_VERSION);
    assert_eq!(first.version, env!("CARGO_PKG_VERSION"));
    assert_eq!(
        first.capabilities,
        ["process", "pty", "credit", "wait", "tree", "archive", "watch"]
    );
    assert!(!first.kernel.is_empty());
    let identity = Identity {
        hostname: "restored-7".into(),
        unix_time_ns: 1_700_000_000_000_000_000,
        seed: vec![9; 32],
    };
    let OpResult::Info(after) = c
        .call(Op::Hello {
            identity: Some(identity),
            protocol: 1,
        })
        .ok()
    else {
        panic!()
    };
    assert_eq!(after.identity_generation, 1);
    assert_eq!(after.hostname, "restored-7");
    let OpResult::Info(health) = c.call(Op::Health).ok() else {
        panic!()
    };
    assert_eq!(health.identity_generation, 1);
    assert!(health.uptime_ms >= first.uptime_ms);
}

#[test]
fn exec_streams_stdout_stderr_and_exit_code() {
    let g = Guestd::start("exec");
    let mut c = g.connect();
    let r = c.call(Op::Exec(shell("echo out; echo err >&2; exit 3")));
    assert!(matches!(r.frames[0].msg, GuestMsg::Started { pid, .. } if pid > 1));
    assert_eq!(r.stdout(), "out\n");
    assert_eq!(r.stderr(), "err\n");
    let res = exec_result(r.ok());
    assert_eq!(
        (res.exit_code, res.signal, res.timed_out),
        (Some(3), None, false)
    );

    // argv form, environment overlay, working directory.
    let mut env = BTreeMap::new();
    env.insert("GREETING".to_string(), "hi there".to_string());
    let r = c.call(Op::Exec(ExecRequest {
        argv: vec![
            "sh".into(),
            "-c".into(),
            "echo \"$GREETING|$PWD|$LANG|$HOME\"".into(),
        ],
        env,
        cwd: Some(g.dir.to_str().unwrap().into()),
        ..Default::default()
    }));
    assert_eq!(
        r.stdout(),
        format!("hi there|{}|C.UTF-8|/root\n", g.dir.display())
    );
    assert_eq!(exec_result(r.ok()).exit_code, Some(0));
}

#[test]
fn exec_child_starts_clean() {
    let g = Guestd::start("clean");
    let mut c = g.connect();
    let argv = |a: &[&str]| ExecRequest {
        argv: a.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    };
    // Only the three pipes reach the child (3 is ls's own directory).
    let r = c.call(Op::Exec(argv(&["ls", "/proc/self/fd"])));
    assert_eq!(r.stdout(), "0\n1\n2\n3\n");
    // SIGPIPE is back to its default: `yes` ends quietly when `head` leaves.
    let r = c.call(Op::Exec(shell("yes | head -1")));
    assert_eq!((r.stdout(), r.stderr()), ("y\n".to_string(), String::new()));
    assert_eq!(exec_result(r.ok()).exit_code, Some(0));
    // A process killed by a signal reports it, without an exit code.
    let res = exec_result(c.call(Op::Exec(shell("kill -KILL $$"))).ok());
    assert_eq!((res.exit_code, res.signal), (None, Some(libc::SIGKILL)));
    // The working directory is honoured, and the process leads its group.
    let mut req = shell("pwd; echo $$; cut -d' ' -f5 /proc/$$/stat");
    req.cwd = Some(g.dir.to_str().unwrap().into());
    let r = c.call(Op::Exec(req));
    let out = r.stdout();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert_eq!(lines[0], g.dir.to_str().unwrap());
    assert_eq!(lines[1], lines[2]);
}

#[test]
fn exec_runs_as_other_users() {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    let Some(uid) = passwd
        .lines()
        .find(|l| l.starts_with("nobody:"))
        .map(|l| l.split(':').nth(2).unwrap().to_string())
    else {
        eprintln!("no nobody user on this host; skipping");
        return;
    };
    let g = Guestd::start("user");
    let mut c = g.connect();
    let mut req = shell("id -u; echo $USER; yes | head -1");
    req.user = Some("nobody".into());
    let r = c.call(Op::Exec(req));
    // SIGPIPE is back to its default there too.
    assert_eq!(r.stdout(), format!("{uid}\nnobody\ny\n"));
    assert_eq!(r.stderr(), "");
    // Only the three pipes reach the process (3 is ls's own directory).
    let req = ExecRequest {
        argv: vec!["ls".into(), "/proc/self/fd".into()],
        user: Some("nobody".into()),
        ..Default::default()
    };
    assert_eq!(c.call(Op::Exec(req)).stdout(), "0\n1\n2\n3\n");
}

#[test]
fn exec_feeds_stdin() {
    let g = Guestd::start("stdin");
    let mut c = g.connect();
    let req = ExecRequest {
        argv: vec!["cat".into()],
        stdin: true,
        ..Default::default()
    };
    let r = c.call_with_input(Op::Exec(req), &[b"hello\n", b"world"]);
    assert_eq!(r.stdout(), "hello\nworld");
    assert_eq!(exec_result(r.ok()).exit_code, Some(0));

    // Without `stdin`, the process reads /dev/null.
    let r = c.call(Op::Exec(shell("wc -c")));
    assert_eq!(r.stdout().trim(), "0");
}

#[test]
fn exec_timeout_kills_the_process_group() {
    let g = Guestd::start("timeout");
    let mut c = g.connect();
    let t = Instant::now();
    let mut req = shell("sleep 20 & sleep 20; echo never");
    req.timeout_ms = Some(300);
    let r = c.call(Op::Exec(req));
    assert_eq!(r.stdout(), "");
    let res = exec_result(r.ok());
    assert!(res.timed_out);
    assert_eq!(res.signal, Some(libc::SIGKILL));
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert!(res.duration_ms >= 300);
}

#[test]
fn exec_signal_reaches_the_process() {
    let g = Guestd::start("signal");
    let mut c = g.connect();
    let id = c.start(Op::Exec(shell("sleep 20")));
    c.wait_for(id, |m| matches!(m, GuestMsg::Started { .. }));
    c.send(
        &HostMsg::Signal {
            id,
            signal: libc::SIGTERM,
        },
        &[],
    );
    let res = exec_result(c.wait(id).ok());
    assert_eq!(res.signal, Some(libc::SIGTERM));
    assert!(!res.timed_out);
}

#[test]
fn exec_precise_errors() {
    let g = Guestd::start("execerr");
    let mut c = g.connect();
    let mut req = shell("true");
    req.user = Some("no-such-user-xyz".into());
    assert_eq!(c.call(Op::Exec(req)).err().code, ErrorCode::UserNotFound);
    let mut req = shell("true");
    req.cwd = Some("/nonexistent/dir/xyz".into());
    assert_eq!(c.call(Op::Exec(req)).err().code, ErrorCode::CwdNotFound);
    let req = ExecRequest {
        argv: vec!["no-such-binary-xyz".into()],
        ..Default::default()
    };
    assert_eq!(c.call(Op::Exec(req)).err().code, ErrorCode::CommandNotFound);
    let mut req = shell("true");
    req.argv = vec!["true".into()];
    assert_eq!(c.call(Op::Exec(req)).err().code, ErrorCode::InvalidArgument);
    let r = c.call(Op::Exec(ExecRequest::default()));
    assert_eq!(
        r.frames.len(),
        1,
        "a failed call sends only its failed frame"
    );
    assert_eq!(r.err().code, ErrorCode::InvalidArgument);
}

#[test]
fn concurrent_execs_interleave_and_output_streams() {
    let g = Guestd::start("concurrent");
    let mut c = g.connect();
    let a = c.start(Op::Exec(shell(
        "for i in 1 2 3; do echo a$i; sleep 0.3; done",
    )));
    let b = c.start(Op::Exec(shell(
        "for i in 1 2 3; do echo b$i; sleep 0.3; done",
    )));
    let ra = c.wait(a);
    let rb = c.wait(b);
    assert_eq!(ra.stdout(), "a1\na2\na3\n");
    assert_eq!(rb.stdout(), "b1\nb2\nb3\n");
    // Both ran at once: b's output arrived before a finished.
    let a_done = c
        .order
        .iter()
        .position(|&(id, end)| id == a && end)
        .unwrap();
    let b_first = c.order.iter().position(|&(id, _)| id == b).unwrap();
    assert!(b_first < a_done, "{:?}", c.order);

    // Output arrives while the process still runs.
    let id = c.start(Op::Exec(shell("echo first; sleep 2; echo second")));
    c.wait_for(id, |m| matches!(m, GuestMsg::Started { .. }));
    let t = Instant::now();
    let f = c.wait_for(id, |m| matches!(m, GuestMsg::Stdout { .. }));
    assert_eq!(f.data, b"first\n");
    assert!(
        t.elapsed() < Duration::from_millis(1500),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(c.wait(id).stdout(), "first\nsecond\n");
}

#[test]
fn large_output_streams_fully_in_bounded_memory() {
    let g = Guestd::start("large");
    let mut c = g.connect();
    let size = 20 * 1024 * 1024;
    let r = c.call(Op::Exec(shell(&format!(
        "head -c {size} /dev/zero | tr '\\0' x"
    ))));
    let mut total = 0;
    for f in &r.frames {
        if let GuestMsg::Stdout { .. } = f.msg {
            assert!(f.data.len() <= 64 * 1024);
            assert!(f.data.iter().all(|&b| b == b'x'));
            total += f.data.len();
        }
    }
    assert_eq!(total, size);
    assert_eq!(exec_result(r.ok()).exit_code, Some(0));
    // The output was never held whole in guestd.
    let peak = g.peak_rss_kib();
    assert!(peak < 20 * 1024, "guestd peak RSS {peak} KiB");
}

#[test]
fn file_round_trip() {
    let g = Guestd::start("files");
    let mut c = g.connect();
    let file = g.path("ws/sub/a.txt");

    // Missing parent without create_parents.
    let op = |path: &str, create_parents, append, mode| Op::WriteFile {
        user: None,
        path: path.into(),
        root: None,
        mode,
        owner: None,
        create_parents,
        append,
        offset: None,
    };
    let r = c.call_with_input(op(&file, false, false, None), &[b"x"]);
    assert_eq!(r.err().code, ErrorCode::NotFound);

    let e = entry(
        c.call_with_input(op(&file, true, false, Some(0o640)), &[b"hello ", b"world"])
            .ok(),
    );
    assert_eq!((e.kind, e.size, e.mode), (EntryKind::File, 11, 0o640));
    assert_eq!(
        (e.owner.as_str(), e.name.as_str(), e.path.as_str()),
        ("root", "a.txt", file.as_str())
    );
    assert_eq!(std::fs::read(&file).unwrap(), b"hello world");
    let leftovers: Vec<_> = std::fs::read_dir(g.dir.join("ws/sub")).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "no temporary file is left behind");

    // Replace keeps the mode; append appends.
    c.call_with_input(op(&file, false, false, None), &[b"new"])
        .ok();
    let e = entry(
        c.call_with_input(op(&file, false, true, None), &[b"+more"])
            .ok(),
    );
    assert_eq!((e.size, e.mode), (8, 0o640));
    assert_eq!(std::fs::read(&file).unwrap(), b"new+more");

    // Read, with offset and limit.
    let read = |path: &str, offset, limit| Op::ReadFile {
        user: None,
        path: path.into(),
        root: None,
        offset,
        limit,
    };
    let r = c.call(read(&file, 0, None));
    assert_eq!(r.data(), b"new+more");
    assert_eq!(r.ok(), OpResult::Read { size: 8 });
    let r = c.call(read(&file, 3, Some(2)));
    assert_eq!(r.data(), b"+m");
    assert_eq!(
        c.call(read(&g.path("ws"), 0, None)).err().code,
        ErrorCode::IsADirectory
    );
    assert_eq!(
        c.call(read(&g.path("nope"), 0, None)).err().code,
        ErrorCode::NotFound
    );

    // A big file comes back in chunks.
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(g.dir.join("ws/big.bin"), &big).unwrap();
    let r = c.call(read(&g.path("ws/big.bin"), 0, None));
    assert!(r.frames.len() > 4);
    assert_eq!(r.data(), big);

    // stat / exists.
    let e = entry(
        c.call(Op::Stat {
            user: None,
            path: file.clone(),
            root: None,
        })
        .ok(),
    );
    assert_eq!(e.size, 8);
    let exists_call = |c: &mut support::Client, p: &str| {
        c.call(Op::Exists {
            user: None,
            path: p.into(),
            root: None,
        })
        .ok()
    };
    assert_eq!(exists_call(&mut c, &file), OpResult::Exists(true));
    assert_eq!(
        exists_call(&mut c, &g.path("ws/none")),
        OpResult::Exists(false)
    );

    // mkdir -p, again, and over a file.
    let mkdir = |p: &str| Op::Mkdir {
        user: None,
        path: p.into(),
        root: None,
        mode: Some(0o700),
        owner: None,
    };
    assert_eq!(
        c.call(mkdir(&g.path("ws/d1/d2"))).ok(),
        OpResult::Created(true)
    );
    assert_eq!(
        c.call(mkdir(&g.path("ws/d1/d2"))).ok(),
        OpResult::Created(false)
    );
    assert_eq!(c.call(mkdir(&file)).err().code, ErrorCode::AlreadyExists);
    let mode = std::fs::metadata(g.dir.join("ws/d1/d2"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o7777, 0o700);

    // list, sorted, to depth.
    symlink("/etc", g.dir.join("ws/link")).unwrap();
    let list = |c: &mut support::Client, depth| match c
        .call(Op::List {
            user: None,
            path: g.path("ws"),
            root: None,
            depth,
        })
        .ok()
    {
        OpResult::Entries(es) => es,
        other => panic!("{other:?}"),
    };
    let names = |es: &[nullspace_guest_proto::EntryInfo]| -> Vec<String> {
        es.iter()
            .map(|e| e.path.strip_prefix(&g.path("ws/")).unwrap().to_string())
            .collect()
    };
    assert_eq!(names(&list(&mut c, 1)), ["big.bin", "d1", "link", "sub"]);
    let deep = list(&mut c, 3);
    assert_eq!(
        names(&deep),
        ["big.bin", "d1", "d1/d2", "link", "sub", "sub/a.txt"]
    );
    let link = deep.iter().find(|e| e.name == "link").unwrap();
    assert_eq!(
        (link.kind, link.symlink_target.as_deref()),
        (EntryKind::Symlink, Some("/etc"))
    );
    let r = c.call(Op::List {
        user: None,
        path: g.path("ws"),
        root: None,
        depth: 0,
    });
    assert_eq!(r.err().code, ErrorCode::InvalidArgument);
    let r = c.call(Op::List {
        user: None,
        path: file.clone(),
        root: None,
        depth: 1,
    });
    assert_eq!(r.err().code, ErrorCode::NotADirectory);

    // rename, chmod.
    let moved = g.path("ws/d1/b.txt");
    let e = entry(
        c.call(Op::Rename {
            user: None,
            from: file.clone(),
            to: moved.clone(),
            root: None,
        })
        .ok(),
    );
    assert_eq!(e.path, moved);
    assert!(!exists(Path::new(&file)));
    assert_eq!(
        c.call(Op::Chmod {
            user: None,
            path: moved.clone(),
            root: None,
            mode: 0o600
        })
        .ok(),
        OpResult::Unit
    );
    assert_eq!(
        entry(
            c.call(Op::Stat {
                user: None,
                path: moved.clone(),
                root: None
            })
            .ok()
        )
        .mode,
        0o600
    );
    let r = c.call(Op::Chmod {
        user: None,
        path: moved.clone(),
        root: None,
        mode: 0o17777,
    });
    assert_eq!(r.err().code, ErrorCode::InvalidArgument);

    // remove.
    let remove = |p: &str, recursive| Op::Remove {
        user: None,
        path: p.into(),
        root: None,
        recursive,
    };
    assert_eq!(
        c.call(remove(&g.path("ws/d1"), false)).err().code,
        ErrorCode::NotEmpty
    );
    assert_eq!(
        c.call(remove(&g.path("ws/link"), false)).ok(),
        OpResult::Unit
    );
    assert!(
        Path::new("/etc/passwd").exists(),
        "removing a link leaves its target"
    );
    assert_eq!(c.call(remove(&g.path("ws/d1"), true)).ok(), OpResult::Unit);
    assert!(!exists(&g.dir.join("ws/d1")));
    assert_eq!(
        c.call(remove(&g.path("ws/d1"), true)).err().code,
        ErrorCode::NotFound
    );
}

#[test]
fn reserved_path_is_refused_for_writes() {
    let g = Guestd::start("reserved");
    let mut c = g.connect();
    let write = |path: &str| Op::WriteFile {
        user: None,
        path: path.into(),
        root: None,
        mode: None,
        owner: None,
        create_parents: true,
        append: false,
        offset: None,
    };
    for path in [
        "/workspace/.nullspace/state",
        ".nullspace/x",
        "/workspace/a/../.nullspace/y",
    ] {
        let r = c.call_with_input(write(path), &[b"x"]);
        assert_eq!(r.err().code, ErrorCode::ReservedPath, "{path}");
    }
    let r = c.call(Op::Mkdir {
        user: None,
        path: "/workspace/.nullspace/d".into(),
        root: None,
        mode: None,
        owner: None,
    });
    assert_eq!(r.err().code, ErrorCode::ReservedPath);
    let r = c.call(Op::Remove {
        user: None,
        path: "/workspace".into(),
        root: None,
        recursive: true,
    });
    assert_eq!(r.err().code, ErrorCode::ReservedPath);
    let r = c.call(Op::Chmod {
        user: None,
        path: "/workspace/.nullspace".into(),
        root: None,
        mode: 0o777,
    });
    assert_eq!(r.err().code, ErrorCode::ReservedPath);
    let r = c.call(Op::Rename {
        user: None,
        from: g.path("x"),
        to: "/workspace/.nullspace/x".into(),
        root: None,
    });
    assert_eq!(r.err().code, ErrorCode::ReservedPath);
    assert!(!exists(Path::new("/workspace/.nullspace/state")));
}

#[test]
fn confinement_escapes_are_refused() {
    let g = Guestd::start("confine");
    let mut c = g.connect();
    let root = g.dir.join("root");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(g.dir.join("outside")).unwrap();
    std::fs::write(g.dir.join("outside/secret"), b"secret").unwrap();
    symlink(g.dir.join("outside"), root.join("link")).unwrap();
    let root_s = Some(root.to_str().unwrap().to_string());
    let read = |p: &str| Op::ReadFile {
        user: None,
        path: p.into(),
        root: root_s.clone(),
        offset: 0,
        limit: None,
    };
    for p in [
        g.path("root/../outside/secret"),
        g.path("root/link/secret"),
        "/etc/passwd".into(),
    ] {
        let r = c.call(read(&p));
        assert!(r.data().is_empty());
        assert_eq!(r.err().code, ErrorCode::PathEscapesRoot, "{p}");
    }
    let r = c.call_with_input(
        Op::WriteFile {
            user: None,
            path: g.path("root/link/secret"),
            root: root_s.clone(),
            mode: None,
            owner: None,
            create_parents: false,
            append: false,
            offset: None,
        },
        &[b"pwned"],
    );
    assert_eq!(r.err().code, ErrorCode::PathEscapesRoot);
    assert_eq!(
        std::fs::read(g.dir.join("outside/secret")).unwrap(),
        b"secret"
    );
    // Inside the root everything works, and the link itself can be inspected.
    std::fs::write(root.join("ok.txt"), b"fine").unwrap();
    assert_eq!(c.call(read(&g.path("root/ok.txt"))).data(), b"fine");
    let e = entry(
        c.call(Op::Stat {
            user: None,
            path: g.path("root/link"),
            root: root_s.clone(),
        })
        .ok(),
    );
    assert_eq!(e.kind, EntryKind::Symlink);
}

#[test]
fn reconnect_garbage_and_stray_frames() {
    let g = Guestd::start("reconnect");
    let mut c = g.connect();
    assert!(matches!(c.call(Op::Health).ok(), OpResult::Info(_)));
    drop(c);
    let mut c = g.connect();
    assert!(matches!(c.call(Op::Health).ok(), OpResult::Info(_)));

    // A second connection replaces the first, which is closed.
    let mut c2 = g.connect();
    assert!(matches!(c2.call(Op::Health).ok(), OpResult::Info(_)));
    assert!(
        c.read_frame().is_none(),
        "the replaced connection is closed"
    );

    // Garbage (including a false magic) and frames for unknown calls are skipped.
    let mut junk = b"garbage".to_vec();
    junk.extend_from_slice(&MAGIC[..2]);
    c2.send_raw(&junk);
    c2.send(&HostMsg::Input { id: CallId(999) }, b"stray");
    c2.send(&HostMsg::InputEnd { id: CallId(999) }, &[]);
    c2.send(
        &HostMsg::Signal {
            id: CallId(999),
            signal: 9,
        },
        &[],
    );
    assert!(matches!(c2.call(Op::Health).ok(), OpResult::Info(_)));
    let res = exec_result(c2.call(Op::Exec(shell("exit 0"))).ok());
    assert_eq!(res.exit_code, Some(0));
}

/// Exec throughput: `cargo test --release -- --ignored exec_bench --nocapture`
/// (set `NULLSPACE_GUESTD_BIN` to time another build, e.g. the static one).
#[test]
#[ignore]
fn exec_bench() {
    let g = Guestd::start("bench");
    let mut c = g.connect();
    let req = ExecRequest {
        argv: vec!["true".into()],
        ..Default::default()
    };
    for _ in 0..10 {
        c.call(Op::Exec(req.clone())).ok();
    }
    let n = 200;
    let t = Instant::now();
    for _ in 0..n {
        assert_eq!(
            exec_result(c.call(Op::Exec(req.clone())).ok()).exit_code,
            Some(0)
        );
    }
    let took = t.elapsed();
    eprintln!("{n} execs of true: {took:?} ({:?} each)", took / n);
}
