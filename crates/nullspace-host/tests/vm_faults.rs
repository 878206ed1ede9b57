//! Real microVMs: bad input and faults get typed errors; nothing is left behind.

mod common;

use nullspace_guest_proto::{ErrorCode, ExecRequest, Op};
use nullspace_host::agent::{AgentError, WriteOptions};
use nullspace_host::RuntimeError;
use nullspace_types::MachineId;

fn guest_code(e: &RuntimeError) -> Option<ErrorCode> {
    match e {
        RuntimeError::Agent(AgentError::Guest(g)) => Some(g.code),
        _ => None,
    }
}

fn shell(cmd: &str) -> ExecRequest {
    ExecRequest {
        shell: Some(cmd.into()),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_typed_errors() {
    let rt = common::runtime().await;
    let Some(template) = common::template(&rt).await else {
        return;
    };
    let m = rt.create_machine(&template).await.unwrap();

    let e = m
        .exec(
            ExecRequest {
                cwd: Some("/nope".into()),
                ..shell("true")
            },
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(guest_code(&e), Some(ErrorCode::CwdNotFound), "{e}");
    assert_eq!(e.code(), "cwd_not_found");
    let e = m
        .exec(
            ExecRequest {
                argv: vec!["/usr/bin/no-such-binary".into()],
                ..Default::default()
            },
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(guest_code(&e), Some(ErrorCode::CommandNotFound), "{e}");
    let e = m
        .exec(
            ExecRequest {
                user: Some("mallory".into()),
                ..shell("true")
            },
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(guest_code(&e), Some(ErrorCode::UserNotFound), "{e}");
    let e = m
        .exec(
            ExecRequest {
                argv: vec!["true".into()],
                shell: Some("true".into()),
                ..Default::default()
            },
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(guest_code(&e), Some(ErrorCode::InvalidArgument), "{e}");

    // A command that never ends is killed at its timeout.
    let e = m
        .exec(
            ExecRequest {
                timeout_ms: Some(1500),
                ..shell("sleep 1000")
            },
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), "command_timeout", "{e}");
    // A command that prints 100 MB is stopped at the output limit (8 MiB here).
    let e = m
        .exec(shell("head -c 100000000 /dev/zero"), None)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "output_limit_exceeded", "{e}");
    // ...and the machine still serves afterwards, with no stray processes.
    let (code, out, _) =
        common::sh(&m, "echo ok; pgrep -x head || true; pgrep -x sleep || true").await;
    assert_eq!((code, out.as_str()), (0, "ok\n"));
    // Non-zero exit is a result, not an error.
    assert_eq!(common::sh(&m, "exit 7").await.0, 7);

    let agent = m.agent().unwrap();
    // Reserved directory.
    let e = agent
        .write_file("/workspace/.nullspace/x", b"x", WriteOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&e, AgentError::Guest(g) if g.code == ErrorCode::ReservedPath),
        "{e}"
    );
    let e = agent
        .mkdir("/workspace/.nullspace/sub", None)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, AgentError::Guest(g) if g.code == ErrorCode::ReservedPath),
        "{e}"
    );
    // Confined paths cannot escape by `..` or by a symlink.
    agent.mkdir("/workspace/jail", None).await.unwrap();
    common::sh(&m, "ln -s /etc /workspace/jail/link").await;
    for path in [
        "../../etc/passwd",
        "/workspace/jail/link/passwd",
        "link/shadow",
    ] {
        let op = Op::ReadFile {
            user: None,
            path: path.into(),
            root: Some("/workspace/jail".into()),
            offset: 0,
            limit: None,
        };
        let e = agent.file_op(op).await.unwrap_err();
        assert!(
            matches!(&e, AgentError::Guest(g) if g.code == ErrorCode::PathEscapesRoot),
            "{path}: {e}"
        );
    }
    let e = agent.read_file("/no/such/file", 0, None).await.unwrap_err();
    assert!(
        matches!(&e, AgentError::Guest(g) if g.code == ErrorCode::NotFound),
        "{e}"
    );
    let e = agent.remove("/workspace/jail", false).await.unwrap_err();
    assert!(
        matches!(&e, AgentError::Guest(g) if g.code == ErrorCode::NotEmpty),
        "{e}"
    );

    // Unknown machine.
    let unknown = MachineId::random();
    assert_eq!(rt.machine(&unknown).unwrap_err().code(), "not_found");
    assert_eq!(rt.destroy(&unknown).await.unwrap_err().code(), "not_found");

    let (pid, ns, dir) = (m.vmm_pid(), m.netns().to_owned(), m.dir().to_owned());
    rt.destroy(m.id()).await.unwrap();
    common::assert_released(pid, &ns, &dir).await;
    // Killing twice: the machine is gone.
    assert_eq!(rt.destroy(m.id()).await.unwrap_err().code(), "not_found");
    assert!(matches!(
        m.exec(shell("true"), None).await.unwrap_err(),
        RuntimeError::InvalidState { .. }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_panic_and_killed_vmm_are_detected_and_cleaned_up() {
    let rt = common::runtime().await;
    let Some(template) = common::template(&rt).await else {
        return;
    };
    let (a, b) = tokio::join!(rt.create_machine(&template), rt.create_machine(&template));
    let (panicked, killed) = (a.unwrap(), b.unwrap());

    // The guest kernel panics: QEMU exits (panic=-1 with -no-reboot).
    let (pid, ns, dir) = (
        panicked.vmm_pid(),
        panicked.netns().to_owned(),
        panicked.dir().to_owned(),
    );
    let e = panicked
        .exec(shell("echo c > /proc/sysrq-trigger"), None)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "machine_died", "{e}");
    common::assert_released(pid, &ns, &dir).await;
    assert_eq!(panicked.state(), nullspace_types::MachineState::Failed);

    // QEMU killed from outside: the watcher notices and releases everything.
    let (pid, ns, dir) = (
        killed.vmm_pid(),
        killed.netns().to_owned(),
        killed.dir().to_owned(),
    );
    // SAFETY: kill(2) on the pid of a QEMU process this test started.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGKILL) }, 0);
    common::assert_released(pid, &ns, &dir).await;
    let e = killed.exec(shell("true"), None).await.unwrap_err();
    assert_eq!(e.code(), "machine_died", "{e}");
    // Destroying a dead machine still works and reports nothing left to do.
    for m in [&panicked, &killed] {
        rt.destroy(m.id()).await.unwrap();
    }
    assert!(rt.machines().is_empty());
}
