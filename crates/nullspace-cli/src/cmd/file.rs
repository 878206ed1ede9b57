//! `nullspace sandbox file …`: files of a machine.

use std::path::PathBuf;

use base64::Engine;
use clap::{Args, Subcommand, ValueEnum};
use nullspace_api::WriteFilesRequest;
use nullspace_types::MachineId;

use super::sandbox::read_bytes;
use super::{Ctx, Outcome, OK};
use crate::args::{OctalMode, WriteFiles};
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

/// Subcommands of `sandbox file`.
#[derive(Debug, Subcommand)]
pub enum FileCommand {
    /// Print a file (raw bytes unless --encoding is given).
    Read {
        /// Machine id (sb_…).
        id: MachineId,
        /// File path (absolute, or relative to /workspace).
        path: String,
        /// Print as text or base64 (with --json: the content field's encoding).
        #[arg(long, value_enum)]
        encoding: Option<Encoding>,
    },
    /// Write a file from standard input or --content (parents are created).
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
        /// Owner in the machine (server default `user`).
        #[arg(long)]
        user: Option<String>,
        /// Permission bits in octal, e.g. 0644.
        #[arg(long)]
        mode: Option<OctalMode>,
    },
    /// Write several files: '[["/a","x"],["/b","y"]]'.
    WriteFiles {
        /// Machine id (sb_…).
        id: MachineId,
        /// JSON list of [path, content] pairs or {"path","content"|"content_base64"} objects.
        files: WriteFiles,
        /// Owner in the machine (server default `user`).
        #[arg(long)]
        user: Option<String>,
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
    },
    /// Print whether a path exists (true/false).
    Exists {
        /// Machine id (sb_…).
        id: MachineId,
        /// Path.
        path: String,
    },
    /// Show facts about a path.
    Info {
        /// Machine id (sb_…).
        id: MachineId,
        /// Path.
        path: String,
    },
    /// Create a directory with its parents.
    Mkdir {
        /// Machine id (sb_…).
        id: MachineId,
        /// Directory path.
        path: String,
        /// Owner in the machine (server default `user`).
        #[arg(long)]
        user: Option<String>,
    },
    /// Move or rename a path.
    Mv {
        /// Machine id (sb_…).
        id: MachineId,
        /// Current path.
        source: String,
        /// New path.
        destination: String,
    },
    /// Change permission bits.
    Chmod {
        /// Machine id (sb_…).
        id: MachineId,
        /// Path.
        path: String,
        /// Permission bits in octal, e.g. 0644.
        mode: OctalMode,
    },
    /// Remove a file, or an empty directory (with --recursive, any directory).
    Rm {
        /// Machine id (sb_…).
        id: MachineId,
        /// Path.
        path: String,
        /// Remove a directory and everything in it.
        #[arg(long, short)]
        recursive: bool,
    },
}

/// Runs `sandbox file …`.
pub async fn run(ctx: &Ctx, args: FileArgs) -> Outcome {
    let client = ctx.client()?;
    let json = ctx.json();
    match args.command {
        FileCommand::Read { id, path, encoding } => {
            let bytes = client.read_file(&id, &path).await?;
            read_output(json, &path, &bytes, encoding)?;
        }
        FileCommand::Write {
            id,
            path,
            content,
            from_file,
            user,
            mode,
        } => {
            let bytes = match (content, from_file) {
                (Some(text), _) => text.into_bytes(),
                (None, Some(file)) => read_bytes(&file)?.1,
                (None, None) => read_bytes(std::path::Path::new("-"))?.1,
            };
            let info = client
                .write_file(&id, &path, bytes, user.as_deref(), mode.map(|m| m.0))
                .await?;
            if json {
                output::json(&info)?;
            } else {
                output::line(&format!("wrote {} ({} bytes)", info.path, info.size))?;
            }
        }
        FileCommand::WriteFiles { id, files, user } => {
            let request = WriteFilesRequest {
                files: files.0,
                user,
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
        FileCommand::List { id, path, depth } => {
            let list = client.list_files(&id, &path, depth).await?;
            if json {
                output::json(&list)?;
            } else if !list.entries.is_empty() {
                output::line(&output::entries(&list.entries))?;
            }
        }
        FileCommand::Exists { id, path } => {
            let exists = client.exists(&id, &path).await?;
            if json {
                output::json(&serde_json::json!({ "exists": exists }))?;
            } else {
                output::line(if exists { "true" } else { "false" })?;
            }
        }
        FileCommand::Info { id, path } => {
            let info = client.file_info(&id, &path).await?;
            if json {
                output::json(&info)?;
            } else {
                output::line(&output::entry(&info))?;
            }
        }
        FileCommand::Mkdir { id, path, user } => {
            let created = client.mkdir(&id, &path, user.as_deref()).await?;
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
        } => {
            let info = client.rename(&id, &source, &destination).await?;
            if json {
                output::json(&info)?;
            } else {
                output::line(&format!("moved {source} to {}", info.path))?;
            }
        }
        FileCommand::Chmod { id, path, mode } => {
            let info = client.chmod(&id, &path, mode.0).await?;
            if json {
                output::json(&info)?;
            } else {
                output::line(&format!(
                    "{} is now {:04o} ({})",
                    info.path, info.mode, info.permissions
                ))?;
            }
        }
        FileCommand::Rm {
            id,
            path,
            recursive,
        } => {
            client.remove(&id, &path, recursive).await?;
            if json {
                output::json(&serde_json::json!({ "path": path, "removed": true }))?;
            } else {
                output::line(&format!("removed {path}"))?;
            }
        }
    }
    Ok(OK)
}

/// Prints the content of `file read`.
fn read_output(
    json: bool,
    path: &str,
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
