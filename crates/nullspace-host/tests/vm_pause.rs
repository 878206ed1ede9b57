//! Real microVMs: pause and resume keep files and processes, cycle after cycle.

mod common;

use std::time::Duration;

use nullspace_types::MachineState;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_pause_resume_cycles_keep_files_and_a_running_counter() {
    let rt = common::runtime().await;
    let Some(template) = common::template(&rt).await else {
        return;
    };
    let m = rt.create_machine(&template).await.unwrap();
    let id = m.id().clone();
    let hostname = m.hostname().to_owned();
    let (code, _, err) = common::sh(
        &m,
        "nohup sh -c 'i=0; while true; do i=$((i+1)); echo $i > /tmp/counter.new; mv /tmp/counter.new /tmp/counter; sleep 0.2; done' >/dev/null 2>&1 & echo $! > /tmp/counter.pid",
    )
    .await;
    assert_eq!(code, 0, "{err}");
    drop(m);
    let mut last = 0u64;
    let mut seeds = std::collections::HashSet::new();
    for cycle in 0..5 {
        let m = rt.machine(&id).unwrap();
        common::sh(
            &m,
            &format!("echo cycle{cycle} > /workspace/file{cycle}.txt; sync"),
        )
        .await;
        tokio::time::sleep(Duration::from_millis(600)).await;
        let (pid, netns, dir) = (m.vmm_pid(), m.netns().to_owned(), m.dir().to_owned());
        drop(m);
        rt.pause(&id).await.unwrap();
        assert!(rt.is_paused(&id));
        assert_eq!(
            rt.machine(&id).unwrap_err().code(),
            "not_found",
            "a paused machine has no live handle"
        );
        // Paused: no VMM process, no namespace, but the directory (disk + state) stays.
        common::assert_released(pid, &netns, std::path::Path::new("/nonexistent")).await;
        assert!(dir.join("pause.state").exists() && dir.join("disk.qcow2").exists());

        let m = rt.resume(&id).await.unwrap();
        assert_eq!(m.state(), MachineState::Running);
        assert_eq!(m.hostname(), hostname);
        assert!(!rt.is_paused(&id));
        let (_, out, _) = common::sh(&m, "cat /workspace/file*.txt | tr '\\n' ' '; kill -0 $(cat /tmp/counter.pid) && cat /tmp/counter").await;
        let expected: String = (0..=cycle).map(|c| format!("cycle{c} ")).collect();
        let (files, counter) = out.split_at(expected.len());
        assert_eq!(
            files, expected,
            "every file written before a pause is there"
        );
        let now: u64 = counter
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("counter process gone: {out:?}"));
        assert!(
            now > last,
            "counter advances across cycle {cycle}: {last} -> {now}"
        );
        last = now;
        let (_, rand, _) =
            common::sh(&m, "head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \\n'").await;
        assert!(seeds.insert(rand), "each resume reads fresh random bytes");
    }
    // A paused machine can be destroyed; a running one resumes as is.
    let m = rt.resume(&id).await.unwrap();
    assert_eq!(m.id(), &id);
    drop(m);
    rt.pause(&id).await.unwrap();
    let dir = rt.config().data_dir.join("machines").join(id.as_str());
    rt.discard(&id, false).await;
    assert!(!dir.exists());
    assert_eq!(rt.resume(&id).await.unwrap_err().code(), "not_found");
}
