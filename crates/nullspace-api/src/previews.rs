//! Preview URLs (`spec/previews.md`): direct links, signed grants, readiness and
//! targets for a customer-run proxy.

use serde::{Deserialize, Serialize};

/// Default life of a preview grant, seconds (1 h).
pub const DEFAULT_PREVIEW_SECS: u64 = 3600;
/// Shortest life of a preview grant, seconds.
pub const MIN_PREVIEW_SECS: u64 = 60;
/// Longest life of a preview grant, seconds (7 days).
pub const MAX_PREVIEW_SECS: u64 = 7 * 24 * 3600;
/// Query parameter (and cookie) carrying a preview token.
pub const PREVIEW_TOKEN_PARAM: &str = "nullspace_preview_token";
/// Header carrying a preview token.
pub const PREVIEW_TOKEN_HEADER: &str = "x-nullspace-preview-token";
/// Header carrying a preview proxy token (the only place one is accepted).
pub const PROXY_TOKEN_HEADER: &str = "x-nullspace-preview-proxy-token";
/// Header carrying a machine's private traffic token.
pub const TRAFFIC_TOKEN_HEADER: &str = "x-nullspace-traffic-access-token";

/// `POST /v1/machines/{id}/previews`: a signed link to a machine port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreatePreviewRequest {
    /// Machine port (1–65535).
    #[serde(deserialize_with = "crate::de::int")]
    pub port: u16,
    /// Life of the grant in seconds (60 – 604800, default 3600).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::de::some_int"
    )]
    pub expires_in_seconds: Option<u64>,
}

/// How a machine takes preview traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PreviewAuthMode {
    /// Anyone with the address.
    Public,
    /// Only requests with a credential.
    Token,
}

/// Where a preview URL's token travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenTransport {
    /// No token.
    None,
    /// In the `nullspace_preview_token` query parameter (then a cookie).
    Query,
}

/// What a grant is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PreviewGrantKind {
    /// A link for browsers and clients (token in the URL).
    Url,
    /// Header tokens for a customer-run proxy.
    Proxy,
}

/// Whether a grant works now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PreviewGrantState {
    /// It works.
    Active,
    /// Its time is over.
    Expired,
    /// It was revoked.
    Revoked,
}

/// A transport a grant opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PreviewTransport {
    /// Plain HTTP requests.
    Http,
    /// WebSocket upgrades.
    Websocket,
}

impl PreviewTransport {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Websocket => "websocket",
        }
    }
}

/// The last failure of a request a grant let through.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviewGrantError {
    /// Stable code.
    pub code: String,
    /// What happened.
    pub message: String,
    /// When (RFC 3339).
    pub at: String,
}

/// A preview grant as listed: never its token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviewGrantInfo {
    /// `pvg_…`.
    pub grant_id: String,
    /// The machine.
    pub machine_id: String,
    /// The machine port.
    pub port: u16,
    /// What it is for.
    pub kind: PreviewGrantKind,
    /// Transports it opens.
    pub transports: Vec<PreviewTransport>,
    /// The token with its signature redacted.
    pub token_hint: String,
    /// Whether it works now.
    pub state: PreviewGrantState,
    /// Creation (RFC 3339).
    pub created_at: String,
    /// End of validity (RFC 3339).
    pub expires_at: String,
    /// When it was revoked.
    pub revoked_at: Option<String>,
    /// When it stopped working (revoked or expired).
    pub disabled_at: Option<String>,
    /// Requests it let through.
    pub request_count: u64,
    /// WebSocket upgrades among them.
    pub websocket_count: u64,
    /// Requests refused with it.
    pub denied_count: u64,
    /// Last request it let through.
    pub last_used_at: Option<String>,
    /// Last failure of a request it let through.
    pub last_error: Option<PreviewGrantError>,
}

/// A machine port's preview addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviewUrl {
    /// The machine.
    pub machine_id: String,
    /// The machine port.
    pub port: u16,
    /// Host (and port) of the host form.
    pub host: String,
    /// HTTP address (host form), with the token if the link is signed.
    pub url: String,
    /// WebSocket address (host form), with the token if the link is signed.
    pub websocket_url: String,
    /// HTTP address of the path form, with the token if the link is signed.
    pub path_url: String,
    /// How the machine takes preview traffic.
    pub auth_mode: PreviewAuthMode,
    /// Where the token travels.
    pub token_transport: TokenTransport,
    /// The token of a signed link.
    pub token: Option<String>,
    /// End of a signed link (RFC 3339).
    pub expires_at: Option<String>,
    /// The grant of a signed link.
    pub grant: Option<PreviewGrantInfo>,
}

/// `GET /v1/machines/{id}/preview-grants`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviewGrantList {
    /// Newest first.
    pub grants: Vec<PreviewGrantInfo>,
}

/// `DELETE /v1/machines/{id}/preview-grants/{grant_id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokePreviewGrantResponse {
    /// The grant.
    pub grant_id: String,
    /// Always true.
    pub revoked: bool,
    /// When it was revoked (the first time).
    pub revoked_at: String,
}

/// `GET /v1/machines/{id}/previews/{port}/readiness`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviewReadiness {
    /// The machine.
    pub machine_id: String,
    /// The machine port.
    pub port: u16,
    /// The proxy can route to the machine (it runs, or wakes on traffic).
    pub route_ready: bool,
    /// An HTTP request to the port got an answer.
    pub service_ready: bool,
    /// Status of that answer.
    pub status: Option<u16>,
    /// Why it is not ready.
    pub error: Option<String>,
}

/// `POST /v1/machines/{id}/preview-proxy-targets`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateProxyTargetRequest {
    /// Machine port (1–65535).
    #[serde(deserialize_with = "crate::de::int")]
    pub port: u16,
    /// Transports to grant (default both).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::de::some"
    )]
    pub transports: Option<Vec<PreviewTransport>>,
    /// Life of the grant in seconds (60 – 604800, default 3600).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::de::some_int"
    )]
    pub expires_in_seconds: Option<u64>,
}

/// Header tokens of a proxy target, by transport.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxyTargetHeaders {
    /// Headers to send with HTTP requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<std::collections::BTreeMap<String, String>>,
    /// Headers to send with WebSocket upgrades.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub websocket: Option<std::collections::BTreeMap<String, String>>,
}

/// An upstream for a customer-run preview proxy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviewProxyTarget {
    /// The machine.
    pub machine_id: String,
    /// The machine port.
    pub port: u16,
    /// The grant behind the tokens.
    pub grant_id: String,
    /// Transports granted.
    pub transports: Vec<PreviewTransport>,
    /// HTTP upstream (no secret in it).
    pub http_url: String,
    /// WebSocket upstream (no secret in it).
    pub websocket_url: String,
    /// The header the tokens go in.
    pub header_name: String,
    /// Header tokens by transport.
    pub headers: ProxyTargetHeaders,
    /// Headers the proxy should set for the app to see the original request.
    pub forwarded_headers: Vec<String>,
    /// Header of the machine's private traffic token (an alternative credential).
    pub traffic_token_header: String,
    /// End of validity (RFC 3339).
    pub expires_at: String,
}
