//! `nullspace template build|render|build-status|logs|wait`: start a build from
//! flags (or a JSON request), follow its log until it ends, and render a request
//! without sending it.
//!
//! Following reads the build's log stream (`GET /v1/templates/builds/{id}/logs/stream`,
//! a WebSocket) and prints each log entry once, in order, as the server writes it:
//! `[HH:MM:SS] message` (UTC), or with `--log-format jsonl` one `BuildLogEntry` JSON
//! a line. A stream that breaks off is opened again from the entry after the last
//! one printed. The entries go to stdout, or to stderr with `--json`, whose stdout
//! is the final build alone. A build that ends in `error` exits 6 (`build_failed`)
//! with its step, exit code and last lines on stderr.

use std::time::Duration;

use clap::{Args, ValueEnum};
use nullspace_api::{
    BuildLogEntry, BuildLogMsg, BuildLogs, BuildStatus, TemplateBuild, MAX_LOG_PAGE,
};
use nullspace_client::{Client, ClientError};
use nullspace_types::TemplateBuildId;

use super::template_context::{hash_all, upload_all};
use super::template_spec::{
    dockerfile, read_request, registry_auth, request_json, BuildSpec, Plan,
};
use super::{Ctx, Outcome, OK};
use crate::error::CliError;
use crate::output;

/// Times a log stream that broke off before `done` is opened again with no entry
/// read in between.
const REOPEN_TRIES: u32 = 3;
/// Pause before opening it again.
const REOPEN_AFTER: Duration = Duration::from_millis(500);

/// How log entries print.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// `[HH:MM:SS] message` (UTC).
    #[default]
    Text,
    /// One `BuildLogEntry` JSON object a line.
    Jsonl,
}

/// Flags of `template build`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// What to build.
    #[command(flatten)]
    pub spec: BuildSpec,
    /// Print the build id (the build with --json) and exit instead of following it.
    #[arg(long)]
    pub background: bool,
    /// How the log entries print while following.
    #[arg(long, value_enum, default_value = "text")]
    pub log_format: LogFormat,
}

/// What `template render` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RenderFormat {
    /// The build request (copy contexts hashed, nothing sent).
    Json,
    /// A Dockerfile-like reading of the build.
    Dockerfile,
}

/// Arguments of `template render`.
#[derive(Debug, Args)]
pub struct RenderArgs {
    /// What to print.
    #[arg(value_enum)]
    pub format: RenderFormat,
    /// What to build.
    #[command(flatten)]
    pub spec: BuildSpec,
}

/// Arguments of `template build-status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Build id (tb_…).
    pub id: TemplateBuildId,
    /// Log entries from this offset.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub offset: u64,
}

/// Arguments of `template logs`.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Build id (tb_…).
    pub id: TemplateBuildId,
    /// Entries from this offset.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub offset: u64,
    /// Keep printing entries as they are written until the build ends.
    #[arg(long)]
    pub follow: bool,
    /// How the entries print.
    #[arg(long, value_enum, default_value = "text")]
    pub log_format: LogFormat,
}

/// Arguments of `template wait`.
#[derive(Debug, Args)]
pub struct WaitArgs {
    /// Build id (tb_…).
    pub id: TemplateBuildId,
    /// Not used any more (the log streams); still accepted (50-60000) so that
    /// scripts that pass it keep working.
    #[arg(long, hide = true, default_value_t = 500, value_name = "N",
          value_parser = clap::value_parser!(u64).range(50..=60_000))]
    pub poll_interval_ms: u64,
    /// How the log entries print.
    #[arg(long, value_enum, default_value = "text")]
    pub log_format: LogFormat,
}

/// Where and how log entries print.
#[derive(Debug, Clone, Copy)]
pub struct Sink {
    /// The format.
    pub format: LogFormat,
    /// Print on stderr (else stdout).
    pub stderr: bool,
}

impl Sink {
    /// Print `entries`.
    pub fn print(&self, entries: &[BuildLogEntry]) -> Result<(), CliError> {
        for e in entries {
            let line = entry_line(e, self.format);
            if self.stderr {
                eprintln!("{line}");
            } else {
                output::line(&line)?;
            }
        }
        Ok(())
    }
}

/// One log entry as `format` prints it.
pub fn entry_line(e: &BuildLogEntry, format: LogFormat) -> String {
    match format {
        LogFormat::Jsonl => serde_json::to_string(e).expect("log entries serialize"),
        LogFormat::Text => {
            // `at` is RFC 3339 UTC: `2026-01-01T12:34:56.789Z`.
            let time = e.at.get(11..19).unwrap_or(&e.at);
            format!("[{time}] {}", e.message)
        }
    }
}

/// The plan of `spec`, over its `--from-json` request when it has one.
fn plan(spec: &BuildSpec) -> Result<Plan, CliError> {
    let base = spec
        .flags
        .from_json
        .as_deref()
        .map(read_request)
        .transpose()?;
    let mut plan = spec.plan(base);
    if let Some(auth) = registry_auth(&spec.flags)? {
        plan.request.registry_auth = Some(auth);
    }
    Ok(plan)
}

/// Runs `template build`.
pub async fn build(ctx: &Ctx, args: &BuildArgs) -> Outcome {
    let mut plan = plan(&args.spec)?;
    if plan.request.name.is_empty() {
        return Err(CliError::Usage(
            "a build needs a name: --name NAME[:TAG] (or \"name\" in --from-json)".into(),
        ));
    }
    let client = ctx.client()?;
    let quiet = ctx.json();
    upload_all(&client, &mut plan, |src, packed| {
        if !quiet {
            eprintln!(
                "uploaded {} as context {} ({})",
                src.display(),
                &packed.sha256[..12],
                output::size(packed.size)
            );
        }
    })
    .await?;
    let started = client.build_template(&plan.request).await?;
    if args.background {
        if ctx.json() {
            output::json(&started)?;
        } else {
            output::line(started.id.as_str())?;
        }
        return Ok(OK);
    }
    if !ctx.json() {
        eprintln!(
            "build {id} of {} started (Ctrl-C stops following; the build goes on: \
             `nullspace template wait {id}`)",
            started.name,
            id = started.id
        );
    }
    let sink = Sink {
        format: args.log_format,
        stderr: ctx.json(),
    };
    let done = follow(&client, &started.id, 0, sink).await?;
    finish(ctx, done)
}

/// Runs `template render`: prints the request or the Dockerfile; sends nothing.
pub async fn render(ctx: &Ctx, args: &RenderArgs) -> Outcome {
    let mut plan = plan(&args.spec)?;
    match args.format {
        RenderFormat::Json => {
            hash_all(&mut plan).await?;
            output::json(&request_json(&plan.request))?;
        }
        RenderFormat::Dockerfile if ctx.json() => {
            output::json(&serde_json::json!({"dockerfile": dockerfile(&plan)}))?;
        }
        RenderFormat::Dockerfile => output::bytes(dockerfile(&plan).as_bytes())?,
    }
    Ok(OK)
}

/// Runs `template build-status`: the build and its entries from `--offset`.
pub async fn status(ctx: &Ctx, args: &StatusArgs) -> Outcome {
    let b = ctx.client()?.template_build(&args.id, args.offset).await?;
    if ctx.json() {
        output::json(&b)?;
        return Ok(OK);
    }
    output::line(&fields(&b))?;
    if !b.logs.is_empty() {
        output::line("logs:")?;
        Sink {
            format: LogFormat::Text,
            stderr: false,
        }
        .print(&b.logs)?;
    }
    Ok(OK)
}

/// Runs `template logs`: the entries from `--offset` there are now, or with
/// `--follow` as they are written until the build ends; `--json` prints them as
/// one `BuildLogs`.
pub async fn logs(ctx: &Ctx, args: &LogsArgs) -> Outcome {
    let client = ctx.client()?;
    let sink = Sink {
        format: args.log_format,
        stderr: false,
    };
    let mut all = Vec::new();
    if args.follow {
        let next = stream_logs(&client, &args.id, args.offset, |e| {
            if ctx.json() {
                all.push(e);
                Ok(())
            } else {
                sink.print(std::slice::from_ref(&e))
            }
        })
        .await?;
        if ctx.json() {
            output::json(&BuildLogs {
                logs: all,
                next_offset: next,
                done: true,
            })?;
        }
        return Ok(OK);
    }
    let mut offset = args.offset;
    loop {
        let page = client.template_build_logs(&args.id, offset, None).await?;
        offset = page.next_offset.max(offset);
        let full = page.logs.len() >= MAX_LOG_PAGE;
        if ctx.json() {
            all.extend(page.logs);
        } else {
            sink.print(&page.logs)?;
        }
        if !full {
            if ctx.json() {
                output::json(&BuildLogs {
                    logs: all,
                    next_offset: offset,
                    done: page.done,
                })?;
            }
            return Ok(OK);
        }
    }
}

/// Runs `template wait`: follows the build from its first entry until it ends.
pub async fn wait(ctx: &Ctx, args: &WaitArgs) -> Outcome {
    let client = ctx.client()?;
    let sink = Sink {
        format: args.log_format,
        stderr: ctx.json(),
    };
    let done = follow(&client, &args.id, 0, sink).await?;
    finish(ctx, done)
}

/// Hand each entry of build `id` from log offset `from` to `each` as the server
/// writes it, until the build ends; answers the offset after the last entry. A
/// stream that breaks off is opened again from there ([`REOPEN_TRIES`] times in a
/// row at most).
pub async fn stream_logs(
    client: &Client,
    id: &TemplateBuildId,
    from: u64,
    mut each: impl FnMut(BuildLogEntry) -> Result<(), CliError>,
) -> Result<u64, CliError> {
    let (mut offset, mut tries) = (from, 0);
    loop {
        let mut stream = client.follow_build_logs(id, offset).await?;
        loop {
            match stream.next().await {
                Ok(Some(BuildLogMsg::Log(e))) => {
                    offset = offset.max(e.offset + 1);
                    tries = 0;
                    each(e)?;
                }
                Ok(Some(BuildLogMsg::Done { .. }) | None) => return Ok(offset),
                Ok(Some(BuildLogMsg::Error { code, message })) => {
                    return Err(ClientError::Api {
                        status: 500,
                        code,
                        message,
                        output: None,
                        retry_after: None,
                    }
                    .into())
                }
                Err(ClientError::StreamClosed { .. } | ClientError::WebSocket { .. })
                    if tries < REOPEN_TRIES =>
                {
                    tries += 1;
                    tokio::time::sleep(REOPEN_AFTER).await;
                    break;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// Follow build `id` from log offset `from` until it ends, printing every entry
/// once to `sink` as it is written; answers the ended build with no `logs` (they
/// were printed) and `logs_next_offset` after the last one.
pub async fn follow(
    client: &Client,
    id: &TemplateBuildId,
    from: u64,
    sink: Sink,
) -> Result<TemplateBuild, CliError> {
    let offset = stream_logs(client, id, from, |e| sink.print(std::slice::from_ref(&e))).await?;
    // The stream said `done`: the build's final facts, and no entry is left.
    let mut b = client.template_build(id, offset).await?;
    sink.print(&b.logs)?;
    b.logs.clear();
    Ok(b)
}

/// The outcome of an ended build: printed when ready, [`CliError::BuildFailed`]
/// when it failed.
pub fn finish(ctx: &Ctx, b: TemplateBuild) -> Outcome {
    if b.status == BuildStatus::Error {
        return Err(CliError::BuildFailed(Box::new(b)));
    }
    if ctx.json() {
        output::json(&b)?;
    } else {
        output::line(&fields(&b))?;
    }
    Ok(OK)
}

/// A build, one field a line.
pub fn fields(b: &TemplateBuild) -> String {
    let mut pairs = vec![
        ("id", b.id.to_string()),
        ("template_id", b.template_id.to_string()),
        ("name", b.name.clone()),
        ("tags", b.tags.join(",")),
        ("status", b.status.as_str().to_owned()),
        (
            "steps",
            format!(
                "{}/{} done ({} cached)",
                b.steps_done, b.steps_total, b.steps_cached
            ),
        ),
    ];
    if let Some(e) = &b.error {
        pairs.push((
            "error",
            format!("{} ({})", e.message, output::wire_name(&e.code)),
        ));
    }
    pairs.extend([
        ("created_at", b.created_at.clone()),
        ("finished_at", output::or_dash(b.finished_at.as_ref())),
    ]);
    output::fields(&pairs)
}
