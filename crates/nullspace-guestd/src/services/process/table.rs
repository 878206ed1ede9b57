//! The table itself, and one process's shared record.
//!
//! A process is running from `process_start` until its waiter records its end
//! (exited, reaped, output at end of file); then it is exited, kept with its
//! output until [`MAX_EXITED`] later exits push it out. A pid the kernel reuses
//! replaces the exited process that had it.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use nullspace_guest_proto::{
    ExecResult, ProcessInfo, PtySize, Selector, StreamInfo, StreamKind, EXITED_BYTES, MAX_EXITED,
    RING_BYTES,
};
use tokio::sync::{mpsc, watch};

use super::pty::Master;
use super::ring::{Chunk, Ring};

/// What a process's stdin writer is asked to do.
#[derive(Debug)]
pub enum StdinMsg {
    /// Write these bytes.
    Data(Vec<u8>),
    /// Write nothing more (a pipe is closed, so the process reads end of file).
    Close,
}

/// Facts about a process fixed at start.
#[derive(Debug, Clone, Default)]
pub struct ProcMeta {
    /// Its tag.
    pub tag: Option<String>,
    /// Program and arguments as run.
    pub argv: Vec<String>,
    /// Shell command line, if started as one.
    pub shell: Option<String>,
    /// Working directory.
    pub cwd: String,
    /// User name.
    pub user: String,
    /// Start time, ms since the Unix epoch.
    pub started_unix_ms: i64,
}

#[derive(Debug)]
struct Streams {
    stdout: Ring,
    stderr: Ring,
    end: Option<ExecResult>,
}

/// One process of the table, shared by its pumps, waiter and the calls about it.
#[derive(Debug)]
pub struct Proc {
    /// Its pid (also its process group id).
    pub pid: u32,
    seq: u64,
    meta: ProcMeta,
    master: Option<Master>,
    pty_size: Mutex<Option<PtySize>>,
    streams: Mutex<Streams>,
    changed: watch::Sender<u64>,
    stdin: Mutex<Option<mpsc::Sender<StdinMsg>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Proc {
    /// A running process's record.
    pub fn new(
        pid: u32,
        meta: ProcMeta,
        pty: Option<(Master, PtySize)>,
        stdin: Option<mpsc::Sender<StdinMsg>>,
    ) -> Self {
        let (master, size) = pty.map_or((None, None), |(m, s)| (Some(m), Some(s)));
        Self {
            pid,
            seq: 0,
            meta,
            master,
            pty_size: Mutex::new(size),
            streams: Mutex::new(Streams {
                stdout: Ring::new(RING_BYTES),
                stderr: Ring::new(RING_BYTES),
                end: None,
            }),
            changed: watch::channel(0).0,
            stdin: Mutex::new(stdin),
        }
    }

    /// Its tag.
    pub fn tag(&self) -> Option<&str> {
        self.meta.tag.as_deref()
    }

    /// Record output (never waits for readers).
    pub fn push(&self, kind: StreamKind, bytes: &[u8]) {
        {
            let mut s = lock(&self.streams);
            match kind {
                StreamKind::Stdout => s.stdout.push(bytes),
                StreamKind::Stderr => s.stderr.push(bytes),
            }
        }
        self.changed.send_modify(|v| *v += 1);
    }

    /// Record how it ended (after its output reached end of file); stdin closes.
    pub fn finish(&self, end: ExecResult) {
        {
            let mut s = lock(&self.streams);
            s.end = Some(end);
            s.stdout.shrink();
            s.stderr.shrink();
        }
        lock(&self.stdin).take();
        self.changed.send_modify(|v| *v += 1);
    }

    /// Output bytes it keeps.
    pub fn kept_bytes(&self) -> u64 {
        let s = lock(&self.streams);
        let (o, e) = (s.stdout.info(), s.stderr.info());
        (o.total - o.kept_from) + (e.total - e.kept_from)
    }

    /// How it ended, if it has.
    pub fn end(&self) -> Option<ExecResult> {
        lock(&self.streams).end.clone()
    }

    /// Both streams' offsets and the end, at one instant.
    pub fn snapshot(&self) -> (StreamInfo, StreamInfo, Option<ExecResult>) {
        let s = lock(&self.streams);
        (s.stdout.info(), s.stderr.info(), s.end.clone())
    }

    /// Read kept output of `kind` from `from`.
    pub fn read(&self, kind: StreamKind, from: u64, max: usize) -> Chunk {
        let s = lock(&self.streams);
        match kind {
            StreamKind::Stdout => s.stdout.read(from, max),
            StreamKind::Stderr => s.stderr.read(from, max),
        }
    }

    /// A receiver that changes whenever output arrives or the process ends.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Its stdin writer, while stdin is open.
    pub fn stdin(&self) -> Option<mpsc::Sender<StdinMsg>> {
        lock(&self.stdin)
            .as_ref()
            .filter(|tx| !tx.is_closed())
            .cloned()
    }

    /// Close stdin for later writers; returns the writer to send `Close` to.
    pub fn take_stdin(&self) -> Option<mpsc::Sender<StdinMsg>> {
        lock(&self.stdin).take()
    }

    /// Its terminal's master, for a PTY process.
    pub fn master(&self) -> Option<&Master> {
        self.master.as_ref()
    }

    /// Record a new terminal size.
    pub fn set_pty_size(&self, size: PtySize) {
        *lock(&self.pty_size) = Some(size);
    }

    /// What `process_list` says about it.
    pub fn info(&self) -> ProcessInfo {
        let (stdout, stderr, end) = self.snapshot();
        ProcessInfo {
            pid: self.pid,
            tag: self.meta.tag.clone(),
            argv: self.meta.argv.clone(),
            shell: self.meta.shell.clone(),
            cwd: self.meta.cwd.clone(),
            user: self.meta.user.clone(),
            pty: *lock(&self.pty_size),
            started_unix_ms: self.meta.started_unix_ms,
            stdin_open: end.is_none() && self.stdin().is_some(),
            end,
            stdout,
            stderr,
        }
    }
}

/// Every process started by `process_start` that is running or still kept.
#[derive(Debug)]
pub struct ProcessTable {
    inner: Mutex<Inner>,
    /// Held across the tag check, the spawn and the insert of a start.
    starting: Mutex<()>,
    next_seq: AtomicU64,
    max_exited: usize,
    /// Output bytes the exited processes may keep between them.
    exited_bytes: u64,
}

#[derive(Debug, Default)]
struct Inner {
    procs: HashMap<u32, Arc<Proc>>,
    /// Exited processes, oldest first: (pid, seq).
    exited: VecDeque<(u32, u64)>,
}

impl Default for ProcessTable {
    fn default() -> Self {
        Self::with_max_exited(MAX_EXITED)
    }
}

impl ProcessTable {
    /// A table keeping at most `max_exited` exited processes.
    pub fn with_max_exited(max_exited: usize) -> Self {
        Self {
            inner: Mutex::default(),
            starting: Mutex::default(),
            next_seq: AtomicU64::new(1),
            max_exited,
            exited_bytes: EXITED_BYTES,
        }
    }

    /// A table whose exited processes keep at most `bytes` of output between them.
    pub fn with_exited_bytes(mut self, bytes: u64) -> Self {
        self.exited_bytes = bytes;
        self
    }

    /// Serialise starts (tag check, spawn, insert).
    pub fn starting(&self) -> MutexGuard<'_, ()> {
        lock(&self.starting)
    }

    /// Whether a running process has `tag`.
    pub fn tag_running(&self, tag: &str) -> bool {
        lock(&self.inner)
            .procs
            .values()
            .any(|p| p.tag() == Some(tag) && p.end().is_none())
    }

    /// Add a started process (replacing an exited one with the same pid).
    pub fn insert(&self, mut proc: Proc) -> Arc<Proc> {
        proc.seq = self.next_seq.fetch_add(1, Ordering::SeqCst);
        let proc = Arc::new(proc);
        let mut inner = lock(&self.inner);
        if inner.procs.insert(proc.pid, proc.clone()).is_some() {
            inner.exited.retain(|(pid, _)| *pid != proc.pid);
        }
        proc
    }

    /// The process ended: keep it among the exited, forgetting the oldest.
    pub fn exited(&self, proc: &Proc) {
        let mut inner = lock(&self.inner);
        let current = inner.procs.get(&proc.pid).map(|p| p.seq);
        if current != Some(proc.seq) {
            return;
        }
        inner.exited.push_back((proc.pid, proc.seq));
        let mut kept: u64 = inner
            .exited
            .iter()
            .filter_map(|(pid, seq)| inner.procs.get(pid).filter(|p| p.seq == *seq))
            .map(|p| p.kept_bytes())
            .sum();
        while inner.exited.len() > self.max_exited
            || (kept > self.exited_bytes && inner.exited.len() > 1)
        {
            let Some((pid, seq)) = inner.exited.pop_front() else {
                break;
            };
            if inner.procs.get(&pid).is_some_and(|p| p.seq == seq) {
                if let Some(gone) = inner.procs.remove(&pid) {
                    kept = kept.saturating_sub(gone.kept_bytes());
                }
            }
        }
    }

    /// The process `selector` names: by pid; by tag the running one, else the
    /// newest exited one.
    pub fn select(&self, selector: &Selector) -> Option<Arc<Proc>> {
        let inner = lock(&self.inner);
        match selector {
            Selector::Pid(pid) => inner.procs.get(pid).cloned(),
            Selector::Tag(tag) => {
                let tagged = || inner.procs.values().filter(|p| p.tag() == Some(tag));
                tagged()
                    .find(|p| p.end().is_none())
                    .or_else(|| tagged().max_by_key(|p| p.seq))
                    .cloned()
            }
        }
    }

    /// Every process, sorted by pid.
    pub fn list(&self) -> Vec<ProcessInfo> {
        let mut procs: Vec<Arc<Proc>> = lock(&self.inner).procs.values().cloned().collect();
        procs.sort_by_key(|p| p.pid);
        procs.iter().map(|p| p.info()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proc(pid: u32, tag: &str) -> Proc {
        let meta = ProcMeta {
            tag: Some(tag.into()),
            ..ProcMeta::default()
        };
        Proc::new(pid, meta, None, None)
    }

    fn end(code: i32) -> ExecResult {
        ExecResult {
            exit_code: Some(code),
            signal: None,
            timed_out: false,
            duration_ms: 1,
        }
    }

    #[test]
    fn tags_select_running_then_newest_exited() {
        let t = ProcessTable::default();
        let a = t.insert(proc(10, "job"));
        a.finish(end(1));
        t.exited(&a);
        let b = t.insert(proc(11, "job"));
        b.finish(end(2));
        t.exited(&b);
        let job = Selector::Tag("job".into());
        assert_eq!(t.select(&job).unwrap().pid, 11);
        assert!(!t.tag_running("job"));
        let c = t.insert(proc(5, "job"));
        assert!(t.tag_running("job"));
        assert_eq!(t.select(&job).unwrap().pid, 5);
        assert_eq!(t.select(&Selector::Pid(10)).unwrap().pid, 10);
        assert!(t.select(&Selector::Tag("none".into())).is_none());
        let pids: Vec<u32> = t.list().iter().map(|p| p.pid).collect();
        assert_eq!(pids, [5, 10, 11]);
        assert!(t.list()[0].running() && !t.list()[1].running());
        drop(c);
    }

    #[test]
    fn only_max_exited_are_kept_oldest_forgotten_first() {
        let t = ProcessTable::with_max_exited(2);
        let running = t.insert(proc(1, "r"));
        for pid in 2..6 {
            let p = t.insert(proc(pid, "x"));
            p.push(StreamKind::Stdout, b"out");
            p.finish(end(0));
            t.exited(&p);
        }
        let pids: Vec<u32> = t.list().iter().map(|p| p.pid).collect();
        assert_eq!(pids, [1, 4, 5]);
        assert_eq!(t.list()[2].stdout.total, 3);
        // A reused pid replaces the exited process that had it.
        let again = t.insert(proc(4, "y"));
        assert!(again.end().is_none());
        assert_eq!(t.list().len(), 3);
        assert_eq!(t.select(&Selector::Pid(4)).unwrap().tag(), Some("y"));
        drop(running);
    }

    #[test]
    fn exited_output_is_bounded_in_bytes_newest_always_kept() {
        let t = ProcessTable::with_max_exited(100).with_exited_bytes(10);
        for pid in 1..5 {
            let p = t.insert(proc(pid, "x"));
            p.push(StreamKind::Stdout, b"four");
            p.finish(end(0));
            t.exited(&p);
        }
        // 4 bytes each, 10 at most between them: the two newest stay.
        let pids: Vec<u32> = t.list().iter().map(|p| p.pid).collect();
        assert_eq!(pids, [3, 4]);
        let big = t.insert(proc(9, "big"));
        big.push(StreamKind::Stderr, &[0u8; 64]);
        big.finish(end(0));
        t.exited(&big);
        let pids: Vec<u32> = t.list().iter().map(|p| p.pid).collect();
        assert_eq!(pids, [9], "the newest is kept even over the budget");
    }

    #[tokio::test]
    async fn output_and_end_wake_subscribers_and_close_stdin() {
        let (tx, _rx) = mpsc::channel(1);
        let p = Proc::new(7, ProcMeta::default(), None, Some(tx));
        let mut changes = p.subscribe();
        assert!(p.info().stdin_open);
        p.push(StreamKind::Stderr, b"e");
        changes.changed().await.unwrap();
        assert_eq!(p.read(StreamKind::Stderr, 0, 10).bytes, b"e");
        p.finish(end(3));
        changes.changed().await.unwrap();
        let info = p.info();
        assert!(!info.stdin_open && !info.running());
        assert!(p.stdin().is_none());
    }
}
