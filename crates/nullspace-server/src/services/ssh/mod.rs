//! SSH access through a relay (`spec/ssh.md`). The server is its own SSH
//! certificate authority: `POST …/ssh-access` signs a short-lived OpenSSH user
//! certificate for the caller's public key (key id = the grant id, principal =
//! the machine id), and the relay — a russh server beside the HTTP listener —
//! takes nothing but such certificates. Every login and every new channel looks
//! the grant up in the store, so a revoked grant stops working at once however
//! long its certificate would still be valid. Channels become processes of the
//! machine's process table (exec, shell on a terminal, the sftp subsystem) or
//! connections to machine ports (`ssh -L`), all streamed, never buffered whole.

pub mod access;
pub mod ca;
mod forward;
pub mod relay;
mod session;

use std::sync::Arc;

pub use ca::Keys;

use crate::error::ApiResult;
use crate::state::AppState;

/// Default address the relay listens on.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:2222";

/// Where clients reach the relay (what grants advertise).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayAddress {
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
}

impl Default for RelayAddress {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 2222,
        }
    }
}

/// The CA and host key: read from the store once, then kept in the state.
pub async fn keys(state: &AppState) -> ApiResult<Arc<Keys>> {
    state
        .ssh_keys
        .get_or_try_init(|| state.store_call(|s| Keys::from_store(s).map(Arc::new)))
        .await
        .cloned()
}
