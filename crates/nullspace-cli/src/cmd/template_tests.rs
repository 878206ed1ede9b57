//! Unit tests of `template`'s command line: flags to request, rendering, output.

use std::collections::BTreeMap;

use clap::Parser;
use nullspace_api::TemplateBuildRequest;
use serde_json::json;

use super::super::template_build::{entry_line, LogFormat};
use super::super::template_spec::{
    dockerfile, read_request, request_json, resolve, shell_quote, Plan,
};
use super::*;
use crate::cli::{Cli, Command};

fn template(args: &[&str]) -> TemplateCommand {
    let cli = Cli::try_parse_from(["nullspace", "template"].iter().chain(args))
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    match cli.command {
        Command::Template(t) => t.command,
        other => panic!("{other:?}"),
    }
}

/// The plan of `template render json ARGS…`.
fn plan(args: &[&str]) -> Plan {
    let mut all = vec!["render", "json"];
    all.extend(args);
    match template(&all) {
        TemplateCommand::Render(r) => r.spec.plan(None),
        other => panic!("{other:?}"),
    }
}

fn parse_error(args: &[&str]) -> clap::Error {
    Cli::try_parse_from(["nullspace", "template"].iter().chain(args)).unwrap_err()
}

#[test]
fn steps_follow_the_command_line_order() {
    let p = plan(&[
        "--name",
        "web:stable",
        "--user",
        "root",
        "--run-cmd",
        "echo as-root",
        "--user",
        "user",
        "--env",
        "A=1",
        "--env",
        "B=x=y",
        "--run-cmd",
        "echo as-user",
        "--workdir",
        "/srv",
        "--workdir",
        "app/../site",
        "--copy",
        "./src:conf",
        "--copy",
        "./file.txt:/etc/app",
        "--apt-install",
        "git",
        "--apt-install",
        "lib x",
        "--pip-install",
        "flask>=2,<3",
        "--npm-install",
        "@scope/pkg",
        "--env",
        "C=3",
        "--run-cmd",
        "echo last",
    ]);
    let steps = serde_json::to_value(&p.request.steps).unwrap();
    assert_eq!(
        steps,
        json!([
            {"kind": "user", "user": "root"},
            {"kind": "run", "cmd": "echo as-root"},
            {"kind": "user", "user": "user"},
            {"kind": "env", "envs": {"A": "1", "B": "x=y"}},
            {"kind": "run", "cmd": "echo as-user"},
            {"kind": "workdir", "path": "/srv"},
            {"kind": "workdir", "path": "/srv/site"},
            {"kind": "copy", "context": "", "dest": "/srv/site/conf"},
            {"kind": "copy", "context": "", "dest": "/etc/app"},
            {"kind": "run", "user": "root", "cmd":
                "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y \
                 --no-install-recommends git 'lib x'"},
            {"kind": "run", "user": "root", "cmd":
                "python3 -m pip install --break-system-packages 'flask>=2,<3'"},
            {"kind": "run", "user": "root", "cmd": "npm install -g @scope/pkg"},
            {"kind": "env", "envs": {"C": "3"}},
            {"kind": "run", "cmd": "echo last"}
        ])
    );
    assert_eq!(
        p.copies,
        [(7, "./src".into()), (8, "./file.txt".into())],
        "each --copy knows its step"
    );
    assert_eq!(p.request.name, "web:stable");
}

#[test]
fn settings_flags_fill_the_request() {
    let p = plan(&[
        "--name",
        "web",
        "--tag",
        "prod",
        "--tag",
        "v1",
        "--from-template",
        "py:3",
        "--runtime-env",
        "HELLO=world",
        "--start-cmd",
        "sleep 1000",
        "--ready-cmd",
        "true",
        "--ready-timeout",
        "30",
        "--step-timeout",
        "600",
        "--cpu-count",
        "2",
        "--memory-mb",
        "1024",
        "--no-internet-access",
        "--skip-cache",
    ]);
    assert_eq!(
        request_json(&p.request),
        json!({
            "name": "web", "tags": ["prod", "v1"], "from_template": "py:3",
            "start_cmd": "sleep 1000", "ready_cmd": "true",
            "ready_timeout_secs": 30, "step_timeout_secs": 600,
            "runtime_envs": {"HELLO": "world"}, "cpu_count": 2, "memory_mb": 1024,
            "internet_access": false, "skip_cache": true
        })
    );
    // No flags, no fields: the server's defaults apply, and no name is printed.
    assert_eq!(request_json(&plan(&[]).request), json!({}));
}

#[test]
fn bad_values_are_usage_errors() {
    for args in [
        &["render", "json", "--env", "x"][..],
        &["render", "json", "--env", "=v"],
        &["render", "json", "--runtime-env", "novalue"],
        &["render", "json", "--copy", "nocolon"],
        &["render", "json", "--copy", "src:"],
        &["render", "json", "--apt-install", ""],
        &["render", "json", "--run-cmd", ""],
        &["render", "json", "--ready-timeout", "0"],
        &["render", "json", "--ready-timeout", "3601"],
        &["render", "json", "--step-timeout", "86401"],
        &["render", "json", "--user", "two words"],
        &["render", "yaml"],
        &["build", "--log-format", "xml"],
        &["wait", "sb_notabuild"],
        &["wait", "tb_aaaaaaaaaaaaaaaaaaaa", "--poll-interval-ms", "1"],
        &["list", "--fields", "id,nope"],
        &["tag", "assign", "web"],
    ] {
        let err = parse_error(args);
        assert_eq!(err.exit_code(), 2, "{args:?}: {err}");
    }
    let err = parse_error(&["render", "json", "--copy", "nocolon"]).to_string();
    assert!(err.contains("SRC:DEST"), "{err}");
    let err = parse_error(&["render", "json", "--env", "x"]).to_string();
    assert!(err.contains("KEY=VALUE"), "{err}");
    // Through the whole binary: exit 2, and nothing is sent (no key is configured).
    let status = crate::run([
        "nullspace",
        "template",
        "build",
        "--name",
        "w",
        "--env",
        "x",
    ]);
    assert_eq!(status, 2);
    let status = crate::run(["nullspace", "template", "build", "--run-cmd", "true"]);
    assert_eq!(status, 2, "a build without a name is a usage error");
}

#[test]
fn package_names_are_quoted_for_bash() {
    assert_eq!(shell_quote("git"), "git");
    assert_eq!(shell_quote("numpy==1.26.4"), "numpy==1.26.4");
    assert_eq!(shell_quote("@types/node"), "@types/node");
    assert_eq!(shell_quote("a b"), "'a b'");
    assert_eq!(shell_quote("x;rm -rf /"), "'x;rm -rf /'");
    assert_eq!(shell_quote("it's"), r#"'it'"'"'s'"#);
    assert_eq!(shell_quote("$(id)"), "'$(id)'");
    assert_eq!(shell_quote(""), "''");
}

#[test]
fn paths_resolve_against_the_working_directory() {
    assert_eq!(resolve("/workspace", "app"), "/workspace/app");
    assert_eq!(resolve("/workspace", "/srv//x/./y/"), "/srv/x/y");
    assert_eq!(resolve("/a/b", "../c"), "/a/c");
    assert_eq!(resolve("/", "../.."), "/");
}

#[test]
fn from_json_is_the_base_and_flags_override_or_add() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("req.json");
    std::fs::write(
        &path,
        r#"{"name": "old", "tags": ["a"], "steps": [{"kind": "workdir", "path": "/srv"},
            {"kind": "run", "cmd": "make"}], "start_cmd": "serve", "runtime_envs": {"K": "1", "L": "2"}}"#,
    )
    .unwrap();
    let base = read_request(&path).unwrap();
    let spec = match template(&[
        "build",
        "--from-json",
        path.to_str().unwrap(),
        "--name",
        "new:v2",
        "--tag",
        "b",
        "--copy",
        "src:app",
        "--runtime-env",
        "L=3",
    ]) {
        TemplateCommand::Build(b) => b.spec,
        other => panic!("{other:?}"),
    };
    let p = spec.plan(Some(base));
    let r = &p.request;
    assert_eq!(
        (r.name.as_str(), r.tags.as_slice()),
        ("new:v2", &["b".to_string()][..])
    );
    assert_eq!(r.steps.len(), 3);
    assert_eq!(
        serde_json::to_value(&r.steps[2]).unwrap(),
        json!({"kind": "copy", "context": "", "dest": "/srv/app"}),
        "relative to the JSON's working directory"
    );
    assert_eq!(p.copies, [(2, "src".into())]);
    assert_eq!(r.start_cmd.as_deref(), Some("serve"));
    assert_eq!(
        r.runtime_envs,
        BTreeMap::from([("K".into(), "1".into()), ("L".into(), "3".into())])
    );

    // What render json prints without a name reads back, for --name to fill in.
    let printed = request_json(&plan(&["--run-cmd", "x"]).request);
    std::fs::write(&path, printed.to_string()).unwrap();
    let back = read_request(&path).unwrap();
    assert_eq!(back.name, "");
    assert_eq!(back.steps.len(), 1);
    // Unknown fields and other JSON are refused as bad input (exit 7).
    std::fs::write(&path, r#"{"name": "x", "bogus": 1}"#).unwrap();
    let err = read_request(&path).unwrap_err();
    assert_eq!(err.exit(), Exit::InvalidInput, "{err}");
    std::fs::write(&path, "[1]").unwrap();
    assert_eq!(read_request(&path).unwrap_err().exit(), Exit::InvalidInput);
}

#[test]
fn dockerfile_reads_like_the_build() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("site");
    std::fs::create_dir(&src).unwrap();
    let src = src.to_str().unwrap().to_owned();
    let mut p = plan(&[
        "--from-template",
        "py",
        "--apt-install",
        "git",
        "--env",
        "MODE=build x",
        "--workdir",
        "/srv",
        "--copy",
        &format!("{src}:www"),
        "--copy",
        "notes.txt:/etc/notes dir",
        "--user",
        "root",
        "--run-cmd",
        "make\nmake install",
        "--runtime-env",
        "HELLO=world",
        "--start-cmd",
        "python3 -m http.server 8000",
        "--ready-cmd",
        "curl -fs localhost:8000",
    ]);
    // A copy step of a --from-json request names its context.
    p.request.steps.push(nullspace_api::TemplateStep::Copy {
        context: "ab".repeat(32),
        dest: "/opt".into(),
    });
    let text = dockerfile(&p);
    let want = format!(
        "FROM py\n\
         USER root\n\
         RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends git\n\
         USER user\n\
         ENV MODE=\"build x\"\n\
         WORKDIR /srv\n\
         COPY {src}/ /srv/www/\n\
         COPY [\"notes.txt\",\"/etc/notes dir/\"]\n\
         USER root\n\
         RUN [\"bash\",\"-c\",\"make\\nmake install\"]\n\
         COPY sha256:{ctx} /opt/\n\
         ENV HELLO=\"world\"\n\
         # ready when this succeeds: curl -fs localhost:8000\n\
         CMD python3 -m http.server 8000\n",
        ctx = "ab".repeat(32)
    );
    assert_eq!(text, want);
    assert_eq!(dockerfile(&plan(&[])), "FROM base\n");
}

#[test]
fn the_starter_is_a_valid_request() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(INIT_FILE);
    let ctx = Ctx {
        global: Default::default(),
    };
    let args = InitArgs {
        name: "demo".into(),
        force: false,
    };
    init(&ctx, &args, &path).unwrap();
    let req: TemplateBuildRequest = read_request(&path).unwrap();
    assert_eq!(req, starter("demo"));
    assert!(req.start_cmd.is_some() && req.ready_cmd.is_some());
    let err = init(&ctx, &args, &path).unwrap_err();
    assert_eq!(err.exit(), Exit::Conflict, "{err}");
    assert_eq!(err.code(), "already_exists");
    init(
        &ctx,
        &InitArgs {
            name: "again".into(),
            force: true,
        },
        &path,
    )
    .unwrap();
    assert_eq!(read_request(&path).unwrap().name, "again");
}

fn sample() -> Template {
    Template {
        id: Some("tpl_aaaaaaaaaaaaaaaaaaaa".parse().unwrap()),
        name: "web".into(),
        builtin: false,
        tags: vec![
            TemplateTag {
                tag: "latest".into(),
                build_id: "tb_bbbbbbbbbbbbbbbbbbbb".parse().unwrap(),
            },
            TemplateTag {
                tag: "stable".into(),
                build_id: "tb_bbbbbbbbbbbbbbbbbbbb".parse().unwrap(),
            },
        ],
        cpu_count: 2,
        memory_mb: 512,
        cwd: "/srv".into(),
        envs: BTreeMap::from([("HELLO".into(), "world".into())]),
        start_cmd: Some("sleep 1000".into()),
        ready_cmd: None,
        size_bytes: 3 << 20,
        created_at: Some("2026-01-01T00:00:00Z".into()),
        updated_at: Some("2026-01-02T00:00:00Z".into()),
    }
}

#[test]
fn templates_print_as_tables_and_fields() {
    let base = Template {
        id: None,
        name: "base".into(),
        builtin: true,
        tags: Vec::new(),
        size_bytes: 0,
        created_at: None,
        updated_at: None,
        start_cmd: None,
        ..sample()
    };
    let list = TemplateList {
        templates: vec![base, sample()],
    };
    let t = table(&list, &[]);
    let lines: Vec<&str> = t.lines().collect();
    assert!(lines[0].starts_with("NAME  ID"), "{t}");
    assert!(lines[0].ends_with("SIZE     UPDATED"), "{t}");
    assert!(lines[1].starts_with("base  -  "), "{t}");
    assert!(lines[2].contains("latest,stable"), "{t}");
    assert!(lines[2].contains("3.0 MiB"), "{t}");
    let t = table(&list, &["name".into(), "builtin".into()]);
    assert_eq!(t, "NAME  BUILTIN\nbase  true\nweb   false");

    let d = details(&sample(), &[]);
    assert!(
        d.contains("latest=tb_bbbbbbbbbbbbbbbbbbbb,stable=tb_bbbbbbbbbbbbbbbbbbbb"),
        "{d}"
    );
    assert!(d.contains("HELLO=world"), "{d}");
    assert!(
        d.lines()
            .any(|l| l.starts_with("ready_cmd") && l.ends_with('-')),
        "{d}"
    );
    assert_eq!(
        details(&sample(), &["id".into(), "cwd".into()]),
        "id   tpl_aaaaaaaaaaaaaaaaaaaa\ncwd  /srv"
    );
    assert_eq!(
        pick(&sample(), &["name".into(), "tags".into()]),
        json!({"name": "web", "tags": [
            {"tag": "latest", "build_id": "tb_bbbbbbbbbbbbbbbbbbbb"},
            {"tag": "stable", "build_id": "tb_bbbbbbbbbbbbbbbbbbbb"}
        ]})
    );
    let TemplateCommand::List(FieldArgs { fields }) = template(&["list", "--fields", "id,name"])
    else {
        panic!()
    };
    assert_eq!(fields, ["id", "name"]);
}

#[test]
fn tag_targets_of_the_same_template_are_sent_as_tags() {
    assert_eq!(target("web", "web:stable"), "stable");
    assert_eq!(target("web:prod", "web:stable"), "stable");
    assert_eq!(target("web", "stable"), "stable");
    assert_eq!(
        target("web", "tb_aaaaaaaaaaaaaaaaaaaa"),
        "tb_aaaaaaaaaaaaaaaaaaaa"
    );
    assert_eq!(target("web", "other:stable"), "other:stable");
    let TemplateCommand::Tag(TagArgs {
        command: TagCommand::Assign(a),
    }) = template(&["tag", "assign", "web", "stable", "prod", "--target", "tb_x"])
    else {
        panic!()
    };
    assert_eq!(a.tags, ["stable", "prod"]);
}

#[test]
fn log_entries_print_as_text_or_json_lines() {
    let e = nullspace_api::BuildLogEntry {
        offset: 4,
        at: "2026-01-01T12:34:56.789Z".into(),
        level: "info".into(),
        step: Some(2),
        message: "step 2/3 run: make".into(),
    };
    assert_eq!(
        entry_line(&e, LogFormat::Text),
        "[12:34:56] step 2/3 run: make"
    );
    let line = entry_line(&e, LogFormat::Jsonl);
    assert!(!line.contains('\n'));
    let back: nullspace_api::BuildLogEntry = serde_json::from_str(&line).unwrap();
    assert_eq!(back, e);
}

#[test]
fn an_image_parent_is_sent_rendered_and_its_secrets_redacted() {
    let mut p = plan(&[
        "--name",
        "py",
        "--from-image",
        "python:3.12",
        "--run-cmd",
        "pip --version",
    ]);
    assert_eq!(p.request.from_image.as_deref(), Some("python:3.12"));
    assert_eq!(p.request.from_template, None);
    assert!(dockerfile(&p).starts_with("FROM python:3.12\nRUN pip --version"));
    p.request.registry_auth = Some(nullspace_api::RegistryAuth::Basic {
        username: "me".into(),
        password: "hunter2".into(),
    });
    let shown = request_json(&p.request);
    assert_eq!(shown["registry_auth"]["username"], "me");
    assert_eq!(shown["registry_auth"]["password"], "<redacted>");
    assert!(!shown.to_string().contains("hunter2"));
    p.request.registry_auth = Some(nullspace_api::RegistryAuth::Gcp {
        service_account_json: "{\"private_key\":\"k\"}".into(),
    });
    assert!(!request_json(&p.request).to_string().contains("private_key"));
    p.request.registry_auth = Some(nullspace_api::RegistryAuth::Aws {
        access_key_id: "AKID".into(),
        secret_access_key: "aws-secret".into(),
        region: "eu-west-1".into(),
        session_token: Some("aws-session".into()),
    });
    let shown = request_json(&p.request).to_string();
    assert!(
        shown.contains("AKID") && shown.contains("eu-west-1"),
        "{shown}"
    );
    assert!(
        !shown.contains("aws-secret") && !shown.contains("aws-session"),
        "{shown}"
    );
}

#[test]
fn image_flags_that_cannot_go_together_are_refused() {
    for args in [
        &[
            "render",
            "json",
            "--from-image",
            "x",
            "--from-template",
            "base",
        ][..],
        &["render", "json", "--registry-username", "u"][..],
        &["render", "json", "--gcp-service-account", "/k.json"][..],
        &["render", "json", "--aws-region", "us-east-1"][..],
        &[
            "render",
            "json",
            "--from-image",
            "x",
            "--aws-region",
            "us-east-1",
            "--registry-username",
            "u",
        ][..],
        &[
            "render",
            "json",
            "--from-image",
            "x",
            "--registry-username",
            "u",
            "--gcp-service-account",
            "/k.json",
        ][..],
    ] {
        let e = parse_error(args);
        assert!(
            matches!(
                e.kind(),
                clap::error::ErrorKind::ArgumentConflict
                    | clap::error::ErrorKind::MissingRequiredArgument
            ),
            "{args:?}: {e}"
        );
    }
}
