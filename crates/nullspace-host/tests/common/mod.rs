//! Shared set-up of the real-VM tests: one image and one `base` template per run.

#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use nullspace_guest_proto::ExecRequest;
use nullspace_host::image::{build_image, ImageSpec};
use nullspace_host::{Machine, Runtime, RuntimeConfig, Template};
use tokio::sync::OnceCell;

static TEMPLATE: OnceCell<Option<Template>> = OnceCell::const_new();

/// Why the VM tests cannot run here, if they cannot.
pub fn unavailable() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("needs root (network namespaces, taps)".into());
    }
    for tool in ["qemu-system-x86_64", "qemu-img", "ip", "nft"] {
        let found = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
            .unwrap_or(false);
        if !found {
            return Some(format!("{tool} is not installed"));
        }
    }
    None
}

/// The data directory of the tests.
pub fn data_dir() -> PathBuf {
    std::env::var_os("NULLSPACE_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(nullspace_host::DEFAULT_DATA_DIR))
}

/// The static guestd binary.
pub fn guestd() -> PathBuf {
    std::env::var_os("NULLSPACE_GUESTD")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../target/x86_64-unknown-linux-gnu/release/nullspace-guestd")
        })
}

/// A runtime whose VMs die with the test process.
pub async fn runtime() -> Runtime {
    let mut cfg = RuntimeConfig::new(data_dir());
    cfg.die_with_parent = true;
    cfg.max_output_bytes = 8 << 20;
    Runtime::new(cfg).await.expect("runtime")
}

/// The `base` template (built once per test binary), or `None` with the reason
/// printed when VMs cannot run here.
pub async fn template(rt: &Runtime) -> Option<Template> {
    if let Some(why) = unavailable() {
        // CI (and scripts/test.sh) set NULLSPACE_REQUIRE_VM: a test that cannot
        // run there must fail, not pass silently.
        assert!(
            std::env::var_os("NULLSPACE_REQUIRE_VM").is_none(),
            "real-VM test cannot run ({why}) and NULLSPACE_REQUIRE_VM is set"
        );
        eprintln!("SKIP: real-VM test: {why}");
        return None;
    }
    TEMPLATE
        .get_or_init(|| async {
            let guestd = guestd();
            assert!(
                guestd.is_file(),
                "static guestd missing at {} (run scripts/build-guestd.sh)",
                guestd.display()
            );
            let image = build_image(&ImageSpec::base(data_dir(), guestd))
                .await
                .expect("image build");
            Some(
                rt.ensure_template("base", &image)
                    .await
                    .expect("template build"),
            )
        })
        .await
        .clone()
}

/// Run a shell command as root and return (exit code, stdout, stderr).
pub async fn sh(m: &Machine, cmd: &str) -> (i32, String, String) {
    let out = m
        .exec(
            ExecRequest {
                shell: Some(cmd.into()),
                timeout_ms: Some(60_000),
                ..Default::default()
            },
            None,
        )
        .await
        .unwrap_or_else(|e| panic!("exec {cmd:?}: {e}"));
    (
        out.result.exit_code.unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Assert nothing of machine `m` is left on the host.
pub async fn assert_released(pid: u32, netns: &str, dir: &std::path::Path) {
    for _ in 0..50 {
        let alive = nullspace_vmm::process_alive(pid);
        if !alive && !PathBuf::from("/run/netns").join(netns).exists() && !dir.exists() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "machine resources left: pid {pid} alive={}, netns {netns} exists={}, dir {} exists={}",
        nullspace_vmm::process_alive(pid),
        PathBuf::from("/run/netns").join(netns).exists(),
        dir.display(),
        dir.exists()
    );
}
