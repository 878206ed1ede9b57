//! The flags that describe a template build, shared by `template build` and
//! `template render`, and what they make: the build request, and its
//! Dockerfile-like rendering.
//!
//! Steps are made in the order their flags are given (`--run-cmd`, `--apt-install`,
//! `--pip-install`, `--npm-install`, `--env`, `--workdir`, `--user`, `--copy`), so
//! `--user root --run-cmd A --user user --run-cmd B` runs A as root and B as user.
//! Consecutive `--apt-install` (or `--pip-install`, `--npm-install`) flags make one
//! step installing all their packages, consecutive `--env` flags one `env` step.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::builder::NonEmptyStringValueParser;
use clap::{ArgMatches, Args, FromArgMatches};
use nullspace_api::{
    RegistryAuth, TemplateBuildRequest, TemplateStep, DEFAULT_TEMPLATE, DEFAULT_USER,
    MAX_READY_TIMEOUT_SECS, MAX_STEP_TIMEOUT_SECS,
};

use crate::args::{CopySpec, KeyValue, UserName};
use crate::error::CliError;

/// Working directory of a build's first step (`spec/templates.md`).
pub const START_WORKDIR: &str = "/workspace";

/// The flags of a build, as clap reads them (steps by kind; [`BuildSpec`] puts them
/// back in order).
#[derive(Debug, Clone, Default, Args)]
pub struct SpecFlags {
    /// Template name, NAME or NAME:TAG (a build needs one, here or in --from-json).
    #[arg(long, value_name = "NAME[:TAG]")]
    pub name: Option<String>,
    /// Another tag for the new version (repeatable; replaces the --from-json tags).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Parent template: base (the default) or a NAME[:TAG] or tpl_… of yours.
    #[arg(long, value_name = "REF", conflicts_with = "from_image")]
    pub from_template: Option<String>,
    /// Parent: an OCI image instead (python:3.12, registry:5000/team/app:1); names
    /// without a registry come from the server's default registry (Docker Hub).
    #[arg(long, value_name = "IMAGE")]
    pub from_image: Option<String>,
    /// User name for --from-image's registry; the password is read from the
    /// environment variable NULLSPACE_REGISTRY_PASSWORD.
    #[arg(
        long,
        value_name = "USER",
        requires = "from_image",
        conflicts_with = "gcp_service_account"
    )]
    pub registry_username: Option<String>,
    /// A GCP service account key file, for --from-image from Artifact Registry or GCR.
    #[arg(
        long,
        value_name = "FILE",
        requires = "from_image",
        conflicts_with = "aws_region"
    )]
    pub gcp_service_account: Option<PathBuf>,
    /// Log in to --from-image's AWS ECR registry in REGION, with the keys in
    /// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and (optional) AWS_SESSION_TOKEN.
    #[arg(
        long,
        value_name = "REGION",
        requires = "from_image",
        conflicts_with = "registry_username"
    )]
    pub aws_region: Option<String>,
    /// Step: run CMD with bash -c as the current user (repeatable).
    #[arg(long, value_name = "CMD", value_parser = NonEmptyStringValueParser::new())]
    pub run_cmd: Vec<String>,
    /// Step: apt-get install the Debian package PKG as root (repeatable).
    #[arg(long, value_name = "PKG", value_parser = NonEmptyStringValueParser::new())]
    pub apt_install: Vec<String>,
    /// Step: pip install the Python package PKG for python3 as root (repeatable).
    #[arg(long, value_name = "PKG", value_parser = NonEmptyStringValueParser::new())]
    pub pip_install: Vec<String>,
    /// Step: npm install -g the package PKG as root (repeatable).
    #[arg(long, value_name = "PKG", value_parser = NonEmptyStringValueParser::new())]
    pub npm_install: Vec<String>,
    /// Step: a build-time environment variable of the following steps, KEY=VALUE
    /// (repeatable; machines get --runtime-env instead).
    #[arg(long = "env", value_name = "KEY=VALUE")]
    pub envs: Vec<KeyValue>,
    /// Step: working directory of the following steps (made if missing; relative to
    /// the current one) and of the machines.
    #[arg(long, value_name = "PATH", value_parser = NonEmptyStringValueParser::new())]
    pub workdir: Vec<String>,
    /// Step: user of the following steps (user or root).
    #[arg(long, value_name = "USER")]
    pub user: Vec<UserName>,
    /// Step: copy a local directory's contents (less its .nullspaceignore) or a file
    /// (under its own name) into DEST of the machine, owned by the current user.
    #[arg(long, value_name = "SRC:DEST")]
    pub copy: Vec<CopySpec>,
    /// Environment variable of the machines made from the template and of the start
    /// command, KEY=VALUE (repeatable).
    #[arg(long = "runtime-env", value_name = "KEY=VALUE")]
    pub runtime_envs: Vec<KeyValue>,
    /// Started (bash -c, in the background) once the steps are done; machines made
    /// from the template start with it running.
    #[arg(long, value_name = "CMD")]
    pub start_cmd: Option<String>,
    /// Run every 500 ms until it exits 0; then the template is saved.
    #[arg(long, value_name = "CMD")]
    pub ready_cmd: Option<String>,
    /// Seconds the ready command may take to succeed (1-3600; server default 60).
    #[arg(long, value_name = "SECS",
          value_parser = clap::value_parser!(u64).range(1..=MAX_READY_TIMEOUT_SECS))]
    pub ready_timeout: Option<u64>,
    /// Seconds one run step may take (1-86400; server default 1800).
    #[arg(long, value_name = "SECS",
          value_parser = clap::value_parser!(u64).range(1..=MAX_STEP_TIMEOUT_SECS))]
    pub step_timeout: Option<u64>,
    /// vCPUs (must equal the parent's).
    #[arg(long, value_name = "N")]
    pub cpu_count: Option<u32>,
    /// Memory in MiB (must equal the parent's).
    #[arg(long, value_name = "N")]
    pub memory_mb: Option<u64>,
    /// Close the build machine's outbound traffic.
    #[arg(long)]
    pub no_internet_access: bool,
    /// Rerun every step instead of restoring cached ones.
    #[arg(long)]
    pub skip_cache: bool,
    /// Start from this build request (JSON as `template render json` prints; - for
    /// stdin): flags override its name, tags and settings, and add steps after its own.
    #[arg(long, value_name = "FILE")]
    pub from_json: Option<PathBuf>,
}

/// One step flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepFlag {
    /// `--run-cmd`.
    Run(String),
    /// `--apt-install`.
    Apt(String),
    /// `--pip-install`.
    Pip(String),
    /// `--npm-install`.
    Npm(String),
    /// `--env`.
    Env(KeyValue),
    /// `--workdir`.
    Workdir(String),
    /// `--user`.
    User(String),
    /// `--copy`.
    Copy(CopySpec),
}

/// The flags of a build with its step flags in command-line order.
#[derive(Debug, Clone, Default)]
pub struct BuildSpec {
    /// Every flag, by kind.
    pub flags: SpecFlags,
    /// The step flags, in the order they were given.
    pub steps: Vec<StepFlag>,
}

impl Args for BuildSpec {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        SpecFlags::augment_args(cmd)
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        SpecFlags::augment_args_for_update(cmd)
    }
}

impl FromArgMatches for BuildSpec {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        // Read the positions first: the derived reader takes the values out.
        let steps = ordered_steps(m);
        let flags = SpecFlags::from_arg_matches(m)?;
        Ok(Self { flags, steps })
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

/// The values of flag `id` with their positions on the command line.
fn positioned<T: Clone + Send + Sync + 'static>(
    m: &ArgMatches,
    id: &str,
    make: impl Fn(T) -> StepFlag,
    out: &mut Vec<(usize, StepFlag)>,
) {
    let (Some(at), Ok(Some(values))) = (m.indices_of(id), m.try_get_many::<T>(id)) else {
        return;
    };
    out.extend(at.zip(values.cloned().map(make)));
}

/// Every step flag of `m`, in command-line order.
fn ordered_steps(m: &ArgMatches) -> Vec<StepFlag> {
    let mut out = Vec::new();
    positioned(m, "run_cmd", StepFlag::Run, &mut out);
    positioned(m, "apt_install", StepFlag::Apt, &mut out);
    positioned(m, "pip_install", StepFlag::Pip, &mut out);
    positioned(m, "npm_install", StepFlag::Npm, &mut out);
    positioned(m, "envs", StepFlag::Env, &mut out);
    positioned(m, "workdir", StepFlag::Workdir, &mut out);
    positioned(m, "user", |u: UserName| StepFlag::User(u.0), &mut out);
    positioned(m, "copy", StepFlag::Copy, &mut out);
    out.sort_by_key(|(at, _)| *at);
    out.into_iter().map(|(_, s)| s).collect()
}

/// A build request made from flags, and the local sources of its `copy` steps.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The request; the `copy` steps made from `--copy` have an empty `context`
    /// until their sources are packed.
    pub request: TemplateBuildRequest,
    /// The step index and local source of each `--copy`.
    pub copies: Vec<(usize, PathBuf)>,
}

/// `s` quoted for bash when it needs it (as Python's `shlex.quote`).
pub fn shell_quote(s: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "@%+=:,./_-".contains(c);
    if !s.is_empty() && s.chars().all(safe) {
        return s.to_owned();
    }
    format!("'{}'", s.replace('\'', r#"'"'"'"#))
}

/// `path` made absolute against `base` and normalised (`.`, `..`, `//`).
pub fn resolve(base: &str, path: &str) -> String {
    let joined = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("{base}/{path}")
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in joined.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

/// The working directory after `steps`.
fn workdir_after(steps: &[TemplateStep]) -> String {
    steps
        .iter()
        .rev()
        .find_map(|s| match s {
            TemplateStep::Workdir { path } => Some(path.clone()),
            _ => None,
        })
        .unwrap_or_else(|| START_WORKDIR.to_owned())
}

/// The command of an install step of `flag`'s kind for `packages`.
fn install_cmd(flag: &StepFlag, packages: &[String]) -> Option<String> {
    let names = packages
        .iter()
        .map(|p| shell_quote(p))
        .collect::<Vec<_>>()
        .join(" ");
    Some(match flag {
        StepFlag::Apt(_) => format!(
            "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y \
             --no-install-recommends {names}"
        ),
        StepFlag::Pip(_) => format!("python3 -m pip install --break-system-packages {names}"),
        StepFlag::Npm(_) => format!("npm install -g {names}"),
        _ => return None,
    })
}

/// The package of an install flag.
fn package(flag: &StepFlag) -> Option<&str> {
    match flag {
        StepFlag::Apt(p) | StepFlag::Pip(p) | StepFlag::Npm(p) => Some(p),
        _ => None,
    }
}

impl BuildSpec {
    /// The request these flags describe, over `base` (the `--from-json` request)
    /// when there is one.
    pub fn plan(&self, base: Option<TemplateBuildRequest>) -> Plan {
        let f = &self.flags;
        let mut r = base.unwrap_or_default();
        if let Some(name) = &f.name {
            r.name = name.clone();
        }
        if !f.tags.is_empty() {
            r.tags = f.tags.clone();
        }
        if f.from_template.is_some() {
            r.from_template = f.from_template.clone();
            r.from_image = None;
            r.registry_auth = None;
        }
        if f.from_image.is_some() {
            r.from_image = f.from_image.clone();
            r.from_template = None;
        }
        let mut workdir = workdir_after(&r.steps);
        let mut copies = Vec::new();
        let mut i = 0;
        while i < self.steps.len() {
            let flag = &self.steps[i];
            // Install and env flags take in the consecutive flags of their kind.
            let group: &[StepFlag] = match flag {
                StepFlag::Apt(_) | StepFlag::Pip(_) | StepFlag::Npm(_) | StepFlag::Env(_) => {
                    let kind = std::mem::discriminant(flag);
                    let n = self.steps[i..]
                        .iter()
                        .take_while(|s| std::mem::discriminant(*s) == kind)
                        .count();
                    &self.steps[i..i + n]
                }
                _ => &self.steps[i..=i],
            };
            i += group.len();
            match flag {
                StepFlag::Run(cmd) => r.steps.push(TemplateStep::Run {
                    cmd: cmd.clone(),
                    user: None,
                }),
                StepFlag::Apt(_) | StepFlag::Pip(_) | StepFlag::Npm(_) => {
                    let packages: Vec<String> = group
                        .iter()
                        .filter_map(|s| package(s).map(str::to_owned))
                        .collect();
                    r.steps.push(TemplateStep::Run {
                        cmd: install_cmd(flag, &packages).unwrap_or_default(),
                        user: Some("root".into()),
                    });
                }
                StepFlag::Env(_) => {
                    let envs = group
                        .iter()
                        .filter_map(|s| match s {
                            StepFlag::Env(KeyValue(k, v)) => Some((k.clone(), v.clone())),
                            _ => None,
                        })
                        .collect();
                    r.steps.push(TemplateStep::Env { envs });
                }
                StepFlag::Workdir(path) => {
                    workdir = resolve(&workdir, path);
                    r.steps.push(TemplateStep::Workdir {
                        path: workdir.clone(),
                    });
                }
                StepFlag::User(user) => r.steps.push(TemplateStep::User { user: user.clone() }),
                StepFlag::Copy(c) => {
                    copies.push((r.steps.len(), c.src.clone()));
                    r.steps.push(TemplateStep::Copy {
                        context: String::new(),
                        dest: resolve(&workdir, &c.dest),
                    });
                }
            }
        }
        for KeyValue(k, v) in &f.runtime_envs {
            r.runtime_envs.insert(k.clone(), v.clone());
        }
        let or = |flag: &Option<String>, old: &mut Option<String>| {
            if flag.is_some() {
                *old = flag.clone();
            }
        };
        or(&f.start_cmd, &mut r.start_cmd);
        or(&f.ready_cmd, &mut r.ready_cmd);
        r.ready_timeout_secs = f.ready_timeout.or(r.ready_timeout_secs);
        r.step_timeout_secs = f.step_timeout.or(r.step_timeout_secs);
        r.cpu_count = f.cpu_count.or(r.cpu_count);
        r.memory_mb = f.memory_mb.or(r.memory_mb);
        if f.no_internet_access {
            r.internet_access = Some(false);
        }
        r.skip_cache |= f.skip_cache;
        Plan { request: r, copies }
    }
}

/// The build request in the JSON file `path` (`-`: standard input). A missing
/// `name` is read as empty (`template render json` leaves it out when none was
/// given), for `--name` to fill in.
pub fn read_request(path: &Path) -> Result<TemplateBuildRequest, CliError> {
    let text = crate::input::read_text(path)?;
    let what = if path.as_os_str() == "-" {
        "the build request on standard input".to_owned()
    } else {
        format!("the build request {}", path.display())
    };
    let invalid = |source| CliError::InvalidJson {
        what: what.clone(),
        source,
    };
    let mut value: serde_json::Value = serde_json::from_str(&text).map_err(invalid)?;
    if let Some(object) = value.as_object_mut() {
        object.entry("name").or_insert_with(|| "".into());
    }
    serde_json::from_value(value).map_err(invalid)
}

/// Environment variable holding the password of `--registry-username`.
pub const REGISTRY_PASSWORD_ENV: &str = "NULLSPACE_REGISTRY_PASSWORD";

/// The registry login the flags ask for, read from the environment or a key file.
pub fn registry_auth(flags: &SpecFlags) -> Result<Option<RegistryAuth>, CliError> {
    if let Some(username) = &flags.registry_username {
        let password = std::env::var(REGISTRY_PASSWORD_ENV).unwrap_or_default();
        if password.is_empty() {
            return Err(CliError::Usage(format!(
                "--registry-username needs the password in ${REGISTRY_PASSWORD_ENV}"
            )));
        }
        return Ok(Some(RegistryAuth::Basic {
            username: username.clone(),
            password,
        }));
    }
    if let Some(region) = &flags.aws_region {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let (Some(access_key_id), Some(secret_access_key)) =
            (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY"))
        else {
            return Err(CliError::Usage(
                "--aws-region needs $AWS_ACCESS_KEY_ID and $AWS_SECRET_ACCESS_KEY".into(),
            ));
        };
        return Ok(Some(RegistryAuth::Aws {
            access_key_id,
            secret_access_key,
            region: region.clone(),
            session_token: var("AWS_SESSION_TOKEN"),
        }));
    }
    if let Some(path) = &flags.gcp_service_account {
        let key = crate::input::read_text(path)?;
        return Ok(Some(RegistryAuth::Gcp {
            service_account_json: key,
        }));
    }
    Ok(None)
}

/// The request as `template render json` prints it: without `name` when it has
/// none, registry secrets redacted.
pub fn request_json(request: &TemplateBuildRequest) -> serde_json::Value {
    let mut value = serde_json::to_value(request).expect("requests serialize");
    if let Some(auth) = value
        .get_mut("registry_auth")
        .and_then(|a| a.as_object_mut())
    {
        for secret in [
            "password",
            "service_account_json",
            "secret_access_key",
            "session_token",
        ] {
            if let Some(v) = auth.get_mut(secret) {
                *v = "<redacted>".into();
            }
        }
    }
    if request.name.is_empty() {
        if let Some(object) = value.as_object_mut() {
            object.remove("name");
        }
    }
    value
}

/// A `RUN`/`CMD` line: shell form, or the exact `bash -c` exec form for a command
/// of several lines.
fn instruction(keyword: &str, cmd: &str) -> String {
    if cmd.contains('\n') {
        let exec = serde_json::json!(["bash", "-c", cmd]);
        return format!("{keyword} {exec}");
    }
    format!("{keyword} {cmd}")
}

/// An `ENV` line of `envs`, values as JSON strings.
fn env_line(envs: &BTreeMap<String, String>) -> String {
    let pairs: Vec<String> = envs
        .iter()
        .map(|(k, v)| format!("{k}={}", serde_json::Value::from(v.as_str())))
        .collect();
    format!("ENV {}", pairs.join(" "))
}

/// The plan as a Dockerfile, for reading (it is not a build input): a `run` step's
/// own user shows as `USER` lines around its `RUN`, a `copy` step names its local
/// source (or, from `--from-json`, its context's hash), the runtime environment is
/// the last `ENV`, the ready command a comment, the start command `CMD`.
pub fn dockerfile(plan: &Plan) -> String {
    let r = &plan.request;
    let sources: BTreeMap<usize, &PathBuf> = plan.copies.iter().map(|(i, p)| (*i, p)).collect();
    let mut lines = vec![format!(
        "FROM {}",
        r.from_image
            .as_deref()
            .or(r.from_template.as_deref())
            .unwrap_or(DEFAULT_TEMPLATE)
    )];
    let mut user = DEFAULT_USER.to_owned();
    for (i, step) in r.steps.iter().enumerate() {
        match step {
            TemplateStep::Run { cmd, user: Some(u) } if *u != user => lines.extend([
                format!("USER {u}"),
                instruction("RUN", cmd),
                format!("USER {user}"),
            ]),
            TemplateStep::Run { cmd, .. } => lines.push(instruction("RUN", cmd)),
            TemplateStep::Env { envs } => lines.push(env_line(envs)),
            TemplateStep::Workdir { path } => lines.push(format!("WORKDIR {path}")),
            TemplateStep::User { user: u } => {
                user = u.clone();
                lines.push(format!("USER {u}"));
            }
            TemplateStep::Copy { context, dest } => {
                let src = match sources.get(&i) {
                    Some(p) if p.is_dir() => {
                        format!("{}/", p.display().to_string().trim_end_matches('/'))
                    }
                    Some(p) => p.display().to_string(),
                    None => format!("sha256:{context}"),
                };
                let dest = format!("{}/", dest.trim_end_matches('/'));
                if src.chars().chain(dest.chars()).any(char::is_whitespace) {
                    lines.push(format!("COPY {}", serde_json::json!([src, dest])));
                } else {
                    lines.push(format!("COPY {src} {dest}"));
                }
            }
        }
    }
    if !r.runtime_envs.is_empty() {
        lines.push(env_line(&r.runtime_envs));
    }
    if let Some(ready) = &r.ready_cmd {
        lines.push(format!("# ready when this succeeds: {ready}"));
    }
    if let Some(start) = &r.start_cmd {
        lines.push(instruction("CMD", start));
    }
    lines.join("\n") + "\n"
}
