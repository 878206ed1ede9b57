//! Backend-neutral VMM trait and the QEMU `microvm` backend.
//!
//! The host runtime speaks to virtual machines only through [`Backend`] and [`Vm`],
//! in terms of kernels, disks, taps, memory files and state files; nothing about
//! QEMU command lines or QMP leaks out of the `qemu` module. Creating a machine is
//! a *restore*, not a boot: a [`VmSpec`] with [`Start::Restore`] maps a template's
//! RAM file copy-on-write and loads its device state in the same process start, so
//! no guest kernel boots on the create path. The accelerator (KVM or TCG) is chosen
//! once at start-up by [`Accel::detect`], which says why it chose what it chose.

mod accel;
mod backend;
mod child;
mod error;
mod qemu;
mod spec;
mod unix;

pub use accel::{Accel, AccelChoice};
pub use backend::{Backend, SaveMode, Vm};
pub use child::{confine_child, process_alive};
pub use error::VmmError;
pub use qemu::{start_incoming, QemuBackend, QemuConfig, Qmp, QmpError};
pub use spec::{Disk, Kernel, Memory, Net, Start, VmSpec};
pub use unix::connect_with_retry;
