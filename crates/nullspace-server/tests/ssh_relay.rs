//! The SSH relay over the do-nothing node, driven by the real OpenSSH client:
//! a grant's certificate logs in and runs a command (the fake process table
//! prints its command line; terminals and stdin are tested on real machines in
//! `e2e_ssh.rs`); expired, revoked and foreign
//! certificates, plain keys, another machine's or another tenant's grant and
//! another key under a grant are refused at login, and a revoked grant opens no
//! new channel on a session that is already open.

mod common;
mod sshkit;

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use common::{api, Api};
use nullspace_server::services::ssh::ca::Issue;
use nullspace_server::services::ssh::{relay, Keys, RelayAddress};
use russh::keys::ssh_key::PublicKey;
use serde_json::{json, Value};
use sshkit::{refused, show, Client};

/// The app with a relay on a free loopback port.
async fn setup() -> (Api, u16) {
    let mut api = api();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut state = api.state.clone();
    let mut settings = (*state.settings).clone();
    settings.ssh = RelayAddress {
        host: "127.0.0.1".into(),
        port,
    };
    state.settings = Arc::new(settings);
    api.app = nullspace_server::app(state.clone());
    api.state = state.clone();
    tokio::spawn(relay::serve(state, listener));
    (api, port)
}

/// Mint a grant for `client`'s key on machine `id` as the first tenant.
async fn mint(api: &Api, id: &str, client: &Client) -> Value {
    let (s, a) = api
        .call(
            Method::POST,
            &format!("/v1/machines/{id}/ssh-access"),
            Some(json!({"public_key": client.public_key()})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    a
}

/// Run blocking `f` off the runtime (the relay serves on it meanwhile).
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

fn dir(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("ns-ssh-relay-{name}-{}", std::process::id()))
}

/// A certificate for `client`'s key signed by `keys` with these fields.
fn forge(keys: &Keys, client: &Client, access: &str, machine: &str, window: (i64, i64)) -> String {
    let key = PublicKey::from_openssh(&client.public_key()).unwrap();
    keys.sign(&Issue {
        key: &key,
        access_id: access,
        machine,
        valid_after: window.0,
        valid_before: window.1,
    })
    .unwrap()
    .to_openssh()
    .unwrap()
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_logs_in_and_runs_a_command() {
    let (api, port) = setup().await;
    let m = api.create(json!({})).await;
    let id = m["id"].as_str().unwrap().to_owned();
    let client = Client::new(&dir("ok"), port);
    let access = mint(&api, &id, &client).await;
    client.install(&access);
    let out = blocking(move || client.ssh(&id, &[], &["echo", "hello-relay"], b"")).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("echo hello-relay"),
        "{}",
        show(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_revoked_foreign_and_misdirected_certificates_are_refused() {
    let (api, port) = setup().await;
    let a = api.create(json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let b = api.create(json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // A machine of the other tenant.
    let (s, other) = api
        .send(
            Method::POST,
            "/v1/machines",
            Some(&api.other_key),
            Some(json!({}).to_string().into()),
            true,
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let other = other["id"].as_str().unwrap().to_owned();
    let client = Arc::new(Client::new(&dir("refused"), port));
    let grant = mint(&api, &a, &client).await;
    client.install(&grant);
    let access = grant["id"].as_str().unwrap().to_owned();
    let ours = Keys::from_store(&api.state.store).unwrap();
    let foreign = Keys::from_seeds(&[7; 32], &[8; 32]);
    let t = now();

    let check = |label: &'static str, user: String, cert: Option<String>, want_ok: bool| {
        let client = client.clone();
        async move {
            let out = blocking(move || {
                if let Some(c) = cert {
                    client.install_cert(&c);
                }
                client.ssh(&user, &[], &["true"], b"")
            })
            .await;
            if want_ok {
                assert_eq!(out.status.code(), Some(0), "{label}: {}", show(&out));
            } else {
                assert!(refused(&out), "{label} must be refused: {}", show(&out));
            }
        }
    };
    check("the grant itself", a.clone(), None, true).await;
    check(
        "machine A's certificate for machine B",
        b.clone(),
        None,
        false,
    )
    .await;
    check(
        "machine A's certificate for another tenant's machine",
        other.clone(),
        None,
        false,
    )
    .await;
    let c = forge(&ours, &client, &access, &b, (t - 60, t + 600));
    check("our CA, principal B, A's grant", b.clone(), Some(c), false).await;
    let c = forge(&ours, &client, &access, &other, (t - 60, t + 600));
    check(
        "our CA, another tenant's machine, A's grant",
        other.clone(),
        Some(c),
        false,
    )
    .await;
    let c = forge(&ours, &client, &access, &a, (t - 600, t - 300));
    check("expired certificate", a.clone(), Some(c), false).await;
    let c = forge(&ours, &client, "ssha_unknown", &a, (t - 60, t + 600));
    check("a grant that does not exist", a.clone(), Some(c), false).await;
    let c = forge(&foreign, &client, &access, &a, (t - 60, t + 600));
    check("another CA", a.clone(), Some(c), false).await;
    // Back to the real certificate: still good, then revoked.
    let c = grant["certificate"].as_str().unwrap().to_owned();
    check("the grant again", a.clone(), Some(c), true).await;
    let (s, _) = api
        .call(
            Method::DELETE,
            &format!("/v1/machines/{a}/ssh-access/{access}"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    check("a revoked grant", a.clone(), None, false).await;
    // A plain key, without a certificate.
    let _ = std::fs::remove_file(client.cert_path());
    check("a plain key", a.clone(), None, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_key_in_a_grants_certificate_is_refused() {
    let (api, port) = setup().await;
    let id = api.create(json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let first = Client::new(&dir("key-a"), port);
    let grant = mint(&api, &id, &first).await;
    // A second key, certified by our CA under the first key's grant.
    let second = Client::new(&dir("key-b"), port);
    second.install(&grant);
    let ours = Keys::from_store(&api.state.store).unwrap();
    let t = now();
    let access = grant["id"].as_str().unwrap().to_owned();
    second.install_cert(&forge(&ours, &second, &access, &id, (t - 60, t + 600)));
    let out = blocking(move || second.ssh(&id, &[], &["true"], b"")).await;
    assert!(refused(&out), "{}", show(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_grant_opens_no_new_channel_on_a_session_already_open() {
    let (api, port) = setup().await;
    let id = api.create(json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let client = Arc::new(Client::new(&dir("mux"), port));
    let grant = mint(&api, &id, &client).await;
    client.install(&grant);
    let control = client.dir.join("control");
    let path = format!("ControlPath={}", control.display());
    // A master connection of this test's own, ended by its pid below.
    let mut master = client
        .ssh_command(&id, &["-M", "-N", "-o", &path], &[])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while !control.exists() {
        assert!(
            start.elapsed().as_secs() < 30,
            "the master connection never came up"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let shared = [
        "-o".to_owned(),
        path.clone(),
        "-o".into(),
        "ControlMaster=no".into(),
    ];
    let run = |client: Arc<Client>, id: String, shared: [String; 4]| {
        blocking(move || {
            let extra: Vec<&str> = shared.iter().map(String::as_str).collect();
            client.ssh(&id, &extra, &["echo", "on-the-session"], b"")
        })
    };
    let out = run(client.clone(), id.clone(), shared.clone()).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let (s, _) = api
        .call(
            Method::DELETE,
            &format!(
                "/v1/machines/{id}/ssh-access/{}",
                grant["id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let out = run(client.clone(), id.clone(), shared).await;
    assert_eq!(out.status.code(), Some(255), "{}", show(&out));
    // The open session refuses the channel; ssh then tries a new login, refused too.
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Session open refused by peer"),
        "{}",
        show(&out)
    );
    let _ = master.kill();
    let _ = master.wait();
}
