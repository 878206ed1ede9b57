//! API key authentication: `Authorization: Bearer ns_live_…` names a tenant.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use nullspace_api::ErrorCode;

use crate::error::ApiError;
use crate::state::AppState;

/// The tenant a request acts for.
#[derive(Debug, Clone)]
pub struct Tenant {
    /// Tenant id.
    pub id: String,
}

impl FromRequestParts<AppState> for Tenant {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::Unauthorized,
                    "missing API key: send Authorization: Bearer ns_live_…",
                )
            })?;
        let key = header
            .strip_prefix("Bearer ")
            .map(str::trim)
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::Unauthorized,
                    "Authorization must be `Bearer <API key>`",
                )
            })?;
        let key = key.to_owned();
        let found = state.store_call(move |s| s.find_key(&key)).await?;
        let record = found
            .ok_or_else(|| ApiError::new(ErrorCode::Unauthorized, "invalid or revoked API key"))?;
        state.limiter.check(&record.tenant_id)?;
        Ok(Tenant {
            id: record.tenant_id,
        })
    }
}
