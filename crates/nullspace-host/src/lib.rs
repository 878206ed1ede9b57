//! Nullspace host runtime: images, templates, machines, networks, disks, snapshots.
//!
//! The shape of this crate follows one decision: a machine is never booted, it is
//! *restored*. A template is a guest booted once, warmed and saved with its RAM in
//! a file; a machine maps that file copy-on-write, loads the template's device
//! state and gets its own disk overlay and network namespace, so creating one costs
//! a process start and a page-cache hit instead of a kernel boot. Everything a
//! machine holds on the host is registered on its [`teardown::Teardown`] stack as it
//! is made, so destroying a machine (or failing to create one) releases it all.

pub mod agent;
mod cmd;
mod config;
mod disk;
mod egress;
mod error;
mod events;
pub mod image;
mod integrity;
mod machine;
pub mod netns;
pub mod netpool;
mod process_watch;
mod runtime;
mod snapshot;
pub mod teardown;
mod template;

pub use cmd::CmdError;
pub use config::{RuntimeConfig, DEFAULT_DATA_DIR};
pub use error::RuntimeError;
pub use events::RuntimeEvent;
pub use integrity::FileSeal;
pub use machine::{Machine, Origin};
pub use runtime::{Fork, Runtime};
pub use snapshot::SnapshotInfo;
pub use template::Template;
