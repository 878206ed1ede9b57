//! `/v1/templates…`: builds, their status and logs (polled, or streamed over a
//! WebSocket), versions, tags, contexts and the step cache (`spec/templates.md`).

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ws::{rejection::WebSocketUpgradeRejection, CloseFrame, Message};
use axum::extract::ws::{WebSocket, WebSocketUpgrade};
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use nullspace_api::{
    AssignTagsRequest, BuildLogMsg, BuildLogs, ErrorCode, PruneCacheResponse, Template,
    TemplateBuild, TemplateBuildRequest, TemplateList, TemplateTagList, CLOSE_INTERNAL,
    MAX_CONTEXT_BYTES,
};

use crate::auth::Tenant;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::params;
use crate::services::templates::follow::{Follower, Next};
use crate::services::templates::{self, build, contexts};
use crate::state::AppState;
use crate::wire::bounded_upload;

/// `POST /v1/templates/builds`: start a build.
pub async fn start_build(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiJson(req): ApiJson<TemplateBuildRequest>,
) -> ApiResult<(StatusCode, Json<TemplateBuild>)> {
    let b = build::start(&state, &tenant, req).await?;
    Ok((StatusCode::ACCEPTED, Json(b)))
}

/// A non-negative integer query parameter.
fn number(field: &str, v: &str) -> ApiResult<u64> {
    let trimmed = v.strip_suffix(".0").unwrap_or(v);
    trimmed
        .parse()
        .map_err(|_| ApiError::field(field, format!("must be a non-negative integer, got {v:?}")))
}

/// `GET /v1/templates/builds/{id}?logs_offset=N`.
pub async fn get_build(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<TemplateBuild>> {
    let mut offset = 0;
    for (k, v) in params::parse_query(query.as_deref().unwrap_or(""))? {
        match k.as_str() {
            "logs_offset" => offset = number("logs_offset", &v)?,
            _ => return Err(ApiError::field(&k, "unknown query parameter")),
        }
    }
    Ok(Json(build::get(&state, &tenant, &id, offset).await?))
}

/// `GET /v1/templates/builds/{id}/logs?offset=N&limit=M`.
pub async fn build_logs(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<BuildLogs>> {
    let (mut offset, mut limit) = (0, None);
    for (k, v) in params::parse_query(query.as_deref().unwrap_or(""))? {
        match k.as_str() {
            "offset" => offset = number("offset", &v)?,
            "limit" => limit = Some(number("limit", &v)?.min(u32::MAX as u64) as usize),
            _ => return Err(ApiError::field(&k, "unknown query parameter")),
        }
    }
    Ok(Json(
        build::logs(&state, &tenant, &id, offset, limit).await?,
    ))
}

/// `GET /v1/templates/builds/{id}/logs/stream?offset=N` (WebSocket): the entries
/// from `N` as they are written, then `done`. A request that is not an upgrade, a
/// bad offset or a build the tenant does not have is a plain JSON error.
pub async fn stream_build_logs(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    let mut offset = 0;
    for (k, v) in params::parse_query(query.as_deref().unwrap_or(""))? {
        match k.as_str() {
            "offset" => offset = number("offset", &v)?,
            _ => return Err(ApiError::field(&k, "unknown query parameter")),
        }
    }
    let ws = ws.map_err(|e| {
        ApiError::new(
            ErrorCode::BadRequest,
            format!("this route is a WebSocket: {e}"),
        )
    })?;
    let follower = Follower::open(&state, &tenant, &id, offset).await?;
    Ok(ws.on_upgrade(move |socket| send_build_logs(socket, follower)))
}

fn text(msg: &BuildLogMsg) -> Message {
    Message::Text(
        serde_json::to_string(msg)
            .expect("log messages serialise")
            .into(),
    )
}

/// Seconds between pings while a build is quiet (so that proxies keep the socket).
const PING_SECS: u64 = 30;

/// Send every entry, then `done` and close 1000 (or `error` and 4500); stop when
/// the client goes. Each send waits for the socket, so a slow client holds at
/// most one page of entries here.
async fn send_build_logs(mut socket: WebSocket, mut follower: Follower) {
    let every = std::time::Duration::from_secs(PING_SECS);
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    let (code, last) = loop {
        tokio::select! {
            next = follower.next() => match next {
                Ok(Next::Entries(entries)) => {
                    for e in entries {
                        if socket.send(text(&BuildLogMsg::Log(e))).await.is_err() {
                            return;
                        }
                    }
                }
                Ok(Next::Done { status, error }) => break (1000, BuildLogMsg::Done { status, error }),
                Err(e) => break (CLOSE_INTERNAL, BuildLogMsg::Error { code: e.code, message: e.message }),
            },
            incoming = socket.recv() => match incoming {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            },
            _ = ping.tick() => {
                if socket.send(Message::Ping(Default::default())).await.is_err() {
                    return;
                }
            }
        }
    };
    if socket.send(text(&last)).await.is_err() {
        return;
    }
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: "".into(),
        })))
        .await;
}

/// `GET /v1/templates`.
pub async fn list(State(state): State<AppState>, tenant: Tenant) -> ApiResult<Json<TemplateList>> {
    Ok(Json(TemplateList {
        templates: templates::list(&state, &tenant).await?,
    }))
}

/// `GET /v1/templates/{ref}`.
pub async fn get(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(r): Path<String>,
) -> ApiResult<Json<Template>> {
    Ok(Json(templates::get(&state, &tenant, &r).await?))
}

/// `DELETE /v1/templates/{ref}`.
pub async fn delete(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(r): Path<String>,
) -> ApiResult<StatusCode> {
    templates::delete(&state, &tenant, &r).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/templates/{name}/tags`.
pub async fn tags(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(r): Path<String>,
) -> ApiResult<Json<TemplateTagList>> {
    Ok(Json(TemplateTagList {
        tags: templates::tags(&state, &tenant, &r).await?,
    }))
}

/// `POST /v1/templates/{name}/tags`.
pub async fn assign_tags(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(r): Path<String>,
    ApiJson(req): ApiJson<AssignTagsRequest>,
) -> ApiResult<Json<TemplateTagList>> {
    let tags = templates::assign_tags(&state, &tenant, &r, req.tags, req.target).await?;
    Ok(Json(TemplateTagList { tags }))
}

/// `DELETE /v1/templates/{name}/tags/{tag}`.
pub async fn remove_tag(
    State(state): State<AppState>,
    tenant: Tenant,
    Path((r, tag)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    templates::remove_tag(&state, &tenant, &r, &tag).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /v1/templates/contexts/{sha256}`: a build context, kept once it hashes right.
pub async fn put_context(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(sha): Path<String>,
    body: Body,
) -> ApiResult<StatusCode> {
    contexts::check_sha("sha256", &sha)?;
    let over = Arc::new(AtomicBool::new(false));
    let upload = bounded_upload(body, MAX_CONTEXT_BYTES, over.clone());
    match contexts::put(&state, &tenant, &sha, upload).await {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(_) if over.load(std::sync::atomic::Ordering::SeqCst) => Err(ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("a build context is at most {MAX_CONTEXT_BYTES} bytes"),
        )),
        Err(e) => Err(e),
    }
}

/// `DELETE /v1/templates/cache`: cached steps no version uses.
pub async fn prune_cache(
    State(state): State<AppState>,
    tenant: Tenant,
) -> ApiResult<Json<PruneCacheResponse>> {
    let pruned = templates::prune(&state, &tenant).await?;
    contexts::clear(&state, &tenant).await;
    Ok(Json(pruned))
}
