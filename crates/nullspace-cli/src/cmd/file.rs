//! `nullspace sandbox file …`: files of a machine.

use std::path::PathBuf;

use base64::Engine;
use clap::{Args, Subcommand, ValueEnum};
use futures_util::TryStreamExt;
use nullspace_api::{FileUrlRequest, WriteFilesRequest};
use nullspace_client::Body;
use nullspace_client::ReadFile;
use nullspace_types::MachineId;

use super::{Ctx, Outcome, OK};
use crate::args::{OctalMode, UserName, WriteFiles};
use crate::input::{check_size, upload_body, MAX_INLINE_BYTES};
use crate::output;

/// `sandbox file` and its subcommands.
#[derive(Debug, Args)]
pub struct FileArgs {
    /// The subcommand.
    #[command(subcommand)]
    pub command: FileCommand,
}

/// How `file read` prints the content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Encoding {
    /// As text (invalid UTF-8 replaced).
    Utf8,
    /// As base64.
    Base64,
}

/// The guest user of a file operation.
#[derive(Debug, Clone, Args)]
pub struct AsUser {
    /// Guest user whose permissions the operation has, and who owns what it creates
    /// (server default `user`; root only when named: --user root).
    #[arg(long)]
    pub user: Option<UserName>,
}

impl AsUser {
    /// The name to send, if one was given.
    fn name(&self) -> Option<&str> {
        self.user.as_ref().map(|u| u.0.as_str())
    }
}

/// The file a signed URL grants, and for how long.
#[derive(Debug, Args)]
pub struct UrlArgs {
    /// Machine id (sb_…).
    pub id: MachineId,
    /// File path.
    pub path: String,
    /// Seconds the URL works (default 3600, at most 604800).
    #[arg(long, value_name = "SECONDS")]
    pub expires_in: Option<u64>,
    #[command(flatten)]
    pub as_user: AsUser,
}

/// Subcommands of `sandbox file`.
#[derive(Debug, Subcommand)]
pub enum FileCommand {
    /// Print a file: raw bytes streamed as they arrive (any size), or with --encoding
    /// or --json the whole read as text (at most 128 MiB; read larger files raw or in
    /// parts with --offset and --limit).
    Read {
        /// Machine id (sb_…).
        id: MachineId,
        /// File path (absolute, or relative to /workspace).
        path: String,
        /// Print as text or base64 (with --json: the content field's encoding).
        #[arg(long, value_enum)]
        encoding: Option<Encoding>,
        /// Byte to start at (default 0).
        #[arg(long, value_name = "BYTES", allow_negative_numbers = true)]
        offset: Option<u64>,
        /// Most bytes to read (default: to the end of the file).
        #[arg(long, value_name = "BYTES", allow_negative_numbers = true)]
        limit: Option<u64>,
        #[command(flatten)]
        as_user: AsUser,
    },
    /// Write a file from standard input, --content or --from-file, streamed (parents
    /// are created; at most 16 GiB, --content at most 128 MiB).
    Write {
        /// Machine id (sb_…).
        id: MachineId,
        /// File path.
        path: String,
        /// Content (else standard input).
        #[arg(long, conflicts_with = "from_file")]
        content: Option<String>,
        /// Read the content from this local file.
        #[arg(long, value_name = "FILE")]
        from_file: Option<PathBuf>,
        /// Permission bits in octal, e.g. 0644.
        #[arg(long)]
        mode: Option<OctalMode>,
        #[command(flatten)]
        as_user: AsUser,
    },
    /// Write several files: '[["/a","x"],["/b","y"]]'.
    WriteFiles {
        /// Machine id (sb_…).
        id: MachineId,
        /// JSON list of [path, content] pairs or {"path","content"|"content_base64"} objects.
        files: WriteFiles,
        #[command(flatten)]
        as_user: AsUser,
    },
    /// List a directory.
    List {
        /// Machine id (sb_…).
        id: MachineId,
        /// Directory path.
        path: String,
        /// Levels to descend (1-32; server default 1).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=32))]
        depth: Option<u32>,
        #[command(flatten)]
        as_user: AsUser,
    },
    /// Print whether a path exists (true/false).
    Exists {
        /// Machine id (sb_…).
        id: MachineId,
        /// Path.
        path: String,
        #[command(flatten)]
        as_user: AsUser,
    },
    /// Show facts about a path.
    Info {
        /// Machine id (sb_…).
        id: MachineId,
        /// Path.
        path: String,
        #[command(flatten)]
        as_user: AsUser,
    },
    /// Create a directory with its parents.
    Mkdir {
        /// Machine id (sb_…).
        id: MachineId,
        /// Directory path.
        path: String,
        #[command(flatten)]
        as_user: AsUser,
    },
    /// Move or rename a path.
    Mv {
        /// Machine id (sb_…).
        id: MachineId,
        /// Current path.
        source: String,
        /// New path.
        destination: String,
        #[command(flatten)]
        as_user: AsUser,
    },
    /// Print a signed URL that downloads the file with plain `curl` and no API key
    /// (`curl -o out URL`), until it expires.
    DownloadUrl(UrlArgs),
    /// Print a signed URL that uploads the file with plain `curl` and no API key
    /// (`curl -T file URL`), until it expires.
    UploadUrl(UrlArgs),
    /// Change permission bits.
    Chmod {
        /// Machine id (sb_…).
        id: MachineId,
        /// Path.
        path: String,
        /// Permission bits in octal, e.g. 0644.
        mode: OctalMode,
        #[command(flatten)]
        as_user: AsUser,
    },
    #[command(flatten)]
    Tree(super::file_tree::TreeCommand),
    /// Remove a file, or a directory with everything in it (as the API and the SDK do).
    Rm {
        /// Machine id (sb_…).
        id: MachineId,
        /// Path.
        path: String,
        /// Refuse to remove a directory that is not empty (not_empty, exit 6).
        #[arg(long)]
        no_recursive: bool,
        /// Removal is recursive by default; accepted so older scripts keep working.
        #[arg(long, short, hide = true, conflicts_with = "no_recursive")]
        recursive: bool,
        #[command(flatten)]
        as_user: AsUser,
    },
}

/// Runs `sandbox file …`.
pub async fn run(ctx: &Ctx, args: FileArgs) -> Outcome {
    let command = match args.command {
        FileCommand::Tree(t) => return super::file_tree::run(ctx, t).await,
        other => other,
    };
    let client = ctx.client()?;
    let json = ctx.json();
    match command {
        FileCommand::Read {
            id,
            path,
            encoding,
            offset,
            limit,
            as_user,
        } => {
            let read = ReadFile {
                user: as_user.name().map(str::to_owned),
                offset,
                limit,
            };
            let mut chunks = client.read_file_stream(&id, &path, &read).await?;
            if json || encoding.is_some() {
                let mut bytes = Vec::new();
                while let Some(chunk) = chunks.try_next().await? {
                    bytes.extend_from_slice(&chunk);
                    check_size(&path, bytes.len(), MAX_INLINE_BYTES)?;
                }
                read_output(json, &path, offset.unwrap_or(0), &bytes, encoding)?;
            } else {
                while let Some(chunk) = chunks.try_next().await? {
                    output::bytes(&chunk)?;
                }
            }
        }
        FileCommand::Write {
            id,
            path,
            content,
            from_file,
            mode,
            as_user,
        } => {
            let body = match (content, from_file) {
                (Some(text), _) => {
                    check_size("--content", text.len(), MAX_INLINE_BYTES)?;
                    Body::from(text)
                }
                (None, Some(file)) => upload_body(&file).await?.1,
                (None, None) => upload_body(std::path::Path::new("-")).await?.1,
            };
            let info = client
                .write_file_body(&id, &path, body, as_user.name(), mode.map(|m| m.0))
                .await?;
            if json {
                output::json(&info)?;
            } else {
                output::line(&format!("wrote {} ({} bytes)", info.path, info.size))?;
            }
        }
        FileCommand::WriteFiles { id, files, as_user } => {
            let request = WriteFilesRequest {
                files: files.0,
                user: as_user.name().map(str::to_owned),
            };
            let written = client.write_files(&id, &request).await?;
            if json {
                output::json(&written)?;
            } else {
                for info in &written.files {
                    output::line(&format!("wrote {} ({} bytes)", info.path, info.size))?;
                }
            }
        }
        FileCommand::List {
            id,
            path,
            depth,
            as_user,
        } => {
            let list = client.list_files(&id, &path, depth, as_user.name()).await?;
            if json {
                output::json(&list)?;
            } else if !list.entries.is_empty() {
                output::line(&output::entries(&list.entries))?;
            }
        }
        FileCommand::Exists { id, path, as_user } => {
            let exists = client.exists(&id, &path, as_user.name()).await?;
            if json {
                output::json(&serde_json::json!({ "exists": exists }))?;
            } else {
                output::line(if exists { "true" } else { "false" })?;
            }
        }
        FileCommand::Info { id, path, as_user } => {
            let info = client.file_info(&id, &path, as_user.name()).await?;
            if json {
                output::json(&info)?;
            } else {
                output::line(&output::entry(&info))?;
            }
        }
        FileCommand::Mkdir { id, path, as_user } => {
            let created = client.mkdir(&id, &path, as_user.name()).await?;
            if json {
                output::json(&serde_json::json!({ "created": created }))?;
            } else if created {
                output::line(&format!("created {path}"))?;
            } else {
                output::line(&format!("{path} already exists"))?;
            }
        }
        FileCommand::Mv {
            id,
            source,
            destination,
            as_user,
        } => {
            let info = client
                .rename(&id, &source, &destination, as_user.name())
                .await?;
            if json {
                output::json(&info)?;
            } else {
                output::line(&format!("moved {source} to {}", info.path))?;
            }
        }
        FileCommand::DownloadUrl(url) => signed_url(&client, json, false, url).await?,
        FileCommand::UploadUrl(url) => signed_url(&client, json, true, url).await?,
        FileCommand::Chmod {
            id,
            path,
            mode,
            as_user,
        } => {
            let info = client.chmod(&id, &path, mode.0, as_user.name()).await?;
            if json {
                output::json(&info)?;
            } else {
                output::line(&format!(
                    "{} is now {:04o} ({})",
                    info.path, info.mode, info.permissions
                ))?;
            }
        }
        FileCommand::Tree(_) => unreachable!("dispatched above"),
        FileCommand::Rm {
            id,
            path,
            no_recursive,
            recursive: _,
            as_user,
        } => {
            client
                .remove(&id, &path, !no_recursive, as_user.name())
                .await?;
            if json {
                output::json(&serde_json::json!({ "path": path, "removed": true }))?;
            } else {
                output::line(&format!("removed {path}"))?;
            }
        }
    }
    Ok(OK)
}

/// Print a signed download (or `upload`) URL of `path`.
async fn signed_url(
    client: &nullspace_client::Client,
    json: bool,
    upload: bool,
    url: UrlArgs,
) -> Result<(), crate::error::CliError> {
    let request = FileUrlRequest {
        path: url.path,
        user: url.as_user.name().map(str::to_owned),
        expires_in: url.expires_in,
    };
    let signed = client.file_url(&url.id, upload, &request).await?;
    if json {
        output::json(&signed)
    } else {
        output::line(&signed.url)
    }
}

/// Prints the content of `file read` (`bytes` from byte `offset` of the file).
fn read_output(
    json: bool,
    path: &str,
    offset: u64,
    bytes: &[u8],
    encoding: Option<Encoding>,
) -> Result<(), crate::error::CliError> {
    let base64 = || base64::engine::general_purpose::STANDARD.encode(bytes);
    if json {
        let encoding = encoding.unwrap_or(if std::str::from_utf8(bytes).is_ok() {
            Encoding::Utf8
        } else {
            Encoding::Base64
        });
        let (name, content) = match encoding {
            Encoding::Utf8 => ("utf8", String::from_utf8_lossy(bytes).into_owned()),
            Encoding::Base64 => ("base64", base64()),
        };
        return output::json(&serde_json::json!({
            "path": path,
            "offset": offset,
            "size": bytes.len(),
            "encoding": name,
            "content": content,
        }));
    }
    match encoding {
        None => output::bytes(bytes),
        Some(Encoding::Utf8) => output::bytes(String::from_utf8_lossy(bytes).as_bytes()),
        Some(Encoding::Base64) => output::line(&base64()),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};
    use crate::cmd::sandbox::SandboxCommand;

    fn parse(args: &[&str]) -> Result<FileCommand, clap::Error> {
        let cli = Cli::try_parse_from(["nullspace", "sandbox", "file"].iter().chain(args))?;
        match cli.command {
            Command::Sandbox(s) => match s.command {
                SandboxCommand::File(f) => Ok(f.command),
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rm_is_recursive_unless_told_not_to() {
        let rm = |a: &[&str]| match parse(a).unwrap() {
            FileCommand::Rm { no_recursive, .. } => !no_recursive,
            other => panic!("{other:?}"),
        };
        assert!(rm(&["rm", "sb_a", "/d"]));
        assert!(
            rm(&["rm", "sb_a", "/d", "--recursive"]),
            "the old flag still parses"
        );
        assert!(rm(&["rm", "sb_a", "/d", "-r"]));
        assert!(!rm(&["rm", "sb_a", "/d", "--no-recursive"]));
        let err = parse(&["rm", "sb_a", "/d", "-r", "--no-recursive"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn every_file_command_takes_a_user() {
        let cases: [&[&str]; 10] = [
            &["read", "sb_a", "/f"],
            &["write", "sb_a", "/f", "--content", "x"],
            &["write-files", "sb_a", "[]"],
            &["list", "sb_a", "/"],
            &["exists", "sb_a", "/f"],
            &["info", "sb_a", "/f"],
            &["mkdir", "sb_a", "/d"],
            &["mv", "sb_a", "/a", "/b"],
            &["chmod", "sb_a", "/f", "600"],
            &["rm", "sb_a", "/f"],
        ];
        for args in cases {
            let mut with_user = args.to_vec();
            with_user.extend(["--user", "root"]);
            parse(&with_user).unwrap_or_else(|e| panic!("{args:?}: {e}"));
            let mut bad = args.to_vec();
            bad.extend(["--user", ""]);
            let err = parse(&bad).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{args:?}");
        }
    }

    #[test]
    fn read_takes_a_bounded_range() {
        let FileCommand::Read {
            offset,
            limit,
            as_user,
            ..
        } = parse(&[
            "read",
            "sb_a",
            "/f",
            "--offset",
            "10",
            "--limit",
            "17179869185",
        ])
        .unwrap()
        else {
            panic!()
        };
        assert_eq!(
            (offset, limit, as_user.name()),
            (Some(10), Some(17179869185), None)
        );
        for bad in [
            &["read", "sb_a", "/f", "--offset", "-1"][..],
            &["read", "sb_a", "/f", "--limit", "-5"][..],
            &["read", "sb_a", "/f", "--limit", "lots"][..],
        ] {
            assert_eq!(parse(bad).unwrap_err().exit_code(), 2, "{bad:?}");
        }
    }
}
