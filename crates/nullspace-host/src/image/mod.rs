//! Guest image builder: kernel (`vmlinux`), initramfs and ext4 root filesystem.
//!
//! Everything lives under `{data_dir}/images/`:
//!
//! ```text
//! images/
//!   kernels/<kernel key>/      vmlinux, config, modules/ (lib/modules/<release>), kernel.json
//!   rootfs/<base key>/         root/ (debootstrap output), base.json
//!   <image key>/               vmlinux, initrd.cpio, rootfs.ext4, manifest.json
//!   current-base               the key of the newest image built from BASE_PACKAGES
//!   .tmp-*-<pid>/              staging directories of builds in progress
//! ```
//!
//! The layers are keyed separately so that changing guestd only rebuilds the
//! initramfs and the ext4 file: the kernel key is the package name and version, the
//! base key is suite + package set + builder version, and the image key combines
//! those with guestd's sha256, the disk size and the guest's resolv.conf. Each entry is
//! built in a staging directory and renamed into place, so an entry that exists is
//! complete. An image directory is valid once its `manifest.json` exists.

mod cache;
mod cpio;
mod debver;
mod error;
mod exec;
mod initramfs;
mod kernel;
mod modules;
pub mod oci;
mod rootfs;
mod vmlinux;

use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

pub use cpio::{parse as parse_cpio, CpioEntry, CpioWriter};
pub use error::ImageError;
pub use initramfs::{LOAD_ORDER_PATH, MARKER_PATH};
pub use kernel::{KernelInfo, KernelPackage, KERNEL_META};
pub use modules::INITRAMFS_MODULES;
pub use rootfs::{DEFAULT_MIRROR, GUESTD_PATH, SUITE};
pub use vmlinux::{extract_vmlinux, pvh_entry};

/// Bump when the image layout or customisation changes, to invalidate cached images.
pub const BUILDER_VERSION: u32 = 1;
/// Default size of `rootfs.ext4` in MiB (the file is sparse).
pub const DEFAULT_DISK_SIZE_MIB: u64 = 4096;
/// File in `images/` holding the key of the newest base image.
pub const CURRENT_BASE_FILE: &str = "current-base";
/// Name of the manifest inside an image directory.
pub const MANIFEST_FILE: &str = "manifest.json";

/// Packages of the `base` image, passed to `debootstrap --include`.
///
/// `build-essential` is deliberately absent: it is optional and makes the image
/// several hundred MiB bigger; add it to [`ImageSpec::packages`] when needed.
pub const BASE_PACKAGES: &[&str] = &[
    "python3",
    "python3-pip",
    "python3-venv",
    "git",
    "curl",
    "wget",
    "ca-certificates",
    "sudo",
    "procps",
    "iproute2",
    "less",
    "unzip",
    "nano",
    "openssh-client",
    "openssh-sftp-server",
    "xz-utils",
];

/// What to build.
#[derive(Debug, Clone)]
pub struct ImageSpec {
    /// Nullspace data directory; images go to `{data_dir}/images`.
    pub data_dir: PathBuf,
    /// The static `nullspace-guestd` binary.
    pub guestd: PathBuf,
    /// Packages added to the minbase system (`debootstrap --include`).
    pub packages: Vec<String>,
    /// Size of `rootfs.ext4` in MiB.
    pub disk_size_mib: u64,
    /// Debian mirror; [`DEFAULT_MIRROR`] when `None`.
    pub mirror: Option<String>,
}

impl ImageSpec {
    /// The `base` image: [`BASE_PACKAGES`], a 4 GiB disk and the default mirror.
    pub fn base(data_dir: impl Into<PathBuf>, guestd: impl Into<PathBuf>) -> Self {
        ImageSpec {
            data_dir: data_dir.into(),
            guestd: guestd.into(),
            packages: BASE_PACKAGES.iter().map(|s| s.to_string()).collect(),
            disk_size_mib: DEFAULT_DISK_SIZE_MIB,
            mirror: None,
        }
    }

    /// Whether this spec installs exactly the base package set.
    pub fn is_base(&self) -> bool {
        let base: Vec<String> = BASE_PACKAGES.iter().map(|s| s.to_string()).collect();
        rootfs::canonical_packages(&self.packages) == rootfs::canonical_packages(&base)
    }
}

/// Paths of a built image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageArtifacts {
    /// The image key (hex sha256 of its inputs).
    pub key: String,
    /// The image directory.
    pub dir: PathBuf,
    /// Uncompressed ELF kernel with a PVH entry note.
    pub vmlinux: PathBuf,
    /// Uncompressed newc initramfs.
    pub initrd: PathBuf,
    /// Sparse ext4 root filesystem.
    pub rootfs: PathBuf,
    /// Kernel release (`uname -r`).
    pub kernel_release: String,
}

/// Sizes in bytes of the image files.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImageSizes {
    /// `vmlinux` size.
    pub vmlinux: u64,
    /// `initrd.cpio` size.
    pub initrd: u64,
    /// Apparent size of `rootfs.ext4`.
    pub rootfs: u64,
    /// Bytes actually allocated for `rootfs.ext4`.
    pub rootfs_allocated: u64,
}

/// The `manifest.json` of an image directory.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// The image key.
    pub key: String,
    /// [`BUILDER_VERSION`] that built it.
    pub builder_version: u32,
    /// The kernel it boots.
    pub kernel: KernelInfo,
    /// Debian suite of the rootfs.
    pub suite: String,
    /// Sorted `--include` package list.
    pub packages: Vec<String>,
    /// Mirror the base was requested from.
    pub mirror: String,
    /// Key of the cached debootstrap base.
    pub base_key: String,
    /// sha256 of the guestd binary (`/init` and [`GUESTD_PATH`]).
    pub guestd_sha256: String,
    /// Size of `rootfs.ext4` in MiB.
    pub disk_size_mib: u64,
    /// Modules in the initramfs, in load order, relative to `/lib/modules/`.
    pub initrd_modules: Vec<String>,
    /// File sizes.
    pub sizes: ImageSizes,
    /// Completion time, seconds since the Unix epoch.
    pub built_at_unix: u64,
    /// Wall time of the build, including any kernel or base it had to create.
    pub build_seconds: f64,
}

/// Everything the image key depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInputs {
    /// Key of the kernel package.
    pub kernel_key: String,
    /// Key of the debootstrap base.
    pub base_key: String,
    /// sha256 of guestd.
    pub guestd_sha256: String,
    /// Disk size in MiB.
    pub disk_size_mib: u64,
    /// Contents of the guest's `/etc/resolv.conf`.
    pub resolv_conf: String,
}

impl ImageInputs {
    /// The image key: hex sha256 over the builder version and all inputs.
    pub fn key(&self) -> String {
        let mut h = cache::KeyHasher::new("nullspace-image");
        h.str("builder", &BUILDER_VERSION.to_string())
            .str("kernel", &self.kernel_key)
            .str("base", &self.base_key)
            .str("guestd", &self.guestd_sha256)
            .str("disk_mib", &self.disk_size_mib.to_string())
            .str("resolv", &self.resolv_conf)
            .str("modules", &INITRAMFS_MODULES.join(","));
        h.finish()
    }
}

/// `{data_dir}/images`.
pub fn images_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("images")
}

/// Builds (or finds in the cache) the image for `spec`.
///
/// The work is blocking (subprocesses, large file I/O) and runs on tokio's blocking
/// pool via `spawn_blocking`; see [`build_image_blocking`] for the synchronous form.
pub async fn build_image(spec: &ImageSpec) -> Result<ImageArtifacts, ImageError> {
    let spec = spec.clone();
    tokio::task::spawn_blocking(move || build_image_blocking(&spec)).await?
}

/// Synchronous [`build_image`]. A cache hit costs one guestd hash, one `apt-cache show`
/// (local metadata only) and one manifest read.
pub fn build_image_blocking(spec: &ImageSpec) -> Result<ImageArtifacts, ImageError> {
    let started = Instant::now();
    if !spec.guestd.is_file() {
        return Err(ImageError::GuestdMissing {
            path: spec.guestd.clone(),
        });
    }
    let images = images_dir(&spec.data_dir);
    std::fs::create_dir_all(&images).map_err(ImageError::io("create directory", &images))?;

    let kernel_pkg = kernel::resolve()?;
    let packages = rootfs::canonical_packages(&spec.packages);
    let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let inputs = ImageInputs {
        kernel_key: kernel_pkg.key(),
        base_key: rootfs::base_key(&packages),
        guestd_sha256: cache::sha256_file(&spec.guestd)?,
        disk_size_mib: spec.disk_size_mib,
        resolv_conf: rootfs::guest_resolv_conf(&host_resolv),
    };
    let key = inputs.key();
    let dir = images.join(&key);

    let artifacts = if dir.join(MANIFEST_FILE).is_file() {
        tracing::info!(%key, "image cache hit");
        load_image(&spec.data_dir, &key)?
    } else {
        if !rootfs::is_root() {
            return Err(ImageError::NotRoot {
                why: "the rootfs needs root-owned files and uid 1000 ownership",
            });
        }
        tracing::info!(%key, kernel = %kernel_pkg.package, "building image");
        let kernel = kernel::ensure(&images, &kernel_pkg)?;
        let mirror = spec.mirror.as_deref().unwrap_or(DEFAULT_MIRROR);
        let base_root = rootfs::ensure_base(&images, &packages, mirror)?;
        assemble(spec, &images, &inputs, &kernel, &base_root, mirror, started)?;
        load_image(&spec.data_dir, &key)?
    };
    if spec.is_base() {
        cache::write_atomic(
            &images.join(CURRENT_BASE_FILE),
            format!("{key}\n").as_bytes(),
        )?;
    }
    tracing::info!(%key, secs = started.elapsed().as_secs_f32(), "image ready");
    Ok(artifacts)
}

/// Builds the image directory from a cached kernel and base, publishing it atomically.
fn assemble(
    spec: &ImageSpec,
    images: &Path,
    inputs: &ImageInputs,
    kernel: &kernel::CachedKernel,
    base_root: &Path,
    mirror: &str,
    started: Instant,
) -> Result<(), ImageError> {
    let key = inputs.key();
    cache::clean_stale_staging(images);
    let staging = cache::Staging::new(images, &key[..16])?;
    let out = staging.path();

    let vmlinux = out.join("vmlinux");
    cache::link_or_copy(&kernel.vmlinux(), &vmlinux)?;

    let initrd = out.join("initrd.cpio");
    let initrd_modules = initramfs::build(kernel, &spec.guestd, &initrd)?;

    let root = out.join("root");
    let step = Instant::now();
    rootfs::copy_tree(base_root, &root)?;
    rootfs::customise(&root, &spec.guestd, &inputs.resolv_conf)?;
    let rootfs_path = out.join("rootfs.ext4");
    rootfs::make_ext4(&root, &rootfs_path, spec.disk_size_mib)?;
    cache::remove_tree(&root)?;
    tracing::info!(secs = step.elapsed().as_secs_f32(), "rootfs.ext4 written");

    let size = |p: &Path| {
        std::fs::metadata(p)
            .map_err(ImageError::io("stat", p))
            .map(|m| {
                use std::os::unix::fs::MetadataExt;
                (m.len(), m.blocks() * 512)
            })
    };
    let (rootfs_len, rootfs_alloc) = size(&rootfs_path)?;
    let manifest = Manifest {
        key: key.clone(),
        builder_version: BUILDER_VERSION,
        kernel: kernel.info.clone(),
        suite: SUITE.to_owned(),
        packages: rootfs::canonical_packages(&spec.packages),
        mirror: mirror.to_owned(),
        base_key: inputs.base_key.clone(),
        guestd_sha256: inputs.guestd_sha256.clone(),
        disk_size_mib: spec.disk_size_mib,
        initrd_modules,
        sizes: ImageSizes {
            vmlinux: size(&vmlinux)?.0,
            initrd: size(&initrd)?.0,
            rootfs: rootfs_len,
            rootfs_allocated: rootfs_alloc,
        },
        built_at_unix: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        build_seconds: started.elapsed().as_secs_f64(),
    };
    cache::write_json(&out.join(MANIFEST_FILE), &manifest)?;
    staging.publish(&images.join(&key))
}

/// Loads a complete image by key, checking its files exist.
pub fn load_image(data_dir: &Path, key: &str) -> Result<ImageArtifacts, ImageError> {
    let dir = images_dir(data_dir).join(key);
    let valid_key = !key.is_empty() && key.chars().all(|c| c.is_ascii_hexdigit());
    let manifest_path = dir.join(MANIFEST_FILE);
    if !valid_key || !manifest_path.is_file() {
        return Err(ImageError::ImageNotFound {
            key: key.to_owned(),
            dir,
        });
    }
    let manifest: Manifest = cache::read_json(&manifest_path)?;
    let artifacts = ImageArtifacts {
        key: key.to_owned(),
        vmlinux: dir.join("vmlinux"),
        initrd: dir.join("initrd.cpio"),
        rootfs: dir.join("rootfs.ext4"),
        kernel_release: manifest.kernel.release,
        dir,
    };
    for path in [&artifacts.vmlinux, &artifacts.initrd, &artifacts.rootfs] {
        if !path.is_file() {
            return Err(ImageError::ImageIncomplete {
                key: key.to_owned(),
                missing: path.clone(),
            });
        }
    }
    Ok(artifacts)
}

/// Reads an image's manifest.
pub fn load_manifest(data_dir: &Path, key: &str) -> Result<Manifest, ImageError> {
    let artifacts = load_image(data_dir, key)?;
    cache::read_json(&artifacts.dir.join(MANIFEST_FILE))
}

/// The newest base image, as recorded in `images/current-base`.
pub fn current_base(data_dir: &Path) -> Result<ImageArtifacts, ImageError> {
    let path = images_dir(data_dir).join(CURRENT_BASE_FILE);
    let key = std::fs::read_to_string(&path).map_err(ImageError::io("read", &path))?;
    load_image(data_dir, key.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs() -> ImageInputs {
        ImageInputs {
            kernel_key: "k".into(),
            base_key: rootfs::base_key(&["git".into()]),
            guestd_sha256: "g".into(),
            disk_size_mib: 4096,
            resolv_conf: "nameserver 10.0.0.2\n".into(),
        }
    }

    #[test]
    fn image_key_is_stable_and_tracks_every_input() {
        let base = inputs();
        assert_eq!(base.key(), inputs().key());
        assert_eq!(base.key().len(), 64);
        let variants: [fn(&mut ImageInputs); 5] = [
            |i| i.kernel_key = "k2".into(),
            |i| i.base_key = rootfs::base_key(&["git".into(), "curl".into()]),
            |i| i.guestd_sha256 = "g2".into(),
            |i| i.disk_size_mib = 8192,
            |i| i.resolv_conf = String::new(),
        ];
        for change in variants {
            let mut changed = inputs();
            change(&mut changed);
            assert_ne!(changed.key(), base.key(), "{changed:?}");
        }
    }

    #[test]
    fn base_spec_is_recognised() {
        let mut spec = ImageSpec::base("/d", "/g");
        assert!(spec.is_base());
        assert_eq!(spec.disk_size_mib, DEFAULT_DISK_SIZE_MIB);
        spec.packages.reverse();
        assert!(spec.is_base());
        spec.packages.push("build-essential".into());
        assert!(!spec.is_base());
    }

    #[test]
    fn load_image_rejects_missing_and_bad_keys() {
        let dir = std::env::temp_dir().join(format!("ns-load-{}", std::process::id()));
        for key in ["../etc", "", "abc123"] {
            assert!(matches!(
                load_image(&dir, key),
                Err(ImageError::ImageNotFound { .. })
            ));
        }
    }

    #[test]
    fn missing_guestd_is_reported_before_any_work() {
        let spec = ImageSpec::base("/nonexistent-data", "/nonexistent/guestd");
        let err = build_image_blocking(&spec).unwrap_err();
        assert!(matches!(err, ImageError::GuestdMissing { .. }), "{err}");
        assert!(err.to_string().contains("/nonexistent/guestd"));
    }
}
