//! The guest root filesystem: a cached debootstrap base, customised per image into an ext4 file.
//!
//! Base cache entry: `images/rootfs/<base key>/{root/, base.json}`, keyed by suite,
//! package set and [`ROOTFS_BUILDER_VERSION`]. The mirror is not part of the key: any
//! Debian mirror serves the same packages.

use std::fs;
use std::os::unix::fs::{chown, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

use super::cache::{self, KeyHasher, Staging};
use super::{exec, ImageError};

/// The Debian suite the rootfs is built from.
pub const SUITE: &str = "bookworm";
/// Mirror used when the spec names none.
pub const DEFAULT_MIRROR: &str = "http://deb.debian.org/debian";
/// Bump when the base build procedure changes, to invalidate cached bases.
pub const ROOTFS_BUILDER_VERSION: u32 = 1;
/// uid and gid of the unprivileged guest user.
pub const USER_ID: u32 = 1000;
/// Name of the unprivileged guest user.
pub const USER_NAME: &str = "user";
/// Guest hostname.
pub const HOSTNAME: &str = "nullspace";
/// Where the guest agent is installed in the rootfs.
pub const GUESTD_PATH: &str = "usr/local/bin/nullspace-guestd";

/// What is recorded about a cached base rootfs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BaseInfo {
    /// Debian suite.
    pub suite: String,
    /// The sorted `--include` list.
    pub packages: Vec<String>,
    /// The mirror it was fetched from.
    pub mirror: String,
    /// Seconds debootstrap took.
    pub debootstrap_seconds: f64,
}

/// Sorted, de-duplicated package list, the canonical form used in keys.
pub fn canonical_packages(packages: &[String]) -> Vec<String> {
    let mut p: Vec<String> = packages.iter().map(|s| s.trim().to_owned()).collect();
    p.retain(|s| !s.is_empty());
    p.sort();
    p.dedup();
    p
}

/// The cache key of the debootstrap base for `packages`.
pub fn base_key(packages: &[String]) -> String {
    let mut h = KeyHasher::new("nullspace-rootfs-base");
    h.str("builder", &ROOTFS_BUILDER_VERSION.to_string())
        .str("suite", SUITE)
        .str("packages", &canonical_packages(packages).join(","));
    h.finish()
}

/// Whether the current process runs with effective uid 0.
pub fn is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

/// Returns the cached base root directory, running debootstrap if needed.
pub fn ensure_base(
    images: &Path,
    packages: &[String],
    mirror: &str,
) -> Result<PathBuf, ImageError> {
    let bases = images.join("rootfs");
    let dir = bases.join(base_key(packages));
    if dir.join("base.json").is_file() {
        return Ok(dir.join("root"));
    }
    if !is_root() {
        return Err(ImageError::NotRoot {
            why: "debootstrap creates device nodes and root-owned files",
        });
    }
    cache::clean_stale_staging(&bases);
    let packages = canonical_packages(packages);
    let staging = Staging::new(&bases, "base")?;
    let root = staging.path().join("root");
    tracing::info!(suite = SUITE, %mirror, packages = %packages.join(","), "running debootstrap");
    let started = std::time::Instant::now();
    let mut cmd = Command::new("debootstrap");
    cmd.args(["--variant=minbase", "--components=main"]);
    if !packages.is_empty() {
        cmd.arg(format!("--include={}", packages.join(",")));
    }
    exec::run(cmd.arg(SUITE).arg(&root).arg(mirror))?;
    let info = BaseInfo {
        suite: SUITE.to_owned(),
        packages,
        mirror: mirror.to_owned(),
        debootstrap_seconds: started.elapsed().as_secs_f64(),
    };
    cache::write_json(&staging.path().join("base.json"), &info)?;
    staging.publish(&dir)?;
    tracing::info!(secs = info.debootstrap_seconds, "base rootfs cached");
    Ok(dir.join("root"))
}

/// Copies a root tree preserving owners, modes, links and xattrs (`cp -a`).
pub fn copy_tree(src: &Path, dst: &Path) -> Result<(), ImageError> {
    exec::run(
        Command::new("cp")
            .args(["-a", "--reflink=auto"])
            .arg(src)
            .arg(dst),
    )
    .map(drop)
}

/// The guest's `/etc/resolv.conf`: the host's non-loopback nameservers, else empty.
pub fn guest_resolv_conf(host_resolv: &str) -> String {
    host_resolv
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            (words.next() == Some("nameserver"))
                .then(|| words.next())
                .flatten()
        })
        .filter(|ns| {
            ns.parse::<std::net::IpAddr>()
                .is_ok_and(|ip| !ip.is_loopback() && !ip.is_unspecified())
        })
        .map(|ns| format!("nameserver {ns}\n"))
        .collect()
}

/// Writes `contents` to `root/rel` with `mode`, replacing (never following) a symlink.
fn put(root: &Path, rel: &str, contents: &[u8], mode: u32) -> Result<PathBuf, ImageError> {
    let path = root.join(rel);
    if fs::symlink_metadata(&path).is_ok() {
        fs::remove_file(&path).map_err(ImageError::io("remove", &path))?;
    }
    fs::write(&path, contents).map_err(ImageError::io("write", &path))?;
    set_mode(&path, mode)?;
    Ok(path)
}

fn set_mode(path: &Path, mode: u32) -> Result<(), ImageError> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(ImageError::io("set permissions of", path))
}

fn own(path: &Path, id: u32) -> Result<(), ImageError> {
    chown(path, Some(id), Some(id)).map_err(ImageError::io("change owner of", path))
}

/// Appends `line` to `root/rel` unless a line starting with `prefix` exists.
fn add_line(root: &Path, rel: &str, prefix: &str, line: &str) -> Result<(), ImageError> {
    let path = root.join(rel);
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(ImageError::io("read", &path)(e)),
    };
    if text.lines().any(|l| l.starts_with(prefix)) {
        return Ok(());
    }
    let mut new = text;
    if !new.is_empty() && !new.ends_with('\n') {
        new.push('\n');
    }
    new.push_str(line);
    new.push('\n');
    let mode = fs::metadata(&path)
        .map(|m| m.permissions().mode())
        .unwrap_or(0o644);
    put(root, rel, new.as_bytes(), mode & 0o7777).map(drop)
}

/// Turns a copy of the base into the guest root: user, hostname, DNS, guestd, no apt caches.
pub fn customise(root: &Path, guestd: &Path, resolv_conf: &str) -> Result<(), ImageError> {
    let id = USER_ID;
    let user = USER_NAME;
    add_line(
        root,
        "etc/group",
        &format!("{user}:"),
        &format!("{user}:x:{id}:"),
    )?;
    add_line(
        root,
        "etc/gshadow",
        &format!("{user}:"),
        &format!("{user}:!::"),
    )?;
    add_line(
        root,
        "etc/passwd",
        &format!("{user}:"),
        &format!("{user}:x:{id}:{id}::/home/{user}:{}", login_shell(root)),
    )?;
    // `*`: no password login; aging disabled. sudo needs no password (below).
    add_line(
        root,
        "etc/shadow",
        &format!("{user}:"),
        &format!("{user}:*::0:99999:7:::"),
    )?;

    let home = root.join("home").join(user);
    fs::create_dir_all(&home).map_err(ImageError::io("create directory", &home))?;
    let skel = root.join("etc/skel");
    if let Ok(entries) = fs::read_dir(&skel) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_file()) {
                let dst = home.join(entry.file_name());
                if fs::symlink_metadata(&dst).is_ok_and(|m| m.file_type().is_symlink()) {
                    fs::remove_file(&dst).map_err(ImageError::io("remove", &dst))?;
                }
                fs::copy(entry.path(), &dst).map_err(ImageError::io("copy", entry.path()))?;
                own(&dst, id)?;
            }
        }
    }
    own(&home, id)?;
    set_mode(&home, 0o755)?;

    let sudoers = root.join("etc/sudoers.d");
    fs::create_dir_all(&sudoers).map_err(ImageError::io("create directory", &sudoers))?;
    put(
        root,
        "etc/sudoers.d/user",
        format!("{user} ALL=(ALL:ALL) NOPASSWD: ALL\n").as_bytes(),
        0o440,
    )?;

    let workspace = root.join("workspace");
    fs::create_dir_all(&workspace).map_err(ImageError::io("create directory", &workspace))?;
    own(&workspace, id)?;
    set_mode(&workspace, 0o755)?;

    put(
        root,
        "etc/hostname",
        format!("{HOSTNAME}\n").as_bytes(),
        0o644,
    )?;
    let hosts = format!(
        "127.0.0.1\tlocalhost\n127.0.1.1\t{HOSTNAME}\n::1\t\tlocalhost ip6-localhost ip6-loopback\nff02::1\t\tip6-allnodes\nff02::2\t\tip6-allrouters\n"
    );
    put(root, "etc/hosts", hosts.as_bytes(), 0o644)?;
    put(root, "etc/resolv.conf", resolv_conf.as_bytes(), 0o644)?;

    let bin = fs::read(guestd).map_err(ImageError::io("read", guestd))?;
    put(root, GUESTD_PATH, &bin, 0o755)?;

    strip_apt_caches(root)
}

/// `/bin/bash` when the tree has it, else `/bin/sh`.
fn login_shell(root: &Path) -> &'static str {
    let bash = [std::ffi::OsStr::new("bin"), std::ffi::OsStr::new("bash")];
    match super::oci::layers::resolve_in(root, &bash, true) {
        Ok(p) if p.is_file() => "/bin/bash",
        _ => "/bin/sh",
    }
}

/// Files and directories of an image that [`customise`] writes, made plain first.
const IMAGE_DIRS: &[&str] = &[
    "etc",
    "etc/sudoers.d",
    "home",
    "usr",
    "usr/local",
    "usr/local/bin",
    "workspace",
];
const IMAGE_FILES: &[&str] = &[
    "etc/passwd",
    "etc/group",
    "etc/shadow",
    "etc/gshadow",
    "etc/hostname",
    "etc/hosts",
    "etc/resolv.conf",
    "etc/sudoers.d/user",
    "etc/skel",
];

/// [`customise`] for a tree unpacked from an OCI image, which may lack `/etc` and
/// whose links must not lead the writes outside it: the paths written are made
/// plain directories and files first.
pub fn customise_image(root: &Path, guestd: &Path, resolv_conf: &str) -> Result<(), ImageError> {
    let is_link = |p: &Path| fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink());
    for rel in IMAGE_DIRS {
        let path = root.join(rel);
        if is_link(&path) {
            fs::remove_file(&path).map_err(ImageError::io("remove", &path))?;
        }
        fs::create_dir_all(&path).map_err(ImageError::io("create directory", &path))?;
    }
    for rel in IMAGE_FILES {
        let path = root.join(rel);
        if is_link(&path) {
            fs::remove_file(&path).map_err(ImageError::io("remove", &path))?;
        }
    }
    let home = root.join("home").join(USER_NAME);
    if is_link(&home) {
        fs::remove_file(&home).map_err(ImageError::io("remove", &home))?;
    }
    for rel in ["etc/shadow", "etc/gshadow"] {
        if !root.join(rel).exists() {
            put(root, rel, b"", 0o640)?;
        }
    }
    customise(root, guestd, resolv_conf)
}

/// Empties apt's package caches and lists, keeping the directories apt expects.
fn strip_apt_caches(root: &Path) -> Result<(), ImageError> {
    for rel in [
        "var/lib/apt/lists",
        "var/cache/apt",
        "var/cache/apt/archives",
    ] {
        let dir = root.join(rel);
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            let keep = matches!(name.to_str(), Some("partial" | "archives" | "lock"));
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            if keep && is_dir {
                if name == "partial" {
                    for inner in fs::read_dir(&path).into_iter().flatten().flatten() {
                        let _ = fs::remove_file(inner.path());
                    }
                }
                continue;
            }
            if keep {
                continue;
            }
            let res = if is_dir {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
            res.map_err(ImageError::io("remove", &path))?;
        }
    }
    Ok(())
}

/// Creates a sparse ext4 image of `size_mib` MiB from `root` with `mkfs.ext4 -d`.
pub fn make_ext4(root: &Path, out: &Path, size_mib: u64) -> Result<(), ImageError> {
    exec::run(
        Command::new("mkfs.ext4")
            .args(["-q", "-F", "-m", "0", "-L", "nullspace-root", "-d"])
            .arg(root)
            .arg(out)
            .arg(format!("{size_mib}M")),
    )
    .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn base_key_ignores_order_and_duplicates() {
        let a = base_key(&["git".into(), "curl".into()]);
        let b = base_key(&["curl".into(), "git".into(), "git".into()]);
        let c = base_key(&["curl".into()]);
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn resolv_conf_drops_loopback() {
        let host = "# c\nsearch x\nnameserver 127.0.0.53\nnameserver 10.0.0.2\nnameserver ::1\nnameserver 2001:db8::1\noptions edns0\n";
        assert_eq!(
            guest_resolv_conf(host),
            "nameserver 10.0.0.2\nnameserver 2001:db8::1\n"
        );
        assert_eq!(guest_resolv_conf("nameserver 127.0.0.1\n"), "");
    }

    #[test]
    fn customise_writes_user_and_config() {
        if !is_root() {
            eprintln!("skipping: chown needs root");
            return;
        }
        let dir = std::env::temp_dir().join(format!("ns-rootfs-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let root = dir.join("root");
        for d in [
            "etc/skel",
            "usr/local/bin",
            "var/lib/apt/lists/partial",
            "home",
        ] {
            fs::create_dir_all(root.join(d)).unwrap();
        }
        fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/bash\n").unwrap();
        fs::write(root.join("etc/group"), "root:x:0:\n").unwrap();
        fs::write(root.join("etc/skel/.bashrc"), "# rc\n").unwrap();
        fs::write(root.join("var/lib/apt/lists/deb.debian.org_Packages"), "x").unwrap();
        std::os::unix::fs::symlink("/nonexistent/host-file", root.join("etc/resolv.conf")).unwrap();
        fs::write(dir.join("guestd"), b"bin").unwrap();
        fs::create_dir_all(root.join("usr/bin")).unwrap();
        fs::write(root.join("usr/bin/bash"), b"").unwrap();
        std::os::unix::fs::symlink("usr/bin", root.join("bin")).unwrap();

        customise(&root, &dir.join("guestd"), "nameserver 10.0.0.2\n").unwrap();
        customise(&root, &dir.join("guestd"), "nameserver 10.0.0.2\n").unwrap();

        let passwd = fs::read_to_string(root.join("etc/passwd")).unwrap();
        assert_eq!(
            passwd
                .matches("user:x:1000:1000::/home/user:/bin/bash")
                .count(),
            1
        );
        let sudo = fs::metadata(root.join("etc/sudoers.d/user")).unwrap();
        assert_eq!(sudo.mode() & 0o7777, 0o440);
        let ws = fs::metadata(root.join("workspace")).unwrap();
        assert_eq!(
            (ws.uid(), ws.gid(), ws.mode() & 0o7777),
            (1000, 1000, 0o755)
        );
        assert_eq!(
            fs::metadata(root.join("home/user/.bashrc")).unwrap().uid(),
            1000
        );
        assert!(fs::symlink_metadata(root.join("etc/resolv.conf"))
            .unwrap()
            .is_file());
        let g = fs::metadata(root.join(GUESTD_PATH)).unwrap();
        assert_eq!(g.mode() & 0o7777, 0o755);
        assert!(!root
            .join("var/lib/apt/lists/deb.debian.org_Packages")
            .exists());
        assert!(root.join("var/lib/apt/lists/partial").is_dir());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn image_trees_are_customised_without_writing_through_their_links() {
        if !is_root() {
            eprintln!("skipping: chown needs root");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let (root, outside) = (dir.path().join("root"), dir.path().join("outside"));
        fs::create_dir_all(root.join("bin")).unwrap();
        fs::create_dir_all(&outside).unwrap();
        fs::write(outside.join("passwd"), "host:x:0:0::/:/bin/sh\n").unwrap();
        fs::write(root.join("bin/sh"), b"").unwrap();
        // An image whose /etc and /home lead out of it.
        std::os::unix::fs::symlink(&outside, root.join("etc")).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("home")).unwrap();
        fs::write(dir.path().join("guestd"), b"bin").unwrap();
        customise_image(&root, &dir.path().join("guestd"), "").unwrap();
        assert_eq!(
            fs::read_to_string(outside.join("passwd")).unwrap(),
            "host:x:0:0::/:/bin/sh\n"
        );
        assert_eq!(fs::read_dir(&outside).unwrap().count(), 1);
        let passwd = fs::read_to_string(root.join("etc/passwd")).unwrap();
        assert_eq!(passwd, "user:x:1000:1000::/home/user:/bin/sh\n");
        assert!(root.join("home/user").is_dir());
        assert!(!fs::symlink_metadata(root.join("etc"))
            .unwrap()
            .file_type()
            .is_symlink());
        assert!(root.join(GUESTD_PATH).is_file());
    }
}
