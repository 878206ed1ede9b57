//! End-to-end tests of protocol 2's envelope and flow control: unsupported
//! operations, credits in both directions, and a new host freeing old calls.

mod support;

use std::time::{Duration, Instant};

use nullspace_guest_proto::{
    encode, CallId, ErrorCode, ExecRequest, GuestMsg, HostMsg, Op, OpResult, PtySize, Selector,
    CALL_WINDOW,
};
use support::procs::*;
use support::Guestd;

#[test]
fn unknown_operations_and_processes_are_typed_failures() {
    let g = Guestd::start("unknown");
    let mut c = g.connect();
    c.hello(2);
    let call = serde_json::json!({"type": "call", "id": 77, "op": {"op": "teleport"}});
    c.send_raw(&encode(&call, &[]));
    let r = c.wait(CallId(77));
    assert_eq!(r.err().code, ErrorCode::Unsupported);
    // A known operation with a bad body is invalid; a frame without a type is dropped.
    c.send_raw(&encode(&serde_json::json!({"kind": "nothing"}), &[]));
    let bad = serde_json::json!({"type": "call", "id": 78, "op": {"op": "process_signal"}});
    c.send_raw(&encode(&bad, &[]));
    assert_eq!(c.wait(CallId(78)).err().code, ErrorCode::InvalidArgument);
    // Credit for an unknown call is ignored.
    c.credit(CallId(4242), 10);

    let none = 999_999_999;
    assert_eq!(
        signal(&mut c, none, 15).unwrap_err().code,
        ErrorCode::ProcessNotFound
    );
    let e = c.call(attach(none, None, false)).err();
    assert_eq!(e.code, ErrorCode::ProcessNotFound);
    let e = c
        .call(Op::ProcessResize {
            process: Selector::Tag("nobody-has-this".into()),
            size: PtySize { cols: 80, rows: 24 },
        })
        .err();
    assert_eq!(e.code, ErrorCode::ProcessNotFound);
    // Planning errors are exec's.
    let mut req = shell("true");
    req.exec.cwd = Some("/nonexistent/dir".into());
    let e = c.call(Op::ProcessStart(req)).err();
    assert_eq!(e.code, ErrorCode::CwdNotFound);
}

#[test]
fn credits_limit_output_with_protocol_2_only() {
    let g = Guestd::start("credit");
    let path = big_file(&g, 4);
    let mut c = g.connect();
    c.hello(2);
    let id = c.start(read_file(&path));
    let mut got = 0u64;
    while got < CALL_WINDOW {
        let f = c.next_frame(id);
        assert!(matches!(f.msg, GuestMsg::Data { .. }), "{:?}", f.msg);
        got += f.data.len() as u64;
    }
    assert_eq!(got, CALL_WINDOW);
    assert!(c
        .next_frame_within(id, Duration::from_millis(300))
        .is_none());
    c.credit(id, CALL_WINDOW);
    loop {
        let f = c.next_frame(id);
        match f.msg {
            GuestMsg::Data { .. } => {
                got += f.data.len() as u64;
                c.credit(id, f.data.len() as u64);
            }
            GuestMsg::Done { result, .. } => {
                assert_eq!(result, OpResult::Read { size: 4 << 20 });
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(got, 4 << 20);

    // Protocol 1: no credit, everything flows.
    let mut c = g.connect();
    c.hello(1);
    let r = c.call(read_file(&path));
    assert_eq!(r.data().len(), 4 << 20);
    assert!(r
        .frames
        .iter()
        .all(|f| !matches!(f.msg, GuestMsg::Credit { .. })));
}

#[test]
fn a_new_host_frees_old_calls_and_ends_old_attaches() {
    let g = Guestd::start("newhost");
    let path = big_file(&g, 4);
    let mut c = g.connect();
    c.hello(2);
    let p = start(&mut c, shell("echo hi; sleep 30"));
    let viewer = c.start(attach(p.pid, None, true));
    let reader = c.start(read_file(&path));
    // The reader is stuck on credit, the viewer waits for output.
    let mut got = 0u64;
    while got < CALL_WINDOW {
        got += c.next_frame(reader).data.len() as u64;
    }
    drop(c);
    // The new host's calls get ids of their own; the old calls' last frames
    // reach it (and would be ignored by a real host).
    let mut c = g.connect();
    c.hello(2);
    let r = c.wait(reader);
    assert_eq!(r.data().len() as u64 + got, 4 << 20);
    assert_eq!(r.ok(), OpResult::Read { size: 4 << 20 });
    let end = attached(c.wait(viewer).ok());
    assert!(end.end.is_none(), "the process keeps running");
    assert!(find(&mut c, p.pid).unwrap().running());
    signal(&mut c, p.pid, libc::SIGKILL).unwrap();
}

#[test]
fn a_process_that_does_not_read_stalls_only_its_input_call() {
    let g = Guestd::start("stall");
    let mut c = g.connect();
    c.hello(2);
    let mut req = shell("sleep 30");
    req.exec.stdin = true;
    let p = start(&mut c, req);
    let id = c.start(Op::ProcessInput {
        process: Selector::Pid(p.pid),
        close: true,
    });
    // A whole window of input, which the process never reads.
    let chunk = vec![b'x'; 64 * 1024];
    for _ in 0..CALL_WINDOW / chunk.len() as u64 {
        c.send(&HostMsg::Input { id }, &chunk);
    }
    c.send(&HostMsg::InputEnd { id }, &[]);
    // Other calls are answered meanwhile, including one that takes input.
    let t = Instant::now();
    assert!(matches!(c.call(Op::Health).ok(), OpResult::Info(_)));
    let r = c.call_with_input(
        Op::Exec(ExecRequest {
            argv: vec!["cat".into()],
            stdin: true,
            ..Default::default()
        }),
        &[b"free"],
    );
    assert_eq!(r.stdout(), "free");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    // The stalled call has not ended, and was credited only what was taken.
    assert!(c
        .next_frame_within(id, Duration::from_millis(100))
        .is_none_or(|f| matches!(f.msg, GuestMsg::Credit { .. })));
    // When the process goes, the call ends too.
    signal(&mut c, p.pid, libc::SIGKILL).unwrap();
    let r = c.wait(id);
    let code = r.err().code;
    assert!(
        matches!(code, ErrorCode::ProcessExited | ErrorCode::StdinClosed),
        "{code:?}"
    );
}
