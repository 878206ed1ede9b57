//! `/v1/machines/{id}/files/archive`: a directory in or out as a tar stream,
//! unpacked or packed inside the machine as the bytes flow (`spec/files.md`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::StreamExt;
use nullspace_api::{ArchiveResponse, Conflict};
use serde::Deserialize;

use crate::auth::Tenant;
use crate::error::ApiResult;
use crate::extract::ApiQuery;
use crate::node::ArchiveSpec;
use crate::params;
use crate::services;
use crate::state::AppState;
use crate::wire::{bounded_upload, running, too_large, user};

/// `?path=&user=` of an archive download.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchiveQuery {
    path: String,
    user: Option<String>,
}

/// `?path=&conflict=&user=` of an archive upload.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnpackQuery {
    path: String,
    conflict: Option<Conflict>,
    user: Option<String>,
}

/// `GET /files/archive?path=`: the directory's contents as a tar stream.
pub async fn download(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<ArchiveQuery>,
) -> ApiResult<Response> {
    let path = params::path("path", &q.path)?;
    let user = user(q.user)?;
    let id = running(&state, &tenant, &id).await?;
    let bytes = services::files::archive(&state, &id, path.clone(), user).await?;
    let body = Body::from_stream(bytes.map(move |chunk| {
        chunk.map_err(|e| {
            tracing::warn!(%path, error = %e.message, "archive download cut short");
            std::io::Error::other(e.message)
        })
    }));
    Ok(([(header::CONTENT_TYPE, "application/x-tar")], body).into_response())
}

/// `PUT /files/archive?path=&conflict=`: unpack the tar body into the directory.
pub async fn upload(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<UnpackQuery>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<ArchiveResponse>> {
    let max = state.settings.max_upload_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max) {
        return Err(too_large(max));
    }
    let spec = ArchiveSpec {
        path: params::path("path", &q.path)?,
        user: Some(user(q.user)?),
        conflict: q.conflict.unwrap_or_default(),
        source: None,
    };
    let id = running(&state, &tenant, &id).await?;
    let over = Arc::new(AtomicBool::new(false));
    let upload = bounded_upload(body, max, over.clone());
    match services::files::extract(&state, &id, spec, Some(upload)).await {
        Ok(facts) => Ok(Json(facts)),
        Err(_) if over.load(Ordering::SeqCst) => Err(too_large(max)),
        Err(e) => Err(e),
    }
}
