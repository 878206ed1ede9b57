//! `search_files` (names by glob), `find_in_files` (lines by literal or regex)
//! and `replace_in_files`, each on the current thread, which already has the
//! call's user's rights.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nullspace_guest_proto::{
    FindRequest, FindResult, FoundMatch, OpResult, ReplaceRequest, ReplaceResult, ReplacedFile,
    SearchRequest, DEFAULT_MAX_FILE_BYTES, MAX_LINE_TEXT, MAX_RESULTS,
};

use super::creds::fsuid;
use super::entry::from_metadata;
use super::paths::{Access, Final, Resolved};
use super::pattern::{looks_binary, NameGlob, Text};
use super::walk::{walk, Visit};
use crate::services::error::OpError;
use crate::services::state::GuestState;
use crate::users::UserDb;

/// Entries below the scope's directory whose names match the glob.
pub fn search(state: &GuestState, db: &UserDb, req: &SearchRequest) -> Result<OpResult, OpError> {
    let glob = NameGlob::new(&req.pattern)?;
    let s = &req.scope;
    let r = state
        .paths
        .resolve(&s.path, s.root.as_deref(), Final::Follow, Access::Read)?;
    let dir = directory(&r)?;
    let limit = req.limit.clamp(1, MAX_RESULTS) as usize;
    let (mut entries, mut truncated) = (Vec::new(), false);
    walk(&r.shown, &dir, &mut |v: Visit| {
        if glob.matches(&v.rel) {
            if entries.len() == limit {
                truncated = true;
                return Ok(false);
            }
            entries.push(from_metadata(&v.shown, &v.real, &v.meta, db));
        }
        Ok(true)
    })?;
    Ok(OpResult::Search { entries, truncated })
}

/// Matching lines of the scope's file, or of the files below its directory.
pub fn find(state: &GuestState, req: &FindRequest) -> Result<OpResult, OpError> {
    let text = Text::new(&req.text)?;
    let s = &req.scope;
    let r = state
        .paths
        .resolve(&s.path, s.root.as_deref(), Final::Follow, Access::Read)?;
    let limit = req.max_results.clamp(1, MAX_RESULTS) as usize;
    let max_bytes = match req.max_file_bytes {
        0 => DEFAULT_MAX_FILE_BYTES,
        n => n,
    };
    let mut out = FindResult {
        matches: Vec::new(),
        files_scanned: 0,
        truncated: false,
    };
    let mut scan = |shown: &Path, real: &Path| -> Result<bool, OpError> {
        let Some(content) = read_text(real, max_bytes) else {
            return Ok(true);
        };
        out.files_scanned += 1;
        Ok(find_lines(&text, shown, &content, limit, &mut out))
    };
    for_each_file(&r, text.include.as_ref(), &mut scan)?;
    Ok(OpResult::Found(out))
}

/// Add the matching lines of one file to `out`; false once `limit` is passed.
fn find_lines(
    text: &Text,
    shown: &Path,
    content: &[u8],
    limit: usize,
    out: &mut FindResult,
) -> bool {
    for (n, line) in content.split(|&b| b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(m) = text.regex.find(line) else {
            continue;
        };
        if out.matches.len() == limit {
            out.truncated = true;
            return false;
        }
        let cut = &line[..line.len().min(MAX_LINE_TEXT)];
        out.matches.push(FoundMatch {
            path: shown.to_string_lossy().into_owned(),
            line: n as u64 + 1,
            column: m.start() as u64 + 1,
            text: String::from_utf8_lossy(cut).into_owned(),
        });
    }
    true
}

/// Replace matches in the named files and in the files below the named directories.
pub fn replace(state: &GuestState, req: &ReplaceRequest) -> Result<OpResult, OpError> {
    let text = Text::new(&req.text)?;
    if req.paths.is_empty() {
        return Err(OpError::Pattern("replace needs at least one path".into()));
    }
    let limit = req.max_files.clamp(1, MAX_RESULTS) as usize;
    let mut out = ReplaceResult {
        files: Vec::new(),
        total_replacements: 0,
        files_scanned: 0,
        truncated: false,
    };
    // Resolve every path first: a bad one changes nothing.
    let targets = req
        .paths
        .iter()
        .map(|p| {
            state
                .paths
                .resolve(p, req.root.as_deref(), Final::Follow, Access::Write)
        })
        .collect::<Result<Vec<_>, _>>()?;
    for r in &targets {
        fs::metadata(&r.real).map_err(|e| OpError::io("stat", &r.shown, e))?;
    }
    let mut one = |shown: &Path, real: &Path| -> Result<bool, OpError> {
        if state.paths.is_reserved(real) {
            return Ok(true);
        }
        let Some(content) = read_text(real, DEFAULT_MAX_FILE_BYTES) else {
            return Ok(true);
        };
        out.files_scanned += 1;
        let count = text.regex.find_iter(&content).count() as u64;
        if count == 0 {
            return Ok(true);
        }
        if out.files.len() == limit {
            out.truncated = true;
            return Ok(false);
        }
        if !req.dry_run {
            let new = text.regex.replace_all(&content, req.replacement.as_bytes());
            rewrite(shown, real, &new)?;
        }
        out.total_replacements += count;
        out.files.push(ReplacedFile {
            path: shown.to_string_lossy().into_owned(),
            replacements: count,
        });
        Ok(true)
    };
    for r in &targets {
        if !for_each_file(r, text.include.as_ref(), &mut one)? {
            break;
        }
    }
    Ok(OpResult::Replaced(out))
}

/// Call `f` for the resolved file, or for every regular file below the resolved
/// directory that `include` admits; false if `f` asked to stop.
fn for_each_file(
    r: &Resolved,
    include: Option<&NameGlob>,
    f: &mut dyn FnMut(&Path, &Path) -> Result<bool, OpError>,
) -> Result<bool, OpError> {
    let meta = fs::metadata(&r.real).map_err(|e| OpError::io("stat", &r.shown, e))?;
    if !meta.is_dir() {
        return f(&r.shown, &r.real);
    }
    let mut go_on = true;
    walk(&r.shown, &r.real, &mut |v: Visit| {
        if !v.meta.is_file() || include.is_some_and(|g| !g.matches(&v.rel)) {
            return Ok(true);
        }
        go_on = f(&v.shown, &v.real)?;
        Ok(go_on)
    })?;
    Ok(go_on)
}

/// The resolved path, checked to be a directory.
fn directory(r: &Resolved) -> Result<PathBuf, OpError> {
    let meta = fs::metadata(&r.real).map_err(|e| OpError::io("stat", &r.shown, e))?;
    if !meta.is_dir() {
        return Err(OpError::NotDir(r.shown.clone()));
    }
    Ok(r.real.clone())
}

/// A file's bytes, or none when it cannot be read, is larger than `max_bytes`
/// or looks binary.
fn read_text(real: &Path, max_bytes: u64) -> Option<Vec<u8>> {
    let file = File::open(real).ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() || meta.len() > max_bytes {
        return None;
    }
    let mut content = Vec::with_capacity(meta.len() as usize);
    file.take(max_bytes + 1).read_to_end(&mut content).ok()?;
    if content.len() as u64 > max_bytes || looks_binary(&content) {
        return None;
    }
    Some(content)
}

/// Replace a file's content atomically (a temporary file renamed over it, with
/// its mode and owner), or in place when the writer could not give the new file
/// the old one's owner or may not create files in its directory.
fn rewrite(shown: &Path, real: &Path, content: &[u8]) -> Result<(), OpError> {
    let io = |op: &'static str| move |e| OpError::io(op, shown, e);
    let meta = fs::metadata(real).map_err(io("stat"))?;
    let in_place = || -> Result<(), OpError> {
        let mut file = OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(real)
            .map_err(io("open"))?;
        file.write_all(content).map_err(io("write"))
    };
    let writer = fsuid();
    let (Some(dir), Some(name)) = (real.parent(), real.file_name()) else {
        return Err(OpError::IsDir(shown.to_path_buf()));
    };
    if writer != 0 && writer != meta.uid() {
        return in_place();
    }
    let temp = dir.join(format!(
        ".{}.nullspace-replace-{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let created = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temp);
    let mut file = match created {
        Ok(file) => file,
        Err(e) if matches!(e.raw_os_error(), Some(libc::EACCES | libc::EPERM)) => {
            return in_place();
        }
        Err(e) => return Err(io("create")(e)),
    };
    let done = (|| {
        file.write_all(content)?;
        if writer == 0 {
            std::os::unix::fs::fchown(&file, Some(meta.uid()), Some(meta.gid()))?;
        }
        file.set_permissions(fs::Permissions::from_mode(
            meta.permissions().mode() & 0o7777,
        ))?;
        file.sync_all()?;
        fs::rename(&temp, real)
    })();
    if let Err(e) = done {
        let _ = fs::remove_file(&temp);
        return Err(io("rewrite")(e));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nullspace_guest_proto::TextMatch;

    #[test]
    fn lines_report_their_number_column_and_cut_text() {
        let text = Text::new(&TextMatch {
            pattern: "TODO".into(),
            regex: false,
            case_sensitive: true,
            include: None,
        })
        .unwrap();
        let mut out = FindResult {
            matches: Vec::new(),
            files_scanned: 0,
            truncated: false,
        };
        let long = format!("{}TODO", "x".repeat(2000));
        let content = format!("a\r\n  TODO one\nnone\n{long}\nTODO");
        assert!(find_lines(
            &text,
            Path::new("/f"),
            content.as_bytes(),
            10,
            &mut out
        ));
        let got: Vec<_> = out.matches.iter().map(|m| (m.line, m.column)).collect();
        assert_eq!(got, [(2, 3), (4, 2001), (5, 1)]);
        assert_eq!(out.matches[0].text, "  TODO one");
        assert_eq!(out.matches[1].text.len(), MAX_LINE_TEXT);
        let mut few = FindResult {
            matches: Vec::new(),
            files_scanned: 0,
            truncated: false,
        };
        assert!(!find_lines(
            &text,
            Path::new("/f"),
            content.as_bytes(),
            2,
            &mut few
        ));
        assert!(few.truncated && few.matches.len() == 2);
    }
}
