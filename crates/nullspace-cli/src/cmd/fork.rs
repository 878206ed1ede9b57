//! `nullspace sandbox fork ID`: running children of a running machine.

use clap::Args;
use nullspace_api::{ForkRequest, ForkResponse, MAX_FORK_COUNT, MAX_TIMEOUT_SECS};
use nullspace_types::MachineId;

use super::{Ctx, Outcome, OK};
use crate::args::{merge, JsonMap, KeyValue};
use crate::output;

/// Arguments of `sandbox fork`.
#[derive(Debug, Args)]
pub struct ForkArgs {
    /// Machine id (sb_…).
    pub id: MachineId,
    /// Number of children (1-16; server default 1).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_FORK_COUNT)))]
    pub count: Option<u32>,
    /// Label of the children, KEY=VALUE (repeatable; wins over --metadata-json; default:
    /// the source's labels).
    #[arg(long, value_name = "KEY=VALUE")]
    pub metadata: Vec<KeyValue>,
    /// Labels of the children as a JSON object.
    #[arg(long, value_name = "JSON")]
    pub metadata_json: Option<JsonMap>,
    /// Seconds until the children's timeout (1-2592000; server default 300).
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(i64).range(1..=MAX_TIMEOUT_SECS))]
    pub timeout: Option<i64>,
}

impl ForkArgs {
    /// The request these flags describe: labels only when some are given, so that the
    /// children keep the source's otherwise.
    pub fn request(&self) -> ForkRequest {
        let given = !self.metadata.is_empty() || self.metadata_json.is_some();
        ForkRequest {
            count: self.count,
            metadata: given.then(|| merge(self.metadata_json.clone(), &self.metadata)),
            timeout: self.timeout,
        }
    }
}

/// Runs `sandbox fork`: prints the children (the `ForkResponse` with `--json`).
pub async fn run(ctx: &Ctx, args: &ForkArgs) -> Outcome {
    let forked = ctx
        .client()?
        .fork_machine(&args.id, &args.request())
        .await?;
    if ctx.json() {
        output::json(&forked)?;
    } else {
        output::line(&summary(&args.id, &forked))?;
    }
    Ok(OK)
}

/// The children as a table, and how long the source was stopped.
fn summary(source: &MachineId, forked: &ForkResponse) -> String {
    format!(
        "{}\nforked {source} into {} (source stalled {} ms)",
        output::machines(&forked.machines),
        match forked.machines.len() {
            1 => "1 machine".to_owned(),
            n => format!("{n} machines"),
        },
        forked.source_stall_ms,
    )
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};
    use crate::cmd::sandbox::SandboxCommand;

    fn parse(args: &[&str]) -> Result<ForkArgs, clap::Error> {
        let cli = Cli::try_parse_from(["nullspace", "sandbox", "fork"].iter().chain(args))?;
        match cli.command {
            Command::Sandbox(s) => match s.command {
                SandboxCommand::Fork(f) => Ok(f),
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn flags_build_the_request() {
        let r = parse(&["sb_a"]).unwrap().request();
        assert_eq!(
            r,
            ForkRequest {
                count: None,
                metadata: None,
                timeout: None
            }
        );
        let r = parse(&[
            "sb_a",
            "--count",
            "16",
            "--metadata",
            "k=v",
            "--timeout",
            "60",
        ])
        .unwrap()
        .request();
        assert_eq!(r.count, Some(16));
        assert_eq!(r.metadata.unwrap()["k"], "v");
        assert_eq!(r.timeout, Some(60));
        let r = parse(&["sb_a", "--metadata-json", "{}"]).unwrap().request();
        assert_eq!(r.metadata, Some(Default::default()), "explicitly no labels");
    }

    #[test]
    fn bad_values_are_usage_errors() {
        for bad in [
            &["sb_a", "--count", "0"][..],
            &["sb_a", "--count", "17"][..],
            &["sb_a", "--count", "-1"][..],
            &["sb_a", "--timeout", "0"][..],
            &["sb_a", "--metadata", "novalue"][..],
            &["snap_a"][..],
            &[][..],
        ] {
            let err = parse(bad).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{bad:?}");
        }
        let err = parse(&["sb_a", "--count", "17"]).unwrap_err().to_string();
        assert!(err.contains("--count") && err.contains("1..=16"), "{err}");
    }

    #[test]
    fn summary_lists_children_and_the_stall() {
        let forked = ForkResponse {
            machines: vec![
                nullspace_client::test_server::sample_machine("sb_c1"),
                nullspace_client::test_server::sample_machine("sb_c2"),
            ],
            source_stall_ms: 42,
        };
        let text = summary(&"sb_a".parse().unwrap(), &forked);
        assert!(text.starts_with("ID"), "{text}");
        assert!(text.contains("sb_c1") && text.contains("sb_c2"), "{text}");
        assert!(
            text.ends_with("forked sb_a into 2 machines (source stalled 42 ms)"),
            "{text}"
        );
    }
}
