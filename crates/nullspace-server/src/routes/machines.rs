//! `/v1/machines`: create, get, list, kill, timeout.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use nullspace_api::{
    CreateMachineRequest, KillResponse, Machine, MachineList, SetTimeoutRequest, IDEMPOTENCY_HEADER,
};

use crate::auth::Tenant;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::params;
use crate::services::{self, machines::Created};
use crate::state::AppState;
use crate::store::{ListFilter, MachineRow, Page};

/// `POST /v1/machines`.
pub async fn create(
    State(state): State<AppState>,
    tenant: Tenant,
    headers: HeaderMap,
    ApiJson(req): ApiJson<CreateMachineRequest>,
) -> ApiResult<(StatusCode, Json<Machine>)> {
    let key = match headers.get(IDEMPOTENCY_HEADER) {
        None => None,
        Some(v) => Some(
            v.to_str()
                .map_err(|_| ApiError::field("Idempotency-Key", "must be visible ASCII"))?
                .to_owned(),
        ),
    };
    let (status, row) = match services::machines::create(&state, &tenant, req, key).await? {
        Created::New(row) => (StatusCode::CREATED, row),
        Created::Existing(row) => (StatusCode::OK, row),
    };
    Ok((status, Json(with_token(&state, &row).await?)))
}

/// The API view of `row` with its traffic access token (if it takes no public
/// preview traffic): what create and get answer.
async fn with_token(state: &AppState, row: &MachineRow) -> ApiResult<Machine> {
    let mut m = row.to_api();
    m.traffic_access_token = services::previews::traffic_token(state, row).await?;
    Ok(m)
}

/// `GET /v1/machines/{id}`.
pub async fn get(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> ApiResult<Json<Machine>> {
    let id = params::machine_id(&id)?;
    let row = services::load(&state, &tenant, &id).await?;
    Ok(Json(with_token(&state, &row).await?))
}

/// `GET /v1/machines`: live machines unless `state` asks for others.
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
    for (k, v) in params::parse_query(query.as_deref().unwrap_or(""))? {
        match k.as_str() {
            "state" => params::states(&v, &mut f.states)?,
            "template" => {
                params::text("template", &v, 4096)?;
                f.template = Some(v)
            }
            _ => params::page_param(&mut f.page, &k, v)?,
        }
    }
    let limit = f.page.limit;
    let (rows, more) = services::machines::list(&state, &tenant, f).await?;
    let next_cursor = params::next_cursor(more && rows.len() == limit, rows.last().map(|r| r.seq));
    Ok(Json(MachineList {
        machines: rows.iter().map(MachineRow::to_api).collect(),
        next_cursor,
    }))
}

/// `DELETE /v1/machines/{id}`.
pub async fn kill(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> ApiResult<Json<KillResponse>> {
    let id = params::machine_id(&id)?;
    Ok(Json(services::machines::kill(&state, &tenant, &id).await?))
}

/// `POST /v1/machines/{id}/timeout`.
pub async fn set_timeout(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<SetTimeoutRequest>,
) -> ApiResult<Json<Machine>> {
    let id = params::machine_id(&id)?;
    let row = services::machines::set_timeout(&state, &tenant, &id, req).await?;
    Ok(Json(row.to_api()))
}
