//! Real image build: debootstrap, the Debian cloud kernel and mkfs.ext4.
//!
//! Skipped (with a printed reason) when not root or when debootstrap is missing.
//! The data directory persists under /var/tmp so later runs reuse the cached kernel
//! and debootstrap base; set `NULLSPACE_TEST_DATA_DIR` to use another one and
//! `NULLSPACE_TEST_GUESTD` to choose the guestd binary.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use nullspace_host::image::{self, ImageSpec};

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .map(|ids| ids.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

fn have(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
        || Path::new("/usr/sbin").join(program).is_file()
}

/// The static guestd if one was built, else any binary (only its presence is checked).
fn guestd() -> PathBuf {
    if let Some(p) = std::env::var_os("NULLSPACE_TEST_GUESTD") {
        return p.into();
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for target in ["target-image", "target"] {
        let p = workspace
            .join(target)
            .join("x86_64-unknown-linux-gnu/release/nullspace-guestd");
        if p.is_file() {
            return p;
        }
    }
    eprintln!("note: no static nullspace-guestd built; using /usr/bin/true as a stand-in");
    PathBuf::from("/usr/bin/true")
}

fn debugfs(image: &Path, request: &str) -> String {
    let out = Command::new("debugfs")
        .args(["-R", request])
        .arg(image)
        .output()
        .expect("run debugfs");
    assert!(out.status.success(), "debugfs {request} failed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn builds_base_image_and_caches_it() {
    if !is_root() {
        eprintln!("skipping: building images needs root");
        return;
    }
    if !have("debootstrap") {
        eprintln!("skipping: debootstrap is not installed");
        return;
    }
    let data_dir = std::env::var_os("NULLSPACE_TEST_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/nullspace-image-test"));
    let spec = ImageSpec::base(&data_dir, guestd());

    let t = Instant::now();
    let first = image::build_image(&spec).await.expect("first build");
    eprintln!("first build: {:.1}s", t.elapsed().as_secs_f64());

    // vmlinux: an ELF with a PVH entry note.
    let vmlinux = std::fs::read(&first.vmlinux).unwrap();
    assert!(vmlinux.starts_with(b"\x7fELF"));
    let entry = image::pvh_entry(&vmlinux).expect("PVH note");
    assert!(entry > 0);
    assert!(
        first.kernel_release.contains("cloud-amd64"),
        "{}",
        first.kernel_release
    );

    // initrd: /init, the marker and a load order naming real files.
    let entries = image::parse_cpio(&std::fs::read(&first.initrd).unwrap()).expect("valid cpio");
    let find = |name: &str| entries.iter().find(|e| e.name == name);
    assert_eq!(find("init").expect("/init").mode, 0o100755);
    assert!(find("etc/nullspace-initramfs").is_some());
    for dir in ["dev", "proc", "sys", "newroot"] {
        assert!(find(dir).is_some(), "/{dir} missing");
    }
    let order = String::from_utf8(
        find("lib/modules/load-order")
            .expect("load-order")
            .data
            .clone(),
    )
    .unwrap();
    assert!(order.contains("virtio_blk.ko"), "{order}");
    for line in order.lines() {
        let module = find(&format!("lib/modules/{line}")).unwrap_or_else(|| panic!("{line}"));
        assert!(
            module.data.starts_with(b"\x7fELF"),
            "{line} is not a decompressed module"
        );
    }
    let pos = |m: &str| order.lines().position(|l| l.ends_with(&format!("/{m}.ko")));
    if let (Some(f), Some(n)) = (pos("net_failover"), pos("virtio_net")) {
        assert!(f < n, "net_failover must load before virtio_net:\n{order}");
    }

    // rootfs: guestd installed, the user's home present.
    assert!(first.rootfs.is_file());
    let stat = debugfs(&first.rootfs, "stat /usr/local/bin/nullspace-guestd");
    assert!(stat.contains("Mode:  0755"), "{stat}");
    let home = debugfs(&first.rootfs, "ls -l /home");
    assert!(home.contains("user") && home.contains("1000"), "{home}");
    let ws = debugfs(&first.rootfs, "stat /workspace");
    assert!(
        ws.contains("User:  1000") && ws.contains("Group:  1000"),
        "{ws}"
    );

    // A second build with identical inputs is a cache hit.
    let t = Instant::now();
    let second = image::build_image(&spec).await.expect("second build");
    let secs = t.elapsed().as_secs_f64();
    eprintln!("second build: {secs:.2}s");
    assert_eq!(second, first);
    assert!(secs < 5.0, "cached build took {secs:.1}s");
    assert_eq!(image::current_base(&data_dir).unwrap(), first);
    assert_eq!(image::load_image(&data_dir, &first.key).unwrap(), first);
}
