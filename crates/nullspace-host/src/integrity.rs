//! Size and checksum seals of saved state (paused machines, snapshots), checked
//! before a restore uses the files, so a damaged file fails with a clear error
//! instead of starting a corrupt machine.

use std::fs::File;
use std::future::Future;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::RuntimeError;

/// Size and checksum of one file in a directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileSeal {
    /// File name inside the directory.
    pub name: String,
    /// Length in bytes.
    pub size: u64,
    /// CRC-32 of its data extents, each prefixed by its offset (holes are skipped).
    pub crc32: u32,
}

/// Seal the files `names` of `dir`.
pub(crate) fn seal(dir: &Path, names: &[String]) -> Result<Vec<FileSeal>, RuntimeError> {
    names
        .iter()
        .map(|name| {
            let path = dir.join(name);
            let (size, crc32) = checksum(&path).map_err(crate::error::io("checksum", &path))?;
            Ok(FileSeal {
                name: name.clone(),
                size,
                crc32,
            })
        })
        .collect()
}

/// Check the files of `dir` against their seals.
pub(crate) fn verify(dir: &Path, seals: &[FileSeal]) -> Result<(), RuntimeError> {
    for s in seals {
        let path = dir.join(&s.name);
        let corrupt = |reason: String| RuntimeError::StateCorrupt {
            path: path.clone(),
            reason,
        };
        let size = std::fs::metadata(&path)
            .map_err(|e| corrupt(format!("cannot read it: {e}")))?
            .len();
        if size != s.size {
            return Err(corrupt(format!(
                "{size} bytes, expected {} (truncated or overwritten)",
                s.size
            )));
        }
        let (_, crc) = checksum(&path).map_err(|e| corrupt(format!("cannot read it: {e}")))?;
        if crc != s.crc32 {
            return Err(corrupt(format!(
                "checksum {crc:08x}, expected {:08x}",
                s.crc32
            )));
        }
    }
    Ok(())
}

/// Start [`seal`] on a blocking thread now; the future gives its result.
pub(crate) fn seal_in_background(
    dir: PathBuf,
    names: Vec<String>,
) -> impl Future<Output = Result<Vec<FileSeal>, RuntimeError>> {
    joined(tokio::task::spawn_blocking(move || seal(&dir, &names)))
}

/// Start [`verify`] on a blocking thread now; the future gives its result.
pub(crate) fn verify_in_background(
    dir: PathBuf,
    seals: Vec<FileSeal>,
) -> impl Future<Output = Result<(), RuntimeError>> {
    joined(tokio::task::spawn_blocking(move || verify(&dir, &seals)))
}

async fn joined<T>(
    task: tokio::task::JoinHandle<Result<T, RuntimeError>>,
) -> Result<T, RuntimeError> {
    task.await.unwrap_or_else(|e| {
        Err(RuntimeError::Io {
            what: "checksum task",
            path: PathBuf::new(),
            source: std::io::Error::other(e.to_string()),
        })
    })
}

/// Length and CRC-32 of a file's data extents (sparse holes cost nothing).
fn checksum(path: &Path) -> std::io::Result<(u64, u32)> {
    let mut file = File::open(path)?;
    let size = file.metadata()?.len();
    let mut hasher = crc32fast::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut pos: i64 = 0;
    while (pos as u64) < size {
        // SAFETY: lseek(2) on a descriptor owned by `file`.
        let data = unsafe { libc::lseek(file.as_raw_fd(), pos, libc::SEEK_DATA) };
        if data < 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::ENXIO) {
                break; // only a hole is left
            }
            return Err(err);
        }
        // SAFETY: as above.
        let hole = unsafe { libc::lseek(file.as_raw_fd(), data, libc::SEEK_HOLE) };
        if hole < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: as above; positions the descriptor at the extent.
        if unsafe { libc::lseek(file.as_raw_fd(), data, libc::SEEK_SET) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
        hasher.update(&(data as u64).to_le_bytes());
        let mut left = (hole - data) as u64;
        while left > 0 {
            let want = left.min(buf.len() as u64) as usize;
            let n = file.read(&mut buf[..want])?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            left -= n as u64;
        }
        pos = hole;
    }
    Ok((size, hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Seek, SeekFrom, Write};

    #[test]
    fn detects_truncation_and_changed_bytes() {
        let dir = std::env::temp_dir().join(format!("ns-seal-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state");
        let mut f = File::create(&path).unwrap();
        f.write_all(b"head").unwrap();
        f.seek(SeekFrom::Start(8 << 20)).unwrap(); // a hole
        f.write_all(b"tail").unwrap();
        drop(f);
        let seals = seal(&dir, &["state".into()]).unwrap();
        assert_eq!(seals[0].size, (8 << 20) + 4);
        verify(&dir, &seals).unwrap();
        let mut f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.seek(SeekFrom::Start(1)).unwrap();
        f.write_all(b"X").unwrap();
        let err = verify(&dir, &seals).unwrap_err().to_string();
        assert!(err.contains("checksum"), "{err}");
        f.set_len(100).unwrap();
        let err = verify(&dir, &seals).unwrap_err().to_string();
        assert!(err.contains("truncated"), "{err}");
        std::fs::remove_file(&path).unwrap();
        let err = verify(&dir, &seals).unwrap_err().to_string();
        assert!(err.contains("cannot read"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
