//! `/v1/machines`: create, get, list, kill, timeout.

use std::time::Duration;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use nullspace_api::{
    CreateMachineRequest, ErrorCode, Machine, MachineList, SetTimeoutRequest, DEFAULT_TEMPLATE,
    DEFAULT_TIMEOUT_SECS, IDEMPOTENCY_HEADER, MAX_TIMEOUT_SECS,
};
use nullspace_types::{MachineId, MachineState};

use crate::auth::Tenant;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::state::AppState;
use crate::store::{ListFilter, MachineRow, NewMachine, Page};

/// How long a create with a reused idempotency key waits for the first one.
const IDEMPOTENT_WAIT: Duration = Duration::from_secs(120);

/// Parse a machine id from the path (404 for ids that cannot exist).
pub fn parse_id(raw: &str) -> ApiResult<MachineId> {
    raw.parse()
        .map_err(|_| ApiError::new(ErrorCode::NotFound, format!("machine {raw} not found")))
}

/// The tenant's machine `id`, or 404.
pub async fn load(state: &AppState, tenant: &Tenant, id: &MachineId) -> ApiResult<MachineRow> {
    let (t, i) = (tenant.id.clone(), id.clone());
    state
        .store_call(move |s| s.get_machine(&t, &i))
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("machine {id} not found")))
}

/// Check a timeout in seconds.
pub(crate) fn validate_timeout(field: &str, t: i64) -> ApiResult<i64> {
    if !(1..=MAX_TIMEOUT_SECS).contains(&t) {
        return Err(ApiError::field(
            field,
            format!("must be between 1 and {MAX_TIMEOUT_SECS} seconds, got {t}"),
        ));
    }
    Ok(t)
}

/// Check a metadata or envs map.
pub(crate) fn validate_map(
    field: &str,
    m: &std::collections::BTreeMap<String, String>,
) -> ApiResult<()> {
    if m.len() > 64 {
        return Err(ApiError::field(field, "at most 64 entries"));
    }
    for (k, v) in m {
        if k.is_empty() || k.len() > 128 || v.len() > 4096 {
            return Err(ApiError::field(
                field,
                format!("key {k:?}: keys are 1-128 bytes, values at most 4096"),
            ));
        }
    }
    Ok(())
}

/// `POST /v1/machines`.
pub async fn create(
    State(state): State<AppState>,
    tenant: Tenant,
    headers: HeaderMap,
    ApiJson(req): ApiJson<CreateMachineRequest>,
) -> ApiResult<(StatusCode, Json<Machine>)> {
    let snapshot = match &req.snapshot_id {
        Some(s) => Some(super::snapshots::load_snapshot(&state, &tenant, s).await?),
        None => None,
    };
    let template = match (&snapshot, &req.template) {
        (Some(s), Some(t)) if *t != s.template => {
            return Err(ApiError::field(
                "template",
                format!("snapshot {} is of template {}, got {t}", s.id, s.template),
            ))
        }
        (Some(s), _) => s.template.clone(),
        (None, t) => t.clone().unwrap_or_else(|| DEFAULT_TEMPLATE.to_owned()),
    };
    let shape = match &snapshot {
        Some(s) => crate::node::TemplateShape {
            cpu_count: s.cpu_count,
            memory_mb: s.memory_mb,
        },
        None => state.node.template(&template).ok_or_else(|| {
            ApiError::new(
                ErrorCode::NotFound,
                format!("template {template:?} not found"),
            )
        })?,
    };
    if let Some(c) = req.cpu_count.filter(|c| *c != shape.cpu_count) {
        return Err(ApiError::field(
            "cpu_count",
            format!("template {template} has {} vCPU, got {c}", shape.cpu_count),
        ));
    }
    if let Some(m) = req.memory_mb.filter(|m| *m != shape.memory_mb) {
        return Err(ApiError::field(
            "memory_mb",
            format!("template {template} has {} MiB, got {m}", shape.memory_mb),
        ));
    }
    let timeout = validate_timeout("timeout", req.timeout.unwrap_or(DEFAULT_TIMEOUT_SECS))?;
    validate_map("metadata", &req.metadata)?;
    validate_map("envs", &req.envs)?;
    let cwd = req
        .cwd
        .clone()
        .or_else(|| snapshot.as_ref().map(|s| s.cwd.clone()))
        .unwrap_or_else(|| "/workspace".into());
    // A machine from a snapshot keeps the source's environment unless overridden.
    let mut envs = snapshot
        .as_ref()
        .map(|s| s.envs.clone())
        .unwrap_or_default();
    envs.extend(req.envs.clone());
    if !cwd.starts_with('/') {
        return Err(ApiError::field("cwd", "must be an absolute path"));
    }
    if cwd == nullspace_guest_proto::RESERVED_DIR
        || cwd.starts_with(&format!("{}/", nullspace_guest_proto::RESERVED_DIR))
    {
        return Err(ApiError::new(
            ErrorCode::ReservedPath,
            "cwd: /workspace/.nullspace is reserved",
        ));
    }
    let header_key = headers
        .get(IDEMPOTENCY_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let idempotency_key = match (header_key, req.idempotency_key.clone()) {
        (Some(h), Some(b)) if h != b => {
            return Err(ApiError::field(
                "idempotency_key",
                "differs from the Idempotency-Key header",
            ))
        }
        (h, b) => h.or(b),
    };
    if idempotency_key
        .as_ref()
        .is_some_and(|k| k.is_empty() || k.len() > 256)
    {
        return Err(ApiError::field("idempotency_key", "must be 1-256 bytes"));
    }
    let new = NewMachine {
        tenant_id: tenant.id.clone(),
        template: template.clone(),
        cpu_count: shape.cpu_count,
        memory_mb: shape.memory_mb,
        metadata: req.metadata,
        envs,
        cwd,
        timeout_secs: timeout,
        idempotency_key,
        timeout_action: req.timeout_action.unwrap_or_default(),
        auto_resume: req.auto_resume.unwrap_or(false),
        snapshot_id: req.snapshot_id.clone(),
        forked_from: None,
    };
    let id = MachineId::random();
    let id2 = id.clone();
    let (row, fresh) = state
        .store_call(move |s| s.insert_machine(&id2, &new))
        .await?;
    if !fresh {
        let row = wait_started(&state, &tenant, &row.id).await?;
        return Ok((StatusCode::OK, Json(row.to_api())));
    }
    let created = match &req.snapshot_id {
        Some(snap) => state.node.create_from_snapshot(id.clone(), snap).await,
        None => state.node.create(id.clone(), &template).await,
    };
    match created {
        Ok(pid) => {
            state
                .store
                .set_state(&id, MachineState::Running, Some(pid), None)?;
            let row = load(&state, &tenant, &id).await?;
            Ok((StatusCode::CREATED, Json(row.to_api())))
        }
        Err(e) => {
            let err = ApiError::from(e);
            state
                .store
                .set_state(&id, MachineState::Failed, None, Some(&err.message))?;
            if err.code == ErrorCode::StateCorrupt {
                return Err(err);
            }
            Err(ApiError::new(
                if err.code == ErrorCode::Internal {
                    ErrorCode::Unavailable
                } else {
                    err.code
                },
                format!("machine could not be created: {}", err.message),
            ))
        }
    }
}

async fn wait_started(state: &AppState, tenant: &Tenant, id: &MachineId) -> ApiResult<MachineRow> {
    let deadline = tokio::time::Instant::now() + IDEMPOTENT_WAIT;
    loop {
        let row = load(state, tenant, id).await?;
        if row.state != MachineState::Starting || tokio::time::Instant::now() >= deadline {
            return Ok(row);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `GET /v1/machines/{id}`.
pub async fn get(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> ApiResult<Json<Machine>> {
    let id = parse_id(&id)?;
    Ok(Json(load(&state, &tenant, &id).await?.to_api()))
}

/// `GET /v1/machines`.
pub async fn list(
    State(state): State<AppState>,
    tenant: Tenant,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<MachineList>> {
    let mut f = ListFilter {
        page: Page {
            limit: 100,
            ..Default::default()
        },
        ..Default::default()
    };
    for (k, v) in parse_query(query.as_deref().unwrap_or(""))? {
        match k.as_str() {
            "state" => {
                f.state = Some(
                    serde_json::from_value(serde_json::Value::String(v.clone()))
                        .map_err(|_| ApiError::field("state", format!("unknown state {v:?}")))?,
                )
            }
            "template" => f.template = Some(v),
            _ => page_param(&mut f.page, &k, v)?,
        }
    }
    let t = tenant.id.clone();
    let limit = f.page.limit;
    let (rows, more) = state.store_call(move |s| s.list_machines(&t, &f)).await?;
    let next_cursor = next_cursor(more && rows.len() == limit, rows.last().map(|r| r.seq));
    Ok(Json(MachineList {
        machines: rows.iter().map(MachineRow::to_api).collect(),
        next_cursor,
    }))
}

/// Read a query parameter every list takes (`metadata=k=v`, `limit`, `cursor`);
/// any other is an error naming it.
pub(crate) fn page_param(page: &mut Page, k: &str, v: String) -> ApiResult<()> {
    match k {
        "metadata" => {
            let (mk, mv) = v.split_once('=').ok_or_else(|| {
                ApiError::field("metadata", format!("expected key=value, got {v:?}"))
            })?;
            page.metadata.push((mk.to_owned(), mv.to_owned()));
        }
        "limit" => {
            page.limit = v
                .parse()
                .ok()
                .filter(|n| (1..=1000).contains(n))
                .ok_or_else(|| ApiError::field("limit", "must be an integer from 1 to 1000"))?
        }
        "cursor" => {
            page.before_seq = Some(
                v.strip_prefix('c')
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| {
                        ApiError::field("cursor", "not a cursor returned by this API")
                    })?,
            )
        }
        other => return Err(ApiError::field(other, "unknown query parameter")),
    }
    Ok(())
}

/// The cursor of the next page, when more rows follow the last one.
pub(crate) fn next_cursor(more: bool, last_seq: Option<i64>) -> Option<String> {
    more.then(|| format!("c{}", last_seq.unwrap_or(0)))
}

/// Decode `a=b&c=d` (percent-decoding, `+` as space).
pub(crate) fn parse_query(q: &str) -> ApiResult<Vec<(String, String)>> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((decode(k)?, decode(v)?))
        })
        .collect()
}

fn decode(s: &str) -> ApiResult<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = s.get(i + 1..i + 3).ok_or_else(|| {
                    ApiError::new(ErrorCode::BadRequest, "bad percent-encoding in query")
                })?;
                out.push(u8::from_str_radix(hex, 16).map_err(|_| {
                    ApiError::new(ErrorCode::BadRequest, "bad percent-encoding in query")
                })?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| ApiError::new(ErrorCode::BadRequest, "query is not UTF-8"))
}

/// `DELETE /v1/machines/{id}`.
pub async fn kill(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id = parse_id(&id)?;
    let row = load(&state, &tenant, &id).await?;
    match row.state {
        MachineState::Killed => {
            return Err(ApiError::new(
                ErrorCode::MachineNotRunning,
                format!("machine {id} is already killed"),
            ))
        }
        MachineState::Killing => {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                format!("machine {id} is being killed"),
            ))
        }
        _ => {}
    }
    kill_machine(&state, &id, "killed by request").await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Kill a machine and record it; used by requests and by the timeout reaper.
pub async fn kill_machine(state: &AppState, id: &MachineId, note: &str) -> ApiResult<()> {
    state
        .store
        .set_state(id, MachineState::Killing, None, None)?;
    let result = match state.node.kill(id).await {
        // A machine the node no longer knows (it died and was released) is gone.
        Err(nullspace_host::RuntimeError::MachineNotFound(_)) => Ok(()),
        other => other,
    };
    state
        .store
        .set_state(id, MachineState::Killed, None, Some(note))?;
    result.map_err(ApiError::from)
}

/// `POST /v1/machines/{id}/timeout`.
pub async fn set_timeout(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<SetTimeoutRequest>,
) -> ApiResult<Json<Machine>> {
    let id = parse_id(&id)?;
    let row = load(&state, &tenant, &id).await?;
    if !matches!(row.state, MachineState::Running | MachineState::Paused) {
        return Err(ApiError::new(
            ErrorCode::MachineNotRunning,
            format!(
                "machine {id} is {}; only running or paused machines have a timeout",
                crate::store::state_str(row.state)
            ),
        ));
    }
    let t = validate_timeout("timeout", req.timeout)?;
    state.store.set_end(&id, t)?;
    if let Some(action) = req.action {
        state.store.set_timeout_action(&id, action)?;
    }
    Ok(Json(load(&state, &tenant, &id).await?.to_api()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_decoding() {
        let q = parse_query("metadata=team%3Deval&template=base&x=a+b").unwrap();
        assert_eq!(q[0], ("metadata".into(), "team=eval".into()));
        assert_eq!(q[2].1, "a b");
        assert!(parse_query("a=%zz").is_err());
        assert!(parse_query("a=%2").is_err());
    }
}
