//! The agent client against a scripted guest on a unix socket: protocol
//! negotiation and the credit windows of protocol 2.

use std::time::Duration;

use nullspace_guest_proto::{
    decode, encode, ExecRequest, Frame, GuestInfo, GuestMsg, HostMsg, Op, OpResult, ProcessStart,
    Selector, CALL_WINDOW,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixListener;
use tokio::sync::mpsc;

use super::{Agent, AgentError};

fn info(protocol: u32) -> GuestInfo {
    GuestInfo {
        version: "test".into(),
        protocol,
        hostname: "h".into(),
        kernel: "k".into(),
        uptime_ms: 0,
        time_unix_ms: 0,
        identity_generation: 0,
        capabilities: Vec::new(),
    }
}

/// A scripted guest: answers `hello` with `protocol`, reports every other host
/// frame (and its data length) on the channel, and sends what it is told to.
async fn guest(
    protocol: u32,
) -> (
    Agent,
    mpsc::UnboundedReceiver<(HostMsg, usize)>,
    mpsc::UnboundedSender<Vec<u8>>,
    tempfile::TempDir,
) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let (seen_tx, seen_rx) = mpsc::unbounded_channel();
    let (send_tx, mut send_rx) = mpsc::unbounded_channel::<Vec<u8>>();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let (mut read, mut write) = stream.into_split();
        let (wtx, mut wrx) = mpsc::unbounded_channel::<Vec<u8>>();
        let wtx2 = wtx.clone();
        tokio::spawn(async move {
            while let Some(bytes) = send_rx.recv().await {
                let _ = wtx2.send(bytes);
            }
        });
        tokio::spawn(async move {
            while let Some(bytes) = wrx.recv().await {
                if write.write_all(&bytes).await.is_err() {
                    break;
                }
            }
        });
        let mut buf = Vec::new();
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            let n = match read.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            buf.extend_from_slice(&chunk[..n]);
            while let Ok(Some(Frame { msg, data })) = decode::<HostMsg>(&mut buf) {
                if let HostMsg::Call {
                    id,
                    op: Op::Hello { .. },
                } = msg
                {
                    let done = GuestMsg::Done {
                        id,
                        result: OpResult::Info(info(protocol)),
                    };
                    let _ = wtx.send(encode(&done, &[]));
                    continue;
                }
                let _ = seen_tx.send((msg, data.len()));
            }
        }
    });
    let agent = Agent::connect(&path, Duration::from_secs(5)).await.unwrap();
    agent.hello(None, Duration::from_secs(5)).await.unwrap();
    (agent, seen_rx, send_tx, dir)
}

#[tokio::test]
async fn an_old_guest_is_refused_newer_operations_without_a_frame() {
    let (agent, mut seen, _send, _dir) = guest(1).await;
    assert_eq!(agent.protocol(), 1);
    let start = ProcessStart {
        exec: ExecRequest {
            shell: Some("sleep 1".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    match agent.process_start(start).await {
        Err(AgentError::Outdated { guest, needs, what }) => {
            assert_eq!((guest, needs, what), (1, 2, "process_start"));
        }
        other => panic!("{other:?}"),
    }
    assert!(agent.process_list().await.is_err());
    // Nothing reached the guest: it never sees an operation it cannot parse.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(seen.try_recv().is_err());
}

#[tokio::test]
async fn a_protocol_2_guest_is_refused_process_wait_without_a_frame() {
    let (agent, mut seen, _send, _dir) = guest(2).await;
    match agent.process_wait(Selector::Pid(7)).await {
        Err(AgentError::Outdated { guest, needs, what }) => {
            assert_eq!((guest, needs, what), (2, 3, "process_wait"));
        }
        other => panic!("{other:?}"),
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(seen.try_recv().is_err());
}

#[tokio::test]
async fn input_waits_for_the_guests_credit() {
    let (agent, mut seen, send, _dir) = guest(2).await;
    let op = Op::WriteFile {
        path: "/f".into(),
        root: None,
        user: None,
        mode: None,
        owner: None,
        create_parents: false,
        append: false,
        offset: None,
    };
    let call = agent.start(op).await.unwrap();
    let id = call.id();
    let total = 3 * CALL_WINDOW as usize;
    let writer = tokio::spawn(async move {
        call.input(&vec![7u8; total]).await.unwrap();
        call
    });
    // The guest credits nothing: the host stops at one window.
    let mut got = 0usize;
    let until = tokio::time::Instant::now() + Duration::from_millis(500);
    while let Ok(Some((msg, len))) = tokio::time::timeout_at(until, seen.recv()).await {
        if matches!(msg, HostMsg::Input { .. }) {
            got += len;
        }
    }
    assert_eq!(
        got, CALL_WINDOW as usize,
        "exactly one window before any credit"
    );
    assert!(!writer.is_finished());
    // Credit the rest: all of it arrives.
    let credit = GuestMsg::Credit {
        id,
        bytes: 2 * CALL_WINDOW,
    };
    send.send(encode(&credit, &[])).unwrap();
    while got < total {
        let (msg, len) = tokio::time::timeout(Duration::from_secs(5), seen.recv())
            .await
            .expect("the rest of the input")
            .unwrap();
        if matches!(msg, HostMsg::Input { .. }) {
            got += len;
        }
    }
    assert_eq!(got, total);
    writer.await.unwrap();
}

#[tokio::test]
async fn consumed_output_is_credited_back() {
    let (agent, mut seen, send, _dir) = guest(2).await;
    let mut call = agent.start(Op::ProcessList).await.unwrap();
    let id = call.id();
    let chunk = vec![1u8; 64 * 1024];
    for _ in 0..8 {
        send.send(encode(&GuestMsg::Stdout { id }, &chunk)).unwrap();
    }
    for _ in 0..8 {
        let frame = call.next().await.unwrap();
        assert_eq!(frame.data.len(), chunk.len());
    }
    let mut credited = 0;
    let until = tokio::time::Instant::now() + Duration::from_secs(2);
    while let Ok(Some((msg, _))) = tokio::time::timeout_at(until, seen.recv()).await {
        if let HostMsg::Credit { id: c, bytes } = msg {
            assert_eq!(c, id);
            credited += bytes;
        }
    }
    assert_eq!(
        credited,
        8 * 64 * 1024,
        "512 KiB consumed, credited in batches"
    );
}
