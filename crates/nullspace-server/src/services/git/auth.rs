//! Credentials for one git call, kept out of argv and out of the repository.
//!
//! HTTPS credentials travel in the environment of the one git process and reach
//! it through a credential helper given with `-c`, whose text names only the
//! variables: nothing secret is in any process's argv, and the helper list is
//! emptied first so no configured helper (`store`) records them. An SSH key is
//! written to a 0600 file in a fresh directory for the call and removed after it
//! (see [`super::Repo::with_auth`]); `GIT_SSH_COMMAND` points ssh at it.

use std::collections::BTreeMap;

use nullspace_api::GitAuth;

use super::check;
use crate::error::{ApiError, ApiResult};

/// Environment variable holding the HTTPS user name.
const USERNAME_VAR: &str = "NULLSPACE_GIT_USERNAME";
/// Environment variable holding the HTTPS password or token.
const PASSWORD_VAR: &str = "NULLSPACE_GIT_PASSWORD";
/// User name sent with a bare token.
pub const TOKEN_USERNAME: &str = "x-access-token";

/// The credential helper: answers `get` from the environment, ignores the rest.
pub const HELPER: &str = "!f() { test \"$1\" = get || return 0; \
echo \"username=${NULLSPACE_GIT_USERNAME}\"; echo \"password=${NULLSPACE_GIT_PASSWORD}\"; }; f";

/// A file written for the call and removed after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TempFile {
    /// Guest path.
    pub path: String,
    /// Contents.
    pub contents: String,
}

/// What one git call needs for its credentials.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthPlan {
    /// `-c` options before the subcommand.
    pub config: Vec<String>,
    /// Environment of the git process.
    pub env: BTreeMap<String, String>,
    /// Files to write first (0600) and remove after.
    pub files: Vec<TempFile>,
    /// Directory holding `files`, removed after the call.
    pub dir: Option<String>,
}

/// The plan for `auth` (and credentials taken out of a clone URL); SSH files go
/// under `dir`.
pub fn plan(
    auth: Option<&GitAuth>,
    from_url: Option<(String, Option<String>)>,
    dir: &str,
) -> ApiResult<AuthPlan> {
    let auth = auth.cloned().unwrap_or_default();
    let password = match (&auth.password, &auth.token) {
        (Some(_), Some(_)) => {
            return Err(ApiError::field(
                "auth.token",
                "give either password or token, not both",
            ))
        }
        (p, t) => p.clone().or_else(|| t.clone()),
    };
    let (url_user, url_password) = from_url.unzip();
    let username = auth.username.clone().or(url_user);
    let password = password.or(url_password.flatten());
    let https = username.is_some() || password.is_some();
    if https && auth.ssh_key.is_some() {
        return Err(ApiError::field(
            "auth.ssh_key",
            "give either HTTPS credentials or an SSH key, not both",
        ));
    }
    if auth.known_hosts.is_some() && auth.ssh_key.is_none() {
        return Err(ApiError::field(
            "auth.known_hosts",
            "is used only with ssh_key",
        ));
    }
    let mut plan = AuthPlan::default();
    if https {
        let Some(password) = password else {
            return Err(ApiError::field(
                "auth.password",
                "a username needs a password or token",
            ));
        };
        let username = username.unwrap_or_else(|| TOKEN_USERNAME.to_owned());
        check::secret("auth.username", &username)?;
        check::secret("auth.password", &password)?;
        plan.config = vec![
            "-c".into(),
            "credential.helper=".into(),
            "-c".into(),
            format!("credential.helper={HELPER}"),
        ];
        plan.env.insert(USERNAME_VAR.into(), username);
        plan.env.insert(PASSWORD_VAR.into(), password);
    }
    if let Some(key) = &auth.ssh_key {
        check_key(key)?;
        let key_path = format!("{dir}/key");
        let mut ssh = format!("ssh -i {key_path} -o IdentitiesOnly=yes -o BatchMode=yes");
        plan.files.push(TempFile {
            path: key_path,
            contents: with_newline(key),
        });
        if let Some(hosts) = &auth.known_hosts {
            crate::params::no_nul("auth.known_hosts", hosts)?;
            let hosts_path = format!("{dir}/known_hosts");
            ssh.push_str(&format!(
                " -o StrictHostKeyChecking=yes -o UserKnownHostsFile={hosts_path}"
            ));
            plan.files.push(TempFile {
                path: hosts_path,
                contents: with_newline(hosts),
            });
        } else {
            ssh.push_str(" -o StrictHostKeyChecking=accept-new");
        }
        plan.env.insert("GIT_SSH_COMMAND".into(), ssh);
        plan.dir = Some(dir.to_owned());
    }
    Ok(plan)
}

/// Check an SSH private key's shape.
fn check_key(key: &str) -> ApiResult<()> {
    crate::params::no_nul("auth.ssh_key", key)?;
    if !key.trim_start().starts_with("-----BEGIN ") || key.len() > 64 << 10 {
        return Err(ApiError::field(
            "auth.ssh_key",
            "must be a private key in PEM or OpenSSH format (-----BEGIN …)",
        ));
    }
    Ok(())
}

fn with_newline(s: &str) -> String {
    if s.ends_with('\n') {
        s.to_owned()
    } else {
        format!("{s}\n")
    }
}

/// Split credentials out of an `http(s)://user:password@host/…` URL: the URL
/// without them, and the user name and password (percent-decoded) if it had any.
pub fn split_userinfo(url: &str) -> (String, Option<(String, Option<String>)>) {
    let Some((scheme, rest)) = url.split_once("://") else {
        return (url.to_owned(), None);
    };
    if !matches!(scheme.to_ascii_lowercase().as_str(), "http" | "https") {
        return (url.to_owned(), None);
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return (url.to_owned(), None);
    };
    let (user, password) = match userinfo.split_once(':') {
        Some((u, p)) => (percent_decode(u), Some(percent_decode(p))),
        None => (percent_decode(userinfo), None),
    };
    (format!("{scheme}://{host}{tail}"), Some((user, password)))
}

/// Whether `url` carries credentials.
pub fn has_userinfo(url: &str) -> bool {
    split_userinfo(url).1.is_some()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (
            b[i],
            b.get(i + 1).copied().and_then(hex),
            b.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIR: &str = "/tmp/.nullspace-git-0123";

    fn token(t: &str) -> GitAuth {
        GitAuth {
            token: Some(t.into()),
            ..Default::default()
        }
    }

    #[test]
    fn https_credentials_go_to_the_environment_only() {
        let p = plan(Some(&token("s3cr3t")), None, DIR).unwrap();
        assert!(p.config.iter().all(|a| !a.contains("s3cr3t")));
        assert_eq!(
            p.config[1], "credential.helper=",
            "configured helpers are emptied first"
        );
        assert!(p.config[3].starts_with("credential.helper=!"));
        assert_eq!(p.env[PASSWORD_VAR], "s3cr3t");
        assert_eq!(p.env[USERNAME_VAR], TOKEN_USERNAME);
        assert!(p.files.is_empty() && p.dir.is_none());
        assert!(!HELPER.contains("s3cr3t"));
    }

    #[test]
    fn userinfo_is_stripped_from_urls() {
        let (url, creds) = split_userinfo("https://bob:p%40ss@git.example.com:8443/a/b.git?x#y");
        assert_eq!(url, "https://git.example.com:8443/a/b.git?x#y");
        assert_eq!(creds, Some(("bob".into(), Some("p@ss".into()))));
        let p = plan(None, creds, DIR).unwrap();
        assert_eq!(
            (p.env[USERNAME_VAR].as_str(), p.env[PASSWORD_VAR].as_str()),
            ("bob", "p@ss")
        );
        assert_eq!(
            split_userinfo("https://h/a@b").1,
            None,
            "an @ in the path is not userinfo"
        );
        assert_eq!(split_userinfo("git@h:a/b.git").1, None);
        assert!(has_userinfo("HTTP://t@h/r"));
        assert!(!has_userinfo("ssh://git@h/r"));
    }

    #[test]
    fn ssh_keys_are_files_for_the_call() {
        let auth = GitAuth {
            ssh_key: Some(
                "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----"
                    .into(),
            ),
            known_hosts: Some("h ssh-ed25519 AAAA".into()),
            ..Default::default()
        };
        let p = plan(Some(&auth), None, DIR).unwrap();
        assert_eq!(p.dir.as_deref(), Some(DIR));
        assert_eq!(p.files[0].path, format!("{DIR}/key"));
        assert!(p.files[0].contents.ends_with("-----\n"));
        let ssh = &p.env["GIT_SSH_COMMAND"];
        assert!(
            ssh.contains(&format!("-i {DIR}/key")) && ssh.contains("StrictHostKeyChecking=yes")
        );
        assert!(!ssh.contains("abc"));
        assert!(p.config.is_empty());
    }

    #[test]
    fn contradictory_or_malformed_auth_is_refused() {
        let both = GitAuth {
            password: Some("a".into()),
            token: Some("b".into()),
            ..Default::default()
        };
        assert!(plan(Some(&both), None, DIR).is_err());
        let user_only = GitAuth {
            username: Some("bob".into()),
            ..Default::default()
        };
        assert!(plan(Some(&user_only), None, DIR).is_err());
        let mixed = GitAuth {
            ssh_key: Some("-----BEGIN X-----".into()),
            ..token("t")
        };
        assert!(plan(Some(&mixed), None, DIR).is_err());
        let not_a_key = GitAuth {
            ssh_key: Some("hello".into()),
            ..Default::default()
        };
        assert!(plan(Some(&not_a_key), None, DIR).is_err());
        assert!(plan(Some(&token("a\nb")), None, DIR).is_err());
        assert_eq!(plan(None, None, DIR).unwrap(), AuthPlan::default());
    }
}
