//! Resumable uploads for `sandbox upload`: a session, chunks read from a local
//! file and sent in parallel (each with its SHA-256, retried on transport
//! failures), then completion with the whole file's SHA-256.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use nullspace_api::Upload;
use nullspace_client::{Body, Client, ClientError};
use nullspace_types::MachineId;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use crate::error::CliError;
use crate::progress::Progress;

/// Tries per chunk before the upload fails (and can be resumed).
const TRIES: u32 = 3;

fn read_error(path: &Path, source: std::io::Error) -> CliError {
    CliError::ReadInput {
        what: path.display().to_string(),
        source,
    }
}

/// The SHA-256 (hex) of a local file.
pub async fn sha256_of(path: &Path) -> Result<String, CliError> {
    let p = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let mut f = std::fs::File::open(&p).map_err(|e| read_error(&p, e))?;
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = f.read(&mut buf).map_err(|e| read_error(&p, e))?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        Ok(hex::encode(h.finalize()))
    })
    .await
    .map_err(|e| CliError::Runtime(std::io::Error::other(e)))?
}

/// Chunk `index` of `path` for `upload`.
fn read_chunk(path: &Path, upload: &Upload, index: u64) -> Result<Vec<u8>, CliError> {
    let mut f = std::fs::File::open(path).map_err(|e| read_error(path, e))?;
    let start = index * upload.chunk_size;
    let len = upload.chunk_size.min(upload.size.saturating_sub(start)) as usize;
    f.seek(SeekFrom::Start(start))
        .map_err(|e| read_error(path, e))?;
    let mut buf = vec![0u8; len];
    f.read_exact(&mut buf).map_err(|e| read_error(path, e))?;
    Ok(buf)
}

/// Whether a failed chunk is worth sending again.
fn retryable(e: &CliError) -> bool {
    match e {
        CliError::Client(ClientError::Api { status, .. }) => *status >= 500 || *status == 429,
        CliError::Client(ClientError::Http { status, .. }) => *status >= 500,
        CliError::Client(ClientError::Transport { .. }) => true,
        _ => false,
    }
}

/// Send every chunk of `upload` not yet received, `concurrency` at a time.
pub async fn send_missing(
    client: &Client,
    id: &MachineId,
    upload: &Upload,
    path: &Path,
    concurrency: usize,
    progress: &Progress,
) -> Result<(), CliError> {
    let received: std::collections::HashSet<u64> = upload.received.iter().copied().collect();
    progress.add(upload.bytes_received);
    let gate = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for index in (0..upload.chunks).filter(|i| !received.contains(i)) {
        let permit = gate
            .clone()
            .acquire_owned()
            .await
            .expect("the gate stays open");
        let (client, id, upload, path, progress): (Client, MachineId, Upload, PathBuf, Progress) = (
            client.clone(),
            id.clone(),
            upload.clone(),
            path.to_path_buf(),
            progress.clone(),
        );
        tasks.spawn(async move {
            let _permit = permit;
            send_one(&client, &id, &upload, &path, index).await?;
            progress.add(
                upload
                    .chunk_size
                    .min(upload.size - index * upload.chunk_size),
            );
            Ok::<(), CliError>(())
        });
        // Stop early once a chunk failed for good.
        while let Some(done) = tasks.try_join_next() {
            done.map_err(|e| CliError::Runtime(std::io::Error::other(e)))??;
        }
    }
    while let Some(done) = tasks.join_next().await {
        done.map_err(|e| CliError::Runtime(std::io::Error::other(e)))??;
    }
    Ok(())
}

async fn send_one(
    client: &Client,
    id: &MachineId,
    upload: &Upload,
    path: &Path,
    index: u64,
) -> Result<(), CliError> {
    let mut tries = 0;
    loop {
        tries += 1;
        let (p, u) = (path.to_path_buf(), upload.clone());
        let bytes = tokio::task::spawn_blocking(move || read_chunk(&p, &u, index))
            .await
            .map_err(|e| CliError::Runtime(std::io::Error::other(e)))??;
        let sha = hex::encode(Sha256::digest(&bytes));
        let sent = client
            .upload_chunk(id, &upload.upload_id, index, Body::from(bytes), Some(&sha))
            .await
            .map(drop)
            .map_err(CliError::from);
        match sent {
            Err(e) if tries < TRIES && retryable(&e) => {
                tokio::time::sleep(Duration::from_millis(200 * u64::from(tries))).await;
            }
            other => return other,
        }
    }
}
