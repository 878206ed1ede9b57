//! Preview tokens: `nspv1.{grant}.{scope}.{expires}.{signature}`, an HMAC-SHA256
//! of what the grant opens under the server's secret.

use crate::services::signed_urls::{hmac, same};

/// Version prefix of every preview token.
const PREFIX: &str = "nspv1";

/// What a token may be used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// A link: HTTP and WebSocket, from a URL, cookie or header.
    Url,
    /// A customer proxy's HTTP requests (header only).
    ProxyHttp,
    /// A customer proxy's WebSocket upgrades (header only).
    ProxyWs,
}

impl Scope {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Url => "url",
            Self::ProxyHttp => "proxy-http",
            Self::ProxyWs => "proxy-ws",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "url" => Some(Self::Url),
            "proxy-http" => Some(Self::ProxyHttp),
            "proxy-ws" => Some(Self::ProxyWs),
            _ => None,
        }
    }
}

/// The parts of a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// The grant (`pvg_…`).
    pub grant: String,
    /// What it is for.
    pub scope: Scope,
    /// End, Unix seconds.
    pub expires: i64,
    signature: String,
}

/// What a token's signature covers besides its own fields.
#[derive(Debug, Clone, Copy)]
pub struct Signed<'a> {
    /// Tenant that granted it.
    pub tenant: &'a str,
    /// The machine.
    pub machine: &'a str,
    /// The machine port.
    pub port: u16,
}

fn message(grant: &str, scope: Scope, expires: i64, on: Signed<'_>) -> Vec<u8> {
    format!(
        "nullspace-preview-v1\n{grant}\n{}\n{}\n{}\n{}\n{expires}",
        on.tenant,
        on.machine,
        on.port,
        scope.as_str()
    )
    .into_bytes()
}

/// A token for `grant` with `scope` until `expires`.
pub fn sign(key: &[u8; 32], grant: &str, scope: Scope, expires: i64, on: Signed<'_>) -> String {
    let mac = hex::encode(hmac(key, &message(grant, scope, expires, on)));
    format!("{PREFIX}.{grant}.{}.{expires}.{mac}", scope.as_str())
}

impl Token {
    /// Split a token into its parts (`None` if it is not one).
    pub fn parse(s: &str) -> Option<Self> {
        let mut parts = s.split('.');
        let (prefix, grant, scope, expires, signature) = (
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
        );
        if prefix != PREFIX || parts.next().is_some() || !grant.starts_with("pvg_") {
            return None;
        }
        Some(Self {
            grant: grant.to_owned(),
            scope: Scope::parse(scope)?,
            expires: expires.parse().ok()?,
            signature: signature.to_owned(),
        })
    }

    /// Whether the signature matches what it claims to open.
    pub fn verifies(&self, key: &[u8; 32], on: Signed<'_>) -> bool {
        let expected = hmac(key, &message(&self.grant, self.scope, self.expires, on));
        let given = hex::decode(&self.signature).unwrap_or_default();
        same(&given, &expected)
    }
}

/// `token` with its signature replaced by `***` (anything else unchanged).
pub fn redact(token: &str) -> String {
    match token.rsplit_once('.') {
        Some((head, _)) if token.starts_with("nspv1.") => format!("{head}.***"),
        _ => token.to_owned(),
    }
}

/// The private traffic token of machine `machine` of `tenant`.
pub fn traffic_token(key: &[u8; 32], tenant: &str, machine: &str) -> String {
    let mac = hmac(
        key,
        format!("nullspace-traffic-v1\n{tenant}\n{machine}").as_bytes(),
    );
    format!("nstt_{}", hex::encode(&mac[..24]))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ON: Signed<'static> = Signed {
        tenant: "t",
        machine: "sb_a",
        port: 8080,
    };

    #[test]
    fn tokens_verify_only_what_they_were_signed_for() {
        let key = [7u8; 32];
        let s = sign(&key, "pvg_x", Scope::Url, 100, ON);
        let t = Token::parse(&s).unwrap();
        assert_eq!(
            (t.grant.as_str(), t.scope, t.expires),
            ("pvg_x", Scope::Url, 100)
        );
        assert!(t.verifies(&key, ON));
        assert!(!t.verifies(&[8u8; 32], ON));
        assert!(!t.verifies(&key, Signed { port: 8081, ..ON }));
        assert!(!t.verifies(
            &key,
            Signed {
                machine: "sb_b",
                ..ON
            }
        ));
        assert!(!t.verifies(&key, Signed { tenant: "u", ..ON }));
        // Changing the end or the scope breaks the signature.
        let longer = s.replace(".100.", ".200.");
        assert!(!Token::parse(&longer).unwrap().verifies(&key, ON));
        let proxy = s.replace(".url.", ".proxy-http.");
        assert!(!Token::parse(&proxy).unwrap().verifies(&key, ON));
        for bad in [
            "",
            "nspv1",
            "nspv2.pvg_x.url.1.ab",
            "nspv1.x.url.1.ab",
            "nspv1.pvg_x.nope.1.ab",
            "nspv1.pvg_x.url.z.ab",
            "nspv1.pvg_x.url.1.ab.cd",
        ] {
            assert!(Token::parse(bad).is_none(), "{bad}");
        }
        assert_eq!(redact(&s), "nspv1.pvg_x.url.100.***");
        assert_eq!(redact("plain"), "plain");
        let tt = traffic_token(&key, "t", "sb_a");
        assert!(tt.starts_with("nstt_") && tt.len() == 53);
        assert_ne!(tt, traffic_token(&key, "t", "sb_b"));
    }
}
