//! Destroys machines whose timeout has passed.

use std::time::Duration;

use crate::routes::machines::kill_machine;
use crate::state::AppState;
use crate::store::now;

/// How often expired machines are looked for.
const INTERVAL: Duration = Duration::from_secs(1);

/// Kill expired machines forever.
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
            tracing::info!(machine = %row.id, "timeout reached; killing");
            if let Err(e) = kill_machine(&state, &row.id, "timeout reached").await {
                tracing::warn!(machine = %row.id, error = ?e, "kill after timeout failed");
            }
        }
    }
}
