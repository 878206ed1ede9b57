//! Build contexts: tar archives a client uploads for `copy` steps, kept by their
//! SHA-256 under the tenant.

use std::path::PathBuf;

use axum::body::Bytes;
use futures_util::StreamExt;
use nullspace_api::ErrorCode;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::auth::Tenant;
use crate::error::{ApiError, ApiResult};
use crate::node::Upload;
use crate::state::AppState;

/// Check a context name: 64 lowercase hex digits.
pub fn check_sha(field: &str, sha: &str) -> ApiResult<()> {
    if sha.len() == 64
        && sha
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        Ok(())
    } else {
        Err(ApiError::field(
            field,
            "a context is named by its SHA-256: 64 lowercase hex digits",
        ))
    }
}

fn dir(state: &AppState, tenant: &Tenant) -> PathBuf {
    // Tenant ids are generated (`[a-z0-9_-]`), safe as one path component.
    state.settings.contexts_dir.join(&tenant.id)
}

/// Where context `sha` of the tenant is kept, if it was uploaded.
pub fn path(state: &AppState, tenant_id: &str, sha: &str) -> Option<PathBuf> {
    let p = state.settings.contexts_dir.join(tenant_id).join(sha);
    p.is_file().then_some(p)
}

fn io(what: &str, e: std::io::Error) -> ApiError {
    ApiError::new(ErrorCode::Internal, format!("{what}: {e}"))
}

/// Keep `body` as context `sha` once it hashes to `sha` (otherwise nothing is kept).
pub async fn put(state: &AppState, tenant: &Tenant, sha: &str, mut body: Upload) -> ApiResult<()> {
    check_sha("sha256", sha)?;
    let dir = dir(state, tenant);
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| io("context directory", e))?;
    let part = dir.join(format!(".{sha}.{}.part", rand::random::<u64>()));
    let result = async {
        let mut file = tokio::fs::File::create(&part)
            .await
            .map_err(|e| io("context file", e))?;
        let mut hash = Sha256::new();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|m| ApiError::new(ErrorCode::BadRequest, m))?;
            hash.update(&chunk);
            file.write_all(&chunk)
                .await
                .map_err(|e| io("context file", e))?;
        }
        file.sync_all().await.map_err(|e| io("context file", e))?;
        let got = hex::encode(hash.finalize());
        if got != sha {
            return Err(ApiError::field(
                "sha256",
                format!("the body hashes to {got}, not to {sha}"),
            ));
        }
        tokio::fs::rename(&part, dir.join(sha))
            .await
            .map_err(|e| io("context file", e))
    }
    .await;
    if result.is_err() {
        let _ = tokio::fs::remove_file(&part).await;
    }
    result
}

/// A kept context as an upload body, read in 256 KiB chunks.
pub async fn open(path: PathBuf) -> std::io::Result<Upload> {
    let file = tokio::fs::File::open(&path).await?;
    let chunks = futures_util::stream::unfold(Some(file), |file| async move {
        let mut file = file?;
        let mut buf = vec![0u8; 256 << 10];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(Bytes::from(buf)), Some(file)))
            }
            Err(e) => Some((Err(format!("reading the context: {e}")), None)),
        }
    });
    Ok(Box::pin(chunks))
}

/// Remove every context of the tenant (with the step cache they served).
pub async fn clear(state: &AppState, tenant: &Tenant) {
    let _ = tokio::fs::remove_dir_all(dir(state, tenant)).await;
}
