//! Line logging to the console (init modes) or standard error (serve).

use std::fmt;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::sync::OnceLock;

/// Where log lines go and how they are prefixed.
#[derive(Debug, Clone, Copy)]
pub struct LogTarget {
    /// Prefix of every line, e.g. `nullspace-init`.
    pub prefix: &'static str,
    /// Write to `/dev/console` instead of standard error.
    pub console: bool,
}

static TARGET: OnceLock<LogTarget> = OnceLock::new();

/// Choose the log target for this process; the first call wins.
pub fn init(target: LogTarget) {
    let _ = TARGET.set(target);
}

/// Write one formatted line to the chosen target.
pub fn write(args: fmt::Arguments<'_>) {
    let target = TARGET.get().copied().unwrap_or(LogTarget {
        prefix: "nullspace-guestd",
        console: false,
    });
    let line = format!("{}: {}\n", target.prefix, args);
    if target.console {
        if let Ok(mut console) = std::fs::OpenOptions::new()
            .append(true)
            // Never make the console our controlling terminal.
            .custom_flags(libc::O_NOCTTY)
            .open("/dev/console")
        {
            if console.write_all(line.as_bytes()).is_ok() {
                return;
            }
        }
    }
    let _ = std::io::stderr().write_all(line.as_bytes());
}

/// Log a formatted line with the process-wide prefix.
#[macro_export]
macro_rules! log {
    ($($arg:tt)*) => {
        $crate::log::write(format_args!($($arg)*))
    };
}
