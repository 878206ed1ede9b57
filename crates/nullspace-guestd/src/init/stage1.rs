//! Stage 1, the initramfs `/init`: load modules, mount `/dev/vda`, switch root and
//! exec the real guestd. A fatal error powers the machine off, so a VMM started
//! with `-no-reboot` exits instead of hanging.

use std::ffi::CString;
use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

use super::modules;
use super::GUESTD_PATH;
use crate::sys;

/// The root disk.
pub const ROOT_DEVICE: &str = "/dev/vda";
/// Where the root disk is mounted before the switch.
pub const NEW_ROOT: &str = "/newroot";
/// How long to wait for the root disk to appear.
const DEVICE_WAIT: Duration = Duration::from_secs(10);

/// A step of stage 1 that failed.
#[derive(Debug, thiserror::Error)]
pub enum Stage1Error {
    /// A mount or move failed.
    #[error("mount {what}: {source}")]
    Mount {
        /// What was being mounted.
        what: &'static str,
        /// The underlying error.
        source: io::Error,
    },
    /// The root disk never appeared.
    #[error("{ROOT_DEVICE} did not appear within {DEVICE_WAIT:?}")]
    NoRootDevice,
    /// Switching into the new root failed.
    #[error("switch root ({step}): {source}")]
    SwitchRoot {
        /// The failing step.
        step: &'static str,
        /// The underlying error.
        source: io::Error,
    },
    /// Executing the real guestd failed.
    #[error("exec {GUESTD_PATH}: {0}")]
    Exec(io::Error),
}

/// Run stage 1. Never returns: it execs guestd or powers off.
pub fn run() -> ! {
    let err = match boot() {
        Ok(never) => match never {},
        Err(e) => e,
    };
    crate::log!("fatal: {err}; powering off");
    let _ = sys::power_off();
    // Only reached if power-off itself failed.
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

fn boot() -> Result<std::convert::Infallible, Stage1Error> {
    let m = |what: &'static str| move |source| Stage1Error::Mount { what, source };
    for (fstype, target) in [("devtmpfs", "/dev"), ("proc", "/proc"), ("sysfs", "/sys")] {
        let _ = std::fs::create_dir_all(target);
        sys::mount(Some(fstype), Path::new(target), Some(fstype), 0, None).map_err(m(target))?;
        crate::log!("mounted {fstype} on {target}");
    }
    modules::load_all(Path::new(modules::MODULES_DIR));

    let start = Instant::now();
    while !Path::new(ROOT_DEVICE).exists() {
        if start.elapsed() > DEVICE_WAIT {
            return Err(Stage1Error::NoRootDevice);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    crate::log!("{ROOT_DEVICE} appeared after {:?}", start.elapsed());

    let new_root = Path::new(NEW_ROOT);
    let _ = std::fs::create_dir_all(new_root);
    sys::mount(Some(ROOT_DEVICE), new_root, Some("ext4"), 0, None).map_err(m("root disk"))?;
    crate::log!("mounted {ROOT_DEVICE} on {NEW_ROOT}");
    for dir in ["/dev", "/proc", "/sys"] {
        let target = new_root.join(dir.trim_start_matches('/'));
        let _ = std::fs::create_dir_all(&target);
        sys::mount(Some(dir), &target, None, libc::MS_MOVE, None).map_err(m(dir))?;
    }

    let sw = |step: &'static str| move |source| Stage1Error::SwitchRoot { step, source };
    std::env::set_current_dir(new_root).map_err(sw("chdir"))?;
    sys::mount(Some("."), Path::new("/"), None, libc::MS_MOVE, None).map_err(sw("move"))?;
    sys::chroot(Path::new(".")).map_err(sw("chroot"))?;
    std::env::set_current_dir("/").map_err(sw("chdir /"))?;
    crate::log!("switched root; exec {GUESTD_PATH}");

    let prog = CString::new(GUESTD_PATH).expect("constant path has no NUL");
    let argv = [prog.as_ptr(), std::ptr::null()];
    // SAFETY: `prog` is NUL-terminated and `argv` is a null-terminated array of
    // valid string pointers; both outlive the call, which only returns on error.
    unsafe { libc::execv(prog.as_ptr(), argv.as_ptr()) };
    Err(Stage1Error::Exec(io::Error::last_os_error()))
}
