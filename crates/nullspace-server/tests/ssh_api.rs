//! `…/ssh-access` over the do-nothing node: minting a certificate, bad keys and
//! lifetimes, other tenants, revocation.

mod common;

use axum::http::{Method, StatusCode};
use common::{api, code};
use nullspace_server::services::ssh::access::known_hosts_host;
use serde_json::json;

const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICgrN1WcdO0UyautNtCJ6wQeACUBRAw8he96n/NACseF me@host";
const ECDSA: &str = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBHz2KCQTPs2Y8feEYDzpcc96+F1acg6EiG9AINM7zA3DMBhl7kdME1iEyH/vKVXPImRIHsY5FFDHaRqsgsx0ySw= e";

#[tokio::test]
async fn minting_answers_a_certificate_for_the_machine() {
    let api = api();
    let m = api.create(json!({})).await;
    let id = m["id"].as_str().unwrap();
    let uri = format!("/v1/machines/{id}/ssh-access");
    let (s, a) = api
        .call(
            Method::POST,
            &uri,
            Some(json!({"public_key": KEY, "expires_in_minutes": 5})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    let access = a["id"].as_str().unwrap();
    assert!(access.starts_with("ssha_"), "{a}");
    assert_eq!(a["machine_id"], id);
    assert_eq!(a["username"], id);
    assert_eq!(a["relay_host"], "127.0.0.1");
    assert_eq!(a["relay_port"], 2222);
    let cert = a["certificate"].as_str().unwrap();
    assert!(
        cert.starts_with("ssh-ed25519-cert-v01@openssh.com "),
        "{cert}"
    );
    let host_key = a["host_key"].as_str().unwrap();
    assert!(host_key.starts_with("ssh-ed25519 "), "{host_key}");
    assert_eq!(
        a["known_hosts"],
        format!("{} {host_key}", known_hosts_host(&api.state.settings.ssh))
    );
    assert!(a["key_fingerprint"]
        .as_str()
        .unwrap()
        .starts_with("SHA256:"));
    assert!(a["command"]
        .as_str()
        .unwrap()
        .ends_with(&format!("-p 2222 {id}@127.0.0.1")));
    // The certificate is what it says: our CA, the machine as sole principal,
    // the grant as key id, ending when the grant ends.
    let parsed = russh::keys::Certificate::from_openssh(cert).unwrap();
    assert_eq!(parsed.key_id(), access);
    assert_eq!(parsed.valid_principals(), [id.to_owned()]);
    let expires = time::OffsetDateTime::parse(
        a["expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!(parsed.valid_before() as i64, expires.unix_timestamp());
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert!((expires.unix_timestamp() - now - 300).abs() <= 5);
    // The same key again is a second grant; ECDSA keys are taken too; the host
    // key is the same for every grant.
    let (s, b) = api
        .call(Method::POST, &uri, Some(json!({"public_key": ECDSA})))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_ne!(b["id"], a["id"]);
    assert_eq!(b["host_key"], a["host_key"]);
    assert!(b["certificate"]
        .as_str()
        .unwrap()
        .starts_with("ecdsa-sha2-nistp256-cert-v01@openssh.com "));
}

#[tokio::test]
async fn bad_keys_and_lifetimes_are_refused_with_their_codes() {
    let api = api();
    let m = api.create(json!({})).await;
    let uri = format!("/v1/machines/{}/ssh-access", m["id"].as_str().unwrap());
    let rsa = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDHW1NowGBCr23CrSVl";
    for (body, want) in [
        (json!({"public_key": ""}), "ssh_key_invalid"),
        (json!({"public_key": "not a key"}), "ssh_key_invalid"),
        (json!({"public_key": "ssh-ed25519 AAAA"}), "ssh_key_invalid"),
        (json!({"public_key": rsa}), "ssh_key_invalid"),
        (
            json!({"public_key": format!("{KEY}\n{KEY}")}),
            "ssh_key_invalid",
        ),
        (
            json!({"public_key": KEY, "expires_in_minutes": 0}),
            "validation_error",
        ),
        (
            json!({"public_key": KEY, "expires_in_minutes": 1441}),
            "validation_error",
        ),
        (
            json!({"public_key": KEY, "expires_in_minutes": -1}),
            "validation_error",
        ),
        (
            json!({"public_key": KEY, "expires_in_minutes": "5"}),
            "validation_error",
        ),
        (json!({"public_key": KEY, "extra": 1}), "validation_error"),
        (json!({}), "validation_error"),
    ] {
        let (s, v) = api.call(Method::POST, &uri, Some(body.clone())).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {v}");
        assert_eq!(code(&v), want, "{body}: {v}");
    }
}

#[tokio::test]
async fn other_tenants_and_killed_machines_get_none_and_revocation_is_204_then_404() {
    let api = api();
    let m = api.create(json!({})).await;
    let id = m["id"].as_str().unwrap();
    let uri = format!("/v1/machines/{id}/ssh-access");
    let body = json!({"public_key": KEY});
    let (s, v) = api
        .send(
            Method::POST,
            &uri,
            Some(&api.other_key),
            Some(body.to_string().into()),
            true,
        )
        .await;
    assert_eq!((s, code(&v)), (StatusCode::NOT_FOUND, "not_found"), "{v}");
    let (_, a) = api.call(Method::POST, &uri, Some(body.clone())).await;
    let revoke = format!("{uri}/{}", a["id"].as_str().unwrap());
    // Another tenant cannot revoke it, nor learn that it exists.
    let (s, v) = api
        .send(Method::DELETE, &revoke, Some(&api.other_key), None, false)
        .await;
    assert_eq!((s, code(&v)), (StatusCode::NOT_FOUND, "not_found"), "{v}");
    let (s, _) = api.call(Method::DELETE, &revoke, None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = api.call(Method::DELETE, &revoke, None).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "revoking again answers the same");
    let (s, v) = api
        .call(Method::DELETE, &format!("{uri}/ssha_nope"), None)
        .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::NOT_FOUND, "ssh_access_not_found"),
        "{v}"
    );
    // A grant of one machine does not revoke through another.
    let other = api.create(json!({})).await;
    let (_, b) = api.call(Method::POST, &uri, Some(body.clone())).await;
    let cross = format!(
        "/v1/machines/{}/ssh-access/{}",
        other["id"].as_str().unwrap(),
        b["id"].as_str().unwrap()
    );
    let (s, v) = api.call(Method::DELETE, &cross, None).await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::NOT_FOUND, "ssh_access_not_found"),
        "{v}"
    );
    let (s, _) = api
        .call(Method::DELETE, &format!("/v1/machines/{id}"), None)
        .await;
    assert!(s.is_success());
    let (s, v) = api.call(Method::POST, &uri, Some(body)).await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::CONFLICT, "machine_not_running"),
        "{v}"
    );
}
