//! `/v1/machines/{id}/files…`: read, write, batch write, list, exists, info,
//! mkdir, rename, chmod, remove. Every operation has the rights of a guest user
//! (`user`, default `user`; root must be named).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use futures_util::{stream, StreamExt};
use nullspace_api::{
    ChmodRequest, EntryInfo, ExistsResponse, FileUrl, FileUrlRequest, ListResponse, MkdirRequest,
    MkdirResponse, RenameRequest, WriteFilesRequest, WriteFilesResponse, DEFAULT_URL_SECS,
    MAX_URL_SECS,
};
use nullspace_types::MachineId;
use serde::Deserialize;

use crate::auth::Tenant;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery};
use crate::node::{FileAnswer, FileOp, FileRead, FileWrite, Upload};
use crate::params;
use crate::services;
use crate::services::files::{op, unexpected};
use crate::services::signed_urls::{self, Grant};
use crate::state::AppState;
use crate::wire::{bounded_upload, entry, running, too_large, user};

/// `?path=&user=` of most file routes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathQuery {
    path: String,
    user: Option<String>,
}

/// `?path=&user=&offset=&limit=` of a read.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadQuery {
    path: String,
    user: Option<String>,
    offset: Option<u64>,
    limit: Option<u64>,
}

/// `?path=&user=&mode=` of a write.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WriteQuery {
    path: String,
    user: Option<String>,
    mode: Option<String>,
}

/// `?path=&user=&depth=` of a list.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    path: String,
    user: Option<String>,
    depth: Option<u32>,
}

/// `?path=&user=&recursive=` of a remove.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoveQuery {
    path: String,
    user: Option<String>,
    recursive: Option<bool>,
}

/// `GET /files?path=&offset=&limit=`: the file's bytes as they are read, from
/// `offset` to its end or `limit` bytes. An error after the first bytes cuts the
/// body short (it ends without its last chunk), so it is never taken for whole.
pub async fn read(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<ReadQuery>,
) -> ApiResult<Response> {
    read_as(&state, &tenant, &id, q).await
}

/// A read of machine `id`'s file for `tenant`.
async fn read_as(state: &AppState, tenant: &Tenant, id: &str, q: ReadQuery) -> ApiResult<Response> {
    let read = FileRead {
        path: params::path("path", &q.path)?,
        user: Some(user(q.user)?),
        offset: q.offset.unwrap_or(0),
        limit: q.limit,
    };
    let id = running(state, tenant, id).await?;
    let path = read.path.clone();
    let bytes = services::files::read(state, &id, read).await?;
    let body = Body::from_stream(bytes.map(move |chunk| {
        chunk.map_err(|e| {
            tracing::warn!(%path, error = %e.message, "file read cut short");
            std::io::Error::other(e.message)
        })
    }));
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], body).into_response())
}

/// `PUT /files?path=`: write the body atomically, streamed to the guest.
pub async fn write(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<WriteQuery>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<EntryInfo>> {
    write_as(&state, &tenant, &id, q, &headers, body).await
}

/// A write of machine `id`'s file for `tenant`.
async fn write_as(
    state: &AppState,
    tenant: &Tenant,
    id: &str,
    q: WriteQuery,
    headers: &HeaderMap,
    body: Body,
) -> ApiResult<Json<EntryInfo>> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let max = state.settings.max_upload_bytes;
    if declared.is_some_and(|n| n > max) {
        return Err(too_large(max));
    }
    let write = FileWrite {
        path: params::path("path", &q.path)?,
        user: Some(user(q.user)?),
        mode: q
            .mode
            .as_deref()
            .map(|m| params::mode("mode", m))
            .transpose()?,
        owner: None,
        offset: None,
    };
    let id = running(state, tenant, id).await?;
    let over = Arc::new(AtomicBool::new(false));
    let upload = bounded_upload(body, max, over.clone());
    match services::files::write(state, &id, write, upload).await {
        Ok(e) => Ok(Json(entry(e))),
        Err(_) if over.load(Ordering::SeqCst) => Err(too_large(max)),
        Err(e) => Err(e),
    }
}

/// `POST /files/batch`: write several files in order.
pub async fn write_batch(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<WriteFilesRequest>,
) -> ApiResult<Json<WriteFilesResponse>> {
    if req.files.is_empty() || req.files.len() > 1000 {
        return Err(ApiError::field("files", "give 1 to 1000 files"));
    }
    let user = user(req.user)?;
    let mut decoded = Vec::with_capacity(req.files.len());
    for (i, f) in req.files.into_iter().enumerate() {
        let path = params::path(&format!("files[{i}].path"), &f.path)?;
        let data = match (f.content, f.content_base64) {
            (Some(text), None) => text.into_bytes(),
            (None, Some(b64)) => base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|e| ApiError::field(&format!("files[{i}].content_base64"), e))?,
            _ => {
                return Err(ApiError::field(
                    &format!("files[{i}]"),
                    "give exactly one of content or content_base64",
                ))
            }
        };
        decoded.push((path, data));
    }
    let id = running(&state, &tenant, &id).await?;
    let mut out = Vec::with_capacity(decoded.len());
    for (path, data) in decoded {
        let write = FileWrite {
            path: path.clone(),
            user: Some(user.clone()),
            ..Default::default()
        };
        let upload: Upload = Box::pin(stream::iter([Ok(Bytes::from(data))]));
        let e = services::files::write(&state, &id, write, upload)
            .await
            .map_err(|e| ApiError::new(e.code, format!("{path}: {}", e.message)))?;
        out.push(entry(e));
    }
    Ok(Json(WriteFilesResponse { files: out }))
}

/// `GET /files/list?path=&depth=`.
pub async fn list(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<ListResponse>> {
    let depth = q.depth.unwrap_or(1);
    if !(1..=32).contains(&depth) {
        return Err(ApiError::field("depth", "must be from 1 to 32"));
    }
    let o = FileOp::List {
        path: params::path("path", &q.path)?,
        depth,
        user: Some(user(q.user)?),
    };
    let id = running(&state, &tenant, &id).await?;
    match op(&state, &id, o).await? {
        FileAnswer::Entries(e) => Ok(Json(ListResponse {
            entries: e.into_iter().map(entry).collect(),
        })),
        r => Err(unexpected(r)),
    }
}

/// `GET /files/exists?path=`.
pub async fn exists(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<PathQuery>,
) -> ApiResult<Json<ExistsResponse>> {
    let o = FileOp::Exists {
        path: params::path("path", &q.path)?,
        user: Some(user(q.user)?),
    };
    let id = running(&state, &tenant, &id).await?;
    match op(&state, &id, o).await? {
        FileAnswer::Exists(exists) => Ok(Json(ExistsResponse { exists })),
        r => Err(unexpected(r)),
    }
}

async fn stat(
    state: &AppState,
    id: &MachineId,
    path: String,
    user: String,
) -> ApiResult<EntryInfo> {
    services::files::stat(state, id, path, user)
        .await
        .map(entry)
}

/// `GET /files/info?path=`.
pub async fn info(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<PathQuery>,
) -> ApiResult<Json<EntryInfo>> {
    let (path, user) = (params::path("path", &q.path)?, user(q.user)?);
    let id = running(&state, &tenant, &id).await?;
    Ok(Json(stat(&state, &id, path, user).await?))
}

/// `POST /files/mkdir`.
pub async fn mkdir(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<MkdirRequest>,
) -> ApiResult<Json<MkdirResponse>> {
    let o = FileOp::Mkdir {
        path: params::path("path", &req.path)?,
        mode: None,
        owner: None,
        user: Some(user(req.user)?),
    };
    let id = running(&state, &tenant, &id).await?;
    match op(&state, &id, o).await? {
        FileAnswer::Created(created) => Ok(Json(MkdirResponse { created })),
        r => Err(unexpected(r)),
    }
}

/// `POST /files/rename`.
pub async fn rename(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<RenameRequest>,
) -> ApiResult<Json<EntryInfo>> {
    let o = FileOp::Rename {
        from: params::path("source", &req.source)?,
        to: params::path("destination", &req.destination)?,
        user: Some(user(req.user)?),
    };
    let id = running(&state, &tenant, &id).await?;
    match op(&state, &id, o).await? {
        FileAnswer::Entry(e) => Ok(Json(entry(e))),
        r => Err(unexpected(r)),
    }
}

/// `POST /files/chmod`.
pub async fn chmod(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ChmodRequest>,
) -> ApiResult<Json<EntryInfo>> {
    let path = params::path("path", &req.path)?;
    let mode = params::mode("mode", &req.mode)?;
    let user = user(req.user)?;
    let id = running(&state, &tenant, &id).await?;
    let o = FileOp::Chmod {
        path: path.clone(),
        mode,
        user: Some(user.clone()),
    };
    op(&state, &id, o).await?;
    Ok(Json(stat(&state, &id, path, user).await?))
}

/// `DELETE /files?path=&recursive=`.
pub async fn remove(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<RemoveQuery>,
) -> ApiResult<StatusCode> {
    let o = FileOp::Remove {
        path: params::path("path", &q.path)?,
        recursive: q.recursive.unwrap_or(true),
        user: Some(user(q.user)?),
    };
    let id = running(&state, &tenant, &id).await?;
    op(&state, &id, o).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /files/download-url`: a signed URL that reads the file with no API key.
pub async fn download_url(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<FileUrlRequest>,
) -> ApiResult<Json<FileUrl>> {
    file_url(&state, &tenant, &id, &headers, req, "GET").await
}

/// `POST /files/upload-url`: a signed URL that writes the file with no API key.
pub async fn upload_url(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<FileUrlRequest>,
) -> ApiResult<Json<FileUrl>> {
    file_url(&state, &tenant, &id, &headers, req, "PUT").await
}

/// A signed URL for `method` on a file of running machine `id`, on the host the
/// request came to.
async fn file_url(
    state: &AppState,
    tenant: &Tenant,
    id: &str,
    headers: &HeaderMap,
    req: FileUrlRequest,
    method: &'static str,
) -> ApiResult<Json<FileUrl>> {
    let secs = req.expires_in.unwrap_or(DEFAULT_URL_SECS);
    if !(1..=MAX_URL_SECS).contains(&secs) {
        return Err(ApiError::field(
            "expires_in",
            format!("must be 1 to {MAX_URL_SECS} seconds"),
        ));
    }
    let path = params::path("path", &req.path)?;
    let user = user(req.user)?;
    let machine = running(state, tenant, id).await?;
    let grant = Grant {
        method,
        machine,
        tenant: tenant.id.clone(),
        user,
        path,
        expires: crate::store::now().1 + secs as i64,
    };
    let signature = signed_urls::sign(state, &grant).await?;
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .filter(|p| *p == "https")
        .unwrap_or("http");
    let url = format!(
        "{scheme}://{host}/v1/signed/files?machine={}&user={}&path={}&expires={}&signature={signature}",
        grant.machine,
        signed_urls::encode(&grant.user),
        signed_urls::encode(&grant.path),
        grant.expires,
    );
    Ok(Json(FileUrl {
        url,
        method: method.into(),
        path: grant.path,
        expires_at: crate::store::rfc3339(grant.expires),
    }))
}

/// `?machine=&user=&path=&expires=&signature=` of a signed file URL.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedQuery {
    machine: String,
    user: String,
    path: String,
    expires: i64,
    signature: String,
}

/// The tenant a signed URL acts for, once its signature and time check out.
async fn granted(state: &AppState, q: &SignedQuery, method: &'static str) -> ApiResult<Tenant> {
    let machine = params::machine_id(&q.machine)?;
    let m = machine.clone();
    let row = state.store_call(move |s| s.machine_by_id(&m)).await?;
    // A machine that is gone answers like a bad signature: the URL says nothing.
    let tenant = row.map(|r| r.tenant_id).unwrap_or_default();
    let grant = Grant {
        method,
        machine,
        tenant: tenant.clone(),
        user: q.user.clone(),
        path: q.path.clone(),
        expires: q.expires,
    };
    signed_urls::verify(state, &grant, &q.signature, crate::store::now().1).await?;
    Ok(Tenant { id: tenant })
}

/// `GET /v1/signed/files?…`: the file a download URL grants, streamed.
pub async fn signed_read(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<SignedQuery>,
) -> ApiResult<Response> {
    let tenant = granted(&state, &q, "GET").await?;
    let read = ReadQuery {
        path: q.path,
        user: Some(q.user),
        offset: None,
        limit: None,
    };
    read_as(&state, &tenant, &q.machine, read).await
}

/// `PUT /v1/signed/files?…`: write the file an upload URL grants.
pub async fn signed_write(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<SignedQuery>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<EntryInfo>> {
    let tenant = granted(&state, &q, "PUT").await?;
    let write = WriteQuery {
        path: q.path,
        user: Some(q.user),
        mode: None,
    };
    write_as(&state, &tenant, &q.machine, write, &headers, body).await
}
