//! `nullspace quickstart`: create a machine, run `python3 --version`, kill it.

use std::collections::BTreeMap;

use clap::Args;
use nullspace_api::{CreateMachineRequest, RunCommandRequest};

use super::{Ctx, Outcome};
use crate::output;

/// The command quickstart runs.
const PROGRAM: [&str; 2] = ["python3", "--version"];
/// Seconds the quickstart machine may live if the kill is never sent.
const TIMEOUT_SECS: i64 = 120;

/// Flags of `quickstart`.
#[derive(Debug, Args)]
pub struct QuickstartArgs {
    /// Template to create the machine from.
    #[arg(long, default_value = nullspace_api::DEFAULT_TEMPLATE)]
    pub template: String,
}

/// Runs the quickstart; exits with `python3`'s exit code.
pub async fn run(ctx: &Ctx, args: &QuickstartArgs) -> Outcome {
    let client = ctx.client()?;
    let request = CreateMachineRequest {
        template: Some(args.template.clone()),
        timeout: Some(TIMEOUT_SECS),
        metadata: BTreeMap::from([("created_by".to_owned(), "quickstart".to_owned())]),
        ..Default::default()
    };
    if !ctx.json() {
        eprintln!("creating a machine from template {}…", args.template);
    }
    let machine = client.create_machine(&request).await?;
    let command = RunCommandRequest {
        args: Some(PROGRAM.iter().map(|s| s.to_string()).collect()),
        ..Default::default()
    };
    let result = client.run_command(&machine.id, &command).await;
    // Kill even when the command failed; report the command's failure first.
    let killed = client.kill_machine(&machine.id).await;
    let result = result?;
    killed?;
    if ctx.json() {
        output::json(&serde_json::json!({
            "machine": machine,
            "command": PROGRAM,
            "result": result,
            "killed": true,
        }))?;
    } else {
        let text = if result.stdout.trim().is_empty() {
            result.stderr.trim()
        } else {
            result.stdout.trim()
        };
        output::line(&output::fields(&[
            ("machine", machine.id.to_string()),
            ("ran", PROGRAM.join(" ")),
            ("exit code", result.exit_code.to_string()),
            ("output", text.to_owned()),
            ("duration", format!("{} ms", result.duration_ms)),
            ("killed", machine.id.to_string()),
        ]))?;
    }
    Ok(u8::try_from(result.exit_code).unwrap_or(u8::MAX))
}
