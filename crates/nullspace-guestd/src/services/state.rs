//! Guest-wide state shared by all calls of every service: the path rules of the
//! filesystem service, the process table of the process service, where users
//! are read from, and the identity the system service last took.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use nullspace_guest_proto::{GuestInfo, CAPABILITIES, PROTOCOL_VERSION};

use super::fs::paths::PathPolicy;
use super::process::table::ProcessTable;
use crate::sys;
use crate::users::UserDb;

/// Guest-wide state shared by all calls.
#[derive(Debug)]
pub struct GuestState {
    /// Path rules of file operations.
    pub paths: PathPolicy,
    /// Apply identities to the machine (off in tests on a real host).
    pub apply_identity: bool,
    /// The process table, for the agent's lifetime (outlives host connections).
    pub procs: Arc<ProcessTable>,
    /// Directory holding the `passwd` and `group` databases (`/etc`).
    etc: PathBuf,
    generation: AtomicU64,
    recorded_hostname: Mutex<Option<String>>,
}

impl GuestState {
    /// State with the given path rules; `apply_identity` false only records identities.
    pub fn new(paths: PathPolicy, apply_identity: bool) -> Self {
        Self {
            paths,
            apply_identity,
            procs: Arc::default(),
            etc: PathBuf::from("/etc"),
            generation: AtomicU64::new(0),
            recorded_hostname: Mutex::new(None),
        }
    }

    /// Read users and groups from `dir/passwd` and `dir/group` instead of `/etc`
    /// (tests on a real host, which must not get test users).
    pub fn with_user_db_dir(mut self, dir: PathBuf) -> Self {
        self.etc = dir;
        self
    }

    /// The guest's users and groups, read now.
    pub fn users(&self) -> UserDb {
        UserDb::load_from(&self.etc.join("passwd"), &self.etc.join("group"))
    }

    /// Remember `hostname` as the one to report, without setting it (for
    /// identities that are recorded, not applied).
    pub fn record_hostname(&self, hostname: String) {
        *self
            .recorded_hostname
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(hostname);
    }

    /// Count one more identity taken since boot.
    pub fn identity_taken(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Facts about the guest now.
    pub fn info(&self) -> GuestInfo {
        let recorded = self
            .recorded_hostname
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let now = sys::clock(libc::CLOCK_REALTIME);
        GuestInfo {
            version: crate::VERSION.to_string(),
            protocol: PROTOCOL_VERSION,
            hostname: recorded.unwrap_or_else(sys::hostname),
            kernel: sys::kernel_release(),
            uptime_ms: sys::clock(libc::CLOCK_BOOTTIME).as_millis() as u64,
            time_unix_ms: now.as_millis() as i64,
            identity_generation: self.generation.load(Ordering::SeqCst),
            capabilities: CAPABILITIES.iter().map(|c| c.to_string()).collect(),
        }
    }
}
