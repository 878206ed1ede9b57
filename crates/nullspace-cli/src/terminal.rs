//! The local terminal of an interactive session: raw mode (restored when the guard
//! is dropped, on every way out), its size, and the detach keys.
//!
//! Raw mode passes every key, Ctrl-C and Ctrl-D included, to the remote terminal; the
//! only keys kept back are the detach sequence, Ctrl-] then `q`, which leaves the
//! session running. Ctrl-] twice sends one Ctrl-]; Ctrl-] then any other key sends both.

use std::io::IsTerminal;
use std::os::fd::{AsRawFd, RawFd};

use nullspace_api::PtySize;

/// Ctrl-]: the first key of the detach sequence.
pub const DETACH_PREFIX: u8 = 0x1d;
/// The key after [`DETACH_PREFIX`] that detaches.
pub const DETACH_KEY: u8 = b'q';
/// The detach sequence as people read it.
pub const DETACH_HELP: &str = "Ctrl-] then q";

/// Whether standard input and standard output are both terminals.
pub fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stdout().is_terminal()
}

/// The size of the terminal on standard output (or input), if either is one.
pub fn size() -> Option<PtySize> {
    let fds = [std::io::stdout().as_raw_fd(), std::io::stdin().as_raw_fd()];
    fds.into_iter().find_map(size_of)
}

fn size_of(fd: RawFd) -> Option<PtySize> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `winsize` through the pointer, which points to a
    // live, writable `winsize`; a descriptor that is not a terminal only fails.
    let rc = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) };
    (rc == 0 && ws.ws_col > 0 && ws.ws_row > 0).then_some(PtySize {
        cols: ws.ws_col,
        rows: ws.ws_row,
    })
}

/// Standard input in raw mode until dropped, which restores the saved settings.
#[derive(Debug)]
pub struct RawMode {
    fd: RawFd,
    saved: libc::termios,
}

impl RawMode {
    /// Puts standard input (a terminal) in raw mode.
    pub fn enter() -> std::io::Result<Self> {
        let fd = std::io::stdin().as_raw_fd();
        // SAFETY: an all-zero `termios` is a valid value of this plain C struct; it is
        // overwritten by tcgetattr before use.
        let mut saved: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: `saved` is a live, writable termios for tcgetattr to fill.
        if unsafe { libc::tcgetattr(fd, &mut saved) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut raw = saved;
        // SAFETY: cfmakeraw only changes the flags of the termios it is given.
        unsafe { libc::cfmakeraw(&mut raw) };
        // SAFETY: `raw` is a valid termios derived from the terminal's own settings.
        if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &raw) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Self { fd, saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY: `saved` holds the settings read from this descriptor by `enter`.
        unsafe { libc::tcsetattr(self.fd, libc::TCSANOW, &self.saved) };
    }
}

/// Watches keys for the detach sequence.
#[derive(Debug, Default)]
pub struct DetachKeys {
    /// The last key was Ctrl-].
    armed: bool,
}

impl DetachKeys {
    /// The keys of `input` to send on, and whether the detach sequence was typed (the
    /// keys after it are dropped).
    pub fn feed(&mut self, input: &[u8]) -> (Vec<u8>, bool) {
        let mut send = Vec::with_capacity(input.len());
        for &key in input {
            if self.armed {
                self.armed = false;
                match key {
                    DETACH_KEY => return (send, true),
                    DETACH_PREFIX => send.push(DETACH_PREFIX),
                    other => send.extend_from_slice(&[DETACH_PREFIX, other]),
                }
            } else if key == DETACH_PREFIX {
                self.armed = true;
            } else {
                send.push(key);
            }
        }
        (send, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys_detach_and_everything_else_passes() {
        let mut keys = DetachKeys::default();
        assert_eq!(
            keys.feed(b"ls\r\x03\x04"),
            (b"ls\r\x03\x04".to_vec(), false)
        );
        assert_eq!(keys.feed(b"a\x1d"), (b"a".to_vec(), false), "held back");
        assert_eq!(keys.feed(b"q"), (Vec::new(), true));
        let mut keys = DetachKeys::default();
        assert_eq!(keys.feed(b"\x1dqrest"), (Vec::new(), true));
        let mut keys = DetachKeys::default();
        assert_eq!(keys.feed(b"\x1d\x1d"), (vec![0x1d], false));
        assert_eq!(keys.feed(b"\x1dx"), (vec![0x1d, b'x'], false));
        assert_eq!(keys.feed(b"q"), (b"q".to_vec(), false), "q alone is a key");
    }

    #[test]
    fn size_of_a_non_terminal_is_none() {
        let file = std::fs::File::open("/dev/null").unwrap();
        assert_eq!(size_of(file.as_raw_fd()), None);
    }
}
