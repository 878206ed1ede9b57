//! Progress bars on standard error for transfers that take more than a moment;
//! none with `--json` or when standard output is not a terminal.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How long a transfer runs before its bar appears.
const SHOW_AFTER: Duration = Duration::from_millis(400);

/// A transfer's progress, shown once it has run for [`SHOW_AFTER`].
#[derive(Debug, Clone)]
pub struct Progress {
    bar: ProgressBar,
    start: Instant,
    enabled: bool,
}

impl Progress {
    /// Progress over `total` bytes (`None`: unknown), labelled `what`; shown
    /// only when `enabled` and standard output is a terminal.
    pub fn new(total: Option<u64>, what: &str, enabled: bool) -> Self {
        let bar = match total {
            Some(n) => ProgressBar::with_draw_target(Some(n), ProgressDrawTarget::hidden()),
            None => ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden()),
        };
        let template = if total.is_some() {
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}"
        } else {
            "{msg} {bytes} {bytes_per_sec}"
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(what.to_owned());
        Self {
            bar,
            start: Instant::now(),
            enabled: enabled && std::io::stdout().is_terminal(),
        }
    }

    /// `n` more bytes done.
    pub fn add(&self, n: u64) {
        if self.enabled && self.bar.is_hidden() && self.start.elapsed() >= SHOW_AFTER {
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
        }
        self.bar.inc(n);
    }

    /// Remove the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
