//! The command-line grammar: global flags and the top-level commands.

use clap::{Args, Parser, Subcommand};

use crate::cmd::{auth, completion, quickstart, sandbox, schema, snapshot, ssh, template};

/// Command line of Nullspace microVMs: machines, commands and files.
#[derive(Debug, Parser)]
#[command(name = "nullspace", version, after_long_help = crate::exit::table_text())]
pub struct Cli {
    /// Flags every command accepts.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command accepts.
#[derive(Debug, Clone, Default, Args)]
pub struct GlobalArgs {
    /// API key (else NULLSPACE_API_KEY, .env, ~/.config/nullspace/config.json, ~/.nullspace/config.json).
    #[arg(long, global = true, value_name = "KEY")]
    pub api_key: Option<String>,
    /// API URL (else NULLSPACE_API_URL, .env, config files; default http://127.0.0.1:7070).
    #[arg(long, global = true, value_name = "URL")]
    pub api_url: Option<String>,
    /// Print results (and errors, on stderr) as JSON.
    #[arg(long, global = true)]
    pub json: bool,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Log in with an API key, or show where the configuration comes from.
    Auth(auth::AuthArgs),
    /// Check the server, the API key and this host's QEMU, accelerator and guest image.
    Doctor,
    /// Create a machine, run `python3 --version` in it and kill it.
    Quickstart(quickstart::QuickstartArgs),
    /// Create, list, inspect, fork and kill machines; run commands; manage files.
    #[command(visible_alias = "machine")]
    Sandbox(sandbox::SandboxArgs),
    /// Create, list, inspect and delete reusable snapshots of machines.
    Snapshot(snapshot::SnapshotArgs),
    /// SSH into a machine through the server's relay with a throwaway key and
    /// certificate (`ssh ID [-- CMD…]`); exits with the command's exit code.
    Ssh(ssh::SshArgs),
    /// Build templates (saved running machines new machines start from) and manage
    /// their versions, tags and step cache.
    Template(Box<template::TemplateArgs>),
    /// Print every command, its arguments and flags, and the exit codes, as JSON.
    Schema(schema::SchemaArgs),
    /// Print a shell completion script.
    Completion(completion::CompletionArgs),
}
