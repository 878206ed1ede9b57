//! `/v1/machines/{id}/ssh-access…`: certificates for the SSH relay
//! (`spec/ssh.md`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use nullspace_api::{CreateSshAccessRequest, SshAccess};

use crate::auth::Tenant;
use crate::error::ApiResult;
use crate::extract::ApiJson;
use crate::params::machine_id;
use crate::services::ssh::access;
use crate::state::AppState;

/// `POST /ssh-access`: a certificate for a public key.
pub async fn create(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<CreateSshAccessRequest>,
) -> ApiResult<(StatusCode, Json<SshAccess>)> {
    let id = machine_id(&id)?;
    let grant = access::create(&state, &tenant, &id, req).await?;
    Ok((StatusCode::CREATED, Json(grant)))
}

/// `DELETE /ssh-access/{access_id}`: revoke.
pub async fn revoke(
    State(state): State<AppState>,
    tenant: Tenant,
    Path((id, access_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let id = machine_id(&id)?;
    access::revoke(&state, &tenant, &id, &access_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
