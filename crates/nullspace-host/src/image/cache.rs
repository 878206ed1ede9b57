//! Content keys, staging directories and atomic publication for the image cache.
//!
//! Every cached artefact is built in a staging directory named `.tmp-<name>-<pid>`
//! next to its final place and renamed into place only once it is complete, so a
//! crash never leaves a half-built entry that looks finished.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::ImageError;

/// Incrementally builds a cache key from length-prefixed, labelled fields.
#[derive(Clone)]
pub struct KeyHasher(Sha256);

impl KeyHasher {
    /// Starts a key for the given domain, e.g. `"nullspace-kernel-v1"`.
    pub fn new(domain: &str) -> Self {
        let mut h = KeyHasher(Sha256::new());
        h.field("domain", domain.as_bytes());
        h
    }

    /// Adds one labelled field; labels and lengths make the encoding unambiguous.
    pub fn field(&mut self, label: &str, value: &[u8]) -> &mut Self {
        for part in [label.as_bytes(), value] {
            self.0.update((part.len() as u64).to_le_bytes());
            self.0.update(part);
        }
        self
    }

    /// Adds a string field.
    pub fn str(&mut self, label: &str, value: &str) -> &mut Self {
        self.field(label, value.as_bytes())
    }

    /// Finishes the key as lowercase hex.
    pub fn finish(self) -> String {
        hex::encode(self.0.finalize())
    }
}

/// The sha256 of a file's contents, as lowercase hex.
pub fn sha256_file(path: &Path) -> Result<String, ImageError> {
    let mut file = fs::File::open(path).map_err(ImageError::io("open", path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(ImageError::io("read", path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// A staging directory removed on drop unless it was published.
pub struct Staging {
    path: Option<PathBuf>,
}

impl Staging {
    /// Creates `parent/.tmp-<name>-<pid>`, replacing a leftover of the same name.
    pub fn new(parent: &Path, name: &str) -> Result<Self, ImageError> {
        fs::create_dir_all(parent).map_err(ImageError::io("create directory", parent))?;
        let path = parent.join(format!(".tmp-{name}-{}", std::process::id()));
        remove_tree(&path)?;
        fs::create_dir(&path).map_err(ImageError::io("create directory", &path))?;
        Ok(Staging { path: Some(path) })
    }

    /// The staging directory.
    pub fn path(&self) -> &Path {
        self.path
            .as_deref()
            .expect("staging directory used after publish")
    }

    /// Renames the staging directory to `dest`. If another builder published `dest`
    /// first, the staged copy is discarded and the existing one is kept.
    pub fn publish(mut self, dest: &Path) -> Result<(), ImageError> {
        let path = self.path.take().expect("staging directory published twice");
        match fs::rename(&path, dest) {
            Ok(()) => Ok(()),
            Err(e) if dest.is_dir() && is_not_empty(&e) => {
                tracing::info!(dest = %dest.display(), "already published by a concurrent build");
                remove_tree(&path)
            }
            Err(e) => {
                let _ = fs::remove_dir_all(&path);
                Err(ImageError::io("rename staging directory into", dest)(e))
            }
        }
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            if let Err(e) = fs::remove_dir_all(&path) {
                tracing::warn!(path = %path.display(), error = %e, "could not remove staging directory");
            }
        }
    }
}

fn is_not_empty(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOTEMPTY) | Some(libc::EEXIST))
}

/// Removes `path` recursively if it exists.
pub fn remove_tree(path: &Path) -> Result<(), ImageError> {
    match fs::remove_dir_all(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            Err(ImageError::io("remove directory", path)(e))
        }
        _ => Ok(()),
    }
}

/// Removes `.tmp-*-<pid>` staging directories in `dir` whose process is gone.
pub fn clean_stale_staging(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(".tmp-") else {
            continue;
        };
        let alive = rest
            .rsplit_once('-')
            .and_then(|(_, pid)| pid.parse::<u32>().ok())
            .is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists());
        if !alive {
            tracing::info!(path = %entry.path().display(), "removing stale staging directory");
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// Writes `contents` to `path` via a temporary file and a rename.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<(), ImageError> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    fs::write(&tmp, contents).map_err(ImageError::io("write", &tmp))?;
    fs::rename(&tmp, path).map_err(ImageError::io("rename into place", path))
}

/// Reads and parses a JSON file.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, ImageError> {
    let bytes = fs::read(path).map_err(ImageError::io("read", path))?;
    serde_json::from_slice(&bytes).map_err(|source| ImageError::Json {
        path: path.to_owned(),
        source,
    })
}

/// Serialises `value` as pretty JSON into `path`.
pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<(), ImageError> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|source| ImageError::Json {
        path: path.to_owned(),
        source,
    })?;
    bytes.push(b'\n');
    fs::write(path, bytes).map_err(ImageError::io("write", path))
}

/// Hard-links `src` to `dst`, copying when linking is impossible.
pub fn link_or_copy(src: &Path, dst: &Path) -> Result<(), ImageError> {
    if fs::hard_link(src, dst).is_ok() {
        return Ok(());
    }
    fs::copy(src, dst).map_err(ImageError::io("copy", src))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ns-cache-test-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn key_fields_are_unambiguous() {
        let mut a = KeyHasher::new("d");
        a.str("x", "ab").str("y", "c");
        let mut b = KeyHasher::new("d");
        b.str("x", "a").str("y", "bc");
        assert_ne!(a.finish(), b.finish());
    }

    #[test]
    fn staging_is_removed_unless_published() {
        let dir = scratch("staging");
        let path = {
            let s = Staging::new(&dir, "a").unwrap();
            fs::write(s.path().join("f"), b"x").unwrap();
            s.path().to_owned()
        };
        assert!(!path.exists());

        let s = Staging::new(&dir, "b").unwrap();
        fs::write(s.path().join("f"), b"1").unwrap();
        s.publish(&dir.join("final")).unwrap();
        assert_eq!(fs::read(dir.join("final/f")).unwrap(), b"1");

        // A second publisher loses the race and keeps the first result.
        let s = Staging::new(&dir, "c").unwrap();
        fs::write(s.path().join("f"), b"2").unwrap();
        s.publish(&dir.join("final")).unwrap();
        assert_eq!(fs::read(dir.join("final/f")).unwrap(), b"1");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn stale_staging_is_cleaned() {
        let dir = scratch("stale");
        fs::create_dir(dir.join(".tmp-x-999999999")).unwrap();
        let mine = dir.join(format!(".tmp-y-{}", std::process::id()));
        fs::create_dir(&mine).unwrap();
        clean_stale_staging(&dir);
        assert!(!dir.join(".tmp-x-999999999").exists());
        assert!(mine.exists());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn sha256_of_file() {
        let dir = scratch("sha");
        fs::write(dir.join("f"), b"abc").unwrap();
        assert_eq!(
            sha256_file(&dir.join("f")).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
