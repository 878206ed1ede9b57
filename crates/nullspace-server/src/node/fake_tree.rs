//! Tree-wide file calls of the fake node, over its in-memory files: enough for
//! fast tests of the HTTP layer (globs, regexes, archives and digests are
//! real; a watch never reports anything).

use std::collections::BTreeMap;
use std::io::Read;

use futures_util::StreamExt;
use regex::bytes::RegexBuilder;
use sha2::Digest as _;

use super::{
    ArchiveFacts, Conflict, Entry, FileAnswer, FileOp, FileReplaced, LineMatch, NodeError,
    NodeErrorCode as Code, NodeResult, TextQuery, Upload,
};

/// One machine's files, by path.
pub type Files = BTreeMap<String, Vec<u8>>;

fn bad_pattern(e: impl std::fmt::Display) -> NodeError {
    NodeError::new(Code::InvalidPattern, e.to_string())
}

fn glob(pattern: &str) -> NodeResult<globset::GlobMatcher> {
    globset::GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(bad_pattern)
}

fn text_regex(t: &TextQuery) -> NodeResult<regex::bytes::Regex> {
    let source = if t.regex {
        t.pattern.clone()
    } else {
        regex::escape(&t.pattern)
    };
    RegexBuilder::new(&source)
        .case_insensitive(!t.case_sensitive)
        .build()
        .map_err(bad_pattern)
}

/// Whether `path` is `dir` or below it.
fn below(path: &str, dir: &str) -> bool {
    path == dir || path.starts_with(&format!("{}/", dir.trim_end_matches('/')))
}

/// Answer a tree-wide call (`Search`, `Find`, `Replace`, `Digest`), or `None`
/// for any other.
pub fn answer(
    files: &mut Files,
    op: &FileOp,
    entry: fn(&str, usize) -> Entry,
) -> Option<NodeResult<FileAnswer>> {
    Some(match op {
        FileOp::Search {
            path,
            pattern,
            limit,
            ..
        } => glob(pattern).map(|g| {
            let hits: Vec<Entry> = files
                .iter()
                .filter(|(p, _)| below(p, path) && p.as_str() != path)
                .filter(|(p, _)| g.is_match(p.rsplit('/').next().unwrap_or(p)))
                .map(|(p, d)| entry(p, d.len()))
                .collect();
            let truncated = hits.len() > *limit as usize;
            FileAnswer::Search {
                entries: hits.into_iter().take(*limit as usize).collect(),
                truncated,
            }
        }),
        FileOp::Find {
            path,
            text,
            max_results,
            ..
        } => text_regex(text).map(|re| {
            let (mut matches, mut scanned) = (Vec::new(), 0);
            for (p, d) in files.iter().filter(|(p, _)| below(p, path)) {
                scanned += 1;
                for (n, line) in d.split(|&b| b == b'\n').enumerate() {
                    if let Some(m) = re.find(line) {
                        matches.push(LineMatch {
                            path: p.clone(),
                            line: n as u64 + 1,
                            column: m.start() as u64 + 1,
                            text: String::from_utf8_lossy(line).into_owned(),
                        });
                    }
                }
            }
            let truncated = matches.len() > *max_results as usize;
            matches.truncate(*max_results as usize);
            FileAnswer::Found {
                matches,
                files_scanned: scanned,
                truncated,
            }
        }),
        FileOp::Replace {
            paths,
            text,
            replacement,
            dry_run,
            ..
        } => replace(files, paths, text, replacement, *dry_run),
        FileOp::Digest { path, .. } => match files.get(path) {
            Some(d) => Ok(FileAnswer::Digest {
                sha256: hex::encode(sha2::Sha256::digest(d)),
                size: d.len() as u64,
            }),
            None => Err(NodeError::new(Code::NotFound, path.clone())),
        },
        _ => return None,
    })
}

fn replace(
    files: &mut Files,
    paths: &[String],
    text: &TextQuery,
    replacement: &str,
    dry_run: bool,
) -> NodeResult<FileAnswer> {
    let re = text_regex(text)?;
    if let Some(missing) = paths.iter().find(|p| !files.keys().any(|f| below(f, p))) {
        return Err(NodeError::new(Code::NotFound, missing.clone()));
    }
    let (mut changed, mut total, mut scanned) = (Vec::new(), 0, 0);
    for (p, d) in files.iter_mut() {
        if !paths.iter().any(|root| below(p, root)) {
            continue;
        }
        scanned += 1;
        let n = re.find_iter(d).count() as u64;
        if n == 0 {
            continue;
        }
        if !dry_run {
            *d = re.replace_all(d, replacement.as_bytes()).into_owned();
        }
        total += n;
        changed.push(FileReplaced {
            path: p.clone(),
            replacements: n,
        });
    }
    Ok(FileAnswer::Replaced {
        files: changed,
        total_replacements: total,
        files_scanned: scanned,
        truncated: false,
    })
}

/// Unpack a tar body into `files` below `dest`.
pub async fn extract(
    files: &std::sync::Mutex<BTreeMap<(nullspace_types::MachineId, String), Vec<u8>>>,
    id: &nullspace_types::MachineId,
    dest: &str,
    conflict: Conflict,
    mut body: Upload,
) -> NodeResult<ArchiveFacts> {
    let mut tar = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|why| NodeError::new(Code::InputAborted, why))?;
        tar.extend_from_slice(&chunk);
    }
    let bad = |e: std::io::Error| NodeError::new(Code::InvalidArgument, format!("archive: {e}"));
    let mut all = files.lock().expect("lock");
    let exists = all.keys().any(|(m, p)| m == id && below(p, dest));
    if exists && conflict == Conflict::Error {
        return Err(NodeError::new(Code::AlreadyExists, dest.to_owned()));
    }
    if conflict == Conflict::Replace {
        all.retain(|(m, p), _| !(m == id && below(p, dest)));
    }
    let mut facts = ArchiveFacts {
        path: dest.to_owned(),
        ..ArchiveFacts::default()
    };
    let mut archive = tar::Archive::new(&tar[..]);
    for e in archive.entries().map_err(bad)? {
        let mut e = e.map_err(bad)?;
        let rel = e.path().map_err(bad)?.to_string_lossy().into_owned();
        if rel.starts_with('/') || rel.split('/').any(|c| c == "..") {
            return Err(NodeError::new(Code::PathEscapesRoot, rel));
        }
        if !e.header().entry_type().is_file() {
            facts.dirs += u64::from(e.header().entry_type().is_dir());
            continue;
        }
        let mut data = Vec::new();
        e.read_to_end(&mut data).map_err(bad)?;
        let key = (
            id.clone(),
            format!("{}/{}", dest.trim_end_matches('/'), rel),
        );
        facts.files += 1;
        facts.bytes += data.len() as u64;
        if conflict == Conflict::Skip && all.contains_key(&key) {
            continue;
        }
        all.insert(key, data);
    }
    Ok(facts)
}

/// The files below `dir` as a tar archive.
pub fn archive(files: &Files, dir: &str) -> NodeResult<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    let mut any = false;
    for (p, d) in files
        .iter()
        .filter(|(p, _)| below(p, dir) && p.as_str() != dir)
    {
        any = true;
        let rel = &p[dir.trim_end_matches('/').len() + 1..];
        let mut h = tar::Header::new_gnu();
        h.set_size(d.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, rel, &d[..])
            .map_err(|e| NodeError::new(Code::Internal, e.to_string()))?;
    }
    if !any && dir != "/workspace" {
        return Err(NodeError::new(Code::NotFound, dir.to_owned()));
    }
    b.into_inner()
        .map_err(|e| NodeError::new(Code::Internal, e.to_string()))
}
