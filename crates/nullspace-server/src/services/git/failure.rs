//! What a failed git call means, read from what it printed (git runs with
//! `LC_ALL=C`, so its messages are the English ones matched here).

use nullspace_api::ErrorCode;

use crate::error::ApiError;

/// Most bytes of git's output quoted in an error message.
const QUOTED: usize = 2000;

/// Phrases of each failure, most specific first; the first match wins.
const PHRASES: &[(ErrorCode, &[&str])] = &[
    (
        ErrorCode::GitAuthFailed,
        &[
            "authentication failed",
            "could not read username",
            "could not read password",
            "terminal prompts disabled",
            "invalid username or password",
            "http basic: access denied",
            "permission denied (publickey",
            "host key verification failed",
            "the requested url returned error: 401",
            "the requested url returned error: 403",
        ],
    ),
    (
        ErrorCode::GitPushRejected,
        &[
            "[rejected]",
            "[remote rejected]",
            "updates were rejected",
            "failed to push some refs",
        ],
    ),
    (
        ErrorCode::GitRepositoryNotFound,
        &[
            "repository not found",
            "does not appear to be a git repository",
            "the requested url returned error: 404",
            "fatal: repository '",
            "no such remote",
        ],
    ),
    (ErrorCode::AlreadyExists, &["already exists"]),
    (
        ErrorCode::GitNotARepository,
        &[
            "not a git repository",
            "must be run in a work tree",
            "can only be used inside a git repository",
        ],
    ),
    (
        ErrorCode::GitConflict,
        &[
            "conflict",
            "would be overwritten",
            "you have unmerged paths",
            "needs merge",
            "not possible because you have unmerged files",
            "untracked working tree files would be",
            "cannot delete branch",
            "is not fully merged",
        ],
    ),
    (
        ErrorCode::GitNothingToCommit,
        &[
            "nothing to commit",
            "nothing added to commit",
            "no changes added to commit",
        ],
    ),
    (
        ErrorCode::GitRefNotFound,
        &[
            "did not match any file(s) known to git",
            "couldn't find remote ref",
            "invalid reference",
            "unknown revision",
            "not a valid object name",
            "not a valid start point",
            "bad revision",
            "src refspec",
            "remote branch",
            "error: branch '",
        ],
    ),
];

/// The code of a git failure that printed `text` (its stderr and stdout).
pub fn code(text: &str) -> ErrorCode {
    let text = text.to_ascii_lowercase();
    PHRASES
        .iter()
        .find(|(_, phrases)| phrases.iter().any(|p| text.contains(p)))
        .map_or(ErrorCode::GitFailed, |(code, _)| *code)
}

/// The error of `git <op>` that exited with `exit_code`, printing `stderr` and `stdout`.
pub fn error(op: &str, exit_code: i32, stderr: &str, stdout: &str) -> ApiError {
    let both = format!("{stderr}\n{stdout}");
    let code = code(&both);
    let said = if stderr.trim().is_empty() {
        stdout
    } else {
        stderr
    };
    let said = said.trim();
    let cut = said
        .char_indices()
        .map(|(i, _)| i)
        .find(|&i| said.len() - i <= QUOTED)
        .unwrap_or(0);
    ApiError::new(
        code,
        format!("git {op} failed (exit {exit_code}): {}", &said[cut..]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_messages_map_to_codes() {
        let cases = [
            ("fatal: Authentication failed for 'http://127.0.0.1:8418/r.git/'", ErrorCode::GitAuthFailed),
            ("fatal: could not read Username for 'https://github.com': terminal prompts disabled", ErrorCode::GitAuthFailed),
            ("git@h: Permission denied (publickey).\nfatal: Could not read from remote repository.", ErrorCode::GitAuthFailed),
            ("remote: Repository not found.\nfatal: repository 'https://github.com/a/b/' not found", ErrorCode::GitRepositoryNotFound),
            ("fatal: 'origin' does not appear to be a git repository", ErrorCode::GitRepositoryNotFound),
            (" ! [rejected]        main -> main (fetch first)\nerror: failed to push some refs to", ErrorCode::GitPushRejected),
            ("fatal: not a git repository (or any of the parent directories): .git", ErrorCode::GitNotARepository),
            ("CONFLICT (content): Merge conflict in a.txt\nAutomatic merge failed", ErrorCode::GitConflict),
            ("error: Your local changes to the following files would be overwritten by checkout:", ErrorCode::GitConflict),
            ("On branch main\nnothing to commit, working tree clean", ErrorCode::GitNothingToCommit),
            ("error: pathspec 'nope' did not match any file(s) known to git", ErrorCode::GitRefNotFound),
            ("fatal: couldn't find remote ref nope", ErrorCode::GitRefNotFound),
            ("error: branch 'nope' not found.", ErrorCode::GitRefNotFound),
            ("error: Cannot delete branch 'main' checked out at '/w'", ErrorCode::GitConflict),
            ("fatal: destination path '/workspace' already exists and is not an empty directory.", ErrorCode::AlreadyExists),
            ("error: remote origin already exists.", ErrorCode::AlreadyExists),
            ("fatal: unable to access 'http://10.0.0.1/': Failed to connect", ErrorCode::GitFailed),
        ];
        for (text, want) in cases {
            assert_eq!(code(text), want, "{text}");
        }
    }

    #[test]
    fn errors_quote_the_tail_of_what_git_printed() {
        let long = format!("{}fatal: the end", "x".repeat(5000));
        let e = error("push", 128, &long, "");
        assert_eq!(e.code, ErrorCode::GitFailed);
        assert!(e.message.starts_with("git push failed (exit 128): "));
        assert!(e.message.ends_with("fatal: the end"));
        assert!(e.message.len() < QUOTED + 40);
        let e = error("commit", 1, "", "nothing to commit, working tree clean\n");
        assert_eq!(e.code, ErrorCode::GitNothingToCommit);
        assert!(e.message.ends_with("working tree clean"));
    }
}
