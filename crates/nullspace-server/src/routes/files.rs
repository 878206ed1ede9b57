//! `/v1/machines/{id}/files…`: read, write, batch write, list, exists, info,
//! mkdir, rename, chmod, remove.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use base64::Engine;
use nullspace_api::{
    ChmodRequest, EntryInfo, EntryType, ErrorCode, ExistsResponse, ListResponse, MkdirRequest,
    MkdirResponse, RenameRequest, WriteFilesRequest, WriteFilesResponse,
};
use nullspace_guest_proto::{EntryKind, Op, OpResult};
use nullspace_host::agent::WriteOptions;
use nullspace_types::MachineId;
use serde::Deserialize;

use super::commands::DEFAULT_USER;
use super::machines::parse_id;
use crate::auth::Tenant;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery};
use crate::state::AppState;

/// `?path=`.
#[derive(Debug, Deserialize)]
pub struct PathQuery {
    path: String,
}

/// `?path=&user=&mode=` of a write.
#[derive(Debug, Deserialize)]
pub struct WriteQuery {
    path: String,
    user: Option<String>,
    mode: Option<String>,
}

/// `?path=&depth=` of a list.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    path: String,
    depth: Option<u32>,
}

/// `?path=&recursive=` of a remove.
#[derive(Debug, Deserialize)]
pub struct RemoveQuery {
    path: String,
    recursive: Option<bool>,
}

fn check_path(field: &str, p: &str) -> ApiResult<String> {
    if p.is_empty() || p.len() > 4096 || p.contains('\0') {
        return Err(ApiError::field(
            field,
            "must be a non-empty path of at most 4096 bytes",
        ));
    }
    Ok(p.to_owned())
}

/// Parse octal permission bits (`"0644"`, `"755"`).
pub fn parse_mode(field: &str, m: &str) -> ApiResult<u32> {
    u32::from_str_radix(m.trim_start_matches("0o"), 8)
        .ok()
        .filter(|v| *v <= 0o7777)
        .ok_or_else(|| {
            ApiError::field(
                field,
                format!("expected octal permission bits like 0644, got {m:?}"),
            )
        })
}

/// `rwxr-xr-x` of permission bits.
fn permissions(mode: u32) -> String {
    (0..9)
        .map(|i| {
            let bit = 1 << (8 - i);
            if mode & bit == 0 {
                '-'
            } else {
                ['r', 'w', 'x'][i % 3]
            }
        })
        .collect()
}

/// The API view of a guest entry.
pub fn entry(e: nullspace_guest_proto::EntryInfo) -> EntryInfo {
    EntryInfo {
        name: e.name,
        path: e.path,
        kind: match e.kind {
            EntryKind::File => EntryType::File,
            EntryKind::Dir => EntryType::Dir,
            EntryKind::Symlink => EntryType::Symlink,
            EntryKind::Other => EntryType::Other,
        },
        size: e.size,
        mode: e.mode,
        permissions: permissions(e.mode),
        owner: e.owner,
        group: e.group,
        modified_time: crate::store::rfc3339(e.modified_ms.div_euclid(1000)),
        symlink_target: e.symlink_target,
    }
}

async fn op(state: &AppState, id: &MachineId, op: Op) -> ApiResult<OpResult> {
    state.node.file_op(id, op).await.map_err(ApiError::from)
}

fn unexpected(r: OpResult) -> ApiError {
    ApiError::new(
        ErrorCode::Internal,
        format!("unexpected guest answer {r:?}"),
    )
}

async fn running(state: &AppState, tenant: &Tenant, id: &str) -> ApiResult<MachineId> {
    let id = parse_id(id)?;
    crate::lifecycle::running(state, tenant, &id).await?;
    Ok(id)
}

/// `GET /files?path=`: the file's bytes.
pub async fn read(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<PathQuery>,
) -> ApiResult<impl IntoResponse> {
    let id = running(&state, &tenant, &id).await?;
    let data = state
        .node
        .read_file(&id, &check_path("path", &q.path)?)
        .await?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], data))
}

/// `PUT /files?path=`: write the body atomically.
pub async fn write(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<WriteQuery>,
    body: Bytes,
) -> ApiResult<Json<EntryInfo>> {
    let id = running(&state, &tenant, &id).await?;
    let opts = WriteOptions {
        mode: q
            .mode
            .as_deref()
            .map(|m| parse_mode("mode", m))
            .transpose()?,
        owner: Some(q.user.unwrap_or_else(|| DEFAULT_USER.into())),
        create_parents: true,
        ..Default::default()
    };
    let e = state
        .node
        .write_file(&id, &check_path("path", &q.path)?, body.to_vec(), opts)
        .await?;
    Ok(Json(entry(e)))
}

/// `POST /files/batch`: write several files in order.
pub async fn write_batch(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<WriteFilesRequest>,
) -> ApiResult<Json<WriteFilesResponse>> {
    let id = running(&state, &tenant, &id).await?;
    if req.files.is_empty() || req.files.len() > 1000 {
        return Err(ApiError::field("files", "give 1 to 1000 files"));
    }
    let mut decoded = Vec::with_capacity(req.files.len());
    for (i, f) in req.files.into_iter().enumerate() {
        let path = check_path(&format!("files[{i}].path"), &f.path)?;
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
    let owner = req.user.unwrap_or_else(|| DEFAULT_USER.into());
    let mut out = Vec::with_capacity(decoded.len());
    for (path, data) in decoded {
        let opts = WriteOptions {
            owner: Some(owner.clone()),
            create_parents: true,
            ..Default::default()
        };
        let e = state
            .node
            .write_file(&id, &path, data, opts)
            .await
            .map_err(|e| {
                let e = ApiError::from(e);
                ApiError::new(e.code, format!("{path}: {}", e.message))
            })?;
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
    let id = running(&state, &tenant, &id).await?;
    let depth = q.depth.unwrap_or(1);
    if !(1..=32).contains(&depth) {
        return Err(ApiError::field("depth", "must be from 1 to 32"));
    }
    let path = check_path("path", &q.path)?;
    match op(
        &state,
        &id,
        Op::List {
            user: None,
            path,
            root: None,
            depth,
        },
    )
    .await?
    {
        OpResult::Entries(e) => Ok(Json(ListResponse {
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
    let id = running(&state, &tenant, &id).await?;
    match op(
        &state,
        &id,
        Op::Exists {
            user: None,
            path: check_path("path", &q.path)?,
            root: None,
        },
    )
    .await?
    {
        OpResult::Exists(exists) => Ok(Json(ExistsResponse { exists })),
        r => Err(unexpected(r)),
    }
}

async fn stat(state: &AppState, id: &MachineId, path: String) -> ApiResult<EntryInfo> {
    match op(
        state,
        id,
        Op::Stat {
            path,
            root: None,
            user: None,
        },
    )
    .await?
    {
        OpResult::Entry(e) => Ok(entry(e)),
        r => Err(unexpected(r)),
    }
}

/// `GET /files/info?path=`.
pub async fn info(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<PathQuery>,
) -> ApiResult<Json<EntryInfo>> {
    let id = running(&state, &tenant, &id).await?;
    Ok(Json(stat(&state, &id, check_path("path", &q.path)?).await?))
}

/// `POST /files/mkdir`.
pub async fn mkdir(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<MkdirRequest>,
) -> ApiResult<Json<MkdirResponse>> {
    let id = running(&state, &tenant, &id).await?;
    let o = Op::Mkdir {
        user: None,
        path: check_path("path", &req.path)?,
        root: None,
        mode: None,
        owner: Some(req.user.unwrap_or_else(|| DEFAULT_USER.into())),
    };
    match op(&state, &id, o).await? {
        OpResult::Created(created) => Ok(Json(MkdirResponse { created })),
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
    let id = running(&state, &tenant, &id).await?;
    let o = Op::Rename {
        user: None,
        from: check_path("source", &req.source)?,
        to: check_path("destination", &req.destination)?,
        root: None,
    };
    match op(&state, &id, o).await? {
        OpResult::Entry(e) => Ok(Json(entry(e))),
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
    let id = running(&state, &tenant, &id).await?;
    let path = check_path("path", &req.path)?;
    let mode = parse_mode("mode", &req.mode)?;
    op(
        &state,
        &id,
        Op::Chmod {
            user: None,
            path: path.clone(),
            root: None,
            mode,
        },
    )
    .await?;
    Ok(Json(stat(&state, &id, path).await?))
}

/// `DELETE /files?path=&recursive=`.
pub async fn remove(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<RemoveQuery>,
) -> ApiResult<StatusCode> {
    let id = running(&state, &tenant, &id).await?;
    let o = Op::Remove {
        user: None,
        path: check_path("path", &q.path)?,
        root: None,
        recursive: q.recursive.unwrap_or(true),
    };
    op(&state, &id, o).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_and_permissions() {
        assert_eq!(parse_mode("mode", "0644").unwrap(), 0o644);
        assert_eq!(parse_mode("mode", "755").unwrap(), 0o755);
        assert!(parse_mode("mode", "999").is_err());
        assert!(parse_mode("mode", "77777").is_err());
        assert_eq!(permissions(0o754), "rwxr-xr--");
    }
}
