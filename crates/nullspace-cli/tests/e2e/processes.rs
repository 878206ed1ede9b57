//! End-to-end runs of the process and PTY commands against a real server (a module of
//! `tests/e2e.rs`, so they run, skip or fail with it). The PTY test drives a real
//! terminal with tmux; without tmux it skips, or fails with `NULLSPACE_REQUIRE_VM=1`.

use super::support::tmux::{self, Tmux};
use super::{json, ns, target, Cleanup};

/// A running machine made for the test (killed when `made` is dropped).
fn machine(t: &(String, String), made: &mut Cleanup<'_>, label: &str) -> String {
    let (status, out, err) = ns(
        t,
        &[
            "sandbox",
            "create",
            "--timeout",
            "300",
            "--metadata",
            label,
            "--json",
        ],
        "",
    );
    assert_eq!(status, 0, "{err}");
    let id = json(&out)["id"].as_str().unwrap().to_owned();
    made.machines.push(id.clone());
    id
}

/// Starts `args` with `exec --background`: the pid.
fn background(t: &(String, String), id: &str, args: &[&str]) -> String {
    let mut all = vec!["sandbox", "exec", "--background", id];
    all.extend_from_slice(args);
    let (status, out, err) = ns(t, &all, "");
    assert_eq!(status, 0, "{err}");
    let pid = out.trim().to_owned();
    assert!(pid.parse::<u32>().is_ok(), "a pid: {out:?}");
    pid
}

#[test]
fn process_stream_prints_in_order_and_exits_with_the_code() {
    let Some(t) = target() else { return };
    let mut made = Cleanup::new(&t);
    let id = machine(&t, &mut made, "test=e2e-stream");
    let script = "for i in 1 2 3; do echo out$i; echo err$i >&2; sleep 0.2; done; exit 7";
    let (status, out, err) = ns(
        &t,
        &["sandbox", "process", "stream", &id, "--shell", script],
        "",
    );
    assert_eq!(status, 7, "{err}");
    assert_eq!(out, "out1\nout2\nout3\n");
    assert_eq!(err, "err1\nerr2\nerr3\n");
    let (status, out, err) = ns(
        &t,
        &[
            "sandbox",
            "process",
            "stream",
            &id,
            "python3",
            "-c",
            "print('hi')",
        ],
        "",
    );
    assert_eq!((status, out.as_str()), (0, "hi\n"), "{err}");
    // Piped input reaches the process, and its end is the process's end of file.
    let (status, out, err) = ns(&t, &["sandbox", "process", "stream", &id, "cat"], "piped\n");
    assert_eq!((status, out.as_str()), (0, "piped\n"), "{err}");
    let (status, _, err) = ns(
        &t,
        &["sandbox", "process", "stream", &id, "no-such-program"],
        "",
    );
    assert_eq!(status, 7, "command_not_found: {err}");
}

#[test]
fn attach_logs_and_list_follow_a_background_process() {
    let Some(t) = target() else { return };
    let mut made = Cleanup::new(&t);
    let id = machine(&t, &mut made, "test=e2e-attach");
    let pid = background(
        &t,
        &id,
        &["--shell", "echo early; sleep 2; echo late; exit 5"],
    );
    let (status, out, _) = ns(&t, &["sandbox", "process", "list", &id, "--json"], "");
    assert_eq!(status, 0);
    let listed = json(&out);
    let found = listed["processes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["pid"].as_u64() == pid.parse().ok());
    assert!(found, "{out}");
    let (status, out, err) = ns(&t, &["sandbox", "process", "attach", &id, &pid], "");
    assert_eq!((status, out.as_str()), (5, "early\nlate\n"), "{err}");
    let (status, out, err) = ns(&t, &["sandbox", "process", "logs", &id, &pid], "");
    assert_eq!((status, out.as_str()), (0, "early\nlate\n"), "{err}");
    let (status, out, _) = ns(&t, &["sandbox", "process", "logs", &id, &pid, "--json"], "");
    assert_eq!(status, 0);
    assert_eq!(json(&out)["exit_code"], 5);
    assert_eq!(json(&out)["running"], false);
}

#[test]
fn stdin_reaches_a_background_process() {
    let Some(t) = target() else { return };
    let mut made = Cleanup::new(&t);
    let id = machine(&t, &mut made, "test=e2e-stdin");
    let pid = background(
        &t,
        &id,
        &["--keep-stdin", "--shell", "read line; echo got:$line; cat"],
    );
    let (status, _, err) = ns(&t, &["sandbox", "process", "stdin", &id, &pid], "q\n");
    assert_eq!(status, 0, "{err}");
    let (status, _, err) = ns(
        &t,
        &[
            "sandbox", "process", "stdin", &id, &pid, "--data", "more\n", "--close",
        ],
        "",
    );
    assert_eq!(status, 0, "{err}");
    let (status, out, err) = ns(&t, &["sandbox", "process", "attach", &id, &pid], "");
    assert_eq!((status, out.as_str()), (0, "got:q\nmore\n"), "{err}");
    let (status, _, err) = ns(
        &t,
        &["sandbox", "process", "stdin", &id, &pid, "--data", "x"],
        "",
    );
    assert_eq!(status, 6, "stdin_closed or process_exited: {err}");
}

#[test]
fn kill_and_signal_end_background_processes() {
    let Some(t) = target() else { return };
    let mut made = Cleanup::new(&t);
    let id = machine(&t, &mut made, "test=e2e-kill");
    let pid = background(&t, &id, &["sleep", "300"]);
    let (status, out, err) = ns(&t, &["sandbox", "process", "kill", &id, &pid], "");
    assert_eq!(
        (status, out.trim()),
        (0, format!("killed process {pid}").as_str()),
        "{err}"
    );
    let (status, _, err) = ns(&t, &["sandbox", "process", "attach", &id, &pid], "");
    assert_eq!(status, 137, "killed by SIGKILL: {err}");
    let (status, _, err) = ns(&t, &["sandbox", "process", "kill", &id, &pid, "--json"], "");
    assert_eq!(status, 6, "{err}");
    assert_eq!(json(err.trim())["error"]["code"], "process_exited");
    let pid = background(&t, &id, &["sleep", "300"]);
    let (status, _, err) = ns(
        &t,
        &[
            "sandbox", "process", "kill", &id, &pid, "--signal", "SIGTERM",
        ],
        "",
    );
    assert_eq!(status, 0, "{err}");
    let (status, _, err) = ns(&t, &["sandbox", "process", "attach", &id, &pid], "");
    assert_eq!(status, 143, "killed by SIGTERM: {err}");
    let (status, _, err) = ns(&t, &["sandbox", "process", "kill", &id, "999999"], "");
    assert_eq!(status, 5, "{err}");
}

/// Whether a shell prompt is the last thing on `screen`.
fn prompt(screen: &str) -> bool {
    screen
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .is_some_and(|l| l.trim_end().ends_with('$') || l.trim_end().ends_with('#'))
}

#[test]
fn pty_sessions_resize_run_full_screen_programs_detach_and_reattach() {
    let Some(t) = target() else { return };
    if tmux::required().is_none() {
        return;
    }
    let mut made = Cleanup::new(&t);
    let id = machine(&t, &mut made, "test=e2e-pty");
    let (_, editor, _) = ns(
        &t,
        &[
            "sandbox",
            "exec",
            &id,
            "--shell",
            "command -v vim || command -v vi || command -v top",
        ],
        "",
    );
    let nullspace = format!(
        "NULLSPACE_API_URL='{}' NULLSPACE_API_KEY='{}' HOME=/tmp {}",
        t.0,
        t.1,
        env!("CARGO_BIN_EXE_nullspace")
    );
    let term = Tmux::start(
        "e2epty",
        &format!("{nullspace} sandbox pty create {id}"),
        100,
        30,
    );
    term.wait_for("a shell prompt", 60, prompt);
    term.type_text("stty size");
    term.keys(&["Enter"]);
    term.wait_text("30 100", 20);
    term.resize(120, 40);
    term.type_text("clear; stty size");
    term.keys(&["Enter"]);
    term.wait_text("40 120", 20);

    // A full-screen program, and quitting it.
    let program = editor.trim().rsplit('/').next().unwrap_or("").to_owned();
    if program.starts_with("vi") {
        term.type_text(&program);
        term.keys(&["Enter"]);
        term.wait_for("the editor", 20, |s| {
            s.lines().filter(|l| l.starts_with('~')).count() > 5
        });
        term.keys(&["Escape"]);
        term.type_text(":q!");
        term.keys(&["Enter"]);
    } else {
        assert_eq!(program, "top", "the image has vim, vi or top: {editor:?}");
        term.type_text("top");
        term.keys(&["Enter"]);
        term.wait_text("load average", 20);
        term.type_text("q");
    }
    term.wait_for("the prompt after the program", 20, prompt);
    // Ctrl-C reaches the remote shell (it interrupts `sleep`, not nullspace).
    term.type_text("sleep 100");
    term.keys(&["Enter"]);
    std::thread::sleep(std::time::Duration::from_millis(500));
    term.keys(&["C-c"]);
    term.type_text("echo after-$((6*7))");
    term.keys(&["Enter"]);
    term.wait_text("after-42", 20);

    // Detach: the session keeps running.
    term.keys(&["C-]", "q"]);
    let screen = term.wait_text("[exited 0]", 20);
    assert!(screen.contains("detached from session"), "{screen}");
    drop(term);
    let (status, out, err) = ns(&t, &["sandbox", "pty", "list", &id, "--json"], "");
    assert_eq!(status, 0, "{err}");
    let sessions = json(&out)["sessions"].clone();
    let session = sessions[0]["session_id"].to_string();
    assert_eq!(sessions[0]["process"]["running"], true, "{out}");

    // Reattach, and leave by ending the shell: exit code 0.
    let term = Tmux::start(
        "e2epty2",
        &format!("{nullspace} sandbox pty connect {id} {session}"),
        100,
        30,
    );
    std::thread::sleep(std::time::Duration::from_millis(500));
    term.type_text("echo back-$((6*7))");
    term.keys(&["Enter"]);
    term.wait_text("back-42", 20);
    term.type_text("exit 3");
    term.keys(&["Enter"]);
    term.wait_text("[exited 3]", 20);
    let (status, _, err) = ns(&t, &["sandbox", "pty", "connect", &id, &session], "");
    assert!(
        status == 5 || status == 6 || status == 3,
        "an ended session: {status} {err}"
    );
}
