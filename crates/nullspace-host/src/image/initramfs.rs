//! The initramfs: guestd as `/init` plus the modules needed to reach disk, network and agent port.
//!
//! Layout of `initrd.cpio` (uncompressed newc):
//! - `/init`: the static guestd binary (0755); the kernel runs it as PID 1.
//! - `/etc/nullspace-initramfs`: marker telling guestd it runs from the initramfs.
//! - `/dev` (with `/dev/console`), `/proc`, `/sys`, `/newroot`: mount points.
//! - `/lib/modules/<release>/kernel/...ko`: decompressed modules.
//! - `/lib/modules/load-order`: their paths relative to `/lib/modules/`, dependencies first.

use std::fs;
use std::path::Path;

use super::cpio::CpioWriter;
use super::kernel::CachedKernel;
use super::modules::{self, ModuleTree};
use super::ImageError;

/// Path of the marker file inside the initramfs.
pub const MARKER_PATH: &str = "/etc/nullspace-initramfs";
/// Path of the module load order inside the initramfs.
pub const LOAD_ORDER_PATH: &str = "/lib/modules/load-order";

/// Writes `initrd.cpio` to `out` and returns the module paths listed in the load order.
pub fn build(kernel: &CachedKernel, guestd: &Path, out: &Path) -> Result<Vec<String>, ImageError> {
    let release = &kernel.info.release;
    let tree = ModuleTree::open(&kernel.modules())?;
    let selected = tree.closure(modules::INITRAMFS_MODULES)?;

    let mut w = CpioWriter::new();
    for dir in [
        "/dev",
        "/proc",
        "/sys",
        "/newroot",
        "/etc",
        "/lib/modules",
        "/tmp",
        "/run",
    ] {
        w.dir(dir, 0o755);
    }
    // The kernel opens /dev/console for PID 1's stdio before anything mounts devtmpfs.
    w.char_dev("/dev/console", 0o600, 5, 1);
    w.char_dev("/dev/null", 0o666, 1, 3);

    let init = fs::read(guestd).map_err(ImageError::io("read", guestd))?;
    w.file("/init", 0o755, &init);
    w.file(
        MARKER_PATH,
        0o644,
        format!("nullspace initramfs\nkernel={release}\n").as_bytes(),
    );

    let mut load_order = Vec::new();
    for module in &selected {
        let bytes = modules::read_module(&tree.root().join(&module.rel_path))?;
        let rel = module
            .rel_path
            .strip_suffix(".xz")
            .unwrap_or(&module.rel_path);
        let in_modules = format!("{release}/{rel}");
        w.file(&format!("/lib/modules/{in_modules}"), 0o644, &bytes);
        load_order.push(in_modules);
    }
    let mut order_text = load_order.join("\n");
    if !order_text.is_empty() {
        order_text.push('\n');
    }
    w.file(LOAD_ORDER_PATH, 0o644, order_text.as_bytes());

    let skipped: Vec<&str> = modules::INITRAMFS_MODULES
        .iter()
        .copied()
        .filter(|m| tree.is_builtin(m))
        .collect();
    tracing::info!(modules = ?load_order, builtin = ?skipped, "initramfs modules");
    fs::write(out, w.finish()).map_err(ImageError::io("write", out))?;
    Ok(load_order)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::cpio;
    use crate::image::kernel::{KernelInfo, KernelPackage};

    #[test]
    fn builds_archive_from_module_tree() {
        let dir = std::env::temp_dir().join(format!("ns-initramfs-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let mods = dir.join("modules");
        fs::create_dir_all(mods.join("kernel/drivers")).unwrap();
        for (name, deps) in [
            ("virtio_mmio", ""),
            ("virtio_blk", ""),
            ("virtio_net", "net_failover"),
            ("net_failover", "failover"),
            ("failover", ""),
        ] {
            let body = format!("\0name={name}\0depends={deps}\0");
            fs::write(mods.join(format!("kernel/drivers/{name}.ko")), body).unwrap();
        }
        fs::write(
            mods.join("modules.builtin"),
            "kernel/drivers/char/virtio_console.ko\nkernel/fs/ext4/ext4.ko\n",
        )
        .unwrap();
        fs::write(dir.join("guestd"), b"\x7fELF-guestd").unwrap();
        let kernel = CachedKernel {
            dir: dir.clone(),
            info: KernelInfo {
                package: KernelPackage {
                    package: "linux-image-test".into(),
                    version: "1".into(),
                },
                release: "6.12-test".into(),
                deb_sha256: String::new(),
                pvh_entry: 0,
            },
        };
        let out = dir.join("initrd.cpio");
        let order = build(&kernel, &dir.join("guestd"), &out).unwrap();
        assert_eq!(
            order,
            [
                "6.12-test/kernel/drivers/virtio_mmio.ko",
                "6.12-test/kernel/drivers/virtio_blk.ko",
                "6.12-test/kernel/drivers/failover.ko",
                "6.12-test/kernel/drivers/net_failover.ko",
                "6.12-test/kernel/drivers/virtio_net.ko",
            ]
        );
        let entries = cpio::parse(&fs::read(&out).unwrap()).unwrap();
        let get = |n: &str| {
            entries
                .iter()
                .find(|e| e.name == n)
                .unwrap_or_else(|| panic!("{n}"))
        };
        assert_eq!(get("init").mode, 0o100755);
        assert_eq!(get("init").data, b"\x7fELF-guestd");
        assert!(get("etc/nullspace-initramfs").mode & 0o100000 != 0);
        assert_eq!(get("newroot").mode, 0o040755);
        assert_eq!(
            String::from_utf8(get("lib/modules/load-order").data.clone()).unwrap(),
            order.join("\n") + "\n"
        );
        assert!(get("lib/modules/6.12-test/kernel/drivers/failover.ko")
            .data
            .starts_with(b"\0name=failover"));
        fs::remove_dir_all(&dir).unwrap();
    }
}
