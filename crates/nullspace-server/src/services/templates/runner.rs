//! Running a build: restore the newest cached state of its steps (or its parent)
//! in a build machine, run the rest through the agent, snapshotting after each,
//! start the start command, wait until ready, save the version. The build
//! machine is destroyed whatever happens.

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::StreamExt;
use nullspace_api::{BuildError, BuildErrorCode, BuildStatus, TemplateBuildRequest, TemplateStep};
use nullspace_types::{Egress, MachineId, SnapshotId};

use super::cache::{root_key, step_key, StepContext};
use super::contexts;
use super::log::{BuildLog, Lines};
use super::Version;
use crate::node::{
    ArchiveSpec, AttachEvent, AttachRequest, Command, Conflict, Exit, ImageImport, NodeErrorCode,
    OutputStream, ProcessRef, ProcessSpec,
};
use crate::state::AppState;
use crate::store::{now, BuildRow, CacheRow};

/// How often the ready command is tried.
const READY_INTERVAL: Duration = Duration::from_millis(500);
/// Longest one try of the ready command may take.
const READY_TRY_MS: u64 = 10_000;
/// How long a start command without a ready command must keep running.
const START_GRACE: Duration = Duration::from_secs(1);
/// Tag of the start command's process.
const START_TAG: &str = "start";

/// What a build restores first.
#[derive(Debug, Clone)]
pub enum Parent {
    /// A template of the node (`base`).
    Builtin(String),
    /// A version of one of the tenant's templates.
    Version(Box<Version>),
    /// An OCI image, pulled and booted by the node when the build starts.
    Image(Box<ImageImport>),
}

/// A checked build, ready to run.
#[derive(Debug)]
pub struct Plan {
    /// Its row as inserted.
    pub build: BuildRow,
    /// What was asked.
    pub request: TemplateBuildRequest,
    /// What it starts from.
    pub parent: Parent,
    /// Tags its version gets.
    pub tags: Vec<String>,
    /// Environment of its machines (and its start command).
    pub machine_envs: BTreeMap<String, String>,
    /// Seconds the ready command may take.
    pub ready_timeout_secs: u64,
    /// Seconds one `run` step may take.
    pub step_timeout_secs: u64,
}

/// A failure, as the build reports it.
fn fail(code: BuildErrorCode, message: impl Into<String>) -> BuildError {
    BuildError {
        code,
        message: message.into(),
        step: None,
        exit_code: None,
        last_lines: Vec::new(),
    }
}

fn at_step(mut e: BuildError, step: u32) -> BuildError {
    e.step = Some(step);
    e
}

/// One step with the key of the state after it (run and copy steps only).
struct Keyed<'a> {
    step: &'a TemplateStep,
    ctx: StepContext,
    key: Option<String>,
}

fn describe(step: &TemplateStep) -> String {
    match step {
        TemplateStep::Run { cmd, user: Some(u) } => format!("run as {u}: {cmd}"),
        TemplateStep::Run { cmd, user: None } => format!("run: {cmd}"),
        TemplateStep::Env { envs } => {
            let names: Vec<&str> = envs.keys().map(String::as_str).collect();
            format!("env: {}", names.join(", "))
        }
        TemplateStep::Workdir { path } => format!("workdir: {path}"),
        TemplateStep::User { user } => format!("user: {user}"),
        TemplateStep::Copy { context, dest } => format!(
            "copy: context {} to {dest}",
            &context[..12.min(context.len())]
        ),
    }
}

/// The context of a build's first step: the default user in `/workspace`.
fn first_context() -> StepContext {
    StepContext {
        user: nullspace_api::DEFAULT_USER.to_owned(),
        cwd: "/workspace".to_owned(),
        envs: BTreeMap::new(),
    }
}

/// The build's steps with the context each runs in and the keys of the states,
/// and the context after the last step.
fn keyed<'a>(
    parent_key: &str,
    mut ctx: StepContext,
    steps: &'a [TemplateStep],
) -> (Vec<Keyed<'a>>, StepContext) {
    let mut prev = root_key(parent_key);
    let mut out = Vec::with_capacity(steps.len());
    for step in steps {
        let here = ctx.clone();
        let key = match step {
            TemplateStep::Run { .. } | TemplateStep::Copy { .. } => {
                prev = step_key(&prev, step, &here);
                Some(prev.clone())
            }
            TemplateStep::Env { envs } => {
                ctx.envs.extend(envs.clone());
                None
            }
            TemplateStep::Workdir { path } => {
                ctx.cwd = path.clone();
                None
            }
            TemplateStep::User { user } => {
                ctx.user = user.clone();
                None
            }
        };
        out.push(Keyed {
            step,
            ctx: here,
            key,
        });
    }
    (out, ctx)
}

/// Where the build ends up.
struct Done {
    snapshot: String,
    size_bytes: u64,
}

/// Run a planned build to its end and record how it ended.
pub async fn run(state: AppState, plan: Plan) {
    let mut build = plan.build.clone();
    let mut log = BuildLog::new(state.clone(), build.id.clone());
    let permit = state.build_slots.clone().acquire_owned().await;
    build.status = BuildStatus::Building.as_str().into();
    save(&state, &build).await;
    let mut runner = Runner {
        state: state.clone(),
        plan: &plan,
        build: &mut build,
        log: &mut log,
        machine: None,
        machine_envs: plan.machine_envs.clone(),
        node_template: None,
    };
    let outcome = runner.execute().await;
    let machine = runner.machine.take();
    if let Some(id) = machine {
        if let Err(e) = state.node.kill(&id).await {
            log.line(
                "warn",
                None,
                format!(
                    "the build machine {id} could not be destroyed: {}",
                    e.message
                ),
            )
            .await;
        }
    }
    build.machine_id = None;
    build.finished_unix = Some(now().1);
    match outcome {
        Ok(done) => {
            // The version and its tags first, then the log, then the status: a
            // client that sees `ready` finds the tags and the whole log.
            build.snapshot_id = Some(done.snapshot);
            build.size_bytes = done.size_bytes;
            save(&state, &build).await;
            let (tid, tags, bid) = (
                build.template_id.clone(),
                plan.tags.clone(),
                build.id.clone(),
            );
            if let Err(e) = state
                .store_call(move |s| s.set_tags(&tid, &tags, &bid))
                .await
            {
                log.line(
                    "error",
                    None,
                    format!("tagging the version failed: {}", e.message),
                )
                .await;
            }
            log.line(
                "info",
                None,
                format!("build ready: tags {}", plan.tags.join(", ")),
            )
            .await;
            log.close().await;
            build.status = BuildStatus::Ready.as_str().into();
            save(&state, &build).await;
        }
        Err(e) => {
            log.line("error", e.step, format!("build failed: {}", e.message))
                .await;
            if !e.last_lines.is_empty() {
                log.line("error", e.step, "last output:").await;
                log.write("error", e.step, e.last_lines.clone()).await;
            }
            log.close().await;
            build.status = BuildStatus::Error.as_str().into();
            build.error = serde_json::to_string(&e).ok();
            save(&state, &build).await;
        }
    }
    drop(permit);
}

async fn save(state: &AppState, build: &BuildRow) {
    let b = build.clone();
    if let Err(e) = state.store_call(move |s| s.save_build(&b)).await {
        tracing::error!(build = %build.id, "saving the build failed: {}", e.message);
    }
}

struct Runner<'a> {
    state: AppState,
    plan: &'a Plan,
    build: &'a mut BuildRow,
    log: &'a mut BuildLog,
    machine: Option<MachineId>,
    /// Environment of the template's machines and its start command.
    machine_envs: BTreeMap<String, String>,
    /// The node template an image parent was imported as.
    node_template: Option<String>,
}

impl Runner<'_> {
    async fn execute(&mut self) -> Result<Done, BuildError> {
        let req = &self.plan.request;
        let (parent_key, first) = match &self.plan.parent {
            Parent::Builtin(name) => (format!("builtin:{name}"), first_context()),
            Parent::Version(v) => (format!("version:{}", v.build.id), first_context()),
            Parent::Image(image) => self.import(image).await?,
        };
        let (steps, ctx) = keyed(&parent_key, first, &req.steps);
        let total = steps.len();
        // The newest cached state of this build's own steps.
        let mut resume: Option<(usize, CacheRow)> = None;
        if !req.skip_cache {
            for (i, k) in steps.iter().enumerate().rev() {
                let Some(key) = &k.key else { continue };
                let (t, key) = (self.build.tenant.clone(), key.clone());
                if let Ok(Some(c)) = self
                    .state
                    .store_call(move |s| s.cached_step(&t, &key))
                    .await
                {
                    resume = Some((i, c));
                    break;
                }
            }
        }
        let first = resume.as_ref().map_or(0, |(i, _)| i + 1);
        for (i, k) in steps.iter().enumerate().take(first) {
            self.log
                .line(
                    "info",
                    Some(i as u32 + 1),
                    format!("step {}/{total} {} (cached)", i + 1, describe(k.step)),
                )
                .await;
        }
        self.build.steps_done = first as u32;
        self.build.steps_cached = first as u32;
        let has_start = req.start_cmd.is_some() || req.ready_cmd.is_some();
        let needs_work = steps[first..]
            .iter()
            .any(|k| !matches!(k.step, TemplateStep::Env { .. } | TemplateStep::User { .. }));
        if let (Some((_, cached)), false, false) = (&resume, has_start, needs_work) {
            // Every step that changes the machine is cached: that state is the version.
            self.log.line("info", None, "every step is cached").await;
            return Ok(Done {
                snapshot: cached.snapshot_id.clone(),
                size_bytes: cached.size_bytes,
            });
        }
        let from = resume.as_ref().map(|(_, c)| c.snapshot_id.clone());
        self.boot(from).await?;
        let mut last: Option<Done> = None;
        for (i, k) in steps.iter().enumerate().skip(first) {
            let n = i as u32 + 1;
            self.log
                .line(
                    "info",
                    Some(n),
                    format!("step {n}/{total} {}", describe(k.step)),
                )
                .await;
            self.step(n, k).await.map_err(|e| at_step(e, n))?;
            if let Some(key) = &k.key {
                last = Some(self.cache(n, key).await.map_err(|e| at_step(e, n))?);
            }
            self.build.steps_done = n;
            save(&self.state, self.build).await;
        }
        let trailing = steps[first..]
            .iter()
            .rev()
            .take_while(|k| k.key.is_none())
            .any(|k| matches!(k.step, TemplateStep::Workdir { .. }));
        match (last, has_start || trailing) {
            (Some(done), false) => Ok(done),
            _ => {
                self.start(&ctx).await?;
                self.snapshot().await
            }
        }
    }

    /// Has the node pull and boot the image; returns the cache key of that state
    /// and the context the steps start in (the image's `Env` and `WorkingDir`).
    async fn import(&mut self, image: &ImageImport) -> Result<(String, StepContext), BuildError> {
        self.log
            .line("info", None, format!("pulling image {}", image.reference))
            .await;
        let imported = self
            .state
            .node
            .import_image(image.clone())
            .await
            .map_err(|e| fail(BuildErrorCode::ImagePullFailed, e.message))?;
        self.log
            .line(
                "info",
                None,
                format!("image {} is {}", imported.reference, imported.digest),
            )
            .await;
        let cfg = imported.config;
        let mut envs = cfg.env.clone();
        envs.extend(std::mem::take(&mut self.machine_envs));
        self.machine_envs = envs;
        self.build.envs = serde_json::to_string(&self.machine_envs).unwrap_or_default();
        let has_workdir = self
            .plan
            .request
            .steps
            .iter()
            .any(|s| matches!(s, TemplateStep::Workdir { .. }));
        let cwd = cfg.workdir.unwrap_or_else(|| "/workspace".to_owned());
        if !has_workdir {
            self.build.cwd = cwd.clone();
        }
        save(&self.state, self.build).await;
        self.node_template = Some(imported.template);
        let ctx = StepContext {
            user: nullspace_api::DEFAULT_USER.to_owned(),
            cwd,
            envs: cfg.env,
        };
        Ok((format!("image:{}", imported.digest), ctx))
    }

    fn machine(&self) -> Result<MachineId, BuildError> {
        self.machine
            .clone()
            .ok_or_else(|| fail(BuildErrorCode::Internal, "no build machine"))
    }

    /// Make the build machine from a cached state or the parent.
    async fn boot(&mut self, cached: Option<String>) -> Result<(), BuildError> {
        let id = MachineId::random();
        // Recorded first, so a server that dies now destroys it at its next start.
        self.build.machine_id = Some(id.to_string());
        save(&self.state, self.build).await;
        let egress = if self.plan.request.internet_access == Some(false) {
            Egress::new(Vec::new(), Vec::new(), false).unwrap_or_default()
        } else {
            Egress::default()
        };
        let node = &self.state.node;
        let made = match (&cached, &self.plan.parent) {
            (Some(snap), _) => match snap.parse::<SnapshotId>() {
                Ok(s) => node.create_from_snapshot(id.clone(), &s, egress).await,
                Err(_) => {
                    return Err(fail(
                        BuildErrorCode::Internal,
                        "a cached step has a bad state id",
                    ))
                }
            },
            (None, Parent::Builtin(name)) => node.create(id.clone(), name, egress).await,
            (None, Parent::Image(_)) => {
                let name = self.node_template.clone().unwrap_or_default();
                node.create(id.clone(), &name, egress).await
            }
            (None, Parent::Version(v)) => {
                let s = v
                    .snapshot()
                    .map_err(|e| fail(BuildErrorCode::Internal, e.message))?;
                node.create_from_snapshot(id.clone(), &s, egress).await
            }
        };
        made.map_err(|e| {
            fail(
                BuildErrorCode::MachineFailed,
                format!("the build machine could not be made: {}", e.message),
            )
        })?;
        self.machine = Some(id.clone());
        self.log
            .line(
                "info",
                None,
                format!(
                    "build machine {id} started{}",
                    if cached.is_some() {
                        " from the cache"
                    } else {
                        ""
                    }
                ),
            )
            .await;
        Ok(())
    }

    async fn step(&mut self, n: u32, k: &Keyed<'_>) -> Result<(), BuildError> {
        let id = self.machine()?;
        match k.step {
            TemplateStep::Run { cmd, user } => {
                let user = user.as_deref().unwrap_or(&k.ctx.user);
                let timeout = self.plan.step_timeout_secs * 1000;
                let command = shell(cmd, Some(user), &k.ctx.cwd, &k.ctx.envs, timeout);
                let (exit, last) = self.run(&id, n, command).await?;
                if exit.timed_out {
                    let mut e = fail(
                        BuildErrorCode::StepTimeout,
                        format!(
                            "step {n} ran past {} s and was killed",
                            self.plan.step_timeout_secs
                        ),
                    );
                    e.last_lines = last;
                    return Err(e);
                }
                if exit.exit_code != Some(0) {
                    let how = match (exit.exit_code, exit.signal) {
                        (Some(c), _) => format!("exited {c}"),
                        (None, Some(s)) => format!("was killed by signal {s}"),
                        (None, None) => "ended without an exit code".to_owned(),
                    };
                    let mut e = fail(BuildErrorCode::StepFailed, format!("step {n} {how}"));
                    e.exit_code = exit.exit_code;
                    e.last_lines = last;
                    return Err(e);
                }
                Ok(())
            }
            TemplateStep::Workdir { path } => {
                let user = &k.ctx.user;
                let script = format!(
                    "[ -d {p} ] || {{ mkdir -p -- {p} && chown {u}: {p}; }}",
                    p = quote(path),
                    u = quote(user)
                );
                self.root(&id, &script).await
            }
            TemplateStep::Env { .. } | TemplateStep::User { .. } => Ok(()),
            TemplateStep::Copy { context, dest } => {
                let path =
                    contexts::path(&self.state, &self.build.tenant, context).ok_or_else(|| {
                        fail(
                            BuildErrorCode::ContextNotFound,
                            format!("context {context} is gone"),
                        )
                    })?;
                let body = contexts::open(path).await.map_err(|e| {
                    fail(BuildErrorCode::Internal, format!("context {context}: {e}"))
                })?;
                let spec = ArchiveSpec {
                    path: dest.clone(),
                    user: Some(k.ctx.user.clone()),
                    conflict: Conflict::Merge,
                    source: None,
                };
                let facts = self
                    .state
                    .node
                    .extract_archive(&id, spec, Some(body))
                    .await
                    .map_err(|e| {
                        fail(
                            BuildErrorCode::StepFailed,
                            format!("copy into {dest}: {}", e.message),
                        )
                    })?;
                self.log
                    .line(
                        "info",
                        Some(n),
                        format!(
                            "copied {} files, {} directories ({} bytes)",
                            facts.files, facts.dirs, facts.bytes
                        ),
                    )
                    .await;
                Ok(())
            }
        }
    }

    /// Run a short command as root; a failure fails the step.
    async fn root(&mut self, id: &MachineId, script: &str) -> Result<(), BuildError> {
        let out = self
            .state
            .node
            .exec(id, shell(script, None, "/", &BTreeMap::new(), 60_000), None)
            .await
            .map_err(|e| fail(BuildErrorCode::StepFailed, e.message))?;
        if out.exit.exit_code == Some(0) {
            return Ok(());
        }
        let mut e = fail(
            BuildErrorCode::StepFailed,
            format!("`{script}` exited {:?}", out.exit.exit_code),
        );
        e.exit_code = out.exit.exit_code;
        e.last_lines = String::from_utf8_lossy(&out.stderr)
            .lines()
            .map(str::to_owned)
            .collect();
        Err(e)
    }

    /// Run a process to its end, its output into the log as it arrives.
    async fn run(
        &mut self,
        id: &MachineId,
        n: u32,
        command: Command,
    ) -> Result<(Exit, Vec<String>), BuildError> {
        let node = self.state.node.clone();
        let machine_gone =
            |e: crate::node::NodeError| fail(BuildErrorCode::MachineFailed, e.message);
        let p = node
            .process_start(
                id,
                ProcessSpec {
                    command,
                    tag: None,
                    pty: None,
                },
            )
            .await
            .map_err(|e| match e.code {
                NodeErrorCode::MachineDied | NodeErrorCode::MachineNotFound => machine_gone(e),
                _ => fail(BuildErrorCode::StepFailed, e.message),
            })?;
        let attach = AttachRequest {
            process: ProcessRef::Pid(p.pid),
            stdout_from: Some(0),
            stderr_from: Some(0),
            follow: true,
        };
        let mut events = node
            .process_attach(id, attach)
            .await
            .map_err(machine_gone)?;
        let (mut out, mut err) = (Lines::default(), Lines::default());
        let mut end = None;
        while let Some(ev) = events.next().await {
            match ev.map_err(machine_gone)? {
                AttachEvent::Output { stream, data } => {
                    let lines = match stream {
                        OutputStream::Stdout => out.push(&data),
                        OutputStream::Stderr => err.push(&data),
                    };
                    self.log.write("info", Some(n), lines).await;
                }
                AttachEvent::Gap { bytes, .. } => {
                    self.log
                        .line(
                            "warn",
                            Some(n),
                            format!("({bytes} bytes of output were dropped)"),
                        )
                        .await;
                }
                AttachEvent::Started { .. } => {}
                AttachEvent::End(e) => {
                    end = e.end;
                    break;
                }
            }
        }
        let rest: Vec<String> = out.finish().into_iter().chain(err.finish()).collect();
        self.log.write("info", Some(n), rest).await;
        let mut last = err.last();
        if last.is_empty() {
            last = out.last();
        }
        let exit = end.ok_or_else(|| {
            fail(
                BuildErrorCode::MachineFailed,
                "the step's output ended before the step",
            )
        })?;
        Ok((exit, last))
    }

    /// Save the build machine after step `n` in the cache under `key`.
    async fn cache(&mut self, n: u32, key: &str) -> Result<Done, BuildError> {
        let done = self.snapshot().await?;
        let entry = CacheRow {
            key: key.to_owned(),
            snapshot_id: done.snapshot.clone(),
            size_bytes: done.size_bytes,
        };
        let (t, e) = (self.build.tenant.clone(), entry);
        let (_, unix) = now();
        let replaced = self
            .state
            .store_call(move |s| s.put_cached_step(&t, &e, unix))
            .await
            .map_err(|e| fail(BuildErrorCode::Internal, e.message))?;
        // A rebuilt step (skip_cache) replaces its entry: free the old state unless a version uses it.
        if let Some(old) = replaced.filter(|o| o.snapshot_id != done.snapshot) {
            let used = self
                .state
                .store_call(|s| s.version_snapshots())
                .await
                .unwrap_or_default();
            if !used.contains(&old.snapshot_id) {
                if let Ok(snap) = old.snapshot_id.parse::<SnapshotId>() {
                    let _ = self.state.node.delete_snapshot(&snap).await;
                }
            }
        }
        self.log
            .line(
                "info",
                Some(n),
                format!("step {n} saved ({} MiB)", done.size_bytes >> 20),
            )
            .await;
        Ok(done)
    }

    async fn snapshot(&mut self) -> Result<Done, BuildError> {
        let id = self.machine()?;
        let snap = SnapshotId::random();
        let facts = self
            .state
            .node
            .snapshot(&id, snap.clone())
            .await
            .map_err(|e| {
                fail(
                    BuildErrorCode::MachineFailed,
                    format!("saving the build machine failed: {}", e.message),
                )
            })?;
        Ok(Done {
            snapshot: snap.to_string(),
            size_bytes: facts.size_bytes,
        })
    }

    /// Start the start command and wait until the ready command succeeds.
    async fn start(&mut self, ctx: &StepContext) -> Result<(), BuildError> {
        let req = &self.plan.request;
        if req.start_cmd.is_none() && req.ready_cmd.is_none() {
            return Ok(());
        }
        let id = self.machine()?;
        let mut env = self.machine_envs.clone();
        env.extend(ctx.envs.clone());
        let mut pid = None;
        if let Some(cmd) = &req.start_cmd {
            self.log.line("info", None, format!("start: {cmd}")).await;
            let command = shell(cmd, Some(&ctx.user), &ctx.cwd, &env, 0);
            let p = self
                .state
                .node
                .process_start(
                    &id,
                    ProcessSpec {
                        command,
                        tag: Some(START_TAG.into()),
                        pty: None,
                    },
                )
                .await
                .map_err(|e| {
                    fail(
                        BuildErrorCode::StartFailed,
                        format!("the start command could not start: {}", e.message),
                    )
                })?;
            pid = Some(p.pid);
        }
        let deadline =
            tokio::time::Instant::now() + Duration::from_secs(self.plan.ready_timeout_secs);
        let Some(ready) = &req.ready_cmd else {
            tokio::time::sleep(START_GRACE).await;
            return self.still_running(&id, pid).await;
        };
        self.log
            .line("info", None, format!("waiting for: {ready}"))
            .await;
        let mut tries = 0u32;
        loop {
            tries += 1;
            let probe = shell(ready, Some(&ctx.user), &ctx.cwd, &env, READY_TRY_MS);
            match self.state.node.exec(&id, probe, None).await {
                Ok(out) if out.exit.exit_code == Some(0) => {
                    self.log
                        .line("info", None, format!("ready after {tries} tries"))
                        .await;
                    return self.still_running(&id, pid).await;
                }
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.code,
                        NodeErrorCode::MachineDied | NodeErrorCode::MachineNotFound
                    ) =>
                {
                    return Err(fail(BuildErrorCode::MachineFailed, e.message));
                }
                Err(_) => {}
            }
            self.still_running(&id, pid).await?;
            if tokio::time::Instant::now() + READY_INTERVAL > deadline {
                return Err(fail(
                    BuildErrorCode::ReadyTimeout,
                    format!(
                        "the ready command did not succeed within {} s ({tries} tries)",
                        self.plan.ready_timeout_secs
                    ),
                ));
            }
            tokio::time::sleep(READY_INTERVAL).await;
        }
    }

    /// Fail if the start command has ended.
    async fn still_running(&mut self, id: &MachineId, pid: Option<u32>) -> Result<(), BuildError> {
        let Some(pid) = pid else { return Ok(()) };
        let list = self
            .state
            .node
            .process_list(id)
            .await
            .map_err(|e| fail(BuildErrorCode::MachineFailed, e.message))?;
        let Some(end) = list.into_iter().find(|p| p.pid == pid).and_then(|p| p.end) else {
            return Ok(());
        };
        // Its output tells why.
        let mut last = Vec::new();
        let attach = AttachRequest {
            process: ProcessRef::Pid(pid),
            stdout_from: None,
            stderr_from: None,
            follow: false,
        };
        if let Ok(mut events) = self.state.node.process_attach(id, attach).await {
            let mut lines = Lines::default();
            while let Some(Ok(ev)) = events.next().await {
                match ev {
                    AttachEvent::Output { data, .. } => {
                        lines.push(&data);
                    }
                    AttachEvent::End(_) => break,
                    _ => {}
                }
            }
            lines.finish();
            last = lines.last();
        }
        let mut e = fail(
            BuildErrorCode::StartFailed,
            format!(
                "the start command ended (exit {:?}) before the template was ready",
                end.exit_code
            ),
        );
        e.exit_code = end.exit_code;
        e.last_lines = last;
        Err(e)
    }
}

/// A command line through the guest's shell (`bash`, else `sh` in images without it).
fn shell(
    cmd: &str,
    user: Option<&str>,
    cwd: &str,
    env: &BTreeMap<String, String>,
    timeout_ms: u64,
) -> Command {
    Command {
        argv: Vec::new(),
        shell: Some(cmd.to_owned()),
        env: env.clone(),
        cwd: Some(cwd.to_owned()),
        user: user.map(str::to_owned),
        timeout_ms: (timeout_ms > 0).then_some(timeout_ms),
        stdin: false,
    }
}

/// `s` quoted for the shell.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_run_and_copy_steps_have_keys_and_context_flows_forward() {
        let steps = vec![
            TemplateStep::Env {
                envs: BTreeMap::from([("A".into(), "1".into())]),
            },
            TemplateStep::Run {
                cmd: "x".into(),
                user: None,
            },
            TemplateStep::Workdir {
                path: "/app".into(),
            },
            TemplateStep::Run {
                cmd: "y".into(),
                user: None,
            },
        ];
        let (k, last) = keyed("builtin:base", first_context(), &steps);
        assert_eq!((last.cwd.as_str(), last.envs.len()), ("/app", 1));
        assert!(k[0].key.is_none() && k[2].key.is_none());
        assert_eq!(k[1].ctx.envs.get("A").map(String::as_str), Some("1"));
        assert_eq!(k[3].ctx.cwd, "/app");
        assert_ne!(k[1].key, k[3].key);
        // Changing a later step leaves the earlier keys alone.
        let mut changed = steps.clone();
        changed[3] = TemplateStep::Run {
            cmd: "z".into(),
            user: None,
        };
        let (k2, _) = keyed("builtin:base", first_context(), &changed);
        assert_eq!(k[1].key, k2[1].key);
        assert_ne!(k[3].key, k2[3].key);
        // Another parent changes every key.
        let (k3, _) = keyed("image:sha256:1", first_context(), &steps);
        assert_ne!(k[1].key, k3[1].key);
        assert_eq!(quote("it's"), "'it'\\''s'");
    }
}
