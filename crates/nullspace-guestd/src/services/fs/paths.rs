//! Path rules of file operations: lexical normalisation against `/workspace`,
//! confinement to a caller-given root (no escape through `..` or symlinks), and
//! the reserved directory `/workspace/.nullspace` that no write may touch.
//!
//! A path is resolved twice: lexically (`shown`, what the caller named, with `.`
//! and `..` folded) and physically (`real`, every symlink of the existing prefix
//! replaced by its target, components past the first missing one kept as given).
//! Confinement requires both to stay inside the root, and operations act on
//! `real`, so what is checked is what is touched.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io;
use std::path::{Component, Path, PathBuf};

/// Most symlinks followed while resolving one path (as the kernel's `MAXSYMLINKS`).
const MAX_SYMLINKS: usize = 40;

/// How an operation uses a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Only reads.
    Read,
    /// Creates or changes the entry.
    Write,
    /// Removes or moves the entry, and with it everything below.
    Destroy,
}

/// Whether a symlink in the last component is followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Final {
    /// Act on the symlink's target.
    Follow,
    /// Act on the symlink itself.
    NoFollow,
}

/// A path checked against the rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The absolute, lexically normalised path the caller named (for replies).
    pub shown: PathBuf,
    /// The same path with symlinks resolved (for system calls).
    pub real: PathBuf,
}

/// Why a path was refused.
#[derive(Debug, thiserror::Error)]
pub enum PathError {
    /// The path was empty.
    #[error("path is empty")]
    Empty,
    /// The path contained a NUL byte.
    #[error("path contains a NUL byte")]
    Nul,
    /// The path leaves its root.
    #[error("{} escapes root {}", path.display(), root.display())]
    EscapesRoot {
        /// The offending path.
        path: PathBuf,
        /// The root it had to stay in.
        root: PathBuf,
    },
    /// A write would touch the reserved directory.
    #[error("{} is reserved (inside or above {})", path.display(), reserved.display())]
    Reserved {
        /// The offending path.
        path: PathBuf,
        /// The reserved directory.
        reserved: PathBuf,
    },
    /// Symlinks of the path could not be resolved.
    #[error("cannot resolve {}: {source}", path.display())]
    Resolve {
        /// The path being resolved.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
}

/// The workspace a guest's relative paths start from, and its reserved directory.
#[derive(Debug, Clone)]
pub struct PathPolicy {
    workspace: PathBuf,
    reserved: PathBuf,
}

impl Default for PathPolicy {
    fn default() -> Self {
        Self::new(PathBuf::from("/workspace"))
    }
}

impl PathPolicy {
    /// Rules for `workspace`, whose `.nullspace` directory is reserved.
    pub fn new(workspace: PathBuf) -> Self {
        let reserved = workspace.join(".nullspace");
        Self {
            workspace,
            reserved,
        }
    }

    /// The directory relative paths start from.
    pub fn workspace(&self) -> &Path {
        &self.workspace
    }

    /// Normalise `path`, confine it to `root` if given, and enforce the reserved directory.
    pub fn resolve(
        &self,
        path: &str,
        root: Option<&str>,
        last: Final,
        access: Access,
    ) -> Result<Resolved, PathError> {
        let shown = normalize(&self.workspace, path)?;
        let real = physical(&shown, last == Final::Follow)?;
        if let Some(root) = root {
            let root_shown = normalize(&self.workspace, root)?;
            let root_real = physical(&root_shown, true)?;
            let inside = shown == root_shown
                || (shown.starts_with(&root_shown) && real.starts_with(&root_real));
            if !inside {
                return Err(PathError::EscapesRoot {
                    path: shown,
                    root: root_shown,
                });
            }
        }
        if access != Access::Read {
            self.check_reserved(&shown, &real, access)?;
        }
        Ok(Resolved { shown, real })
    }

    /// Whether `path` (absolute, normalised) is the reserved directory or inside it.
    pub fn is_reserved(&self, path: &Path) -> bool {
        path.starts_with(&self.reserved)
    }

    fn check_reserved(&self, shown: &Path, real: &Path, access: Access) -> Result<(), PathError> {
        let reserved_real =
            physical(&self.reserved, true).unwrap_or_else(|_| self.reserved.clone());
        let mut hit = shown.starts_with(&self.reserved)
            || real.starts_with(&self.reserved)
            || real.starts_with(&reserved_real);
        if access == Access::Destroy {
            hit |= self.reserved.starts_with(shown) || reserved_real.starts_with(real);
        }
        if hit {
            return Err(PathError::Reserved {
                path: shown.to_path_buf(),
                reserved: self.reserved.clone(),
            });
        }
        Ok(())
    }
}

/// Make `path` absolute (relative to `base`) and fold `.` and `..` lexically.
/// `..` at `/` stays at `/`, as the kernel does.
pub fn normalize(base: &Path, path: &str) -> Result<PathBuf, PathError> {
    if path.is_empty() {
        return Err(PathError::Empty);
    }
    if path.contains('\0') {
        return Err(PathError::Nul);
    }
    let joined = base.join(path);
    let mut out = PathBuf::from("/");
    for c in joined.components() {
        match c {
            Component::Normal(part) => out.push(part),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    Ok(out)
}

/// Resolve the symlinks of an absolute, normalised `path`. Components after the
/// first missing one are kept as they are; the last component is only followed
/// when `follow_last` is set.
pub fn physical(path: &Path, follow_last: bool) -> Result<PathBuf, PathError> {
    let err = |source| PathError::Resolve {
        path: path.to_path_buf(),
        source,
    };
    let mut pending: VecDeque<OsString> = parts(path);
    let mut out = PathBuf::from("/");
    let mut links = 0;
    let mut missing = false;
    while let Some(part) = pending.pop_front() {
        if part == ".." {
            out.pop();
            continue;
        }
        if part == "." {
            continue;
        }
        out.push(&part);
        if missing || (pending.is_empty() && !follow_last) {
            continue;
        }
        match std::fs::symlink_metadata(&out) {
            Ok(meta) if meta.file_type().is_symlink() => {
                links += 1;
                if links > MAX_SYMLINKS {
                    return Err(err(io::Error::from_raw_os_error(libc::ELOOP)));
                }
                let target = std::fs::read_link(&out).map_err(err)?;
                out.pop();
                if target.is_absolute() {
                    out = PathBuf::from("/");
                }
                for p in parts(&target).into_iter().rev() {
                    pending.push_front(p);
                }
            }
            Ok(_) => {}
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => {
                missing = true;
            }
            Err(e) => return Err(err(e)),
        }
    }
    Ok(out)
}

/// The components of `path` as strings, `..` and `.` kept, root dropped.
fn parts(path: &Path) -> VecDeque<OsString> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(p) => Some(p.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            Component::CurDir => Some(OsString::from(".")),
            Component::RootDir | Component::Prefix(_) => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// A scratch directory removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(tag: &str) -> Self {
            let base = std::env::temp_dir().join(format!(
                "guestd-paths-{tag}-{}-{:?}",
                std::process::id(),
                std::time::SystemTime::now()
            ));
            std::fs::create_dir_all(&base).unwrap();
            // Canonical so symlink comparisons are not confused by a symlinked /tmp.
            Self(std::fs::canonicalize(&base).unwrap())
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn s(p: &Path) -> &str {
        p.to_str().unwrap()
    }

    #[test]
    fn normalises_relative_and_dot_dot() {
        let ws = Path::new("/workspace");
        assert_eq!(normalize(ws, "a/b").unwrap(), Path::new("/workspace/a/b"));
        assert_eq!(
            normalize(ws, "./a/./b/").unwrap(),
            Path::new("/workspace/a/b")
        );
        assert_eq!(normalize(ws, "a/../../etc").unwrap(), Path::new("/etc"));
        assert_eq!(normalize(ws, "/../../x/..").unwrap(), Path::new("/"));
        assert_eq!(
            normalize(ws, "/etc//passwd").unwrap(),
            Path::new("/etc/passwd")
        );
        assert!(matches!(normalize(ws, ""), Err(PathError::Empty)));
        assert!(matches!(normalize(ws, "a\0b"), Err(PathError::Nul)));
    }

    #[test]
    fn dot_dot_cannot_leave_root() {
        let p = PathPolicy::default();
        let root = Some("/workspace/proj");
        for bad in [
            "/workspace/proj/../other",
            "proj/../../etc",
            "/etc/passwd",
            "/workspace/project2",
        ] {
            let err = p
                .resolve(bad, root, Final::Follow, Access::Read)
                .unwrap_err();
            assert!(matches!(err, PathError::EscapesRoot { .. }), "{bad}: {err}");
        }
        for good in [
            "/workspace/proj",
            "proj/src/../lib.rs",
            "/workspace/proj/a/b",
        ] {
            p.resolve(good, root, Final::Follow, Access::Read)
                .unwrap_or_else(|e| panic!("{good}: {e}"));
        }
        let r = p
            .resolve("proj/./x/../y", root, Final::Follow, Access::Read)
            .unwrap();
        assert_eq!(r.shown, Path::new("/workspace/proj/y"));
    }

    #[test]
    fn symlinks_cannot_leave_root() {
        let t = Scratch::new("escape");
        let root = t.0.join("root");
        let outside = t.0.join("outside");
        std::fs::create_dir_all(root.join("dir")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("secret"), b"x").unwrap();
        symlink(&outside, root.join("abs")).unwrap();
        symlink("../outside", root.join("rel")).unwrap();
        symlink("../outside/new-file", root.join("dangling")).unwrap();
        symlink("dir", root.join("inner")).unwrap();
        symlink("../../outside", root.join("dir/up")).unwrap();
        let p = PathPolicy::new(t.0.join("ws"));
        let r = Some(s(&root));
        for bad in [
            "abs/secret",
            "rel/secret",
            "rel",
            "dangling",
            "dir/up/x",
            "inner/up",
        ] {
            let path = root.join(bad);
            let err = p
                .resolve(s(&path), r, Final::Follow, Access::Write)
                .unwrap_err();
            assert!(matches!(err, PathError::EscapesRoot { .. }), "{bad}: {err}");
        }
        let ok = p
            .resolve(s(&root.join("inner/f")), r, Final::Follow, Access::Write)
            .unwrap();
        assert_eq!(ok.real, root.join("dir/f"));
        assert_eq!(ok.shown, root.join("inner/f"));
        // Acting on a link itself (stat, remove) does not follow it out of the root.
        let link = p
            .resolve(s(&root.join("abs")), r, Final::NoFollow, Access::Destroy)
            .unwrap();
        assert_eq!(link.real, root.join("abs"));
        // But its parent is still resolved.
        let err = p
            .resolve(
                s(&root.join("rel/secret")),
                r,
                Final::NoFollow,
                Access::Read,
            )
            .unwrap_err();
        assert!(matches!(err, PathError::EscapesRoot { .. }), "{err}");
    }

    #[test]
    fn symlinked_root_is_itself_inside() {
        let t = Scratch::new("rootlink");
        std::fs::create_dir_all(t.0.join("real")).unwrap();
        symlink("real", t.0.join("root")).unwrap();
        let p = PathPolicy::new(t.0.clone());
        let root = Some("root");
        let r = p
            .resolve("root/a", root, Final::Follow, Access::Write)
            .unwrap();
        assert_eq!(r.real, t.0.join("real/a"));
        p.resolve("root", root, Final::NoFollow, Access::Read)
            .unwrap();
    }

    #[test]
    fn symlink_loops_are_errors() {
        let t = Scratch::new("loop");
        symlink("b", t.0.join("a")).unwrap();
        symlink("a", t.0.join("b")).unwrap();
        let err = physical(&t.0.join("a/x"), true).unwrap_err();
        let PathError::Resolve { source, .. } = err else {
            panic!("{err}")
        };
        assert_eq!(source.raw_os_error(), Some(libc::ELOOP));
    }

    #[test]
    fn reserved_directory_refuses_writes_only() {
        let t = Scratch::new("reserved");
        let ws = t.0.join("workspace");
        std::fs::create_dir_all(ws.join(".nullspace")).unwrap();
        symlink(".nullspace", ws.join("sneaky")).unwrap();
        let p = PathPolicy::new(ws.clone());
        for bad in [
            ".nullspace",
            ".nullspace/state",
            "a/../.nullspace/x",
            "sneaky/x",
        ] {
            let err = p
                .resolve(bad, None, Final::Follow, Access::Write)
                .unwrap_err();
            assert!(matches!(err, PathError::Reserved { .. }), "{bad}: {err}");
            p.resolve(bad, None, Final::Follow, Access::Read).unwrap();
        }
        // Removing or moving an ancestor would take the reserved directory with it.
        let err = p
            .resolve(s(&ws), None, Final::NoFollow, Access::Destroy)
            .unwrap_err();
        assert!(matches!(err, PathError::Reserved { .. }), "{err}");
        // Writing the workspace itself, or a symlink that points at the reserved
        // directory (acted on as a link), is fine.
        p.resolve(s(&ws), None, Final::Follow, Access::Write)
            .unwrap();
        p.resolve("sneaky", None, Final::NoFollow, Access::Destroy)
            .unwrap();
        p.resolve(".nullspacex/f", None, Final::Follow, Access::Write)
            .unwrap();
    }

    #[test]
    fn relative_paths_start_at_workspace() {
        let p = PathPolicy::new(PathBuf::from("/nonexistent-ws"));
        let r = p
            .resolve("a/b.txt", None, Final::Follow, Access::Read)
            .unwrap();
        assert_eq!(r.shown, Path::new("/nonexistent-ws/a/b.txt"));
        assert_eq!(r.real, r.shown);
        assert_eq!(p.workspace(), Path::new("/nonexistent-ws"));
    }
}
