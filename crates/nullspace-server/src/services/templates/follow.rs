//! Following a build's log as it is written (`GET /v1/templates/builds/{id}/logs/stream`).
//!
//! The store stays the only copy of a log: a follower reads it by offset, a bounded
//! page at a time, so what it holds does not grow with the log and a slow reader
//! only reads slower. What is live is a wake-up: while a build runs, its log
//! writer (`BuildLog`) holds a `Feed` of [`LogFeeds`] that it bumps after each
//! write, and followers wait on it instead of polling. The feed closes when the
//! writer is dropped, after the build's final status is saved, so a follower that
//! wakes to a closed feed finds the end in the store. A follower also looks at the
//! store every [`RECHECK`] on its own, for builds without a writer (not yet
//! started, or abandoned by a restart).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nullspace_api::{BuildError, BuildLogEntry, BuildStatus, ErrorCode};
use nullspace_types::TemplateBuildId;
use tokio::sync::watch;

use super::log::entry;
use crate::auth::Tenant;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::{BuildRow, LogRow};

/// Most entries a follower reads from the store at a time.
pub const PAGE: usize = 256;
/// How long a follower waits for a wake-up before it looks at the store anyway.
const RECHECK: Duration = Duration::from_secs(1);

/// The feeds of the builds whose logs are being written, by build id.
#[derive(Debug, Default)]
pub struct LogFeeds {
    feeds: Mutex<HashMap<String, Arc<watch::Sender<u64>>>>,
}

impl LogFeeds {
    /// Open the feed of `build`, for its writer; it closes when the [`Feed`] drops.
    pub(super) fn open(self: &Arc<Self>, build: &str) -> Feed {
        let tx = Arc::new(watch::Sender::new(0));
        self.lock().insert(build.to_owned(), tx.clone());
        Feed {
            feeds: self.clone(),
            build: build.to_owned(),
            tx,
        }
    }

    /// A receiver of `build`'s feed while its log is being written.
    fn subscribe(&self, build: &str) -> Option<watch::Receiver<u64>> {
        self.lock().get(build).map(|tx| tx.subscribe())
    }

    /// How many feeds are open (tests).
    pub fn open_count(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<watch::Sender<u64>>>> {
        self.feeds.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The writer's end of a build's feed.
#[derive(Debug)]
pub(super) struct Feed {
    feeds: Arc<LogFeeds>,
    build: String,
    tx: Arc<watch::Sender<u64>>,
}

impl Feed {
    /// Wake the followers: entries before `next` are in the store.
    pub(super) fn publish(&self, next: u64) {
        self.tx.send_replace(next);
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        let mut feeds = self.feeds.lock();
        if feeds
            .get(&self.build)
            .is_some_and(|tx| Arc::ptr_eq(tx, &self.tx))
        {
            feeds.remove(&self.build);
        }
        // The last sender goes with `self.tx`: receivers see the feed closed.
    }
}

/// What a follower has next.
#[derive(Debug)]
pub enum Next {
    /// Entries from the follower's offset, in order (at most [`PAGE`]).
    Entries(Vec<BuildLogEntry>),
    /// The build ended and every entry was handed over.
    Done {
        /// How it ended.
        status: BuildStatus,
        /// Why it failed.
        error: Option<BuildError>,
    },
}

/// A reader of one build's log from an offset until the build ends.
#[derive(Debug)]
pub struct Follower {
    state: AppState,
    tenant: String,
    id: String,
    offset: u64,
    feed: Option<watch::Receiver<u64>>,
}

/// The 404 of a build the tenant does not have.
fn not_found(id: &str) -> ApiError {
    ApiError::new(
        ErrorCode::BuildNotFound,
        format!("template build {id} not found"),
    )
}

impl Follower {
    /// A follower of the tenant's build `id` from `offset`: `build_not_found` (404)
    /// when the tenant has no such build.
    pub async fn open(state: &AppState, tenant: &Tenant, id: &str, offset: u64) -> ApiResult<Self> {
        id.parse::<TemplateBuildId>()
            .map_err(|e| ApiError::field("build_id", e.to_string()))?;
        let f = Self {
            state: state.clone(),
            tenant: tenant.id.clone(),
            id: id.to_owned(),
            offset,
            feed: None,
        };
        f.read(0).await?;
        Ok(f)
    }

    /// The next entries, waiting for them while the build runs; [`Next::Done`] once
    /// it ended and none is left. Cancel-safe: a call dropped midway loses nothing.
    pub async fn next(&mut self) -> ApiResult<Next> {
        loop {
            if self.feed.is_none() {
                self.feed = self.state.build_logs.subscribe(&self.id);
            }
            // Marked seen before the read: a write after it wakes the wait below.
            if let Some(feed) = &mut self.feed {
                feed.borrow_and_update();
            }
            let (row, logs) = self.read(PAGE).await?;
            if let Some(last) = logs.last() {
                self.offset = last.offset + 1;
                return Ok(Next::Entries(logs.into_iter().map(entry).collect()));
            }
            let status = BuildStatus::parse(&row.status).unwrap_or(BuildStatus::Error);
            if status.is_done() {
                let error = row
                    .error
                    .as_deref()
                    .and_then(|e| serde_json::from_str(e).ok());
                return Ok(Next::Done { status, error });
            }
            self.wait().await;
        }
    }

    /// The build, then up to `limit` entries from the offset (read after the status,
    /// so an ended build's last entries are among them).
    async fn read(&self, limit: usize) -> ApiResult<(BuildRow, Vec<LogRow>)> {
        let (t, i, offset) = (self.tenant.clone(), self.id.clone(), self.offset);
        let found = self
            .state
            .store_call(move |s| {
                let Some(b) = s.build(&t, &i)? else {
                    return Ok(None);
                };
                let logs = if limit == 0 {
                    Vec::new()
                } else {
                    s.logs(&i, offset, limit)?
                };
                Ok(Some((b, logs)))
            })
            .await?;
        found.ok_or_else(|| not_found(&self.id))
    }

    /// Until the log may have grown: a write, the writer's end, or [`RECHECK`].
    async fn wait(&mut self) {
        match &mut self.feed {
            Some(feed) => {
                if let Ok(Err(_)) = tokio::time::timeout(RECHECK, feed.changed()).await {
                    // The writer is gone: the next read finds how the build ended.
                    self.feed = None;
                }
            }
            None => tokio::time::sleep(RECHECK).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_feed_wakes_its_receivers_and_closes_when_its_writer_drops() {
        let feeds = Arc::new(LogFeeds::default());
        assert!(feeds.subscribe("tb_a").is_none());
        let feed = feeds.open("tb_a");
        let mut rx = feeds.subscribe("tb_a").unwrap();
        feed.publish(3);
        rx.changed().await.unwrap();
        assert_eq!(*rx.borrow_and_update(), 3);
        assert_eq!(feeds.open_count(), 1);
        drop(feed);
        assert!(rx.changed().await.is_err(), "closed");
        assert!(feeds.subscribe("tb_a").is_none());
        assert_eq!(feeds.open_count(), 0);
    }

    fn state_with_build(id: &str) -> AppState {
        let store = crate::store::Store::in_memory().unwrap();
        store
            .insert_build(&BuildRow {
                id: id.into(),
                template_id: "tpl_a".into(),
                tenant: "t".into(),
                request: "{}".into(),
                tags: "[]".into(),
                status: "building".into(),
                steps_total: 0,
                steps_done: 0,
                steps_cached: 0,
                machine_id: None,
                snapshot_id: None,
                cpu_count: 1,
                memory_mb: 512,
                cwd: "/".into(),
                envs: "{}".into(),
                size_bytes: 0,
                error: None,
                created_unix: 1,
                finished_unix: None,
            })
            .unwrap();
        let node = Arc::new(crate::node::FakeNode::default());
        AppState::new(store, node, crate::state::RateLimiter::new(1.0, 1.0))
    }

    #[tokio::test]
    async fn followers_wake_on_writes_and_end_when_the_writer_goes() {
        let id = TemplateBuildId::random().to_string();
        let state = state_with_build(&id);
        let tenant = Tenant { id: "t".into() };
        let e = Follower::open(&state, &Tenant { id: "u".into() }, &id, 0)
            .await
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::BuildNotFound);
        let mut log = super::super::log::BuildLog::new(state.clone(), id.clone());
        let mut f = Follower::open(&state, &tenant, &id, 0).await.unwrap();
        let soon = RECHECK / 4;
        // Nothing yet: the follower waits.
        assert!(tokio::time::timeout(soon, f.next()).await.is_err());
        let reader = tokio::spawn(async move {
            let mut seen = Vec::new();
            loop {
                match tokio::time::timeout(RECHECK / 2, f.next()).await {
                    Ok(Ok(Next::Entries(e))) => seen.extend(e.into_iter().map(|e| e.message)),
                    Ok(Ok(Next::Done { status, .. })) => return (seen, status),
                    Ok(Err(e)) => panic!("{e:?}"),
                    Err(_) => panic!("not woken in time; had {seen:?}"),
                }
            }
        });
        let lines: Vec<String> = (0..PAGE + 10).map(|i| format!("line {i}")).collect();
        log.write("info", None, lines.clone()).await;
        tokio::time::sleep(soon).await;
        log.line("info", None, "last").await;
        let mut row = state.store.build("t", &id).unwrap().unwrap();
        row.status = "ready".into();
        state.store.save_build(&row).unwrap();
        drop(log);
        let (seen, status) = reader.await.unwrap();
        let mut want = lines;
        want.push("last".into());
        assert_eq!(seen, want);
        assert_eq!(status, BuildStatus::Ready);
    }

    #[tokio::test]
    async fn a_replaced_feed_is_not_removed_by_the_old_writer() {
        let feeds = Arc::new(LogFeeds::default());
        let old = feeds.open("tb_a");
        let new = feeds.open("tb_a");
        drop(old);
        assert!(feeds.subscribe("tb_a").is_some());
        drop(new);
        assert_eq!(feeds.open_count(), 0);
    }
}
