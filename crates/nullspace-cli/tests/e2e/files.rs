//! End-to-end runs of `sandbox upload` and the tree-wide file commands against a
//! real server (a module of `tests/e2e.rs`).

use std::process::Command;

use super::{json, ns, target, Cleanup};

fn machine(t: &(String, String), made: &mut Cleanup<'_>) -> String {
    let (status, out, err) = ns(t, &["sandbox", "create", "--timeout", "300", "--json"], "");
    assert_eq!(status, 0, "{err}");
    let id = json(&out)["id"].as_str().unwrap().to_owned();
    made.machines.push(id.clone());
    id
}

fn sha_in_machine(t: &(String, String), id: &str, path: &str) -> String {
    let (status, out, err) = ns(t, &["sandbox", "exec", id, "sha256sum", path], "");
    assert_eq!(status, 0, "{err}");
    out.split_whitespace().next().unwrap().to_owned()
}

fn local_sha(path: &std::path::Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

#[test]
fn uploads_directories_files_and_stdin_and_searches_them() {
    let Some(t) = target() else { return };
    let mut made = Cleanup::new(&t);
    let id = machine(&t, &mut made);
    let src = tempfile::tempdir().unwrap();
    let root = src.path().join("proj");
    std::fs::create_dir_all(root.join("pkg")).unwrap();
    std::fs::create_dir_all(root.join(".git")).unwrap();
    std::fs::write(root.join(".git/HEAD"), "ref: main\n").unwrap();
    std::fs::write(root.join("pkg/a.py"), "x = 1  # TODO\nold\n").unwrap();
    std::fs::write(root.join("pkg/a.pyc"), "bytecode").unwrap();
    std::fs::write(root.join("debug.log"), "noise").unwrap();
    std::fs::write(root.join(".nullspaceignore"), "*.log\n").unwrap();
    std::os::unix::fs::symlink("pkg/a.py", root.join("link")).unwrap();
    let dir = root.to_str().unwrap();

    let (status, out, err) = ns(
        &t,
        &[
            "sandbox",
            "upload",
            &id,
            dir,
            "/workspace/proj",
            "--exclude",
            "*.pyc",
            "--dry-run",
            "--json",
        ],
        "",
    );
    assert_eq!(status, 0, "{err}");
    let plan = json(&out);
    assert_eq!(
        (plan["dry_run"].as_bool(), plan["kind"].as_str()),
        (Some(true), Some("directory"))
    );
    let (_, out, _) = ns(
        &t,
        &["sandbox", "file", "exists", &id, "/workspace/proj"],
        "",
    );
    assert_eq!(out.trim(), "false", "a dry run sends nothing");

    let (status, out, err) = ns(
        &t,
        &[
            "sandbox",
            "upload",
            &id,
            dir,
            "/workspace/proj",
            "--exclude",
            "*.pyc",
            "--json",
        ],
        "",
    );
    assert_eq!(status, 0, "{err}");
    let r = json(&out);
    assert_eq!(
        (r["transport"].as_str(), r["file_count"].as_u64()),
        (Some("direct"), Some(3))
    );
    let (_, out, _) = ns(
        &t,
        &[
            "sandbox",
            "file",
            "search",
            &id,
            "/workspace/proj",
            "*",
            "--json",
        ],
        "",
    );
    let names: Vec<String> = json(&out)["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            e["path"]
                .as_str()
                .unwrap()
                .trim_start_matches("/workspace/proj/")
                .to_owned()
        })
        .collect();
    for want in [".git/HEAD", "pkg/a.py", ".nullspaceignore", "link"] {
        assert!(names.contains(&want.to_string()), "{want} in {names:?}");
    }
    assert!(
        !names
            .iter()
            .any(|n| n.ends_with(".pyc") || n.ends_with(".log")),
        "{names:?}"
    );
    let (_, out, _) = ns(
        &t,
        &[
            "sandbox",
            "file",
            "info",
            &id,
            "/workspace/proj/link",
            "--json",
        ],
        "",
    );
    assert_eq!(json(&out)["type"], "symlink");

    let (status, out, _) = ns(
        &t,
        &["sandbox", "file", "find", &id, "/workspace/proj", "TODO"],
        "",
    );
    assert_eq!(status, 0);
    assert!(
        out.contains("/workspace/proj/pkg/a.py:1:10: x = 1  # TODO"),
        "{out}"
    );
    let (status, _, err) = ns(
        &t,
        &[
            "sandbox",
            "file",
            "find",
            &id,
            "/workspace/proj",
            "(",
            "--regex",
        ],
        "",
    );
    assert_eq!(status, 7, "an invalid regex is invalid input: {err}");
    assert!(err.contains("invalid_pattern"), "{err}");
    let (status, out, _) = ns(
        &t,
        &[
            "sandbox",
            "file",
            "replace",
            &id,
            "old",
            "new",
            "/workspace/proj/pkg",
            "--dry-run",
            "--json",
        ],
        "",
    );
    assert_eq!(
        (status, json(&out)["total_replacements"].as_u64()),
        (0, Some(1))
    );
    let (status, _, _) = ns(
        &t,
        &[
            "sandbox",
            "file",
            "replace",
            &id,
            "old",
            "new",
            "/workspace/proj/pkg",
        ],
        "",
    );
    assert_eq!(status, 0);
    let (_, out, _) = ns(
        &t,
        &["sandbox", "file", "read", &id, "/workspace/proj/pkg/a.py"],
        "",
    );
    assert_eq!(out, "x = 1  # TODO\nnew\n");

    // Standard input, and a resumable file in small parallel chunks.
    let (status, _, err) = ns(
        &t,
        &["sandbox", "upload", &id, "-", "/tmp/stdin.bin"],
        "from stdin",
    );
    assert_eq!(status, 0, "{err}");
    let (_, out, _) = ns(&t, &["sandbox", "file", "read", &id, "/tmp/stdin.bin"], "");
    assert_eq!(out, "from stdin");
    let big = src.path().join("big.bin");
    let data: Vec<u8> = (0..(300u32 << 10)).map(|i| (i * 13 % 251) as u8).collect();
    std::fs::write(&big, &data).unwrap();
    let big_s = big.to_str().unwrap();
    let (status, out, err) = ns(
        &t,
        &[
            "sandbox",
            "upload",
            &id,
            big_s,
            "/workspace/big.bin",
            "--resumable",
            "always",
            "--chunk-size",
            "65536",
            "--concurrency",
            "3",
            "--json",
        ],
        "",
    );
    assert_eq!(status, 0, "{err}");
    let r = json(&out);
    assert_eq!(r["transport"], "resumable");
    assert!(r["upload_id"].as_str().unwrap().starts_with("upl_"));
    assert_eq!(
        sha_in_machine(&t, &id, "/workspace/big.bin"),
        local_sha(&big)
    );

    // A session left half done (one chunk sent with curl) is finished by --resume.
    let session = Command::new("curl")
        .args(["-sf", "-X", "POST", "-H", "content-type: application/json"])
        .arg("-H")
        .arg(format!("authorization: Bearer {}", t.1))
        .arg("--data")
        .arg(format!(
            r#"{{"path":"/workspace/resumed.bin","size":{},"chunk_size":65536}}"#,
            data.len()
        ))
        .arg(format!("{}/v1/machines/{id}/uploads", t.0))
        .output()
        .unwrap();
    assert!(session.status.success(), "{session:?}");
    let upload = json(&String::from_utf8_lossy(&session.stdout))["upload_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let first = src.path().join("first");
    std::fs::write(&first, &data[..65536]).unwrap();
    let sent = Command::new("curl")
        .args(["-sf", "-X", "PUT", "--data-binary"])
        .arg(format!("@{}", first.display()))
        .arg("-H")
        .arg(format!("authorization: Bearer {}", t.1))
        .arg(format!(
            "{}/v1/machines/{id}/uploads/{upload}/chunks/0",
            t.0
        ))
        .output()
        .unwrap();
    assert!(sent.status.success(), "{sent:?}");
    let (status, out, err) = ns(
        &t,
        &[
            "sandbox",
            "upload",
            &id,
            big_s,
            "/workspace/resumed.bin",
            "--resume",
            &upload,
            "--json",
        ],
        "",
    );
    assert_eq!(status, 0, "{err}");
    assert_eq!(json(&out)["upload_id"].as_str(), Some(upload.as_str()));
    assert_eq!(
        sha_in_machine(&t, &id, "/workspace/resumed.bin"),
        local_sha(&big)
    );
    let (status, _, err) = ns(
        &t,
        &[
            "sandbox",
            "upload",
            &id,
            big_s,
            "/workspace/x",
            "--resume",
            "upl_nope",
        ],
        "",
    );
    assert_eq!(status, 5, "an unknown session is not found: {err}");
    let (status, _, err) = ns(
        &t,
        &[
            "sandbox",
            "upload",
            &id,
            "-",
            "/tmp/x",
            "--resumable",
            "always",
        ],
        "x",
    );
    assert_eq!(status, 2, "standard input cannot be resumed: {err}");
}

#[test]
fn watch_prints_changes_until_its_timeout() {
    let Some(t) = target() else { return };
    let mut made = Cleanup::new(&t);
    let id = machine(&t, &mut made);
    let (status, _, err) = ns(&t, &["sandbox", "file", "mkdir", &id, "/workspace/w"], "");
    assert_eq!(status, 0, "{err}");
    let watcher = {
        let t = t.clone();
        let id = id.clone();
        std::thread::spawn(move || {
            ns(
                &t,
                &[
                    "sandbox",
                    "file",
                    "watch",
                    &id,
                    "/workspace/w",
                    "--recursive",
                    "--timeout",
                    "6",
                    "--json",
                ],
                "",
            )
        })
    };
    std::thread::sleep(std::time::Duration::from_secs(3));
    let (status, _, err) = ns(
        &t,
        &[
            "sandbox",
            "file",
            "write",
            &id,
            "/workspace/w/new.txt",
            "--content",
            "hi",
        ],
        "",
    );
    assert_eq!(status, 0, "{err}");
    let (status, out, err) = watcher.join().unwrap();
    assert_eq!(status, 0, "{err}");
    let lines: Vec<serde_json::Value> = out.lines().map(json).collect();
    assert_eq!(
        lines.first().and_then(|l| l["type"].as_str()),
        Some("ready"),
        "{out}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l["type"] == "event" && l["path"] == "/workspace/w/new.txt"),
        "{out}"
    );
    assert_eq!(
        lines.last().and_then(|l| l["reason"].as_str()),
        Some("timeout"),
        "{out}"
    );
    let (status, _, _) = ns(
        &t,
        &[
            "sandbox",
            "file",
            "watch",
            &id,
            "/workspace/nope",
            "--timeout",
            "1",
        ],
        "",
    );
    assert_eq!(status, 5, "a missing directory is not found");
}
