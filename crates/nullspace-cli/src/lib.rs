//! The `nullspace` command line.
//!
//! The binary is a thin `main` over [`run`], which parses the command line with
//! clap, resolves the configuration layer by layer (flags, environment, `.env`,
//! user config, legacy config) and calls one module per command group under
//! `cmd/`. Every failure is a [`CliError`] that knows its documented [`Exit`] code,
//! so scripts and agents can branch on the exit status without reading messages,
//! and `--json` turns both results and errors into the API's own JSON.

mod args;
mod cli;
mod cmd;
mod config;
mod error;
mod exit;
mod output;

use std::ffi::OsString;

use clap::Parser;

pub use cli::{Cli, Command, GlobalArgs};
pub use error::CliError;
pub use exit::Exit;

/// Runs the command line `args` (program name first) and returns the exit status.
pub fn run<I, T>(args: I) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return u8::try_from(err.exit_code()).unwrap_or(Exit::Usage.code());
        }
    };
    let json = cli.global.json;
    match cmd::dispatch(cli) {
        Ok(status) => status,
        Err(err) if err.is_broken_pipe() => Exit::Ok.code(),
        Err(err) => {
            if json {
                eprintln!("{}", err.to_json());
            } else {
                eprintln!("error: {err} ({})", err.code());
            }
            err.exit().code()
        }
    }
}
