//! Unit tests of the preview commands' grammar: durations, usage errors, the
//! seed's command lines and the schema.

use clap::Parser;
use serde_json::Value;

use super::*;
use crate::cli::{Cli, Command};
use crate::cmd::sandbox::SandboxCommand;

fn parse(args: &[&str]) -> Result<SandboxCommand, clap::Error> {
    let cli = Cli::try_parse_from(["nullspace", "sandbox"].iter().chain(args))?;
    match cli.command {
        Command::Sandbox(s) => Ok(s.command),
        other => panic!("{other:?}"),
    }
}

#[test]
fn time_spans_take_units_or_plain_seconds() {
    for (text, secs) in [
        ("90s", 90),
        ("15m", 900),
        ("2h", 7200),
        ("1d", 86_400),
        ("3600", 3600),
        ("0", 0),
        ("0s", 0),
    ] {
        assert_eq!(
            text.parse::<TimeSpan>().unwrap().0,
            Duration::from_secs(secs),
            "{text}"
        );
    }
    for bad in [
        "", "s", "m", "-5", "+5", "1.5h", "15 m", "15M", "10w", "1h30m", "abc", " 5",
    ] {
        let err = bad.parse::<TimeSpan>().unwrap_err();
        assert!(matches!(err, SpanError::Syntax(_)), "{bad:?}: {err}");
    }
    assert!(matches!(
        "999999999999999999d".parse::<TimeSpan>(),
        Err(SpanError::Overflow(_))
    ));
}

#[test]
fn expiries_are_one_minute_to_seven_days() {
    assert_eq!("15m".parse::<Expires>().unwrap().0, 900);
    assert_eq!("60".parse::<Expires>().unwrap().0, MIN_PREVIEW_SECS);
    assert_eq!("7d".parse::<Expires>().unwrap().0, MAX_PREVIEW_SECS);
    for bad in ["59s", "0", "8d", "604801"] {
        let err = bad.parse::<Expires>().unwrap_err();
        assert!(matches!(err, SpanError::Expiry(_)), "{bad}: {err}");
        assert!(err.to_string().contains("1m to 7d"), "{err}");
    }
    assert!(matches!(
        "soon".parse::<Expires>(),
        Err(SpanError::Syntax(_))
    ));
}

#[test]
fn the_seed_command_lines_parse() {
    let SandboxCommand::PreviewUrl(PreviewUrlArgs {
        command:
            PreviewUrlCommand::Create {
                port,
                expires,
                show,
                wait,
            },
    }) = parse(&[
        "preview-url",
        "create",
        "sb_123",
        "8080",
        "--expires",
        "15m",
        "--wait",
    ])
    .unwrap()
    else {
        panic!()
    };
    assert_eq!((port.id.as_str(), port.port), ("sb_123", 8080));
    assert_eq!(expires, Some(Expires(900)));
    assert!(wait.wait && !show.raw && !show.websocket);
    assert_eq!(wait.wait_timeout, None);

    let SandboxCommand::Url(args) = parse(&[
        "url",
        "sb_123",
        "8080",
        "--websocket",
        "--wait",
        "--wait-timeout",
        "2m",
    ])
    .unwrap() else {
        panic!()
    };
    assert_eq!(args.show.transport(), PreviewTransport::Websocket);
    assert_eq!(
        args.wait.wait_timeout,
        Some(TimeSpan(Duration::from_secs(120)))
    );
    let SandboxCommand::PreviewProxyTarget(ProxyTargetArgs {
        command: ProxyTargetCommand::Create { transports, .. },
    }) = parse(&[
        "preview-proxy-target",
        "create",
        "sb_123",
        "8080",
        "--transport",
        "http",
        "--transport",
        "websocket",
    ])
    .unwrap()
    else {
        panic!()
    };
    assert_eq!(transports, [TransportArg::Http, TransportArg::Websocket]);
    for line in [
        &["host", "sb_123", "8080"][..],
        &[
            "preview-url",
            "get",
            "sb_123",
            "8080",
            "--websocket",
            "--raw",
        ],
        &["preview-url", "list", "sb_123", "--port", "8080", "--json"],
        &["preview-url", "revoke", "sb_123", "pvg_123", "--json"],
        &["url", "sb_123", "8080", "--wait", "--json"],
    ] {
        parse(line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
    }
}

#[test]
fn bad_values_are_usage_errors() {
    for bad in [
        &["host", "sb_123", "0"][..],
        &["host", "sb_123", "65536"],
        &["url", "sb_123", "http"],
        &["url", "sb_123", "8080", "--wait-timeout", "5s"],
        &["preview-url", "create", "sb_123", "8080", "--expires", "5s"],
        &[
            "preview-url",
            "create",
            "sb_123",
            "8080",
            "--expires",
            "soon",
        ],
        &["preview-url", "list", "sb_123", "--port", "0"],
        &["preview-url", "revoke", "sb_123", "grant1"],
        &[
            "preview-proxy-target",
            "create",
            "sb_123",
            "80",
            "--transport",
            "ftp",
        ],
        &["preview-url", "get", "snap_1", "8080"],
    ] {
        let err = parse(bad).map(|_| ()).unwrap_err();
        assert_eq!(err.exit_code(), 2, "{bad:?}");
    }
}

#[test]
fn named_transports_are_sent_once_or_left_to_the_server() {
    assert_eq!(requested(&[]), None);
    assert_eq!(
        requested(&[
            TransportArg::Websocket,
            TransportArg::Http,
            TransportArg::Websocket
        ]),
        Some(vec![PreviewTransport::Http, PreviewTransport::Websocket])
    );
}

#[test]
fn the_schema_lists_the_preview_commands_with_their_types() {
    let s = crate::cmd::schema::schema(&[]).unwrap();
    let find = |name: &str| -> Value {
        s["commands"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["command"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name}"))
    };
    let arg = |c: &Value, name: &str| -> Value {
        c["flags"]
            .as_array()
            .unwrap()
            .iter()
            .chain(c["arguments"].as_array().unwrap())
            .find(|f| f["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name} in {}", c["command"]))
    };
    for name in ["sandbox host", "sandbox url", "sandbox preview-url get"] {
        let c = find(name);
        assert_eq!(arg(&c, "id")["type"], "machine_id");
        assert_eq!(arg(&c, "port")["type"], "integer");
        assert_eq!(arg(&c, "port")["required"], true);
    }
    assert_eq!(arg(&find("sandbox url"), "expires")["type"], "duration");
    let create = find("sandbox preview-url create");
    assert_eq!(arg(&create, "expires")["type"], "duration");
    assert_eq!(arg(&create, "wait_timeout")["type"], "duration");
    assert_eq!(arg(&create, "wait")["type"], "bool");
    assert_eq!(arg(&create, "raw")["type"], "bool");
    assert_eq!(
        arg(&find("sandbox preview-url revoke"), "grant_id")["type"],
        "preview_grant_id"
    );
    assert_eq!(
        arg(&find("sandbox preview-url list"), "port")["required"],
        false
    );
    let target = find("sandbox preview-proxy-target create");
    let transport = arg(&target, "transports");
    assert_eq!(transport["long"], "--transport");
    assert_eq!(transport["repeatable"], true);
    assert_eq!(
        transport["possible_values"],
        serde_json::json!(["http", "websocket"])
    );
    assert_eq!(find("sandbox preview-url")["runnable"], false);
}
