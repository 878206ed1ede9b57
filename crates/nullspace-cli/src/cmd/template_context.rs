//! The build contexts of `--copy SRC:DEST`: SRC packed as a plain tar named by its
//! SHA-256 and uploaded with `PUT /v1/templates/contexts/{sha256}` before the build
//! request names it.
//!
//! A directory is walked as `sandbox upload` walks it (its root's `.nullspaceignore`
//! applies); a file is an archive of that one file under its own name. Times and
//! owners are left out ([`archive::write_context`]), so the same content makes the
//! same hash and a rebuild of unchanged sources hits the server's step cache.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use nullspace_api::MAX_CONTEXT_BYTES;
use nullspace_client::Client;
use sha2::{Digest, Sha256};

use super::template_spec::Plan;
use crate::archive;
use crate::error::CliError;

/// A packed context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packed {
    /// Hex SHA-256 of the archive.
    pub sha256: String,
    /// Bytes of the archive.
    pub size: u64,
}

/// Passes writes through to `inner`, hashing and counting them.
struct Hashing<W> {
    inner: W,
    hash: Sha256,
    size: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// What the archive of `src` holds.
fn items(src: &Path) -> Result<Vec<archive::Item>, CliError> {
    let meta = std::fs::metadata(src).map_err(|source| CliError::ReadInput {
        what: src.display().to_string(),
        source,
    })?;
    if meta.is_dir() {
        let rules = archive::rules(src, &[])?;
        return archive::collect(src, &rules);
    }
    let name = std::fs::canonicalize(src)
        .ok()
        .and_then(|p| p.file_name().map(PathBuf::from))
        .or_else(|| src.file_name().map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("file"));
    Ok(vec![archive::Item {
        rel: name,
        path: src.to_owned(),
        size: meta.len(),
        is_file: meta.is_file(),
    }])
}

/// Pack the context of `src` into `to`: its hash and size. More than the server
/// takes (1 GiB) is an error.
pub fn pack(src: &Path, to: impl Write) -> Result<Packed, CliError> {
    let items = items(src)?;
    let mut w = Hashing {
        inner: to,
        hash: Sha256::new(),
        size: 0,
    };
    archive::write_context(&items, &mut w)?;
    if w.size > MAX_CONTEXT_BYTES {
        return Err(CliError::TooLarge {
            what: format!(
                "the build context of {} (leave files out with {})",
                src.display(),
                archive::IGNORE_FILE
            ),
            max: MAX_CONTEXT_BYTES,
        });
    }
    Ok(Packed {
        sha256: hex::encode(w.hash.finalize()),
        size: w.size,
    })
}

/// Name every `--copy` step of `plan` by the hash of its packed source, without
/// sending anything (`template render json`).
pub async fn hash_all(plan: &mut Plan) -> Result<(), CliError> {
    for (i, src) in plan.copies.clone() {
        let packed = blocking(move || pack(&src, io::sink())).await?;
        set_context(plan, i, packed.sha256);
    }
    Ok(())
}

/// Pack and upload the source of every `--copy` step of `plan` (each distinct one
/// once) and name the steps by their hashes; `say` is told what was sent.
pub async fn upload_all(
    client: &Client,
    plan: &mut Plan,
    say: impl Fn(&Path, &Packed),
) -> Result<(), CliError> {
    let mut sent: Vec<String> = Vec::new();
    for (i, src) in plan.copies.clone() {
        let tmp = std::env::temp_dir().join(format!(
            "nullspace-context-{}-{}.tar",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ));
        let (src2, tmp2) = (src.clone(), tmp.clone());
        let packed = blocking(move || {
            let file = std::fs::File::create(&tmp2).map_err(|source| CliError::ReadInput {
                what: tmp2.display().to_string(),
                source,
            })?;
            let mut out = io::BufWriter::new(file);
            let packed = pack(&src2, &mut out)?;
            out.flush().map_err(|source| CliError::ReadInput {
                what: tmp2.display().to_string(),
                source,
            })?;
            Ok(packed)
        })
        .await;
        let result = match packed {
            Ok(packed) if sent.contains(&packed.sha256) => Ok(packed),
            Ok(packed) => client
                .put_template_context_file(&packed.sha256, &tmp)
                .await
                .map(|()| packed)
                .map_err(CliError::from),
            Err(e) => Err(e),
        };
        let _ = std::fs::remove_file(&tmp);
        let packed = result?;
        if !sent.contains(&packed.sha256) {
            say(&src, &packed);
            sent.push(packed.sha256.clone());
        }
        set_context(plan, i, packed.sha256);
    }
    Ok(())
}

fn set_context(plan: &mut Plan, step: usize, sha: String) {
    if let Some(nullspace_api::TemplateStep::Copy { context, .. }) =
        plan.request.steps.get_mut(step)
    {
        *context = sha;
    }
}

/// `f` on a blocking thread.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, CliError> + Send + 'static,
) -> Result<T, CliError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| CliError::Runtime(io::Error::other(e)))?
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    /// The same tree under `root`, made now.
    fn tree(root: &Path) {
        fs::create_dir_all(root.join("src/pkg")).unwrap();
        fs::write(root.join("src/pkg/app.py"), "print('hi')\n").unwrap();
        fs::write(root.join("run.sh"), "#!/bin/sh\n").unwrap();
        fs::set_permissions(root.join("run.sh"), fs::Permissions::from_mode(0o750)).unwrap();
        fs::write(root.join("debug.log"), "noise").unwrap();
        fs::write(root.join(archive::IGNORE_FILE), "*.log\n").unwrap();
        std::os::unix::fs::symlink("src/pkg/app.py", root.join("link")).unwrap();
    }

    fn bytes(src: &Path) -> (Vec<u8>, Packed) {
        let mut out = Vec::new();
        let packed = pack(src, &mut out).unwrap();
        (out, packed)
    }

    #[test]
    fn identical_sources_pack_to_identical_bytes() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        tree(a.path());
        // Another tree, made later, with other times.
        std::thread::sleep(std::time::Duration::from_millis(1100));
        tree(b.path());
        let (bytes_a, packed_a) = bytes(a.path());
        let (bytes_b, packed_b) = bytes(b.path());
        assert_eq!(bytes_a, bytes_b);
        assert_eq!(packed_a, packed_b);
        assert_eq!(packed_a.size, bytes_a.len() as u64);
        assert_eq!(packed_a.sha256, hex::encode(Sha256::digest(&bytes_a)));

        let mut archive = tar::Archive::new(&bytes_a[..]);
        let mut names = Vec::new();
        for e in archive.entries().unwrap() {
            let e = e.unwrap();
            let h = e.header();
            assert_eq!(h.mtime().unwrap(), 0);
            assert_eq!((h.uid().unwrap(), h.gid().unwrap()), (0, 0));
            let name = e.path().unwrap().to_string_lossy().into_owned();
            if name == "run.sh" {
                assert_eq!(h.mode().unwrap(), 0o750, "modes are kept");
            }
            if name == "link" {
                assert_eq!(h.entry_type(), tar::EntryType::Symlink);
            }
            names.push(name);
        }
        assert!(!names.iter().any(|n| n == "debug.log"), "{names:?}");
        assert!(names.iter().any(|n| n == "src/pkg/app.py"), "{names:?}");

        // A change of content is a change of hash.
        fs::write(b.path().join("src/pkg/app.py"), "print('ho')\n").unwrap();
        assert_ne!(bytes(b.path()).1.sha256, packed_a.sha256);
    }

    #[test]
    fn a_file_is_packed_under_its_own_name() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("app.py");
        fs::write(&file, "x = 1\n").unwrap();
        let (out, _) = bytes(&file);
        let mut archive = tar::Archive::new(&out[..]);
        let names: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["app.py"]);
        let err = pack(&dir.path().join("missing"), io::sink()).unwrap_err();
        assert!(matches!(err, CliError::ReadInput { .. }), "{err}");
    }
}
