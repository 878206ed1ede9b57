//! `/v1/machines/{id}/git/…`: git in a machine, one route per operation (all
//! `POST`, JSON in and out); the work is in [`services::git`].

use axum::extract::{Path, State};
use axum::Json;
use nullspace_api::{
    GitAddRequest, GitBranchCreateRequest, GitBranchDeleteRequest, GitBranchList,
    GitCheckoutRequest, GitCloneRequest, GitCommitRequest, GitCommitResult, GitConfigGetRequest,
    GitConfigSetRequest, GitConfigValue, GitDiff, GitDiffRequest, GitFetchRequest, GitFetchResult,
    GitInitRequest, GitLog, GitLogRequest, GitPullRequest, GitPushRequest, GitPushResult,
    GitRemoteList, GitRemoteRemoveRequest, GitRemoteRequest, GitRepoRequest, GitRepoState,
    GitStatus,
};

use crate::auth::Tenant;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiJsonOrEmpty};
use crate::params;
use crate::services::git;
use crate::state::AppState;

/// `POST /v1/machines/{id}/git/clone`.
pub async fn clone(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<GitCloneRequest>,
) -> ApiResult<Json<GitRepoState>> {
    let id = params::machine_id(&id)?;
    Ok(Json(git::clone(&state, &tenant, &id, req).await?))
}

/// `POST /v1/machines/{id}/git/init`.
pub async fn init(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    ApiJsonOrEmpty(req): ApiJsonOrEmpty<GitInitRequest>,
) -> ApiResult<Json<GitRepoState>> {
    let id = params::machine_id(&id)?;
    Ok(Json(git::init(&state, &tenant, &id, req).await?))
}

/// `POST /v1/machines/{id}/git/status`.
pub async fn status(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    ApiJsonOrEmpty(req): ApiJsonOrEmpty<GitRepoRequest>,
) -> ApiResult<Json<GitStatus>> {
    let id = params::machine_id(&id)?;
    Ok(Json(git::status(&state, &tenant, &id, req).await?))
}

/// `POST /v1/machines/{id}/git/log`.
pub async fn log(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    ApiJsonOrEmpty(req): ApiJsonOrEmpty<GitLogRequest>,
) -> ApiResult<Json<GitLog>> {
    let id = params::machine_id(&id)?;
    Ok(Json(git::log(&state, &tenant, &id, req).await?))
}

/// `POST /v1/machines/{id}/git/diff`.
pub async fn diff(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    ApiJsonOrEmpty(req): ApiJsonOrEmpty<GitDiffRequest>,
) -> ApiResult<Json<GitDiff>> {
    let id = params::machine_id(&id)?;
    Ok(Json(git::diff(&state, &tenant, &id, req).await?))
}

/// `POST /v1/machines/{id}/git/add`.
pub async fn add(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    ApiJsonOrEmpty(req): ApiJsonOrEmpty<GitAddRequest>,
) -> ApiResult<Json<GitStatus>> {
    let id = params::machine_id(&id)?;
    Ok(Json(git::add(&state, &tenant, &id, req).await?))
}

/// `POST /v1/machines/{id}/git/commit`.
pub async fn commit(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<GitCommitRequest>,
) -> ApiResult<Json<GitCommitResult>> {
    let id = params::machine_id(&id)?;
    Ok(Json(git::commit(&state, &tenant, &id, req).await?))
}

/// `POST /v1/machines/{id}/git/checkout`.
pub async fn checkout(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<GitCheckoutRequest>,
) -> ApiResult<Json<GitRepoState>> {
    let id = params::machine_id(&id)?;
    Ok(Json(git::checkout(&state, &tenant, &id, req).await?))
}

/// `POST /v1/machines/{id}/git/branch/list`.
pub async fn branches(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    ApiJsonOrEmpty(req): ApiJsonOrEmpty<GitRepoRequest>,
) -> ApiResult<Json<GitBranchList>> {
    let id = params::machine_id(&id)?;
    Ok(Json(git::branches(&state, &tenant, &id, req).await?))
}

/// `POST /v1/machines/{id}/git/branch/create`.
pub async fn branch_create(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<GitBranchCreateRequest>,
) -> ApiResult<Json<GitBranchList>> {
    let id = params::machine_id(&id)?;
    Ok(Json(git::branch_create(&state, &tenant, &id, req).await?))
}

/// `POST /v1/machines/{id}/git/branch/delete`.
pub async fn branch_delete(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<GitBranchDeleteRequest>,
) -> ApiResult<Json<GitBranchList>> {
    let id = params::machine_id(&id)?;
    Ok(Json(git::branch_delete(&state, &tenant, &id, req).await?))
}

/// `POST /v1/machines/{id}/git/pull`.
pub async fn pull(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    ApiJsonOrEmpty(req): ApiJsonOrEmpty<GitPullRequest>,
) -> ApiResult<Json<GitRepoState>> {
    let id = params::machine_id(&id)?;
    Ok(Json(git::pull(&state, &tenant, &id, req).await?))
}

/// `POST /v1/machines/{id}/git/push`.
pub async fn push(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    ApiJsonOrEmpty(req): ApiJsonOrEmpty<GitPushRequest>,
) -> ApiResult<Json<GitPushResult>> {
    let id = params::machine_id(&id)?;
    Ok(Json(git::push(&state, &tenant, &id, req).await?))
}

/// `POST /v1/machines/{id}/git/fetch`.
pub async fn fetch(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    ApiJsonOrEmpty(req): ApiJsonOrEmpty<GitFetchRequest>,
) -> ApiResult<Json<GitFetchResult>> {
    let id = params::machine_id(&id)?;
    Ok(Json(git::fetch(&state, &tenant, &id, req).await?))
}

/// `POST /v1/machines/{id}/git/remote/list`.
pub async fn remotes(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    ApiJsonOrEmpty(req): ApiJsonOrEmpty<GitRepoRequest>,
) -> ApiResult<Json<GitRemoteList>> {
    let id = params::machine_id(&id)?;
    Ok(Json(git::remotes(&state, &tenant, &id, req).await?))
}

/// `POST /v1/machines/{id}/git/remote/add`.
pub async fn remote_add(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<GitRemoteRequest>,
) -> ApiResult<Json<GitRemoteList>> {
    let id = params::machine_id(&id)?;
    Ok(Json(
        git::remote_set(&state, &tenant, &id, req, false).await?,
    ))
}

/// `POST /v1/machines/{id}/git/remote/set-url`.
pub async fn remote_set_url(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<GitRemoteRequest>,
) -> ApiResult<Json<GitRemoteList>> {
    let id = params::machine_id(&id)?;
    Ok(Json(
        git::remote_set(&state, &tenant, &id, req, true).await?,
    ))
}

/// `POST /v1/machines/{id}/git/remote/remove`.
pub async fn remote_remove(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<GitRemoteRemoveRequest>,
) -> ApiResult<Json<GitRemoteList>> {
    let id = params::machine_id(&id)?;
    Ok(Json(git::remote_remove(&state, &tenant, &id, req).await?))
}

/// `POST /v1/machines/{id}/git/config/get`.
pub async fn config_get(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<GitConfigGetRequest>,
) -> ApiResult<Json<GitConfigValue>> {
    let id = params::machine_id(&id)?;
    Ok(Json(git::config_get(&state, &tenant, &id, req).await?))
}

/// `POST /v1/machines/{id}/git/config/set`.
pub async fn config_set(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<GitConfigSetRequest>,
) -> ApiResult<Json<GitConfigValue>> {
    let id = params::machine_id(&id)?;
    Ok(Json(git::config_set(&state, &tenant, &id, req).await?))
}
