//! Templates from OCI images on real machines, pulled from a private registry on
//! loopback (htpasswd auth, TLS from a test CA) that the test fills with a static
//! busybox image of two layers. A machine created from the built template runs
//! the image's files with the second layer's whiteout applied, starts in its
//! working directory with its environment, and finds the start command serving
//! already. Bad, missing credentials and an unknown image fail the build with
//! `image_pull_failed` naming the registry.

mod registry;
mod support;

use std::time::{Duration, Instant};

use registry::{busybox_layer, Layer, Registry, PASSWORD, USER};
use serde_json::{json, Value};
use support::{call, temp_state, Server};

fn build(server: &Server, key: &str, body: Value) -> Value {
    let url = format!("{}/v1/templates/builds", server.url);
    let (s, b) = call("POST", &url, key, Some(body));
    assert_eq!(s, 202, "{b}");
    let id = b["id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let (s, b) = call("GET", &format!("{url}/{id}"), key, None);
        assert_eq!(s, 200, "{b}");
        if b["status"] == "ready" || b["status"] == "error" {
            return b;
        }
        assert!(Instant::now() < deadline, "build {id} did not end: {b}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn exec(server: &Server, key: &str, id: &str, cmd: &str) -> Value {
    let (s, r) = call(
        "POST",
        &format!("{}/v1/machines/{id}/commands", server.url),
        key,
        Some(json!({"command": cmd, "timeout": 60})),
    );
    assert_eq!(s, 200, "{cmd}: {r}");
    r
}

#[test]
fn templates_build_from_a_private_registry_image_and_refuse_bad_logins() {
    if support::skip("image template end-to-end test") {
        return;
    }
    let missing = registry::missing_tools();
    if !missing.is_empty() {
        assert!(
            std::env::var_os("NULLSPACE_REQUIRE_VM").is_none(),
            "the registry test needs {missing:?} (scripts/install-deps.sh installs them)"
        );
        eprintln!("SKIP: image template test: {missing:?} not installed");
        return;
    }
    let reg = Registry::start();
    let second = Layer::new()
        .dir("srv/")
        .file("srv/hello.txt", b"hello from the image\n", 0o644)
        .file("etc/.wh.removed-later", b"", 0o644)
        .gzip();
    let repo = format!("test/busybox-{}", std::process::id());
    tokio::runtime::Runtime::new().unwrap().block_on(reg.push(
        &repo,
        "1",
        vec![busybox_layer(), second],
        &["PATH=/bin", "GREETING=from-image"],
        "/srv",
    ));
    let image = format!("{}/{repo}:1", reg.host);

    let state = temp_state("templates-image");
    let ca = reg.ca();
    let ecr = registry::fake_ecr();
    let server = Server::start_args(
        &state,
        &[
            "--registry-ca",
            ca.to_str().unwrap(),
            "--ecr-endpoint",
            &ecr,
        ],
    );
    let key = server.key("images");
    let name = format!("e2e-busybox-{}", std::process::id());
    let good = json!({"kind": "basic", "username": USER, "password": PASSWORD});

    let built = build(
        &server,
        &key,
        json!({
            "name": name,
            "from_image": image,
            "registry_auth": good,
            "steps": [{"kind": "run", "cmd": "echo \"$GREETING\" > /srv/step.txt", "user": "root"}],
            "start_cmd": "httpd -f -p 8080 -h /srv",
            "ready_cmd": "wget -q -O /dev/null http://127.0.0.1:8080/hello.txt"
        }),
    );
    assert_eq!(built["status"], "ready", "{built}");

    let (s, m) = call(
        "POST",
        &format!("{}/v1/machines", server.url),
        &key,
        Some(json!({"template": name})),
    );
    assert_eq!(s, 201, "{m}");
    let id = m["id"].as_str().unwrap().to_owned();
    let served = exec(
        &server,
        &key,
        &id,
        "wget -q -O - http://127.0.0.1:8080/hello.txt",
    );
    assert_eq!(served["exit_code"], 0, "{served}");
    assert_eq!(served["stdout"], "hello from the image\n", "{served}");
    let r = exec(
        &server,
        &key,
        &id,
        "cat /srv/step.txt; pwd; echo $GREETING; id -u",
    );
    assert_eq!(r["stdout"], "from-image\n/srv\nfrom-image\n1000\n", "{r}");
    let r = exec(&server, &key, &id, "test -e /etc/removed-later");
    assert_eq!(r["exit_code"], 1, "the whiteout was not applied: {r}");
    let (s, r) = call(
        "DELETE",
        &format!("{}/v1/machines/{id}", server.url),
        &key,
        None,
    );
    assert_eq!(s, 200, "{r}");

    let refused = |auth: Option<Value>, image: &str, want: &str| {
        let mut body = json!({"name": format!("{name}-bad"), "from_image": image,
                              "steps": [{"kind": "run", "cmd": "true"}]});
        if let Some(a) = auth {
            body["registry_auth"] = a;
        }
        let b = build(&server, &key, body);
        assert_eq!(b["status"], "error", "{b}");
        assert_eq!(b["error"]["code"], "image_pull_failed", "{b}");
        let msg = b["error"]["message"].as_str().unwrap();
        assert!(msg.contains(&reg.host), "{msg}");
        assert!(msg.contains(want), "{want:?} not in {msg}");
    };
    // An ECR login: the node exchanges the keys for the token of user AWS.
    let ecr_built = build(
        &server,
        &key,
        json!({"name": format!("{name}-ecr"), "from_image": image,
               "registry_auth": {"kind": "aws", "access_key_id": "AKIDTEST",
                                 "secret_access_key": "secret", "region": "us-east-1"},
               "steps": [{"kind": "run", "cmd": "cat /srv/hello.txt"}]}),
    );
    assert_eq!(ecr_built["status"], "ready", "{ecr_built}");
    let bad_keys = json!({"kind": "aws", "access_key_id": "AKIDWRONG",
                          "secret_access_key": "secret", "region": "us-east-1"});
    let b = build(
        &server,
        &key,
        json!({"name": format!("{name}-bad"), "from_image": image, "registry_auth": bad_keys,
               "steps": [{"kind": "run", "cmd": "true"}]}),
    );
    assert_eq!(b["error"]["code"], "image_pull_failed", "{b}");
    let msg = b["error"]["message"].as_str().unwrap();
    assert!(msg.contains("UnrecognizedClientException"), "{msg}");
    let wrong = json!({"kind": "basic", "username": USER, "password": "wrong"});
    refused(Some(wrong), &image, "refused");
    refused(None, &image, "refused");
    refused(
        Some(good),
        &format!("{}/test/never-pushed:1", reg.host),
        "not found",
    );

    for t in [name.clone(), format!("{name}-bad"), format!("{name}-ecr")] {
        let (s, r) = call(
            "DELETE",
            &format!("{}/v1/templates/{t}", server.url),
            &key,
            None,
        );
        assert!(s == 204 || s == 404, "{t}: {s} {r}");
    }
    // The cached steps of both builds go too: nothing of this test stays on disk.
    let (s, p) = call(
        "DELETE",
        &format!("{}/v1/templates/cache", server.url),
        &key,
        None,
    );
    assert_eq!(s, 200, "{p}");
    assert!(p["deleted"].as_u64().unwrap() >= 2, "{p}");
}
