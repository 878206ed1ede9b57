//! Real microVMs: fork a running machine into children, snapshot deletion rules,
//! and damaged saved state.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use nullspace_host::Origin;
use nullspace_types::MachineId;

const COUNTER: &str = "nohup sh -c 'i=0; while true; do i=$((i+1)); echo $i > /tmp/counter.new; mv /tmp/counter.new /tmp/counter; sleep 0.1; done' >/dev/null 2>&1 & echo $! > /tmp/counter.pid";

async fn counter(m: &nullspace_host::Machine) -> u64 {
    let (code, out, err) = common::sh(m, "cat /tmp/counter").await;
    assert_eq!(code, 0, "{err}");
    out.trim().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fork_three_children_that_diverge_while_the_source_runs() {
    let rt = common::runtime().await;
    let Some(template) = common::template(&rt).await else {
        return;
    };
    let src = rt.create_machine(&template).await.unwrap();
    let (code, _, err) = common::sh(
        &src,
        &format!("echo before > /workspace/before.txt; {COUNTER}"),
    )
    .await;
    assert_eq!(code, 0, "{err}");
    tokio::time::sleep(Duration::from_millis(800)).await;
    let ids: Vec<MachineId> = (0..3).map(|_| MachineId::random()).collect();
    let fork = rt.fork(src.id(), ids.clone()).await.unwrap();
    assert_eq!(
        fork.children
            .iter()
            .map(|c| c.id().clone())
            .collect::<Vec<_>>(),
        ids
    );
    eprintln!("fork of 3: source stalled {} ms", fork.stall_ms);
    // The source keeps running with the same agent connection, and keeps counting.
    let at_fork = counter(&src).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(counter(&src).await > at_fork, "source counter advances");
    common::sh(&src, "echo source > /workspace/after.txt").await;

    let mut hostnames = HashSet::new();
    let mut uuids = HashSet::new();
    for c in &fork.children {
        assert_eq!(c.origin(), &Origin::Fork(src.id().clone()));
        let (_, out, _) = common::sh(
            c,
            "cat /workspace/before.txt; test -e /workspace/after.txt && echo leaked || echo clean; \
             kill -0 $(cat /tmp/counter.pid) && echo alive; hostname; \
             python3 -c 'import uuid; print(uuid.uuid4())'",
        )
        .await;
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[..3], ["before", "clean", "alive"], "{out}");
        assert_eq!(lines[3], c.hostname());
        hostnames.insert(lines[3].to_owned());
        uuids.insert(lines[4].to_owned());
        let n = counter(c).await;
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert!(counter(c).await > n, "child's copy of the counter runs");
        common::sh(c, &format!("echo {} > /workspace/child.txt", c.id())).await;
    }
    hostnames.insert(src.hostname().to_owned());
    assert_eq!(hostnames.len(), 4, "every machine has its own hostname");
    assert_eq!(uuids.len(), 3, "children print different uuid4: {uuids:?}");
    // Writes stay in the machine that made them.
    for c in &fork.children {
        let (_, out, _) = common::sh(c, "cat /workspace/child.txt").await;
        assert_eq!(out.trim(), c.id().as_str());
    }
    assert_eq!(
        common::sh(&src, "test -e /workspace/child.txt; echo $?")
            .await
            .1,
        "1\n"
    );
    assert!(
        !common::data_dir()
            .join("snapshots")
            .read_dir()
            .unwrap()
            .any(|e| e
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with(".fork-")),
        "the fork's temporary state is removed"
    );
    for m in fork.children.iter().chain([&src]) {
        let (pid, ns, dir) = (m.vmm_pid(), m.netns().to_owned(), m.dir().to_owned());
        rt.destroy(m.id()).await.unwrap();
        common::assert_released(pid, &ns, &dir).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_in_use_stay_and_damaged_state_is_refused() {
    let rt = common::runtime().await;
    let Some(template) = common::template(&rt).await else {
        return;
    };
    let src = rt.create_machine(&template).await.unwrap();
    common::sh(&src, "echo kept > /workspace/kept.txt").await;
    let snap = rt.snapshot(src.id()).await.unwrap();
    snap.verify().unwrap();
    let child = rt.restore_snapshot(&snap.id).await.unwrap();
    let err = rt.delete_snapshot(&snap.id).unwrap_err();
    assert_eq!(err.code(), "snapshot_in_use", "{err}");
    assert!(err.to_string().contains(child.id().as_str()), "{err}");
    // Paused, the child still needs the snapshot.
    let child_id = child.id().clone();
    drop(child);
    rt.pause(&child_id).await.unwrap();
    assert_eq!(
        rt.delete_snapshot(&snap.id).unwrap_err().code(),
        "snapshot_in_use"
    );

    // A truncated pause state is refused and the machine stays paused.
    let dir = common::data_dir().join("machines").join(child_id.as_str());
    let state = dir.join("pause.state");
    let len = std::fs::metadata(&state).unwrap().len();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&state)
        .unwrap();
    f.set_len(len / 2).unwrap();
    drop(f);
    let err = rt.resume(&child_id).await.unwrap_err();
    assert_eq!(err.code(), "state_corrupt", "{err}");
    assert!(err.to_string().contains("truncated"), "{err}");
    assert!(
        rt.is_paused(&child_id),
        "still paused after a refused resume"
    );
    rt.discard(&child_id, false).await;
    assert!(!dir.exists());

    // With no machine left on it, the snapshot can go; a damaged one is refused first.
    let state = snap.state();
    let mut bytes = std::fs::read(&state).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&state, &bytes).unwrap();
    let err = rt.restore_snapshot(&snap.id).await.unwrap_err();
    assert_eq!(err.code(), "state_corrupt", "{err}");
    assert!(err.to_string().contains("checksum"), "{err}");
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&state)
        .unwrap();
    f.set_len(1000).unwrap();
    drop(f);
    let err = rt.restore_snapshot(&snap.id).await.unwrap_err();
    assert!(err.to_string().contains("truncated"), "{err}");
    rt.delete_snapshot(&snap.id).unwrap();
    let (pid, ns, dir) = (src.vmm_pid(), src.netns().to_owned(), src.dir().to_owned());
    rt.destroy(src.id()).await.unwrap();
    common::assert_released(pid, &ns, &dir).await;
}

/// Files of `m` among `names`, as a space-separated list of those present.
async fn present(m: &nullspace_host::Machine, names: &[&str]) -> String {
    let script: String = names
        .iter()
        .map(|n| format!("test -e /workspace/{n} && printf '{n} '; "))
        .collect();
    common::sh(m, &script).await.1.trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_disk_layer_reaches_forks_and_snapshots_of_snapshots() {
    let rt = common::runtime().await;
    let Some(template) = common::template(&rt).await else {
        return;
    };
    let all = ["a0", "a1", "m1"];
    let src = rt.create_machine(&template).await.unwrap();
    common::sh(&src, "echo 0 > /workspace/a0").await;
    let s1 = rt.snapshot(src.id()).await.unwrap(); // freezes the layer holding a0
    common::sh(&src, "echo 1 > /workspace/a1").await;
    let f1 = rt
        .fork(src.id(), vec![MachineId::random()])
        .await
        .unwrap()
        .children
        .remove(0);
    assert_eq!(
        present(&f1, &all).await,
        "a0 a1",
        "a fork sees every earlier layer"
    );

    // A machine from a snapshot, then a fork and a snapshot of it.
    let m = rt.restore_snapshot(&s1.id).await.unwrap();
    assert_eq!(present(&m, &all).await, "a0");
    common::sh(&m, "echo m > /workspace/m1").await;
    let g = rt
        .fork(m.id(), vec![MachineId::random()])
        .await
        .unwrap()
        .children
        .remove(0);
    let s2 = rt.snapshot(m.id()).await.unwrap();
    for x in [&m, &src, &f1] {
        rt.destroy(x.id()).await.unwrap();
    }
    // Neither the fork of `m` nor the snapshot of `m` needs `s1` any more.
    rt.delete_snapshot(&s1.id).unwrap();
    let g_id = g.id().clone();
    drop(g);
    rt.pause(&g_id).await.unwrap();
    let g = rt.resume(&g_id).await.unwrap();
    assert_eq!(present(&g, &all).await, "a0 m1");
    let r2 = rt.restore_snapshot(&s2.id).await.unwrap();
    assert_eq!(present(&r2, &all).await, "a0 m1");
    for x in [&g, &r2] {
        let (pid, ns, dir) = (x.vmm_pid(), x.netns().to_owned(), x.dir().to_owned());
        rt.destroy(x.id()).await.unwrap();
        common::assert_released(pid, &ns, &dir).await;
    }
    rt.delete_snapshot(&s2.id).unwrap();
}
