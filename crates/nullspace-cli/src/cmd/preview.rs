//! `nullspace sandbox host|url|preview-url|preview-proxy-target …`: preview URLs of
//! machine ports (`spec/previews.md`).
//!
//! `host` and `url` print one value for scripts; `preview-url` and
//! `preview-proxy-target` describe links and grants for people. Human output never
//! shows a whole token: URLs and header tokens keep their signature back as `***`
//! unless `--raw` asks for the secret, while `--json` prints the API's objects as they
//! are (automation needs the real values). Every bad value (a port of 0, an
//! `--expires` of `5s`, a transport of `ftp`) is a usage error before any request.

use std::str::FromStr;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use nullspace_api::{
    PreviewAuthMode, PreviewReadiness, PreviewTransport, PreviewUrl, MAX_PREVIEW_SECS,
    MIN_PREVIEW_SECS,
};
use nullspace_client::{redact_preview_url, Client};
use nullspace_types::{MachineId, PreviewGrantId};

use super::{Ctx, Outcome, OK};
use crate::error::CliError;
use crate::output;

#[path = "preview_show.rs"]
mod show;

/// How long `--wait` waits when `--wait-timeout` is not given.
const DEFAULT_WAIT: Duration = Duration::from_secs(60);

/// Why a length of time does not parse.
#[derive(Debug, thiserror::Error)]
pub enum SpanError {
    /// Not a whole number with an optional unit.
    #[error("expected a duration such as 90s, 15m, 2h, 1d or plain seconds, got {0:?}")]
    Syntax(String),
    /// Too long to count in seconds.
    #[error("{0:?} is too long")]
    Overflow(String),
    /// Outside the life a grant may have.
    #[error("a grant lives 1m to 7d ({MIN_PREVIEW_SECS}-{MAX_PREVIEW_SECS} seconds), got {0:?}")]
    Expiry(String),
}

/// A length of time (`--wait-timeout`): `90s`, `15m`, `2h`, `1d`, or plain seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeSpan(pub Duration);

impl FromStr for TimeSpan {
    type Err = SpanError;
    fn from_str(s: &str) -> Result<Self, SpanError> {
        let (digits, unit) = match s.char_indices().last() {
            Some((at, unit)) if unit.is_ascii_alphabetic() => (&s[..at], unit),
            _ => (s, 's'),
        };
        let per_unit: u64 = match unit {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(SpanError::Syntax(s.to_owned())),
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(SpanError::Syntax(s.to_owned()));
        }
        let secs = digits
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(per_unit))
            .ok_or_else(|| SpanError::Overflow(s.to_owned()))?;
        Ok(TimeSpan(Duration::from_secs(secs)))
    }
}

/// The life of a grant (`--expires`): a [`TimeSpan`] of 1 minute to 7 days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expires(pub u64);

impl FromStr for Expires {
    type Err = SpanError;
    fn from_str(s: &str) -> Result<Self, SpanError> {
        let secs = s.parse::<TimeSpan>()?.0.as_secs();
        if (MIN_PREVIEW_SECS..=MAX_PREVIEW_SECS).contains(&secs) {
            Ok(Expires(secs))
        } else {
            Err(SpanError::Expiry(s.to_owned()))
        }
    }
}

/// A transport of a proxy target (`--transport`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TransportArg {
    /// Plain HTTP requests.
    Http,
    /// WebSocket upgrades.
    Websocket,
}

impl From<TransportArg> for PreviewTransport {
    fn from(t: TransportArg) -> Self {
        match t {
            TransportArg::Http => PreviewTransport::Http,
            TransportArg::Websocket => PreviewTransport::Websocket,
        }
    }
}

/// A machine port.
#[derive(Debug, Args)]
pub struct PortArgs {
    /// Machine id (sb_…).
    pub id: MachineId,
    /// Port in the machine (1-65535).
    #[arg(value_parser = clap::value_parser!(u16).range(1..))]
    pub port: u16,
}

/// Which URL, and whether its token shows.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The WebSocket URL (ws://, wss://) instead of the HTTP one.
    #[arg(long)]
    pub websocket: bool,
    /// Print tokens whole (a secret: anyone with the link gets in); without it they
    /// are redacted to `nspv1.….***`. --json always prints them whole.
    #[arg(long)]
    pub raw: bool,
}

impl ShowArgs {
    fn transport(&self) -> PreviewTransport {
        if self.websocket {
            PreviewTransport::Websocket
        } else {
            PreviewTransport::Http
        }
    }
}

/// `--wait` and how long.
#[derive(Debug, Args)]
pub struct WaitArgs {
    /// Wait until the service on the port answers HTTP before printing (the JSON then
    /// has its `readiness`).
    #[arg(long)]
    pub wait: bool,
    /// With --wait: give up after this long (90s, 15m, 2h or seconds; default 60s),
    /// exit 8 (wait_timeout).
    #[arg(long, value_name = "DURATION", requires = "wait")]
    pub wait_timeout: Option<TimeSpan>,
}

/// Arguments of `sandbox url`.
#[derive(Debug, Args)]
pub struct UrlArgs {
    #[command(flatten)]
    pub port: PortArgs,
    /// How long the signed link of a machine without public traffic works (90s, 15m, 2h,
    /// 1d or seconds; 1m-7d, default 1h); a public machine's URL needs none.
    #[arg(long, value_name = "DURATION")]
    pub expires: Option<Expires>,
    #[command(flatten)]
    pub show: ShowArgs,
    #[command(flatten)]
    pub wait: WaitArgs,
}

/// `sandbox preview-url` and its subcommands.
#[derive(Debug, Args)]
pub struct PreviewUrlArgs {
    /// The subcommand.
    #[command(subcommand)]
    pub command: PreviewUrlCommand,
}

/// Subcommands of `sandbox preview-url`.
#[derive(Debug, Subcommand)]
pub enum PreviewUrlCommand {
    /// Show the addresses of a machine port, without a grant (a machine without public
    /// traffic needs a credential: `create` signs a link).
    Get {
        #[command(flatten)]
        port: PortArgs,
        #[command(flatten)]
        show: ShowArgs,
    },
    /// Sign a link to a machine port: a new grant with its token in the URLs.
    Create {
        #[command(flatten)]
        port: PortArgs,
        /// How long the link works (90s, 15m, 2h, 1d or seconds; 1m-7d, default 1h).
        #[arg(long, value_name = "DURATION")]
        expires: Option<Expires>,
        #[command(flatten)]
        show: ShowArgs,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// List the grants of a machine, newest first, with their use (never their tokens).
    List {
        /// Machine id (sb_…).
        id: MachineId,
        /// Only the grants of this port.
        #[arg(long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
        port: Option<u16>,
    },
    /// Revoke a grant: its link stops working at once (revoking twice is fine).
    Revoke {
        /// Machine id (sb_…).
        id: MachineId,
        /// Grant id (pvg_…).
        grant_id: PreviewGrantId,
    },
}

/// `sandbox preview-proxy-target` and its subcommand.
#[derive(Debug, Args)]
pub struct ProxyTargetArgs {
    /// The subcommand.
    #[command(subcommand)]
    pub command: ProxyTargetCommand,
}

/// Subcommands of `sandbox preview-proxy-target`.
#[derive(Debug, Subcommand)]
pub enum ProxyTargetCommand {
    /// Grant a reverse proxy of your own access to a machine port: marker-only
    /// upstream URLs, and a token per transport to send in
    /// x-nullspace-preview-proxy-token.
    Create {
        #[command(flatten)]
        port: PortArgs,
        /// A transport to grant (repeatable; default http and websocket).
        #[arg(long = "transport", value_enum, value_name = "TRANSPORT")]
        transports: Vec<TransportArg>,
        /// How long the tokens work (90s, 15m, 2h, 1d or seconds; 1m-7d, default 1h).
        #[arg(long, value_name = "DURATION")]
        expires: Option<Expires>,
        /// Print the header tokens whole (a secret); --json always does.
        #[arg(long)]
        raw: bool,
    },
}

/// Runs `sandbox host`: the host of the port's address.
pub async fn host(ctx: &Ctx, args: &PortArgs) -> Outcome {
    let preview = ctx.client()?.preview_url(&args.id, args.port).await?;
    if ctx.json() {
        output::json(&preview)?;
    } else {
        output::line(&preview.host)?;
    }
    Ok(OK)
}

/// Runs `sandbox url`: the URL that works as it is, signed with a new one-hour grant
/// when the machine takes no public traffic.
pub async fn url(ctx: &Ctx, args: &UrlArgs) -> Outcome {
    let client = ctx.client()?;
    let PortArgs { id, port } = &args.port;
    let mut preview = client.preview_url(id, *port).await?;
    let readiness = wait(&client, id, *port, &args.wait).await?;
    if preview.auth_mode == PreviewAuthMode::Token && preview.token.is_none() {
        preview = client
            .create_preview_url(id, *port, args.expires.as_ref().map(|e| e.0))
            .await?;
    }
    let transport = args.show.transport();
    if ctx.json() {
        return print_json(&preview, transport, readiness.as_ref());
    }
    let url = show::selected(&preview, transport);
    if args.show.raw {
        output::line(url)?;
    } else {
        output::line(&redact_preview_url(url))?;
        redacted_note(&preview);
    }
    Ok(OK)
}

/// Runs `sandbox preview-url …`.
pub async fn run_url(ctx: &Ctx, args: PreviewUrlArgs) -> Outcome {
    let client = ctx.client()?;
    match args.command {
        PreviewUrlCommand::Get { port, show } => {
            let preview = client.preview_url(&port.id, port.port).await?;
            describe(ctx, &preview, &show, None)
        }
        PreviewUrlCommand::Create {
            port,
            expires,
            show,
            wait: wait_args,
        } => {
            // Wait first, so a service that never answers leaves no grant behind.
            let readiness = wait(&client, &port.id, port.port, &wait_args).await?;
            let preview = client
                .create_preview_url(&port.id, port.port, expires.map(|e| e.0))
                .await?;
            describe(ctx, &preview, &show, readiness.as_ref())
        }
        PreviewUrlCommand::List { id, port } => {
            let list = client.list_preview_grants(&id, port).await?;
            let table = (!list.grants.is_empty()).then(|| show::grants(&list.grants));
            let none = match port {
                Some(port) => format!("no preview grants on port {port} of {id}"),
                None => format!("no preview grants on {id}"),
            };
            super::show_list(ctx, &list, &none, table, None)
        }
        PreviewUrlCommand::Revoke { id, grant_id } => {
            let answer = client.revoke_preview_grant(&id, &grant_id).await?;
            if ctx.json() {
                output::json(&answer)?;
            } else {
                output::line(&format!(
                    "revoked {} (at {})",
                    answer.grant_id, answer.revoked_at
                ))?;
            }
            Ok(OK)
        }
    }
}

/// Runs `sandbox preview-proxy-target …`.
pub async fn run_proxy_target(ctx: &Ctx, args: ProxyTargetArgs) -> Outcome {
    let ProxyTargetCommand::Create {
        port,
        transports,
        expires,
        raw,
    } = args.command;
    let transports = requested(&transports);
    let target = ctx
        .client()?
        .create_preview_proxy_target(&port.id, port.port, transports, expires.map(|e| e.0))
        .await?;
    if ctx.json() {
        output::json(&target)?;
    } else {
        output::line(&show::proxy_target(&target, raw))?;
        if !raw {
            eprintln!("header tokens are redacted: --raw prints them, --json gives every value");
        }
    }
    Ok(OK)
}

/// The transports to ask for: those named, each once, or the server's default (both).
fn requested(named: &[TransportArg]) -> Option<Vec<PreviewTransport>> {
    let mut transports: Vec<PreviewTransport> = named.iter().copied().map(Into::into).collect();
    transports.sort_unstable();
    transports.dedup();
    (!transports.is_empty()).then_some(transports)
}

/// With `--wait`, waits until the service answers: its readiness.
async fn wait(
    client: &Client,
    id: &MachineId,
    port: u16,
    args: &WaitArgs,
) -> Result<Option<PreviewReadiness>, CliError> {
    if !args.wait {
        return Ok(None);
    }
    let timeout = args.wait_timeout.map_or(DEFAULT_WAIT, |t| t.0);
    Ok(Some(
        client.wait_for_preview(id, port, timeout, true).await?,
    ))
}

/// Prints a preview for people (its addresses as fields) or as JSON.
fn describe(
    ctx: &Ctx,
    preview: &PreviewUrl,
    show: &ShowArgs,
    readiness: Option<&PreviewReadiness>,
) -> Outcome {
    let transport = show.transport();
    if ctx.json() {
        return print_json(preview, transport, readiness);
    }
    output::line(&show::preview(preview, transport, show.raw, readiness))?;
    if !show.raw {
        redacted_note(preview);
    }
    Ok(OK)
}

fn print_json(
    preview: &PreviewUrl,
    transport: PreviewTransport,
    readiness: Option<&PreviewReadiness>,
) -> Outcome {
    output::json(&show::preview_json(preview, transport, readiness))?;
    Ok(OK)
}

/// Tells people on standard error that what they see of a signed link is redacted.
fn redacted_note(preview: &PreviewUrl) {
    if preview.token.is_some() {
        eprintln!("the token is redacted: --raw prints the link whole, --json gives every value");
    }
}

#[cfg(test)]
#[path = "preview_tests.rs"]
mod tests;
