//! A guestd under test (`serve --listen-unix`) and a minimal protocol client.

#![allow(dead_code)]

pub mod procs;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nullspace_guest_proto::{
    decode, encode, CallId, Frame, GuestError, GuestMsg, HostMsg, Op, OpResult,
};

/// A running `nullspace-guestd serve --listen-unix` with its own scratch directory.
pub struct Guestd {
    child: Child,
    /// Scratch directory, removed on drop.
    pub dir: PathBuf,
    sock: PathBuf,
}

/// Uid of the test user `tester`, and gid of its primary group: absent on the host.
pub const TESTER_UID: u32 = 4242;
/// Gid of `crew`, a supplementary group of `tester`: absent on the host.
pub const CREW_GID: u32 = 4343;

impl Guestd {
    pub fn start(tag: &str) -> Self {
        Self::start_with(tag, false)
    }

    /// A guestd whose user database (`NULLSPACE_GUESTD_ETC`) has `root`, and
    /// `tester` (uid and gid 4242, also in `crew`, 4343), which the host lacks.
    pub fn start_with_users(tag: &str) -> Self {
        Self::start_with(tag, true)
    }

    fn start_with(tag: &str, users: bool) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "guestd-it-{tag}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let dir = std::fs::canonicalize(&dir).unwrap();
        let sock = dir.join("agent.sock");
        // NULLSPACE_GUESTD_BIN runs the suite against another build (e.g. the static one).
        let bin = std::env::var_os("NULLSPACE_GUESTD_BIN").map_or_else(
            || PathBuf::from(env!("CARGO_BIN_EXE_nullspace-guestd")),
            PathBuf::from,
        );
        let mut cmd = Command::new(bin);
        if users {
            cmd.env("NULLSPACE_GUESTD_ETC", test_user_db(&dir.join("etc")));
        }
        let child = cmd
            .args(["serve", "--listen-unix"])
            .arg(&sock)
            // Record identities from `hello` without changing this host's clock,
            // entropy pool or hostname.
            .env("NULLSPACE_GUESTD_NO_IDENTITY", "1")
            .stdin(Stdio::null())
            .spawn()
            .expect("start guestd");
        let g = Guestd { child, dir, sock };
        let start = Instant::now();
        while UnixStream::connect(&g.sock).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "guestd did not listen"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        g
    }

    pub fn connect(&self) -> Client {
        let stream = UnixStream::connect(&self.sock).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        Client {
            stream,
            buf: Vec::new(),
            inbox: HashMap::new(),
            order: Vec::new(),
            next_id: 1,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Peak resident memory of guestd, in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.split_whitespace().next())
            .unwrap()
            .parse()
            .unwrap()
    }

    pub fn path(&self, rel: &str) -> String {
        self.dir.join(rel).to_str().unwrap().to_string()
    }
}

/// Write `passwd` and `group` with the test users into `dir`, after checking that
/// the host does not have their ids (the tests rely on nobody else owning them).
fn test_user_db(dir: &Path) -> PathBuf {
    let host_has = |file: &str, field: usize, id: u32| {
        std::fs::read_to_string(file)
            .unwrap_or_default()
            .lines()
            .any(|l| l.split(':').nth(field) == Some(id.to_string().as_str()))
    };
    for (file, field, id) in [
        ("/etc/passwd", 2, TESTER_UID),
        ("/etc/group", 2, TESTER_UID),
        ("/etc/group", 2, CREW_GID),
    ] {
        assert!(
            !host_has(file, field, id),
            "id {id} exists in the host's {file}; the user tests need it unused"
        );
    }
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("passwd"),
        "root:x:0:0:root:/root:/bin/sh\ntester:x:4242:4242:tester:/nonexistent:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("group"),
        "root:x:0:\ntester:x:4242:\ncrew:x:4343:tester\n",
    )
    .unwrap();
    dir.to_path_buf()
}

impl Drop for Guestd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Everything that came back for one call.
#[derive(Debug)]
pub struct Reply {
    pub frames: Vec<Frame<GuestMsg>>,
    pub end: Result<OpResult, GuestError>,
}

impl Reply {
    fn bytes(&self, pick: impl Fn(&GuestMsg) -> bool) -> Vec<u8> {
        self.frames
            .iter()
            .filter(|f| pick(&f.msg))
            .flat_map(|f| f.data.iter().copied())
            .collect()
    }
    pub fn stdout(&self) -> String {
        String::from_utf8(self.bytes(|m| matches!(m, GuestMsg::Stdout { .. }))).unwrap()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8(self.bytes(|m| matches!(m, GuestMsg::Stderr { .. }))).unwrap()
    }
    pub fn data(&self) -> Vec<u8> {
        self.bytes(|m| matches!(m, GuestMsg::Data { .. }))
    }
    pub fn ok(self) -> OpResult {
        match self.end {
            Ok(r) => r,
            Err(e) => panic!("call failed: {e}"),
        }
    }
    pub fn err(self) -> GuestError {
        match self.end {
            Ok(r) => panic!("call succeeded: {r:?}"),
            Err(e) => e,
        }
    }
}

/// One connection to guestd.
pub struct Client {
    pub stream: UnixStream,
    buf: Vec<u8>,
    inbox: HashMap<CallId, Vec<Frame<GuestMsg>>>,
    /// Arrival order of frames: (call, is-terminal).
    pub order: Vec<(CallId, bool)>,
    next_id: u64,
}

fn terminal(m: &GuestMsg) -> bool {
    matches!(m, GuestMsg::Done { .. } | GuestMsg::Failed { .. })
}

impl Client {
    pub fn send(&mut self, msg: &HostMsg, data: &[u8]) {
        self.stream.write_all(&encode(msg, data)).unwrap();
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// Start a call and return its id.
    pub fn start(&mut self, op: Op) -> CallId {
        let id = CallId(self.next_id);
        self.next_id += 1;
        self.send(&HostMsg::Call { id, op }, &[]);
        id
    }

    pub fn call(&mut self, op: Op) -> Reply {
        let id = self.start(op);
        self.wait(id)
    }

    /// A call that takes input: send it all, then `input_end`.
    pub fn call_with_input(&mut self, op: Op, chunks: &[&[u8]]) -> Reply {
        let id = self.start(op);
        for c in chunks {
            self.send(&HostMsg::Input { id }, c);
        }
        self.send(&HostMsg::InputEnd { id }, &[]);
        self.wait(id)
    }

    /// Read one frame (None at end of stream).
    pub fn read_frame(&mut self) -> Option<Frame<GuestMsg>> {
        loop {
            if let Some(f) = decode::<GuestMsg>(&mut self.buf).expect("guestd sends valid frames") {
                return Some(f);
            }
            let mut chunk = [0u8; 65536];
            let n = self.stream.read(&mut chunk).expect("read from guestd");
            if n == 0 {
                return None;
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// The next frame of call `id`, keeping frames of other calls for later.
    pub fn next_frame(&mut self, id: CallId) -> Frame<GuestMsg> {
        self.next_frame_within(id, Duration::from_secs(60))
            .expect("no frame within 60 s")
    }

    /// Like [`Client::next_frame`], or `None` if none arrives within `within`.
    pub fn next_frame_within(&mut self, id: CallId, within: Duration) -> Option<Frame<GuestMsg>> {
        if let Some(fs) = self.inbox.get_mut(&id) {
            if !fs.is_empty() {
                return Some(fs.remove(0));
            }
        }
        let deadline = Instant::now() + within;
        loop {
            if let Some(f) = decode::<GuestMsg>(&mut self.buf).expect("guestd sends valid frames") {
                let fid = f.msg.id();
                self.order.push((fid, terminal(&f.msg)));
                if fid == id {
                    return Some(f);
                }
                self.inbox.entry(fid).or_default().push(f);
                continue;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            self.stream.set_read_timeout(Some(left)).unwrap();
            let mut chunk = [0u8; 65536];
            let read = self.stream.read(&mut chunk);
            self.stream
                .set_read_timeout(Some(Duration::from_secs(60)))
                .unwrap();
            match read {
                Ok(0) => panic!("connection closed"),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return None
                }
                Err(e) => panic!("read from guestd: {e}"),
            }
        }
    }

    /// `hello` speaking `protocol`.
    pub fn hello(&mut self, protocol: u32) -> nullspace_guest_proto::GuestInfo {
        match self.call(Op::Hello {
            identity: None,
            protocol,
        }) {
            Reply {
                end: Ok(OpResult::Info(info)),
                ..
            } => info,
            other => panic!("hello: {other:?}"),
        }
    }

    /// Credit `bytes` of call `id`'s output.
    pub fn credit(&mut self, id: CallId, bytes: u64) {
        self.send(&HostMsg::Credit { id, bytes }, &[]);
    }

    /// Read frames until `pred` holds for one of them, keeping the rest by call.
    pub fn wait_for(&mut self, id: CallId, pred: impl Fn(&GuestMsg) -> bool) -> Frame<GuestMsg> {
        if let Some(pos) = self
            .inbox
            .get(&id)
            .and_then(|fs| fs.iter().position(|f| pred(&f.msg)))
        {
            return self.inbox.get(&id).unwrap()[pos].clone();
        }
        loop {
            let f = self.read_frame().expect("connection closed");
            let fid = f.msg.id();
            self.order.push((fid, terminal(&f.msg)));
            self.inbox.entry(fid).or_default().push(f.clone());
            if fid == id && pred(&f.msg) {
                return f;
            }
        }
    }

    /// All frames of call `id`, through its terminal frame.
    pub fn wait(&mut self, id: CallId) -> Reply {
        let last = self.wait_for(id, terminal);
        let frames = self.inbox.remove(&id).unwrap();
        assert_eq!(
            frames.iter().filter(|f| terminal(&f.msg)).count(),
            1,
            "exactly one terminal frame"
        );
        assert!(
            terminal(&frames.last().unwrap().msg),
            "terminal frame is last"
        );
        let end = match last.msg {
            GuestMsg::Done { result, .. } => Ok(result),
            GuestMsg::Failed { error, .. } => Err(error),
            _ => unreachable!(),
        };
        Reply { frames, end }
    }
}

pub fn exists(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok()
}
