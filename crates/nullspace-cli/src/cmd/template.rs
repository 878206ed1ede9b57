//! `nullspace template …`: build templates (saved running machines that new machines
//! restore from) and manage their versions, tags and step cache
//! (`spec/templates.md`). Builds are in `template_build`, their flags in
//! `template_spec`, the `--copy` contexts in `template_context`.

use std::path::Path;

use clap::{Args, Subcommand};
use nullspace_api::{
    ErrorCode, Template, TemplateBuildRequest, TemplateList, TemplateStep, TemplateTag,
    TemplateTagList,
};
use serde_json::{json, Value};

use super::template_build::{self as build, BuildArgs, LogsArgs, RenderArgs, StatusArgs, WaitArgs};
use super::{Ctx, Outcome, OK};
use crate::error::CliError;
use crate::exit::Exit;
use crate::output;

/// The file `template init` writes.
pub const INIT_FILE: &str = "nullspace.template.json";

/// Fields of a template that `--fields` can name.
pub const FIELDS: [&str; 13] = [
    "id",
    "name",
    "builtin",
    "tags",
    "cpu_count",
    "memory_mb",
    "cwd",
    "envs",
    "start_cmd",
    "ready_cmd",
    "size_bytes",
    "created_at",
    "updated_at",
];

/// `template` and its subcommands.
#[derive(Debug, Args)]
pub struct TemplateArgs {
    /// The subcommand.
    #[command(subcommand)]
    pub command: TemplateCommand,
}

/// Subcommands of `template`.
#[derive(Debug, Subcommand)]
pub enum TemplateCommand {
    /// Build a template version from step flags (in the order given) or a JSON request,
    /// and follow it until it is ready (exit 6 if it fails).
    Build(BuildArgs),
    /// Print the build request (json) or a Dockerfile-like reading of it; sends nothing.
    Render(RenderArgs),
    /// Show a build and its log entries from an offset.
    BuildStatus(StatusArgs),
    /// Print a build's log entries (--follow: until it ends).
    Logs(LogsArgs),
    /// Follow a build until it ends: exit 0 when ready, 6 when it failed.
    Wait(WaitArgs),
    /// List templates (base and yours), by name.
    List(FieldArgs),
    /// Show one template (NAME, NAME:TAG or tpl_…).
    Get(GetArgs),
    /// Print whether a template exists: true (exit 0) or false (exit 5).
    Exists(RefArg),
    /// Delete a template and every version (refused while machines use one).
    Delete(RefArg),
    /// Move, list and remove the tags of a template's versions.
    Tag(TagArgs),
    /// The step cache of builds.
    Cache(CacheArgs),
    /// Write a starter build request, ./nullspace.template.json.
    Init(InitArgs),
}

/// A template ref argument.
#[derive(Debug, Args)]
pub struct RefArg {
    /// NAME, NAME:TAG or tpl_….
    #[arg(value_name = "REF")]
    pub template: String,
}

/// `--fields`.
#[derive(Debug, Args)]
pub struct FieldArgs {
    /// Only these fields, comma-separated (id,name,builtin,tags,cpu_count,memory_mb,cwd,
    /// envs,start_cmd,ready_cmd,size_bytes,created_at,updated_at).
    #[arg(long, value_name = "FIELD,…", value_delimiter = ',',
          value_parser = clap::builder::PossibleValuesParser::new(FIELDS))]
    pub fields: Vec<String>,
}

/// Arguments of `template get`.
#[derive(Debug, Args)]
pub struct GetArgs {
    /// NAME, NAME:TAG or tpl_….
    #[arg(value_name = "REF")]
    pub template: String,
    #[command(flatten)]
    pub fields: FieldArgs,
}

/// `template tag` and its subcommands.
#[derive(Debug, Args)]
pub struct TagArgs {
    /// The subcommand.
    #[command(subcommand)]
    pub command: TagCommand,
}

/// Subcommands of `template tag`.
#[derive(Debug, Subcommand)]
pub enum TagCommand {
    /// Point tags at a version (--target; default the latest).
    Assign(AssignArgs),
    /// List the tags and the versions they point to.
    List(RefArg),
    /// Remove a tag (not latest).
    Remove(RemoveTagArgs),
}

/// Arguments of `template tag assign`.
#[derive(Debug, Args)]
pub struct AssignArgs {
    /// NAME (or NAME:TAG, tpl_…) of the template.
    #[arg(value_name = "REF")]
    pub template: String,
    /// Tags to move.
    #[arg(required = true, value_name = "TAG")]
    pub tags: Vec<String>,
    /// The version: a tag or NAME:TAG of the template, or a build id tb_… (default:
    /// latest).
    #[arg(long, value_name = "REF_OR_BUILD")]
    pub target: Option<String>,
}

/// Arguments of `template tag remove`.
#[derive(Debug, Args)]
pub struct RemoveTagArgs {
    /// NAME of the template.
    #[arg(value_name = "REF")]
    pub template: String,
    /// The tag.
    pub tag: String,
}

/// `template cache` and its subcommand.
#[derive(Debug, Args)]
pub struct CacheArgs {
    /// The subcommand.
    #[command(subcommand)]
    pub command: CacheCommand,
}

/// Subcommands of `template cache`.
#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Delete the cached steps no template version uses.
    Prune,
}

/// Arguments of `template init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Template name in the file.
    #[arg(long, default_value = "my-template", value_name = "NAME")]
    pub name: String,
    /// Overwrite an existing nullspace.template.json.
    #[arg(long)]
    pub force: bool,
}

/// Runs `template …`.
pub async fn run(ctx: &Ctx, args: TemplateArgs) -> Outcome {
    match args.command {
        TemplateCommand::Build(args) => build::build(ctx, &args).await,
        TemplateCommand::Render(args) => build::render(ctx, &args).await,
        TemplateCommand::BuildStatus(args) => build::status(ctx, &args).await,
        TemplateCommand::Logs(args) => build::logs(ctx, &args).await,
        TemplateCommand::Wait(args) => build::wait(ctx, &args).await,
        TemplateCommand::List(args) => list(ctx, &args.fields).await,
        TemplateCommand::Get(args) => {
            let t = ctx.client()?.get_template(&args.template).await?;
            show(ctx, &t, &args.fields.fields)
        }
        TemplateCommand::Exists(RefArg { template }) => exists(ctx, &template).await,
        TemplateCommand::Delete(RefArg { template }) => {
            ctx.client()?.delete_template(&template).await?;
            if ctx.json() {
                output::json(&json!({"ref": template, "deleted": true}))?;
            } else {
                output::line(&format!("deleted template {template}"))?;
            }
            Ok(OK)
        }
        TemplateCommand::Tag(TagArgs { command }) => tag(ctx, command).await,
        TemplateCommand::Cache(CacheArgs {
            command: CacheCommand::Prune,
        }) => {
            let pruned = ctx.client()?.prune_template_cache().await?;
            if ctx.json() {
                output::json(&pruned)?;
            } else {
                output::line(&format!(
                    "deleted {} cached steps ({})",
                    pruned.deleted,
                    output::size(pruned.bytes)
                ))?;
            }
            Ok(OK)
        }
        TemplateCommand::Init(args) => init(ctx, &args, Path::new(INIT_FILE)),
    }
}

async fn list(ctx: &Ctx, fields: &[String]) -> Outcome {
    let list = ctx.client()?.list_templates().await?;
    if ctx.json() {
        if fields.is_empty() {
            output::json(&list)?;
        } else {
            let picked: Vec<Value> = list.templates.iter().map(|t| pick(t, fields)).collect();
            output::json(&json!({ "templates": picked }))?;
        }
    } else if list.templates.is_empty() {
        output::line("no templates")?;
    } else {
        output::line(&table(&list, fields))?;
    }
    Ok(OK)
}

/// `template exists`: `true` and exit 0, or `false` and the not-found exit code.
async fn exists(ctx: &Ctx, template: &str) -> Outcome {
    let found = match ctx.client()?.get_template(template).await {
        Ok(_) => true,
        Err(e) if matches!(e.code(), Some(ErrorCode::TemplateNotFound)) => false,
        Err(e) => return Err(e.into()),
    };
    if ctx.json() {
        output::json(&json!({"ref": template, "exists": found}))?;
    } else {
        output::line(if found { "true" } else { "false" })?;
    }
    Ok(if found { OK } else { Exit::NotFound.code() })
}

async fn tag(ctx: &Ctx, command: TagCommand) -> Outcome {
    let client = ctx.client()?;
    let list = match command {
        TagCommand::Assign(a) => {
            let target = a.target.as_deref().map(|t| target(&a.template, t));
            client
                .assign_template_tags(&a.template, &a.tags, target.as_deref())
                .await?
        }
        TagCommand::List(RefArg { template }) => client.template_tags(&template).await?,
        TagCommand::Remove(RemoveTagArgs { template, tag }) => {
            client.remove_template_tag(&template, &tag).await?;
            if ctx.json() {
                output::json(&json!({"ref": template, "tag": tag, "removed": true}))?;
            } else {
                output::line(&format!("removed tag {tag} of {template}"))?;
            }
            return Ok(OK);
        }
    };
    if ctx.json() {
        output::json(&list)?;
    } else {
        output::line(&tag_table(&list))?;
    }
    Ok(OK)
}

/// The `target` of a tag assignment to `template`: a `NAME:TAG` of that same
/// template is sent as its `TAG` (the server resolves a tag or a `tb_…` there).
pub fn target(template: &str, target: &str) -> String {
    let name = template.split(':').next().unwrap_or(template);
    match target.split_once(':') {
        Some((n, tag)) if n == name => tag.to_owned(),
        _ => target.to_owned(),
    }
}

/// The starter request of `template init`.
pub fn starter(name: &str) -> TemplateBuildRequest {
    TemplateBuildRequest {
        name: name.to_owned(),
        from_template: Some("base".into()),
        steps: vec![
            TemplateStep::Run {
                cmd: "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y \
                      --no-install-recommends jq"
                    .into(),
                user: Some("root".into()),
            },
            TemplateStep::Workdir {
                path: "/workspace/app".into(),
            },
            TemplateStep::Run {
                cmd: "echo 'hello from my template' > index.html".into(),
                user: None,
            },
        ],
        start_cmd: Some("python3 -m http.server 8000".into()),
        ready_cmd: Some("curl -fsS -o /dev/null http://127.0.0.1:8000/".into()),
        ready_timeout_secs: Some(60),
        runtime_envs: [("APP_ENV".to_owned(), "dev".to_owned())].into(),
        ..Default::default()
    }
}

/// `template init`: write the starter request to `path` (not over a file unless
/// `--force`).
fn init(ctx: &Ctx, args: &InitArgs, path: &Path) -> Outcome {
    if path.exists() && !args.force {
        return Err(CliError::AlreadyExists {
            path: path.display().to_string(),
        });
    }
    let text = serde_json::to_string_pretty(&starter(&args.name)).expect("requests serialize");
    std::fs::write(path, text + "\n").map_err(|source| CliError::LocalTool {
        what: format!("write {}", path.display()),
        source,
    })?;
    if ctx.json() {
        output::json(&json!({"path": path, "written": true}))?;
    } else {
        output::line(&format!(
            "wrote {p}; build it with `nullspace template build --from-json {p}`",
            p = path.display()
        ))?;
    }
    Ok(OK)
}

/// `t` as JSON with only `fields`, in their order.
fn pick(t: &Template, fields: &[String]) -> Value {
    let all = serde_json::to_value(t).expect("templates serialize");
    let mut picked = serde_json::Map::new();
    for f in fields {
        picked.insert(f.clone(), all.get(f).cloned().unwrap_or(Value::Null));
    }
    Value::Object(picked)
}

/// Tags as `tag=build,…`.
fn tags_cell(tags: &[TemplateTag]) -> String {
    if tags.is_empty() {
        return "-".into();
    }
    tags.iter()
        .map(|t| t.tag.clone())
        .collect::<Vec<_>>()
        .join(",")
}

/// Field `f` of `t` as people read it.
fn cell(t: &Template, f: &str) -> String {
    match f {
        "id" => output::or_dash(t.id.as_ref()),
        "name" => t.name.clone(),
        "builtin" => t.builtin.to_string(),
        "tags" => tags_cell(&t.tags),
        "cpu_count" => t.cpu_count.to_string(),
        "memory_mb" => t.memory_mb.to_string(),
        "cwd" => t.cwd.clone(),
        "envs" => output::labels(&t.envs),
        "start_cmd" => output::or_dash(t.start_cmd.as_ref()),
        "ready_cmd" => output::or_dash(t.ready_cmd.as_ref()),
        "size_bytes" => output::size(t.size_bytes),
        "created_at" => output::or_dash(t.created_at.as_ref()),
        "updated_at" => output::or_dash(t.updated_at.as_ref()),
        _ => "-".into(),
    }
}

fn show(ctx: &Ctx, t: &Template, fields: &[String]) -> Outcome {
    if ctx.json() {
        if fields.is_empty() {
            output::json(t)?;
        } else {
            output::json(&pick(t, fields))?;
        }
    } else {
        output::line(&details(t, fields))?;
    }
    Ok(OK)
}

/// A template, one field a line (every field, or `fields`); tags with their versions.
fn details(t: &Template, fields: &[String]) -> String {
    let names: Vec<&str> = if fields.is_empty() {
        FIELDS.to_vec()
    } else {
        fields.iter().map(String::as_str).collect()
    };
    let pairs: Vec<(&str, String)> = names
        .iter()
        .map(|f| {
            let value = match *f {
                "tags" if !t.tags.is_empty() => t
                    .tags
                    .iter()
                    .map(|tag| format!("{}={}", tag.tag, tag.build_id))
                    .collect::<Vec<_>>()
                    .join(","),
                _ => cell(t, f),
            };
            (*f, value)
        })
        .collect();
    output::fields(&pairs)
}

/// Templates as a table: NAME, ID, TAGS, CPUS, MEM_MB, SIZE, UPDATED, or `fields`.
fn table(list: &TemplateList, fields: &[String]) -> String {
    const DEFAULT: [&str; 7] = [
        "name",
        "id",
        "tags",
        "cpu_count",
        "memory_mb",
        "size_bytes",
        "updated_at",
    ];
    let columns: Vec<&str> = if fields.is_empty() {
        DEFAULT.to_vec()
    } else {
        fields.iter().map(String::as_str).collect()
    };
    let header = |f: &str| match f {
        "cpu_count" => "CPUS".to_owned(),
        "memory_mb" => "MEM_MB".to_owned(),
        "size_bytes" => "SIZE".to_owned(),
        "updated_at" => "UPDATED".to_owned(),
        "created_at" => "CREATED".to_owned(),
        other => other.to_ascii_uppercase(),
    };
    let headers: Vec<String> = columns.iter().map(|c| header(c)).collect();
    let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
    let rows: Vec<Vec<String>> = list
        .templates
        .iter()
        .map(|t| columns.iter().map(|c| cell(t, c)).collect())
        .collect();
    output::table(&headers, &rows)
}

/// Tags as a table.
fn tag_table(list: &TemplateTagList) -> String {
    if list.tags.is_empty() {
        return "no tags".into();
    }
    let rows: Vec<Vec<String>> = list
        .tags
        .iter()
        .map(|t| vec![t.tag.clone(), t.build_id.to_string()])
        .collect();
    output::table(&["TAG", "BUILD"], &rows)
}

#[cfg(test)]
#[path = "template_tests.rs"]
mod tests;
