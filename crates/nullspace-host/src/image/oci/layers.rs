//! Applying image layers to a root directory: tar entries (plain, gzip or zstd)
//! written in order, with `.wh.` whiteouts and `.wh..wh..opq` opaque directories.
//!
//! Layers are untrusted. Every path is resolved inside the root as a chroot would
//! resolve it: `..` never climbs above the root and symbolic links, absolute or
//! relative, are followed within it, so no entry writes or links outside.

use std::ffi::OsStr;
use std::fs;
use std::io::{self, BufReader, Read};
use std::path::{Component, Path, PathBuf};

/// Prefix of a whiteout entry.
const WHITEOUT: &str = ".wh.";
/// Name of an opaque-directory marker.
const OPAQUE: &str = ".wh..wh..opq";
/// Most symbolic links one path resolution follows.
const MAX_LINKS: u32 = 40;

/// Why a layer could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    /// Reading or writing failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The entry's path in the layer.
        path: String,
        /// The underlying error.
        source: io::Error,
    },
    /// The archive itself is damaged.
    #[error("damaged archive: {0}")]
    Archive(io::Error),
    /// A path resolves through too many links.
    #[error("too many levels of symbolic links in {0}")]
    Loop(String),
}

/// A reader of the layer's tar stream, decompressed by its first bytes.
fn open(path: &Path) -> io::Result<Box<dyn Read>> {
    let mut file = BufReader::new(fs::File::open(path)?);
    let mut magic = [0u8; 4];
    let n = {
        let mut peek = file.by_ref().take(4);
        let mut got = 0;
        while got < 4 {
            match peek.read(&mut magic[got..])? {
                0 => break,
                k => got += k,
            }
        }
        got
    };
    let head = io::Cursor::new(magic[..n].to_vec()).chain(file);
    Ok(match magic {
        [0x1f, 0x8b, ..] => Box::new(flate2::read::MultiGzDecoder::new(head)),
        [0x28, 0xb5, 0x2f, 0xfd] => Box::new(zstd::stream::read::Decoder::new(head)?),
        _ => Box::new(head),
    })
}

/// The entry's path as plain components (`./`, `/` and `.` dropped).
fn components(path: &Path) -> Vec<&OsStr> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(p) => Some(p),
            Component::ParentDir => Some(OsStr::new("..")),
            _ => None,
        })
        .collect()
}

/// Resolves `rel` (its parts) inside `root`, following links within the root.
///
/// Returns the host path. With `follow_last` false the last part is not followed.
pub fn resolve_in(root: &Path, parts: &[&OsStr], follow_last: bool) -> Result<PathBuf, LayerError> {
    let mut stack: Vec<std::ffi::OsString> = parts.iter().rev().map(|p| p.to_os_string()).collect();
    let mut at: Vec<std::ffi::OsString> = Vec::new();
    let mut links = 0;
    while let Some(part) = stack.pop() {
        if part == ".." {
            at.pop();
            continue;
        }
        if part == "." || part.is_empty() {
            continue;
        }
        let here: PathBuf = root.join(at.iter().collect::<PathBuf>()).join(&part);
        let last = stack.is_empty();
        let is_link = fs::symlink_metadata(&here).is_ok_and(|m| m.file_type().is_symlink());
        if is_link && (follow_last || !last) {
            links += 1;
            if links > MAX_LINKS {
                return Err(LayerError::Loop(display(parts)));
            }
            let target = fs::read_link(&here).map_err(|source| LayerError::Io {
                what: "read link",
                path: display(parts),
                source,
            })?;
            if target.is_absolute() {
                at.clear();
            }
            for c in components(&target).into_iter().rev() {
                stack.push(c.to_os_string());
            }
            continue;
        }
        at.push(part);
    }
    Ok(root.join(at.iter().collect::<PathBuf>()))
}

fn display(parts: &[&OsStr]) -> String {
    parts
        .iter()
        .map(|p| p.to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Removes whatever is at `path` (not following a link).
fn remove_any(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Applies one layer file to `root`. Returns how many entries were written.
pub fn apply(layer: &Path, root: &Path) -> Result<u64, LayerError> {
    let reader = open(layer).map_err(LayerError::Archive)?;
    let mut archive = tar::Archive::new(reader);
    let mut written = 0;
    for entry in archive.entries().map_err(LayerError::Archive)? {
        let mut entry = entry.map_err(LayerError::Archive)?;
        let raw = entry.path().map_err(LayerError::Archive)?.into_owned();
        let parts = components(&raw);
        let Some((name, dirs)) = parts.split_last() else {
            continue;
        };
        let name_str = name.to_string_lossy();
        let io_err = |what: &'static str| {
            let path = raw.display().to_string();
            move |source| LayerError::Io { what, path, source }
        };
        let parent = resolve_in(root, dirs, true)?;
        if !parent.starts_with(root) {
            continue;
        }
        if name_str == OPAQUE {
            if let Ok(list) = fs::read_dir(&parent) {
                for child in list.flatten() {
                    remove_any(&child.path()).map_err(io_err("clear opaque directory"))?;
                }
            }
            continue;
        }
        if let Some(hidden) = name_str.strip_prefix(WHITEOUT) {
            if hidden != ".." && hidden != "." && !hidden.is_empty() {
                remove_any(&parent.join(hidden)).map_err(io_err("remove whited-out"))?;
            }
            continue;
        }
        if *name == ".." {
            continue;
        }
        fs::create_dir_all(&parent).map_err(io_err("create parent of"))?;
        let target = parent.join(name);
        let kind = entry.header().entry_type();
        let existing = fs::symlink_metadata(&target).ok();
        match (kind.is_dir(), existing) {
            (true, Some(m)) if m.is_dir() => {}
            (_, Some(_)) => remove_any(&target).map_err(io_err("replace"))?,
            (_, None) => {}
        }
        if kind.is_hard_link() {
            let Some(link) = entry.link_name().map_err(LayerError::Archive)? else {
                continue;
            };
            let source = resolve_in(root, &components(&link), false)?;
            if source.starts_with(root) && source.is_file() {
                fs::hard_link(&source, &target).map_err(io_err("hard link"))?;
                written += 1;
            }
            continue;
        }
        if !(kind.is_file() || kind.is_dir() || kind.is_symlink() || kind.is_contiguous()) {
            // Devices and FIFOs: the guest's devtmpfs provides devices.
            continue;
        }
        entry.set_preserve_mtime(true);
        entry.set_unpack_xattrs(false);
        entry.unpack(&target).map_err(io_err("write"))?;
        restore_owner(&entry, &target).map_err(io_err("set owner of"))?;
        written += 1;
    }
    Ok(written)
}

/// Sets the entry's owner and mode (`unpack` keeps neither the owner nor set-id bits).
fn restore_owner<R: Read>(entry: &tar::Entry<'_, R>, target: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let h = entry.header();
    // A missing owner field (some hand-made layers) means root.
    let (uid, gid) = (h.uid().unwrap_or(0) as u32, h.gid().unwrap_or(0) as u32);
    std::os::unix::fs::lchown(target, Some(uid), Some(gid))?;
    if !h.entry_type().is_symlink() {
        let mode = h.mode().unwrap_or(0o755) & 0o7777;
        fs::set_permissions(target, fs::Permissions::from_mode(mode))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Layer(tar::Builder<Vec<u8>>);

    impl Layer {
        fn new() -> Self {
            Layer(tar::Builder::new(Vec::new()))
        }
        fn file(mut self, path: &str, data: &[u8], mode: u32) -> Self {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(mode);
            h.set_uid(1234);
            h.set_gid(99);
            h.set_entry_type(tar::EntryType::Regular);
            self.0.append_data(&mut h, path, data).unwrap();
            self
        }
        /// A file whose stored name is `raw`, unchecked (`..` included).
        fn raw_file(mut self, raw: &str) -> Self {
            let mut h = tar::Header::new_gnu();
            h.set_size(1);
            h.set_mode(0o644);
            h.set_entry_type(tar::EntryType::Regular);
            h.as_gnu_mut().unwrap().name[..raw.len()].copy_from_slice(raw.as_bytes());
            h.set_cksum();
            self.0.append(&h, &b"p"[..]).unwrap();
            self
        }
        fn dir(mut self, path: &str) -> Self {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(0o755);
            h.set_size(0);
            self.0.append_data(&mut h, path, io::empty()).unwrap();
            self
        }
        fn link(mut self, kind: tar::EntryType, path: &str, to: &str) -> Self {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(kind);
            h.set_mode(0o777);
            h.set_size(0);
            self.0.append_link(&mut h, path, to).unwrap();
            self
        }
        fn write(self, dir: &Path, name: &str, gzip: bool) -> PathBuf {
            let bytes = self.0.into_inner().unwrap();
            let path = dir.join(name);
            if gzip {
                use std::io::Write;
                let mut enc =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                enc.write_all(&bytes).unwrap();
                fs::write(&path, enc.finish().unwrap()).unwrap();
            } else {
                fs::write(&path, bytes).unwrap();
            }
            path
        }
    }

    #[test]
    fn layers_apply_in_order_with_whiteouts_and_opaque_dirs() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        fs::create_dir(&root).unwrap();
        let one = Layer::new()
            .dir("etc/")
            .file("etc/a", b"a1", 0o644)
            .file("etc/gone", b"x", 0o644)
            .dir("opt/")
            .file("opt/old", b"o", 0o644)
            .file("bin/tool", b"#!", 0o4755)
            .link(tar::EntryType::Link, "bin/tool2", "bin/tool")
            .write(dir.path(), "1", true);
        let two = Layer::new()
            .file("etc/a", b"a2", 0o600)
            .file("etc/.wh.gone", b"", 0o644)
            .file("opt/.wh..wh..opq", b"", 0o644)
            .file("opt/new", b"n", 0o644)
            .write(dir.path(), "2", false);
        assert!(apply(&one, &root).unwrap() >= 5);
        apply(&two, &root).unwrap();
        assert_eq!(fs::read(root.join("etc/a")).unwrap(), b"a2");
        assert!(!root.join("etc/gone").exists());
        assert!(!root.join("opt/old").exists());
        assert_eq!(fs::read(root.join("opt/new")).unwrap(), b"n");
        use std::os::unix::fs::MetadataExt;
        let m = fs::metadata(root.join("bin/tool")).unwrap();
        assert_eq!(m.mode() & 0o7777, 0o4755);
        if super::super::super::rootfs::is_root() {
            assert_eq!((m.uid(), m.gid()), (1234, 99));
        }
        assert_eq!(m.ino(), fs::metadata(root.join("bin/tool2")).unwrap().ino());
        assert_eq!(
            fs::metadata(root.join("etc/a")).unwrap().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn nothing_is_written_outside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let outside = dir.path().join("outside");
        fs::create_dir_all(&root).unwrap();
        fs::create_dir_all(&outside).unwrap();
        fs::write(outside.join("secret"), b"s").unwrap();
        let evil = Layer::new()
            .link(tar::EntryType::Symlink, "escape", outside.to_str().unwrap())
            .link(tar::EntryType::Symlink, "up", "../../..")
            .file("escape/planted", b"p", 0o644)
            .file("up/planted2", b"p", 0o644)
            .raw_file("../planted3")
            .link(
                tar::EntryType::Link,
                "stolen",
                outside.join("secret").to_str().unwrap(),
            )
            .file("escape/.wh.secret", b"", 0o644)
            .write(dir.path(), "evil", false);
        apply(&evil, &root).unwrap();
        assert_eq!(fs::read_dir(&outside).unwrap().count(), 1);
        assert!(outside.join("secret").exists());
        assert!(!dir.path().join("planted3").exists());
        // The links resolve inside the root: the files land there.
        assert!(root
            .join(outside.strip_prefix("/").unwrap())
            .join("planted")
            .exists());
        assert!(root.join("planted2").exists());
        assert!(!root.join("stolen").exists());
    }

    #[test]
    fn damaged_layers_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad");
        let mut gz = vec![0x1f, 0x8b];
        gz.extend_from_slice(&[0xff; 64]);
        fs::write(&path, gz).unwrap();
        assert!(matches!(
            apply(&path, dir.path()),
            Err(LayerError::Archive(_))
        ));
    }
}
