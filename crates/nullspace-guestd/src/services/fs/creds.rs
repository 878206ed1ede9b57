//! Whose rights a file call has. guestd runs as root; a file call made for
//! another user runs on a blocking thread that takes that user's file-system
//! credentials for the duration of the work: the fsuid, the fsgid, the
//! supplementary groups, and no effective capabilities. The kernel then checks
//! every path lookup, open, create, rename, unlink and chmod of the call (symlinks
//! included) against the user's rights, exactly as for a process of that user.
//!
//! The switch uses raw system calls, which change only the calling thread's
//! credentials. glibc's `setgroups` (like its `setuid` family) would change every
//! thread of the process, so it is never used here.
//!
//! Capabilities: moving the fsuid from 0 to another uid clears the file-system
//! capabilities (`CAP_CHOWN`, `CAP_DAC_OVERRIDE`, `CAP_DAC_READ_SEARCH`,
//! `CAP_FOWNER`, `CAP_FSETID`, `CAP_LINUX_IMMUTABLE`, `CAP_MAC_OVERRIDE`,
//! `CAP_MKNOD`) from the thread's effective set, and moving it back to 0 raises
//! them again from the permitted set. The others stay, and some of them matter
//! to files too (`CAP_SYS_RESOURCE` writes into root's reserved blocks and past
//! quotas), so the effective set is cleared entirely and restored afterwards.
//! The permitted set is never touched, which is what makes the way back possible.
//!
//! [`ThreadCreds`] restores root's credentials when dropped, on success, error or
//! panic. If that ever fails, guestd aborts (PID 1 restarts it): a thread with
//! unknown credentials must not serve another call.

use std::io;
use std::marker::PhantomData;

use crate::services::error::OpError;
use crate::users::UserDb;

/// `_LINUX_CAPABILITY_VERSION_3`: 64-bit capability sets in two 32-bit words.
const CAP_VERSION_3: u32 = 0x2008_0522;

/// Whose rights a file call has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FsUser {
    /// guestd's own: root with every capability.
    Root,
    /// Another user's file-system credentials.
    User(Creds),
}

/// The file-system identity of a user other than root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Creds {
    /// Login name.
    pub name: String,
    /// User id (never 0).
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// All group ids, primary first (from `/etc/group`).
    pub groups: Vec<u32>,
}

impl FsUser {
    /// The user called `name` in `db`; `None`, `root` and any uid-0 user are root.
    pub fn lookup(db: &UserDb, name: Option<&str>) -> Result<Self, OpError> {
        let Some(name) = name else {
            return Ok(FsUser::Root);
        };
        match db.user(name) {
            Some(u) if u.uid == 0 => Ok(FsUser::Root),
            Some(u) => Ok(FsUser::User(Creds {
                name: u.name.clone(),
                uid: u.uid,
                gid: u.gid,
                groups: db.group_ids(u),
            })),
            // A root without a passwd line is still root (as for `exec`).
            None if name == "root" => Ok(FsUser::Root),
            None => Err(OpError::UserNotFound(name.to_string())),
        }
    }

    /// Take these credentials on the calling thread until the guard drops
    /// (nothing to do for root).
    pub fn assume(&self) -> Result<Option<ThreadCreds>, OpError> {
        match self {
            FsUser::Root => Ok(None),
            FsUser::User(creds) => ThreadCreds::assume(creds).map(Some),
        }
    }
}

/// Run `work` on a blocking thread with `who`'s file-system rights.
pub async fn blocking_as<T, F>(who: &FsUser, work: F) -> Result<T, OpError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, OpError> + Send + 'static,
{
    let who = who.clone();
    tokio::task::spawn_blocking(move || {
        let _creds = who.assume()?;
        work()
    })
    .await
    .map_err(|_| OpError::Internal("file task panicked"))?
}

/// A thread's effective, permitted and inheritable capability sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapSets {
    /// Effective set.
    pub effective: u64,
    /// Permitted set.
    pub permitted: u64,
    /// Inheritable set.
    pub inheritable: u64,
}

/// A user's file-system credentials on the current thread; dropping it gives the
/// thread back the credentials it had before.
#[derive(Debug)]
pub struct ThreadCreds {
    fsgid: u32,
    groups: Vec<u32>,
    caps: CapSets,
    /// Credentials belong to one thread: the guard must drop where it was made.
    _thread: PhantomData<*const ()>,
}

impl ThreadCreds {
    /// Take `creds` on the calling thread, which must have root's fsuid.
    pub fn assume(creds: &Creds) -> Result<Self, OpError> {
        let sys = |op| move |source| OpError::Sys { op, source };
        if fsuid() != 0 {
            return Err(OpError::Internal(
                "file thread does not have root's credentials",
            ));
        }
        let guard = ThreadCreds {
            fsgid: fsgid(),
            groups: get_groups().map_err(sys("getgroups"))?,
            caps: cap_get().map_err(sys("capget"))?,
            _thread: PhantomData,
        };
        // From here on, dropping the guard undoes whatever was changed.
        set_groups(&creds.groups).map_err(sys("setgroups"))?;
        set_fsgid(creds.gid).map_err(sys("setfsgid"))?;
        set_fsuid(creds.uid).map_err(sys("setfsuid"))?;
        cap_set(CapSets {
            effective: 0,
            ..guard.caps
        })
        .map_err(sys("capset"))?;
        Ok(guard)
    }

    fn restore(&self) -> io::Result<()> {
        // Allowed without capabilities: the effective uid is still 0.
        set_fsuid(0)?;
        cap_set(self.caps)?;
        set_fsgid(self.fsgid)?;
        set_groups(&self.groups)?;
        if cap_get()? != self.caps {
            return Err(io::Error::other("capabilities differ after restoring them"));
        }
        Ok(())
    }
}

impl Drop for ThreadCreds {
    fn drop(&mut self) {
        if let Err(e) = self.restore() {
            crate::log!("cannot give a file thread root's credentials back ({e}); exiting");
            std::process::abort();
        }
    }
}

/// `setfsuid(-1)` changes nothing and returns the current fsuid.
const QUERY: libc::c_long = u32::MAX as libc::c_long;

/// The calling thread's fsuid.
pub fn fsuid() -> u32 {
    // SAFETY: setfsuid has no memory-safety preconditions; an invalid id only
    // queries the current value.
    unsafe { libc::syscall(libc::SYS_setfsuid, QUERY) as u32 }
}

/// The calling thread's fsgid.
pub fn fsgid() -> u32 {
    // SAFETY: as for `fsuid`.
    unsafe { libc::syscall(libc::SYS_setfsgid, QUERY) as u32 }
}

/// Set the calling thread's fsuid (setfsuid reports no errors: check the result).
fn set_fsuid(uid: u32) -> io::Result<()> {
    // SAFETY: setfsuid has no memory-safety preconditions and affects only the
    // calling thread.
    unsafe { libc::syscall(libc::SYS_setfsuid, libc::c_long::from(uid)) };
    if fsuid() != uid {
        return Err(io::Error::from_raw_os_error(libc::EPERM));
    }
    Ok(())
}

/// Set the calling thread's fsgid (checked like `set_fsuid`).
fn set_fsgid(gid: u32) -> io::Result<()> {
    // SAFETY: as for `set_fsuid`.
    unsafe { libc::syscall(libc::SYS_setfsgid, libc::c_long::from(gid)) };
    if fsgid() != gid {
        return Err(io::Error::from_raw_os_error(libc::EPERM));
    }
    Ok(())
}

fn check(ret: libc::c_long) -> io::Result<libc::c_long> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// The calling thread's supplementary groups.
pub fn get_groups() -> io::Result<Vec<u32>> {
    loop {
        // SAFETY: a zero size with a null list only asks for the count.
        let n =
            check(unsafe { libc::syscall(libc::SYS_getgroups, 0, std::ptr::null_mut::<u32>()) })?;
        let mut groups = vec![0u32; n as usize];
        // SAFETY: `groups` has room for `n` gid_t (u32) values, as the call is told.
        let got = unsafe { libc::syscall(libc::SYS_getgroups, n, groups.as_mut_ptr()) };
        match check(got) {
            Ok(got) => {
                groups.truncate(got as usize);
                return Ok(groups);
            }
            // The list grew in between (another thread of ours cannot change
            // ours, but stay correct anyway): ask again.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Set the calling thread's supplementary groups (the raw call: this thread only).
fn set_groups(groups: &[u32]) -> io::Result<()> {
    // SAFETY: the pointer and length describe `groups`, which outlives the call;
    // the kernel only reads it.
    check(unsafe { libc::syscall(libc::SYS_setgroups, groups.len(), groups.as_ptr()) }).map(drop)
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// The calling thread's capability sets.
pub fn cap_get() -> io::Result<CapSets> {
    let mut header = CapHeader {
        version: CAP_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: `header` is a valid v3 header naming the calling thread (pid 0), and
    // `data` is the two-element array v3 writes.
    check(unsafe {
        libc::syscall(
            libc::SYS_capget,
            std::ptr::addr_of_mut!(header),
            data.as_mut_ptr(),
        )
    })?;
    let join = |lo: u32, hi: u32| u64::from(lo) | (u64::from(hi) << 32);
    Ok(CapSets {
        effective: join(data[0].effective, data[1].effective),
        permitted: join(data[0].permitted, data[1].permitted),
        inheritable: join(data[0].inheritable, data[1].inheritable),
    })
}

/// Set the calling thread's capability sets.
fn cap_set(caps: CapSets) -> io::Result<()> {
    let mut header = CapHeader {
        version: CAP_VERSION_3,
        pid: 0,
    };
    let split = |v: u64, hi: bool| if hi { (v >> 32) as u32 } else { v as u32 };
    let word = |hi| CapData {
        effective: split(caps.effective, hi),
        permitted: split(caps.permitted, hi),
        inheritable: split(caps.inheritable, hi),
    };
    let data = [word(false), word(true)];
    // SAFETY: `header` is a valid v3 header naming the calling thread (pid 0), and
    // `data` is the two-element array v3 reads; neither is kept.
    check(unsafe {
        libc::syscall(
            libc::SYS_capset,
            std::ptr::addr_of_mut!(header),
            data.as_ptr(),
        )
    })
    .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAP_DAC_OVERRIDE: u64 = 1 << 1;
    const CAP_SYS_RESOURCE: u64 = 1 << 24;

    fn require_root() {
        // SAFETY: geteuid has no preconditions.
        let euid = unsafe { libc::geteuid() };
        assert_eq!(euid, 0, "credential tests need root (they switch fsuid)");
    }

    fn user() -> Creds {
        Creds {
            name: "tester".into(),
            uid: 4242,
            gid: 4243,
            groups: vec![4243, 4244],
        }
    }

    /// The `Uid:`, `Gid:`, `Groups:` and `CapEff:` lines of a thread, by the kernel.
    fn status(tid: libc::pid_t) -> String {
        let text = std::fs::read_to_string(format!("/proc/self/task/{tid}/status")).unwrap();
        text.lines()
            .filter(|l| {
                ["Uid:", "Gid:", "Groups:", "CapEff:"]
                    .iter()
                    .any(|k| l.starts_with(k))
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn tid() -> libc::pid_t {
        // SAFETY: gettid has no preconditions.
        unsafe { libc::gettid() }
    }

    #[test]
    fn kernel_drops_fs_capabilities_with_fsuid_and_gives_them_back() {
        require_root();
        std::thread::spawn(|| {
            let before = cap_get().unwrap();
            assert_ne!(
                before.effective & CAP_DAC_OVERRIDE,
                0,
                "root has DAC_OVERRIDE"
            );
            set_fsuid(4242).unwrap();
            let as_user = cap_get().unwrap();
            assert_eq!(as_user.effective & CAP_DAC_OVERRIDE, 0);
            // Not a file-system capability: the kernel leaves it, so we clear it.
            assert_eq!(
                as_user.effective & CAP_SYS_RESOURCE,
                before.effective & CAP_SYS_RESOURCE
            );
            set_fsuid(0).unwrap();
            assert_eq!(cap_get().unwrap(), before);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn user_credentials_are_per_thread_and_restored() {
        require_root();
        let main_tid = tid();
        let main_before = status(main_tid);
        let secret = std::env::temp_dir().join(format!("guestd-creds-{}", std::process::id()));
        std::fs::write(&secret, b"root only").unwrap();
        std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        std::thread::spawn(move || {
            let before = status(tid());
            let caps = cap_get().unwrap();
            let groups = get_groups().unwrap();
            {
                let _guard = ThreadCreds::assume(&user()).unwrap();
                assert_eq!((fsuid(), fsgid()), (4242, 4243));
                assert_eq!(get_groups().unwrap(), [4243, 4244]);
                assert_eq!(cap_get().unwrap().effective, 0);
                assert_eq!(cap_get().unwrap().permitted, caps.permitted);
                // Another thread of the process is untouched.
                assert_eq!(status(main_tid), main_before);
                // A root-only file is out of reach.
                let e = std::fs::File::open(&secret).unwrap_err();
                assert_eq!(e.raw_os_error(), Some(libc::EACCES));
            }
            std::fs::File::open(&secret).expect("root reads it again");
            std::fs::remove_file(&secret).unwrap();
            assert_eq!(status(tid()), before);
            assert_eq!(cap_get().unwrap(), caps);
            assert_eq!(get_groups().unwrap(), groups);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn credentials_come_back_after_a_panic() {
        require_root();
        std::thread::spawn(|| {
            let before = status(tid());
            let r = std::panic::catch_unwind(|| {
                let _guard = ThreadCreds::assume(&user()).unwrap();
                panic!("inside a user's file call");
            });
            assert!(r.is_err());
            assert_eq!(status(tid()), before);
            assert_eq!(fsuid(), 0);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn nested_assume_is_refused() {
        require_root();
        std::thread::spawn(|| {
            let _guard = ThreadCreds::assume(&user()).unwrap();
            let err = ThreadCreds::assume(&user()).unwrap_err();
            assert!(matches!(err, OpError::Internal(_)), "{err}");
        })
        .join()
        .unwrap();
    }

    #[test]
    fn lookup_maps_names_to_credentials() {
        let db = UserDb {
            users: crate::users::parse_passwd(
                "root:x:0:0::/root:/bin/sh\ntoor:x:0:0::/:/bin/sh\nu:x:4242:4243::/:/bin/sh\n",
            ),
            groups: crate::users::parse_group("g:x:4243:\nextra:x:4244:u\n"),
        };
        assert_eq!(FsUser::lookup(&db, None).unwrap(), FsUser::Root);
        assert_eq!(FsUser::lookup(&db, Some("root")).unwrap(), FsUser::Root);
        assert_eq!(FsUser::lookup(&db, Some("toor")).unwrap(), FsUser::Root);
        assert_eq!(
            FsUser::lookup(&UserDb::default(), Some("root")).unwrap(),
            FsUser::Root
        );
        assert_eq!(
            FsUser::lookup(&db, Some("u")).unwrap(),
            FsUser::User(Creds {
                name: "u".into(),
                uid: 4242,
                gid: 4243,
                groups: vec![4243, 4244],
            })
        );
        let err = FsUser::lookup(&db, Some("ghost")).unwrap_err();
        assert_eq!(err.code(), nullspace_guest_proto::ErrorCode::UserNotFound);
    }
}
