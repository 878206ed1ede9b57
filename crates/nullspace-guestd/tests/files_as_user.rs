//! File calls with a user's rights: the built binary, run as root on an ordinary
//! Linux host, with a user database of its own (`NULLSPACE_GUESTD_ETC`) whose
//! user `tester` (uid 4242) and group `crew` (4343) the host does not have.

mod support;

use std::os::unix::fs::{chown, symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nullspace_guest_proto::{EntryInfo, EntryKind, ErrorCode, Op, OpResult};
use support::{exists, Client, Guestd, CREW_GID, TESTER_UID};

const TESTER: Option<&str> = Some("tester");
const ROOT: Option<&str> = Some("root");

fn require_root() {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "these tests need root: guestd must be root to take a user's rights"
    );
}

fn user(u: Option<&str>) -> Option<String> {
    u.map(String::from)
}

fn read(path: &Path, u: Option<&str>) -> Op {
    Op::ReadFile {
        user: user(u),
        path: path.to_str().unwrap().into(),
        root: None,
        offset: 0,
        limit: None,
    }
}

fn write(path: &Path, u: Option<&str>) -> Op {
    Op::WriteFile {
        user: user(u),
        path: path.to_str().unwrap().into(),
        root: None,
        mode: None,
        owner: None,
        create_parents: false,
        append: false,
        offset: None,
    }
}

fn write_with(path: &Path, u: Option<&str>, edit: impl FnOnce(&mut Op)) -> Op {
    let mut op = write(path, u);
    edit(&mut op);
    op
}

fn entry(r: OpResult) -> EntryInfo {
    match r {
        OpResult::Entry(e) => e,
        other => panic!("not an entry: {other:?}"),
    }
}

/// A scratch layout: `sys/` is root's (0755), with `passwd` (0644) and `shadow`
/// (0600) in it; `ws/` is tester's (0755); `ws/pwlink` points at `sys/passwd`.
struct Layout {
    sys: PathBuf,
    ws: PathBuf,
}

fn layout(g: &Guestd) -> Layout {
    let sys = g.dir.join("sys");
    let ws = g.dir.join("ws");
    std::fs::create_dir(&sys).unwrap();
    std::fs::create_dir(&ws).unwrap();
    std::fs::set_permissions(&sys, PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&ws, PermissionsExt::from_mode(0o755)).unwrap();
    chown(&ws, Some(TESTER_UID), Some(TESTER_UID)).unwrap();
    std::fs::write(sys.join("passwd"), b"root:x:0:0::/root:/bin/sh\n").unwrap();
    std::fs::set_permissions(sys.join("passwd"), PermissionsExt::from_mode(0o644)).unwrap();
    std::fs::write(sys.join("shadow"), b"root:secret-hash:::::::\n").unwrap();
    std::fs::set_permissions(sys.join("shadow"), PermissionsExt::from_mode(0o600)).unwrap();
    symlink(sys.join("passwd"), ws.join("pwlink")).unwrap();
    Layout { sys, ws }
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn code(c: &mut Client, op: Op) -> ErrorCode {
    c.call(op).err().code
}

#[test]
fn write_through_a_symlink_has_the_users_rights() {
    require_root();
    let g = Guestd::start_with_users("ulink");
    let l = layout(&g);
    let mut c = g.connect();
    let before = std::fs::read(l.sys.join("passwd")).unwrap();

    let r = c.call_with_input(
        write(&l.ws.join("pwlink"), TESTER),
        &[b"pwned::0:0::/:/bin/sh\n"],
    );
    assert_eq!(r.err().code, ErrorCode::PermissionDenied);
    assert_eq!(std::fs::read(l.sys.join("passwd")).unwrap(), before);
    assert_eq!(names_in(&l.sys), ["passwd", "shadow"], "no temporary file");
    assert!(std::fs::symlink_metadata(l.ws.join("pwlink"))
        .unwrap()
        .file_type()
        .is_symlink());
    // Appending is refused the same way.
    let op = write_with(&l.ws.join("pwlink"), TESTER, |op| {
        if let Op::WriteFile { append, .. } = op {
            *append = true;
        }
    });
    assert_eq!(
        c.call_with_input(op, &[b"x"]).err().code,
        ErrorCode::PermissionDenied
    );
    assert_eq!(std::fs::read(l.sys.join("passwd")).unwrap(), before);

    // Root writes the target, and the answer describes the file written.
    let e = entry(
        c.call_with_input(write(&l.ws.join("pwlink"), ROOT), &[b"new\n"])
            .ok(),
    );
    assert_eq!(std::fs::read(l.sys.join("passwd")).unwrap(), b"new\n");
    assert_eq!(
        (e.name.as_str(), e.path.as_str(), e.kind, e.size),
        (
            "passwd",
            l.sys.join("passwd").to_str().unwrap(),
            EntryKind::File,
            4
        )
    );
    assert_eq!((e.owner.as_str(), e.mode), ("root", 0o644));
    // A user's write through its own link to its own file works the same way.
    std::fs::write(l.ws.join("mine"), b"old").unwrap();
    chown(l.ws.join("mine"), Some(TESTER_UID), Some(TESTER_UID)).unwrap();
    symlink("mine", l.ws.join("minelink")).unwrap();
    let e = entry(
        c.call_with_input(write(&l.ws.join("minelink"), TESTER), &[b"mine now"])
            .ok(),
    );
    assert_eq!((e.name.as_str(), e.kind), ("mine", EntryKind::File));
    assert_eq!(std::fs::read(l.ws.join("mine")).unwrap(), b"mine now");
}

#[test]
fn reads_have_the_users_rights() {
    require_root();
    let g = Guestd::start_with_users("uread");
    let l = layout(&g);
    let mut c = g.connect();
    let r = c.call(read(&l.sys.join("shadow"), TESTER));
    assert!(r.data().is_empty(), "no byte of a denied read is sent");
    assert_eq!(r.err().code, ErrorCode::PermissionDenied);
    // Through a symlink too.
    symlink(l.sys.join("shadow"), l.ws.join("shadowlink")).unwrap();
    assert_eq!(
        code(&mut c, read(&l.ws.join("shadowlink"), TESTER)),
        ErrorCode::PermissionDenied
    );
    // A world-readable file is readable; root reads everything.
    assert_eq!(
        c.call(read(&l.sys.join("passwd"), TESTER)).data(),
        b"root:x:0:0::/root:/bin/sh\n"
    );
    for u in [None, ROOT] {
        assert_eq!(
            c.call(read(&l.sys.join("shadow"), u)).data(),
            b"root:secret-hash:::::::\n"
        );
    }
    // A directory the user may not search hides what is in it.
    std::fs::create_dir(l.sys.join("private")).unwrap();
    std::fs::set_permissions(l.sys.join("private"), PermissionsExt::from_mode(0o700)).unwrap();
    std::fs::write(l.sys.join("private/readable"), b"x").unwrap();
    assert_eq!(
        code(&mut c, read(&l.sys.join("private/readable"), TESTER)),
        ErrorCode::PermissionDenied
    );
}

#[test]
fn writes_as_a_user_belong_to_the_user() {
    require_root();
    let g = Guestd::start_with_users("uowner");
    let l = layout(&g);
    let mut c = g.connect();
    let file = l.ws.join("new/deep/f.txt");
    let op = write_with(&file, TESTER, |op| {
        if let Op::WriteFile { create_parents, .. } = op {
            *create_parents = true;
        }
    });
    let e = entry(c.call_with_input(op, &[b"hello"]).ok());
    assert_eq!((e.owner.as_str(), e.group.as_str()), ("tester", "tester"));
    assert_eq!((e.mode, e.size), (0o644, 5));
    for p in [l.ws.join("new"), l.ws.join("new/deep"), file.clone()] {
        let m = std::fs::metadata(&p).unwrap();
        assert_eq!(
            (m.uid(), m.gid()),
            (TESTER_UID, TESTER_UID),
            "{}",
            p.display()
        );
    }
    assert_eq!(
        std::fs::metadata(l.ws.join("new")).unwrap().mode() & 0o7777,
        0o755
    );
    // Replacing keeps the mode; naming oneself as owner is fine.
    std::fs::set_permissions(&file, PermissionsExt::from_mode(0o600)).unwrap();
    let op = write_with(&file, TESTER, |op| {
        if let Op::WriteFile { owner, .. } = op {
            *owner = Some("tester".into());
        }
    });
    let e = entry(c.call_with_input(op, &[b"again"]).ok());
    assert_eq!((e.owner.as_str(), e.mode), ("tester", 0o600));
    // Giving a file to someone else is refused, and nothing is created.
    let other = l.ws.join("given/away");
    let op = write_with(&other, TESTER, |op| {
        if let Op::WriteFile {
            owner,
            create_parents,
            ..
        } = op
        {
            *owner = Some("root".into());
            *create_parents = true;
        }
    });
    assert_eq!(
        c.call_with_input(op, &[b"x"]).err().code,
        ErrorCode::PermissionDenied
    );
    assert!(!exists(&l.ws.join("given")));
    // Nor may it create where only root may.
    assert_eq!(
        c.call_with_input(write(&l.sys.join("new"), TESTER), &[b"x"])
            .err()
            .code,
        ErrorCode::PermissionDenied
    );
    assert_eq!(names_in(&l.sys), ["passwd", "shadow"]);
    // Supplementary groups count: crew may write in team/.
    let team = g.dir.join("team");
    std::fs::create_dir(&team).unwrap();
    chown(&team, Some(0), Some(CREW_GID)).unwrap();
    std::fs::set_permissions(&team, PermissionsExt::from_mode(0o770)).unwrap();
    let e = entry(
        c.call_with_input(write(&team.join("f"), TESTER), &[b"team"])
            .ok(),
    );
    assert_eq!(e.owner, "tester");
    // Root still gives files to whoever it names.
    let op = write_with(&l.sys.join("for-tester"), ROOT, |op| {
        if let Op::WriteFile { owner, .. } = op {
            *owner = Some("tester".into());
        }
    });
    assert_eq!(entry(c.call_with_input(op, &[b"x"]).ok()).owner, "tester");
    let m = std::fs::metadata(l.sys.join("for-tester")).unwrap();
    assert_eq!((m.uid(), m.gid()), (TESTER_UID, TESTER_UID));
}

#[test]
fn a_user_writes_in_place_where_it_may_not_create() {
    require_root();
    let g = Guestd::start_with_users("uinplace");
    let l = layout(&g);
    let mut c = g.connect();
    // The user's own file in root's directory.
    let own = l.sys.join("own.txt");
    std::fs::write(&own, b"a much longer old content").unwrap();
    chown(&own, Some(TESTER_UID), Some(TESTER_UID)).unwrap();
    std::fs::set_permissions(&own, PermissionsExt::from_mode(0o640)).unwrap();
    let inode = std::fs::metadata(&own).unwrap().ino();
    let e = entry(
        c.call_with_input(write(&own, TESTER), &[b"new ", b"text"])
            .ok(),
    );
    assert_eq!((e.size, e.mode, e.owner.as_str()), (8, 0o640, "tester"));
    assert_eq!(std::fs::read(&own).unwrap(), b"new text");
    assert_eq!(
        std::fs::metadata(&own).unwrap().ino(),
        inode,
        "written in place"
    );
    // Its owner may change its mode on the way.
    let op = write_with(&own, TESTER, |op| {
        if let Op::WriteFile { mode, .. } = op {
            *mode = Some(0o600);
        }
    });
    assert_eq!(entry(c.call_with_input(op, &[b"x"]).ok()).mode, 0o600);
    // A root-owned file the user may write, but not chmod.
    let shared = l.sys.join("shared.txt");
    std::fs::write(&shared, b"shared").unwrap();
    std::fs::set_permissions(&shared, PermissionsExt::from_mode(0o666)).unwrap();
    let op = write_with(&shared, TESTER, |op| {
        if let Op::WriteFile { mode, .. } = op {
            *mode = Some(0o600);
        }
    });
    assert_eq!(
        c.call_with_input(op, &[b"x"]).err().code,
        ErrorCode::PermissionDenied
    );
    assert_eq!(
        std::fs::read(&shared).unwrap(),
        b"shared",
        "refused before writing"
    );
    let e = entry(c.call_with_input(write(&shared, TESTER), &[b"ours"]).ok());
    assert_eq!((e.owner.as_str(), e.mode), ("root", 0o666));
    assert_eq!(std::fs::read(&shared).unwrap(), b"ours");
    assert_eq!(
        names_in(&l.sys),
        ["own.txt", "passwd", "shadow", "shared.txt"],
        "no temporary file"
    );
}

#[test]
fn directory_calls_have_the_users_rights() {
    require_root();
    let g = Guestd::start_with_users("utree");
    let l = layout(&g);
    let mut c = g.connect();
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let passwd = l.sys.join("passwd");
    let denied = [
        Op::Remove {
            user: user(TESTER),
            path: s(&passwd),
            root: None,
            recursive: false,
        },
        Op::Remove {
            user: user(TESTER),
            path: s(&l.sys),
            root: None,
            recursive: true,
        },
        Op::Rename {
            user: user(TESTER),
            from: s(&passwd),
            to: s(&l.ws.join("stolen")),
            root: None,
        },
        Op::Chmod {
            user: user(TESTER),
            path: s(&passwd),
            root: None,
            mode: 0o666,
        },
        // chmod follows the link to root's file.
        Op::Chmod {
            user: user(TESTER),
            path: s(&l.ws.join("pwlink")),
            root: None,
            mode: 0o666,
        },
        Op::Mkdir {
            user: user(TESTER),
            path: s(&l.sys.join("d")),
            root: None,
            mode: None,
            owner: None,
        },
        Op::Mkdir {
            user: user(TESTER),
            path: s(&l.ws.join("d")),
            root: None,
            mode: None,
            owner: Some("root".into()),
        },
    ];
    for op in denied {
        let what = format!("{op:?}");
        assert_eq!(code(&mut c, op), ErrorCode::PermissionDenied, "{what}");
    }
    assert_eq!(names_in(&l.sys), ["passwd", "shadow"]);
    assert_eq!(names_in(&l.ws), ["pwlink"]);
    assert_eq!(std::fs::metadata(&passwd).unwrap().mode() & 0o7777, 0o644);

    // In its own directory the user may do all of it, and owns what it makes.
    let r = c.call(Op::Mkdir {
        user: user(TESTER),
        path: s(&l.ws.join("d/e")),
        root: None,
        mode: Some(0o700),
        owner: Some("tester".into()),
    });
    assert_eq!(r.ok(), OpResult::Created(true));
    let m = std::fs::metadata(l.ws.join("d/e")).unwrap();
    assert_eq!((m.uid(), m.mode() & 0o7777), (TESTER_UID, 0o700));
    let e = entry(
        c.call(Op::Rename {
            user: user(TESTER),
            from: s(&l.ws.join("d")),
            to: s(&l.ws.join("d2")),
            root: None,
        })
        .ok(),
    );
    assert_eq!(e.owner, "tester");
    let r = c.call(Op::Chmod {
        user: user(TESTER),
        path: s(&l.ws.join("d2")),
        root: None,
        mode: 0o750,
    });
    assert_eq!(r.ok(), OpResult::Unit);
    // Removing the link itself is fine: the directory is the user's.
    let r = c.call(Op::Remove {
        user: user(TESTER),
        path: s(&l.ws.join("pwlink")),
        root: None,
        recursive: false,
    });
    assert_eq!(r.ok(), OpResult::Unit);
    assert!(exists(&passwd));

    // Listing, stat and exists need search and read rights.
    let private = l.sys.join("private");
    std::fs::create_dir(&private).unwrap();
    std::fs::set_permissions(&private, PermissionsExt::from_mode(0o700)).unwrap();
    std::fs::write(private.join("x"), b"x").unwrap();
    let list = |c: &mut Client, p: &Path, u: Option<&str>, depth| {
        c.call(Op::List {
            user: user(u),
            path: s(p),
            root: None,
            depth,
        })
    };
    assert_eq!(
        list(&mut c, &private, TESTER, 1).err().code,
        ErrorCode::PermissionDenied
    );
    for op in [
        Op::Stat {
            user: user(TESTER),
            path: s(&private.join("x")),
            root: None,
        },
        Op::Exists {
            user: user(TESTER),
            path: s(&private.join("x")),
            root: None,
        },
    ] {
        assert_eq!(code(&mut c, op), ErrorCode::PermissionDenied);
    }
    // A deeper listing shows the unreadable directory without descending.
    let OpResult::Entries(es) = list(&mut c, &l.sys, TESTER, 3).ok() else {
        panic!()
    };
    let paths: Vec<&str> = es.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(paths, ["passwd", "private", "shadow"]);
    // Root sees and may do everything.
    let OpResult::Entries(es) = list(&mut c, &l.sys, ROOT, 3).ok() else {
        panic!()
    };
    assert_eq!(es.len(), 4);
    let r = c.call(Op::Remove {
        user: user(ROOT),
        path: s(&private),
        root: None,
        recursive: true,
    });
    assert_eq!(r.ok(), OpResult::Unit);
    let r = c.call(Op::Chmod {
        user: None,
        path: s(&passwd),
        root: None,
        mode: 0o600,
    });
    assert_eq!(r.ok(), OpResult::Unit);
}

#[test]
fn unknown_users_are_refused() {
    require_root();
    let g = Guestd::start_with_users("unknown");
    let l = layout(&g);
    let mut c = g.connect();
    let ghost = Some("ghost");
    assert_eq!(
        code(&mut c, read(&l.sys.join("passwd"), ghost)),
        ErrorCode::UserNotFound
    );
    let r = c.call_with_input(write(&l.ws.join("f"), ghost), &[b"x"]);
    assert_eq!(r.err().code, ErrorCode::UserNotFound);
    assert!(!exists(&l.ws.join("f")));
    let op = Op::List {
        user: user(ghost),
        path: l.ws.to_str().unwrap().into(),
        root: None,
        depth: 1,
    };
    assert_eq!(code(&mut c, op), ErrorCode::UserNotFound);
}

/// Unmounts a tmpfs when dropped.
struct SmallTmpfs(PathBuf);

impl SmallTmpfs {
    fn mount(at: &Path, opts: &str) -> Self {
        std::fs::create_dir_all(at).unwrap();
        let c = |s: &str| std::ffi::CString::new(s).unwrap();
        let (src, target, fstype, data) =
            (c("tmpfs"), c(at.to_str().unwrap()), c("tmpfs"), c(opts));
        // SAFETY: every pointer is a NUL-terminated string that outlives the call.
        let ret = unsafe {
            libc::mount(
                src.as_ptr(),
                target.as_ptr(),
                fstype.as_ptr(),
                0,
                data.as_ptr().cast(),
            )
        };
        assert_eq!(
            ret,
            0,
            "the no_space test mounts a small tmpfs at {} (needs CAP_SYS_ADMIN): {}",
            at.display(),
            std::io::Error::last_os_error()
        );
        SmallTmpfs(at.to_path_buf())
    }
}

impl Drop for SmallTmpfs {
    fn drop(&mut self) {
        let target = std::ffi::CString::new(self.0.to_str().unwrap()).unwrap();
        // SAFETY: `target` is a NUL-terminated string that outlives the call.
        unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
    }
}

#[test]
fn a_full_file_system_answers_no_space() {
    require_root();
    let g = Guestd::start_with_users("nospace");
    let small = g.dir.join("small");
    let fs = SmallTmpfs::mount(&small, "size=64k,mode=0755,uid=4242,gid=4242");
    let mut c = g.connect();
    let big = vec![b'x'; 256 * 1024];
    let r = c.call_with_input(write(&small.join("big"), TESTER), &[&big, &big]);
    assert_eq!(r.err().code, ErrorCode::NoSpace);
    assert!(names_in(&small).is_empty(), "the temporary file is removed");
    // What fits is written.
    let e = entry(
        c.call_with_input(write(&small.join("f"), TESTER), &[b"fits"])
            .ok(),
    );
    assert_eq!((e.size, e.owner.as_str()), (4, "tester"));
    drop(fs);
}

/// The uid lines of every thread of process `pid`: (real, effective, saved, fs).
fn thread_uids(pid: u32) -> Vec<String> {
    let mut out = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let status =
            std::fs::read_to_string(task.unwrap().path().join("status")).unwrap_or_default();
        for key in ["Uid:", "Gid:", "Groups:", "CapEff:"] {
            if let Some(l) = status.lines().find(|l| l.starts_with(key)) {
                out.push(l.split_whitespace().collect::<Vec<_>>().join(" "));
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

#[test]
fn root_rights_are_back_after_every_user_call() {
    require_root();
    let g = Guestd::start_with_users("uback");
    let l = layout(&g);
    let mut c = g.connect();
    // Blocking threads are reused: denied and allowed user calls alternate with
    // root calls that need root's rights (reading 0600, creating in root's dir).
    for i in 0..20 {
        assert_eq!(
            code(&mut c, read(&l.sys.join("shadow"), TESTER)),
            ErrorCode::PermissionDenied
        );
        c.call(read(&l.sys.join("passwd"), TESTER)).ok();
        assert_eq!(
            c.call(read(&l.sys.join("shadow"), None)).data(),
            b"root:secret-hash:::::::\n",
            "round {i}"
        );
        let f = l.sys.join(format!("root-{i}"));
        let e = entry(c.call_with_input(write(&f, None), &[b"r"]).ok());
        assert_eq!((e.owner.as_str(), e.group.as_str()), ("root", "root"));
        let r = c.call(Op::Remove {
            user: None,
            path: f.to_str().unwrap().into(),
            root: None,
            recursive: false,
        });
        assert_eq!(r.ok(), OpResult::Unit);
    }
    // Every thread of guestd has root's credentials and capabilities again.
    let threads = thread_uids(g.pid());
    let uids: Vec<&String> = threads.iter().filter(|l| l.starts_with("Uid:")).collect();
    assert_eq!(uids, ["Uid: 0 0 0 0"], "{threads:?}");
    let caps: Vec<&String> = threads
        .iter()
        .filter(|l| l.starts_with("CapEff:"))
        .collect();
    assert_eq!(
        caps.len(),
        1,
        "all threads have the same capabilities: {threads:?}"
    );
    assert!(
        !threads
            .iter()
            .any(|l| l.contains("4242") || l.contains("4343")),
        "{threads:?}"
    );
}
