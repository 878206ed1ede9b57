//! `hello`: taking a fresh identity after a restore (entropy, wall clock,
//! hostname), then reporting facts about the guest as `health` does.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::fd::AsRawFd;

use nullspace_guest_proto::{Identity, OpResult};

use crate::services::error::OpError;
use crate::services::state::GuestState;
use crate::sys;

/// `_IOW('R', 0x03, int[2])`: add entropy to the pool and credit it.
const RNDADDENTROPY: libc::c_ulong = 0x4008_5203;
/// `_IO('R', 0x07)`: reseed the kernel CRNG from the input pool now.
const RNDRESEEDCRNG: libc::c_ulong = 0x5207;

/// Answer `hello`, taking `identity` first if one is given.
pub async fn hello(state: &GuestState, identity: Option<Identity>) -> Result<OpResult, OpError> {
    if let Some(identity) = identity {
        if state.apply_identity {
            tokio::task::spawn_blocking(move || apply(&identity))
                .await
                .map_err(|_| OpError::Internal("identity task panicked"))??;
        } else {
            // Test mode (NULLSPACE_GUESTD_NO_IDENTITY=1): remember the hostname so
            // replies show it, but leave the machine's entropy, clock and name alone.
            state.record_hostname(identity.hostname);
        }
        state.identity_taken();
    }
    Ok(OpResult::Info(state.info()))
}

/// Take `identity`: seed the entropy pool, set the clock and the hostname.
fn apply(identity: &Identity) -> Result<(), OpError> {
    if !identity.seed.is_empty() {
        if let Err(e) = add_entropy(&identity.seed) {
            crate::log!("RNDADDENTROPY failed ({e}); writing the seed to /dev/urandom instead");
            OpenOptions::new()
                .write(true)
                .open("/dev/urandom")
                .and_then(|mut f| f.write_all(&identity.seed))
                .map_err(|source| OpError::io("seed", "/dev/urandom", source))?;
        }
    }
    sys::set_realtime(identity.unix_time_ns).map_err(|source| OpError::Sys {
        op: "clock_settime",
        source,
    })?;
    sys::set_hostname(&identity.hostname).map_err(|source| OpError::Sys {
        op: "sethostname",
        source,
    })?;
    // The first disk write after a restore costs tens of milliseconds under
    // emulation, and only a reboot reads /etc/hostname: write it after replying.
    let hostname = identity.hostname.clone();
    std::thread::spawn(move || {
        if let Err(e) = std::fs::write("/etc/hostname", format!("{hostname}\n")) {
            crate::log!("could not rewrite /etc/hostname: {e}");
        }
    });
    Ok(())
}

/// Mix `seed` into the kernel pool and credit it as full entropy.
fn add_entropy(seed: &[u8]) -> std::io::Result<()> {
    let file = OpenOptions::new().write(true).open("/dev/urandom")?;
    // struct rand_pool_info { int entropy_count; int buf_size; __u32 buf[]; }
    let mut info = Vec::with_capacity(8 + seed.len());
    info.extend_from_slice(&((seed.len() * 8) as i32).to_ne_bytes());
    info.extend_from_slice(&(seed.len() as i32).to_ne_bytes());
    info.extend_from_slice(seed);
    // Keep the buffer 4-byte padded, as buf is declared as u32s.
    info.resize(info.len().next_multiple_of(4), 0);
    // SAFETY: `info` is a complete rand_pool_info whose buf_size matches the bytes
    // that follow the header; the kernel only reads it during the call.
    let ret = unsafe { libc::ioctl(file.as_raw_fd(), RNDADDENTROPY as _, info.as_ptr()) };
    if ret == -1 {
        return Err(std::io::Error::last_os_error());
    }
    // Without an explicit reseed the CRNG keeps its pre-snapshot key (it reseeds
    // on a timer), and every clone would read the same /dev/urandom bytes.
    // SAFETY: RNDRESEEDCRNG takes no argument.
    if unsafe { libc::ioctl(file.as_raw_fd(), RNDRESEEDCRNG as _) } == -1 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::fs::paths::PathPolicy;
    use nullspace_guest_proto::PROTOCOL_VERSION;

    #[tokio::test]
    async fn hello_without_applying_records_identity() {
        let state = GuestState::new(PathPolicy::default(), false);
        let OpResult::Info(before) = hello(&state, None).await.unwrap() else {
            panic!()
        };
        assert_eq!(before.identity_generation, 0);
        assert_eq!(before.protocol, PROTOCOL_VERSION);
        let id = Identity {
            hostname: "restored-1".into(),
            unix_time_ns: 1,
            seed: vec![1, 2, 3],
        };
        let OpResult::Info(after) = hello(&state, Some(id)).await.unwrap() else {
            panic!()
        };
        assert_eq!(after.identity_generation, 1);
        assert_eq!(after.hostname, "restored-1");
        assert!(after.uptime_ms > 0 && after.time_unix_ms > 1_600_000_000_000);
        assert_ne!(sys::hostname(), "restored-1");
    }
}
