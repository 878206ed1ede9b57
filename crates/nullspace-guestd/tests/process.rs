//! End-to-end tests of the process service (protocol 2): the process table,
//! attach, input, signals and PTYs, driven against the built binary. Run as root.

mod support;

use std::time::{Duration, Instant};

use nullspace_guest_proto::{
    ErrorCode, ExecRequest, GuestMsg, HostMsg, Op, OpResult, ProcessAttach, ProcessStart, PtySize,
    Selector, StreamKind, CALL_WINDOW, RING_BYTES,
};
use support::procs::*;
use support::{Client, Guestd};

#[test]
fn a_background_process_outlives_its_connection() {
    let g = Guestd::start("bg");
    let mut c = g.connect();
    let info = c.hello(2);
    assert_eq!(info.protocol, nullspace_guest_proto::PROTOCOL_VERSION);
    assert!(info.capabilities.iter().any(|c| c == "process"));
    let mut req = shell("echo started; sleep 30");
    req.tag = Some("bg".into());
    let p = start(&mut c, req);
    assert!(p.running() && p.pid > 1);
    assert_eq!(p.shell.as_deref(), Some("echo started; sleep 30"));
    assert_eq!(p.user, "root");
    let deadline = Instant::now() + Duration::from_secs(20);
    while find(&mut c, p.pid).unwrap().stdout.total < 8 {
        assert!(Instant::now() < deadline, "no output");
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(c);

    let mut c = g.connect();
    c.hello(2);
    let listed = find(&mut c, p.pid).expect("still listed after a reconnect");
    assert!(listed.running(), "{listed:?}");
    assert_eq!(listed.tag.as_deref(), Some("bg"));
    // It really runs: the kernel knows it, and it can be signalled by tag.
    assert!(std::path::Path::new(&format!("/proc/{}", p.pid)).exists());
    let r = c.call(Op::ProcessSignal {
        process: Selector::Tag("bg".into()),
        signal: libc::SIGTERM,
    });
    assert_eq!(r.ok(), OpResult::Unit);
    let end = ended(&mut c, p.pid);
    assert_eq!((end.exit_code, end.signal), (None, Some(libc::SIGTERM)));
    // Exited, it stays listed with its output.
    let r = c.call(attach(p.pid, None, false));
    assert_eq!(r.stdout(), "started\n");
}

#[test]
fn attach_replays_kept_output_and_follows_to_the_end() {
    let g = Guestd::start("attach");
    let mut c = g.connect();
    c.hello(2);
    let p = start(
        &mut c,
        shell("echo one; echo two >&2; sleep 0.5; echo three; exit 5"),
    );
    let r = c.call(attach(p.pid, None, true));
    assert!(matches!(r.frames[0].msg, GuestMsg::Started { pid, .. } if pid == p.pid));
    assert_eq!(r.stdout(), "one\nthree\n");
    assert_eq!(r.stderr(), "two\n");
    let end = attached(r.ok());
    assert_eq!((end.stdout_next, end.stderr_next), (10, 4));
    assert_eq!(end.end.expect("ended").exit_code, Some(5));

    // From an offset, without follow.
    let r = c.call(attach(p.pid, Some(4), false));
    assert_eq!(r.stdout(), "three\n");
    assert_eq!(r.stderr(), "two\n");
    // An offset beyond the end is refused.
    let e = c.call(attach(p.pid, Some(11), false)).err();
    assert_eq!(e.code, ErrorCode::InvalidArgument);
}

#[test]
fn a_flood_of_output_gives_a_gap_and_bounded_memory() {
    let g = Guestd::start("flood");
    let mut c = g.connect();
    c.hello(2);
    const TOTAL: u64 = 50 << 20;
    let p = start(&mut c, shell("head -c 50M /dev/zero; echo -n end"));
    // A follower that does not credit gets a window's worth, and no more (the
    // process may already have outrun it: gaps are fine).
    let id = c.start(attach(p.pid, Some(0), true));
    let (mut got, mut gap) = (0u64, 0u64);
    assert!(matches!(c.next_frame(id).msg, GuestMsg::Started { .. }));
    while let Some(f) = c.next_frame_within(id, Duration::from_millis(500)) {
        match f.msg {
            GuestMsg::Stdout { .. } => got += f.data.len() as u64,
            GuestMsg::Gap { bytes, .. } => gap += bytes,
            other => panic!("{other:?}"),
        }
    }
    assert!(got <= CALL_WINDOW && got > CALL_WINDOW - 64 * 1024, "{got}");
    // The process is not held back by its reader: it ends meanwhile.
    let end = ended(&mut c, p.pid);
    assert_eq!(end.exit_code, Some(0));
    assert!(c
        .next_frame_within(id, Duration::from_millis(200))
        .is_none());
    // Credit: the reader learns what it missed, then gets the kept tail.
    c.credit(id, got);
    let mut tail = Vec::new();
    loop {
        let f = c.next_frame(id);
        match f.msg {
            GuestMsg::Gap { stream, bytes, .. } => {
                assert_eq!(stream, StreamKind::Stdout);
                gap += bytes;
            }
            GuestMsg::Stdout { .. } => {
                c.credit(id, f.data.len() as u64);
                tail.extend_from_slice(&f.data);
            }
            GuestMsg::Done { result, .. } => {
                let end = attached(result);
                assert_eq!(end.stdout_next, TOTAL + 3);
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(gap > 0);
    assert_eq!(got + gap + tail.len() as u64, TOTAL + 3);
    assert!(tail.len() <= RING_BYTES + CALL_WINDOW as usize);
    assert!(tail.ends_with(b"end"));
    let listed = find(&mut c, p.pid).unwrap();
    assert_eq!(listed.stdout.total, TOTAL + 3);
    assert_eq!(listed.stdout.kept_from, TOTAL + 3 - RING_BYTES as u64);
    let peak = g.peak_rss_kib();
    assert!(peak < 64 * 1024, "guestd peak RSS {peak} KiB");
}

#[test]
fn input_reaches_stdin_and_close_gives_end_of_file() {
    let g = Guestd::start("input");
    let mut c = g.connect();
    c.hello(2);
    let mut req = shell("cat");
    req.exec.stdin = true;
    let p = start(&mut c, req);
    assert!(p.stdin_open);
    let op = Op::ProcessInput {
        process: Selector::Pid(p.pid),
        close: true,
    };
    let r = c.call_with_input(op, &[b"hello ", b"world"]);
    let credited: u64 = r
        .frames
        .iter()
        .map(|f| match f.msg {
            GuestMsg::Credit { bytes, .. } => bytes,
            _ => 0,
        })
        .sum();
    assert_eq!(credited, 11);
    assert_eq!(r.ok(), OpResult::Unit);
    let r = c.call(attach(p.pid, None, true));
    assert_eq!(r.stdout(), "hello world");
    assert_eq!(attached(r.ok()).end.unwrap().exit_code, Some(0));
    // Its stdin is gone now; a process started without stdin has none.
    let op = Op::ProcessInput {
        process: Selector::Pid(p.pid),
        close: false,
    };
    assert_eq!(
        c.call_with_input(op, &[b"x"]).err().code,
        ErrorCode::ProcessExited
    );
    let q = start(&mut c, shell("sleep 30"));
    let op = Op::ProcessInput {
        process: Selector::Pid(q.pid),
        close: false,
    };
    assert_eq!(
        c.call_with_input(op, &[b"x"]).err().code,
        ErrorCode::StdinClosed
    );
    signal(&mut c, q.pid, libc::SIGKILL).unwrap();
}

#[test]
fn exited_processes_refuse_signal_resize_and_input() {
    let g = Guestd::start("exited");
    let mut c = g.connect();
    c.hello(2);
    let mut req = shell("true");
    req.pty = Some(PtySize { cols: 80, rows: 24 });
    let p = start(&mut c, req);
    assert_eq!(ended(&mut c, p.pid).exit_code, Some(0));
    assert_eq!(
        signal(&mut c, p.pid, 15).unwrap_err().code,
        ErrorCode::ProcessExited
    );
    let resize = |pid, cols, rows| Op::ProcessResize {
        process: Selector::Pid(pid),
        size: PtySize { cols, rows },
    };
    assert_eq!(
        c.call(resize(p.pid, 90, 30)).err().code,
        ErrorCode::ProcessExited
    );
    let op = Op::ProcessInput {
        process: Selector::Pid(p.pid),
        close: true,
    };
    assert_eq!(
        c.call_with_input(op, &[b"x"]).err().code,
        ErrorCode::ProcessExited
    );

    // Running: a pipe process has no terminal; a terminal has size limits.
    let q = start(&mut c, shell("sleep 30"));
    assert_eq!(c.call(resize(q.pid, 90, 30)).err().code, ErrorCode::NotAPty);
    let mut req = shell("sleep 30");
    req.pty = Some(PtySize { cols: 80, rows: 24 });
    let t = start(&mut c, req);
    assert_eq!(
        c.call(resize(t.pid, 0, 30)).err().code,
        ErrorCode::InvalidArgument
    );
    assert_eq!(
        c.call(resize(t.pid, 80, 1001)).err().code,
        ErrorCode::InvalidArgument
    );
    assert_eq!(
        signal(&mut c, t.pid, 12345).unwrap_err().code,
        ErrorCode::InvalidArgument
    );
    for pid in [q.pid, t.pid] {
        signal(&mut c, pid, libc::SIGKILL).unwrap();
        assert_eq!(ended(&mut c, pid).signal, Some(libc::SIGKILL));
    }
}

/// Read a PTY process's output from `from` until it contains `want`.
fn read_until(c: &mut Client, pid: u32, from: &mut u64, seen: &mut String, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !seen.contains(want) {
        assert!(Instant::now() < deadline, "never saw {want:?} in {seen:?}");
        let r = c.call(attach(pid, Some(*from), false));
        seen.push_str(&r.stdout());
        *from = attached(r.ok()).stdout_next;
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_pty_has_its_size_resizes_and_takes_input() {
    let g = Guestd::start("pty");
    let mut c = g.connect();
    c.hello(2);
    let mut req = shell("stty size");
    req.pty = Some(PtySize { cols: 91, rows: 17 });
    let p = start(&mut c, req);
    assert_eq!(p.pty, Some(PtySize { cols: 91, rows: 17 }));
    assert!(p.stdin_open);
    let r = c.call(attach(p.pid, None, true));
    assert_eq!(r.stdout().trim(), "17 91");
    assert_eq!(r.stderr(), "");
    assert_eq!(attached(r.ok()).end.unwrap().exit_code, Some(0));

    let req = ProcessStart {
        exec: ExecRequest {
            argv: vec!["bash".into(), "--norc".into(), "--noprofile".into()],
            ..Default::default()
        },
        tag: Some("term".into()),
        pty: Some(PtySize {
            cols: 100,
            rows: 30,
        }),
    };
    let b = start(&mut c, req);
    let term = Selector::Tag("term".into());
    let type_in = |c: &mut Client, text: &str| {
        let op = Op::ProcessInput {
            process: term.clone(),
            close: false,
        };
        assert_eq!(
            c.call_with_input(op, &[text.as_bytes()]).ok(),
            OpResult::Unit
        );
    };
    let (mut from, mut seen) = (0u64, String::new());
    type_in(&mut c, "stty size\n");
    read_until(&mut c, b.pid, &mut from, &mut seen, "30 100");
    let r = c.call(Op::ProcessResize {
        process: Selector::Tag("term".into()),
        size: PtySize {
            cols: 120,
            rows: 40,
        },
    });
    assert_eq!(r.ok(), OpResult::Unit);
    assert_eq!(
        find(&mut c, b.pid).unwrap().pty,
        Some(PtySize {
            cols: 120,
            rows: 40
        })
    );
    type_in(&mut c, "stty size\n");
    read_until(&mut c, b.pid, &mut from, &mut seen, "40 120");
    type_in(&mut c, "echo $((6*7))x; exit 3\n");
    read_until(&mut c, b.pid, &mut from, &mut seen, "42x");
    assert_eq!(ended(&mut c, b.pid).exit_code, Some(3));
}

#[test]
fn tags_are_unique_among_running_processes() {
    let g = Guestd::start("tags");
    let mut c = g.connect();
    c.hello(2);
    let mut req = shell("sleep 30");
    req.tag = Some("svc".into());
    let first = start(&mut c, req.clone());
    assert_eq!(
        c.call(Op::ProcessStart(req.clone())).err().code,
        ErrorCode::TagInUse
    );
    signal(&mut c, first.pid, libc::SIGKILL).unwrap();
    ended(&mut c, first.pid);
    // Once it has exited the tag is free; the tag then names the running one.
    let second = start(&mut c, req);
    let r = c.call(Op::ProcessAttach(ProcessAttach {
        process: Selector::Tag("svc".into()),
        stdout_from: None,
        stderr_from: None,
        follow: false,
    }));
    assert!(matches!(r.frames[0].msg, GuestMsg::Started { pid, .. } if pid == second.pid));
    let tagged = list(&mut c)
        .into_iter()
        .filter(|p| p.tag.as_deref() == Some("svc"))
        .count();
    assert_eq!(tagged, 2);
    signal(&mut c, second.pid, libc::SIGKILL).unwrap();
    ended(&mut c, second.pid);
    // With none running, the tag names the newest exited one.
    let r = c.call(Op::ProcessAttach(ProcessAttach {
        process: Selector::Tag("svc".into()),
        stdout_from: None,
        stderr_from: None,
        follow: false,
    }));
    assert!(matches!(r.frames[0].msg, GuestMsg::Started { pid, .. } if pid == second.pid));
}

#[test]
fn cancel_ends_an_attach_not_its_process() {
    let g = Guestd::start("cancel");
    let mut c = g.connect();
    c.hello(2);
    let p = start(&mut c, shell("sleep 30"));
    let id = c.start(attach(p.pid, None, true));
    assert!(matches!(c.next_frame(id).msg, GuestMsg::Started { .. }));
    c.send(&HostMsg::Cancel { id }, &[]);
    let end = attached(c.wait(id).ok());
    assert_eq!((end.stdout_next, end.end), (0, None));
    assert!(find(&mut c, p.pid).unwrap().running());
    signal(&mut c, p.pid, libc::SIGKILL).unwrap();
}

#[test]
fn processes_run_as_their_user_and_are_reaped_on_every_spawn_path() {
    let g = Guestd::start_with_users("procuser");
    let mut c = g.connect();
    c.hello(2);
    let as_user = |user: Option<&str>, pty: bool| {
        let mut req = shell("id -u");
        req.exec.user = user.map(str::to_string);
        req.pty = pty.then_some(PtySize { cols: 80, rows: 24 });
        req
    };
    // posix_spawn (root), fork with a user switch (tester), and a PTY for each.
    for (user, pty, uid) in [
        (None, false, "0"),
        (Some("tester"), false, "4242"),
        (None, true, "0"),
        (Some("tester"), true, "4242"),
    ] {
        let p = start(&mut c, as_user(user, pty));
        assert_eq!(p.user, user.unwrap_or("root"));
        let r = c.call(attach(p.pid, None, true));
        assert_eq!(r.stdout().trim(), uid, "{user:?} pty={pty}");
        assert_eq!(attached(r.ok()).end.unwrap().exit_code, Some(0));
        // Its end is recorded only once it was reaped: no zombie is left.
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", p.pid));
        assert!(
            stat.as_deref().map_or(true, |s| !s.contains(") Z ")),
            "{user:?} pty={pty}: {stat:?}"
        );
    }
}
