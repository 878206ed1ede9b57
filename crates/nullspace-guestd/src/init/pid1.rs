//! PID 1 of the real root: mount the basics, set the hostname, bring up the
//! network, then keep `nullspace-guestd serve` running and reap every zombie.
//! It never exits (the kernel panics if PID 1 does).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::cmdline::BootConfig;
use super::{mounts, net};
use crate::sys;

/// First respawn delay; it doubles up to [`MAX_BACKOFF`] while the agent keeps dying.
const MIN_BACKOFF: Duration = Duration::from_millis(100);
/// Longest respawn delay.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// An agent that ran this long resets the backoff.
const STABLE_RUN: Duration = Duration::from_secs(30);

/// Respawn delays of the agent.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { next: MIN_BACKOFF }
    }
}

impl Backoff {
    /// The delay before the next start, given how long the last run lasted.
    pub fn after_run(&mut self, ran: Duration) -> Duration {
        if ran >= STABLE_RUN {
            self.next = MIN_BACKOFF;
        }
        let delay = self.next;
        self.next = (self.next * 2).min(MAX_BACKOFF);
        delay
    }
}

/// Run PID 1. Never returns.
pub fn run() -> ! {
    mounts::mount_base();
    let cfg = BootConfig::load();
    match sys::set_hostname(&cfg.hostname) {
        Ok(()) => crate::log!("hostname {}", cfg.hostname),
        Err(e) => crate::log!("cannot set hostname {}: {e}", cfg.hostname),
    }
    net::configure(&cfg);
    supervise()
}

/// Start the agent, restart it when it exits, and reap all other children.
fn supervise() -> ! {
    let mut backoff = Backoff::default();
    let mut agent: Option<(i32, Instant)> = None;
    let mut restart_at = Some(Instant::now());
    loop {
        if let Some(at) = restart_at {
            if Instant::now() >= at {
                agent = spawn_agent().map(|pid| (pid, Instant::now()));
                restart_at = match agent {
                    Some(_) => None,
                    None => Some(Instant::now() + backoff.after_run(Duration::ZERO)),
                };
            }
        }
        // Block while there is nothing to restart; otherwise poll until the restart time.
        let flags = if restart_at.is_some() {
            libc::WNOHANG
        } else {
            0
        };
        let mut status = 0;
        // SAFETY: `status` is a valid, writable int.
        let pid = unsafe { libc::waitpid(-1, &mut status, flags) };
        if pid <= 0 {
            // Nothing exited (WNOHANG), no children at all (ECHILD), or EINTR.
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        if let Some((agent_pid, since)) = agent {
            if pid == agent_pid {
                let delay = backoff.after_run(since.elapsed());
                crate::log!(
                    "agent exited ({}); restarting in {delay:?}",
                    describe(status)
                );
                agent = None;
                restart_at = Some(Instant::now() + delay);
            }
        }
    }
}

fn spawn_agent() -> Option<i32> {
    let exe = std::env::current_exe().unwrap_or_else(|_| super::GUESTD_PATH.into());
    match Command::new(&exe).arg("serve").stdin(Stdio::null()).spawn() {
        Ok(child) => {
            let pid = child.id() as i32;
            crate::log!("started agent (pid {pid})");
            // The child is reaped by waitpid(-1) in `supervise`, not through `child`.
            drop(child);
            Some(pid)
        }
        Err(e) => {
            crate::log!("cannot start {}: {e}", exe.display());
            None
        }
    }
}

fn describe(status: libc::c_int) -> String {
    if libc::WIFEXITED(status) {
        format!("exit code {}", libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        format!("signal {}", libc::WTERMSIG(status))
    } else {
        format!("status {status}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_caps_and_resets() {
        let mut b = Backoff::default();
        let quick = Duration::from_millis(10);
        let delays: Vec<_> = (0..8).map(|_| b.after_run(quick)).collect();
        assert_eq!(delays[0], MIN_BACKOFF);
        assert_eq!(delays[1], MIN_BACKOFF * 2);
        assert_eq!(*delays.last().unwrap(), MAX_BACKOFF);
        assert_eq!(b.after_run(STABLE_RUN), MIN_BACKOFF);
    }
}
