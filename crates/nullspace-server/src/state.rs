//! Shared state of request handlers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use nullspace_api::ErrorCode;

use crate::error::ApiError;
use crate::node::Node;
use crate::services::{EventBus, Gates};
use crate::store::Store;

/// Settings that rules of the services depend on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Seconds a killed or failed machine's record is kept.
    pub history_retention_secs: i64,
    /// Most bytes one file upload takes.
    pub max_upload_bytes: u64,
    /// Where preview URLs are served.
    pub preview: crate::services::previews::PreviewBase,
    /// Where clients reach the SSH relay.
    pub ssh: crate::services::ssh::RelayAddress,
    /// Where uploaded template build contexts are kept.
    pub contexts_dir: std::path::PathBuf,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            history_retention_secs: nullspace_api::DEFAULT_HISTORY_RETENTION_SECS,
            max_upload_bytes: nullspace_api::MAX_FILE_BYTES,
            preview: Default::default(),
            ssh: Default::default(),
            contexts_dir: std::env::temp_dir()
                .join(format!("nullspace-contexts-{}", std::process::id())),
        }
    }
}

/// Template builds that run at once; more wait for a slot.
pub const BUILD_SLOTS: usize = 2;

/// Everything a handler needs.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub store: Store,
    /// The host that runs machines.
    pub node: Arc<dyn Node>,
    /// Per-tenant request rate limit.
    pub limiter: Arc<RateLimiter>,
    /// One gate per machine for operations that change it on its node.
    pub gates: Arc<Gates>,
    /// Where machine state changes are published.
    pub events: EventBus,
    /// Service settings.
    pub settings: Arc<Settings>,
    /// The secret signed URLs are signed with, once read from the store.
    pub url_key: Arc<tokio::sync::OnceCell<[u8; 32]>>,
    /// Idle connections of the preview proxy.
    pub proxy_pool: Arc<crate::services::proxy_pool::ProxyPool>,
    /// The SSH CA and relay host key, once read from the store.
    pub ssh_keys: Arc<tokio::sync::OnceCell<Arc<crate::services::ssh::Keys>>>,
    /// Slots for template builds running at once.
    pub build_slots: Arc<tokio::sync::Semaphore>,
    /// Wake-ups of the followers of running builds' logs.
    pub build_logs: Arc<crate::services::templates::follow::LogFeeds>,
}

impl AppState {
    /// State over `store` and `node` with a rate limit and default settings.
    pub fn new(store: Store, node: Arc<dyn Node>, limiter: RateLimiter) -> Self {
        Self {
            store,
            node,
            limiter: Arc::new(limiter),
            gates: Arc::default(),
            events: EventBus::default(),
            settings: Arc::default(),
            url_key: Arc::default(),
            proxy_pool: Arc::default(),
            ssh_keys: Arc::default(),
            build_slots: Arc::new(tokio::sync::Semaphore::new(BUILD_SLOTS)),
            build_logs: Arc::default(),
        }
    }

    /// Run a store call on a blocking thread (SQLite must not stall the async ones).
    pub async fn store_call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, crate::store::StoreError> + Send + 'static,
    ) -> crate::error::ApiResult<T> {
        let store = self.store.clone();
        Ok(tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|_| ApiError::new(ErrorCode::Internal, "store task failed"))??)
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

/// A token bucket per tenant.
#[derive(Debug)]
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    /// `per_second` sustained requests with bursts up to `burst`.
    pub fn new(per_second: f64, burst: f64) -> Self {
        Self {
            per_second,
            burst,
            buckets: Mutex::default(),
        }
    }

    /// Take a token for `tenant`, or fail with 429.
    pub fn check(&self, tenant: &str) -> Result<(), ApiError> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let (tokens, last) = buckets
            .entry(tenant.to_owned())
            .or_insert((self.burst, now));
        *tokens =
            (*tokens + now.duration_since(*last).as_secs_f64() * self.per_second).min(self.burst);
        *last = now;
        if *tokens < 1.0 {
            let wait = if self.per_second > 0.0 {
                ((1.0 - *tokens) / self.per_second).ceil().max(1.0)
            } else {
                60.0
            };
            let mut e = ApiError::new(
                ErrorCode::RateLimited,
                format!("too many requests; retry in {wait} s"),
            );
            e.retry_after = Some(wait.min(3600.0) as u64);
            return Err(e);
        }
        *tokens -= 1.0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_empties_and_is_per_tenant() {
        let l = RateLimiter::new(0.0001, 3.0);
        for _ in 0..3 {
            l.check("a").unwrap();
        }
        let e = l.check("a").unwrap_err();
        assert_eq!(e.code, ErrorCode::RateLimited);
        assert!(e.retry_after.is_some_and(|s| s >= 1), "{e:?}");
        l.check("b").unwrap();
    }
}
