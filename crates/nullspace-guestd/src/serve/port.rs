//! Transports: the virtio-serial port (production) and a unix socket (tests).
//!
//! Each has one reader thread that decodes frames and hands them to the runtime,
//! and one writer thread that writes queued frames. Both use blocking I/O.
//!
//! On the virtio port, `read` returns 0 while no host is connected; that is not an
//! end: the reader drops any partial frame, sleeps briefly and reads again.
//! Writes block in the kernel while the host is away and resume when it returns;
//! writes that fail are dropped. On the unix socket, a new connection replaces the
//! current one (as a host reconnects after a restore); frames written while no
//! client is connected are dropped.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use nullspace_guest_proto::{decode, Frame};
use serde_json::Value;
use tokio::sync::mpsc;

/// Default device of the agent port.
pub const PORT_PATH: &str = "/dev/virtio-ports/agent0";

/// Pause between reads while the virtio port has no host.
const DISCONNECTED_POLL: Duration = Duration::from_millis(2);

/// Where the agent talks to the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// A virtio-serial port device, waited for until it exists.
    Port(PathBuf),
    /// A unix socket to listen on, one client at a time.
    Unix(PathBuf),
}

/// Why the transport could not start.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The port device could not be opened.
    #[error("cannot open {}: {source}", path.display())]
    Open {
        /// The device.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The socket could not be bound.
    #[error("cannot listen on {}: {source}", path.display())]
    Listen {
        /// The socket path.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A thread could not be started.
    #[error("cannot start a transport thread: {0}")]
    Thread(io::Error),
}

/// Frames whose header is decoded only as far as JSON: the dispatcher parses
/// the envelope, so it can answer a call it cannot run.
type Inbound = mpsc::Sender<Frame<Value>>;
type Outbound = mpsc::Receiver<Vec<u8>>;

/// Start the reader and writer threads of `transport`.
pub fn start(
    transport: Transport,
    inbound: Inbound,
    outbound: Outbound,
) -> Result<(), TransportError> {
    match transport {
        Transport::Port(path) => start_port(&path, inbound, outbound),
        Transport::Unix(path) => start_unix(&path, inbound, outbound),
    }
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<(), TransportError> {
    thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .map(drop)
        .map_err(TransportError::Thread)
}

fn start_port(path: &Path, inbound: Inbound, mut outbound: Outbound) -> Result<(), TransportError> {
    let mut announced = false;
    let path = loop {
        if let Some(found) = resolve_port(path, Path::new("/sys/class/virtio-ports")) {
            break found;
        }
        if !announced {
            crate::log!("waiting for {}", path.display());
            announced = true;
        }
        thread::sleep(Duration::from_millis(5));
    };
    let path = path.as_path();
    let open = || {
        OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|source| TransportError::Open {
                path: path.into(),
                source,
            })
    };
    let reader: File = open()?;
    let mut writer = reader.try_clone().map_err(|source| TransportError::Open {
        path: path.into(),
        source,
    })?;
    crate::log!("opened {}", path.display());
    spawn("port-reader", move || {
        read_frames(reader, &inbound, true);
    })?;
    spawn("port-writer", move || {
        let mut failing = false;
        while let Some(frame) = outbound.blocking_recv() {
            match writer.write_all(&frame) {
                Ok(()) => failing = false,
                Err(e) => {
                    if !failing {
                        crate::log!("dropping frames: write failed: {e}");
                    }
                    failing = true;
                }
            }
        }
    })
}

/// The device of port `path`: `path` itself if it exists, else (with no udev to
/// make the `/dev/virtio-ports/NAME` link) the `/dev/vportNpM` node whose sysfs
/// `name` is the file name of `path`.
fn resolve_port(path: &Path, sysfs: &Path) -> Option<PathBuf> {
    if path.exists() {
        return Some(path.to_owned());
    }
    let wanted = path.file_name()?.to_str()?;
    std::fs::read_dir(sysfs).ok()?.flatten().find_map(|entry| {
        let name = std::fs::read_to_string(entry.path().join("name")).ok()?;
        (name.trim() == wanted).then(|| Path::new("/dev").join(entry.file_name()))
    })
}

/// Read and decode frames until the source ends (never, with `reconnecting`) or
/// the runtime is gone. Returns normally in both cases.
fn read_frames(mut source: impl Read, inbound: &Inbound, reconnecting: bool) {
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        match source.read(&mut chunk) {
            Ok(0) if reconnecting => {
                // No host: a partial frame from the last one will never complete.
                buf.clear();
                thread::sleep(DISCONNECTED_POLL);
                continue;
            }
            Ok(0) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if reconnecting => {
                crate::log!("read failed: {e}");
                buf.clear();
                thread::sleep(Duration::from_millis(100));
                continue;
            }
            Err(_) => return,
        }
        loop {
            match decode::<Value>(&mut buf) {
                Ok(Some(frame)) => {
                    if inbound.blocking_send(frame).is_err() {
                        return;
                    }
                }
                Ok(None) => break,
                Err(e) => crate::log!("bad frame: {e}"),
            }
        }
    }
}

/// The connection frames are written to, tagged with its sequence number.
type Current = Arc<Mutex<Option<(u64, UnixStream)>>>;

fn start_unix(path: &Path, inbound: Inbound, mut outbound: Outbound) -> Result<(), TransportError> {
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path).map_err(|source| TransportError::Listen {
        path: path.into(),
        source,
    })?;
    let current: Current = Arc::default();
    let accepted = current.clone();
    spawn("unix-accept", move || {
        for (seq, conn) in (1u64..).zip(listener.incoming()) {
            let conn = match conn {
                Ok(c) => c,
                Err(e) => {
                    crate::log!("accept failed: {e}");
                    continue;
                }
            };
            let Ok(reader) = conn.try_clone() else {
                continue;
            };
            let old = lock(&accepted).replace((seq, conn));
            if let Some((_, old)) = old {
                crate::log!("connection {seq} replaces the previous one");
                let _ = old.shutdown(std::net::Shutdown::Both);
            }
            let (inbound, current) = (inbound.clone(), accepted.clone());
            let started = spawn("unix-reader", move || {
                read_frames(reader, &inbound, false);
                let mut cur = lock(&current);
                if cur.as_ref().is_some_and(|(s, _)| *s == seq) {
                    *cur = None;
                }
            });
            if let Err(e) = started {
                crate::log!("{e}");
            }
        }
    })?;
    spawn("unix-writer", move || {
        let mut cached: Option<(u64, UnixStream)> = None;
        while let Some(frame) = outbound.blocking_recv() {
            {
                let cur = lock(&current);
                let fresh = match (&*cur, &cached) {
                    (Some((seq, _)), Some((have, _))) => seq != have,
                    (Some(_), None) => true,
                    (None, _) => false,
                };
                if fresh {
                    let (seq, conn) = cur.as_ref().expect("fresh implies a connection");
                    cached = conn.try_clone().ok().map(|c| (*seq, c));
                } else if cur.is_none() {
                    cached = None;
                }
            }
            if let Some((_, conn)) = cached.as_mut() {
                // A failed write means the client is gone; its frames are dropped.
                let _ = conn.write_all(&frame);
            }
        }
    })
}

fn lock(current: &Current) -> std::sync::MutexGuard<'_, Option<(u64, UnixStream)>> {
    current.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_is_found_by_sysfs_name() {
        let dir = std::env::temp_dir().join(format!("ns-ports-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for (dev, name) in [("vport0p1", "other\n"), ("vport0p2", "agent0\n")] {
            std::fs::create_dir_all(dir.join(dev)).unwrap();
            std::fs::write(dir.join(dev).join("name"), name).unwrap();
        }
        let found = resolve_port(Path::new("/dev/virtio-ports/agent0"), &dir);
        assert_eq!(found, Some(PathBuf::from("/dev/vport0p2")));
        assert_eq!(
            resolve_port(Path::new("/dev/virtio-ports/none"), &dir),
            None
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
