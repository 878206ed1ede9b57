//! `nullspace auth login|status`.

use std::io::{BufRead, IsTerminal, Write};

use clap::{Args, Subcommand};
use nullspace_client::{Client, ClientError, ListMachines};

use super::{Ctx, Outcome, OK};
use crate::config::{self, ConfigError, FileConfig, Inputs};
use crate::error::CliError;
use crate::exit::Exit;
use crate::output;

/// `auth` and its subcommands.
#[derive(Debug, Args)]
pub struct AuthArgs {
    /// The subcommand.
    #[command(subcommand)]
    pub command: AuthCommand,
}

/// Subcommands of `auth`.
#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// Check an API key (from --api-key, else standard input) and save it with the URL
    /// to ~/.config/nullspace/config.json (mode 0600).
    Login,
    /// Show where the key and URL come from, whether the server answers and the key is valid.
    Status,
}

/// Runs `auth …`.
pub async fn run(ctx: &Ctx, args: AuthArgs) -> Outcome {
    match args.command {
        AuthCommand::Login => login(ctx).await,
        AuthCommand::Status => status(ctx).await,
    }
}

/// A one-request check of `client`'s key.
pub async fn check_key(client: &Client) -> Result<(), ClientError> {
    let probe = ListMachines {
        limit: Some(1),
        ..Default::default()
    };
    client.list_machines(&probe).await.map(drop)
}

/// The key typed or piped on standard input (first line).
fn key_from_stdin() -> Result<String, CliError> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("API key: ");
        let _ = std::io::stderr().flush();
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .map_err(|source| CliError::ReadInput {
            what: "standard input".into(),
            source,
        })?;
    let key = line.trim().to_owned();
    if key.is_empty() {
        return Err(CliError::NoKeyGiven);
    }
    Ok(key)
}

async fn login(ctx: &Ctx) -> Outcome {
    let key = match &ctx.global.api_key {
        Some(key) if !key.trim().is_empty() => key.trim().to_owned(),
        _ => key_from_stdin()?,
    };
    let url = ctx.resolve()?.api_url.value;
    let client = Client::new(&url, key.clone())?;
    check_key(&client).await?;
    let home = Inputs::from_process(None, None)
        .home
        .ok_or(ConfigError::NoHome)?;
    let saved = FileConfig {
        api_key: Some(key.clone()),
        api_url: Some(url.clone()),
    };
    let path = config::save_user_config(&home, &saved)?;
    if ctx.json() {
        output::json(&serde_json::json!({
            "api_url": url,
            "api_key": config::mask_key(&key),
            "config_path": path,
        }))?;
    } else {
        output::line(&format!(
            "logged in to {url} with {}; saved to {}",
            config::mask_key(&key),
            path.display()
        ))?;
    }
    Ok(OK)
}

async fn status(ctx: &Ctx) -> Outcome {
    let resolved = ctx.resolve()?;
    let url = &resolved.api_url;
    let key = resolved.api_key.as_ref();
    let client = Client::new(&url.value, key.map(|k| k.value.clone()).unwrap_or_default())?;
    let health = client.health().await;
    let key_check = match (key, &health) {
        (Some(_), Ok(_)) => Some(check_key(&client).await),
        _ => None,
    };
    let exit = match (&health, key, &key_check) {
        (Err(e), _, _) => Exit::for_client_error(e),
        (_, None, _) => Exit::NotConfigured,
        (_, _, Some(Err(e))) => Exit::for_client_error(e),
        _ => Exit::Ok,
    };
    let server = match &health {
        Ok(h) => format!("reachable, version {}", h.version),
        Err(e) => format!("unreachable: {e}"),
    };
    let key_state = match &key_check {
        Some(Ok(())) => "valid".to_owned(),
        Some(Err(e)) => format!("rejected: {e}"),
        None if key.is_none() => "not configured".to_owned(),
        None => "not checked".to_owned(),
    };
    if ctx.json() {
        output::json(&serde_json::json!({
            "api_url": { "value": url.value, "source": url.source.to_string() },
            "api_key": key.map(|k| serde_json::json!({
                "masked": config::mask_key(&k.value),
                "source": k.source.to_string(),
            })),
            "server": {
                "reachable": health.is_ok(),
                "version": health.as_ref().ok().map(|h| h.version.clone()),
                "error": health.as_ref().err().map(ToString::to_string),
            },
            "key_valid": key_check.as_ref().map(Result::is_ok),
            "exit_code": exit.code(),
        }))?;
    } else {
        let key_line = match key {
            Some(k) => format!("{} (from {})", config::mask_key(&k.value), k.source),
            None => "none: pass --api-key, set NULLSPACE_API_KEY, or run `nullspace auth login`"
                .to_owned(),
        };
        output::line(&output::fields(&[
            ("api url", format!("{} (from {})", url.value, url.source)),
            ("api key", key_line),
            ("server", server),
            ("key", key_state),
        ]))?;
    }
    Ok(exit.code())
}
