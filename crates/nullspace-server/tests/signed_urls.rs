//! Signed file URLs over the do-nothing node: they work with no API key, for
//! their own method and file only, until they expire.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::{api, code};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

/// Send `method` to `url` (absolute) with no API key; status and body.
async fn anonymous(
    api: &common::Api,
    method: Method,
    url: &str,
    body: &str,
) -> (StatusCode, Vec<u8>) {
    let path = url.split_once("://").unwrap().1;
    let path = &path[path.find('/').unwrap()..];
    let req = Request::builder()
        .method(method)
        .uri(path)
        .body(Body::from(body.to_owned()))
        .unwrap();
    let resp = api.app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    (
        status,
        resp.into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
}

fn error_code(body: &[u8]) -> String {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    code(&v).to_owned()
}

#[tokio::test]
async fn signed_urls_grant_one_transfer_without_a_key() {
    let api = api();
    let m = api.create(json!({})).await;
    let id = m["id"].as_str().unwrap();
    let base = format!("/v1/machines/{id}/files");
    api.raw(
        Method::PUT,
        &format!("{base}?path=/workspace/a%20b.txt"),
        Body::from("hello"),
        &[],
    )
    .await;
    let (s, down) = api
        .call(
            Method::POST,
            &format!("{base}/download-url"),
            Some(json!({"path": "/workspace/a b.txt"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{down}");
    assert_eq!(
        (down["method"].as_str(), down["path"].as_str()),
        (Some("GET"), Some("/workspace/a b.txt"))
    );
    let url = down["url"].as_str().unwrap();
    assert!(
        url.starts_with("http://") && url.contains("/v1/signed/files?"),
        "{url}"
    );
    let (s, bytes) = anonymous(&api, Method::GET, url, "").await;
    assert_eq!((s, bytes.as_slice()), (StatusCode::OK, b"hello".as_slice()));

    // Only for its own method, and no part of it may change.
    let (s, body) = anonymous(&api, Method::PUT, url, "evil").await;
    assert_eq!(
        (s, error_code(&body)),
        (StatusCode::UNAUTHORIZED, "unauthorized".into())
    );
    let other_path = url.replace("a%20b.txt", "other.txt");
    let (s, _) = anonymous(&api, Method::GET, &other_path, "").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let later = {
        let (head, tail) = url.split_once("expires=").unwrap();
        let (n, rest) = tail.split_once('&').unwrap();
        format!("{head}expires={}&{rest}", n.parse::<i64>().unwrap() + 1000)
    };
    let (s, _) = anonymous(&api, Method::GET, &later, "").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "a longer life is a change too");
    let flipped = {
        let (head, sig) = url.rsplit_once("signature=").unwrap();
        let first = if sig.starts_with('0') { '1' } else { '0' };
        format!("{head}signature={first}{}", &sig[1..])
    };
    let (s, body) = anonymous(&api, Method::GET, &flipped, "").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(String::from_utf8_lossy(&body).contains("signature"));

    // An upload URL writes the file, as the user it names.
    let (s, up) = api
        .call(
            Method::POST,
            &format!("{base}/upload-url"),
            Some(json!({"path": "/workspace/up.bin", "expires_in": 60.0})),
        )
        .await;
    assert_eq!(
        (s, up["method"].as_str()),
        (StatusCode::OK, Some("PUT")),
        "{up}"
    );
    let (s, body) = anonymous(&api, Method::PUT, up["url"].as_str().unwrap(), "uploaded").await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let (_, h, v) = api
        .raw(
            Method::GET,
            &format!("{base}?path=/workspace/up.bin"),
            Body::empty(),
            &[],
        )
        .await;
    assert_eq!(v, json!("uploaded"), "{h:?}");
    let (s, _) = anonymous(&api, Method::GET, up["url"].as_str().unwrap(), "").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "an upload URL does not read");
}

#[tokio::test]
async fn signed_urls_expire_and_refuse_bad_requests() {
    let api = api();
    let m = api.create(json!({})).await;
    let id = m["id"].as_str().unwrap();
    let base = format!("/v1/machines/{id}/files");
    for bad in [
        json!({"path": "/w", "expires_in": 0}),
        json!({"path": "/w", "expires_in": 604801}),
        json!({"path": "/w", "later": 1}),
        json!({"path": "/w\u{0}"}),
    ] {
        let (s, v) = api
            .call(
                Method::POST,
                &format!("{base}/download-url"),
                Some(bad.clone()),
            )
            .await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::UNPROCESSABLE_ENTITY, "validation_error"),
            "{bad}: {v}"
        );
    }
    // Another tenant cannot sign for this machine.
    let (s, v) = api
        .send(
            Method::POST,
            &format!("{base}/download-url"),
            Some(&api.other_key),
            Some(Body::from(r#"{"path":"/w"}"#)),
            true,
        )
        .await;
    assert_eq!((s, code(&v)), (StatusCode::NOT_FOUND, "not_found"), "{v}");
    let (_, down) = api
        .call(
            Method::POST,
            &format!("{base}/download-url"),
            Some(json!({"path": "/dev/zero", "expires_in": 1})),
        )
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (s, body) = anonymous(&api, Method::GET, down["url"].as_str().unwrap(), "").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(
        String::from_utf8_lossy(&body).contains("expired"),
        "{}",
        String::from_utf8_lossy(&body)
    );
    // A URL missing a part is a bad request, not a read.
    let (s, _) = anonymous(
        &api,
        Method::GET,
        "http://x/v1/signed/files?machine=sb_x",
        "",
    )
    .await;
    assert_eq!(s.as_u16() / 100, 4);
}
