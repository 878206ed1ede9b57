//! Mounting the pseudo filesystems.

use std::io;
use std::path::Path;

use crate::sys;

/// One filesystem to mount.
#[derive(Debug, Clone, Copy)]
pub struct MountSpec {
    /// Filesystem type (also used as the source).
    pub fstype: &'static str,
    /// Mount point.
    pub target: &'static str,
    /// `MS_*` flags.
    pub flags: libc::c_ulong,
    /// Filesystem options.
    pub data: Option<&'static str>,
}

const NOSUID_NODEV: libc::c_ulong = libc::MS_NOSUID | libc::MS_NODEV;

/// What PID 1 mounts, in order.
pub const BASE_MOUNTS: &[MountSpec] = &[
    MountSpec {
        fstype: "proc",
        target: "/proc",
        flags: NOSUID_NODEV | libc::MS_NOEXEC,
        data: None,
    },
    MountSpec {
        fstype: "sysfs",
        target: "/sys",
        flags: NOSUID_NODEV | libc::MS_NOEXEC,
        data: None,
    },
    MountSpec {
        fstype: "devtmpfs",
        target: "/dev",
        flags: libc::MS_NOSUID,
        data: Some("mode=0755"),
    },
    MountSpec {
        fstype: "devpts",
        target: "/dev/pts",
        flags: libc::MS_NOSUID | libc::MS_NOEXEC,
        data: Some("ptmxmode=0666,gid=5,mode=620"),
    },
    MountSpec {
        fstype: "tmpfs",
        target: "/dev/shm",
        flags: NOSUID_NODEV,
        data: Some("mode=1777"),
    },
    MountSpec {
        fstype: "tmpfs",
        target: "/tmp",
        flags: NOSUID_NODEV,
        data: Some("mode=1777"),
    },
    MountSpec {
        fstype: "tmpfs",
        target: "/run",
        flags: NOSUID_NODEV,
        data: Some("mode=755"),
    },
];

/// Mount `spec`, creating its mount point if needed.
pub fn mount(spec: &MountSpec) -> io::Result<()> {
    let target = Path::new(spec.target);
    std::fs::create_dir_all(target)?;
    sys::mount(
        Some(spec.fstype),
        target,
        Some(spec.fstype),
        spec.flags,
        spec.data,
    )
}

/// Mount points listed in `/proc/self/mounts` text.
pub fn mount_points(mounts: &str) -> Vec<String> {
    mounts
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .map(|p| p.replace("\\040", " "))
        .collect()
}

/// Mount every base filesystem that is not mounted yet, logging failures.
pub fn mount_base() {
    for spec in BASE_MOUNTS {
        let mounted = std::fs::read_to_string("/proc/self/mounts")
            .map(|m| mount_points(&m).iter().any(|p| p == spec.target))
            .unwrap_or(false);
        if mounted {
            continue;
        }
        match mount(spec) {
            Ok(()) => crate::log!("mounted {} on {}", spec.fstype, spec.target),
            Err(e) => crate::log!("cannot mount {} on {}: {e}", spec.fstype, spec.target),
        }
    }
    // What udev would add: the /dev/fd family (bash process substitution uses it).
    for (link, target) in [
        ("/dev/fd", "/proc/self/fd"),
        ("/dev/stdin", "/proc/self/fd/0"),
        ("/dev/stdout", "/proc/self/fd/1"),
        ("/dev/stderr", "/proc/self/fd/2"),
    ] {
        if std::fs::symlink_metadata(link).is_err() {
            let _ = std::os::unix::fs::symlink(target, link);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mount_points() {
        let text = "proc /proc proc rw 0 0\nsysfs /sys sysfs rw 0 0\n/dev/vdb /mnt/my\\040disk ext4 rw 0 0\n";
        assert_eq!(mount_points(text), ["/proc", "/sys", "/mnt/my disk"]);
    }
}
