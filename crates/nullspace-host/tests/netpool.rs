//! The network pool: real namespaces, made ahead, handed out, and all removed on close.

use std::path::Path;
use std::time::{Duration, Instant};

use nullspace_host::netns::process_slots;
use nullspace_host::netpool::NetPool;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_fills_hands_out_and_cleans_up() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        assert!(
            std::env::var_os("NULLSPACE_REQUIRE_VM").is_none(),
            "the network pool test needs root, and NULLSPACE_REQUIRE_VM is set"
        );
        eprintln!("SKIP: network pool test needs root");
        return;
    }
    let slots = process_slots();
    let data = std::env::var_os("NULLSPACE_DATA_DIR").map_or_else(
        || nullspace_host::DEFAULT_DATA_DIR.into(),
        std::path::PathBuf::from,
    );
    let owner = nullspace_host::netns::owner_tag(&data);
    let pool = NetPool::new(slots.clone(), 2, &owner);
    pool.refill();
    let deadline = Instant::now() + Duration::from_secs(20);
    while pool.ready() < 2 {
        assert!(Instant::now() < deadline, "pool did not fill");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let taken = pool.take().await.unwrap();
    assert!(taken.path().exists());
    assert!(Path::new("/sys/class/net").join(&taken.host_veth).exists());
    // The namespace is fully set up: the tap is there.
    let out = std::process::Command::new("ip")
        .args(["-n", &taken.name, "-br", "link", "show", "tap0"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Refill brings it back to two, then closing removes every pooled namespace.
    let deadline = Instant::now() + Duration::from_secs(20);
    while pool.ready() < 2 {
        assert!(Instant::now() < deadline, "pool did not refill");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let pooled = pool.ready_names();
    assert_eq!(pooled.len(), 2);
    assert!(
        pooled
            .iter()
            .all(|n| n.starts_with(&format!("nullspace-{owner}-p"))),
        "{pooled:?} name their data directory"
    );
    for name in &pooled {
        assert!(Path::new("/run/netns").join(name).exists());
    }
    pool.close_blocking();
    assert_eq!(pool.ready(), 0);
    for name in &pooled {
        assert!(
            !Path::new("/run/netns").join(name).exists(),
            "{name} left behind"
        );
    }
    taken.delete(&slots).await.unwrap();
    assert!(!taken.path().exists());
    assert!(!Path::new("/sys/class/net").join(&taken.host_veth).exists());
}
