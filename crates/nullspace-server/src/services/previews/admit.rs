//! Admission of a proxied request: its credential checked against the machine
//! port, then the machine running (woken if it auto-resumes).

use nullspace_api::ErrorCode;
use nullspace_types::MachineId;

use super::tokens::{self, Scope, Token};
use crate::auth::Tenant;
use crate::error::{ApiError, ApiResult};
use crate::services::{lifecycle, signed_urls};
use crate::state::AppState;
use crate::store::{self, GrantUse, MachineRow};

/// The credentials a request carries.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    /// From the `nullspace_preview_token` query parameter.
    pub query: Option<String>,
    /// From the `nullspace_preview_token` cookie.
    pub cookie: Option<String>,
    /// From the `x-nullspace-preview-token` header.
    pub header: Option<String>,
    /// From the `x-nullspace-preview-proxy-token` header.
    pub proxy: Option<String>,
    /// From the `x-nullspace-traffic-access-token` header.
    pub traffic: Option<String>,
}

/// A request let through.
#[derive(Debug, Clone)]
pub struct Admitted {
    /// The machine, running.
    pub row: MachineRow,
    /// The grant it came with, if any.
    pub grant: Option<String>,
    /// A token from the query, to keep in a cookie for the rest of the visit,
    /// with its end (Unix seconds).
    pub keep: Option<(String, i64)>,
}

fn refused(why: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::PreviewTokenInvalid, why)
}

/// Let a request for port `port` of machine `id` through, or say why not.
pub async fn admit(
    state: &AppState,
    id: &MachineId,
    port: u16,
    creds: &Credentials,
    websocket: bool,
) -> ApiResult<Admitted> {
    let key = id.clone();
    let row = state
        .store_call(move |s| s.machine_by_id(&key))
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("machine {id} not found")))?;
    let mut grant = None;
    let mut keep = None;
    if let Some(token) = &creds.proxy {
        let scope = if websocket {
            Scope::ProxyWs
        } else {
            Scope::ProxyHttp
        };
        grant = Some(check(state, &row, port, token, scope, websocket).await?);
    } else if let Some(token) = creds
        .header
        .as_ref()
        .or(creds.query.as_ref())
        .or(creds.cookie.as_ref())
    {
        let g = check(state, &row, port, token, Scope::Url, websocket).await?;
        if creds.header.is_none() && creds.query.as_deref() == Some(token.as_str()) {
            let end = Token::parse(token).map_or(0, |t| t.expires);
            keep = Some((token.clone(), end));
        }
        grant = Some(g);
    } else if let Some(given) = &creds.traffic {
        let expected = super::traffic_token(state, &row).await?;
        if expected.is_none_or(|e| !signed_urls::same(e.as_bytes(), given.as_bytes())) {
            return Err(refused(format!(
                "the traffic access token is not machine {id}'s"
            )));
        }
    } else if !super::public(&row) {
        return Err(ApiError::new(
            ErrorCode::PreviewTokenRequired,
            format!(
                "machine {id} takes no public traffic: open a signed preview URL, or send \
                 x-nullspace-preview-proxy-token or x-nullspace-traffic-access-token"
            ),
        ));
    }
    let tenant = Tenant {
        id: row.tenant_id.clone(),
    };
    let row = lifecycle::running(state, &tenant, id).await?;
    Ok(Admitted { row, grant, keep })
}

/// Check preview token `token` for `scope` on machine port `port`; counts the
/// use on its grant and answers the grant id.
async fn check(
    state: &AppState,
    row: &MachineRow,
    port: u16,
    token: &str,
    scope: Scope,
    websocket: bool,
) -> ApiResult<String> {
    let parsed = Token::parse(token).ok_or_else(|| refused("the preview token is malformed"))?;
    if parsed.scope != scope {
        return Err(refused(match parsed.scope {
            Scope::Url => "a preview link token is not accepted as a proxy token".to_owned(),
            Scope::ProxyHttp | Scope::ProxyWs if scope == Scope::Url => {
                "a preview proxy token is accepted only in x-nullspace-preview-proxy-token"
                    .to_owned()
            }
            _ => format!(
                "this proxy token is for {} only",
                if parsed.scope == Scope::ProxyWs {
                    "WebSocket upgrades"
                } else {
                    "HTTP requests"
                }
            ),
        }));
    }
    let key = parsed.grant.clone();
    let found = state.store_call(move |s| s.preview_grant(&key)).await?;
    let Some(g) = found.filter(|g| g.machine_id == row.id.as_str()) else {
        return Err(refused(format!(
            "the preview token is not for machine {}",
            row.id
        )));
    };
    let (_, now) = store::now();
    let grant_id = g.id.clone();
    let deny = |why: String| {
        let id = grant_id.clone();
        async move {
            let _ = state
                .store_call(move |s| s.count_preview_use(&id, GrantUse::Denied, now))
                .await;
            Err(refused(why))
        }
    };
    let secret = signed_urls::key(state).await?;
    let on = tokens::Signed {
        tenant: &g.tenant,
        machine: &g.machine_id,
        port: g.port,
    };
    if g.port != port {
        return deny(format!("grant {} is for port {}, not {port}", g.id, g.port)).await;
    }
    if parsed.expires != g.expires_unix || !parsed.verifies(&secret, on) {
        return deny(format!(
            "the signature of the token of grant {} does not match",
            g.id
        ))
        .await;
    }
    if let Some(at) = g.revoked_unix {
        return deny(format!(
            "grant {} was revoked at {}",
            g.id,
            store::rfc3339(at)
        ))
        .await;
    }
    if g.expires_unix <= now {
        return deny(format!(
            "grant {} expired at {}",
            g.id,
            store::rfc3339(g.expires_unix)
        ))
        .await;
    }
    let id = g.id.clone();
    state
        .store_call(move |s| s.count_preview_use(&id, GrantUse::Passed { websocket }, now))
        .await?;
    Ok(g.id.clone())
}

/// Note on grant `grant` the failure `err` of a request it let through.
pub async fn note_error(state: &AppState, grant: &str, err: &ApiError) {
    let (_, now) = store::now();
    let (id, code, message) = (grant.to_owned(), err.code.name(), err.message.clone());
    let _ = state
        .store_call(move |s| s.set_preview_error(&id, &code, &message, now))
        .await;
}
