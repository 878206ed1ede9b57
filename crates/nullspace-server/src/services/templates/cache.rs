//! The step cache: a key per step from everything it depends on, and pruning.

use std::collections::BTreeMap;

use nullspace_api::{PruneCacheResponse, TemplateStep};
use nullspace_types::SnapshotId;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::auth::Tenant;
use crate::error::ApiResult;
use crate::node::NodeErrorCode;
use crate::state::AppState;

/// Version of the way steps run; bump to orphan every cached step.
const RECIPE: u32 = 1;

/// What a step runs with besides itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepContext {
    /// Current user.
    pub user: String,
    /// Current working directory.
    pub cwd: String,
    /// Current build-time environment.
    pub envs: BTreeMap<String, String>,
}

/// Key of the build's first state: its parent.
pub fn root_key(parent: &str) -> String {
    hex::encode(Sha256::digest(format!(
        "recipe={RECIPE}\nparent={parent}\n"
    )))
}

/// Key of the state after `step`, run in `ctx` on the state keyed `prev`.
pub fn step_key(prev: &str, step: &TemplateStep, ctx: &StepContext) -> String {
    let mut h = Sha256::new();
    h.update(prev.as_bytes());
    h.update(b"\n");
    h.update(serde_json::to_vec(step).unwrap_or_default());
    h.update(b"\n");
    h.update(serde_json::to_vec(ctx).unwrap_or_default());
    hex::encode(h.finalize())
}

/// Remove the tenant's cached steps that no version uses.
pub async fn prune(state: &AppState, tenant: &Tenant) -> ApiResult<PruneCacheResponse> {
    let t = tenant.id.clone();
    let (entries, used) = state
        .store_call(move |s| Ok((s.cached_steps(&t)?, s.version_snapshots()?)))
        .await?;
    let mut out = PruneCacheResponse {
        deleted: 0,
        bytes: 0,
    };
    for e in entries {
        if used.contains(&e.snapshot_id) {
            continue;
        }
        if let Ok(snap) = e.snapshot_id.parse::<SnapshotId>() {
            match state.node.delete_snapshot(&snap).await {
                Ok(()) => {}
                Err(err) if err.code == NodeErrorCode::SnapshotNotFound => {}
                // A build restoring from it right now: keep it.
                Err(err) if err.code == NodeErrorCode::SnapshotInUse => continue,
                Err(err) => return Err(err.into()),
            }
        }
        let t = tenant.id.clone();
        let key = e.key.clone();
        state
            .store_call(move |s| s.delete_cached_step(&t, &key))
            .await?;
        out.deleted += 1;
        out.bytes += e.size_bytes;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_change_with_the_parent_the_step_and_its_context() {
        let ctx = StepContext {
            user: "user".into(),
            cwd: "/workspace".into(),
            envs: BTreeMap::new(),
        };
        let step = TemplateStep::Run {
            cmd: "echo hi".into(),
            user: None,
        };
        let root = root_key("base");
        let k = step_key(&root, &step, &ctx);
        assert_eq!(k, step_key(&root, &step, &ctx));
        assert_ne!(k, step_key(&root_key("web:tb_x"), &step, &ctx));
        let other = TemplateStep::Run {
            cmd: "echo ho".into(),
            user: None,
        };
        assert_ne!(k, step_key(&root, &other, &ctx));
        let mut ctx2 = ctx.clone();
        ctx2.envs.insert("A".into(), "1".into());
        assert_ne!(k, step_key(&root, &step, &ctx2));
    }
}
