//! Preview URLs (`spec/previews.md`): grants of access to a machine port, their
//! addresses, and the admission of proxied requests.

mod admit;
mod base;
mod tokens;

use nullspace_api::{
    ErrorCode, PreviewAuthMode, PreviewGrantError, PreviewGrantInfo, PreviewGrantKind,
    PreviewGrantState, PreviewProxyTarget, PreviewTransport, PreviewUrl, ProxyTargetHeaders,
    RevokePreviewGrantResponse, TokenTransport, DEFAULT_PREVIEW_SECS, MAX_PREVIEW_SECS,
    MIN_PREVIEW_SECS, PREVIEW_TOKEN_PARAM, PROXY_TOKEN_HEADER, TRAFFIC_TOKEN_HEADER,
};
use nullspace_types::{MachineId, PreviewGrantId};

use crate::auth::Tenant;
use crate::error::{ApiError, ApiResult};
use crate::services::{load, signed_urls};
use crate::state::AppState;
use crate::store::{self, MachineRow, PreviewGrantRow};

pub use admit::{admit, note_error, Admitted, Credentials};
pub use base::{parse_port, PreviewBase};
pub use tokens::{redact, Scope};

/// Headers a customer proxy should set.
const FORWARDED: [&str; 3] = ["x-forwarded-for", "x-forwarded-host", "x-forwarded-proto"];

/// Whether machine `row` takes preview traffic without a credential.
pub fn public(row: &MachineRow) -> bool {
    row.network.allow_public_traffic
}

fn auth_mode(row: &MachineRow) -> PreviewAuthMode {
    if public(row) {
        PreviewAuthMode::Public
    } else {
        PreviewAuthMode::Token
    }
}

fn check_port(port: u16) -> ApiResult<()> {
    if port == 0 {
        return Err(ApiError::new(
            ErrorCode::ValidationError,
            "port must be 1-65535",
        ));
    }
    Ok(())
}

fn lifetime(expires_in: Option<u64>) -> ApiResult<i64> {
    let secs = expires_in.unwrap_or(DEFAULT_PREVIEW_SECS);
    if !(MIN_PREVIEW_SECS..=MAX_PREVIEW_SECS).contains(&secs) {
        return Err(ApiError::new(
            ErrorCode::ValidationError,
            format!("expires_in_seconds must be {MIN_PREVIEW_SECS}-{MAX_PREVIEW_SECS}"),
        ));
    }
    Ok(secs as i64)
}

/// The machine's private traffic token, if it takes no public traffic.
pub async fn traffic_token(state: &AppState, row: &MachineRow) -> ApiResult<Option<String>> {
    if public(row) {
        return Ok(None);
    }
    let key = signed_urls::key(state).await?;
    Ok(Some(tokens::traffic_token(
        &key,
        &row.tenant_id,
        row.id.as_str(),
    )))
}

fn transports_of(row: &PreviewGrantRow) -> Vec<PreviewTransport> {
    row.transports
        .split(',')
        .filter_map(|t| match t {
            "http" => Some(PreviewTransport::Http),
            "websocket" => Some(PreviewTransport::Websocket),
            _ => None,
        })
        .collect()
}

/// The API view of grant `row` at `now` (its token shown only as a hint).
fn info(row: &PreviewGrantRow, now: i64) -> PreviewGrantInfo {
    let kind = if row.kind == "proxy" {
        PreviewGrantKind::Proxy
    } else {
        PreviewGrantKind::Url
    };
    let scope = if kind == PreviewGrantKind::Proxy {
        Scope::ProxyHttp
    } else {
        Scope::Url
    }
    .as_str();
    let (state, disabled) = match row.revoked_unix {
        Some(at) => (PreviewGrantState::Revoked, Some(at.min(row.expires_unix))),
        None if row.expires_unix <= now => (PreviewGrantState::Expired, Some(row.expires_unix)),
        None => (PreviewGrantState::Active, None),
    };
    PreviewGrantInfo {
        grant_id: row.id.clone(),
        machine_id: row.machine_id.clone(),
        port: row.port,
        kind,
        transports: transports_of(row),
        token_hint: format!("nspv1.{}.{scope}.{}.***", row.id, row.expires_unix),
        state,
        created_at: store::rfc3339(row.created_unix),
        expires_at: store::rfc3339(row.expires_unix),
        revoked_at: row.revoked_unix.map(store::rfc3339),
        disabled_at: disabled.map(store::rfc3339),
        request_count: row.request_count,
        websocket_count: row.websocket_count,
        denied_count: row.denied_count,
        last_used_at: row.last_used_unix.map(store::rfc3339),
        last_error: row
            .last_error
            .as_ref()
            .map(|(code, message, at)| PreviewGrantError {
                code: code.clone(),
                message: message.clone(),
                at: store::rfc3339(*at),
            }),
    }
}

/// A machine port's addresses, with `token` in them if given.
fn addresses(
    state: &AppState,
    row: &MachineRow,
    port: u16,
    token: Option<&str>,
) -> (String, String, String, String) {
    let base = &state.settings.preview;
    let host = base.host_of(&row.id, port);
    let query = token
        .map(|t| format!("?{PREVIEW_TOKEN_PARAM}={t}"))
        .unwrap_or_default();
    (
        format!("{}://{host}/{query}", base.scheme),
        format!("{}://{host}/{query}", base.ws_scheme()),
        format!("{}/preview/{}/{port}/{query}", base.origin(), row.id),
        host,
    )
}

/// `GET …/previews/{port}`: the unsigned addresses of machine port `port`.
pub async fn direct(
    state: &AppState,
    tenant: &Tenant,
    id: &MachineId,
    port: u16,
) -> ApiResult<PreviewUrl> {
    check_port(port)?;
    let row = load(state, tenant, id).await?;
    let (url, websocket_url, path_url, host) = addresses(state, &row, port, None);
    Ok(PreviewUrl {
        machine_id: row.id.to_string(),
        port,
        host,
        url,
        websocket_url,
        path_url,
        auth_mode: auth_mode(&row),
        token_transport: TokenTransport::None,
        token: None,
        expires_at: None,
        grant: None,
    })
}

/// Record a new grant of `kind` on machine port `port` for `secs` seconds.
async fn grant(
    state: &AppState,
    row: &MachineRow,
    port: u16,
    secs: i64,
    kind: &str,
    transports: &[PreviewTransport],
) -> ApiResult<PreviewGrantRow> {
    let (_, now) = store::now();
    let mut names: Vec<&str> = transports.iter().map(|t| t.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let g = PreviewGrantRow {
        id: PreviewGrantId::random().to_string(),
        tenant: row.tenant_id.clone(),
        machine_id: row.id.to_string(),
        port,
        kind: kind.into(),
        transports: names.join(","),
        created_unix: now,
        expires_unix: now + secs,
        revoked_unix: None,
        request_count: 0,
        websocket_count: 0,
        denied_count: 0,
        last_used_unix: None,
        last_error: None,
    };
    let stored = g.clone();
    state
        .store_call(move |s| s.insert_preview_grant(&stored))
        .await?;
    Ok(g)
}

async fn token_for(state: &AppState, g: &PreviewGrantRow, scope: Scope) -> ApiResult<String> {
    let key = signed_urls::key(state).await?;
    let on = tokens::Signed {
        tenant: &g.tenant,
        machine: &g.machine_id,
        port: g.port,
    };
    Ok(tokens::sign(&key, &g.id, scope, g.expires_unix, on))
}

/// `POST …/previews`: a signed link to machine port `port`.
pub async fn create(
    state: &AppState,
    tenant: &Tenant,
    id: &MachineId,
    port: u16,
    expires_in: Option<u64>,
) -> ApiResult<PreviewUrl> {
    check_port(port)?;
    let secs = lifetime(expires_in)?;
    let row = load(state, tenant, id).await?;
    let both = [PreviewTransport::Http, PreviewTransport::Websocket];
    let g = grant(state, &row, port, secs, "url", &both).await?;
    let token = token_for(state, &g, Scope::Url).await?;
    let (url, websocket_url, path_url, host) = addresses(state, &row, port, Some(&token));
    Ok(PreviewUrl {
        machine_id: row.id.to_string(),
        port,
        host,
        url,
        websocket_url,
        path_url,
        auth_mode: auth_mode(&row),
        token_transport: TokenTransport::Query,
        token: Some(token),
        expires_at: Some(store::rfc3339(g.expires_unix)),
        grant: Some(info(&g, g.created_unix)),
    })
}

/// `POST …/preview-proxy-targets`: header tokens for a customer-run proxy.
pub async fn proxy_target(
    state: &AppState,
    tenant: &Tenant,
    id: &MachineId,
    port: u16,
    transports: Option<Vec<PreviewTransport>>,
    expires_in: Option<u64>,
) -> ApiResult<PreviewProxyTarget> {
    check_port(port)?;
    let secs = lifetime(expires_in)?;
    let transports =
        transports.unwrap_or_else(|| vec![PreviewTransport::Http, PreviewTransport::Websocket]);
    if transports.is_empty() {
        return Err(ApiError::new(
            ErrorCode::ValidationError,
            "transports must name http, websocket or both",
        ));
    }
    let row = load(state, tenant, id).await?;
    let g = grant(state, &row, port, secs, "proxy", &transports).await?;
    let mut headers = ProxyTargetHeaders::default();
    for t in transports_of(&g) {
        let (scope, slot) = match t {
            PreviewTransport::Http => (Scope::ProxyHttp, &mut headers.http),
            PreviewTransport::Websocket => (Scope::ProxyWs, &mut headers.websocket),
        };
        let token = token_for(state, &g, scope).await?;
        *slot = Some([(PROXY_TOKEN_HEADER.to_owned(), token)].into());
    }
    let base = &state.settings.preview;
    let host = base.host_of(&row.id, port);
    Ok(PreviewProxyTarget {
        machine_id: row.id.to_string(),
        port,
        grant_id: g.id.clone(),
        transports: transports_of(&g),
        http_url: format!("{}://{host}", base.scheme),
        websocket_url: format!("{}://{host}", base.ws_scheme()),
        header_name: PROXY_TOKEN_HEADER.into(),
        headers,
        forwarded_headers: FORWARDED.map(str::to_owned).to_vec(),
        traffic_token_header: TRAFFIC_TOKEN_HEADER.into(),
        expires_at: store::rfc3339(g.expires_unix),
    })
}

/// `GET …/preview-grants`: the machine's grants, newest first.
pub async fn list(
    state: &AppState,
    tenant: &Tenant,
    id: &MachineId,
    port: Option<u16>,
) -> ApiResult<Vec<PreviewGrantInfo>> {
    if let Some(p) = port {
        check_port(p)?;
    }
    let row = load(state, tenant, id).await?;
    let machine = row.id.to_string();
    let rows = state
        .store_call(move |s| s.preview_grants(&machine, port))
        .await?;
    let (_, now) = store::now();
    Ok(rows.iter().map(|g| info(g, now)).collect())
}

/// `DELETE …/preview-grants/{grant}`: the grant stops working at once.
pub async fn revoke(
    state: &AppState,
    tenant: &Tenant,
    id: &MachineId,
    grant: &str,
) -> ApiResult<RevokePreviewGrantResponse> {
    let row = load(state, tenant, id).await?;
    let missing = || {
        ApiError::new(
            ErrorCode::PreviewGrantNotFound,
            format!("machine {id} has no preview grant {grant}"),
        )
    };
    let key = grant.to_owned();
    let found = state.store_call(move |s| s.preview_grant(&key)).await?;
    if !found.is_some_and(|g| g.machine_id == row.id.as_str() && g.tenant == tenant.id) {
        return Err(missing());
    }
    let (_, now) = store::now();
    let key = grant.to_owned();
    let revoked = state
        .store_call(move |s| s.revoke_preview_grant(&key, now))
        .await?
        .ok_or_else(missing)?;
    Ok(RevokePreviewGrantResponse {
        grant_id: revoked.id,
        revoked: true,
        revoked_at: store::rfc3339(revoked.revoked_unix.unwrap_or(now)),
    })
}
