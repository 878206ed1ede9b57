//! One gate per machine, held by every operation that changes what a machine is
//! on its node (create, pause, resume, snapshot, fork, kill), so they happen one
//! at a time. Commands and file operations do not take it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use nullspace_types::MachineId;
use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

/// Held while a lifecycle operation of one machine runs.
pub type Gate = OwnedMutexGuard<()>;

/// The gates of every machine with an operation in flight.
#[derive(Debug, Default)]
pub struct Gates {
    map: Mutex<HashMap<MachineId, Weak<AsyncMutex<()>>>>,
}

impl Gates {
    /// Wait for machine `id`'s gate and hold it.
    pub async fn enter(&self, id: &MachineId) -> Gate {
        let gate = {
            let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
            match map.get(id).and_then(Weak::upgrade) {
                Some(g) => g,
                None => {
                    // Forget gates nobody holds or waits for.
                    map.retain(|_, g| g.strong_count() > 0);
                    let g = Arc::new(AsyncMutex::new(()));
                    map.insert(id.clone(), Arc::downgrade(&g));
                    g
                }
            }
        };
        gate.lock_owned().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn one_holder_per_machine_and_forgotten_when_free() {
        let gates = Arc::new(Gates::default());
        let (a, b) = (MachineId::random(), MachineId::random());
        let held = gates.enter(&a).await;
        // Another machine's gate is free.
        drop(gates.enter(&b).await);
        let waiter = {
            let (gates, a) = (gates.clone(), a.clone());
            tokio::spawn(async move { drop(gates.enter(&a).await) })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiter.is_finished(), "the second holder waits");
        drop(held);
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .unwrap()
            .unwrap();
        drop(gates.enter(&MachineId::random()).await);
        assert!(
            gates.map.lock().unwrap().len() <= 1,
            "free gates are forgotten"
        );
    }
}
