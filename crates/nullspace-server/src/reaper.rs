//! Acts on machines whose timeout has passed: kills them, or pauses those whose
//! timeout action is `pause`.

use std::time::Duration;

use nullspace_api::TimeoutAction;

use crate::routes::machines::kill_machine;
use crate::state::AppState;
use crate::store::now;

/// How often expired machines are looked for.
const INTERVAL: Duration = Duration::from_secs(1);

/// Handle expired machines forever.
pub async fn run(state: AppState) {
    loop {
        tokio::time::sleep(INTERVAL).await;
        let expired = match state.store.expired(now().1) {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list expired machines");
                continue;
            }
        };
        for row in expired {
            if row.timeout_action == TimeoutAction::Pause {
                tracing::info!(machine = %row.id, "timeout reached; pausing");
                if let Err(e) = crate::lifecycle::pause(&state, &row.id).await {
                    tracing::warn!(machine = %row.id, error = ?e, "pause after timeout failed");
                }
                continue;
            }
            tracing::info!(machine = %row.id, "timeout reached; killing");
            if let Err(e) = kill_machine(&state, &row.id, "timeout reached").await {
                tracing::warn!(machine = %row.id, error = ?e, "kill after timeout failed");
            }
        }
    }
}
