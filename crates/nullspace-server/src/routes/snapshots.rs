//! `/v1/machines/{id}/snapshots` and `/v1/snapshots`: reusable snapshots.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::Json;
use nullspace_api::{CreateSnapshotRequest, ErrorCode, Snapshot, SnapshotList};
use nullspace_types::{MachineState, SnapshotId};

use super::machines::{next_cursor, page_param, parse_id, parse_query, validate_map};
use crate::auth::Tenant;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJsonOrEmpty;
use crate::lifecycle;
use crate::state::AppState;
use crate::store::{NewSnapshot, Page, SnapshotFilter, SnapshotRow};

/// Parse a snapshot id from the path (404 for ids that cannot exist).
fn parse_snapshot_id(raw: &str) -> ApiResult<SnapshotId> {
    raw.parse()
        .map_err(|_| ApiError::new(ErrorCode::NotFound, format!("snapshot {raw} not found")))
}

/// The tenant's snapshot `id`, or 404.
pub async fn load_snapshot(
    state: &AppState,
    tenant: &Tenant,
    id: &SnapshotId,
) -> ApiResult<SnapshotRow> {
    let (t, i) = (tenant.id.clone(), id.clone());
    state
        .store_call(move |s| s.get_snapshot(&t, &i))
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("snapshot {id} not found")))
}

/// `POST /v1/machines/{id}/snapshots`.
pub async fn create(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    ApiJsonOrEmpty(req): ApiJsonOrEmpty<CreateSnapshotRequest>,
) -> ApiResult<(StatusCode, Json<Snapshot>)> {
    let id = parse_id(&id)?;
    validate_map("metadata", &req.metadata)?;
    let source = lifecycle::running(&state, &tenant, &id).await?;
    let snap_id = SnapshotId::random();
    let facts = match state.node.snapshot(&id, snap_id.clone()).await {
        Ok(f) => f,
        Err(e) => {
            let e = ApiError::from(e);
            if !state.node.is_alive(&id) {
                state
                    .store
                    .set_state(&id, MachineState::Failed, None, Some(&e.message))?;
            }
            return Err(e);
        }
    };
    let row = state.store.insert_snapshot(&NewSnapshot {
        id: snap_id,
        tenant_id: tenant.id.clone(),
        machine_id: id,
        template: source.template,
        cpu_count: source.cpu_count,
        memory_mb: source.memory_mb,
        metadata: req.metadata,
        envs: source.envs,
        cwd: source.cwd,
        size_bytes: facts.size_bytes,
        source_stall_ms: facts.stall_ms,
    })?;
    Ok((StatusCode::CREATED, Json(row.to_api())))
}

/// `GET /v1/snapshots/{id}`.
pub async fn get(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> ApiResult<Json<Snapshot>> {
    let id = parse_snapshot_id(&id)?;
    Ok(Json(load_snapshot(&state, &tenant, &id).await?.to_api()))
}

/// `GET /v1/snapshots`.
pub async fn list(
    State(state): State<AppState>,
    tenant: Tenant,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<SnapshotList>> {
    let mut f = SnapshotFilter {
        page: Page {
            limit: 100,
            ..Default::default()
        },
        ..Default::default()
    };
    for (k, v) in parse_query(query.as_deref().unwrap_or(""))? {
        match k.as_str() {
            "machine_id" => {
                f.machine_id = Some(v.parse().map_err(|_| {
                    ApiError::field("machine_id", format!("not a machine id: {v:?}"))
                })?)
            }
            _ => page_param(&mut f.page, &k, v)?,
        }
    }
    let t = tenant.id.clone();
    let limit = f.page.limit;
    let (rows, more) = state.store_call(move |s| s.list_snapshots(&t, &f)).await?;
    let next_cursor = next_cursor(more && rows.len() == limit, rows.last().map(|r| r.seq));
    Ok(Json(SnapshotList {
        snapshots: rows.iter().map(SnapshotRow::to_api).collect(),
        next_cursor,
    }))
}

/// `DELETE /v1/snapshots/{id}`: refused while a machine started from it exists.
pub async fn delete(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id = parse_snapshot_id(&id)?;
    load_snapshot(&state, &tenant, &id).await?;
    let users = state.store.snapshot_users(&id)?;
    if !users.is_empty() {
        let names: Vec<String> = users.iter().map(ToString::to_string).collect();
        return Err(ApiError::new(
            ErrorCode::SnapshotInUse,
            format!(
                "snapshot {id} is used by {}; kill them first",
                names.join(", ")
            ),
        ));
    }
    match state.node.delete_snapshot(&id).await {
        Ok(()) | Err(nullspace_host::RuntimeError::SnapshotNotFound(_)) => {}
        Err(e) => return Err(e.into()),
    }
    state.store.delete_snapshot(&id)?;
    Ok(StatusCode::NO_CONTENT)
}
