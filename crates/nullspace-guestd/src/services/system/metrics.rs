//! `metrics`: CPU, memory and disk use read from /proc and statvfs.

use std::time::Duration;

use nullspace_guest_proto::{GuestMetrics, OpResult};

use crate::services::error::OpError;

/// Longest CPU sample a caller may ask for.
const MAX_SAMPLE_MS: u64 = 1000;

/// Sample CPU over `sample_ms`, read memory and root filesystem use.
pub async fn run(sample_ms: u64) -> Result<OpResult, OpError> {
    let before = cpu_ticks()?;
    tokio::time::sleep(Duration::from_millis(sample_ms.min(MAX_SAMPLE_MS))).await;
    let after = cpu_ticks()?;
    let (busy, total) = (
        after.0.saturating_sub(before.0),
        after.1.saturating_sub(before.1),
    );
    let cpu_used_pct = if total == 0 {
        0.0
    } else {
        (busy as f64 * 100.0 / total as f64).clamp(0.0, 100.0)
    };
    let meminfo = read("/proc/meminfo")?;
    let kib = |key: &str| -> u64 {
        meminfo
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    let (mem_total, mem_available) = (kib("MemTotal") * 1024, kib("MemAvailable") * 1024);
    let (disk_total, disk_free) = statvfs("/")?;
    Ok(OpResult::Metrics(GuestMetrics {
        // SAFETY: sysconf(3) has no memory effects.
        cpu_count: unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }.max(1) as u32,
        cpu_used_pct,
        mem_total_bytes: mem_total,
        mem_used_bytes: mem_total.saturating_sub(mem_available),
        disk_total_bytes: disk_total,
        disk_used_bytes: disk_total.saturating_sub(disk_free),
    }))
}

fn read(path: &str) -> Result<String, OpError> {
    std::fs::read_to_string(path).map_err(|e| OpError::io("read", path, e))
}

/// Busy and total jiffies of all CPUs (first line of /proc/stat).
fn cpu_ticks() -> Result<(u64, u64), OpError> {
    let stat = read("/proc/stat")?;
    let fields: Vec<u64> = stat
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("cpu "))
        .ok_or(OpError::Internal("no cpu line in /proc/stat"))?
        .split_whitespace()
        .filter_map(|f| f.parse().ok())
        .collect();
    let total: u64 = fields.iter().take(8).sum();
    // idle + iowait are not busy.
    let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
    Ok((total.saturating_sub(idle), total))
}

/// Size and bytes available to root of the filesystem at `path`.
fn statvfs(path: &str) -> Result<(u64, u64), OpError> {
    let c = std::ffi::CString::new(path).expect("no NUL");
    // SAFETY: zeroed statvfs is a valid out-parameter.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is NUL-terminated and `st` is a valid, writable statvfs.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(OpError::io(
            "statvfs",
            path,
            std::io::Error::last_os_error(),
        ));
    }
    let frsize = st.f_frsize as u64;
    Ok((st.f_blocks as u64 * frsize, st.f_bfree as u64 * frsize))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_this_host() {
        let OpResult::Metrics(m) = run(50).await.unwrap() else {
            panic!("not metrics")
        };
        assert!(m.cpu_count >= 1);
        assert!((0.0..=100.0).contains(&m.cpu_used_pct));
        assert!(m.mem_total_bytes > 0 && m.mem_used_bytes <= m.mem_total_bytes);
        assert!(m.disk_total_bytes > 0 && m.disk_used_bytes <= m.disk_total_bytes);
    }
}
