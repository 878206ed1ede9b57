//! `nullspace-guestd` is the one program inside every Nullspace machine. The same
//! static binary plays three roles, picked by `main` from its pid and the files it
//! sees: the initramfs `/init` that loads modules and switches to the real root
//! (`init::stage1`), PID 1 of the real root that mounts the basics, configures the
//! hostname and network, reaps zombies and keeps the agent alive (`init::pid1`),
//! and the agent itself (`serve`). The agent speaks the frame protocol of
//! `nullspace-guest-proto` over the virtio-serial port `agent0` (or a unix socket
//! in tests). Port I/O is plain blocking I/O on two dedicated threads, one reading
//! and decoding frames, one writing them, bridged by channels to a small tokio
//! runtime where every call runs as its own task; the outbound channel is bounded,
//! so a slow host slows producers (process output, file reads) instead of growing
//! memory. Calls are executed by `services`, one module and one dispatcher per
//! service of the protocol: `services::system` (`hello`, `health`, `metrics`),
//! `services::process` (`exec` and the process table) and `services::fs` (files
//! and directories). The filesystem service keeps path confinement
//! (`services::fs::paths`) and user lookup (`users`, parsing `/etc/passwd` and
//! `/etc/group` directly since a static binary has no NSS) free of side effects
//! so they can be unit tested. guestd stays root, but a file call made for
//! another user runs its system calls on a blocking thread that has that user's
//! file-system credentials until the call ends (`services::fs::creds`), so the
//! kernel, not guestd, decides what it may touch. Protocol 2 adds flow control
//! per call (`serve::credit` for output, `serve::input` for input), so the
//! dispatcher never waits on one call, and a process table
//! (`services::process::table`) whose processes belong to the agent rather than
//! to a call or a host connection: their output goes into bounded ring buffers
//! that never wait for readers, and viewers attach and detach at will.

#[macro_use]
pub mod log;
pub mod init;
pub mod serve;
pub mod services;
pub mod sys;
pub mod users;

/// Version of this guestd build, reported in `GuestInfo`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
