//! What a (re)start and a stop do with machines of a previous run.
//!
//! Machines are not re-adopted across a restart of the server yet: at start, every
//! machine the database still calls live is stopped (its VMM, found by its command
//! line, is killed), its directory removed and its row
//! marked `failed` with a note. Their namespaces are removed by the runtime, which
//! deletes the pooled namespaces of processes that no longer exist.

use std::path::Path;

use nullspace_types::MachineState;

use crate::state::AppState;
use crate::store::{Store, StoreError};

/// Note on rows of machines stopped by a restart.
pub const RESTART_NOTE: &str = "the server restarted; the machine was stopped";

/// Pid of the live VMM serving machine `id` (its `-name` is the id), if any.
fn find_vmm(id: &str) -> Option<u32> {
    let needle = format!("\0-name\0{id}\0");
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let cmdline = String::from_utf8_lossy(&cmdline);
        (cmdline.starts_with("qemu-system") || cmdline.contains("/qemu-system"))
            .then_some(())
            .filter(|_| cmdline.contains(&needle))
            .map(|_| pid)
    })
}

/// Stop and mark every machine left live by a previous run.
pub async fn recover(store: &Store, data_dir: &Path) -> Result<usize, StoreError> {
    let rows = store.live_machines()?;
    for row in &rows {
        // The pid is not on record when the previous run died mid-create, so the
        // VMM is found by its command line.
        if let Some(pid) = find_vmm(row.id.as_str()) {
            // SAFETY: kill(2) on a pid whose command line shows it is the VMM of
            // this machine (checked just above).
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            for _ in 0..100 {
                if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }
        let dir = data_dir.join("machines").join(row.id.as_str());
        if dir.exists() {
            let _ = std::fs::remove_dir_all(&dir);
        }
        store.set_state(&row.id, MachineState::Failed, None, Some(RESTART_NOTE))?;
        tracing::warn!(machine = %row.id, "machine of a previous run stopped");
    }
    Ok(rows.len())
}

/// Kill every running machine (server stop).
pub async fn stop_all(state: &AppState) {
    let Ok(rows) = state.store.live_machines() else {
        return;
    };
    for row in rows {
        if let Err(e) =
            crate::routes::machines::kill_machine(state, &row.id, "server stopped").await
        {
            tracing::warn!(machine = %row.id, error = ?e, "kill at shutdown failed");
        }
    }
}
