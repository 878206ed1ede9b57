//! Built templates: versions and tags, resolving refs for machine creates, and
//! deleting (`spec/templates.md`). Builds themselves are in [`build`].

pub mod build;
mod cache;
pub mod contexts;
pub mod follow;
mod log;
pub mod refs;
mod runner;

use std::collections::BTreeMap;

use nullspace_api::{ErrorCode, Template, TemplateTag, LATEST_TAG};
use nullspace_types::{SnapshotId, TemplateBuildId, TemplateId};

use crate::auth::Tenant;
use crate::error::{ApiError, ApiResult};
use crate::node::{NodeErrorCode, TemplateShape};
use crate::state::AppState;
use crate::store::{rfc3339, BuildRow, TemplateRow};
pub use cache::prune;
use refs::TemplateRef;

/// A ready version of a template, as a ref resolved it.
#[derive(Debug, Clone)]
pub struct Version {
    /// The template.
    pub template: TemplateRow,
    /// The build that made the version.
    pub build: BuildRow,
}

impl Version {
    /// Its saved state.
    pub fn snapshot(&self) -> ApiResult<SnapshotId> {
        self.build
            .snapshot_id
            .as_deref()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| ApiError::new(ErrorCode::Internal, "a ready build has no state"))
    }

    /// Environment of its machines.
    pub fn envs(&self) -> BTreeMap<String, String> {
        serde_json::from_str(&self.build.envs).unwrap_or_default()
    }

    /// Size of its machines.
    pub fn shape(&self) -> TemplateShape {
        TemplateShape {
            cpu_count: self.build.cpu_count,
            memory_mb: self.build.memory_mb,
        }
    }
}

/// The tenant's template a parsed ref names (no built-in ones).
async fn template_of(
    state: &AppState,
    tenant: &Tenant,
    r: &TemplateRef,
) -> ApiResult<Option<TemplateRow>> {
    let t = tenant.id.clone();
    match r.clone() {
        TemplateRef::Name { name, .. } => {
            state.store_call(move |s| s.template_named(&t, &name)).await
        }
        TemplateRef::Id(id) => state.store_call(move |s| s.template_by_id(&t, &id)).await,
    }
}

/// The ready version `raw` names, if it names one of the tenant's templates.
pub async fn resolve(state: &AppState, tenant: &Tenant, raw: &str) -> ApiResult<Version> {
    let r = refs::parse("template", raw)?;
    let template = template_of(state, tenant, &r)
        .await?
        .ok_or_else(|| refs::not_found(raw))?;
    let tid = template.id.clone();
    let tags = state.store_call(move |s| s.tags(&tid)).await?;
    let build_id = tags
        .into_iter()
        .find(|(t, _)| t == r.tag())
        .map(|(_, b)| b)
        .ok_or_else(|| refs::not_found(raw))?;
    let t = tenant.id.clone();
    let build = state
        .store_call(move |s| s.build(&t, &build_id))
        .await?
        .filter(|b| b.snapshot_id.is_some())
        .ok_or_else(|| refs::not_found(raw))?;
    Ok(Version { template, build })
}

/// Whether `name` is a template the node provides (`base`).
pub fn builtin(state: &AppState, name: &str) -> Option<TemplateShape> {
    state.node.template(name)
}

/// The API view of a built-in template.
fn builtin_view(name: &str, shape: TemplateShape) -> Template {
    Template {
        id: None,
        name: name.to_owned(),
        builtin: true,
        tags: Vec::new(),
        cpu_count: shape.cpu_count,
        memory_mb: shape.memory_mb,
        cwd: "/workspace".into(),
        envs: BTreeMap::new(),
        start_cmd: None,
        ready_cmd: None,
        size_bytes: 0,
        created_at: None,
        updated_at: None,
    }
}

/// The API view of a built template (its `latest` version's facts).
async fn view(state: &AppState, t: TemplateRow) -> ApiResult<Template> {
    let tid = t.id.clone();
    let (tags, builds) = state
        .store_call(move |s| Ok((s.tags(&tid)?, s.builds_of(&tid)?)))
        .await?;
    let latest_id = tags
        .iter()
        .find(|(tag, _)| tag == LATEST_TAG)
        .map(|(_, b)| b.clone());
    let latest = builds.iter().find(|b| Some(&b.id) == latest_id.as_ref());
    let request = latest
        .and_then(|b| serde_json::from_str::<nullspace_api::TemplateBuildRequest>(&b.request).ok());
    let ready = builds.iter().filter(|b| b.snapshot_id.is_some());
    Ok(Template {
        id: t.id.parse::<TemplateId>().ok(),
        name: t.name,
        builtin: false,
        tags: tags
            .into_iter()
            .filter_map(|(tag, b)| {
                Some(TemplateTag {
                    tag,
                    build_id: b.parse::<TemplateBuildId>().ok()?,
                })
            })
            .collect(),
        cpu_count: latest.map(|b| b.cpu_count).unwrap_or_default(),
        memory_mb: latest.map(|b| b.memory_mb).unwrap_or_default(),
        cwd: latest.map(|b| b.cwd.clone()).unwrap_or_default(),
        envs: latest
            .and_then(|b| serde_json::from_str(&b.envs).ok())
            .unwrap_or_default(),
        start_cmd: request.as_ref().and_then(|r| r.start_cmd.clone()),
        ready_cmd: request.and_then(|r| r.ready_cmd),
        size_bytes: ready.map(|b| b.size_bytes).sum(),
        created_at: Some(rfc3339(t.created_unix)),
        updated_at: latest.and_then(|b| b.finished_unix).map(rfc3339),
    })
}

/// `base` and the tenant's templates, by name.
pub async fn list(state: &AppState, tenant: &Tenant) -> ApiResult<Vec<Template>> {
    let t = tenant.id.clone();
    let rows = state.store_call(move |s| s.templates(&t)).await?;
    let mut out = Vec::with_capacity(rows.len() + 1);
    if let Some(shape) = builtin(state, nullspace_api::DEFAULT_TEMPLATE) {
        out.push(builtin_view(nullspace_api::DEFAULT_TEMPLATE, shape));
    }
    for row in rows {
        out.push(view(state, row).await?);
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// The template `raw` names (a built-in one by its name).
pub async fn get(state: &AppState, tenant: &Tenant, raw: &str) -> ApiResult<Template> {
    if let Some(shape) = builtin(state, raw) {
        return Ok(builtin_view(raw, shape));
    }
    let r = refs::parse("template", raw)?;
    let row = template_of(state, tenant, &r)
        .await?
        .ok_or_else(|| refs::not_found(raw))?;
    if raw.contains(':') {
        // A tag that does not exist names nothing.
        resolve(state, tenant, raw).await?;
    }
    view(state, row).await
}

/// The tenant's template a management call names by name or id (no tag).
async fn named(state: &AppState, tenant: &Tenant, raw: &str) -> ApiResult<TemplateRow> {
    if builtin(state, raw).is_some() {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!("template {raw} is built in: it cannot be changed or deleted"),
        ));
    }
    if raw.contains(':') {
        return Err(ApiError::field(
            "template",
            "name a template by name or id, without a tag",
        ));
    }
    let r = refs::parse("template", raw)?;
    template_of(state, tenant, &r)
        .await?
        .ok_or_else(|| refs::not_found(raw))
}

/// Delete a template with every version: refused while machines use one of
/// them or a build of it runs.
pub async fn delete(state: &AppState, tenant: &Tenant, raw: &str) -> ApiResult<()> {
    let row = named(state, tenant, raw).await?;
    let tid = row.id.clone();
    let builds = state.store_call(move |s| s.builds_of(&tid)).await?;
    if let Some(b) = builds.iter().find(|b| b.finished_unix.is_none()) {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!(
                "build {} of template {} is running; wait for it first",
                b.id, row.name
            ),
        ));
    }
    let snaps: Vec<SnapshotId> = builds
        .iter()
        .filter_map(|b| b.snapshot_id.as_deref()?.parse().ok())
        .collect();
    let s2 = snaps.clone();
    let users = state
        .store_call(move |s| {
            let mut all = Vec::new();
            for snap in &s2 {
                all.extend(s.snapshot_users(snap)?);
            }
            Ok(all)
        })
        .await?;
    if !users.is_empty() {
        let names: Vec<String> = users.iter().map(ToString::to_string).collect();
        return Err(ApiError::new(
            ErrorCode::TemplateInUse,
            format!(
                "template {} is used by {}; kill them first",
                row.name,
                names.join(", ")
            ),
        ));
    }
    let t = tenant.id.clone();
    let cached = state.store_call(move |s| s.cached_steps(&t)).await?;
    for snap in snaps {
        // A version without a start command shares its state with its last cached step.
        if cached.iter().any(|c| c.snapshot_id == snap.as_str()) {
            continue;
        }
        match state.node.delete_snapshot(&snap).await {
            Ok(()) => {}
            Err(e) if e.code == NodeErrorCode::SnapshotNotFound => {}
            Err(e) if e.code == NodeErrorCode::SnapshotInUse => {
                return Err(ApiError::new(
                    ErrorCode::TemplateInUse,
                    format!("template {}: {}", row.name, e.message),
                ))
            }
            Err(e) => return Err(e.into()),
        }
    }
    let tid = row.id.clone();
    state.store_call(move |s| s.delete_template(&tid)).await
}

/// Tags of the template `raw` names.
pub async fn tags(state: &AppState, tenant: &Tenant, raw: &str) -> ApiResult<Vec<TemplateTag>> {
    let row = named(state, tenant, raw).await?;
    Ok(view(state, row).await?.tags)
}

/// Move `tags` to the version `target` resolves to (default `latest`).
pub async fn assign_tags(
    state: &AppState,
    tenant: &Tenant,
    raw: &str,
    tags: Vec<String>,
    target: Option<String>,
) -> ApiResult<Vec<TemplateTag>> {
    let row = named(state, tenant, raw).await?;
    if tags.is_empty() || tags.len() > nullspace_api::MAX_BUILD_TAGS {
        return Err(ApiError::field("tags", "name 1-16 tags"));
    }
    for t in &tags {
        refs::check_tag("tags", t)?;
    }
    let build_id = match target.as_deref() {
        Some(b) if b.starts_with(TemplateBuildId::PREFIX) => {
            let t = tenant.id.clone();
            let b2 = b.to_owned();
            state
                .store_call(move |s| s.build(&t, &b2))
                .await?
                .filter(|build| build.template_id == row.id && build.snapshot_id.is_some())
                .ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::BuildNotFound,
                        format!("template {} has no ready version {b}", row.name),
                    )
                })?
                .id
        }
        Some(target) => {
            // A tag of this template, or its full ref `name:tag`.
            let tag = match target.split_once(':') {
                Some((name, tag)) if name == row.name => tag,
                Some(_) => {
                    return Err(ApiError::field(
                        "target",
                        format!("{target} is not a version of template {}", row.name),
                    ))
                }
                None => target,
            };
            refs::check_tag("target", tag)?;
            resolve(state, tenant, &format!("{}:{tag}", row.name))
                .await?
                .build
                .id
        }
        None => resolve(state, tenant, &row.name).await?.build.id,
    };
    let tid = row.id.clone();
    state
        .store_call(move |s| s.set_tags(&tid, &tags, &build_id))
        .await?;
    Ok(view(state, row).await?.tags)
}

/// Remove a tag (never `latest`).
pub async fn remove_tag(state: &AppState, tenant: &Tenant, raw: &str, tag: &str) -> ApiResult<()> {
    let row = named(state, tenant, raw).await?;
    refs::check_tag("tag", tag)?;
    if tag == LATEST_TAG {
        return Err(ApiError::field(
            "tag",
            "latest always points to the newest version; it cannot be removed",
        ));
    }
    let tid = row.id.clone();
    let t2 = tag.to_owned();
    if state.store_call(move |s| s.remove_tag(&tid, &t2)).await? {
        Ok(())
    } else {
        Err(refs::not_found(&format!("{}:{tag}", row.name)))
    }
}
