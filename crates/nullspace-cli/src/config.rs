//! Where the API key and URL come from.
//!
//! Each of the two settings is taken from the first layer that has it: the
//! `--api-key`/`--api-url` flags, the `NULLSPACE_API_KEY`/`NULLSPACE_API_URL`
//! environment variables, a `.env` file in the current directory, the user config
//! `~/.config/nullspace/config.json`, then the legacy `~/.nullspace/config.json`.
//! The URL defaults to `http://127.0.0.1:7070`.

use std::fmt;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// URL used when no layer names one.
pub const DEFAULT_API_URL: &str = "http://127.0.0.1:7070";
/// Environment variable of the API key.
pub const ENV_API_KEY: &str = "NULLSPACE_API_KEY";
/// Environment variable of the API URL.
pub const ENV_API_URL: &str = "NULLSPACE_API_URL";

/// Why the configuration could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A configuration file exists but cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A configuration file is not the expected JSON.
    #[error("{path} is not a valid config file ({{\"api_key\",\"api_url\"}}): {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// The user config could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// There is no home directory to write the user config into.
    #[error("HOME is not set, so there is no user config directory")]
    NoHome,
}

/// The layer a setting came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A command-line flag.
    Flag,
    /// An environment variable.
    Env,
    /// A `.env` file in the current directory.
    DotEnv(PathBuf),
    /// `~/.config/nullspace/config.json`.
    UserConfig(PathBuf),
    /// `~/.nullspace/config.json`.
    LegacyConfig(PathBuf),
    /// Built-in default.
    Default,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Flag => f.write_str("flag"),
            Source::Env => f.write_str("environment"),
            Source::DotEnv(p) => write!(f, "{}", p.display()),
            Source::UserConfig(p) | Source::LegacyConfig(p) => write!(f, "{}", p.display()),
            Source::Default => f.write_str("default"),
        }
    }
}

/// A setting and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    /// The value.
    pub value: String,
    /// Its layer.
    pub source: Source,
}

/// The resolved configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The API key, if any layer has one.
    pub api_key: Option<Setting>,
    /// The API URL (default if no layer has one).
    pub api_url: Setting,
}

/// Everything resolution looks at, gathered once so it can be faked in tests.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// `--api-key`.
    pub flag_key: Option<String>,
    /// `--api-url`.
    pub flag_url: Option<String>,
    /// `NULLSPACE_API_KEY`.
    pub env_key: Option<String>,
    /// `NULLSPACE_API_URL`.
    pub env_url: Option<String>,
    /// Directory whose `.env` is read.
    pub cwd: Option<PathBuf>,
    /// Home directory.
    pub home: Option<PathBuf>,
}

impl Inputs {
    /// The inputs of this process: `flag_key`/`flag_url`, its environment, cwd and `HOME`.
    pub fn from_process(flag_key: Option<String>, flag_url: Option<String>) -> Self {
        let var = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
        Self {
            flag_key,
            flag_url,
            env_key: var(ENV_API_KEY),
            env_url: var(ENV_API_URL),
            cwd: std::env::current_dir().ok(),
            home: std::env::var_os("HOME")
                .filter(|h| !h.is_empty())
                .map(PathBuf::from),
        }
    }
}

/// Contents of a config file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileConfig {
    /// API key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    /// API URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
}

/// `~/.config/nullspace/config.json`.
pub fn user_config_path(home: &Path) -> PathBuf {
    home.join(".config").join("nullspace").join("config.json")
}

/// `~/.nullspace/config.json`.
pub fn legacy_config_path(home: &Path) -> PathBuf {
    home.join(".nullspace").join("config.json")
}

/// Resolves the key and URL from `inputs`, layer by layer.
pub fn resolve(inputs: &Inputs) -> Result<Resolved, ConfigError> {
    let mut layers: Vec<(FileConfig, Source)> = vec![
        (
            FileConfig {
                api_key: inputs.flag_key.clone(),
                api_url: inputs.flag_url.clone(),
            },
            Source::Flag,
        ),
        (
            FileConfig {
                api_key: inputs.env_key.clone(),
                api_url: inputs.env_url.clone(),
            },
            Source::Env,
        ),
    ];
    if let Some(cwd) = &inputs.cwd {
        let path = cwd.join(".env");
        if let Some(text) = read_optional(&path)? {
            layers.push((parse_dotenv(&text), Source::DotEnv(path)));
        }
    }
    if let Some(home) = &inputs.home {
        let path = user_config_path(home);
        if let Some(config) = read_config(&path)? {
            layers.push((config, Source::UserConfig(path)));
        }
        let path = legacy_config_path(home);
        if let Some(config) = read_config(&path)? {
            layers.push((config, Source::LegacyConfig(path)));
        }
    }
    let pick = |get: fn(&FileConfig) -> &Option<String>| {
        layers.iter().find_map(|(config, source)| {
            get(config)
                .as_ref()
                .filter(|v| !v.trim().is_empty())
                .map(|v| Setting {
                    value: v.trim().to_owned(),
                    source: source.clone(),
                })
        })
    };
    let api_key = pick(|c| &c.api_key);
    let api_url = pick(|c| &c.api_url).unwrap_or_else(|| Setting {
        value: DEFAULT_API_URL.to_owned(),
        source: Source::Default,
    });
    Ok(Resolved { api_key, api_url })
}

/// Writes `config` to the user config file with mode 0600; returns its path.
pub fn save_user_config(home: &Path, config: &FileConfig) -> Result<PathBuf, ConfigError> {
    let path = user_config_path(home);
    let write_err = |source| ConfigError::Write {
        path: path.clone(),
        source,
    };
    let dir = path.parent().ok_or(ConfigError::NoHome)?;
    fs::create_dir_all(dir).map_err(write_err)?;
    let tmp = dir.join(format!(".config.json.{}", std::process::id()));
    let mut text = serde_json::to_string_pretty(config).expect("config serializes");
    text.push('\n');
    let result = (|| {
        let mut file = open_private(&tmp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        fs::rename(&tmp, &path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(write_err)?;
    Ok(path)
}

#[cfg(unix)]
fn open_private(path: &Path) -> std::io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn open_private(path: &Path) -> std::io::Result<fs::File> {
    fs::File::create(path)
}

/// `text` of `path`, or `None` if it does not exist.
fn read_optional(path: &Path) -> Result<Option<String>, ConfigError> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ConfigError::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

fn read_config(path: &Path) -> Result<Option<FileConfig>, ConfigError> {
    let Some(text) = read_optional(path)? else {
        return Ok(None);
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source,
        })
}

/// The `NULLSPACE_API_KEY`/`NULLSPACE_API_URL` lines of a `.env` file (`KEY=VALUE`,
/// optional `export `, quotes and `#` comments).
fn parse_dotenv(text: &str) -> FileConfig {
    let mut config = FileConfig::default();
    for line in text.lines() {
        let line = line.trim();
        let line = line.strip_prefix("export ").unwrap_or(line);
        if line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = unquote(value.trim());
        match key.trim() {
            ENV_API_KEY => config.api_key = Some(value),
            ENV_API_URL => config.api_url = Some(value),
            _ => {}
        }
    }
    config
}

fn unquote(value: &str) -> String {
    for quote in ['"', '\''] {
        if let Some(inner) = value
            .strip_prefix(quote)
            .and_then(|v| v.split_once(quote))
            .map(|(inner, _)| inner)
        {
            return inner.to_owned();
        }
    }
    // An unquoted value ends at a ` #` comment.
    value
        .split_once(" #")
        .map_or(value, |(v, _)| v)
        .trim()
        .to_owned()
}

/// The key with all but its prefix and last four characters hidden.
pub fn mask_key(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    let prefix = if key.starts_with(nullspace_api::API_KEY_PREFIX) {
        nullspace_api::API_KEY_PREFIX.len()
    } else {
        0
    };
    if chars.len() < prefix + 8 {
        return format!("{}…", &key[..prefix]);
    }
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{}…{tail}", &key[..prefix])
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixture {
        _dir: tempfile::TempDir,
        home: PathBuf,
        cwd: PathBuf,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let cwd = dir.path().join("project");
        fs::create_dir_all(&home).unwrap();
        fs::create_dir_all(&cwd).unwrap();
        Fixture {
            _dir: dir,
            home,
            cwd,
        }
    }

    fn write(path: &Path, text: &str) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    fn inputs(f: &Fixture) -> Inputs {
        Inputs {
            cwd: Some(f.cwd.clone()),
            home: Some(f.home.clone()),
            ..Default::default()
        }
    }

    #[test]
    fn nothing_configured_gives_the_default_url_and_no_key() {
        let f = fixture();
        let r = resolve(&inputs(&f)).unwrap();
        assert_eq!(r.api_key, None);
        assert_eq!(r.api_url.value, DEFAULT_API_URL);
        assert_eq!(r.api_url.source, Source::Default);
    }

    #[test]
    fn each_layer_beats_the_ones_below() {
        let f = fixture();
        write(
            &legacy_config_path(&f.home),
            r#"{"api_key":"legacy","api_url":"http://legacy"}"#,
        );
        let mut i = inputs(&f);
        assert_eq!(resolve(&i).unwrap().api_key.unwrap().value, "legacy");

        write(&user_config_path(&f.home), r#"{"api_key":"user"}"#);
        let r = resolve(&i).unwrap();
        assert_eq!(r.api_key.as_ref().unwrap().value, "user");
        assert!(matches!(r.api_key.unwrap().source, Source::UserConfig(_)));
        // The URL still comes from the legacy file: settings resolve independently.
        assert_eq!(r.api_url.value, "http://legacy");

        write(
            &f.cwd.join(".env"),
            "# comment\nexport NULLSPACE_API_KEY=\"dotenv\"\nOTHER=1\n",
        );
        let r = resolve(&i).unwrap();
        assert_eq!(r.api_key.unwrap().value, "dotenv");

        i.env_key = Some("env".into());
        i.env_url = Some("http://env".into());
        let r = resolve(&i).unwrap();
        assert_eq!(r.api_key.unwrap().source, Source::Env);
        assert_eq!(r.api_url.value, "http://env");

        i.flag_key = Some("flag".into());
        let r = resolve(&i).unwrap();
        assert_eq!(r.api_key.unwrap().value, "flag");
        assert_eq!(r.api_url.source, Source::Env);
    }

    #[test]
    fn empty_values_fall_through() {
        let f = fixture();
        write(&user_config_path(&f.home), r#"{"api_key":"user"}"#);
        write(&f.cwd.join(".env"), "NULLSPACE_API_KEY=\n");
        let mut i = inputs(&f);
        i.flag_key = Some("  ".into());
        assert_eq!(resolve(&i).unwrap().api_key.unwrap().value, "user");
    }

    #[test]
    fn a_broken_config_file_is_an_error_naming_it() {
        let f = fixture();
        write(&user_config_path(&f.home), "{not json");
        let err = resolve(&inputs(&f)).unwrap_err();
        assert!(matches!(err, ConfigError::Parse { .. }));
        assert!(err.to_string().contains("config.json"), "{err}");
    }

    #[test]
    fn dotenv_quotes_and_comments() {
        let c = parse_dotenv(
            "NULLSPACE_API_URL='http://a:1' # x\nNULLSPACE_API_KEY=ns_live_k # trailing\n",
        );
        assert_eq!(c.api_url.as_deref(), Some("http://a:1"));
        assert_eq!(c.api_key.as_deref(), Some("ns_live_k"));
    }

    #[cfg(unix)]
    #[test]
    fn saved_config_is_private_and_round_trips() {
        use std::os::unix::fs::PermissionsExt;
        let f = fixture();
        let config = FileConfig {
            api_key: Some("ns_live_secret".into()),
            api_url: Some("http://x:1".into()),
        };
        let path = save_user_config(&f.home, &config).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let r = resolve(&inputs(&f)).unwrap();
        assert_eq!(r.api_key.unwrap().value, "ns_live_secret");
        assert_eq!(r.api_url.value, "http://x:1");
    }

    #[test]
    fn keys_are_masked() {
        assert_eq!(mask_key("ns_live_abcdefghijkl"), "ns_live_…ijkl");
        assert_eq!(mask_key("ns_live_abc"), "ns_live_…");
        assert_eq!(mask_key("short"), "…");
    }
}
