//! `nullspace-runtime`: the host-side command line of Nullspace.

mod image_cmd;
mod machine_cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Nullspace host runtime.
#[derive(Parser)]
#[command(name = "nullspace-runtime", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build and inspect guest images.
    Image(image_cmd::ImageArgs),
    /// Build the `base` template (boots the image once and saves it).
    Template(TemplateArgs),
    /// Create a machine from `base`, run a command in it, destroy it.
    Run(machine_cmd::RunArgs),
    /// Print the accelerator this host would use and why.
    Accel,
}

/// Arguments of `template`.
#[derive(clap::Args)]
struct TemplateArgs {
    #[command(subcommand)]
    command: TemplateCommand,
}

#[derive(Subcommand)]
enum TemplateCommand {
    /// Build (or find, if cached) the `base` template.
    Build(machine_cmd::Common),
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let result: Result<u8, String> = match cli.command {
        Command::Image(args) => image_cmd::run(args)
            .await
            .map(|()| 0)
            .map_err(|e| e.to_string()),
        Command::Template(TemplateArgs {
            command: TemplateCommand::Build(c),
        }) => machine_cmd::template_build(c)
            .await
            .map(|()| 0)
            .map_err(|e| format!("{} ({})", e, e.code())),
        Command::Run(args) => machine_cmd::run(args)
            .await
            .map(|code| code.clamp(0, 255) as u8)
            .map_err(|e| format!("{} ({})", e, e.code())),
        Command::Accel => {
            machine_cmd::accel();
            Ok(0)
        }
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
