//! Typed, prefixed identifiers.

use std::fmt;
use std::str::FromStr;

use rand::Rng;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Alphabet of the random part of ids: lowercase letters and digits.
const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
/// Length of the random part of ids.
const RANDOM_LEN: usize = 20;

/// Why a string is not a valid id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The id does not start with the expected prefix.
    #[error("id {value:?} must start with {prefix:?}")]
    Prefix {
        /// The rejected value.
        value: String,
        /// The prefix required.
        prefix: &'static str,
    },
    /// The part after the prefix is empty, too long or has characters outside `[a-z0-9]`.
    #[error("id {value:?} has an invalid body: expected 1-64 characters of [a-z0-9]")]
    Body {
        /// The rejected value.
        value: String,
    },
}

fn random_body() -> String {
    let mut rng = rand::thread_rng();
    (0..RANDOM_LEN)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

fn validate(value: &str, prefix: &'static str) -> Result<(), IdError> {
    let body = value.strip_prefix(prefix).ok_or_else(|| IdError::Prefix {
        value: value.to_owned(),
        prefix,
    })?;
    let ok = !body.is_empty()
        && body.len() <= 64
        && body
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(IdError::Body {
            value: value.to_owned(),
        })
    }
}

macro_rules! prefixed_id {
    ($(#[$meta:meta])* $name:ident, $prefix:literal) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// The prefix every id of this kind starts with.
            pub const PREFIX: &'static str = $prefix;

            /// A new random id.
            pub fn random() -> Self {
                Self(format!("{}{}", $prefix, random_body()))
            }

            /// The id as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The id without its prefix (short, safe for file and device names).
            pub fn body(&self) -> &str {
                &self.0[$prefix.len()..]
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                validate(s, $prefix)?;
                Ok(Self(s.to_owned()))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

prefixed_id!(
    /// Id of a machine: `sb_` followed by 20 characters of `[a-z0-9]`.
    MachineId,
    "sb_"
);
prefixed_id!(
    /// Id of a snapshot: `snap_` followed by 20 characters of `[a-z0-9]`.
    SnapshotId,
    "snap_"
);
prefixed_id!(
    /// Id of a resumable upload: `upl_` followed by 20 characters of `[a-z0-9]`.
    UploadId,
    "upl_"
);
prefixed_id!(
    /// Id of a preview grant: `pvg_` followed by 20 characters of `[a-z0-9]`.
    PreviewGrantId,
    "pvg_"
);
prefixed_id!(
    /// Id of an SSH access grant: `ssha_` followed by 20 characters of `[a-z0-9]`.
    SshAccessId,
    "ssha_"
);
prefixed_id!(
    /// Id of a built template: `tpl_` followed by 20 characters of `[a-z0-9]`.
    TemplateId,
    "tpl_"
);
prefixed_id!(
    /// Id of a template build (one version of a template): `tb_` followed by 20
    /// characters of `[a-z0-9]`.
    TemplateBuildId,
    "tb_"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_ids_round_trip_and_differ() {
        let a = MachineId::random();
        let b = MachineId::random();
        assert_ne!(a, b);
        assert!(a.as_str().starts_with("sb_"));
        assert_eq!(a.body().len(), RANDOM_LEN);
        let parsed: MachineId = a.as_str().parse().unwrap();
        assert_eq!(parsed, a);
    }

    #[test]
    fn wrong_prefix_and_bad_body_are_rejected() {
        assert!(matches!(
            "snap_abc".parse::<MachineId>(),
            Err(IdError::Prefix { .. })
        ));
        assert!(matches!(
            "sb_".parse::<MachineId>(),
            Err(IdError::Body { .. })
        ));
        assert!(matches!(
            "sb_ABC".parse::<MachineId>(),
            Err(IdError::Body { .. })
        ));
        assert!(matches!(
            "sb_../x".parse::<MachineId>(),
            Err(IdError::Body { .. })
        ));
    }

    #[test]
    fn serde_validates() {
        let err = serde_json::from_str::<SnapshotId>("\"sb_abc\"").unwrap_err();
        assert!(err.to_string().contains("snap_"));
        let ok: SnapshotId = serde_json::from_str("\"snap_abc123\"").unwrap();
        assert_eq!(ok.body(), "abc123");
    }
}
