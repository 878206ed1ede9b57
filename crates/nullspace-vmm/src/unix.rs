//! Connecting to unix sockets that a VMM creates a moment after it starts.

use std::path::Path;
use std::time::{Duration, Instant};

use tokio::net::UnixStream;

/// Pause between connection attempts.
const RETRY: Duration = Duration::from_millis(1);

/// Connect to the socket at `path`, retrying until `timeout`; the last error is
/// returned if it never accepts.
pub async fn connect_with_retry(path: &Path, timeout: Duration) -> std::io::Result<UnixStream> {
    let deadline = Instant::now() + timeout;
    loop {
        match UnixStream::connect(path).await {
            Ok(s) => return Ok(s),
            Err(e) if Instant::now() >= deadline => return Err(e),
            Err(_) => tokio::time::sleep(RETRY).await,
        }
    }
}
