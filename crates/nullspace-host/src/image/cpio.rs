//! A minimal writer for uncompressed cpio "newc" archives, the Linux initramfs format.

use std::collections::BTreeSet;

/// File type bits for `c_mode`.
const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;
const S_IFCHR: u32 = 0o020000;

/// Builds a newc archive in memory; parent directories are added automatically.
#[derive(Default)]
pub struct CpioWriter {
    out: Vec<u8>,
    next_ino: u32,
    dirs: BTreeSet<String>,
}

impl CpioWriter {
    /// An empty archive.
    pub fn new() -> Self {
        CpioWriter {
            out: Vec::new(),
            next_ino: 1,
            dirs: BTreeSet::new(),
        }
    }

    /// Adds a directory (and any missing parents) with the given permission bits.
    pub fn dir(&mut self, path: &str, perm: u32) {
        let path = normalize(path);
        self.parents(&path);
        if self.dirs.insert(path.clone()) {
            self.entry(&path, S_IFDIR | (perm & 0o7777), 2, (0, 0), &[]);
        }
    }

    /// Adds a regular file with the given permission bits.
    pub fn file(&mut self, path: &str, perm: u32, data: &[u8]) {
        let path = normalize(path);
        self.parents(&path);
        self.entry(&path, S_IFREG | (perm & 0o7777), 1, (0, 0), data);
    }

    /// Adds a symbolic link pointing at `target`.
    pub fn symlink(&mut self, path: &str, target: &str) {
        let path = normalize(path);
        self.parents(&path);
        self.entry(&path, S_IFLNK | 0o777, 1, (0, 0), target.as_bytes());
    }

    /// Adds a character device node.
    pub fn char_dev(&mut self, path: &str, perm: u32, major: u32, minor: u32) {
        let path = normalize(path);
        self.parents(&path);
        self.entry(&path, S_IFCHR | (perm & 0o7777), 1, (major, minor), &[]);
    }

    /// Appends the trailer and returns the archive bytes.
    pub fn finish(mut self) -> Vec<u8> {
        self.next_ino = 0;
        self.entry("TRAILER!!!", 0, 1, (0, 0), &[]);
        self.out
    }

    fn parents(&mut self, path: &str) {
        let mut acc = String::new();
        let parts: Vec<&str> = path.split('/').collect();
        for part in &parts[..parts.len().saturating_sub(1)] {
            if !acc.is_empty() {
                acc.push('/');
            }
            acc.push_str(part);
            if self.dirs.insert(acc.clone()) {
                let p = acc.clone();
                self.entry(&p, S_IFDIR | 0o755, 2, (0, 0), &[]);
            }
        }
    }

    fn entry(&mut self, name: &str, mode: u32, nlink: u32, rdev: (u32, u32), data: &[u8]) {
        let ino = self.next_ino;
        self.next_ino += 1;
        let fields = [
            ino,
            mode,
            0, // uid
            0, // gid
            nlink,
            0, // mtime: fixed for reproducible archives
            u32::try_from(data.len()).expect("cpio newc entries are limited to 4 GiB"),
            0, // devmajor
            0, // devminor
            rdev.0,
            rdev.1,
            u32::try_from(name.len() + 1).expect("name length"),
            0, // check
        ];
        self.out.extend_from_slice(b"070701");
        for f in fields {
            self.out.extend_from_slice(format!("{f:08x}").as_bytes());
        }
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(0);
        self.pad();
        self.out.extend_from_slice(data);
        self.pad();
    }

    fn pad(&mut self) {
        let len = self.out.len().next_multiple_of(4);
        self.out.resize(len, 0);
    }
}

/// Strips leading `/` and `./` so names are relative, as the kernel expects.
fn normalize(path: &str) -> String {
    path.trim_start_matches("./")
        .trim_start_matches('/')
        .trim_end_matches('/')
        .to_owned()
}

/// One parsed archive member (used to verify archives).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpioEntry {
    /// Path inside the archive.
    pub name: String,
    /// Mode including file type bits.
    pub mode: u32,
    /// Device numbers for device nodes.
    pub rdev: (u32, u32),
    /// File contents or symlink target.
    pub data: Vec<u8>,
}

/// Parses a newc archive back into entries, stopping at the trailer.
pub fn parse(mut buf: &[u8]) -> Option<Vec<CpioEntry>> {
    let mut entries = Vec::new();
    let start_len = buf.len();
    loop {
        if buf.len() < 110 || &buf[..6] != b"070701" {
            return None;
        }
        let field = |i: usize| -> Option<u32> {
            let s = std::str::from_utf8(&buf[6 + i * 8..14 + i * 8]).ok()?;
            u32::from_str_radix(s, 16).ok()
        };
        let mode = field(1)?;
        let size = field(6)? as usize;
        let rdev = (field(9)?, field(10)?);
        let namesize = field(11)? as usize;
        let name_bytes = buf.get(110..110 + namesize)?;
        let name = std::str::from_utf8(name_bytes.strip_suffix(&[0])?)
            .ok()?
            .to_owned();
        let consumed = start_len - buf.len();
        let data_start = (consumed + 110 + namesize).next_multiple_of(4) - consumed;
        let data = buf.get(data_start..data_start + size)?.to_vec();
        let next = (consumed + data_start + size).next_multiple_of(4) - consumed;
        if name == "TRAILER!!!" {
            return Some(entries);
        }
        entries.push(CpioEntry {
            name,
            mode,
            rdev,
            data,
        });
        buf = buf.get(next..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::process::{Command, Stdio};

    fn sample() -> Vec<u8> {
        let mut w = CpioWriter::new();
        w.file("/init", 0o755, b"#!/bin/sh\necho hi\n");
        w.dir("/dev", 0o755);
        w.char_dev("/dev/console", 0o600, 5, 1);
        w.file("/lib/modules/6.12/kernel/a.ko", 0o644, &[1, 2, 3]);
        w.symlink("/bin", "usr/bin");
        w.dir("/newroot", 0o755);
        w.finish()
    }

    #[test]
    fn round_trips_through_parser() {
        let entries = parse(&sample()).expect("archive parses");
        let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "init",
                "dev",
                "dev/console",
                "lib",
                "lib/modules",
                "lib/modules/6.12",
                "lib/modules/6.12/kernel",
                "lib/modules/6.12/kernel/a.ko",
                "bin",
                "newroot"
            ]
        );
        assert_eq!(entries[0].mode, 0o100755);
        assert_eq!(entries[0].data, b"#!/bin/sh\necho hi\n");
        assert_eq!(entries[2].mode, 0o020600);
        assert_eq!(entries[2].rdev, (5, 1));
        assert_eq!(entries[7].data, [1, 2, 3]);
        assert_eq!(entries[8].data, b"usr/bin");
    }

    #[test]
    fn archive_is_padded_to_four_bytes() {
        assert_eq!(sample().len() % 4, 0);
    }

    #[test]
    fn gnu_cpio_lists_the_archive() {
        let Ok(mut child) = Command::new("cpio")
            .args(["-t", "-v", "--quiet"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
        else {
            eprintln!("skipping: cpio is not installed");
            return;
        };
        child.stdin.take().unwrap().write_all(&sample()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let listing = String::from_utf8(out.stdout).unwrap();
        let lines: Vec<&str> = listing.lines().collect();
        assert_eq!(lines.len(), 10, "{listing}");
        assert!(
            lines[0].starts_with("-rwxr-xr-x") && lines[0].ends_with(" init"),
            "{listing}"
        );
        assert!(lines[2].starts_with("crw-------"), "{listing}");
        assert!(lines[8].ends_with("bin -> usr/bin"), "{listing}");
    }
}
