//! `nullspace sandbox metrics ID`: CPU, memory and disk use inside a machine.

use nullspace_api::MachineMetrics;
use nullspace_types::MachineId;

use super::{Ctx, Outcome, OK};
use crate::output;

/// Runs `sandbox metrics`: one sample, with units (the API's JSON with `--json`).
pub async fn run(ctx: &Ctx, id: &MachineId) -> Outcome {
    let metrics = ctx.client()?.machine_metrics(id).await?;
    if ctx.json() {
        output::json(&metrics)?;
    } else {
        output::line(&fields(&metrics))?;
    }
    Ok(OK)
}

/// A sample, one resource a line.
fn fields(m: &MachineMetrics) -> String {
    let vcpus = if m.cpu_count == 1 { "vCPU" } else { "vCPUs" };
    output::fields(&[
        (
            "cpu",
            format!("{:.1}% of {} {vcpus}", m.cpu_used_pct, m.cpu_count),
        ),
        ("memory", used_of(m.mem_used_bytes, m.mem_total_bytes)),
        ("disk", used_of(m.disk_used_bytes, m.disk_total_bytes)),
        ("uptime", duration(m.uptime_secs)),
        ("sampled_at", m.timestamp.clone()),
    ])
}

/// `128.0 MiB / 512.0 MiB (25.0%)`.
fn used_of(used: u64, total: u64) -> String {
    let mut text = format!("{} / {}", output::size(used), output::size(total));
    if total > 0 {
        // Byte counts are far below 2^53; the ratio is shown to one decimal.
        let pct = used as f64 * 100.0 / total as f64;
        text.push_str(&format!(" ({pct:.1}%)"));
    }
    text
}

/// `1h 2m 3s`, `2d 0h 5m 0s`, `42s`.
fn duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m {s}s"),
        _ => format!("{d}d {h}h {m}m {s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_output_has_units() {
        let text = fields(&nullspace_client::test_server::sample_metrics());
        assert_eq!(
            text,
            "cpu         12.5% of 2 vCPUs\n\
             memory      128.0 MiB / 512.0 MiB (25.0%)\n\
             disk        1.5 GiB / 4.0 GiB (37.5%)\n\
             uptime      1h 2m 3s\n\
             sampled_at  2026-01-01T01:02:03Z"
        );
    }

    #[test]
    fn durations_and_empty_totals() {
        assert_eq!(duration(42), "42s");
        assert_eq!(duration(61), "1m 1s");
        assert_eq!(duration(2 * 86_400 + 300), "2d 0h 5m 0s");
        assert_eq!(used_of(0, 0), "0 B / 0 B");
    }
}
