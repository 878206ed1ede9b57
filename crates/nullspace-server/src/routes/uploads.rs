//! `/v1/machines/{id}/uploads…`: resumable upload sessions (`spec/files.md`).

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::StreamExt;
use nullspace_api::{
    CompleteUploadRequest, CompleteUploadResponse, CreateUploadRequest, ErrorCode, Upload,
    CHUNK_SHA256_HEADER, MAX_CHUNK_BYTES,
};

use crate::auth::Tenant;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::node::Upload as UploadBody;
use crate::services::uploads::{self, Completed};
use crate::state::AppState;
use crate::wire::{entry, running, user};

/// `POST /uploads`: start a session.
pub async fn create(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<CreateUploadRequest>,
) -> ApiResult<Response> {
    let who = user(req.user.clone())?;
    let id = running(&state, &tenant, &id).await?;
    let upload = uploads::create(&state, &tenant, &id, req, who).await?;
    Ok((StatusCode::CREATED, Json(upload)).into_response())
}

/// `GET /uploads/{upload_id}`.
pub async fn get(
    State(state): State<AppState>,
    tenant: Tenant,
    Path((id, upload)): Path<(String, String)>,
) -> ApiResult<Json<Upload>> {
    let id = running(&state, &tenant, &id).await?;
    Ok(Json(uploads::get(&state, &tenant, &id, &upload).await?))
}

/// `PUT /uploads/{upload_id}/chunks/{index}`: one chunk.
pub async fn chunk(
    State(state): State<AppState>,
    tenant: Tenant,
    Path((id, upload, index)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Upload>> {
    let index: u64 = index.parse().map_err(|_| {
        ApiError::new(
            ErrorCode::UploadChunkInvalid,
            format!("chunk index {index:?} is not a number"),
        )
    })?;
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_CHUNK_BYTES) {
        return Err(ApiError::new(
            ErrorCode::UploadTooLarge,
            format!("a chunk is at most {MAX_CHUNK_BYTES} bytes"),
        ));
    }
    let sha = headers
        .get(CHUNK_SHA256_HEADER)
        .map(|v| v.to_str().map(str::to_owned))
        .transpose()
        .map_err(|_| ApiError::field(CHUNK_SHA256_HEADER, "must be hexadecimal text"))?;
    let id = running(&state, &tenant, &id).await?;
    let stream: UploadBody = Box::pin(
        body.into_data_stream()
            .map(|c| c.map_err(|e| format!("reading the request body: {e}"))),
    );
    let u = uploads::chunk(&state, &tenant, &id, &upload, index, sha, stream).await?;
    Ok(Json(u))
}

/// `POST /uploads/{upload_id}/complete`.
pub async fn complete(
    State(state): State<AppState>,
    tenant: Tenant,
    Path((id, upload)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> ApiResult<Json<CompleteUploadResponse>> {
    // The body is optional: nothing, or `{"sha256": …}`.
    let req: CompleteUploadRequest = if body.is_empty() {
        CompleteUploadRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            let code = if e.is_data() {
                ErrorCode::ValidationError
            } else {
                ErrorCode::BadRequest
            };
            ApiError::new(code, format!("invalid body: {e}"))
        })?
    };
    let id = running(&state, &tenant, &id).await?;
    let (upload, done) = uploads::complete(&state, &tenant, &id, &upload, req).await?;
    let (entry, archive) = match done {
        Completed::File(e) => (Some(entry(e)), None),
        Completed::Archive(a) => (None, Some(a)),
    };
    Ok(Json(CompleteUploadResponse {
        upload,
        entry,
        archive,
    }))
}

/// `DELETE /uploads/{upload_id}`: abort.
pub async fn abort(
    State(state): State<AppState>,
    tenant: Tenant,
    Path((id, upload)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let id = running(&state, &tenant, &id).await?;
    uploads::abort(&state, &tenant, &id, &upload).await?;
    Ok(StatusCode::NO_CONTENT)
}
