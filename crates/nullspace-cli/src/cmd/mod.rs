//! One module per command group, and what they share: the configuration and client.

pub mod auth;
pub mod completion;
pub mod doctor;
pub mod exec;
pub mod file;
pub mod file_tree;
pub mod fork;
pub mod git;
pub mod metrics;
pub mod preview;
pub mod process;
pub mod pty;
pub mod quickstart;
pub mod sandbox;
pub mod sandbox_create;
pub mod schema;
pub mod snapshot;
pub mod ssh;
pub mod template;
pub mod template_build;
pub mod template_context;
pub mod template_spec;
pub mod upload;

use nullspace_client::Client;

use crate::cli::{Cli, Command, GlobalArgs};
use crate::config::{self, Inputs, Resolved};
use crate::error::CliError;

/// What a command returns: the exit status, or an error to report.
pub type Outcome = Result<u8, CliError>;

/// Success.
pub const OK: u8 = 0;

/// Fetch the page at cursor `first`, and with `all` every page after it: the
/// items, and the cursor of the page that follows them.
pub async fn fetch_pages<T, F, Fut>(
    first: Option<String>,
    all: bool,
    mut fetch: F,
) -> Result<(Vec<T>, Option<String>), CliError>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: std::future::Future<
        Output = Result<(Vec<T>, Option<String>), nullspace_client::ClientError>,
    >,
{
    let (mut items, mut next) = fetch(first).await?;
    if all {
        while let Some(cursor) = next.take() {
            let (mut more, after) = fetch(Some(cursor)).await?;
            items.append(&mut more);
            next = after;
        }
    }
    Ok((items, next))
}

/// Print a list page: `page` as JSON with --json, else `none` when it is empty,
/// or `table` and how to get the page after it.
pub fn show_list(
    ctx: &Ctx,
    page: &impl serde::Serialize,
    none: &str,
    table: Option<String>,
    next: Option<&str>,
) -> Outcome {
    if ctx.json() {
        crate::output::json(page)?;
    } else if let Some(table) = table {
        crate::output::line(&table)?;
        if let Some(cursor) = next {
            crate::output::line(&format!("more: --cursor {cursor} (or --all)"))?;
        }
    } else {
        crate::output::line(none)?;
    }
    Ok(OK)
}

/// The global flags and what they resolve to.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// Global flags.
    pub global: GlobalArgs,
}

impl Ctx {
    /// Whether results print as JSON.
    pub fn json(&self) -> bool {
        self.global.json
    }

    /// The configuration of this process.
    pub fn resolve(&self) -> Result<Resolved, CliError> {
        let inputs = Inputs::from_process(self.global.api_key.clone(), self.global.api_url.clone());
        Ok(config::resolve(&inputs)?)
    }

    /// A client with the resolved URL and key; no key is an error.
    pub fn client(&self) -> Result<Client, CliError> {
        let resolved = self.resolve()?;
        let key = resolved.api_key.ok_or(CliError::NotConfigured)?;
        Ok(Client::new(&resolved.api_url.value, key.value)?)
    }
}

/// Runs the parsed command line.
pub fn dispatch(cli: Cli) -> Outcome {
    let ctx = Ctx { global: cli.global };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)?;
    runtime.block_on(async move {
        match cli.command {
            Command::Auth(args) => auth::run(&ctx, args).await,
            Command::Doctor => doctor::run(&ctx).await,
            Command::Quickstart(args) => quickstart::run(&ctx, &args).await,
            Command::Sandbox(args) => sandbox::run(&ctx, args).await,
            Command::Snapshot(args) => snapshot::run(&ctx, args).await,
            Command::Ssh(args) => ssh::run(&ctx, args).await,
            Command::Template(args) => template::run(&ctx, *args).await,
            Command::Schema(args) => schema::run(&ctx, &args),
            Command::Completion(args) => completion::run(&args),
        }
    })
}
