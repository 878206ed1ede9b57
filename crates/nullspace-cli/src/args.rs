//! Typed values of command-line arguments, parsed by clap so that a bad value is a
//! usage error (exit 2) naming the flag.

use std::collections::BTreeMap;
use std::str::FromStr;

use clap::ValueEnum;
use nullspace_api::{TimeoutAction, WriteFileEntry};
use nullspace_types::{IdError, MachineId, SnapshotId};

/// Why an argument value is invalid.
#[derive(Debug, thiserror::Error)]
pub enum ArgError {
    /// `KEY=VALUE` without `=` or with an empty key.
    #[error("expected KEY=VALUE, got {0:?}")]
    KeyValue(String),
    /// Not a JSON object.
    #[error("expected a JSON object of strings: {0}")]
    Json(#[source] serde_json::Error),
    /// A JSON object value that is not a string, number or boolean.
    #[error("value of {0:?} must be a string, number or boolean")]
    NotScalar(String),
    /// Not an octal mode.
    #[error("expected octal permission bits such as 0644 or 755, got {0:?}")]
    Mode(String),
    /// Not a write-files list.
    #[error(
        "expected a JSON list of [path, content] pairs or {{\"path\",\"content\"}} objects: {0}"
    )]
    WriteFiles(#[source] serde_json::Error),
    /// Not a guest user name.
    #[error("expected a user name of 1-{max} characters without spaces or `/`, got {0:?}", max = UserName::MAX_LEN)]
    UserName(String),
    /// Not a signal.
    #[error(
        "expected a signal name (SIGTERM, TERM, INT, KILL, HUP, USR1…) or a number 1-64, got {0:?}"
    )]
    Signal(String),
    /// Not a network policy.
    #[error(
        "expected a JSON object with allow_out and deny_out (lists of IPv4 CIDRs) and allow_public_traffic: {0}"
    )]
    Network(#[source] serde_json::Error),
    /// Not `SRC:DEST`.
    #[error(
        "expected SRC:DEST (a local file or directory, then a directory of the machine), got {0:?}"
    )]
    Copy(String),
    /// Neither a machine id nor a snapshot id.
    #[error("expected a machine id (sb_…) or a snapshot id (snap_…): {0}")]
    MachineOrSnapshot(#[source] IdError),
}

/// What happens when a machine's timeout is reached (`--on-timeout`, `--action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnTimeout {
    /// Destroy the machine.
    Kill,
    /// Pause it: memory, processes and disk are kept on disk, no CPU or RAM is used.
    Pause,
    /// Same as pause.
    Hibernate,
}

impl From<OnTimeout> for TimeoutAction {
    fn from(action: OnTimeout) -> Self {
        match action {
            OnTimeout::Kill => TimeoutAction::Kill,
            OnTimeout::Pause | OnTimeout::Hibernate => TimeoutAction::Pause,
        }
    }
}

/// A machine id (`sb_…`) or a snapshot id (`snap_…`), as `sandbox resume` takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MachineOrSnapshot {
    /// A machine to resume in place.
    Machine(MachineId),
    /// A snapshot to start a new machine from.
    Snapshot(SnapshotId),
}

impl FromStr for MachineOrSnapshot {
    type Err = ArgError;
    fn from_str(s: &str) -> Result<Self, ArgError> {
        let machine_err = match s.parse::<MachineId>() {
            Ok(machine) => return Ok(MachineOrSnapshot::Machine(machine)),
            Err(err) => err,
        };
        match s.parse::<SnapshotId>() {
            Ok(snapshot) => Ok(MachineOrSnapshot::Snapshot(snapshot)),
            // Report what is wrong with the kind of id it looks like.
            Err(err) if s.starts_with(SnapshotId::PREFIX) => Err(ArgError::MachineOrSnapshot(err)),
            Err(_) => Err(ArgError::MachineOrSnapshot(machine_err)),
        }
    }
}

/// A guest user (`--user`): the server's default is `user`, and `root` is used only
/// when named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserName(pub String);

impl UserName {
    /// Longest name accepted (the API's limit, and Linux's).
    pub const MAX_LEN: usize = 32;
}

impl FromStr for UserName {
    type Err = ArgError;
    fn from_str(s: &str) -> Result<Self, ArgError> {
        let ok = !s.is_empty()
            && s.chars().count() <= Self::MAX_LEN
            && !s
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '/');
        if ok {
            Ok(UserName(s.to_owned()))
        } else {
            Err(ArgError::UserName(s.to_owned()))
        }
    }
}

/// A signal (`--signal`): a name such as `SIGTERM` or `TERM`, or a number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignalArg(pub nullspace_api::SignalName);

impl FromStr for SignalArg {
    type Err = ArgError;
    fn from_str(s: &str) -> Result<Self, ArgError> {
        use nullspace_api::SignalName;
        let signal = match s.parse::<i32>() {
            Ok(n) => SignalName::Number(n),
            Err(_) => SignalName::Name(s.to_ascii_uppercase()),
        };
        match signal.number() {
            Some(_) => Ok(SignalArg(signal)),
            None => Err(ArgError::Signal(s.to_owned())),
        }
    }
}

/// A `KEY=VALUE` pair (`--env`, `--metadata`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue(pub String, pub String);

impl FromStr for KeyValue {
    type Err = ArgError;
    fn from_str(s: &str) -> Result<Self, ArgError> {
        match s.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok(KeyValue(k.to_owned(), v.to_owned())),
            _ => Err(ArgError::KeyValue(s.to_owned())),
        }
    }
}

/// `SRC:DEST` of `template build --copy`: a local file or directory and the
/// directory of the machine it goes into. It splits at the last `:/` (an absolute
/// DEST), else at the last `:`, so a SRC may hold colons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopySpec {
    /// Local file or directory.
    pub src: std::path::PathBuf,
    /// Directory of the machine (relative to the build's working directory unless
    /// absolute).
    pub dest: String,
}

impl FromStr for CopySpec {
    type Err = ArgError;
    fn from_str(s: &str) -> Result<Self, ArgError> {
        let at = s.rfind(":/").or_else(|| s.rfind(':'));
        match at {
            Some(i) if i > 0 && i + 1 < s.len() => Ok(CopySpec {
                src: s[..i].into(),
                dest: s[i + 1..].to_owned(),
            }),
            _ => Err(ArgError::Copy(s.to_owned())),
        }
    }
}

/// A JSON object of string values (`--env-json`, `--metadata-json`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JsonMap(pub BTreeMap<String, String>);

impl FromStr for JsonMap {
    type Err = ArgError;
    fn from_str(s: &str) -> Result<Self, ArgError> {
        let object: BTreeMap<String, serde_json::Value> =
            serde_json::from_str(s).map_err(ArgError::Json)?;
        object
            .into_iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => Ok((k, s)),
                serde_json::Value::Number(n) => Ok((k, n.to_string())),
                serde_json::Value::Bool(b) => Ok((k, b.to_string())),
                _ => Err(ArgError::NotScalar(k)),
            })
            .collect::<Result<_, _>>()
            .map(JsonMap)
    }
}

/// The `--network-json` of a create, checked as the server checks it.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkJson(pub Box<nullspace_api::NetworkSettings>);

impl FromStr for NetworkJson {
    type Err = ArgError;
    fn from_str(s: &str) -> Result<Self, ArgError> {
        serde_json::from_str(s)
            .map(|n| NetworkJson(Box::new(n)))
            .map_err(ArgError::Network)
    }
}

/// `json` (if given) overlaid with `pairs`: a `KEY=VALUE` flag wins over the JSON.
pub fn merge(json: Option<JsonMap>, pairs: &[KeyValue]) -> BTreeMap<String, String> {
    let mut map = json.map(|j| j.0).unwrap_or_default();
    for KeyValue(k, v) in pairs {
        map.insert(k.clone(), v.clone());
    }
    map
}

/// Permission bits written in octal (`0644`, `755`, `0o600`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OctalMode(pub u32);

impl FromStr for OctalMode {
    type Err = ArgError;
    fn from_str(s: &str) -> Result<Self, ArgError> {
        let digits = s.strip_prefix("0o").unwrap_or(s);
        match u32::from_str_radix(digits, 8) {
            Ok(mode) if !digits.is_empty() && !digits.starts_with('+') && mode <= 0o7777 => {
                Ok(OctalMode(mode))
            }
            _ => Err(ArgError::Mode(s.to_owned())),
        }
    }
}

/// The files of `file write-files`: `[["/a","x"],["/b","y"]]` or
/// `[{"path":"/a","content":"x"},{"path":"/b","content_base64":"eQ=="}]`.
#[derive(Debug, Clone, PartialEq)]
pub struct WriteFiles(pub Vec<WriteFileEntry>);

impl FromStr for WriteFiles {
    type Err = ArgError;
    fn from_str(s: &str) -> Result<Self, ArgError> {
        let items: Vec<serde_json::Value> =
            serde_json::from_str(s).map_err(ArgError::WriteFiles)?;
        items
            .into_iter()
            .map(|item| {
                if item.is_array() {
                    let (path, content): (String, String) = serde_json::from_value(item)?;
                    Ok(WriteFileEntry {
                        path,
                        content: Some(content),
                        content_base64: None,
                    })
                } else {
                    serde_json::from_value::<ObjectEntry>(item).map(|o| o.0)
                }
            })
            .collect::<Result<_, _>>()
            .map(WriteFiles)
            .map_err(ArgError::WriteFiles)
    }
}

/// A write-files entry given as a JSON object (not as a sequence).
struct ObjectEntry(WriteFileEntry);

impl<'de> serde::Deserialize<'de> for ObjectEntry {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = serde_json::Map::<String, serde_json::Value>::deserialize(d)?;
        serde_json::from_value(serde_json::Value::Object(map))
            .map(ObjectEntry)
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_by_name_or_number() {
        use nullspace_api::SignalName;
        assert_eq!(
            "term".parse::<SignalArg>().unwrap().0,
            SignalName::Name("TERM".into())
        );
        assert_eq!("9".parse::<SignalArg>().unwrap().0, SignalName::Number(9));
        assert!("SIGNOPE".parse::<SignalArg>().is_err());
        assert!("0".parse::<SignalArg>().is_err());
    }

    #[test]
    fn key_values() {
        assert_eq!(
            "A=b=c".parse::<KeyValue>().unwrap(),
            KeyValue("A".into(), "b=c".into())
        );
        assert_eq!(
            "A=".parse::<KeyValue>().unwrap(),
            KeyValue("A".into(), "".into())
        );
        assert!("=x".parse::<KeyValue>().is_err());
        assert!("nokey".parse::<KeyValue>().is_err());
    }

    #[test]
    fn json_maps_accept_scalars_and_merge_under_flags() {
        let j: JsonMap = r#"{"TRACE":"1","N":2,"B":true}"#.parse().unwrap();
        assert_eq!(j.0["N"], "2");
        assert_eq!(j.0["B"], "true");
        assert!(matches!(
            r#"{"X":[1]}"#.parse::<JsonMap>(),
            Err(ArgError::NotScalar(k)) if k == "X"
        ));
        assert!("[1]".parse::<JsonMap>().is_err());
        let merged = merge(
            Some(j),
            &[
                KeyValue("TRACE".into(), "0".into()),
                KeyValue("MODE".into(), "test".into()),
            ],
        );
        assert_eq!(merged["TRACE"], "0");
        assert_eq!(merged["MODE"], "test");
        assert_eq!(merged.len(), 4);
    }

    #[test]
    fn copy_specs_split_before_the_destination() {
        let c: CopySpec = "./app:/srv/app".parse().unwrap();
        assert_eq!(
            (c.src.to_str().unwrap(), c.dest.as_str()),
            ("./app", "/srv/app")
        );
        let c: CopySpec = "a:b:/srv/x:y".parse().unwrap();
        assert_eq!(
            (c.src.to_str().unwrap(), c.dest.as_str()),
            ("a:b", "/srv/x:y")
        );
        let c: CopySpec = "src:rel".parse().unwrap();
        assert_eq!((c.src.to_str().unwrap(), c.dest.as_str()), ("src", "rel"));
        for bad in ["nocolon", ":/srv", "src:", ""] {
            let err = bad.parse::<CopySpec>().unwrap_err();
            assert!(err.to_string().contains("SRC:DEST"), "{bad}: {err}");
        }
    }

    #[test]
    fn timeout_actions_map_hibernate_to_pause() {
        assert_eq!(TimeoutAction::from(OnTimeout::Kill), TimeoutAction::Kill);
        assert_eq!(TimeoutAction::from(OnTimeout::Pause), TimeoutAction::Pause);
        assert_eq!(
            TimeoutAction::from(OnTimeout::Hibernate),
            TimeoutAction::Pause
        );
    }

    #[test]
    fn machine_or_snapshot_ids() {
        assert!(matches!(
            "sb_abc".parse::<MachineOrSnapshot>().unwrap(),
            MachineOrSnapshot::Machine(id) if id.as_str() == "sb_abc"
        ));
        assert!(matches!(
            "snap_abc".parse::<MachineOrSnapshot>().unwrap(),
            MachineOrSnapshot::Snapshot(id) if id.as_str() == "snap_abc"
        ));
        for bad in ["", "abc", "snap_", "sb_A", "tpl_abc"] {
            let err = bad.parse::<MachineOrSnapshot>().unwrap_err();
            assert!(err.to_string().contains("snap_"), "{bad}: {err}");
        }
    }

    #[test]
    fn user_names() {
        for good in ["user", "root", "www-data", "a", &"u".repeat(32)] {
            assert_eq!(good.parse::<UserName>().unwrap().0, good);
        }
        for bad in ["", "two words", "a/b", "tab\t", &"u".repeat(33)] {
            let err = bad.parse::<UserName>().unwrap_err();
            assert!(err.to_string().contains("user name"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn octal_modes() {
        assert_eq!("0644".parse::<OctalMode>().unwrap().0, 0o644);
        assert_eq!("755".parse::<OctalMode>().unwrap().0, 0o755);
        assert_eq!("0o600".parse::<OctalMode>().unwrap().0, 0o600);
        assert_eq!("4755".parse::<OctalMode>().unwrap().0, 0o4755);
        for bad in ["", "0o", "888", "rwx", "+644", "17777", "-1"] {
            assert!(bad.parse::<OctalMode>().is_err(), "{bad}");
        }
    }

    #[test]
    fn write_files_pairs_and_objects() {
        let w: WriteFiles = r#"[["/a","x\n"],{"path":"/b","content_base64":"eQ=="}]"#
            .parse()
            .unwrap();
        assert_eq!(w.0[0].path, "/a");
        assert_eq!(w.0[0].content.as_deref(), Some("x\n"));
        assert_eq!(w.0[1].content_base64.as_deref(), Some("eQ=="));
        assert!(r#"[["/a"]]"#.parse::<WriteFiles>().is_err());
        assert!(r#"[{"path":"/a","bogus":1}]"#.parse::<WriteFiles>().is_err());
        assert!("nope".parse::<WriteFiles>().is_err());
    }
}
