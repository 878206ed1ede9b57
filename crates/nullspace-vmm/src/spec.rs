//! Backend-neutral description of a VM to start.

use std::path::PathBuf;

/// Everything a backend needs to start (boot or restore) one VM.
#[derive(Debug, Clone)]
pub struct VmSpec {
    /// Short name for logs and process titles.
    pub name: String,
    /// Private directory for sockets and logs of this VM (must exist).
    pub dir: PathBuf,
    /// Number of vCPUs.
    pub vcpus: u32,
    /// Guest RAM size in MiB.
    pub memory_mib: u64,
    /// Guest RAM backing.
    pub memory: Memory,
    /// Kernel, initramfs and command line (needed for restores too: the machine
    /// configuration must match the one that was saved).
    pub kernel: Kernel,
    /// Root disk.
    pub disk: Disk,
    /// Network interface, if any.
    pub net: Option<Net>,
    /// Boot a kernel or restore saved state.
    pub start: Start,
    /// Kill the VM if the process that started it dies (for tests and tools).
    pub die_with_parent: bool,
}

/// Guest kernel.
#[derive(Debug, Clone)]
pub struct Kernel {
    /// Uncompressed ELF kernel with a PVH entry point.
    pub vmlinux: PathBuf,
    /// Initramfs (cpio).
    pub initrd: PathBuf,
    /// Kernel command line.
    pub cmdline: String,
}

/// Guest RAM backing.
#[derive(Debug, Clone)]
pub enum Memory {
    /// Anonymous private memory.
    Anonymous,
    /// A file mapping. `shared: true` writes guest RAM through to the file (for a
    /// template that will be saved); `false` maps it copy-on-write (for clones).
    File {
        /// The RAM file.
        path: PathBuf,
        /// Map shared (write-through) or private (copy-on-write).
        shared: bool,
    },
}

/// Root disk (a qcow2 image).
#[derive(Debug, Clone)]
pub struct Disk {
    /// qcow2 image.
    pub path: PathBuf,
}

/// Network attachment: a tap device, optionally inside a network namespace.
#[derive(Debug, Clone)]
pub struct Net {
    /// Name of the tap device.
    pub tap: String,
    /// MAC address of the guest NIC.
    pub mac: String,
    /// Path of a network namespace (`/run/netns/NAME`) the VMM runs in.
    pub netns: Option<PathBuf>,
}

/// How the VM starts.
#[derive(Debug, Clone)]
pub enum Start {
    /// Boot the kernel.
    Boot,
    /// Restore state saved with [`crate::SaveMode`]; the VM runs once loaded.
    Restore {
        /// State file written by `Vm::save`.
        state: PathBuf,
        /// How it was saved (the same capabilities must be set to load it).
        mode: crate::SaveMode,
    },
}
