//! Git in a running machine: one implementation behind the `git/*` routes.
//!
//! Each call runs the guest's own `git` as the requested user through the
//! node's exec, with an argv built here (never a shell line holding input), and
//! reads git's machine-readable output ([`parse`]). A failure becomes a typed
//! error from what git printed ([`failure`]). Credentials are for one call only
//! ([`auth`]): HTTPS ones in the process environment, an SSH key in a 0600 file
//! removed after the call whatever its outcome.

mod auth;
mod check;
mod failure;
mod ops;
mod parse;

use std::collections::BTreeMap;

use axum::body::Bytes;
use futures_util::stream;
use nullspace_api::DEFAULT_USER;
use nullspace_types::MachineId;

pub use ops::*;

use super::{commands, files, lifecycle, settle};
use crate::auth::Tenant;
use crate::error::ApiResult;
use crate::node::{Command, CommandOutput, FileOp, FileWrite, Upload};
use crate::params;
use crate::state::AppState;
use crate::store::MachineRow;

/// How a git call ended: its exit code (128 + signal) and output.
#[derive(Debug)]
struct Ran {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Ran {
    fn from_output(out: CommandOutput) -> Self {
        Self {
            code: out
                .exit
                .exit_code
                .unwrap_or_else(|| 128 + out.exit.signal.unwrap_or(0)),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Its stdout, or the typed error of `git <op>` if it failed.
    fn ok(self, op: &str) -> ApiResult<String> {
        if self.code == 0 {
            return Ok(self.stdout);
        }
        Err(failure::error(op, self.code, &self.stderr, &self.stdout))
    }
}

/// One git request against one machine: who runs git, for how long.
struct Repo<'a> {
    state: &'a AppState,
    id: &'a MachineId,
    row: MachineRow,
    user: String,
    timeout_ms: Option<u64>,
}

impl<'a> Repo<'a> {
    /// Find machine `id` running (waking it when it auto-resumes), then check the
    /// common fields. The machine comes first so that a request to a machine that
    /// is not there is 404 whatever its body says.
    async fn open(
        state: &'a AppState,
        tenant: &Tenant,
        id: &'a MachineId,
        user: Option<&str>,
        timeout: Option<f64>,
    ) -> ApiResult<Repo<'a>> {
        let row = lifecycle::running(state, tenant, id).await?;
        let user = params::user("user", user.unwrap_or(DEFAULT_USER))?;
        let timeout_ms = params::run_timeout(
            "timeout",
            timeout.unwrap_or(nullspace_api::DEFAULT_GIT_TIMEOUT_SECS),
        )?;
        Ok(Repo {
            state,
            id,
            row,
            user,
            timeout_ms,
        })
    }

    /// The environment every git call runs with (over the machine's): English
    /// messages, no prompts, no editor, and an email to fall back on.
    fn env(&self) -> BTreeMap<String, String> {
        let mut env: BTreeMap<String, String> = [
            ("LC_ALL", "C"),
            ("GIT_TERMINAL_PROMPT", "0"),
            ("GIT_EDITOR", "true"),
            ("GIT_MERGE_AUTOEDIT", "no"),
            ("GIT_PAGER", "cat"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        if !self.row.envs.contains_key("EMAIL") {
            env.insert("EMAIL".into(), format!("{}@nullspace.local", self.user));
        }
        env
    }

    /// Run `git <config…> <args…>` in `cwd` with `extra` environment and `stdin`.
    async fn exec(
        &self,
        cwd: &str,
        config: &[String],
        args: Vec<String>,
        extra: BTreeMap<String, String>,
        stdin: Option<Vec<u8>>,
    ) -> ApiResult<Ran> {
        let mut env = self.env();
        env.extend(extra);
        let argv = std::iter::once("git".to_owned())
            .chain(config.iter().cloned())
            .chain(args)
            .collect();
        let command = Command {
            argv,
            shell: None,
            env,
            cwd: Some(cwd.to_owned()),
            user: Some(self.user.clone()),
            timeout_ms: self.timeout_ms,
            stdin: false,
        };
        let command = commands::with_machine_defaults(&self.row, command);
        let out = settle(
            self.state,
            self.id,
            self.state.node.exec(self.id, command, stdin).await,
        )
        .await?;
        Ok(Ran::from_output(out))
    }

    /// Run git in `cwd` without credentials; its stdout, or its typed error.
    async fn git(&self, op: &str, cwd: &str, args: &[&str]) -> ApiResult<String> {
        let args = args.iter().map(|a| (*a).to_owned()).collect();
        self.exec(cwd, &[], args, BTreeMap::new(), None)
            .await?
            .ok(op)
    }

    /// Run git in `cwd` and answer its exit code and output, failed or not.
    async fn try_git(&self, cwd: &str, args: &[&str]) -> ApiResult<Ran> {
        let args = args.iter().map(|a| (*a).to_owned()).collect();
        self.exec(cwd, &[], args, BTreeMap::new(), None).await
    }

    /// A fresh directory name for one call's credential files.
    fn temp_dir() -> String {
        format!("/tmp/.nullspace-git-{:016x}", rand::random::<u64>())
    }

    /// Run git in `cwd` with the credentials of `plan`: its files are written
    /// first and removed after, whatever the outcome.
    async fn with_auth(
        &self,
        op: &str,
        cwd: &str,
        args: Vec<String>,
        plan: auth::AuthPlan,
    ) -> ApiResult<String> {
        let ran = async {
            self.write_files(&plan).await?;
            self.exec(cwd, &plan.config, args, plan.env.clone(), None)
                .await
        }
        .await;
        if let Some(dir) = &plan.dir {
            let remove = FileOp::Remove {
                path: dir.clone(),
                user: Some(self.user.clone()),
                recursive: true,
            };
            if let Err(e) = files::op(self.state, self.id, remove).await {
                tracing::warn!(machine = %self.id, dir, error = %e.message, "git credential files not removed");
            }
        }
        ran?.ok(op)
    }

    /// Write the credential files of `plan` (0600, in a 0700 directory).
    async fn write_files(&self, plan: &auth::AuthPlan) -> ApiResult<()> {
        let Some(dir) = &plan.dir else {
            return Ok(());
        };
        let mkdir = FileOp::Mkdir {
            path: dir.clone(),
            user: Some(self.user.clone()),
            mode: Some(0o700),
            owner: None,
        };
        files::op(self.state, self.id, mkdir).await?;
        for f in &plan.files {
            let write = FileWrite {
                path: f.path.clone(),
                user: Some(self.user.clone()),
                mode: Some(0o600),
                owner: None,
                offset: None,
            };
            let body: Upload = Box::pin(stream::iter([Ok(Bytes::from(f.contents.clone()))]));
            files::write(self.state, self.id, write, body).await?;
        }
        Ok(())
    }
}
