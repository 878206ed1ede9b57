//! Fetching the Debian cloud kernel and caching its `vmlinux` and module tree.
//!
//! The package is resolved from local apt metadata (`apt-cache`, no network), fetched
//! with `apt-get download` and unpacked with `dpkg-deb -x`; it is never installed.
//! Cache entry: `images/kernels/<kernel key>/{vmlinux, config, modules/, kernel.json}`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

use super::cache::{self, KeyHasher, Staging};
use super::{debver, exec, vmlinux, ImageError};

/// The metapackage whose newest version names the kernel to use.
pub const KERNEL_META: &str = "linux-image-cloud-amd64";

/// A concrete, versioned kernel image package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelPackage {
    /// e.g. `linux-image-6.12.95+deb12-cloud-amd64`.
    pub package: String,
    /// e.g. `6.12.95-1~bpo12+1`.
    pub version: String,
}

impl KernelPackage {
    /// The cache key: derived from the package name and version.
    pub fn key(&self) -> String {
        let mut h = KeyHasher::new("nullspace-kernel-v1");
        h.str("package", &self.package)
            .str("version", &self.version);
        h.finish()
    }
}

/// What is recorded about a cached kernel.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KernelInfo {
    /// The package it came from.
    #[serde(flatten)]
    pub package: KernelPackage,
    /// `uname -r` of the kernel, e.g. `6.12.95+deb12-cloud-amd64`.
    pub release: String,
    /// sha256 of the downloaded `.deb`.
    pub deb_sha256: String,
    /// The PVH entry point from the ELF note.
    pub pvh_entry: u64,
}

/// A kernel present in the cache.
#[derive(Debug, Clone)]
pub struct CachedKernel {
    /// The cache entry directory.
    pub dir: PathBuf,
    /// Its metadata.
    pub info: KernelInfo,
}

impl CachedKernel {
    /// The uncompressed ELF kernel.
    pub fn vmlinux(&self) -> PathBuf {
        self.dir.join("vmlinux")
    }

    /// The `lib/modules/<release>` tree.
    pub fn modules(&self) -> PathBuf {
        self.dir.join("modules")
    }
}

/// Picks the newest version of the metapackage and the image package it pins.
pub fn resolve() -> Result<KernelPackage, ImageError> {
    let out = exec::run(Command::new("apt-cache").args(["show", KERNEL_META]))?;
    pick_newest(&out)
}

/// Parses `apt-cache show` stanzas and returns the package pinned by the newest one.
fn pick_newest(show: &str) -> Result<KernelPackage, ImageError> {
    let mut best: Option<(String, String)> = None;
    for stanza in show.split("\n\n") {
        let field = |name: &str| {
            stanza
                .lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
                .map(|v| v.trim().to_owned())
        };
        let (Some(version), Some(depends)) = (field("Version"), field("Depends")) else {
            continue;
        };
        let newer = match &best {
            None => true,
            Some((v, _)) => debver::compare(&version, v).is_gt(),
        };
        if newer {
            best = Some((version, depends));
        }
    }
    let (version, depends) = best.ok_or_else(|| ImageError::NoKernelPackage {
        meta: KERNEL_META.to_owned(),
    })?;
    depends
        .split(',')
        .flat_map(|alt| alt.split('|'))
        .find_map(|dep| {
            let (name, rest) = dep.trim().split_once(' ')?;
            let pinned = rest.trim().strip_prefix("(=")?.strip_suffix(')')?.trim();
            name.starts_with("linux-image-").then(|| KernelPackage {
                package: name.to_owned(),
                version: pinned.to_owned(),
            })
        })
        .ok_or(ImageError::KernelDepends {
            meta: KERNEL_META.to_owned(),
            version,
            depends,
        })
}

/// Returns the cached kernel for `pkg`, downloading and unpacking it if needed.
pub fn ensure(images: &Path, pkg: &KernelPackage) -> Result<CachedKernel, ImageError> {
    let kernels = images.join("kernels");
    let dir = kernels.join(pkg.key());
    let info_path = dir.join("kernel.json");
    if info_path.is_file() {
        let info = cache::read_json(&info_path)?;
        return Ok(CachedKernel { dir, info });
    }
    cache::clean_stale_staging(&kernels);
    let started = std::time::Instant::now();
    tracing::info!(package = %pkg.package, version = %pkg.version, "fetching kernel package");
    let staging = Staging::new(&kernels, "kernel")?;
    let info = fetch_into(staging.path(), pkg)?;
    staging.publish(&dir)?;
    tracing::info!(release = %info.release, secs = started.elapsed().as_secs_f32(), "kernel cached");
    Ok(CachedKernel { dir, info })
}

fn fetch_into(out: &Path, pkg: &KernelPackage) -> Result<KernelInfo, ImageError> {
    let dl = out.join("download");
    fs::create_dir(&dl).map_err(ImageError::io("create directory", &dl))?;
    exec::run(
        Command::new("apt-get")
            .args(["download", "-q", "-o", "APT::Sandbox::User=root"])
            .arg(format!("{}={}", pkg.package, pkg.version))
            .current_dir(&dl),
    )?;
    let deb =
        find_file(&dl, |n| n.ends_with(".deb"))?.ok_or_else(|| ImageError::KernelContents {
            package: pkg.package.clone(),
            what: "a downloaded .deb file".into(),
        })?;
    let deb_sha256 = cache::sha256_file(&deb)?;

    let tree = out.join("unpacked");
    exec::run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&tree))?;
    let missing = |what: &str| ImageError::KernelContents {
        package: pkg.package.clone(),
        what: what.to_owned(),
    };
    let boot = tree.join("boot");
    let vmlinuz = find_file(&boot, |n| n.starts_with("vmlinuz-"))?
        .ok_or_else(|| missing("/boot/vmlinuz-*"))?;
    let release = vmlinuz
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix("vmlinuz-"))
        .expect("matched vmlinuz- prefix")
        .to_owned();

    let bzimage = fs::read(&vmlinuz).map_err(ImageError::io("read", &vmlinuz))?;
    let (elf, pvh_entry) = vmlinux::extract_vmlinux(&bzimage)?;
    let vmlinux_path = out.join("vmlinux");
    fs::write(&vmlinux_path, &elf).map_err(ImageError::io("write", &vmlinux_path))?;

    let config = boot.join(format!("config-{release}"));
    if config.is_file() {
        fs::copy(&config, out.join("config")).map_err(ImageError::io("copy", &config))?;
    }
    let modules = ["usr/lib/modules", "lib/modules"]
        .iter()
        .map(|d| tree.join(d).join(&release))
        .find(|p| p.is_dir())
        .ok_or_else(|| missing(&format!("/lib/modules/{release}")))?;
    let dest = out.join("modules");
    fs::rename(&modules, &dest).map_err(ImageError::io("move module tree to", &dest))?;
    cache::remove_tree(&tree)?;
    cache::remove_tree(&dl)?;

    let info = KernelInfo {
        package: pkg.clone(),
        release,
        deb_sha256,
        pvh_entry,
    };
    cache::write_json(&out.join("kernel.json"), &info)?;
    Ok(info)
}

/// The first entry of `dir` whose file name satisfies `pred`.
fn find_file(dir: &Path, pred: impl Fn(&str) -> bool) -> Result<Option<PathBuf>, ImageError> {
    let entries = fs::read_dir(dir).map_err(ImageError::io("list", dir))?;
    for entry in entries {
        let entry = entry.map_err(ImageError::io("list", dir))?;
        if entry.file_name().to_str().is_some_and(&pred) {
            return Ok(Some(entry.path()));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHOW: &str = "Package: linux-image-cloud-amd64\nVersion: 6.1.192-2\nDepends: linux-image-6.1.0-41-cloud-amd64 (= 6.1.192-2)\n\n\
Package: linux-image-cloud-amd64\nSource: linux-signed-amd64 (6.12.95+1~bpo12+1)\nVersion: 6.12.95-1~bpo12+1\nDepends: linux-image-6.12.95+deb12-cloud-amd64 (= 6.12.95-1~bpo12+1)\nDescription: x\n\n\
Package: linux-image-cloud-amd64\nVersion: 6.1.176-1\nDepends: linux-image-6.1.0-39-cloud-amd64 (= 6.1.176-1)\n";

    #[test]
    fn picks_newest_pinned_image() {
        let pkg = pick_newest(SHOW).unwrap();
        assert_eq!(pkg.package, "linux-image-6.12.95+deb12-cloud-amd64");
        assert_eq!(pkg.version, "6.12.95-1~bpo12+1");
    }

    #[test]
    fn empty_or_unpinned_metadata_is_an_error() {
        assert!(matches!(
            pick_newest(""),
            Err(ImageError::NoKernelPackage { .. })
        ));
        let unpinned = "Version: 1\nDepends: linux-image-x\n";
        assert!(matches!(
            pick_newest(unpinned),
            Err(ImageError::KernelDepends { .. })
        ));
    }

    #[test]
    fn kernel_key_follows_package_and_version() {
        let a = KernelPackage {
            package: "linux-image-a".into(),
            version: "1".into(),
        };
        let mut b = a.clone();
        assert_eq!(a.key(), b.key());
        b.version = "2".into();
        assert_ne!(a.key(), b.key());
    }
}
