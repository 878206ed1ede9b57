//! Git's machine-readable output turned into the API's answers. Every format
//! asked for is NUL- or unit-separated, so paths and messages need no unquoting.

use nullspace_api::{GitBranch, GitCommit, GitFileStatus, GitRemote, GitStatus};

/// `git for-each-ref` format of [`branches`].
pub const BRANCH_FORMAT: &str =
    "--format=%(HEAD)%00%(refname:lstrip=2)%00%(upstream:short)%00%(upstream:remotename)%00%(objectname)";

/// `git log` format of [`log`] (with `-z` between commits).
pub const LOG_FORMAT: &str = "--format=%H%x1f%an%x1f%ae%x1f%aI%x1f%B";

/// `git status --porcelain=v2 --branch -z` output.
pub fn status(out: &str) -> GitStatus {
    let mut s = GitStatus {
        branch: None,
        upstream: None,
        ahead: 0,
        behind: 0,
        detached: false,
        head: None,
        files: Vec::new(),
        clean: true,
    };
    let mut records = out.split('\0').filter(|r| !r.is_empty());
    while let Some(r) = records.next() {
        if let Some(h) = r.strip_prefix("# ") {
            header(&mut s, h);
            continue;
        }
        let (kind, rest) = r.split_at(1);
        let rest = rest.strip_prefix(' ').unwrap_or(rest);
        let file = match kind {
            "1" => changed(rest, 8, None),
            "2" => {
                let from = records.next().map(str::to_owned);
                changed(rest, 9, from)
            }
            "u" => changed(rest, 10, None),
            "?" => Some(file(rest.to_owned(), None, '?', '?')),
            _ => None,
        };
        s.files.extend(file);
    }
    s.clean = s.files.is_empty();
    s
}

fn header(s: &mut GitStatus, h: &str) {
    let (key, value) = h.split_once(' ').unwrap_or((h, ""));
    match key {
        "branch.oid" if value != "(initial)" => s.head = Some(value.to_owned()),
        "branch.head" if value == "(detached)" => s.detached = true,
        "branch.head" => s.branch = Some(value.to_owned()),
        "branch.upstream" => s.upstream = Some(value.to_owned()),
        "branch.ab" => {
            for n in value.split(' ') {
                if let Some(a) = n.strip_prefix('+') {
                    s.ahead = a.parse().unwrap_or(0);
                } else if let Some(b) = n.strip_prefix('-') {
                    s.behind = b.parse().unwrap_or(0);
                }
            }
        }
        _ => {}
    }
}

/// A `1`, `2` or `u` record: `XY` then `fields` space-separated fields, the
/// last of which is the path.
fn changed(rest: &str, fields: usize, from: Option<String>) -> Option<GitFileStatus> {
    let parts: Vec<&str> = rest.splitn(fields, ' ').collect();
    let (xy, path) = (parts.first()?, parts.get(fields - 1)?);
    let mut c = xy.chars().map(|c| if c == '.' { ' ' } else { c });
    let (x, y) = (c.next()?, c.next()?);
    Some(file((*path).to_owned(), from, x, y))
}

fn file(path: String, renamed_from: Option<String>, x: char, y: char) -> GitFileStatus {
    let has = |c: char| x == c || y == c;
    let unmerged = has('U') || (x == 'A' && y == 'A') || (x == 'D' && y == 'D');
    let status = if unmerged {
        "conflict"
    } else if has('?') {
        "untracked"
    } else if has('R') {
        "renamed"
    } else if has('C') {
        "copied"
    } else if has('D') {
        "deleted"
    } else if has('A') {
        "added"
    } else if has('T') {
        "typechange"
    } else {
        "modified"
    };
    GitFileStatus {
        path,
        renamed_from,
        index_status: x.to_string(),
        worktree_status: y.to_string(),
        status: status.to_owned(),
        staged: !unmerged && x != ' ' && x != '?',
    }
}

/// `git log -z` with [`LOG_FORMAT`].
pub fn log(out: &str) -> Vec<GitCommit> {
    out.split('\0')
        .filter_map(|c| {
            let c = c.strip_prefix('\n').unwrap_or(c);
            let mut f = c.splitn(5, '\u{1f}');
            let sha = f.next().filter(|s| !s.is_empty())?;
            Some(GitCommit {
                sha: sha.to_owned(),
                author_name: f.next()?.to_owned(),
                author_email: f.next()?.to_owned(),
                date: f.next()?.to_owned(),
                message: f.next()?.trim_end_matches('\n').to_owned(),
            })
        })
        .collect()
}

/// A branch as [`branches`] reads it, with the remote of its upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BranchRow {
    /// The branch.
    pub branch: GitBranch,
    /// Remote of its upstream.
    pub remote: Option<String>,
}

/// `git for-each-ref refs/heads/` with [`BRANCH_FORMAT`].
pub fn branches(out: &str) -> Vec<BranchRow> {
    out.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\0').collect();
            let [head, name, upstream, remote, sha] = f[..] else {
                return None;
            };
            let some = |s: &str| (!s.is_empty()).then(|| s.to_owned());
            Some(BranchRow {
                branch: GitBranch {
                    name: name.to_owned(),
                    current: head == "*",
                    upstream: some(upstream),
                    sha: sha.to_owned(),
                },
                remote: some(remote),
            })
        })
        .collect()
}

/// `git remote -v`.
pub fn remotes(out: &str) -> Vec<GitRemote> {
    let mut remotes: Vec<GitRemote> = Vec::new();
    for line in out.lines() {
        let Some((name, rest)) = line.split_once('\t') else {
            continue;
        };
        let (url, kind) = rest.rsplit_once(' ').unwrap_or((rest, ""));
        let i = match remotes.iter().position(|r| r.name == name) {
            Some(i) => i,
            None => {
                remotes.push(GitRemote {
                    name: name.to_owned(),
                    url: url.to_owned(),
                    push_url: None,
                });
                remotes.len() - 1
            }
        };
        match kind {
            "(fetch)" => remotes[i].url = url.to_owned(),
            "(push)" if url != remotes[i].url => remotes[i].push_url = Some(url.to_owned()),
            _ => {}
        }
    }
    remotes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_reads_branch_headers_and_every_record_kind() {
        let out = "# branch.oid 1234abcd\0# branch.head main\0# branch.upstream origin/main\0\
                   # branch.ab +2 -1\0\
                   1 .M N... 100644 100644 100644 aaa bbb a file.txt\0\
                   1 A. N... 000000 100644 100644 000 ccc new.txt\0\
                   2 R. N... 100644 100644 100644 ddd ddd R100 moved name.txt\0old name.txt\0\
                   u UU N... 100644 100644 100644 100644 e f g both.txt\0\
                   ? untracked dir/\0";
        let s = status(out);
        assert_eq!(s.branch.as_deref(), Some("main"));
        assert_eq!(s.upstream.as_deref(), Some("origin/main"));
        assert_eq!(
            (s.ahead, s.behind, s.detached, s.clean),
            (2, 1, false, false)
        );
        assert_eq!(s.head.as_deref(), Some("1234abcd"));
        let got: Vec<(&str, &str, &str, &str, bool)> = s
            .files
            .iter()
            .map(|f| {
                (
                    f.path.as_str(),
                    f.index_status.as_str(),
                    f.worktree_status.as_str(),
                    f.status.as_str(),
                    f.staged,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("a file.txt", " ", "M", "modified", false),
                ("new.txt", "A", " ", "added", true),
                ("moved name.txt", "R", " ", "renamed", true),
                ("both.txt", "U", "U", "conflict", false),
                ("untracked dir/", "?", "?", "untracked", false),
            ]
        );
        assert_eq!(s.files[2].renamed_from.as_deref(), Some("old name.txt"));
    }

    #[test]
    fn status_of_a_new_repository_and_a_detached_head() {
        let s = status("# branch.oid (initial)\0# branch.head main\0");
        assert_eq!(
            (s.head, s.branch.as_deref(), s.clean),
            (None, Some("main"), true)
        );
        let s = status("# branch.oid abc\0# branch.head (detached)\0");
        assert!(s.detached && s.branch.is_none());
    }

    #[test]
    fn log_reads_multi_line_messages() {
        let out = "aaa\u{1f}Ann\u{1f}ann@x\u{1f}2026-01-02T03:04:05+00:00\u{1f}subject\n\nbody\n\0\
                   \nbbb\u{1f}Bob\u{1f}bob@x\u{1f}2026-01-01T00:00:00+00:00\u{1f}first\n";
        let c = log(out);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].message, "subject\n\nbody");
        assert_eq!(
            (
                c[1].sha.as_str(),
                c[1].author_name.as_str(),
                c[1].message.as_str()
            ),
            ("bbb", "Bob", "first")
        );
        assert!(log("").is_empty());
    }

    #[test]
    fn branches_and_remotes() {
        let out = "*\0main\0origin/main\0origin\0aaa\n \0topic\0\0\0bbb\n";
        let b = branches(out);
        assert_eq!(b.len(), 2);
        assert!(b[0].branch.current && b[0].remote.as_deref() == Some("origin"));
        assert_eq!(b[1].branch.upstream, None);
        let r = remotes("origin\thttps://h/a.git (fetch)\norigin\thttps://h/a.git (push)\nup\t/srv/x (fetch)\nup\t/srv/y (push)\n");
        assert_eq!(
            r[0],
            GitRemote {
                name: "origin".into(),
                url: "https://h/a.git".into(),
                push_url: None
            }
        );
        assert_eq!(r[1].push_url.as_deref(), Some("/srv/y"));
    }
}
