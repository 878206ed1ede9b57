//! The image builder's error type.

use std::path::PathBuf;

/// Everything that can go wrong while building or loading a guest image.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// A filesystem operation failed.
    #[error("failed to {action} {path}: {source}")]
    Io {
        /// What was being done, e.g. "create directory".
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },

    /// An external program could not be started.
    #[error("could not run `{program}` (is it installed and on PATH?): {source}")]
    Spawn {
        /// The program name.
        program: String,
        /// The underlying error.
        source: std::io::Error,
    },

    /// An external program exited unsuccessfully.
    #[error("`{command}` failed with {status}; stderr tail:\n{stderr_tail}")]
    Command {
        /// The full command line.
        command: String,
        /// Its exit status.
        status: std::process::ExitStatus,
        /// The last lines of its standard error.
        stderr_tail: String,
    },

    /// The guest agent binary given in the spec does not exist.
    #[error(
        "guest agent binary {path} not found (build nullspace-guestd statically or pass --guestd)"
    )]
    GuestdMissing {
        /// The path that was looked up.
        path: PathBuf,
    },

    /// The build needs root (debootstrap, chown, device nodes).
    #[error("building images requires root: {why}")]
    NotRoot {
        /// Which step needs it.
        why: &'static str,
    },

    /// apt knows no version of the kernel metapackage.
    #[error("apt-cache knows no version of {meta} (is bookworm-backports enabled and `apt-get update` done?)")]
    NoKernelPackage {
        /// The metapackage name.
        meta: String,
    },

    /// The kernel metapackage has no pinned `linux-image-*` dependency.
    #[error("{meta} {version} has no pinned linux-image-* dependency (Depends: {depends:?})")]
    KernelDepends {
        /// The metapackage name.
        meta: String,
        /// Its version.
        version: String,
        /// Its raw Depends field.
        depends: String,
    },

    /// A file expected in the extracted kernel package is missing.
    #[error("kernel package {package} does not contain {what}")]
    KernelContents {
        /// The package name.
        package: String,
        /// What was looked for.
        what: String,
    },

    /// The bzImage contains no zstd frame magic.
    #[error("no zstd frame (magic 28 b5 2f fd) found in the kernel image; the kernel must be built with CONFIG_KERNEL_ZSTD")]
    NoZstdPayload,

    /// None of the zstd frames decompressed to an ELF file.
    #[error("none of the {candidates} zstd frame(s) in the kernel image decompressed to an ELF file (last problem: {last_problem})")]
    PayloadNotElf {
        /// How many frame magics were tried.
        candidates: usize,
        /// Why the last candidate was rejected.
        last_problem: String,
    },

    /// The ELF file is malformed or not a 64-bit little-endian ELF.
    #[error("malformed vmlinux ELF: {reason}")]
    BadElf {
        /// What is wrong.
        reason: &'static str,
    },

    /// The vmlinux has no PVH entry point note.
    #[error("vmlinux has no PVH entry note (Xen note type 18, XEN_ELFNOTE_PHYS32_ENTRY); the kernel needs CONFIG_PVH=y")]
    NoPvhNote,

    /// A module needed in the initramfs is neither a file nor built in.
    #[error("kernel module {name} is neither built in nor present under {dir}")]
    ModuleMissing {
        /// The module name.
        name: String,
        /// The module directory searched.
        dir: PathBuf,
    },

    /// A module's dependencies form a cycle.
    #[error("kernel module dependency cycle through {name}")]
    ModuleCycle {
        /// A module on the cycle.
        name: String,
    },

    /// A module file could not be decompressed.
    #[error("failed to decompress kernel module {path}: {source}")]
    Decompress {
        /// The compressed module.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },

    /// A JSON file could not be read or written.
    #[error("invalid JSON in {path}: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: serde_json::Error,
    },

    /// No image with this key exists.
    #[error("no image {key} under {dir}")]
    ImageNotFound {
        /// The requested key.
        key: String,
        /// The image directory looked at.
        dir: PathBuf,
    },

    /// The image's manifest names a file that is missing.
    #[error("image {key} is incomplete: {missing} is missing")]
    ImageIncomplete {
        /// The image key.
        key: String,
        /// The missing file.
        missing: PathBuf,
    },

    /// The blocking build task panicked or was cancelled.
    #[error("image build task did not complete: {0}")]
    Join(#[from] tokio::task::JoinError),
}

impl ImageError {
    /// Wraps an I/O error with the action and path it concerns.
    pub fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| ImageError::Io {
            action,
            path,
            source,
        }
    }
}
