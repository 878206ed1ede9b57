//! Real microVMs: snapshot a running machine and restore it.

mod common;

use std::time::Duration;

use nullspace_host::Origin;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_and_files_survive_snapshot_and_restores_diverge() {
    let rt = common::runtime().await;
    let Some(template) = common::template(&rt).await else {
        return;
    };
    let src = rt.create_machine(&template).await.unwrap();
    let (code, _, err) = common::sh(
        &src,
        "echo kept > /workspace/state.txt; \
         nohup sh -c 'i=0; while true; do i=$((i+1)); echo $i > /tmp/counter.new; mv /tmp/counter.new /tmp/counter; sleep 0.2; done' >/dev/null 2>&1 & \
         echo $! > /tmp/counter.pid",
    )
    .await;
    assert_eq!(code, 0, "{err}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let snap = rt.snapshot(src.id()).await.unwrap();
    assert!(
        snap.state_bytes > 1 << 20,
        "full RAM saved: {} bytes",
        snap.state_bytes
    );
    // The source keeps running after the snapshot, and its writes do not leak into it.
    let (code, out, _) = common::sh(
        &src,
        "cat /workspace/state.txt && echo after > /workspace/after.txt",
    )
    .await;
    assert_eq!((code, out.as_str()), (0, "kept\n"));

    let (r1, r2) = tokio::join!(rt.restore_snapshot(&snap.id), rt.restore_snapshot(&snap.id));
    let (r1, r2) = (r1.unwrap(), r2.unwrap());
    for m in [&r1, &r2] {
        assert_eq!(m.origin(), &Origin::Snapshot(snap.id.clone()));
        assert_ne!(m.id(), src.id());
        let (_, out, _) = common::sh(m, "cat /workspace/state.txt; test -e /workspace/after.txt && echo leaked || echo clean; hostname").await;
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[..2], ["kept", "clean"], "{out}");
        assert_eq!(
            lines[2],
            m.hostname(),
            "restored machine takes its own hostname"
        );
        // The background process is the same process, still counting.
        let (code, out, _) =
            common::sh(m, "kill -0 $(cat /tmp/counter.pid) && cat /tmp/counter").await;
        assert_eq!(code, 0, "counter process survived");
        let before: u64 = out.trim().parse().unwrap();
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let (_, out, _) = common::sh(m, "cat /tmp/counter").await;
        let after: u64 = out.trim().parse().unwrap();
        assert!(
            after > before,
            "counter advances after restore: {before} -> {after}"
        );
    }
    // Two restores of one snapshot diverge.
    let rand = |m| async move {
        common::sh(m, "head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n'")
            .await
            .1
    };
    let (x, y) = (rand(&r1).await, rand(&r2).await);
    assert_eq!(x.len(), 64);
    assert_ne!(x, y, "restores read different bytes from /dev/urandom");
    let uuid = |m| async move {
        common::sh(m, "python3 -c 'import uuid; print(uuid.uuid4())'")
            .await
            .1
    };
    assert_ne!(uuid(&r1).await, uuid(&r2).await);
    // Writes in one restore stay there.
    common::sh(&r1, "echo one > /workspace/r1.txt").await;
    assert_eq!(
        common::sh(&r2, "test -e /workspace/r1.txt; echo $?")
            .await
            .1,
        "1\n"
    );

    for m in [&src, &r1, &r2] {
        let (pid, ns, dir) = (m.vmm_pid(), m.netns().to_owned(), m.dir().to_owned());
        rt.destroy(m.id()).await.unwrap();
        common::assert_released(pid, &ns, &dir).await;
    }
    rt.delete_snapshot(&snap.id).unwrap();
    assert!(!snap.dir.exists());
    assert_eq!(
        rt.restore_snapshot(&snap.id).await.unwrap_err().code(),
        "not_found"
    );
}
