//! `/v1/machines/{id}/snapshots` and `/v1/snapshots`: reusable snapshots.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::Json;
use nullspace_api::{CreateSnapshotRequest, Snapshot, SnapshotList};

use crate::auth::Tenant;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJsonOrEmpty;
use crate::params;
use crate::services::lifecycle;
use crate::state::AppState;
use crate::store::{Page, SnapshotFilter, SnapshotRow};

/// `POST /v1/machines/{id}/snapshots`.
pub async fn create(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    ApiJsonOrEmpty(req): ApiJsonOrEmpty<CreateSnapshotRequest>,
) -> ApiResult<(StatusCode, Json<Snapshot>)> {
    let id = params::machine_id(&id)?;
    let row = lifecycle::snapshot(&state, &tenant, &id, req).await?;
    Ok((StatusCode::CREATED, Json(row.to_api())))
}

/// `GET /v1/snapshots/{id}`.
pub async fn get(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> ApiResult<Json<Snapshot>> {
    let id = params::snapshot_id(&id)?;
    Ok(Json(
        lifecycle::load_snapshot(&state, &tenant, &id)
            .await?
            .to_api(),
    ))
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
    for (k, v) in params::parse_query(query.as_deref().unwrap_or(""))? {
        match k.as_str() {
            "machine_id" => {
                f.machine_id = Some(v.parse().map_err(|_| {
                    ApiError::field("machine_id", format!("not a machine id: {v:?}"))
                })?)
            }
            _ => params::page_param(&mut f.page, &k, v)?,
        }
    }
    let t = tenant.id.clone();
    let limit = f.page.limit;
    let (rows, more) = state.store_call(move |s| s.list_snapshots(&t, &f)).await?;
    let next_cursor = params::next_cursor(more && rows.len() == limit, rows.last().map(|r| r.seq));
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
    let id = params::snapshot_id(&id)?;
    lifecycle::delete_snapshot(&state, &tenant, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
