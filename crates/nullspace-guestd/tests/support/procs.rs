//! Helpers for tests of the process service and protocol 2.

#![allow(dead_code)]

use std::time::{Duration, Instant};

use nullspace_guest_proto::{
    AttachEnd, ExecRequest, ExecResult, Op, OpResult, ProcessAttach, ProcessInfo, ProcessStart,
    Selector,
};

use super::{Client, Guestd};

pub fn shell(cmd: &str) -> ProcessStart {
    ProcessStart {
        exec: ExecRequest {
            shell: Some(cmd.into()),
            ..Default::default()
        },
        ..Default::default()
    }
}

pub fn start(c: &mut Client, req: ProcessStart) -> ProcessInfo {
    match c.call(Op::ProcessStart(req)).ok() {
        OpResult::Process(p) => p,
        other => panic!("not a process: {other:?}"),
    }
}

pub fn list(c: &mut Client) -> Vec<ProcessInfo> {
    match c.call(Op::ProcessList).ok() {
        OpResult::Processes(ps) => ps,
        other => panic!("not processes: {other:?}"),
    }
}

pub fn find(c: &mut Client, pid: u32) -> Option<ProcessInfo> {
    list(c).into_iter().find(|p| p.pid == pid)
}

/// Wait until the process has ended (polling the list) and return how.
pub fn ended(c: &mut Client, pid: u32) -> ExecResult {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(end) = find(c, pid).expect("process is listed").end {
            return end;
        }
        assert!(Instant::now() < deadline, "process {pid} did not end");
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn attach(pid: u32, from: Option<u64>, follow: bool) -> Op {
    Op::ProcessAttach(ProcessAttach {
        process: Selector::Pid(pid),
        stdout_from: from,
        stderr_from: None,
        follow,
    })
}

pub fn attached(r: OpResult) -> AttachEnd {
    match r {
        OpResult::Attached(a) => a,
        other => panic!("not an attach end: {other:?}"),
    }
}

pub fn signal(
    c: &mut Client,
    pid: u32,
    signal: i32,
) -> Result<OpResult, nullspace_guest_proto::GuestError> {
    c.call(Op::ProcessSignal {
        process: Selector::Pid(pid),
        signal,
    })
    .end
}

pub fn big_file(g: &Guestd, mib: usize) -> String {
    let path = g.path("big.bin");
    let data: Vec<u8> = (0..mib << 20).map(|i| (i % 251) as u8).collect();
    std::fs::write(&path, data).unwrap();
    path
}

pub fn read_file(path: &str) -> Op {
    Op::ReadFile {
        path: path.into(),
        root: None,
        user: None,
        offset: 0,
        limit: None,
    }
}
