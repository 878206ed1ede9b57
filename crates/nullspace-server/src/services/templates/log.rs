//! A build's log: numbered entries written to the store as they happen, bounded
//! in count and line length; each write wakes the build's followers
//! ([`super::follow`]).

use std::collections::VecDeque;

use nullspace_api::BuildLogEntry;

use super::follow::Feed;
use crate::state::AppState;
use crate::store::LogRow;

/// Most entries a build keeps (errors and the final entries are always kept).
const MAX_ENTRIES: u64 = 10_000;
/// Longest line kept, bytes.
const MAX_LINE: usize = 4096;
/// Lines of a step's output a failure reports.
pub const LAST_LINES: usize = 20;

/// Writer of one build's log.
pub struct BuildLog {
    state: AppState,
    build: String,
    next: u64,
    dropped: u64,
    /// Wakes followers; closes when the log is dropped, after the build ended.
    feed: Feed,
}

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// `s` cut to at most [`MAX_LINE`] bytes on a character boundary.
fn cut(s: &str) -> String {
    if s.len() <= MAX_LINE {
        return s.to_owned();
    }
    let mut end = MAX_LINE;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

/// The API view of a stored entry.
pub fn entry(l: LogRow) -> BuildLogEntry {
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(l.at_ms as i128 * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default();
    BuildLogEntry {
        offset: l.offset,
        at,
        level: l.level,
        step: l.step,
        message: l.message,
    }
}

impl BuildLog {
    /// The log of build `build`, written from offset 0.
    pub fn new(state: AppState, build: String) -> Self {
        let feed = state.build_logs.open(&build);
        Self {
            state,
            build,
            next: 0,
            dropped: 0,
            feed,
        }
    }

    /// Write entries; past the cap only `error` entries are kept, the rest counted.
    pub async fn write(&mut self, level: &'static str, step: Option<u32>, lines: Vec<String>) {
        let mut rows = Vec::with_capacity(lines.len());
        for line in lines {
            if self.next >= MAX_ENTRIES && level != "error" {
                self.dropped += 1;
                continue;
            }
            rows.push(LogRow {
                offset: self.next,
                at_ms: now_ms(),
                level: level.to_owned(),
                step,
                message: cut(&line),
            });
            self.next += 1;
        }
        if rows.is_empty() {
            return;
        }
        let build = self.build.clone();
        // A log that cannot be written must not fail the build it describes.
        if let Err(e) = self
            .state
            .store_call(move |s| s.append_logs(&build, &rows))
            .await
        {
            tracing::warn!(build = %self.build, "build log write failed: {}", e.message);
        }
        self.feed.publish(self.next);
    }

    /// Write one entry.
    pub async fn line(&mut self, level: &'static str, step: Option<u32>, line: impl Into<String>) {
        self.write(level, step, vec![line.into()]).await;
    }

    /// Say how many entries the cap dropped, if any (always kept).
    pub async fn close(&mut self) {
        if self.dropped > 0 {
            let n = std::mem::take(&mut self.dropped);
            self.line(
                "error",
                None,
                format!("{n} log entries were dropped: a build keeps {MAX_ENTRIES}"),
            )
            .await;
        }
    }
}

/// Splits process output into lines, remembering the last few.
#[derive(Default)]
pub struct Lines {
    buf: Vec<u8>,
    last: VecDeque<String>,
}

impl Lines {
    /// Complete lines in `data` (with what came before).
    pub fn push(&mut self, data: &[u8]) -> Vec<String> {
        self.buf.extend_from_slice(data);
        let mut out = Vec::new();
        while let Some(i) = self.buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=i).collect();
            out.push(self.keep(&line[..line.len() - 1]));
        }
        // A line that never ends is cut, so memory stays bounded.
        if self.buf.len() > MAX_LINE {
            let line = std::mem::take(&mut self.buf);
            out.push(self.keep(&line));
        }
        out
    }

    /// What is left after the output ended.
    pub fn finish(&mut self) -> Vec<String> {
        if self.buf.is_empty() {
            return Vec::new();
        }
        let line = std::mem::take(&mut self.buf);
        vec![self.keep(&line)]
    }

    /// The last lines seen, oldest first.
    pub fn last(&self) -> Vec<String> {
        self.last.iter().cloned().collect()
    }

    fn keep(&mut self, raw: &[u8]) -> String {
        let line = cut(String::from_utf8_lossy(raw).trim_end_matches('\r'));
        if self.last.len() == LAST_LINES {
            self.last.pop_front();
        }
        self.last.push_back(line.clone());
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_across_chunks_and_long_lines_are_cut() {
        let mut l = Lines::default();
        assert_eq!(l.push(b"a\nb"), vec!["a".to_owned()]);
        assert_eq!(l.push(b"c\r\nd"), vec!["bc".to_owned()]);
        assert_eq!(l.finish(), vec!["d".to_owned()]);
        let long = vec![b'x'; MAX_LINE + 10];
        let got = l.push(&long);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].len(), MAX_LINE);
        for i in 0..30 {
            l.push(format!("{i}\n").as_bytes());
        }
        let last = l.last();
        assert_eq!(last.len(), LAST_LINES);
        assert_eq!(last.last().map(String::as_str), Some("29"));
        assert_eq!(cut(&"é".repeat(MAX_LINE)).len(), MAX_LINE);
    }
}
