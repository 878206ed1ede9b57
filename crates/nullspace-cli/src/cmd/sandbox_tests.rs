//! Unit tests of `sandbox`'s command line.

use clap::Parser;

use super::*;
use crate::cli::{Cli, Command};

fn sandbox(args: &[&str]) -> SandboxCommand {
    let cli = Cli::try_parse_from(["nullspace", "sandbox"].iter().chain(args)).unwrap();
    match cli.command {
        Command::Sandbox(s) => s.command,
        other => panic!("{other:?}"),
    }
}

#[test]
fn create_flags_build_the_request() {
    let SandboxCommand::Create(args) = sandbox(&[
        "create",
        "--env",
        "A=1",
        "--env-json",
        r#"{"A":"0","B":"2"}"#,
        "--metadata",
        "team=eval",
        "--timeout",
        "60",
        "--idempotency-key",
        "k",
    ]) else {
        panic!()
    };
    let r = args.request();
    assert_eq!(r.template.as_deref(), Some("base"));
    assert_eq!(r.envs["A"], "1");
    assert_eq!(r.envs["B"], "2");
    assert_eq!(r.metadata["team"], "eval");
    assert_eq!(r.timeout, Some(60));
    assert_eq!(r.idempotency_key.as_deref(), Some("k"));
}

#[test]
fn create_lifecycle_flags_build_the_request() {
    let create = |a: &[&str]| {
        let mut all = vec!["create"];
        all.extend_from_slice(a);
        let SandboxCommand::Create(args) = sandbox(&all) else {
            panic!()
        };
        args.request()
    };
    let r = create(&[]);
    assert_eq!(r.template.as_deref(), Some("base"));
    assert_eq!(
        (r.snapshot_id, r.timeout_action, r.auto_resume),
        (None, None, None)
    );
    let r = create(&["--snapshot-id", "snap_x", "--on-timeout", "hibernate"]);
    assert_eq!(r.template, None, "the snapshot's template");
    assert_eq!(r.snapshot_id.unwrap().as_str(), "snap_x");
    assert_eq!(r.timeout_action, Some(TimeoutAction::Pause));
    let r = create(&["--snapshot-id", "snap_x", "--template", "py"]);
    assert_eq!(r.template.as_deref(), Some("py"));
    let r = create(&["--timeout-action", "kill", "--auto-resume"]);
    assert_eq!(r.timeout_action, Some(TimeoutAction::Kill));
    assert_eq!(r.auto_resume, Some(true));
    let r = create(&["--auto-resume", "--no-auto-resume"]);
    assert_eq!(r.auto_resume, Some(false), "the last one wins");
    let r = create(&["--no-auto-resume", "--auto-resume"]);
    assert_eq!(r.auto_resume, Some(true));

    let parse =
        |a: &[&str]| Cli::try_parse_from(["nullspace", "sandbox", "create"].iter().chain(a));
    for bad in [
        &["--on-timeout", "sleep"][..],
        &["--timeout-action", "pause", "--on-timeout", "pause"][..],
        &["--snapshot-id", "sb_x"][..],
        &["--timeout", "0"][..],
        &["--timeout", "2592001"][..],
    ] {
        assert_eq!(parse(bad).unwrap_err().exit_code(), 2, "{bad:?}");
    }
    let err = parse(&["--on-timeout", "sleep"]).unwrap_err().to_string();
    assert!(err.contains("kill, pause, hibernate"), "{err}");
}

#[test]
fn timeout_set_takes_positional_or_flag() {
    for a in [
        &["timeout", "set", "sb_a", "120"][..],
        &["timeout", "set", "sb_a", "--seconds", "120"][..],
    ] {
        let SandboxCommand::Timeout(TimeoutArgs {
            command: TimeoutCommand::Set(t),
        }) = sandbox(a)
        else {
            panic!()
        };
        assert_eq!(t.seconds.or(t.seconds_flag), Some(120));
    }
    let SandboxCommand::Timeout(TimeoutArgs {
        command: TimeoutCommand::Set(t),
    }) = sandbox(&[
        "timeout",
        "set",
        "sb_a",
        "--seconds",
        "9",
        "--action",
        "hibernate",
    ])
    else {
        panic!()
    };
    assert_eq!(
        t.action.map(TimeoutAction::from),
        Some(TimeoutAction::Pause)
    );
    assert!(Cli::try_parse_from([
        "nullspace",
        "sandbox",
        "timeout",
        "set",
        "sb_a",
        "9",
        "--action",
        "sleep"
    ])
    .is_err());
    assert!(Cli::try_parse_from(["nullspace", "sandbox", "timeout", "set", "sb_a"]).is_err());
    assert!(Cli::try_parse_from(["nullspace", "sandbox", "timeout", "set", "sb_a", "0"]).is_err());
}

#[test]
fn pause_resume_and_new_states_parse() {
    let SandboxCommand::Pause(IdArg { id }) = sandbox(&["pause", "sb_a"]) else {
        panic!()
    };
    assert_eq!(id.as_str(), "sb_a");
    assert!(matches!(
        sandbox(&["hibernate", "sb_a"]),
        SandboxCommand::Pause(_)
    ));
    assert!(matches!(
        sandbox(&["resume", "sb_a"]),
        SandboxCommand::Resume(ResumeArgs {
            target: MachineOrSnapshot::Machine(_)
        })
    ));
    assert!(matches!(
        sandbox(&["resume", "snap_a"]),
        SandboxCommand::Resume(ResumeArgs {
            target: MachineOrSnapshot::Snapshot(_)
        })
    ));
    assert!(Cli::try_parse_from(["nullspace", "sandbox", "pause"]).is_err());
    assert!(Cli::try_parse_from(["nullspace", "sandbox", "resume", "nope"]).is_err());
    let SandboxCommand::List(args) = sandbox(&["list", "--state", "paused"]) else {
        panic!()
    };
    assert_eq!(args.state, [StateArg::Paused]);
}

#[test]
fn states_are_repeatable_and_comma_separated() {
    let states = |a: &[&str]| {
        let mut all = vec!["list"];
        all.extend_from_slice(a);
        let SandboxCommand::List(args) = sandbox(&all) else {
            panic!()
        };
        args.state
            .into_iter()
            .map(MachineState::from)
            .collect::<Vec<_>>()
    };
    assert_eq!(states(&[]), [], "the server's default: live machines");
    assert_eq!(
        states(&["--state", "killed,failed", "--state", "paused"]),
        [
            MachineState::Killed,
            MachineState::Failed,
            MachineState::Paused
        ]
    );
    let err = Cli::try_parse_from(["nullspace", "sandbox", "list", "--state", "running,gone"])
        .unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert!(err.to_string().contains("'gone'"), "{err}");
}

#[test]
fn kill_says_what_it_did() {
    let id: MachineId = "sb_a".parse().unwrap();
    let killed = KillResponse {
        id: id.clone(),
        outcome: KillOutcome::Killed,
        previous_state: MachineState::Paused,
    };
    assert_eq!(kill_text(&id, Some(&killed)), "killed sb_a (was paused)");
    assert_eq!(
        kill_json(&id, Some(&killed)),
        serde_json::json!({"id": "sb_a", "outcome": "killed", "previous_state": "paused"})
    );
    let cancelled = KillResponse {
        outcome: KillOutcome::CreateCancelled,
        previous_state: MachineState::Starting,
        ..killed
    };
    assert_eq!(
        kill_text(&id, Some(&cancelled)),
        "cancelled the create of sb_a: it was still starting and never became usable"
    );
    assert_eq!(kill_text(&id, None), "killed sb_a");
    assert_eq!(
        kill_json(&id, None),
        serde_json::json!({"id": "sb_a", "outcome": "killed", "previous_state": null})
    );
}

#[test]
fn create_network_flags_build_the_request() {
    let create = |a: &[&str]| {
        let mut all = vec!["create"];
        all.extend_from_slice(a);
        let SandboxCommand::Create(args) = sandbox(&all) else {
            panic!()
        };
        args.request()
    };
    let r = create(&[]);
    assert_eq!((r.network, r.internet_access), (None, None));
    let r = create(&[
        "--network-json",
        r#"{"allow_out":["203.0.113.0/24"],"allow_public_traffic":false}"#,
        "--no-internet-access",
    ]);
    let n = r.network.unwrap();
    assert_eq!(n.allow_out[0].to_string(), "203.0.113.0/24");
    assert_eq!(n.allow_public_traffic, Some(false));
    assert_eq!(r.internet_access, Some(false));
    assert_eq!(
        create(&["--no-internet-access", "--internet-access"]).internet_access,
        Some(true),
        "the last one wins"
    );
    for bad in [
        r#"{"allow_out":["2001:db8::/32"]}"#,
        r#"{"allow_out":"203.0.113.0/24"}"#,
        r#"{"alow_out":[]}"#,
        "not json",
    ] {
        let err = Cli::try_parse_from(["nullspace", "sandbox", "create", "--network-json", bad])
            .unwrap_err();
        assert_eq!(err.exit_code(), 2, "{bad}");
        assert!(err.to_string().contains("--network-json"), "{err}");
    }
}
