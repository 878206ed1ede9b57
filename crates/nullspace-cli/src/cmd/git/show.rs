//! How `sandbox git` prints answers: the API's JSON with `--json`, else text
//! that reads like git's.

use nullspace_api::{GitBranchList, GitRemoteList, GitRepoState, GitStatus};

use crate::cmd::{Ctx, Outcome, OK};
use crate::output;

/// Print a repository's HEAD.
pub(super) fn show_state(ctx: &Ctx, what: &str, state: &GitRepoState) -> Outcome {
    if ctx.json() {
        output::json(state)?;
    } else {
        output::line(&state_text(what, state))?;
    }
    Ok(OK)
}

/// Print a status.
pub(super) fn show_status(ctx: &Ctx, status: &GitStatus) -> Outcome {
    if ctx.json() {
        output::json(status)?;
    } else {
        output::bytes(status_text(status).as_bytes())?;
    }
    Ok(OK)
}

/// One line about a repository's HEAD: `cloned into /w/r (main at abc1234)`.
pub fn state_text(what: &str, s: &GitRepoState) -> String {
    let branch = s.branch.as_deref().unwrap_or("detached HEAD");
    match &s.head {
        Some(h) => format!(
            "{what} {} ({branch} at {})",
            s.path,
            h.get(..7).unwrap_or(h)
        ),
        None => format!("{what} {} ({branch}, no commits yet)", s.path),
    }
}

/// `git status --short --branch` style text.
pub fn status_text(s: &GitStatus) -> String {
    let mut head = match (&s.branch, &s.upstream) {
        (Some(b), Some(u)) => format!("## {b}...{u}"),
        (Some(b), None) => format!("## {b}"),
        (None, _) => "## HEAD (detached)".to_owned(),
    };
    match (s.ahead, s.behind) {
        (0, 0) => {}
        (a, 0) => head.push_str(&format!(" [ahead {a}]")),
        (0, b) => head.push_str(&format!(" [behind {b}]")),
        (a, b) => head.push_str(&format!(" [ahead {a}, behind {b}]")),
    }
    let mut text = format!("{head}\n");
    for f in &s.files {
        let path = match &f.renamed_from {
            Some(from) => format!("{from} -> {}", f.path),
            None => f.path.clone(),
        };
        text.push_str(&format!("{}{} {path}\n", f.index_status, f.worktree_status));
    }
    text
}

/// Branches, `*` before the current one, with their upstreams.
pub fn branches_text(list: &GitBranchList) -> String {
    list.branches
        .iter()
        .map(|b| {
            let mark = if b.current { '*' } else { ' ' };
            match &b.upstream {
                Some(u) => format!("{mark} {} [{u}]\n", b.name),
                None => format!("{mark} {}\n", b.name),
            }
        })
        .collect()
}

/// Remotes as `name<TAB>url`.
pub fn remotes_text(list: &GitRemoteList) -> String {
    list.remotes
        .iter()
        .map(|r| match &r.push_url {
            Some(p) => format!("{}\t{} (push: {p})\n", r.name, r.url),
            None => format!("{}\t{}\n", r.name, r.url),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use nullspace_api::{GitBranch, GitFileStatus};

    #[test]
    fn status_reads_like_git_status_short() {
        let s = GitStatus {
            branch: Some("main".into()),
            upstream: Some("origin/main".into()),
            ahead: 2,
            behind: 0,
            detached: false,
            head: Some("abc".into()),
            files: vec![GitFileStatus {
                path: "new".into(),
                renamed_from: Some("old".into()),
                index_status: "R".into(),
                worktree_status: " ".into(),
                status: "renamed".into(),
                staged: true,
            }],
            clean: false,
        };
        assert_eq!(
            status_text(&s),
            "## main...origin/main [ahead 2]\nR  old -> new\n"
        );
        let state = GitRepoState {
            path: "/w/r".into(),
            branch: Some("main".into()),
            head: Some("0123456789".into()),
        };
        assert_eq!(
            state_text("cloned into", &state),
            "cloned into /w/r (main at 0123456)"
        );
        let list = GitBranchList {
            branches: vec![GitBranch {
                name: "main".into(),
                current: true,
                upstream: None,
                sha: "a".into(),
            }],
            current: Some("main".into()),
        };
        assert_eq!(branches_text(&list), "* main\n");
    }
}
