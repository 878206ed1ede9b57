//! Checks of what a git request names, so no input is ever read by git as an
//! option: names and revisions may not start with `-`, paths go after `--`.

use nullspace_api::DEFAULT_GIT_PATH;

use crate::error::{ApiError, ApiResult};
use crate::params;

/// Longest branch, remote, revision or config key accepted.
const MAX_NAME: usize = 255;
/// Longest URL accepted.
const MAX_URL: usize = 4096;
/// Longest commit message accepted, bytes.
const MAX_MESSAGE: usize = 1 << 20;

/// The repository directory: `/workspace` by default, a relative path under it.
pub fn repo_path(field: &str, path: Option<&str>) -> ApiResult<String> {
    let p = path.unwrap_or(DEFAULT_GIT_PATH);
    params::path(field, p)?;
    if p.starts_with('/') {
        return Ok(p.to_owned());
    }
    Ok(format!("{DEFAULT_GIT_PATH}/{}", p.trim_start_matches("./")))
}

/// Text without NUL or other control bytes (tabs allowed where `tab`).
fn plain(field: &str, v: &str, tab: bool) -> ApiResult<()> {
    if v.chars().any(|c| c.is_control() && !(tab && c == '\t')) {
        return Err(ApiError::field(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// Refuse what git would read as an option.
fn not_option(field: &str, v: &str) -> ApiResult<()> {
    if v.starts_with('-') {
        return Err(ApiError::field(
            field,
            format!("must not start with '-', got {v:?}"),
        ));
    }
    Ok(())
}

/// A branch or remote name, by git's rules for ref names
/// (`git check-ref-format --branch`).
pub fn ref_name(field: &str, v: &str) -> ApiResult<()> {
    let bad = |why: &str| Err(ApiError::field(field, format!("{why}, got {v:?}")));
    if v.is_empty() || v.len() > MAX_NAME {
        return bad(&format!("must be a name of 1 to {MAX_NAME} bytes"));
    }
    not_option(field, v)?;
    if v.chars().any(|c| c.is_control() || c.is_whitespace())
        || v.contains(['~', '^', ':', '?', '*', '[', '\\'])
        || v.contains("..")
        || v.contains("@{")
        || v.contains("//")
        || v == "@"
        || v.ends_with('/')
        || v.ends_with('.')
        || v.ends_with(".lock")
        || v.split('/').any(|c| c.starts_with('.'))
    {
        return bad("is not a valid git branch or remote name");
    }
    Ok(())
}

/// A revision (`main`, `HEAD~2`, `v1.0`, `a1b2c3`, `main..topic`).
pub fn revision(field: &str, v: &str) -> ApiResult<()> {
    if v.is_empty() || v.len() > MAX_NAME {
        return Err(ApiError::field(
            field,
            format!("must be a revision of 1 to {MAX_NAME} bytes"),
        ));
    }
    not_option(field, v)?;
    if v.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(ApiError::field(
            field,
            "must not contain spaces or control characters",
        ));
    }
    Ok(())
}

/// A remote URL or local repository path.
pub fn url(field: &str, v: &str) -> ApiResult<()> {
    if v.trim().is_empty() || v.len() > MAX_URL {
        return Err(ApiError::field(
            field,
            format!("must be a URL of 1 to {MAX_URL} bytes"),
        ));
    }
    not_option(field, v)?;
    plain(field, v, false)?;
    if v.starts_with("ext::") || v.starts_with("fd::") {
        return Err(ApiError::field(
            field,
            "the ext:: and fd:: transports are not allowed",
        ));
    }
    Ok(())
}

/// Paths (or pathspecs) given after `--`.
pub fn paths(field: &str, v: &[String]) -> ApiResult<()> {
    for (i, p) in v.iter().enumerate() {
        params::path(&format!("{field}[{i}]"), p)?;
    }
    Ok(())
}

/// A commit message: some text, no NUL.
pub fn message(field: &str, v: &str) -> ApiResult<()> {
    params::no_nul(field, v)?;
    if v.trim().is_empty() || v.len() > MAX_MESSAGE {
        return Err(ApiError::field(
            field,
            format!("must be a non-empty message of at most {MAX_MESSAGE} bytes"),
        ));
    }
    Ok(())
}

/// An author's name or email: one line, none of `<>`.
pub fn ident(field: &str, v: &str) -> ApiResult<()> {
    plain(field, v, false)?;
    if v.trim().is_empty() || v.len() > MAX_NAME || v.contains(['<', '>']) {
        return Err(ApiError::field(
            field,
            format!("must be 1 to {MAX_NAME} bytes without '<' or '>'"),
        ));
    }
    Ok(())
}

/// A config key: `section.name` or `section.subsection.name`.
pub fn config_key(field: &str, v: &str) -> ApiResult<()> {
    let (section, name) = match (v.split_once('.'), v.rsplit_once('.')) {
        (Some((s, _)), Some((_, n))) => (s, n),
        _ => ("", ""),
    };
    let word = |w: &str| {
        w.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
            && w.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if v.len() > MAX_NAME || !word(section) || !word(name) || plain(field, v, false).is_err() {
        return Err(ApiError::field(
            field,
            format!("must be a key like user.email or remote.origin.url, got {v:?}"),
        ));
    }
    Ok(())
}

/// A config value: any text without NUL.
pub fn config_value(field: &str, v: &str) -> ApiResult<()> {
    params::text(field, v, 4096)
}

/// A credential: one line (it is handed to git line by line).
pub fn secret(field: &str, v: &str) -> ApiResult<()> {
    if v.is_empty() || v.len() > 8192 || v.contains(['\n', '\r', '\0']) {
        return Err(ApiError::field(
            field,
            "must be 1 to 8192 bytes on one line",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_looking_names_are_refused() {
        for bad in [
            "-f",
            "--upload-pack=x",
            "a b",
            "a..b",
            "a~1",
            "x.lock",
            "a/",
            ".hid",
            "a@{1}",
            "",
        ] {
            assert!(ref_name("branch", bad).is_err(), "{bad:?}");
        }
        for good in ["main", "feature/x-1", "release-2.0", "user/abc_def"] {
            ref_name("branch", good).unwrap();
        }
        assert!(revision("revision", "--all").is_err());
        assert!(revision("revision", "HEAD~2 x").is_err());
        revision("revision", "HEAD~2").unwrap();
        revision("revision", "main..topic").unwrap();
        let e = url("url", "--upload-pack=touch /tmp/x").unwrap_err();
        assert!(
            e.message.starts_with("url: must not start with '-'"),
            "{}",
            e.message
        );
        assert!(url("url", "ext::sh -c touch% /tmp/pwned").is_err());
        assert!(url("url", " ").is_err());
        assert!(url("url", "https://h/r\n.git").is_err());
        url("url", "https://example.com/a/b.git").unwrap();
        url("url", "git@example.com:a/b.git").unwrap();
    }

    #[test]
    fn keys_messages_and_idents() {
        config_key("key", "user.email").unwrap();
        config_key("key", "remote.origin.url").unwrap();
        for bad in ["user", "-x.y", ".x", "user.", "a.b c", "1a.b"] {
            assert!(config_key("key", bad).is_err(), "{bad:?}");
        }
        assert!(message("message", "  \n").is_err());
        assert!(message("message", "a\0b").is_err());
        message("message", "-m looks like an option but is a message").unwrap();
        assert!(ident("author_name", "A <b>").is_err());
        assert!(ident("author_name", "A\nB").is_err());
        assert!(secret("auth.password", "a\nusername=evil").is_err());
    }

    #[test]
    fn relative_paths_are_under_workspace() {
        assert_eq!(repo_path("path", None).unwrap(), "/workspace");
        assert_eq!(repo_path("path", Some("repo")).unwrap(), "/workspace/repo");
        assert_eq!(
            repo_path("path", Some("./repo")).unwrap(),
            "/workspace/repo"
        );
        assert_eq!(repo_path("path", Some("/srv/r")).unwrap(), "/srv/r");
        assert!(repo_path("path", Some("")).is_err());
    }
}
