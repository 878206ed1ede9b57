//! Starting a build (every input checked before anything runs), and reading its
//! status and log.

use std::collections::BTreeMap;

use nullspace_api::{
    BuildLogs, BuildStatus, ErrorCode, TemplateBuild, TemplateBuildRequest, TemplateStep,
    DEFAULT_READY_TIMEOUT_SECS, DEFAULT_STEP_TIMEOUT_SECS, DEFAULT_TEMPLATE, LATEST_TAG,
    MAX_BUILD_STEPS, MAX_BUILD_TAGS, MAX_LOG_PAGE, MAX_READY_TIMEOUT_SECS, MAX_STEP_TIMEOUT_SECS,
};
use nullspace_types::{TemplateBuildId, TemplateId};

use super::log::entry;
use super::refs::{self, TemplateRef};
use super::runner::{self, Parent, Plan};
use super::{builtin, contexts, resolve};
use crate::auth::Tenant;
use crate::error::{ApiError, ApiResult};
use crate::node::{ImageImport, TemplateShape};
use crate::params;
use crate::state::AppState;
use crate::store::{now, rfc3339, BuildRow, LogRow};
use nullspace_api::RegistryAuth;
use nullspace_host::image::oci;

/// Names that are paths under `/v1/templates`.
const RESERVED_NAMES: &[&str] = &["builds", "cache", "contexts"];

/// Longest command line of a step, start or ready command, in characters.
const MAX_CMD_CHARS: usize = 65_536;

/// Check one step.
fn check_step(state: &AppState, tenant: &Tenant, i: usize, step: &TemplateStep) -> ApiResult<()> {
    let field = format!("steps[{i}]");
    match step {
        TemplateStep::Run { cmd, user } => {
            if cmd.trim().is_empty() {
                return Err(ApiError::field(&field, "cmd must not be empty"));
            }
            params::text(&field, cmd, MAX_CMD_CHARS)?;
            if let Some(u) = user {
                check_user(&field, u)?;
            }
        }
        TemplateStep::Env { envs } => params::envs(&field, envs)?,
        TemplateStep::Workdir { path } => params::cwd(&field, path)?,
        TemplateStep::User { user } => check_user(&field, user)?,
        TemplateStep::Copy { context, dest } => {
            contexts::check_sha(&field, context)?;
            params::cwd(&field, dest)?;
            if contexts::path(state, &tenant.id, context).is_none() {
                return Err(ApiError::field(
                    &field,
                    format!(
                        "context {context} was not uploaded (PUT /v1/templates/contexts/{context})"
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn check_user(field: &str, user: &str) -> ApiResult<()> {
    let ok = !user.is_empty()
        && user.len() <= 32
        && user
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(ApiError::field(
            field,
            format!("{user:?} is not a user name"),
        ))
    }
}

fn bounded(field: &str, v: Option<u64>, default: u64, max: u64) -> ApiResult<u64> {
    let v = v.unwrap_or(default);
    if v == 0 || v > max {
        return Err(ApiError::field(field, format!("must be 1-{max}")));
    }
    Ok(v)
}

/// Longest image reference, in characters.
const MAX_IMAGE_REF: usize = 1024;
/// Longest registry user name or password, in bytes (a GCP key is a few KiB).
const MAX_SECRET_BYTES: usize = 65_536;

/// The image a build starts from, if it names one; its reference and login checked.
fn image_parent(req: &TemplateBuildRequest) -> ApiResult<Option<ImageImport>> {
    let Some(reference) = &req.from_image else {
        if req.registry_auth.is_some() {
            return Err(ApiError::field("registry_auth", "only with from_image"));
        }
        return Ok(None);
    };
    if req.from_template.is_some() {
        return Err(ApiError::field(
            "from_image",
            "give from_image or from_template, not both",
        ));
    }
    params::text("from_image", reference, MAX_IMAGE_REF)?;
    oci::resolve(reference, oci::DOCKER_HUB)
        .map_err(|e| ApiError::field("from_image", e.to_string()))?;
    let secret = |field: &str, v: &str| {
        if v.is_empty() || v.len() > MAX_SECRET_BYTES {
            Err(ApiError::field(
                field,
                format!("must be 1-{MAX_SECRET_BYTES} bytes"),
            ))
        } else {
            Ok(())
        }
    };
    let credentials = match &req.registry_auth {
        None => oci::Credentials::Anonymous,
        Some(RegistryAuth::Basic { username, password }) => {
            secret("registry_auth.username", username)?;
            secret("registry_auth.password", password)?;
            oci::Credentials::Basic {
                username: username.clone(),
                password: password.clone(),
            }
        }
        Some(RegistryAuth::Gcp {
            service_account_json,
        }) => {
            secret("registry_auth.service_account_json", service_account_json)?;
            if serde_json::from_str::<serde_json::Value>(service_account_json)
                .map_or(true, |v| !v.is_object())
            {
                return Err(ApiError::field(
                    "registry_auth.service_account_json",
                    "must be a service account key (a JSON object)",
                ));
            }
            // Artifact Registry and GCR take the key itself as the password of `_json_key`.
            oci::Credentials::Basic {
                username: "_json_key".into(),
                password: service_account_json.clone(),
            }
        }
        Some(RegistryAuth::Aws {
            access_key_id,
            secret_access_key,
            region,
            session_token,
        }) => {
            secret("registry_auth.access_key_id", access_key_id)?;
            secret("registry_auth.secret_access_key", secret_access_key)?;
            if let Some(t) = session_token {
                secret("registry_auth.session_token", t)?;
            }
            let region_ok = !region.is_empty()
                && region.len() <= 32
                && region
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            if !region_ok {
                return Err(ApiError::field(
                    "registry_auth.region",
                    format!("{region:?} is not an AWS region (like us-east-1)"),
                ));
            }
            oci::Credentials::Aws(oci::ecr::AwsKeys {
                access_key_id: access_key_id.clone(),
                secret_access_key: secret_access_key.clone(),
                session_token: session_token.clone(),
                region: region.clone(),
            })
        }
    };
    Ok(Some(ImageImport {
        reference: reference.clone(),
        credentials,
    }))
}

/// Check a build request and start it in the background.
pub async fn start(
    state: &AppState,
    tenant: &Tenant,
    req: TemplateBuildRequest,
) -> ApiResult<TemplateBuild> {
    let (name, tag) = match refs::parse("name", &req.name)? {
        TemplateRef::Name { name, tag } => (name, tag),
        TemplateRef::Id(_) => {
            return Err(ApiError::field("name", "name the template, not its id"));
        }
    };
    if RESERVED_NAMES.contains(&name.as_str()) {
        return Err(ApiError::field(
            "name",
            format!("{name} is reserved (it is a path under /v1/templates)"),
        ));
    }
    if builtin(state, &name).is_some() {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!("template {name} is built in: pick another name"),
        ));
    }
    if req.tags.len() > MAX_BUILD_TAGS {
        return Err(ApiError::field("tags", "at most 16"));
    }
    let mut tags = vec![LATEST_TAG.to_owned()];
    for t in std::iter::once(&tag).chain(&req.tags) {
        refs::check_tag("tags", t)?;
        if !tags.contains(t) {
            tags.push(t.clone());
        }
    }
    if req.steps.len() > MAX_BUILD_STEPS {
        return Err(ApiError::field("steps", "at most 256"));
    }
    for (i, s) in req.steps.iter().enumerate() {
        check_step(state, tenant, i, s)?;
    }
    for (field, cmd) in [("start_cmd", &req.start_cmd), ("ready_cmd", &req.ready_cmd)] {
        if let Some(c) = cmd {
            if c.trim().is_empty() {
                return Err(ApiError::field(field, "must not be empty"));
            }
            params::text(field, c, MAX_CMD_CHARS)?;
        }
    }
    let ready_timeout = bounded(
        "ready_timeout_secs",
        req.ready_timeout_secs,
        DEFAULT_READY_TIMEOUT_SECS,
        MAX_READY_TIMEOUT_SECS,
    )?;
    let step_timeout = bounded(
        "step_timeout_secs",
        req.step_timeout_secs,
        DEFAULT_STEP_TIMEOUT_SECS,
        MAX_STEP_TIMEOUT_SECS,
    )?;
    params::envs("runtime_envs", &req.runtime_envs)?;
    let image = image_parent(&req)?;
    let parent_ref = req
        .from_template
        .clone()
        .unwrap_or_else(|| DEFAULT_TEMPLATE.to_owned());
    let (parent, shape, mut cwd, mut envs): (_, TemplateShape, String, BTreeMap<_, _>) =
        match (image, builtin(state, &parent_ref)) {
            // Images boot with the node's default size: the base template's.
            (Some(image), Some(shape)) => (
                Parent::Image(Box::new(image)),
                shape,
                "/workspace".to_owned(),
                BTreeMap::new(),
            ),
            (Some(_), None) => {
                return Err(ApiError::new(
                    ErrorCode::Unavailable,
                    "this node cannot import images: it has no base template",
                ))
            }
            (None, builtin) => match builtin {
                Some(shape) => (
                    Parent::Builtin(parent_ref.clone()),
                    shape,
                    "/workspace".to_owned(),
                    BTreeMap::new(),
                ),
                None => {
                    let v = resolve(state, tenant, &parent_ref).await.map_err(|e| {
                        if e.code == ErrorCode::TemplateNotFound {
                            ApiError::new(
                                e.code,
                                format!("from_template: template {parent_ref:?} not found"),
                            )
                        } else {
                            e
                        }
                    })?;
                    let (shape, cwd, envs) = (v.shape(), v.build.cwd.clone(), v.envs());
                    (Parent::Version(Box::new(v)), shape, cwd, envs)
                }
            },
        };
    // A build restores its parent, whose size is fixed.
    if let Some(c) = req.cpu_count.filter(|c| *c != shape.cpu_count) {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!(
                "cpu_count: template {parent_ref} has {} vCPU, got {c}",
                shape.cpu_count
            ),
        ));
    }
    if let Some(m) = req.memory_mb.filter(|m| *m != shape.memory_mb) {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!(
                "memory_mb: template {parent_ref} has {} MiB, got {m}",
                shape.memory_mb
            ),
        ));
    }
    for s in &req.steps {
        if let TemplateStep::Workdir { path } = s {
            cwd = path.clone();
        }
    }
    envs.extend(req.runtime_envs.clone());
    let (_, unix) = now();
    let t = tenant.id.clone();
    let n = name.clone();
    let template = state
        .store_call(move |s| s.ensure_template(TemplateId::random().as_str(), &t, &n, unix))
        .await?;
    let row = BuildRow {
        id: TemplateBuildId::random().to_string(),
        template_id: template.id.clone(),
        tenant: tenant.id.clone(),
        // Registry credentials live only in the running build, never in the store.
        request: serde_json::to_string(&TemplateBuildRequest {
            registry_auth: None,
            ..req.clone()
        })
        .unwrap_or_default(),
        tags: serde_json::to_string(&tags).unwrap_or_default(),
        status: BuildStatus::Waiting.as_str().into(),
        steps_total: req.steps.len() as u32,
        steps_done: 0,
        steps_cached: 0,
        machine_id: None,
        snapshot_id: None,
        cpu_count: shape.cpu_count,
        memory_mb: shape.memory_mb,
        cwd,
        envs: serde_json::to_string(&envs).unwrap_or_default(),
        size_bytes: 0,
        error: None,
        created_unix: unix,
        finished_unix: None,
    };
    let r = row.clone();
    state.store_call(move |s| s.insert_build(&r)).await?;
    let plan = Plan {
        build: row.clone(),
        request: req,
        parent,
        tags,
        machine_envs: envs,
        ready_timeout_secs: ready_timeout,
        step_timeout_secs: step_timeout,
    };
    tokio::spawn(runner::run(state.clone(), plan));
    Ok(to_api(row, name, Vec::new(), 0))
}

/// The API view of a build with `logs` from an offset.
pub fn to_api(row: BuildRow, name: String, logs: Vec<LogRow>, next: u64) -> TemplateBuild {
    let status = BuildStatus::parse(&row.status).unwrap_or(BuildStatus::Error);
    TemplateBuild {
        id: row.id.parse().unwrap_or_else(|_| TemplateBuildId::random()),
        template_id: row
            .template_id
            .parse()
            .unwrap_or_else(|_| TemplateId::random()),
        name,
        tags: serde_json::from_str(&row.tags).unwrap_or_default(),
        status,
        steps_total: row.steps_total,
        steps_done: row.steps_done,
        steps_cached: row.steps_cached,
        logs: logs.into_iter().map(entry).collect(),
        logs_next_offset: next,
        error: row
            .error
            .as_deref()
            .and_then(|e| serde_json::from_str(e).ok()),
        created_at: rfc3339(row.created_unix),
        finished_at: row.finished_unix.map(rfc3339),
    }
}

/// The tenant's build `id` with its template's name.
async fn load(state: &AppState, tenant: &Tenant, id: &str) -> ApiResult<(BuildRow, String)> {
    id.parse::<TemplateBuildId>()
        .map_err(|e| ApiError::field("build_id", e.to_string()))?;
    let t = tenant.id.clone();
    let i = id.to_owned();
    let found = state
        .store_call(move |s| {
            let Some(b) = s.build(&t, &i)? else {
                return Ok(None);
            };
            let name = s
                .template_by_id(&t, &b.template_id)?
                .map(|t| t.name)
                .unwrap_or_default();
            Ok(Some((b, name)))
        })
        .await?;
    found.ok_or_else(|| {
        ApiError::new(
            ErrorCode::BuildNotFound,
            format!("template build {id} not found"),
        )
    })
}

/// Up to `limit` log entries from `offset`, and the offset after them.
async fn page(
    state: &AppState,
    id: &str,
    offset: u64,
    limit: usize,
) -> ApiResult<(Vec<LogRow>, u64)> {
    let i = id.to_owned();
    let logs = state.store_call(move |s| s.logs(&i, offset, limit)).await?;
    let next = logs.last().map(|l| l.offset + 1).unwrap_or(offset);
    Ok((logs, next))
}

/// Build `id` with log entries from `offset`.
pub async fn get(
    state: &AppState,
    tenant: &Tenant,
    id: &str,
    offset: u64,
) -> ApiResult<TemplateBuild> {
    let (row, name) = load(state, tenant, id).await?;
    let (logs, next) = page(state, id, offset, MAX_LOG_PAGE).await?;
    Ok(to_api(row, name, logs, next))
}

/// Log entries of build `id` from `offset` (at most `limit`, 1–1000).
pub async fn logs(
    state: &AppState,
    tenant: &Tenant,
    id: &str,
    offset: u64,
    limit: Option<usize>,
) -> ApiResult<BuildLogs> {
    let limit = limit.unwrap_or(MAX_LOG_PAGE);
    if limit == 0 || limit > MAX_LOG_PAGE {
        return Err(ApiError::field("limit", "must be 1-1000"));
    }
    let (row, _) = load(state, tenant, id).await?;
    // Read after the status, so a done build's last entries are in this page.
    let (logs, next) = page(state, id, offset, limit).await?;
    let done =
        BuildStatus::parse(&row.status).is_none_or(BuildStatus::is_done) && logs.len() < limit;
    Ok(BuildLogs {
        logs: logs.into_iter().map(entry).collect(),
        next_offset: next,
        done,
    })
}

/// After a restart: builds that had not ended never will. Their build machines
/// are removed and they are marked failed.
pub async fn abandon_unfinished(state: &AppState) -> ApiResult<()> {
    for mut b in state.store_call(|s| s.unfinished_builds()).await? {
        if let Some(id) = b.machine_id.take().and_then(|m| m.parse().ok()) {
            state.node.discard(&id, false).await;
        }
        b.status = BuildStatus::Error.as_str().into();
        b.finished_unix = Some(now().1);
        b.error = serde_json::to_string(&nullspace_api::BuildError {
            code: nullspace_api::BuildErrorCode::MachineFailed,
            message: "the server restarted during the build".into(),
            step: None,
            exit_code: None,
            last_lines: Vec::new(),
        })
        .ok();
        state.store_call(move |s| s.save_build(&b)).await?;
    }
    Ok(())
}
