//! Real microVMs: the runtime reports the end of every process of a machine's
//! table, also of one that was running when the machine was paused and resumed.

mod common;

use std::time::Duration;

use nullspace_guest_proto::{ExecRequest, ProcessStart};
use nullspace_host::RuntimeEvent;
use nullspace_types::MachineId;

fn background(shell: &str, tag: &str) -> ProcessStart {
    ProcessStart {
        exec: ExecRequest {
            shell: Some(shell.into()),
            ..Default::default()
        },
        tag: Some(tag.into()),
        pty: None,
    }
}

/// The next process end reported for machine `id`.
async fn next_exit(
    events: &mut tokio::sync::broadcast::Receiver<RuntimeEvent>,
    id: &MachineId,
) -> (u32, Option<String>, Option<i32>) {
    let wait = async {
        loop {
            match events.recv().await.expect("event stream") {
                RuntimeEvent::ProcessExited {
                    id: m,
                    pid,
                    tag,
                    end,
                } if &m == id => return (pid, tag, end.exit_code),
                _ => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), wait)
        .await
        .expect("no process end was reported")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_ends_are_reported_also_after_a_pause() {
    let rt = common::runtime().await;
    let Some(template) = common::template(&rt).await else {
        return;
    };
    let mut events = rt.subscribe();
    let m = rt.create_machine(&template).await.unwrap();
    let id = m.id().clone();
    let quick = m
        .process_start(background("sleep 0.5; exit 3", "quick"))
        .await
        .unwrap();
    assert_eq!(
        next_exit(&mut events, &id).await,
        (quick.pid, Some("quick".into()), Some(3))
    );
    // A process still running at the pause: its end is reported after the resume.
    let file = "/tmp/release";
    let slow = m
        .process_start(background(
            &format!("while [ ! -e {file} ]; do sleep 0.1; done; exit 4"),
            "slow",
        ))
        .await
        .unwrap();
    drop(m);
    rt.pause(&id).await.unwrap();
    let m = rt.resume(&id).await.unwrap();
    // Once the resumed machine waits for the process again, release it.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while m.watching() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the resumed machine never waits"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (code, _, err) = common::sh(&m, &format!("touch {file}")).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        next_exit(&mut events, &id).await,
        (slow.pid, Some("slow".into()), Some(4))
    );
    drop(m);
    rt.destroy(&id).await.unwrap();
}
