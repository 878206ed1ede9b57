//! Signed file URLs: single-purpose, expiring links to read or write one file of
//! one machine without an API key. A URL carries what it grants (machine, guest
//! user, path, method, end) and an HMAC-SHA256 of that and of the granting tenant,
//! under a secret kept with the server's state, so it survives restarts and no
//! part of it can be changed.

use nullspace_types::MachineId;
use sha2::{Digest, Sha256};

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use nullspace_api::ErrorCode;

/// Name of the signing secret in the store.
const SECRET: &str = "url_signing";
/// HMAC-SHA256 block size.
const BLOCK: usize = 64;

/// What a signed URL grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// `GET` (read) or `PUT` (write).
    pub method: &'static str,
    /// The machine.
    pub machine: MachineId,
    /// The tenant that owns it and granted the URL.
    pub tenant: String,
    /// Guest user whose rights the transfer has.
    pub user: String,
    /// Guest path.
    pub path: String,
    /// End of validity, Unix seconds.
    pub expires: i64,
}

impl Grant {
    /// The bytes the signature covers (fields cannot run into each other: none
    /// but the path may hold a newline, and the path comes last).
    fn message(&self) -> Vec<u8> {
        format!(
            "nullspace-file-url-v1\n{}\n{}\n{}\n{}\n{}\n{}",
            self.method, self.machine, self.tenant, self.user, self.expires, self.path
        )
        .into_bytes()
    }
}

/// HMAC-SHA256 of `message` under `key`.
pub(crate) fn hmac(key: &[u8; 32], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; BLOCK];
    block[..key.len()].copy_from_slice(key);
    let pad = |byte: u8| block.map(|b| b ^ byte);
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

/// Whether two byte strings are equal, in time that does not depend on where
/// they differ.
pub(crate) fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The signing secret: read from the store once, then kept in the state.
pub(crate) async fn key(state: &AppState) -> ApiResult<[u8; 32]> {
    state
        .url_key
        .get_or_try_init(|| state.store_call(|s| s.secret(SECRET)))
        .await
        .copied()
}

/// The signature of `grant`, hex.
pub async fn sign(state: &AppState, grant: &Grant) -> ApiResult<String> {
    Ok(hex::encode(hmac(&key(state).await?, &grant.message())))
}

/// Check `signature` for `grant` at `now` (Unix seconds): 401 when it does not
/// match or the grant has ended.
pub async fn verify(state: &AppState, grant: &Grant, signature: &str, now: i64) -> ApiResult<()> {
    let expected = hmac(&key(state).await?, &grant.message());
    let given = hex::decode(signature).unwrap_or_default();
    if !same(&given, &expected) {
        return Err(ApiError::new(
            ErrorCode::Unauthorized,
            "the URL's signature does not match what it grants (changed, or for another method)",
        ));
    }
    if grant.expires <= now {
        return Err(ApiError::new(
            ErrorCode::Unauthorized,
            format!(
                "the URL expired at {}",
                crate::store::rfc3339(grant.expires)
            ),
        ));
    }
    Ok(())
}

/// `s` percent-encoded for a query value (RFC 3986 unreserved bytes kept).
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_a_reference_and_compares_in_full() {
        // The value Python's `hmac.new(b"\x0b" * 32, b"Hi There", sha256)` gives.
        let key = [0x0b; 32];
        let mac = hex::encode(hmac(&key, b"Hi There"));
        assert_eq!(
            mac,
            "198a607eb44bfbc69903a0f1cf2bbdc5ba0aa3f3d9ae3c1c7a3b1696a0b68cf7"
        );
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd") && !same(b"abc", b"ab"));
        assert_eq!(encode("/a b/ü?&="), "%2Fa%20b%2F%C3%BC%3F%26%3D");
    }
}
