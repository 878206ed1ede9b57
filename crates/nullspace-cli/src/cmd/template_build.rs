//! `nullspace template build|render|build-status|logs|wait`: start a build from
//! flags (or a JSON request), follow its log until it ends, and render a request
//! without sending it.
//!
//! Following polls `GET /v1/templates/builds/{id}?logs_offset=N` (every 500 ms by
//! default) and prints each log entry once, in order: `[HH:MM:SS] message` (UTC), or
//! with `--log-format jsonl` one `BuildLogEntry` JSON a line. The entries go to
//! stdout, or to stderr with `--json`, whose stdout is the final build alone. A
//! build that ends in `error` exits 6 (`build_failed`) with its step, exit code and
//! last lines on stderr.

use std::time::Duration;

use clap::{Args, ValueEnum};
use nullspace_api::{BuildLogEntry, BuildLogs, BuildStatus, TemplateBuild, MAX_LOG_PAGE};
use nullspace_client::Client;
use nullspace_types::TemplateBuildId;

use super::template_context::{hash_all, upload_all};
use super::template_spec::{dockerfile, read_request, request_json, BuildSpec, Plan};
use super::{Ctx, Outcome, OK};
use crate::error::CliError;
use crate::output;

/// How often a followed build is polled unless told otherwise.
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);
/// How long to wait, once a build has ended, for the entries the server writes
/// right after its status changes.
const SETTLE: Duration = Duration::from_millis(200);

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
    /// Keep printing entries until the build ends.
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
    /// Milliseconds between polls (50-60000).
    #[arg(long, default_value_t = 500, value_name = "N",
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
    Ok(spec.plan(base))
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
    let done = follow(&client, &started.id, 0, POLL_INTERVAL, sink).await?;
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
/// `--follow` until the build ends; `--json` prints them as one `BuildLogs`.
pub async fn logs(ctx: &Ctx, args: &LogsArgs) -> Outcome {
    let client = ctx.client()?;
    let sink = Sink {
        format: args.log_format,
        stderr: false,
    };
    let (mut offset, mut all, mut settled) = (args.offset, Vec::new(), false);
    loop {
        let page = client.template_build_logs(&args.id, offset, None).await?;
        offset = page.next_offset.max(offset);
        let full = page.logs.len() >= MAX_LOG_PAGE;
        if ctx.json() {
            all.extend(page.logs);
        } else {
            sink.print(&page.logs)?;
        }
        if full {
            continue;
        }
        let end = if page.done {
            std::mem::replace(&mut settled, true)
        } else {
            !args.follow
        };
        if end {
            if ctx.json() {
                output::json(&BuildLogs {
                    logs: all,
                    next_offset: offset,
                    done: page.done,
                })?;
            }
            return Ok(OK);
        }
        tokio::time::sleep(if page.done { SETTLE } else { POLL_INTERVAL }).await;
    }
}

/// Runs `template wait`: follows the build from its first entry until it ends.
pub async fn wait(ctx: &Ctx, args: &WaitArgs) -> Outcome {
    let client = ctx.client()?;
    let sink = Sink {
        format: args.log_format,
        stderr: ctx.json(),
    };
    let interval = Duration::from_millis(args.poll_interval_ms);
    let done = follow(&client, &args.id, 0, interval, sink).await?;
    finish(ctx, done)
}

/// Follow build `id` from log offset `from` until it ends, printing every entry
/// once to `sink`; answers the ended build with no `logs` (they were printed) and
/// `logs_next_offset` after the last one.
pub async fn follow(
    client: &Client,
    id: &TemplateBuildId,
    from: u64,
    interval: Duration,
    sink: Sink,
) -> Result<TemplateBuild, CliError> {
    let (mut offset, mut settled) = (from, false);
    loop {
        let mut b = client.template_build(id, offset).await?;
        sink.print(&b.logs)?;
        offset = b.logs_next_offset.max(offset);
        if b.logs.len() >= MAX_LOG_PAGE {
            continue;
        }
        if b.status.is_done() {
            // One more look after the end, for the entries written just after it.
            if settled {
                b.logs.clear();
                return Ok(b);
            }
            settled = true;
            tokio::time::sleep(SETTLE).await;
            continue;
        }
        tokio::time::sleep(interval).await;
    }
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
