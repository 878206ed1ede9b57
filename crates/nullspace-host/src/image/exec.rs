//! Running the external tools the builder relies on (apt, dpkg-deb, debootstrap, mkfs).

use std::process::{Command, Stdio};

use super::ImageError;

/// How many trailing stderr lines an error message keeps.
const STDERR_TAIL_LINES: usize = 20;

/// Runs `cmd`, returning its stdout; a non-zero exit becomes [`ImageError::Command`].
pub(crate) fn run(cmd: &mut Command) -> Result<String, ImageError> {
    let command = describe(cmd);
    tracing::debug!(%command, "running");
    let output = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .map_err(|source| ImageError::Spawn {
            program: cmd.get_program().to_string_lossy().into_owned(),
            source,
        })?;
    if !output.status.success() {
        return Err(ImageError::Command {
            command,
            status: output.status,
            stderr_tail: tail(&String::from_utf8_lossy(&output.stderr), STDERR_TAIL_LINES),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Renders a command line for messages.
fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        s.push(' ');
        s.push_str(&arg.to_string_lossy());
    }
    s
}

/// The last `n` non-empty lines of `text`.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failing_command_reports_status_and_stderr() {
        let err =
            run(Command::new("sh").args(["-c", "echo one >&2; echo two >&2; exit 3"])).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("sh -c"), "{msg}");
        assert!(msg.contains("exit status: 3"), "{msg}");
        assert!(msg.contains("one\ntwo"), "{msg}");
    }

    #[test]
    fn missing_program_is_a_spawn_error() {
        let err = run(&mut Command::new("/nonexistent/tool")).unwrap_err();
        assert!(matches!(err, ImageError::Spawn { .. }), "{err}");
    }

    #[test]
    fn tail_keeps_last_lines() {
        assert_eq!(tail("a\n\nb\nc\n", 2), "b\nc");
    }
}
