//! Pieces several routes share: the API view of node entries, the guest user
//! of a file call, the running-machine check and bounded upload bodies.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::body::{Body, Bytes};
use futures_util::StreamExt;
use nullspace_api::{EntryInfo, EntryType, ErrorCode, DEFAULT_USER};
use nullspace_types::MachineId;

use crate::auth::Tenant;
use crate::error::{ApiError, ApiResult};
use crate::node::{self, EntryKind, Upload};
use crate::params;
use crate::services;
use crate::state::AppState;

/// The guest user an operation runs as (`user` unless named).
pub fn user(u: Option<String>) -> ApiResult<String> {
    params::user("user", u.as_deref().unwrap_or(DEFAULT_USER))
}

/// `rwxr-xr-x` of permission bits.
pub fn permissions(mode: u32) -> String {
    (0..9)
        .map(|i| {
            let bit = 1 << (8 - i);
            if mode & bit == 0 {
                '-'
            } else {
                ['r', 'w', 'x'][i % 3]
            }
        })
        .collect()
}

/// The API view of a node entry.
pub fn entry(e: node::Entry) -> EntryInfo {
    EntryInfo {
        name: e.name,
        path: e.path,
        kind: match e.kind {
            EntryKind::File => EntryType::File,
            EntryKind::Dir => EntryType::Dir,
            EntryKind::Symlink => EntryType::Symlink,
            EntryKind::Other => EntryType::Other,
        },
        size: e.size,
        mode: e.mode,
        permissions: permissions(e.mode),
        owner: e.owner,
        group: e.group,
        modified_time: crate::store::rfc3339(e.modified_ms.div_euclid(1000)),
        symlink_target: e.symlink_target,
    }
}

/// Machine `id` of `tenant`, checked to be running.
pub async fn running(state: &AppState, tenant: &Tenant, id: &str) -> ApiResult<MachineId> {
    let id = params::machine_id(id)?;
    services::lifecycle::running(state, tenant, &id).await?;
    Ok(id)
}

/// The request body as an [`Upload`] cut at `max` bytes; `over` is set when the
/// cut happens.
pub fn bounded_upload(body: Body, max: u64, over: Arc<AtomicBool>) -> Upload {
    let mut seen = 0u64;
    let chunks = body.into_data_stream().map(move |chunk| {
        let chunk: Bytes = chunk.map_err(|e| format!("reading the request body: {e}"))?;
        seen += chunk.len() as u64;
        if seen > max {
            over.store(true, Ordering::SeqCst);
            return Err(format!("the body is larger than {max} bytes"));
        }
        Ok(chunk)
    });
    // Nothing is read past the first error.
    Box::pin(chunks.scan(false, |failed, c| {
        let out = (!*failed).then_some(c.clone());
        *failed |= c.is_err();
        std::future::ready(out)
    }))
}

pub fn too_large(max: u64) -> ApiError {
    ApiError::new(
        ErrorCode::PayloadTooLarge,
        format!("a file upload is at most {max} bytes"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::{Body, Bytes};
    use futures_util::{stream, StreamExt};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    #[test]
    fn permission_strings() {
        assert_eq!(permissions(0o754), "rwxr-xr--");
    }

    #[tokio::test]
    async fn uploads_are_cut_at_the_limit() {
        let big = Bytes::from(vec![0u8; 1 << 20]);
        let max = 8 << 20;
        let n = (max >> 20) + 1;
        let body = Body::from_stream(stream::iter(
            (0..n).map(move |_| Ok::<_, std::io::Error>(big.clone())),
        ));
        let over = Arc::new(AtomicBool::new(false));
        let mut upload = bounded_upload(body, max, over.clone());
        let (mut ok, mut errors) = (0u64, 0);
        while let Some(c) = upload.next().await {
            match c {
                Ok(c) => ok += c.len() as u64,
                Err(_) => errors += 1,
            }
        }
        assert_eq!((ok, errors), (max, 1));
        assert!(over.load(Ordering::SeqCst));
    }
}
