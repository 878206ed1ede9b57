//! Local directories as tar streams for `sandbox upload`: `.nullspaceignore` at
//! the source root first, then `--exclude` patterns (gitignore syntax, `!`
//! negation, last match wins); symlinks kept as symlinks; nothing excluded
//! implicitly (`.git` and other dot-directories are uploaded). Template build
//! contexts ([`write_context`]) are the same walk with every time and owner left
//! out, so the same content always makes the same bytes.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use ignore::gitignore::{Gitignore, GitignoreBuilder};

use crate::error::CliError;

/// Name of the ignore file read at the root of an uploaded directory.
pub const IGNORE_FILE: &str = ".nullspaceignore";

/// One entry to archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// Path relative to the source root.
    pub rel: PathBuf,
    /// Local path.
    pub path: PathBuf,
    /// Regular file bytes (0 for directories and symlinks).
    pub size: u64,
    /// Whether it is a regular file.
    pub is_file: bool,
}

fn read_error(what: &Path, source: io::Error) -> CliError {
    CliError::ReadInput {
        what: what.display().to_string(),
        source,
    }
}

/// The rules: the root's ignore file, then `extra` patterns.
pub fn rules(root: &Path, extra: &[String]) -> Result<Gitignore, CliError> {
    let mut b = GitignoreBuilder::new(root);
    let file = root.join(IGNORE_FILE);
    if file.is_file() {
        if let Some(e) = b.add(&file) {
            return Err(read_error(&file, io::Error::other(e.to_string())));
        }
    }
    for p in extra {
        b.add_line(None, p)
            .map_err(|e| read_error(Path::new(p), io::Error::other(e.to_string())))?;
    }
    b.build()
        .map_err(|e| read_error(root, io::Error::other(e.to_string())))
}

/// Everything below `root` the rules keep, in name order (a directory before
/// what it holds).
pub fn collect(root: &Path, rules: &Gitignore) -> Result<Vec<Item>, CliError> {
    let mut out = Vec::new();
    walk(root, Path::new(""), rules, &mut out)?;
    Ok(out)
}

fn walk(root: &Path, rel: &Path, rules: &Gitignore, out: &mut Vec<Item>) -> Result<(), CliError> {
    let dir = root.join(rel);
    let mut names: Vec<_> = fs::read_dir(&dir)
        .map_err(|e| read_error(&dir, e))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<Result<_, _>>()
        .map_err(|e| read_error(&dir, e))?;
    names.sort();
    for name in names {
        let child_rel = rel.join(&name);
        let path = root.join(&child_rel);
        let meta = fs::symlink_metadata(&path).map_err(|e| read_error(&path, e))?;
        let is_dir = meta.is_dir();
        if rules.matched(&child_rel, is_dir).is_ignore() {
            continue;
        }
        out.push(Item {
            rel: child_rel.clone(),
            path: path.clone(),
            size: if meta.is_file() { meta.len() } else { 0 },
            is_file: meta.is_file(),
        });
        if is_dir {
            walk(root, &child_rel, rules, out)?;
        }
    }
    Ok(())
}

/// Write `items` as a tar stream to `to` (deterministic for unchanged files, so
/// a resumed upload rebuilds the same bytes).
pub fn write(items: &[Item], to: impl Write) -> Result<(), CliError> {
    let mut b = tar::Builder::new(to);
    b.follow_symlinks(false);
    b.mode(tar::HeaderMode::Deterministic);
    for item in items {
        b.append_path_with_name(&item.path, &item.rel)
            .map_err(|e| read_error(&item.path, e))?;
    }
    b.into_inner()
        .and_then(|mut w| w.flush())
        .map_err(|e| read_error(Path::new("archive"), e))
}

/// Write `items` as a plain tar to `to` with nothing but names, types, modes, sizes
/// and contents (times 0, owners 0 and unnamed), so identical sources give
/// identical bytes whenever and wherever they were made. Entries other than
/// files, directories and symlinks (sockets, fifos, devices) are left out.
pub fn write_context(items: &[Item], to: impl Write) -> Result<(), CliError> {
    use std::os::unix::fs::PermissionsExt;
    let mut b = tar::Builder::new(to);
    for item in items {
        let fail = |e| read_error(&item.path, e);
        let meta = fs::symlink_metadata(&item.path).map_err(fail)?;
        let kind = meta.file_type();
        if !(kind.is_file() || kind.is_dir() || kind.is_symlink()) {
            continue;
        }
        let mut h = tar::Header::new_gnu();
        h.set_metadata_in_mode(&meta, tar::HeaderMode::Deterministic);
        h.set_mode(meta.permissions().mode() & 0o7777);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        if kind.is_symlink() {
            let target = fs::read_link(&item.path).map_err(fail)?;
            b.append_link(&mut h, &item.rel, target).map_err(fail)?;
        } else if kind.is_dir() {
            b.append_data(&mut h, &item.rel, io::empty())
                .map_err(fail)?;
        } else {
            // Never more than the header says, should the file grow meanwhile.
            let file = fs::File::open(&item.path).map_err(fail)?;
            b.append_data(&mut h, &item.rel, io::Read::take(file, meta.len()))
                .map_err(fail)?;
        }
    }
    b.into_inner()
        .and_then(|mut w| w.flush())
        .map_err(|e| read_error(Path::new("archive"), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignore_file_then_patterns_with_negation_and_no_implicit_excludes() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("pkg/sub")).unwrap();
        fs::create_dir_all(root.join(".git")).unwrap();
        fs::write(root.join(".git/HEAD"), "ref").unwrap();
        fs::write(root.join("pkg/__init__.pyc"), "x").unwrap();
        fs::write(root.join("pkg/a.pyc"), "x").unwrap();
        fs::write(root.join("pkg/sub/b.py"), "y").unwrap();
        fs::write(root.join("build.log"), "z").unwrap();
        fs::write(root.join("name with spaces\nand newline"), "n").unwrap();
        std::os::unix::fs::symlink("pkg/sub/b.py", root.join("link")).unwrap();
        fs::write(root.join(IGNORE_FILE), "*.log\n").unwrap();
        let r = rules(root, &["*.pyc".into(), "!pkg/__init__.pyc".into()]).unwrap();
        let items = collect(root, &r).unwrap();
        let rels: Vec<_> = items
            .iter()
            .map(|i| i.rel.to_string_lossy().into_owned())
            .collect();
        assert!(rels.contains(&".git/HEAD".to_string()), "{rels:?}");
        assert!(
            rels.contains(&"pkg/__init__.pyc".to_string()),
            "negation re-includes"
        );
        assert!(!rels.contains(&"pkg/a.pyc".to_string()));
        assert!(
            !rels.contains(&"build.log".to_string()),
            "the ignore file applies"
        );
        assert!(rels.contains(&IGNORE_FILE.to_string()), "nothing implicit");
        assert!(rels.contains(&"name with spaces\nand newline".to_string()));

        let mut bytes = Vec::new();
        write(&items, &mut bytes).unwrap();
        let mut again = Vec::new();
        write(&items, &mut again).unwrap();
        assert_eq!(bytes, again, "deterministic");
        let mut a = tar::Archive::new(&bytes[..]);
        let link = a
            .entries()
            .unwrap()
            .map(|e| e.unwrap())
            .find(|e| e.path().unwrap().to_str() == Some("link"))
            .unwrap();
        assert_eq!(link.header().entry_type(), tar::EntryType::Symlink);
    }
}
