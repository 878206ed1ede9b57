//! One module per command group, and what they share: the configuration and client.

pub mod auth;
pub mod completion;
pub mod doctor;
pub mod file;
pub mod fork;
pub mod metrics;
pub mod quickstart;
pub mod sandbox;
pub mod schema;
pub mod snapshot;

use nullspace_client::Client;

use crate::cli::{Cli, Command, GlobalArgs};
use crate::config::{self, Inputs, Resolved};
use crate::error::CliError;

/// What a command returns: the exit status, or an error to report.
pub type Outcome = Result<u8, CliError>;

/// Success.
pub const OK: u8 = 0;

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
            Command::Schema(args) => schema::run(&ctx, &args),
            Command::Completion(args) => completion::run(&args),
        }
    })
}
