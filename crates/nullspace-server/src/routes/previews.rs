//! `/v1/machines/{id}/previews…`, `…/preview-grants…`, `…/preview-proxy-targets`:
//! preview URLs and their grants (`spec/previews.md`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use nullspace_api::{
    CreatePreviewRequest, CreateProxyTargetRequest, PreviewGrantList, PreviewReadiness, PreviewUrl,
    RevokePreviewGrantResponse,
};
use serde::Deserialize;

use crate::auth::Tenant;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiQuery};
use crate::params::{machine_id, port};
use crate::services::previews;
use crate::state::AppState;

/// `GET /previews/{port}`: the port's addresses, unsigned.
pub async fn direct(
    State(state): State<AppState>,
    tenant: Tenant,
    Path((id, p)): Path<(String, String)>,
) -> ApiResult<Json<PreviewUrl>> {
    let id = machine_id(&id)?;
    Ok(Json(
        previews::direct(&state, &tenant, &id, port(&p)?).await?,
    ))
}

/// `POST /previews`: a signed link.
pub async fn create(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<CreatePreviewRequest>,
) -> ApiResult<Response> {
    let id = machine_id(&id)?;
    let url = previews::create(&state, &tenant, &id, req.port, req.expires_in_seconds).await?;
    Ok((StatusCode::CREATED, Json(url)).into_response())
}

/// `GET /previews/{port}/readiness`.
pub async fn readiness(
    State(state): State<AppState>,
    tenant: Tenant,
    Path((id, p)): Path<(String, String)>,
) -> ApiResult<Json<PreviewReadiness>> {
    let id = machine_id(&id)?;
    Ok(Json(
        crate::services::proxy::readiness(&state, &tenant, &id, port(&p)?).await?,
    ))
}

/// Query of the grant list.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantQuery {
    port: Option<String>,
}

/// `GET /preview-grants`.
pub async fn list(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<GrantQuery>,
) -> ApiResult<Json<PreviewGrantList>> {
    let id = machine_id(&id)?;
    let p = q.port.as_deref().map(port).transpose()?;
    Ok(Json(PreviewGrantList {
        grants: previews::list(&state, &tenant, &id, p).await?,
    }))
}

/// `DELETE /preview-grants/{grant_id}`.
pub async fn revoke(
    State(state): State<AppState>,
    tenant: Tenant,
    Path((id, grant)): Path<(String, String)>,
) -> ApiResult<Json<RevokePreviewGrantResponse>> {
    let id = machine_id(&id)?;
    Ok(Json(previews::revoke(&state, &tenant, &id, &grant).await?))
}

/// `POST /preview-proxy-targets`.
pub async fn proxy_target(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<CreateProxyTargetRequest>,
) -> ApiResult<Response> {
    let id = machine_id(&id)?;
    let target = previews::proxy_target(
        &state,
        &tenant,
        &id,
        req.port,
        req.transports,
        req.expires_in_seconds,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(target)).into_response())
}
