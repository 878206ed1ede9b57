//! Walking a directory tree for the tree-wide calls: depth first, in name
//! order, never following symlinks, going on past directories the user may not
//! read (as `find` does).

use std::fs::{self, Metadata};
use std::path::{Path, PathBuf};

use crate::services::error::OpError;

/// One entry met by a walk.
#[derive(Debug)]
pub struct Visit {
    /// The path as the caller sees it.
    pub shown: PathBuf,
    /// The path for system calls.
    pub real: PathBuf,
    /// The path relative to the walk's start.
    pub rel: PathBuf,
    /// `lstat` metadata.
    pub meta: Metadata,
}

/// Call `visit` for every entry below `real` (not `real` itself) until it
/// answers false. An unreadable start is an error; unreadable subdirectories
/// are skipped.
pub fn walk(
    shown: &Path,
    real: &Path,
    visit: &mut dyn FnMut(Visit) -> Result<bool, OpError>,
) -> Result<(), OpError> {
    let mut stack = vec![(shown.to_path_buf(), real.to_path_buf(), PathBuf::new())];
    let mut first = true;
    while let Some((dir_shown, dir_real, dir_rel)) = stack.pop() {
        let names = match sorted_names(&dir_real) {
            Ok(names) => names,
            Err(e) if first => return Err(OpError::io("list", &dir_shown, e)),
            Err(_) => continue,
        };
        first = false;
        let mut subdirs = Vec::new();
        for name in names {
            let child_real = dir_real.join(&name);
            // An entry removed while walking is simply not met.
            let Ok(meta) = fs::symlink_metadata(&child_real) else {
                continue;
            };
            let visit_one = Visit {
                shown: dir_shown.join(&name),
                real: child_real,
                rel: dir_rel.join(&name),
                meta,
            };
            let is_dir = visit_one.meta.is_dir();
            let (s, r, rel) = (
                visit_one.shown.clone(),
                visit_one.real.clone(),
                visit_one.rel.clone(),
            );
            if !visit(visit_one)? {
                return Ok(());
            }
            if is_dir {
                subdirs.push((s, r, rel));
            }
        }
        // Reversed so the first subdirectory is walked first.
        stack.extend(subdirs.into_iter().rev());
    }
    Ok(())
}

fn sorted_names(dir: &Path) -> std::io::Result<Vec<std::ffi::OsString>> {
    let mut names = fs::read_dir(dir)?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<std::io::Result<Vec<_>>>()?;
    names.sort();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_depth_first_in_name_order_without_following_links() {
        let dir = std::env::temp_dir().join(format!("ns-walk-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("b/c")).unwrap();
        fs::write(dir.join("a"), "").unwrap();
        fs::write(dir.join("b/c/d"), "").unwrap();
        std::os::unix::fs::symlink("/", dir.join("link")).unwrap();
        let mut seen = Vec::new();
        walk(&dir, &dir, &mut |v| {
            seen.push(v.rel.to_string_lossy().into_owned());
            Ok(true)
        })
        .unwrap();
        assert_eq!(seen, ["a", "b", "link", "b/c", "b/c/d"]);
        let mut count = 0;
        walk(&dir, &dir, &mut |_| {
            count += 1;
            Ok(count < 2)
        })
        .unwrap();
        assert_eq!(count, 2);
        assert!(walk(&dir.join("nope"), &dir.join("nope"), &mut |_| Ok(true)).is_err());
        fs::remove_dir_all(&dir).unwrap();
    }
}
