//! Local inputs: files, and standard input with what it is connected to.
//!
//! Standard input is read only when asked for (`-`), or by `sandbox exec` when it is a
//! pipe or a regular file. A terminal is never read unasked, so interactive use never
//! waits for input nobody meant to give.

use std::fs::File;
use std::io::{IsTerminal, Read};
use std::path::Path;

use nullspace_api::MAX_FILE_BYTES;
use nullspace_client::Body;
use tokio::io::AsyncReadExt;

use crate::error::CliError;

/// Most bytes of a local input the CLI holds in memory (a command's stdin,
/// `--content`); files are uploaded as streams instead.
pub const MAX_INLINE_BYTES: u64 = 128 << 20;

/// Bytes of an upload read from the source at a time.
const UPLOAD_CHUNK: usize = 1 << 20;

/// What standard input is connected to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StdinKind {
    /// A terminal: a person typing.
    Terminal,
    /// A pipe or a regular file: input someone gave (`printf hi | …`, `… < file`).
    Data,
    /// Anything else: closed, `/dev/null` or another device, a socket.
    Other,
}

/// What this process's standard input is connected to.
pub fn stdin_kind() -> StdinKind {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return StdinKind::Terminal;
    }
    #[cfg(unix)]
    {
        use std::os::fd::AsFd;
        match stdin.as_fd().try_clone_to_owned() {
            Ok(fd) => kind_of(&File::from(fd)),
            Err(_) => StdinKind::Other,
        }
    }
    #[cfg(not(unix))]
    {
        StdinKind::Data
    }
}

/// Whether `file` (not a terminal) is a pipe or a regular file.
#[cfg(unix)]
fn kind_of(file: &File) -> StdinKind {
    use std::os::unix::fs::FileTypeExt;
    match file.metadata() {
        Ok(meta) if meta.file_type().is_fifo() || meta.is_file() => StdinKind::Data,
        _ => StdinKind::Other,
    }
}

/// The text of `path`, or of standard input for `-`.
pub fn read_text(path: &Path) -> Result<String, CliError> {
    let (what, bytes) = read_bytes(path)?;
    String::from_utf8(bytes).map_err(|_| CliError::NotUtf8 { what })
}

/// A description and the bytes of `path`, or of standard input for `-`; more than
/// [`MAX_INLINE_BYTES`] is an error.
pub fn read_bytes(path: &Path) -> Result<(String, Vec<u8>), CliError> {
    if path.as_os_str() == "-" {
        let what = "standard input".to_owned();
        let bytes = read_capped(std::io::stdin().lock(), &what, MAX_INLINE_BYTES)?;
        return Ok((what, bytes));
    }
    let what = path.display().to_string();
    let file = File::open(path).map_err(|source| CliError::ReadInput {
        what: what.clone(),
        source,
    })?;
    // A regular file says its size: refuse a large one without reading it.
    if let Ok(meta) = file.metadata() {
        if meta.is_file() && meta.len() > MAX_INLINE_BYTES {
            return Err(CliError::TooLarge {
                what,
                max: MAX_INLINE_BYTES,
            });
        }
    }
    let bytes = read_capped(file, &what, MAX_INLINE_BYTES)?;
    Ok((what, bytes))
}

/// A description of `path` (or standard input for `-`) and its bytes as a body
/// read a chunk at a time as it is sent, so no size is held in memory; a file
/// larger than [`MAX_FILE_BYTES`] is refused before anything is sent.
pub async fn upload_body(path: &Path) -> Result<(String, Body), CliError> {
    upload_counted(path, |_| {}).await
}

/// Like [`upload_body`], calling `seen` with the size of each piece as it is sent.
pub async fn upload_counted(
    path: &Path,
    seen: impl Fn(usize) + Send + Sync + 'static,
) -> Result<(String, Body), CliError> {
    let (what, reader): (String, Box<dyn tokio::io::AsyncRead + Send + Unpin>) =
        if path.as_os_str() == "-" {
            ("standard input".into(), Box::new(tokio::io::stdin()))
        } else {
            let what = path.display().to_string();
            let file = tokio::fs::File::open(path)
                .await
                .map_err(|source| CliError::ReadInput {
                    what: what.clone(),
                    source,
                })?;
            // A regular file says its size: refuse one the server never takes.
            if let Ok(meta) = file.metadata().await {
                if meta.is_file() && meta.len() > MAX_FILE_BYTES {
                    return Err(CliError::TooLarge {
                        what,
                        max: MAX_FILE_BYTES,
                    });
                }
            }
            (what, Box::new(file))
        };
    let chunks = futures_util::stream::try_unfold(reader, |mut reader| async move {
        let mut buf = vec![0u8; UPLOAD_CHUNK];
        let n = reader.read(&mut buf).await?;
        if n == 0 {
            return Ok::<_, std::io::Error>(None);
        }
        buf.truncate(n);
        Ok(Some((buf, reader)))
    });
    let chunks = futures_util::StreamExt::inspect(chunks, move |c| {
        if let Ok(b) = c {
            seen(b.len());
        }
    });
    Ok((what, Body::wrap_stream(chunks)))
}

/// All of `reader` (called `what`), refused past `max` bytes without reading further.
fn read_capped(reader: impl Read, what: &str, max: u64) -> Result<Vec<u8>, CliError> {
    let mut bytes = Vec::new();
    reader
        .take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|source| CliError::ReadInput {
            what: what.to_owned(),
            source,
        })?;
    check_size(what, bytes.len(), max)?;
    Ok(bytes)
}

/// `len` bytes of `what` are at most `max`.
pub fn check_size(what: &str, len: usize, max: u64) -> Result<(), CliError> {
    if u64::try_from(len).map_or(true, |len| len > max) {
        return Err(CliError::TooLarge {
            what: what.to_owned(),
            max,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[cfg(unix)]
    #[test]
    fn pipes_and_regular_files_are_data_devices_and_sockets_are_not() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(b"x").unwrap();
        assert_eq!(kind_of(file.as_file()), StdinKind::Data);
        let null = File::open("/dev/null").unwrap();
        assert_eq!(kind_of(&null), StdinKind::Other);
        let (socket, _peer) = std::os::unix::net::UnixStream::pair().unwrap();
        assert_eq!(
            kind_of(&File::from(std::os::fd::OwnedFd::from(socket))),
            StdinKind::Other
        );
        // A pipe: the read end of a child's standard output.
        let mut child = std::process::Command::new("true")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        assert_eq!(
            kind_of(&File::from(std::os::fd::OwnedFd::from(out))),
            StdinKind::Data
        );
        child.wait().unwrap();
    }

    #[test]
    fn files_are_read_and_sizes_capped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.txt");
        std::fs::write(&path, "text").unwrap();
        assert_eq!(read_text(&path).unwrap(), "text");
        std::fs::write(&path, [0xff, 0xfe]).unwrap();
        assert!(matches!(read_text(&path), Err(CliError::NotUtf8 { .. })));
        let missing = read_bytes(&dir.path().join("none")).unwrap_err();
        assert!(matches!(missing, CliError::ReadInput { .. }), "{missing}");
        // Refused by its size, without reading the (sparse) bytes.
        let big = dir.path().join("big");
        File::create(&big)
            .unwrap()
            .set_len(MAX_INLINE_BYTES + 1)
            .unwrap();
        let err = read_bytes(&big).unwrap_err();
        assert!(matches!(err, CliError::TooLarge { .. }), "{err}");
        assert!(err.to_string().contains("big"), "{err}");

        let max = usize::try_from(MAX_INLINE_BYTES).unwrap();
        assert!(check_size("x", max, MAX_INLINE_BYTES).is_ok());
        let err = check_size("x", max + 1, MAX_INLINE_BYTES).unwrap_err();
        assert!(matches!(err, CliError::TooLarge { .. }), "{err}");
        assert_eq!(read_capped(&b"four"[..], "four", 4).unwrap(), b"four");
        let err = read_capped(std::io::repeat(0), "endless zeros", 4).unwrap_err();
        assert!(err.to_string().contains("endless zeros"), "{err}");
        assert_eq!(err.exit(), crate::exit::Exit::InvalidInput);
    }
}
