//! The two boot roles: `stage1` (initramfs `/init`) and `pid1` (init of the real root).

pub mod cmdline;
pub mod ifconfig;
pub mod modules;
pub mod mounts;
pub mod net;
pub mod pid1;
pub mod stage1;

/// The file whose presence marks the initramfs.
pub const INITRAMFS_MARKER: &str = "/etc/nullspace-initramfs";
/// Where stage1 hands over to, and what PID 1 respawns as the agent.
pub const GUESTD_PATH: &str = "/usr/local/bin/nullspace-guestd";
