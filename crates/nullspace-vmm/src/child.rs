//! Child processes: set-up between fork and exec, liveness from /proc.

use std::os::fd::RawFd;

use tokio::process::Command;

/// Make the process `cmd` starts enter the network namespace open at `netns_fd`
/// (if any) and, with `die_with_parent`, get SIGKILL when its parent dies. The
/// descriptor must stay open until `spawn` returns; if it does not, the spawn
/// fails (setns: bad descriptor).
pub fn confine_child(cmd: &mut Command, netns_fd: Option<RawFd>, die_with_parent: bool) {
    // Any pre-exec hook makes the spawn fork instead of taking the faster
    // posix_spawn path: install none when there is nothing to do.
    if netns_fd.is_none() && !die_with_parent {
        return;
    }
    // SAFETY: the closure runs in the child between fork and exec and only makes
    // async-signal-safe system calls (setns, prctl) with plain integer arguments.
    unsafe {
        cmd.pre_exec(move || {
            if let Some(fd) = netns_fd {
                if libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            if die_with_parent && libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Whether process `pid` exists and is neither a zombie nor dead (from
/// `/proc/<pid>/stat`, where the state follows the parenthesised name).
pub fn process_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            stat.rsplit_once(')')
                .map(|(_, rest)| !rest.trim_start().starts_with(['Z', 'X']))
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_pid_max_is_not() {
        assert!(process_alive(std::process::id()));
        assert!(!process_alive(u32::MAX));
    }
}
