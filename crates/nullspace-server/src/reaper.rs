//! Acts on machines whose timeout has passed (kills them, or pauses those whose
//! timeout action is `pause`), forgets killed and failed machines once their
//! history retention is over, aborts expired upload sessions and closes the
//! preview proxy's idle upstream connections.

use std::time::Duration;

use nullspace_api::TimeoutAction;

use crate::services;
use crate::state::AppState;
use crate::store::now;

/// How often expired machines are looked for.
const INTERVAL: Duration = Duration::from_secs(1);
/// How often old history is purged.
const PURGE_EVERY: u32 = 60;

/// Handle expired machines forever.
pub async fn run(state: AppState) {
    let mut tick = 0u32;
    loop {
        tokio::time::sleep(INTERVAL).await;
        tick = tick.wrapping_add(1);
        if tick % PURGE_EVERY == 1 {
            purge(&state).await;
            services::uploads::sweep(&state).await;
        }
        if tick.is_multiple_of(10) {
            state.proxy_pool.sweep(std::time::Instant::now());
        }
        let expired = match state.store_call(|s| s.expired(now().1)).await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = ?e, "cannot list expired machines");
                continue;
            }
        };
        for row in expired {
            if row.timeout_action == TimeoutAction::Pause {
                tracing::info!(machine = %row.id, "timeout reached; pausing");
                if let Err(e) = services::lifecycle::pause(&state, &row.id).await {
                    tracing::warn!(machine = %row.id, error = ?e, "pause after timeout failed");
                }
                continue;
            }
            tracing::info!(machine = %row.id, "timeout reached; killing");
            if let Err(e) = services::machines::destroy(&state, &row.id).await {
                tracing::warn!(machine = %row.id, error = ?e, "kill after timeout failed");
            }
        }
    }
}

/// Delete the records of machines killed or failed longer ago than the retention,
/// with anything of them still on the host (the kept disk of a failed machine).
pub async fn purge(state: &AppState) {
    let before = now().1 - state.settings.history_retention_secs;
    match state.store_call(move |s| s.purge_history(before)).await {
        Ok(ids) => {
            for id in ids {
                state.node.discard(&id, false).await;
            }
        }
        Err(e) => tracing::warn!(error = ?e, "cannot purge machine history"),
    }
}
