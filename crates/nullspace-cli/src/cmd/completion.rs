//! `nullspace completion bash|zsh|fish|…`.

use clap::{Args, CommandFactory};
use clap_complete::Shell;

use super::{Outcome, OK};
use crate::cli::Cli;

/// Arguments of `completion`.
#[derive(Debug, Args)]
pub struct CompletionArgs {
    /// Shell to print the script for.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Prints the completion script of `args.shell` to standard output.
pub fn run(args: &CompletionArgs) -> Outcome {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "nullspace", &mut script);
    crate::output::bytes(&script)?;
    Ok(OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shell_gets_a_script_naming_the_commands() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "nullspace", &mut script);
            let text = String::from_utf8(script).unwrap();
            assert!(text.contains("sandbox"), "{shell:?}");
        }
    }

    #[test]
    fn unknown_shells_are_usage_errors() {
        use clap::Parser;
        let err = Cli::try_parse_from(["nullspace", "completion", "tcsh"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }
}
