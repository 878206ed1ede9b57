//! Writing results: JSON for `--json`, tables and lines for people.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::io::Write;

use nullspace_api::{EntryInfo, EntryType, Machine};
use serde::Serialize;

use crate::error::CliError;

/// Writes `bytes` to standard output as they are.
pub fn bytes(bytes: &[u8]) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .map_err(CliError::Stdout)
}

/// Writes `text` and a newline to standard output.
pub fn line(text: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")
        .and_then(|()| out.flush())
        .map_err(CliError::Stdout)
}

/// Writes `value` as pretty JSON to standard output.
pub fn json(value: &impl Serialize) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value).expect("API values serialize");
    line(&text)
}

/// Writes `value` as one line of JSON (for streams of records).
pub fn json_line(value: &impl Serialize) -> Result<(), CliError> {
    line(&serde_json::to_string(value).expect("API values serialize"))
}

/// Columns padded to their widest cell; the last column is not padded.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    let header: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let last = row.len().saturating_sub(1);
        for (i, cell) in row.iter().enumerate() {
            if i == last {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            }
        }
        text.push('\n');
    }
    text.pop();
    text
}

/// `key  value` lines with the keys aligned.
pub fn fields(pairs: &[(&str, String)]) -> String {
    let width = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    pairs
        .iter()
        .map(|(k, v)| format!("{k:<width$}  {v}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `k=v,k2=v2` (or `-` when empty).
pub fn labels(metadata: &BTreeMap<String, String>) -> String {
    if metadata.is_empty() {
        return "-".into();
    }
    metadata
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The wire name of a serializable enum value.
pub fn wire_name(value: &impl Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        other => format!("{other:?}"),
    }
}

/// A machine, one field a line; a failed machine's `failure_reason` after its state.
pub fn machine(m: &Machine) -> String {
    let mut pairs = vec![("id", m.id.to_string()), ("state", wire_name(&m.state))];
    if let Some(reason) = &m.failure_reason {
        pairs.push(("failure_reason", reason.clone()));
    }
    pairs.extend([
        ("template", m.template.clone()),
        ("cpu_count", m.cpu_count.to_string()),
        ("memory_mb", m.memory_mb.to_string()),
        ("cwd", m.cwd.clone()),
        ("metadata", labels(&m.metadata)),
        ("created_at", m.created_at.clone()),
        ("end_at", m.end_at.clone()),
        ("timeout_action", m.timeout_action.as_str().to_owned()),
        ("auto_resume", m.auto_resume.to_string()),
        ("snapshot_id", or_dash(m.snapshot_id.as_ref())),
        ("forked_from", or_dash(m.forked_from.as_ref())),
        ("internet_access", m.internet_access.to_string()),
        ("allow_out", cidrs(&m.network.allow_out)),
        ("deny_out", cidrs(&m.network.deny_out)),
        ("public_traffic", m.network.allow_public_traffic.to_string()),
    ]);
    if let Some(token) = &m.traffic_access_token {
        // A credential: its prefix only (`--json` shows it whole).
        let shown = token.get(..9).unwrap_or_default();
        pairs.push(("traffic_token", format!("{shown}*** (--json shows it)")));
    }
    fields(&pairs)
}

/// CIDRs joined by commas, or `-`.
fn cidrs(list: &[nullspace_types::Cidr]) -> String {
    if list.is_empty() {
        return "-".into();
    }
    list.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// A byte count in binary units: `512 B`, `1.5 KiB`, `64.0 MiB`, `4.0 GiB`.
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    // Precision loss above 2^53 bytes does not show at one decimal.
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// `value`, or `-` when there is none.
pub fn or_dash(value: Option<&impl Display>) -> String {
    value.map_or_else(|| "-".into(), ToString::to_string)
}

/// Machines as a table.
pub fn machines(list: &[Machine]) -> String {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|m| {
            vec![
                m.id.to_string(),
                wire_name(&m.state),
                m.template.clone(),
                m.cpu_count.to_string(),
                m.memory_mb.to_string(),
                m.created_at.clone(),
                m.end_at.clone(),
                labels(&m.metadata),
            ]
        })
        .collect();
    table(
        &[
            "ID", "STATE", "TEMPLATE", "CPUS", "MEM_MB", "CREATED", "ENDS", "METADATA",
        ],
        &rows,
    )
}

/// One letter of an entry's type, as `ls -l` shows it.
fn type_letter(kind: EntryType) -> char {
    match kind {
        EntryType::File => '-',
        EntryType::Dir => 'd',
        EntryType::Symlink => 'l',
        EntryType::Other => '?',
    }
}

/// A file entry, one field a line.
pub fn entry(e: &EntryInfo) -> String {
    let mut pairs = vec![
        ("path", e.path.clone()),
        ("type", wire_name(&e.kind)),
        ("size", e.size.to_string()),
        ("mode", format!("{:04o} ({})", e.mode, e.permissions)),
        ("owner", format!("{}:{}", e.owner, e.group)),
        ("modified", e.modified_time.clone()),
    ];
    if let Some(target) = &e.symlink_target {
        pairs.push(("target", target.clone()));
    }
    fields(&pairs)
}

/// File entries as an `ls -l`-like table.
pub fn entries(list: &[EntryInfo]) -> String {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|e| {
            let mut path = e.path.clone();
            if let Some(target) = &e.symlink_target {
                path = format!("{path} -> {target}");
            }
            vec![
                format!("{}{}", type_letter(e.kind), e.permissions),
                format!("{}:{}", e.owner, e.group),
                e.size.to_string(),
                e.modified_time.clone(),
                path,
            ]
        })
        .collect();
    table(&["MODE", "OWNER", "SIZE", "MODIFIED", "PATH"], &rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns() {
        let t = table(
            &["A", "LONGER"],
            &[
                vec!["xxxx".into(), "1".into()],
                vec!["y".into(), "2".into()],
            ],
        );
        assert_eq!(t, "A     LONGER\nxxxx  1\ny     2");
    }

    #[test]
    fn sizes_use_binary_units() {
        assert_eq!(size(0), "0 B");
        assert_eq!(size(1023), "1023 B");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(64 << 20), "64.0 MiB");
        assert_eq!(size(3 << 30), "3.0 GiB");
        assert_eq!(size(u64::MAX), "16384.0 PiB");
    }

    #[test]
    fn failed_machines_say_why() {
        let id: nullspace_types::MachineId = "sb_a".parse().unwrap();
        let mut m = Machine {
            id,
            template: "base".into(),
            state: nullspace_types::MachineState::Running,
            cpu_count: 1,
            memory_mb: 512,
            metadata: BTreeMap::new(),
            cwd: "/workspace".into(),
            created_at: "2026-01-01T00:00:00Z".into(),
            end_at: "2026-01-01T00:05:00Z".into(),
            timeout_action: nullspace_api::TimeoutAction::Kill,
            auto_resume: false,
            snapshot_id: None,
            forked_from: None,
            failure_reason: None,
            network: nullspace_api::MachineNetwork {
                allow_out: vec!["203.0.113.0/24".parse().unwrap()],
                ..Default::default()
            },
            internet_access: false,
            traffic_access_token: Some("nstt_0123456789abcdef0123456789".into()),
        };
        let text = machine(&m);
        assert!(!text.contains("failure_reason"));
        assert!(text.contains("203.0.113.0/24"), "{text}");
        assert!(!text.contains("0123456789abcdef0123456789"), "{text}");
        m.state = nullspace_types::MachineState::Failed;
        m.failure_reason = Some("the VMM exited (signal 9)".into());
        let text = machine(&m);
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[1].starts_with("state") && lines[1].ends_with("failed"),
            "{text}"
        );
        assert!(
            lines[2].starts_with("failure_reason") && lines[2].ends_with("(signal 9)"),
            "{text}"
        );
    }

    #[test]
    fn fields_align_keys() {
        assert_eq!(
            fields(&[("id", "a".into()), ("state", "b".into())]),
            "id     a\nstate  b"
        );
    }
}
