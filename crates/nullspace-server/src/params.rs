//! Checks of what a request names: ids, timeouts, maps, paths, modes, states and
//! the query parameters every list takes. Each refusal names the field.

use std::collections::BTreeMap;

use nullspace_api::{
    ErrorCode, PtySize, StartProcessRequest, DEFAULT_USER, MAX_PTY_SIDE, MAX_STDIN_BYTES,
    MAX_TIMEOUT_SECS,
};
use nullspace_types::{MachineId, MachineState, SnapshotId};

use crate::error::{ApiError, ApiResult};
use crate::store::Page;

/// The command fields shared by foreground commands and processes.
#[derive(Debug)]
pub struct CommandShape<'a> {
    /// Shell command line.
    pub command: &'a Option<String>,
    /// Program and arguments.
    pub args: &'a Option<Vec<String>>,
    /// Extra environment.
    pub envs: &'a BTreeMap<String, String>,
    /// Working directory.
    pub cwd: &'a Option<String>,
    /// Guest user.
    pub user: &'a Option<String>,
}

/// Check a command: exactly one of a non-empty `command` or `args`, no NUL
/// bytes anywhere; returns the guest's `(argv, shell)`.
pub fn command(c: &CommandShape<'_>) -> ApiResult<(Vec<String>, Option<String>)> {
    let (argv, shell) = match (c.command, c.args) {
        (Some(cmd), None) if !cmd.trim().is_empty() => (Vec::new(), Some(cmd.clone())),
        (None, Some(a)) if !a.is_empty() => (a.clone(), None),
        (Some(_), Some(_)) => {
            return Err(ApiError::field(
                "command",
                "give either command or args, not both",
            ))
        }
        _ => {
            return Err(ApiError::field(
                "command",
                "give a non-empty command or args",
            ))
        }
    };
    if let Some(cmd) = &shell {
        text("command", cmd, 1 << 20)?;
    }
    for (i, a) in argv.iter().enumerate() {
        no_nul(&format!("args[{i}]"), a)?;
    }
    envs("envs", c.envs)?;
    if let Some(dir) = c.cwd {
        cwd("cwd", dir)?;
    }
    if let Some(u) = c.user {
        user("user", u)?;
    }
    Ok((argv, shell))
}

/// A run time limit in seconds (0: none) as milliseconds.
pub fn run_timeout(field: &str, secs: f64) -> ApiResult<Option<u64>> {
    if !secs.is_finite() || !(0.0..=86_400.0).contains(&secs) {
        return Err(ApiError::field(
            field,
            format!("must be 0 (no limit) to 86400 seconds, got {secs}"),
        ));
    }
    Ok((secs > 0.0).then_some((secs * 1000.0) as u64))
}

/// A process id from a path.
pub fn pid(raw: &str) -> ApiResult<u32> {
    match raw.parse::<u32>() {
        Ok(pid) if pid > 0 && raw.bytes().all(|b| b.is_ascii_digit()) => Ok(pid),
        _ => Err(ApiError::field(
            "pid",
            format!("must be a process id (a positive integer), got {raw:?}"),
        )),
    }
}

/// A signal by name or number.
pub fn signal(field: &str, s: &nullspace_api::SignalName) -> ApiResult<i32> {
    s.number().ok_or_else(|| {
        let names: Vec<&str> = nullspace_api::SIGNALS.iter().map(|(n, _)| *n).collect();
        ApiError::field(
            field,
            format!(
                "must be a signal number 1 to 64 or one of {}",
                names.join(", ")
            ),
        )
    })
}

/// Longest guest user name accepted.
const MAX_USER: usize = 32;
/// Longest guest path accepted, in characters (and at most 4096 bytes).
const MAX_PATH_CHARS: usize = 1024;
/// Longest map key, in characters.
const MAX_KEY_CHARS: usize = 128;
/// Longest map value or short text, in characters.
const MAX_TEXT_CHARS: usize = 4096;

/// Parse a machine id from the path (404 for ids that cannot exist).
pub fn machine_id(raw: &str) -> ApiResult<MachineId> {
    raw.parse()
        .map_err(|_| ApiError::new(ErrorCode::NotFound, format!("machine {raw} not found")))
}

/// Parse a machine port from the path or query (422 outside 1–65535).
pub fn port(raw: &str) -> ApiResult<u16> {
    crate::services::previews::parse_port(raw).ok_or_else(|| {
        ApiError::new(
            ErrorCode::ValidationError,
            format!("port {raw:?}: expected 1-65535"),
        )
    })
}

/// Parse a snapshot id from the path (404 for ids that cannot exist).
pub fn snapshot_id(raw: &str) -> ApiResult<SnapshotId> {
    raw.parse()
        .map_err(|_| ApiError::new(ErrorCode::NotFound, format!("snapshot {raw} not found")))
}

/// Refuse a NUL byte in `value` (no guest string may hold one).
pub fn no_nul(field: &str, value: &str) -> ApiResult<()> {
    if value.contains('\0') {
        return Err(ApiError::field(field, "must not contain a NUL byte"));
    }
    Ok(())
}

/// Check a timeout in seconds.
pub fn timeout(field: &str, t: i64) -> ApiResult<i64> {
    if !(1..=MAX_TIMEOUT_SECS).contains(&t) {
        return Err(ApiError::field(
            field,
            format!("must be between 1 and {MAX_TIMEOUT_SECS} seconds, got {t}"),
        ));
    }
    Ok(t)
}

/// Check a metadata or envs map.
pub fn map(field: &str, m: &BTreeMap<String, String>) -> ApiResult<()> {
    if m.len() > 64 {
        return Err(ApiError::field(field, "at most 64 entries"));
    }
    for (k, v) in m {
        if k.is_empty() || k.chars().count() > MAX_KEY_CHARS || v.chars().count() > MAX_TEXT_CHARS {
            return Err(ApiError::field(
                field,
                format!(
                    "key {k:?}: keys are 1-{MAX_KEY_CHARS} characters, values at most {MAX_TEXT_CHARS}"
                ),
            ));
        }
        no_nul(&format!("{field}.{k}"), k)?;
        no_nul(&format!("{field}.{k}"), v)?;
    }
    Ok(())
}

/// Check an environment map: a [`map`] whose keys are names a shell can export.
pub fn envs(field: &str, m: &BTreeMap<String, String>) -> ApiResult<()> {
    map(field, m)?;
    for k in m.keys() {
        if k.contains('=') {
            return Err(ApiError::field(
                &format!("{field}.{k}"),
                "an environment variable name cannot contain '='",
            ));
        }
    }
    Ok(())
}

/// Check an absolute working directory.
pub fn cwd(field: &str, p: &str) -> ApiResult<()> {
    path(field, p)?;
    if !p.starts_with('/') {
        return Err(ApiError::field(field, "must be an absolute path"));
    }
    Ok(())
}

/// Check a guest user name (`[a-z_][a-z0-9_.-]*`, optionally ending in `$`).
pub fn user(field: &str, u: &str) -> ApiResult<String> {
    let body = u.strip_suffix('$').unwrap_or(u);
    let ok = u.len() <= MAX_USER
        && body
            .bytes()
            .next()
            .is_some_and(|b| b == b'_' || b.is_ascii_lowercase())
        && body.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-')
        });
    if !ok {
        return Err(ApiError::field(
            field,
            format!("must be a user name like `user` or `root` (at most {MAX_USER} characters)"),
        ));
    }
    Ok(u.to_owned())
}

/// Check a guest path.
pub fn path(field: &str, p: &str) -> ApiResult<String> {
    if p.is_empty() || p.chars().count() > MAX_PATH_CHARS || p.len() > 4096 || p.contains('\0') {
        return Err(ApiError::field(
            field,
            format!(
                "must be a non-empty path of at most {MAX_PATH_CHARS} characters (4096 bytes) without NUL"
            ),
        ));
    }
    Ok(p.to_owned())
}

/// Check a short text (a template name, a list filter).
pub fn text(field: &str, t: &str, max_chars: usize) -> ApiResult<()> {
    no_nul(field, t)?;
    if t.chars().count() > max_chars {
        return Err(ApiError::field(
            field,
            format!("at most {max_chars} characters"),
        ));
    }
    Ok(())
}

/// Parse octal permission bits (`"0644"`, `"755"`).
pub fn mode(field: &str, m: &str) -> ApiResult<u32> {
    let digits = m.strip_prefix("0o").unwrap_or(m);
    (!digits.is_empty() && digits.len() <= 4 && digits.bytes().all(|b| (b'0'..=b'7').contains(&b)))
        .then(|| u32::from_str_radix(digits, 8).ok())
        .flatten()
        .ok_or_else(|| {
            ApiError::field(
                field,
                format!("expected octal permission bits like 0644, got {m:?}"),
            )
        })
}

/// Parse `state=` values (comma-separated) into `into`.
pub fn states(v: &str, into: &mut Vec<MachineState>) -> ApiResult<()> {
    for name in v.split(',').map(str::trim) {
        let s: MachineState = name
            .parse()
            .map_err(|_| ApiError::field("state", format!("unknown state {name:?}")))?;
        if !into.contains(&s) {
            into.push(s);
        }
    }
    Ok(())
}

/// Read a query parameter every list takes (`metadata=k=v`, `limit`, `cursor`);
/// any other is an error naming it.
pub fn page_param(page: &mut Page, k: &str, v: String) -> ApiResult<()> {
    match k {
        "metadata" => {
            no_nul("metadata", &v)?;
            let (mk, mv) = v.split_once('=').ok_or_else(|| {
                ApiError::field("metadata", format!("expected key=value, got {v:?}"))
            })?;
            page.metadata.push((mk.to_owned(), mv.to_owned()));
        }
        "limit" => {
            page.limit = v
                .parse()
                .ok()
                .filter(|n| (1..=1000).contains(n))
                .ok_or_else(|| ApiError::field("limit", "must be an integer from 1 to 1000"))?
        }
        "cursor" => {
            page.before_seq = Some(
                v.strip_prefix('c')
                    .filter(|s| {
                        s.len() <= 18
                            && !s.starts_with('0')
                            && s.bytes().all(|b| b.is_ascii_digit())
                    })
                    .and_then(|s| s.parse::<i64>().ok())
                    .filter(|n| *n > 0)
                    .ok_or_else(|| {
                        ApiError::field("cursor", "not a cursor returned by this API")
                    })?,
            )
        }
        other => return Err(ApiError::field(other, "unknown query parameter")),
    }
    Ok(())
}

/// The cursor of the next page, when more rows follow the last one.
pub fn next_cursor(more: bool, last_seq: Option<i64>) -> Option<String> {
    more.then(|| format!("c{}", last_seq.unwrap_or(0)))
}

/// Decode `a=b&c=d` (percent-decoding, `+` as space).
pub fn parse_query(q: &str) -> ApiResult<Vec<(String, String)>> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((decode(k)?, decode(v)?))
        })
        .collect()
}

fn decode(s: &str) -> ApiResult<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = s.get(i + 1..i + 3).ok_or_else(|| {
                    ApiError::new(ErrorCode::BadRequest, "bad percent-encoding in query")
                })?;
                out.push(u8::from_str_radix(hex, 16).map_err(|_| {
                    ApiError::new(ErrorCode::BadRequest, "bad percent-encoding in query")
                })?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| ApiError::new(ErrorCode::BadRequest, "query is not UTF-8"))
}

/// Longest process tag, in characters.
const MAX_TAG: usize = 128;

/// A process to start, checked.
#[derive(Debug, Clone)]
pub struct StartSpec {
    /// argv (empty with a shell command).
    pub argv: Vec<String>,
    /// Shell command line.
    pub shell: Option<String>,
    /// Extra environment, over the machine's.
    pub envs: std::collections::BTreeMap<String, String>,
    /// Working directory (default: the machine's).
    pub cwd: Option<String>,
    /// Guest user.
    pub user: String,
    /// Keep stdin open.
    pub stdin: bool,
    /// Tag.
    pub tag: Option<String>,
    /// Time limit.
    pub timeout_ms: Option<u64>,
    /// Terminal.
    pub pty: Option<PtySize>,
}

/// Check a start request (of a process or a PTY session).
pub fn start_spec(req: StartProcessRequest) -> ApiResult<StartSpec> {
    let shape = CommandShape {
        command: &req.command,
        args: &req.args,
        envs: &req.envs,
        cwd: &req.cwd,
        user: &req.user,
    };
    let (argv, shell) = command(&shape)?;
    if let Some(tag) = &req.tag {
        if tag.is_empty() {
            return Err(ApiError::field("tag", "must not be empty"));
        }
        text("tag", tag, MAX_TAG)?;
    }
    if let Some(size) = req.pty {
        pty_size(size)?;
    }
    Ok(StartSpec {
        argv,
        shell,
        envs: req.envs,
        cwd: req.cwd,
        user: req.user.unwrap_or_else(|| DEFAULT_USER.into()),
        stdin: req.stdin.unwrap_or(false),
        tag: req.tag,
        timeout_ms: run_timeout("timeout", req.timeout.unwrap_or(0.0))?,
        pty: req.pty,
    })
}

/// Check a terminal size: each side 1 to [`MAX_PTY_SIDE`].
pub fn pty_size(size: PtySize) -> ApiResult<PtySize> {
    for (field, v) in [("cols", size.cols), ("rows", size.rows)] {
        if v == 0 || v > MAX_PTY_SIDE {
            return Err(ApiError::field(
                field,
                format!("must be 1 to {MAX_PTY_SIDE}, got {v}"),
            ));
        }
    }
    Ok(size)
}

/// The bytes of a stdin request.
pub fn stdin_bytes(data: Option<String>, data_base64: Option<String>) -> ApiResult<Vec<u8>> {
    let bytes = match (data, data_base64) {
        (Some(_), Some(_)) => {
            return Err(ApiError::field(
                "data",
                "give data or data_base64, not both",
            ))
        }
        (Some(text), None) => text.into_bytes(),
        (None, Some(b64)) => {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD
                .decode(b64.as_bytes())
                .map_err(|e| ApiError::field("data_base64", format!("not base64: {e}")))?
        }
        (None, None) => Vec::new(),
    };
    if bytes.len() > MAX_STDIN_BYTES {
        return Err(ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!(
                "stdin: at most {MAX_STDIN_BYTES} bytes per request, got {}",
                bytes.len()
            ),
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_decoding() {
        let q = parse_query("metadata=team%3Deval&template=base&x=a+b").unwrap();
        assert_eq!(q[0], ("metadata".into(), "team=eval".into()));
        assert_eq!(q[2].1, "a b");
        assert!(parse_query("a=%zz").is_err());
        assert!(parse_query("a=%2").is_err());
    }

    #[test]
    fn modes() {
        assert_eq!(mode("mode", "0644").unwrap(), 0o644);
        assert_eq!(mode("mode", "755").unwrap(), 0o755);
        assert_eq!(mode("mode", "0o7777").unwrap(), 0o7777);
        for bad in ["999", "77777", "", "0o", "+644", "-1"] {
            assert!(mode("mode", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn cursors_states_and_nul() {
        let mut page = Page::default();
        page_param(&mut page, "cursor", "c12".into()).unwrap();
        assert_eq!(page.before_seq, Some(12));
        for bad in [
            "c-1",
            "c0",
            "c01",
            "c+3",
            "12",
            "c",
            "c99999999999999999999",
        ] {
            let e = page_param(&mut page, "cursor", bad.into()).unwrap_err();
            assert_eq!(e.code, ErrorCode::ValidationError, "{bad}");
        }
        let mut s = Vec::new();
        states("running, paused", &mut s).unwrap();
        states("running", &mut s).unwrap();
        assert_eq!(s, vec![MachineState::Running, MachineState::Paused]);
        assert!(states("sleeping", &mut s)
            .unwrap_err()
            .message
            .starts_with("state:"));
        assert!(no_nul("cwd", "/a\0b")
            .unwrap_err()
            .message
            .starts_with("cwd:"));
        let mut m = BTreeMap::new();
        m.insert("A\0".to_owned(), "x".to_owned());
        assert!(envs("envs", &m).is_err());
        let mut m = BTreeMap::new();
        m.insert("A=B".to_owned(), "x".to_owned());
        assert!(envs("envs", &m).is_err());
    }
}
