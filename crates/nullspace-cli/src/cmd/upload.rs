//! `nullspace sandbox upload`: a local file, directory or standard input into a
//! machine. Files above [`RESUMABLE_ABOVE`] (or with `--resumable always`) and
//! directories archived to a temporary file go through a resumable session;
//! smaller files, directories and standard input stream straight through.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use futures_util::StreamExt;
use nullspace_api::{Conflict, CreateUploadRequest, UploadKind};
use nullspace_client::{Body, Client};
use nullspace_types::MachineId;
use serde_json::json;

use super::file::AsUser;
use super::{Ctx, Outcome, OK};
use crate::archive;
use crate::args::OctalMode;
use crate::error::CliError;
use crate::input::upload_counted;
use crate::output;
use crate::progress::Progress;
use crate::resumable;

/// Files larger than this go through a resumable session unless told otherwise
/// (64 MiB, as the Python SDK).
pub const RESUMABLE_ABOVE: u64 = 64 << 20;

/// When to use a resumable session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Resumable {
    /// Above 64 MiB.
    Auto,
    /// Always (not for standard input).
    Always,
    /// Never.
    Never,
}

/// What the archive does with entries that exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ConflictArg {
    /// Replace files that exist, keep the rest (default).
    Merge,
    /// Keep files that exist.
    Skip,
    /// The destination becomes exactly the directory.
    Replace,
    /// Refuse if the destination exists.
    Error,
}

/// Flags of `sandbox upload`.
#[derive(Debug, Args)]
pub struct UploadArgs {
    /// Machine id (sb_…).
    pub id: MachineId,
    /// A local file, a local directory, or - for standard input.
    pub source: PathBuf,
    /// Where in the machine (default /workspace/<source name>).
    pub destination: Option<String>,
    /// Use a resumable session: auto (above 64 MiB), always or never.
    #[arg(long, value_enum, default_value = "auto")]
    pub resumable: Resumable,
    /// Checksum of a resumable upload: auto (SHA-256 computed here), none, or sha256:<hex>.
    #[arg(long, default_value = "auto", value_name = "auto|none|sha256:HEX")]
    pub checksum: String,
    /// Chunks sent at once in a resumable upload (1-16).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=16))]
    pub concurrency: u16,
    /// Bytes per chunk of a resumable upload (64 KiB to 64 MiB; default 8 MiB).
    #[arg(long, value_name = "BYTES")]
    pub chunk_size: Option<u64>,
    /// Continue the resumable upload upl_… with the same source.
    #[arg(long, value_name = "UPLOAD_ID")]
    pub resume: Option<String>,
    /// Leave out paths matching this pattern (gitignore syntax; after .nullspaceignore;
    /// repeatable).
    #[arg(long, value_name = "PATTERN")]
    pub exclude: Vec<String>,
    /// Directories: what to do with entries that exist.
    #[arg(long, value_enum, default_value = "merge")]
    pub conflict: ConflictArg,
    /// Files: permission bits in octal.
    #[arg(long)]
    pub mode: Option<OctalMode>,
    /// Print what would be uploaded, and send nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub as_user: AsUser,
}

/// The local source.
enum Source {
    Stdin,
    File(u64),
    Dir(Vec<archive::Item>),
}

fn conflict(c: ConflictArg) -> Conflict {
    match c {
        ConflictArg::Merge => Conflict::Merge,
        ConflictArg::Skip => Conflict::Skip,
        ConflictArg::Replace => Conflict::Replace,
        ConflictArg::Error => Conflict::Error,
    }
}

/// Runs `sandbox upload`.
pub async fn run(ctx: &Ctx, args: UploadArgs) -> Outcome {
    let json = ctx.json();
    let stdin = args.source.as_os_str() == "-";
    let source = if stdin {
        Source::Stdin
    } else {
        let meta = std::fs::metadata(&args.source).map_err(|source| CliError::ReadInput {
            what: args.source.display().to_string(),
            source,
        })?;
        if meta.is_dir() {
            let rules = archive::rules(&args.source, &args.exclude)?;
            Source::Dir(archive::collect(&args.source, &rules)?)
        } else {
            Source::File(meta.len())
        }
    };
    let dest = match (&args.destination, stdin) {
        (Some(d), _) => d.clone(),
        (None, true) => {
            return Err(CliError::UploadUsage(
                "standard input needs a destination path".into(),
            ))
        }
        (None, false) => {
            let name = std::fs::canonicalize(&args.source)
                .ok()
                .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .unwrap_or_else(|| "upload".into());
            format!("/workspace/{name}")
        }
    };
    if stdin && (args.resumable == Resumable::Always || args.resume.is_some()) {
        return Err(CliError::UploadUsage(
            "standard input cannot be resumed: upload a file for --resumable always or --resume"
                .into(),
        ));
    }
    let (kind, bytes, files) = match &source {
        Source::Stdin => ("file", None, 1),
        Source::File(n) => ("file", Some(*n), 1),
        Source::Dir(items) => (
            "directory",
            Some(items.iter().map(|i| i.size).sum::<u64>()),
            items.iter().filter(|i| i.is_file).count(),
        ),
    };
    let resumable = args.resume.is_some()
        || match args.resumable {
            Resumable::Always => true,
            Resumable::Never => false,
            Resumable::Auto => bytes.is_some_and(|n| n > RESUMABLE_ABOVE),
        };
    let transport = if resumable { "resumable" } else { "direct" };
    if args.dry_run {
        let plan = json!({
            "dry_run": true, "kind": kind, "source": args.source, "target_path": dest,
            "file_count": files, "bytes": bytes, "transport": transport,
        });
        if json {
            output::json(&plan)?;
        } else {
            output::line(&format!(
                "would upload {kind} {} to {dest}: {files} files, {} bytes, {transport}",
                args.source.display(),
                bytes.map_or("unknown".into(), |b| b.to_string()),
            ))?;
        }
        return Ok(OK);
    }
    let client = ctx.client()?;
    let user = args.as_user.user.as_ref().map(|u| u.0.clone());
    let progress = Progress::new(bytes, "uploading", !json);
    let (target, sent, upload_id) = match (source, resumable) {
        (Source::Dir(items), false) => {
            let body = tar_body(items, progress.clone());
            let facts = client
                .write_archive_body(
                    &args.id,
                    &dest,
                    body,
                    conflict(args.conflict),
                    user.as_deref(),
                )
                .await?;
            (facts.path, facts.bytes, None)
        }
        (Source::Dir(items), true) => {
            let tmp = std::env::temp_dir().join(format!(
                "nullspace-upload-{}-{}.tar",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos())
            ));
            let (items2, tmp2) = (items, tmp.clone());
            tokio::task::spawn_blocking(move || {
                let f = std::fs::File::create(&tmp2).map_err(|source| CliError::ReadInput {
                    what: tmp2.display().to_string(),
                    source,
                })?;
                archive::write(&items2, std::io::BufWriter::new(f))
            })
            .await
            .map_err(|e| CliError::Runtime(std::io::Error::other(e)))??;
            let r =
                resumable_upload(&client, &args, &dest, &tmp, UploadKind::Archive, &progress).await;
            let _ = std::fs::remove_file(&tmp);
            r?
        }
        (Source::File(_), true) => {
            let path = args.source.clone();
            resumable_upload(&client, &args, &dest, &path, UploadKind::File, &progress).await?
        }
        (Source::File(_) | Source::Stdin, _) => {
            let p = progress.clone();
            let (_, body) = upload_counted(&args.source, move |n| p.add(n as u64)).await?;
            let info = client
                .write_file_body(
                    &args.id,
                    &dest,
                    body,
                    user.as_deref(),
                    args.mode.map(|m| m.0),
                )
                .await?;
            (info.path, info.size, None)
        }
    };
    progress.finish();
    let result = json!({
        "kind": kind, "transport": transport, "target_path": target,
        "bytes_uploaded": sent, "file_count": files, "upload_id": upload_id,
    });
    if json {
        output::json(&result)?;
    } else {
        output::line(&format!("uploaded {target} ({sent} bytes, {transport})"))?;
    }
    Ok(OK)
}

/// A tar stream of `items`, built on a blocking thread as it is sent.
fn tar_body(items: Vec<archive::Item>, progress: Progress) -> Body {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    tokio::task::spawn_blocking(move || {
        let writer = ChannelWriter {
            tx: tx.clone(),
            buf: Vec::new(),
        };
        if let Err(e) = archive::write(&items, writer) {
            let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
        }
    });
    let stream = tokio_stream(rx).map(move |c| {
        if let Ok(b) = &c {
            progress.add(b.len() as u64);
        }
        c
    });
    Body::wrap_stream(stream)
}

fn tokio_stream(
    mut rx: tokio::sync::mpsc::Receiver<Result<Vec<u8>, std::io::Error>>,
) -> impl futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// Sends what is written in 1 MiB pieces to a channel (blocking when it is full).
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<Result<Vec<u8>, std::io::Error>>,
    buf: Vec<u8>,
}

impl std::io::Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= 1 << 20 {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let piece = std::mem::take(&mut self.buf);
        self.tx
            .blocking_send(Ok(piece))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "upload ended"))
    }
}

/// Create (or pick up with --resume) a session for `file`, send what is
/// missing, and complete it; a failure after the session exists says how to resume.
async fn resumable_upload(
    client: &Client,
    args: &UploadArgs,
    dest: &str,
    file: &Path,
    kind: UploadKind,
    progress: &Progress,
) -> Result<(String, u64, Option<String>), CliError> {
    let size = std::fs::metadata(file)
        .map_err(|source| CliError::ReadInput {
            what: file.display().to_string(),
            source,
        })?
        .len();
    let sha = match args.checksum.as_str() {
        "none" => None,
        "auto" => Some(resumable::sha256_of(file).await?),
        other => match other.strip_prefix("sha256:") {
            Some(hex) => Some(hex.to_ascii_lowercase()),
            None => {
                return Err(CliError::UploadUsage(format!(
                    "--checksum {other}: give auto, none or sha256:<hex>"
                )))
            }
        },
    };
    let upload = match &args.resume {
        Some(id) => {
            let u = client.get_upload(&args.id, id).await?;
            if u.size != size {
                return Err(CliError::UploadUsage(format!(
                    "upload {id} is {} bytes but the source is {size}: resume with the same source",
                    u.size
                )));
            }
            u
        }
        None => {
            let request = CreateUploadRequest {
                path: dest.to_owned(),
                size,
                kind,
                chunk_size: args.chunk_size,
                sha256: sha.clone(),
                conflict: (kind == UploadKind::Archive).then(|| conflict(args.conflict)),
                mode: args.mode.map(|m| format!("{:04o}", m.0)),
                expires_in: None,
                user: args.as_user.user.as_ref().map(|u| u.0.clone()),
            };
            client.create_upload(&args.id, &request).await?
        }
    };
    let interrupted = |e: CliError| {
        let mut next = format!(
            "nullspace sandbox upload {} {} {dest} --resume {}",
            args.id,
            args.source.display(),
            upload.upload_id
        );
        if args.as_user.user.is_some() {
            next.push_str(" --user <same user>");
        }
        CliError::UploadInterrupted {
            source: Box::new(e),
            upload_id: upload.upload_id.clone(),
            next,
        }
    };
    resumable::send_missing(
        client,
        &args.id,
        &upload,
        file,
        usize::from(args.concurrency),
        progress,
    )
    .await
    .map_err(interrupted)?;
    let done = client
        .complete_upload(&args.id, &upload.upload_id, sha.as_deref())
        .await
        .map_err(|e| interrupted(e.into()))?;
    let target = done
        .entry
        .map(|e| e.path)
        .or(done.archive.map(|a| a.path))
        .unwrap_or_else(|| dest.to_owned());
    Ok((target, size, Some(upload.upload_id)))
}
