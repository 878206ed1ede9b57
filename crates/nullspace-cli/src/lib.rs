//! The `nullspace` command line.
//!
//! The binary is a thin `main` over [`run`], which parses the command line with
//! clap, resolves the configuration layer by layer (flags, environment, `.env`,
//! user config, legacy config) and calls one module per command group under
//! `cmd/`. Every failure is a [`CliError`] that knows its documented [`Exit`] code,
//! so scripts and agents can branch on the exit status without reading messages,
//! and `--json` turns both results and errors into the API's own JSON.

mod archive;
mod args;
mod attach;
mod cli;
mod cmd;
mod config;
mod error;
mod exit;
mod input;
mod output;
mod progress;
mod resumable;
mod terminal;

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
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(err) => return report_parse_error(&err, asks_for_json(&args)),
    };
    let json = cli.global.json;
    match cmd::dispatch(cli) {
        Ok(status) => status,
        Err(err) if err.is_broken_pipe() => Exit::Ok.code(),
        Err(err) => {
            if json {
                eprintln!("{}", err.to_json());
            } else {
                eprintln!("{}", err.to_text());
            }
            err.exit().code()
        }
    }
}

/// Whether `--json` is among the options of `args` (before any `--`), for reporting a
/// command line that does not parse.
fn asks_for_json(args: &[OsString]) -> bool {
    args.iter()
        .skip(1)
        .take_while(|a| *a != "--")
        .any(|a| a == "--json")
}

/// Prints clap's answer to a command line it did not run (help, version, or a usage
/// error: as the JSON error body when `json`), and returns the exit status.
fn report_parse_error(err: &clap::Error, json: bool) -> u8 {
    use clap::error::ErrorKind;
    let informational = matches!(
        err.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    );
    let status = u8::try_from(err.exit_code()).unwrap_or(Exit::Usage.code());
    if json && !informational {
        eprintln!("{}", usage_json(err, status));
    } else {
        let _ = err.print();
    }
    status
}

/// A usage error as the `--json` error body: clap's message and usage, without the
/// `error: ` prefix and the pointer to `--help`.
fn usage_json(err: &clap::Error, status: u8) -> serde_json::Value {
    let text = err.render().to_string();
    let message = text
        .trim()
        .trim_start_matches("error: ")
        .split("\n\nFor more information")
        .next()
        .unwrap_or_default()
        .to_owned();
    serde_json::json!({
        "error": {"code": "usage", "message": message, "exit_code": status},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn json_is_asked_for_before_a_double_dash_only() {
        assert!(asks_for_json(&os(&[
            "nullspace",
            "sandbox",
            "list",
            "--json"
        ])));
        assert!(!asks_for_json(&os(&["nullspace", "sandbox", "list"])));
        assert!(!asks_for_json(&os(&[
            "nullspace",
            "exec",
            "--",
            "x",
            "--json"
        ])));
        assert!(
            !asks_for_json(&os(&["--json"])),
            "the program name is not an option"
        );
    }

    #[test]
    fn usage_errors_become_json_bodies() {
        let err =
            Cli::try_parse_from(["nullspace", "sandbox", "list", "--state", "asleep"]).unwrap_err();
        let body = usage_json(&err, 2);
        assert_eq!(body["error"]["code"], "usage");
        assert_eq!(body["error"]["exit_code"], 2);
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.starts_with("invalid value 'asleep'"), "{message}");
        assert!(
            message.contains("running"),
            "the possible values: {message}"
        );
        assert!(!message.contains("For more information"), "{message}");
    }
}
