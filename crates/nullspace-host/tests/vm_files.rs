//! Real microVMs: guest file operations have the rights of the user that asks.

mod common;

use std::sync::Arc;

use nullspace_guest_proto::{EntryKind, ErrorCode, ExecRequest};
use nullspace_host::agent::{AgentError, WriteOptions};
use nullspace_host::Machine;

const USER: Option<&str> = Some("user");

fn guest_code<T: std::fmt::Debug>(r: Result<T, AgentError>) -> ErrorCode {
    match r {
        Err(AgentError::Guest(g)) => g.code,
        other => panic!("expected a guest error, got {other:?}"),
    }
}

fn as_user(opts: WriteOptions) -> WriteOptions {
    WriteOptions {
        user: USER.map(String::from),
        ..opts
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_operations_have_the_users_rights() {
    let rt = common::runtime().await;
    let Some(template) = common::template(&rt).await else {
        return;
    };
    let m = rt.create_machine(&template).await.unwrap();
    // The checks run in their own task so the machine is destroyed even if one fails.
    let outcome = tokio::spawn(checks(m.clone())).await;
    let (pid, ns, dir) = (m.vmm_pid(), m.netns().to_owned(), m.dir().to_owned());
    rt.destroy(m.id()).await.unwrap();
    common::assert_released(pid, &ns, &dir).await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

async fn checks(m: Arc<Machine>) {
    let agent = m.agent().unwrap();
    let passwd = agent.read_file("/etc/passwd", 0, None).await.unwrap();
    assert!(String::from_utf8_lossy(&passwd).contains("\nuser:"));

    // The user links /etc/passwd into its workspace, as any of its commands could.
    let out = m
        .exec(
            ExecRequest {
                shell: Some("ln -s /etc/passwd /workspace/pwlink".into()),
                user: USER.map(String::from),
                ..Default::default()
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(out.result.exit_code, Some(0), "{out:?}");

    // Writing through the link as the user is refused; /etc/passwd is untouched.
    let r = agent
        .write_file(
            "/workspace/pwlink",
            b"root::0:0::/root:/bin/sh\n",
            as_user(WriteOptions::default()),
        )
        .await;
    assert_eq!(guest_code(r), ErrorCode::PermissionDenied);
    let r = agent
        .write_file(
            "/workspace/pwlink",
            b"x",
            as_user(WriteOptions {
                append: true,
                ..Default::default()
            }),
        )
        .await;
    assert_eq!(guest_code(r), ErrorCode::PermissionDenied);
    assert_eq!(
        agent.read_file("/etc/passwd", 0, None).await.unwrap(),
        passwd
    );
    let link = agent.stat_as("/workspace/pwlink", USER).await.unwrap();
    assert_eq!(link.kind, EntryKind::Symlink);

    // /etc/shadow: the user may not read it, root may.
    let r = agent.read_file_as("/etc/shadow", 0, None, USER).await;
    assert_eq!(guest_code(r), ErrorCode::PermissionDenied);
    let shadow = agent
        .read_file_as("/etc/shadow", 0, None, Some("root"))
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&shadow).starts_with("root:"));

    // What the user writes is its own, parents included.
    let e = agent
        .write_file(
            "/workspace/made/by/user.txt",
            b"mine",
            as_user(WriteOptions {
                create_parents: true,
                ..Default::default()
            }),
        )
        .await
        .unwrap();
    assert_eq!((e.owner.as_str(), e.group.as_str()), ("user", "user"));
    let (code, out, err) = common::sh(
        &m,
        "stat -c %U:%G /workspace/made /workspace/made/by/user.txt",
    )
    .await;
    assert_eq!((code, out.as_str()), (0, "user:user\nuser:user\n"), "{err}");
    // It may not give a file to root.
    let r = agent
        .write_file(
            "/workspace/for-root",
            b"x",
            as_user(WriteOptions {
                owner: Some("root".into()),
                ..Default::default()
            }),
        )
        .await;
    assert_eq!(guest_code(r), ErrorCode::PermissionDenied);

    // Directory calls follow its rights too.
    let r = agent.remove_as("/etc/hostname", false, USER).await;
    assert_eq!(guest_code(r), ErrorCode::PermissionDenied);
    assert!(agent.exists("/etc/hostname").await.unwrap());
    let r = agent.chmod_as("/etc/passwd", 0o666, USER).await;
    assert_eq!(guest_code(r), ErrorCode::PermissionDenied);
    let r = agent.mkdir_as("/etc/by-user", None, USER).await;
    assert_eq!(guest_code(r), ErrorCode::PermissionDenied);
    let r = agent.list_as("/root", 1, USER).await;
    assert_eq!(guest_code(r), ErrorCode::PermissionDenied);
    agent
        .remove_as("/workspace/made", true, USER)
        .await
        .unwrap();
    // Root's calls still have root's rights afterwards.
    agent.list_as("/root", 1, None).await.unwrap();
}
