//! Running host tools (`ip`, `nft`, `qemu-img`) with errors that say what failed.

use std::ffi::OsStr;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::Stdio;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// A host tool that failed.
#[derive(Debug, thiserror::Error)]
#[error("`{command}` failed: {detail}")]
pub struct CmdError {
    /// The command line.
    pub command: String,
    /// Exit status and stderr, or the spawn error.
    pub detail: String,
}

/// Run `program args...` (inside the network namespace at `netns` if given),
/// feeding `stdin`, and fail with its stderr if it exits non-zero.
pub async fn run<I, S>(
    program: &str,
    args: I,
    stdin: Option<&str>,
    netns: Option<&Path>,
) -> Result<String, CmdError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<_> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    let command = std::iter::once(program.to_owned())
        .chain(args.iter().map(|a| a.to_string_lossy().into_owned()))
        .collect::<Vec<_>>()
        .join(" ");
    let fail = |detail: String| CmdError {
        command: command.clone(),
        detail,
    };
    let ns_file = match netns {
        Some(p) => {
            Some(std::fs::File::open(p).map_err(|e| fail(format!("open {}: {e}", p.display())))?)
        }
        None => None,
    };
    let mut cmd = Command::new(program);
    cmd.args(&args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    nullspace_vmm::confine_child(&mut cmd, ns_file.as_ref().map(|f| f.as_raw_fd()), false);
    let mut child = cmd.spawn().map_err(|e| fail(e.to_string()))?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input.as_bytes())
            .await
            .map_err(|e| fail(format!("writing stdin: {e}")))?;
    }
    let out = child
        .wait_with_output()
        .await
        .map_err(|e| fail(e.to_string()))?;
    drop(ns_file);
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(fail(format!(
            "{}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reports_stderr_and_status() {
        let ok = run("sh", ["-c", "cat; echo out"], Some("in "), None)
            .await
            .unwrap();
        assert_eq!(ok, "in out\n");
        let err = run("sh", ["-c", "echo bad >&2; exit 3"], None, None)
            .await
            .unwrap_err();
        assert!(
            err.detail.contains("bad") && err.detail.contains('3'),
            "{err}"
        );
        let missing = run("/nonexistent-tool", ["x"], None, None)
            .await
            .unwrap_err();
        assert!(missing.command.starts_with("/nonexistent-tool"));
    }
}
