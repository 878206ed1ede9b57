//! Thin safe wrappers over the few libc calls guestd needs.

use std::ffi::{CStr, CString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

/// Turn a path into a C string (paths never contain NUL, but callers get an error if one does).
pub fn cpath(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

/// Map a libc return value of -1 to the current `errno`.
fn check(ret: libc::c_int) -> io::Result<()> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `mount(2)`; `source`, `fstype` and `data` may be absent.
pub fn mount(
    source: Option<&str>,
    target: &Path,
    fstype: Option<&str>,
    flags: libc::c_ulong,
    data: Option<&str>,
) -> io::Result<()> {
    let source = source.map(CString::new).transpose()?;
    let fstype = fstype.map(CString::new).transpose()?;
    let data = data.map(CString::new).transpose()?;
    let target = cpath(target)?;
    let ptr = |c: &Option<CString>| c.as_ref().map_or(std::ptr::null(), |c| c.as_ptr());
    // SAFETY: every pointer is either null or points at a NUL-terminated string that
    // outlives the call; mount does not keep them.
    let ret = unsafe {
        libc::mount(
            ptr(&source),
            target.as_ptr(),
            ptr(&fstype),
            flags,
            ptr(&data).cast(),
        )
    };
    check(ret)
}

/// `chroot(2)`.
pub fn chroot(path: &Path) -> io::Result<()> {
    let path = cpath(path)?;
    // SAFETY: `path` is a valid NUL-terminated string for the duration of the call.
    check(unsafe { libc::chroot(path.as_ptr()) })
}

/// Current hostname (`uname` nodename).
pub fn hostname() -> String {
    uname_field(|u| &u.nodename)
}

/// Kernel release (`uname -r`).
pub fn kernel_release() -> String {
    uname_field(|u| &u.release)
}

fn uname_field(pick: impl Fn(&libc::utsname) -> &[libc::c_char; 65]) -> String {
    // SAFETY: utsname is plain old data; all-zero bytes is a valid value.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `uts` is a valid, writable utsname.
    if unsafe { libc::uname(&mut uts) } != 0 {
        return String::new();
    }
    let field = pick(&uts);
    // SAFETY: the kernel NUL-terminates every utsname field, and the array lives in `uts`.
    let cstr = unsafe { CStr::from_ptr(field.as_ptr()) };
    cstr.to_string_lossy().into_owned()
}

/// `sethostname(2)`.
pub fn set_hostname(name: &str) -> io::Result<()> {
    // SAFETY: the pointer and length describe the bytes of `name`, which outlive the call.
    check(unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) })
}

/// Read a clock as a duration since its epoch.
pub fn clock(id: libc::clockid_t) -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    if unsafe { libc::clock_gettime(id, &mut ts) } != 0 {
        return Duration::ZERO;
    }
    Duration::new(
        ts.tv_sec.max(0) as u64,
        ts.tv_nsec.clamp(0, 999_999_999) as u32,
    )
}

/// Set `CLOCK_REALTIME` to `unix_time_ns`.
pub fn set_realtime(unix_time_ns: u64) -> io::Result<()> {
    let ts = libc::timespec {
        tv_sec: (unix_time_ns / 1_000_000_000) as libc::time_t,
        tv_nsec: (unix_time_ns % 1_000_000_000) as libc::c_long,
    };
    // SAFETY: `ts` is a valid timespec read by the call.
    check(unsafe { libc::clock_settime(libc::CLOCK_REALTIME, &ts) })
}

/// Send `signal` to every process of process group `pgid`.
pub fn kill_group(pgid: i32, signal: i32) -> io::Result<()> {
    if pgid <= 1 {
        return Err(io::Error::from_raw_os_error(libc::ESRCH));
    }
    // SAFETY: kill has no memory-safety preconditions; pgid > 1 so this never
    // targets every process (-1) or our own group (0).
    check(unsafe { libc::kill(-pgid, signal) })
}

/// This process's pid.
pub fn getpid() -> i32 {
    // SAFETY: getpid has no preconditions and cannot fail.
    unsafe { libc::getpid() }
}

/// Power the machine off immediately (no sync: stage1 has nothing to flush).
pub fn power_off() -> io::Result<()> {
    // SAFETY: reboot has no memory-safety preconditions; it only returns on error.
    check(unsafe { libc::reboot(libc::RB_POWER_OFF) })
}
