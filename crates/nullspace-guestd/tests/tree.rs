//! The tree-wide file calls of protocol 4 over the real agent: name search,
//! content search, replace, archives both ways, digests, offset writes and
//! watches. Run as root on an ordinary Linux host.

mod support;

use std::os::unix::fs::{symlink, PermissionsExt};
use std::time::Duration;

use nullspace_guest_proto::{
    Conflict, ErrorCode, ExtractRequest, FindRequest, FsEventKind, GuestMsg, HostMsg, Op, OpResult,
    ReplaceRequest, Scope, SearchRequest, TextMatch, WatchRequest,
};
use support::Guestd;

fn scope(path: &str) -> Scope {
    Scope {
        path: path.into(),
        root: None,
        user: None,
    }
}

fn text(pattern: &str, regex: bool) -> TextMatch {
    TextMatch {
        pattern: pattern.into(),
        regex,
        case_sensitive: true,
        include: None,
    }
}

fn tree(g: &Guestd) -> String {
    let root = g.path("tree");
    std::fs::create_dir_all(format!("{root}/src/deep")).unwrap();
    std::fs::write(format!("{root}/a.py"), "x = 1  # TODO\nprint(x)\n").unwrap();
    std::fs::write(format!("{root}/src/b.py"), "TODO: more\nold old\n").unwrap();
    std::fs::write(format!("{root}/src/deep/c.rs"), "fn old() {}\n").unwrap();
    std::fs::write(format!("{root}/bin.dat"), b"TODO\0binary").unwrap();
    std::fs::write(format!("{root}/sp ace\nname.txt"), "TODO spaced\n").unwrap();
    symlink("/etc", format!("{root}/etc-link")).unwrap();
    root
}

#[test]
fn names_are_searched_by_glob() {
    let g = Guestd::start("search");
    let root = tree(&g);
    let mut c = g.connect();
    c.hello(4);
    let search = |pattern: &str, limit| {
        Op::SearchFiles(SearchRequest {
            scope: scope(&root),
            pattern: pattern.into(),
            limit,
        })
    };
    let OpResult::Search { entries, truncated } = c.call(search("*.py", 100)).ok() else {
        panic!()
    };
    let names: Vec<_> = entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["a.py", "b.py"]);
    assert!(!truncated);
    let OpResult::Search { entries, .. } = c.call(search("src/**/*.rs", 100)).ok() else {
        panic!()
    };
    assert_eq!(entries.len(), 1);
    assert!(entries[0].path.ends_with("/src/deep/c.rs"));
    let OpResult::Search { entries, truncated } = c.call(search("*", 2)).ok() else {
        panic!()
    };
    assert!(truncated && entries.len() == 2);
    // The symlink is listed, never followed into /etc.
    let OpResult::Search { entries, .. } = c.call(search("passwd", 100)).ok() else {
        panic!()
    };
    assert!(entries.is_empty());
    assert_eq!(
        c.call(search("[", 10)).err().code,
        ErrorCode::InvalidPattern
    );
    let missing = Op::SearchFiles(SearchRequest {
        scope: scope(&g.path("nope")),
        pattern: "*".into(),
        limit: 10,
    });
    assert_eq!(c.call(missing).err().code, ErrorCode::NotFound);
    let file = Op::SearchFiles(SearchRequest {
        scope: scope(&format!("{root}/a.py")),
        pattern: "*".into(),
        limit: 10,
    });
    assert_eq!(c.call(file).err().code, ErrorCode::NotADirectory);
}

#[test]
fn contents_are_found_and_replaced() {
    let g = Guestd::start("find");
    let root = tree(&g);
    let mut c = g.connect();
    c.hello(4);
    let find = |t: TextMatch| {
        Op::FindInFiles(FindRequest {
            scope: scope(&root),
            text: t,
            max_results: 100,
            max_file_bytes: 1 << 20,
        })
    };
    let OpResult::Found(found) = c.call(find(text("TODO", false))).ok() else {
        panic!()
    };
    let got: Vec<_> = found
        .matches
        .iter()
        .map(|m| {
            (
                m.path.strip_prefix(&root).unwrap().to_owned(),
                m.line,
                m.column,
            )
        })
        .collect();
    // The binary file is skipped; the name with a space and a newline is found.
    assert_eq!(
        got,
        [
            ("/a.py".to_string(), 1, 10),
            ("/sp ace\nname.txt".to_string(), 1, 1),
            ("/src/b.py".to_string(), 1, 1)
        ]
    );
    assert_eq!(found.files_scanned, 4);
    let mut only_rs = text(r"fn \w+", true);
    only_rs.include = Some("*.rs".into());
    let OpResult::Found(found) = c.call(find(only_rs)).ok() else {
        panic!()
    };
    assert_eq!(found.matches.len(), 1);
    assert_eq!(found.matches[0].text, "fn old() {}");
    assert_eq!(
        c.call(find(text("(", true))).err().code,
        ErrorCode::InvalidPattern
    );

    let replace = |paths: Vec<String>, dry_run| {
        Op::ReplaceInFiles(ReplaceRequest {
            paths,
            root: None,
            user: None,
            text: text(r"old(\w*)", true),
            replacement: "new$1".into(),
            dry_run,
            max_files: 100,
        })
    };
    let b = format!("{root}/src/b.py");
    std::fs::set_permissions(&b, std::fs::Permissions::from_mode(0o640)).unwrap();
    let OpResult::Replaced(dry) = c.call(replace(vec![root.clone()], true)).ok() else {
        panic!()
    };
    assert_eq!(dry.total_replacements, 3);
    assert_eq!(
        std::fs::read_to_string(&b).unwrap(),
        "TODO: more\nold old\n"
    );
    let OpResult::Replaced(done) = c.call(replace(vec![b.clone()], false)).ok() else {
        panic!()
    };
    assert_eq!(done.files.len(), 1);
    assert_eq!(done.files[0].replacements, 2);
    assert_eq!(
        std::fs::read_to_string(&b).unwrap(),
        "TODO: more\nnew new\n"
    );
    let mode = std::fs::metadata(&b).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640, "a replace keeps the file's mode");
    let missing = replace(vec![b.clone(), g.path("nope")], false);
    assert_eq!(c.call(missing).err().code, ErrorCode::NotFound);
}

fn tar_of(entries: &[(&str, &[u8])], link: Option<(&str, &str)>) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o640);
        h.set_cksum();
        b.append_data(&mut h, name, *data).unwrap();
    }
    if let Some((name, target)) = link {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        b.append_link(&mut h, name, target).unwrap();
    }
    b.into_inner().unwrap()
}

#[test]
fn archives_unpack_with_each_policy_and_pack_back() {
    let g = Guestd::start("archive");
    let mut c = g.connect();
    c.hello(4);
    let dest = g.path("dest");
    let extract = |conflict| {
        Op::ExtractArchive(ExtractRequest {
            scope: scope(&dest),
            conflict,
            source: None,
        })
    };
    let first = tar_of(
        &[("a.txt", b"one"), ("d/ü b.txt", b"two")],
        Some(("l", "a.txt")),
    );
    // Sent in small pieces: the archive is unpacked as it arrives.
    let pieces: Vec<&[u8]> = first.chunks(700).collect();
    let OpResult::Extracted(facts) = c.call_with_input(extract(Conflict::Merge), &pieces).ok()
    else {
        panic!()
    };
    assert_eq!((facts.files, facts.symlinks, facts.bytes), (2, 1, 6));
    assert_eq!(
        std::fs::read_to_string(format!("{dest}/d/ü b.txt")).unwrap(),
        "two"
    );
    assert_eq!(
        std::fs::read_link(format!("{dest}/l")).unwrap().to_str(),
        Some("a.txt")
    );
    let mode = std::fs::metadata(format!("{dest}/a.txt"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o640);
    std::fs::write(format!("{dest}/keep"), "mine").unwrap();

    let second = tar_of(&[("a.txt", b"ONE"), ("new", b"n")], None);
    c.call_with_input(extract(Conflict::Skip), &[&second]).ok();
    assert_eq!(
        std::fs::read_to_string(format!("{dest}/a.txt")).unwrap(),
        "one"
    );
    assert_eq!(std::fs::read_to_string(format!("{dest}/new")).unwrap(), "n");
    c.call_with_input(extract(Conflict::Merge), &[&second]).ok();
    assert_eq!(
        std::fs::read_to_string(format!("{dest}/a.txt")).unwrap(),
        "ONE"
    );
    assert!(support::exists(std::path::Path::new(&format!(
        "{dest}/keep"
    ))));
    let err = c
        .call_with_input(extract(Conflict::Error), &[&second])
        .err();
    assert_eq!(err.code, ErrorCode::AlreadyExists);
    c.call_with_input(extract(Conflict::Replace), &[&second])
        .ok();
    let mut names: Vec<_> = std::fs::read_dir(&dest)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["a.txt", "new"],
        "replace leaves exactly the archive"
    );

    // Escapes are refused: `..`, and writing through a symlink.
    let mut evil = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(1);
    h.set_mode(0o644);
    let name = b"../evil";
    h.as_old_mut().name[..name.len()].copy_from_slice(name);
    h.set_cksum();
    evil.append(&h, &b"x"[..]).unwrap();
    let evil = evil.into_inner().unwrap();
    let err = c.call_with_input(extract(Conflict::Merge), &[&evil]).err();
    assert_eq!(err.code, ErrorCode::PathEscapesRoot);
    assert!(!support::exists(std::path::Path::new(&g.path("evil"))));
    let mut linked = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    linked.append_link(&mut h, "x", "/tmp").unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_size(1);
    h.set_mode(0o644);
    h.set_cksum();
    linked.append_data(&mut h, "x/pwned", &b"x"[..]).unwrap();
    let linked = linked.into_inner().unwrap();
    let err = c
        .call_with_input(extract(Conflict::Merge), &[&linked])
        .err();
    assert_eq!(err.code, ErrorCode::PathEscapesRoot);
    assert!(!support::exists(std::path::Path::new("/tmp/pwned")));

    // Packed back: the same entries come out.
    let r = c.call(Op::CreateArchive(scope(&dest)));
    let bytes = r.data();
    let OpResult::Read { size } = r.ok() else {
        panic!()
    };
    assert_eq!(size as usize, bytes.len());
    let mut archive = tar::Archive::new(&bytes[..]);
    let mut names: Vec<_> = archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.contains(&"a.txt".to_string()) && names.contains(&"new".to_string()));
    let file = Op::CreateArchive(scope(&format!("{dest}/a.txt")));
    assert_eq!(c.call(file).err().code, ErrorCode::NotADirectory);
}

#[test]
fn offset_writes_assemble_a_file_and_digests_check_it() {
    let g = Guestd::start("offset");
    let mut c = g.connect();
    c.hello(4);
    let path = g.path("big.part");
    let write_at = |offset| Op::WriteFile {
        user: None,
        path: path.clone(),
        root: None,
        mode: None,
        owner: None,
        create_parents: false,
        append: false,
        offset: Some(offset),
    };
    // Chunks out of order.
    c.call_with_input(write_at(4), &[b"5678"]).ok();
    c.call_with_input(write_at(0), &[b"1234"]).ok();
    c.call_with_input(write_at(8), &[b"9"]).ok();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "123456789");
    let OpResult::Digest(d) = c.call(Op::DigestFile(scope(&path))).ok() else {
        panic!()
    };
    assert_eq!(d.size, 9);
    assert_eq!(
        d.sha256,
        "15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225"
    );
    let err = c.call(Op::DigestFile(scope(&g.path("nope")))).err();
    assert_eq!(err.code, ErrorCode::NotFound);
}

#[test]
fn watches_report_changes_until_cancelled() {
    let g = Guestd::start("watch");
    let dir = g.path("watched");
    std::fs::create_dir_all(&dir).unwrap();
    let mut c = g.connect();
    c.hello(4);
    let id = c.start(Op::WatchDir(WatchRequest {
        scope: scope(&dir),
        recursive: true,
    }));
    let ready = c.next_frame(id);
    assert!(
        matches!(ready.msg, GuestMsg::Ready { .. }),
        "{:?}",
        ready.msg
    );
    std::fs::create_dir(format!("{dir}/sub")).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    std::fs::write(format!("{dir}/sub/f"), "x").unwrap();
    std::fs::rename(format!("{dir}/sub/f"), format!("{dir}/g")).unwrap();
    std::fs::set_permissions(format!("{dir}/g"), std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::remove_file(format!("{dir}/g")).unwrap();
    let mut seen = Vec::new();
    while seen.len() < 7 {
        let Some(f) = c.next_frame_within(id, Duration::from_secs(5)) else {
            break;
        };
        if let GuestMsg::FsEvent { event, .. } = f.msg {
            seen.push((
                event.kind,
                event.path.strip_prefix(&dir).unwrap().to_owned(),
            ));
        }
    }
    for want in [
        (FsEventKind::Create, "/sub"),
        (FsEventKind::Create, "/sub/f"),
        (FsEventKind::Write, "/sub/f"),
        (FsEventKind::Rename, "/sub/f"),
        (FsEventKind::Create, "/g"),
        (FsEventKind::Chmod, "/g"),
        (FsEventKind::Remove, "/g"),
    ] {
        assert!(
            seen.contains(&(want.0, want.1.to_string())),
            "{want:?} not in {seen:?}"
        );
    }
    c.send(&HostMsg::Cancel { id }, &[]);
    let end = c.wait(id);
    assert!(end.end.is_err(), "a cancelled watch ends");
    let missing = c.call(Op::WatchDir(WatchRequest {
        scope: scope(&g.path("nope")),
        recursive: false,
    }));
    assert_eq!(missing.err().code, ErrorCode::NotFound);
}
