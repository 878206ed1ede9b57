//! Shared helpers of the Nullspace benchmarks: timing statistics and set-up.
//!
//! Every benchmark reports its figures next to a floor measured in the same run
//! (a bare QEMU restore, [`BareRestore`]): on a shared, noisy host only ratios
//! taken within one run are honest.

use std::time::Duration;

mod floor;
mod served;

pub use floor::{floor, BareRestore, BareSave, FloorError, RestoreSource};
pub use served::{arg, Served};

use serde_json::{json, Value};

/// Median, p95, min and max of samples in milliseconds.
pub fn stats(samples: &[Duration]) -> Value {
    let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
    ms.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    let pick = |q: f64| ms[((ms.len() as f64 - 1.0) * q).round() as usize];
    json!({
        "n": ms.len(),
        "p50_ms": round(pick(0.5)),
        "p95_ms": round(pick(0.95)),
        "min_ms": round(ms[0]),
        "max_ms": round(ms[ms.len() - 1]),
    })
}

/// Round to 0.01.
pub fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Proportional set size of a process in KiB (from `smaps_rollup`).
pub fn pss_kib(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    text.lines()
        .find(|l| l.starts_with("Pss:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_picks_quantiles() {
        let s: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let v = stats(&s);
        assert_eq!(v["n"], 100);
        assert_eq!(v["p50_ms"], 51.0);
        assert_eq!(v["p95_ms"], 95.0);
        assert_eq!(v["max_ms"], 100.0);
        assert!(pss_kib(std::process::id()).unwrap() > 0);
    }
}
