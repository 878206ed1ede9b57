//! The SSH certificate authority and the relay's host key: two ed25519 keys
//! whose seeds are secrets of the store, so they are made on first start and
//! survive restarts like the URL signing secret. The CA signs short-lived user
//! certificates; [`Keys::check`] is the relay's test of one, before the store
//! is asked whether its grant still stands.

use russh::keys::ssh_key::certificate::{Builder, CertType};
use russh::keys::ssh_key::private::Ed25519Keypair;
use russh::keys::ssh_key::{Fingerprint, PublicKey};
use russh::keys::{Certificate, HashAlg, PrivateKey};

/// Name of the CA key's seed in the store.
const CA_SECRET: &str = "ssh_ca_ed25519";
/// Name of the host key's seed in the store.
const HOST_SECRET: &str = "ssh_host_ed25519";
/// Seconds a certificate is valid before its grant was made (clock skew).
pub const BACKDATE_SECS: i64 = 60;

/// The relay's keys.
pub struct Keys {
    ca: PrivateKey,
    host: PrivateKey,
    ca_fingerprint: Fingerprint,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("ca", &self.ca_fingerprint)
            .finish_non_exhaustive()
    }
}

/// What a certificate is issued for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue<'a> {
    /// The user's public key.
    pub key: &'a PublicKey,
    /// The grant id (the certificate's key id).
    pub access_id: &'a str,
    /// The machine id (the only principal).
    pub machine: &'a str,
    /// Start of validity, Unix seconds.
    pub valid_after: i64,
    /// End of validity, Unix seconds.
    pub valid_before: i64,
}

/// Why a certificate is refused before the store is asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertRefusal {
    /// Not signed by this CA, a bad signature, or outside its validity window.
    #[error("not signed by this relay's CA or not valid now")]
    Untrusted,
    /// A host certificate.
    #[error("not a user certificate")]
    NotUser,
    /// The login name is not among its principals.
    #[error("not valid for user {0}")]
    Principal(String),
    /// It carries critical options this relay does not know.
    #[error("unknown critical options")]
    CriticalOptions,
}

/// Why a certificate could not be made.
#[derive(Debug, thiserror::Error)]
#[error("signing the SSH certificate: {0}")]
pub struct SignError(#[from] russh::keys::ssh_key::Error);

impl Keys {
    /// Keys from the two 32-byte seeds.
    pub fn from_seeds(ca: &[u8; 32], host: &[u8; 32]) -> Self {
        let ca = PrivateKey::from(Ed25519Keypair::from_seed(ca));
        let host = PrivateKey::from(Ed25519Keypair::from_seed(host));
        let ca_fingerprint = ca.public_key().fingerprint(HashAlg::Sha256);
        Self {
            ca,
            host,
            ca_fingerprint,
        }
    }

    /// The keys kept in `store` (made on first use).
    pub fn from_store(store: &crate::store::Store) -> Result<Self, crate::store::StoreError> {
        Ok(Self::from_seeds(
            &store.secret(CA_SECRET)?,
            &store.secret(HOST_SECRET)?,
        ))
    }

    /// The host key the relay proves itself with.
    pub fn host(&self) -> &PrivateKey {
        &self.host
    }

    /// The host public key as an OpenSSH line (`ssh-ed25519 AAAA…`).
    pub fn host_public(&self) -> String {
        openssh_line(self.host.public_key())
    }

    /// The CA public key as an OpenSSH line (for `@cert-authority` or audits).
    pub fn ca_public(&self) -> String {
        openssh_line(self.ca.public_key())
    }

    /// A user certificate for `issue`, signed by the CA.
    pub fn sign(&self, issue: &Issue<'_>) -> Result<Certificate, SignError> {
        let mut nonce = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut nonce);
        let mut b = Builder::new(
            nonce.to_vec(),
            issue.key.key_data().clone(),
            issue.valid_after.max(0) as u64,
            issue.valid_before.max(0) as u64,
        )?;
        b.cert_type(CertType::User)?
            .key_id(issue.access_id)?
            .valid_principal(issue.machine)?
            .comment(issue.access_id)?;
        // What the relay serves: terminals and local forwards (no agent, no X11).
        for ext in ["permit-pty", "permit-port-forwarding"] {
            b.extension(ext, "")?;
        }
        Ok(b.sign(&self.ca)?)
    }

    /// Whether `cert` is a user certificate of this CA, valid at `now` (Unix
    /// seconds) for login name `user`.
    pub fn check(&self, cert: &Certificate, user: &str, now: u64) -> Result<(), CertRefusal> {
        cert.validate_at(now, [&self.ca_fingerprint])
            .map_err(|_| CertRefusal::Untrusted)?;
        if cert.cert_type() != CertType::User {
            return Err(CertRefusal::NotUser);
        }
        if !cert.valid_principals().iter().any(|p| p == user) {
            return Err(CertRefusal::Principal(user.to_owned()));
        }
        if !cert.critical_options().is_empty() {
            return Err(CertRefusal::CriticalOptions);
        }
        Ok(())
    }
}

/// SHA-256 fingerprint of a public key, `SHA256:…`.
pub fn fingerprint(key: &russh::keys::ssh_key::public::KeyData) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// A public key as `algorithm base64`, without a comment.
fn openssh_line(key: &PublicKey) -> String {
    let mut key = key.clone();
    key.set_comment("");
    key.to_openssh()
        .map(|s| s.trim_end().to_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(seed: u8) -> Keys {
        Keys::from_seeds(&[seed; 32], &[seed.wrapping_add(1); 32])
    }

    fn user_key() -> PublicKey {
        PrivateKey::from(Ed25519Keypair::from_seed(&[9; 32]))
            .public_key()
            .clone()
    }

    fn issue(key: &PublicKey) -> Issue<'_> {
        Issue {
            key,
            access_id: "ssha_a",
            machine: "sb_m",
            valid_after: 1000,
            valid_before: 2000,
        }
    }

    #[test]
    fn a_certificate_is_valid_only_for_its_machine_window_and_ca() {
        let k = keys(1);
        let key = user_key();
        let cert = k.sign(&issue(&key)).unwrap();
        assert_eq!(cert.key_id(), "ssha_a");
        assert_eq!(cert.public_key(), key.key_data());
        k.check(&cert, "sb_m", 1500).unwrap();
        assert_eq!(
            k.check(&cert, "sb_other", 1500),
            Err(CertRefusal::Principal("sb_other".into()))
        );
        assert_eq!(k.check(&cert, "sb_m", 2000), Err(CertRefusal::Untrusted));
        assert_eq!(k.check(&cert, "sb_m", 999), Err(CertRefusal::Untrusted));
        assert_eq!(
            keys(3).check(&cert, "sb_m", 1500),
            Err(CertRefusal::Untrusted)
        );
        // The text form round-trips (what the API hands out).
        let text = cert.to_openssh().unwrap();
        assert!(
            text.starts_with("ssh-ed25519-cert-v01@openssh.com "),
            "{text}"
        );
        let back = Certificate::from_openssh(&text).unwrap();
        k.check(&back, "sb_m", 1500).unwrap();
    }

    #[test]
    fn keys_are_stable_per_seed_and_lines_have_no_comment() {
        assert_eq!(keys(1).host_public(), keys(1).host_public());
        assert_ne!(keys(1).host_public(), keys(1).ca_public());
        assert!(keys(1).host_public().starts_with("ssh-ed25519 AAAA"));
        assert_eq!(keys(1).host_public().split(' ').count(), 2);
    }
}
