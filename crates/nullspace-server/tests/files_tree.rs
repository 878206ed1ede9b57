//! Search, find, replace, archives and resumable uploads over the do-nothing
//! node: the HTTP layer's checks, codes and session bookkeeping.

mod common;

use axum::body::Body;
use axum::http::{Method, StatusCode};
use common::{api, code};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

async fn put_file(api: &common::Api, id: &str, path: &str, body: &str) {
    let (s, _, v) = api
        .raw(
            Method::PUT,
            &format!("/v1/machines/{id}/files?path={path}"),
            Body::from(body.to_owned()),
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

#[tokio::test]
async fn searches_finds_and_replaces() {
    let api = api();
    let m = api.create(json!({})).await;
    let id = m["id"].as_str().unwrap();
    put_file(&api, id, "/workspace/a.py", "x = 1 # TODO\n").await;
    put_file(&api, id, "/workspace/b.txt", "old old\n").await;
    let base = format!("/v1/machines/{id}/files");

    let (s, v) = api
        .call(
            Method::GET,
            &format!("{base}/search?path=/workspace&pattern=*.py"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["entries"][0]["name"], "a.py");
    assert_eq!(v["truncated"], false);
    let (s, v) = api
        .call(
            Method::GET,
            &format!("{base}/search?path=/workspace&pattern=%5B"),
            None,
        )
        .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_pattern")
    );
    let (s, v) = api
        .call(
            Method::GET,
            &format!("{base}/search?path=/workspace&pattern=*&limit=0"),
            None,
        )
        .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_error")
    );

    let (s, v) = api
        .call(
            Method::POST,
            &format!("{base}/find"),
            Some(json!({"path": "/workspace", "pattern": "TODO"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["matches"][0]["line"], 1);
    assert_eq!(v["matches"][0]["column"], 9);
    let (s, v) = api
        .call(
            Method::POST,
            &format!("{base}/find"),
            Some(json!({"path": "/workspace", "pattern": "(", "regex": true})),
        )
        .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_pattern")
    );
    let (s, v) = api
        .call(
            Method::POST,
            &format!("{base}/find"),
            Some(json!({"path": "/workspace", "pattern": ""})),
        )
        .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_error")
    );

    let replace = |dry: bool| json!({"paths": ["/workspace/b.txt"], "find": "old", "replace": "new", "dry_run": dry});
    let (s, v) = api
        .call(
            Method::POST,
            &format!("{base}/replace"),
            Some(replace(true)),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (v["total_replacements"].as_u64(), v["dry_run"].as_bool()),
        (Some(2), Some(true))
    );
    let (_, body) = api
        .read_some(&format!("{base}?path=/workspace/b.txt"), 1 << 10)
        .await;
    assert_eq!(body, b"old old\n", "a dry run writes nothing");
    let (s, v) = api
        .call(
            Method::POST,
            &format!("{base}/replace"),
            Some(replace(false)),
        )
        .await;
    assert_eq!(
        (s, v["files"][0]["replacements"].as_u64()),
        (StatusCode::OK, Some(2))
    );
    let (_, body) = api
        .read_some(&format!("{base}?path=/workspace/b.txt"), 1 << 10)
        .await;
    assert_eq!(body, b"new new\n");
    let (s, v) = api
        .call(
            Method::POST,
            &format!("{base}/replace"),
            Some(json!({"paths": [], "find": "a", "replace": "b"})),
        )
        .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_error")
    );
    let (s, v) = api
        .call(
            Method::POST,
            &format!("{base}/replace"),
            Some(json!({"paths": ["/workspace/nope"], "find": "a", "replace": "b"})),
        )
        .await;
    assert_eq!((s, code(&v)), (StatusCode::NOT_FOUND, "not_found"));
}

fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, *data).unwrap();
    }
    b.into_inner().unwrap()
}

#[tokio::test]
async fn archives_go_in_and_out() {
    let api = api();
    let m = api.create(json!({})).await;
    let id = m["id"].as_str().unwrap();
    let base = format!("/v1/machines/{id}/files/archive");
    let tar = tar_of(&[("a.txt", b"one"), ("d/b.txt", b"two")]);
    let (s, _, v) = api
        .raw(
            Method::PUT,
            &format!("{base}?path=/workspace/src"),
            Body::from(tar.clone()),
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (v["files"].as_u64(), v["bytes"].as_u64()),
        (Some(2), Some(6))
    );
    let (s, _, v) = api
        .raw(
            Method::PUT,
            &format!("{base}?path=/workspace/src&conflict=error"),
            Body::from(tar),
            &[],
        )
        .await;
    assert_eq!((s, code(&v)), (StatusCode::CONFLICT, "already_exists"));
    let (s, _, v) = api
        .raw(
            Method::PUT,
            &format!("{base}?path=/workspace/src&conflict=bogus"),
            Body::empty(),
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (s, bytes) = api
        .read_some(&format!("{base}?path=/workspace/src"), 1 << 20)
        .await;
    assert_eq!(s, StatusCode::OK);
    let mut names: Vec<String> = tar::Archive::new(&bytes[..])
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["a.txt", "d/b.txt"]);
}

/// How many upload staging files lie under /workspace.
async fn staged(api: &common::Api, id: &str) -> usize {
    let path = format!("/v1/machines/{id}/files/search?path=/workspace&pattern=*.part");
    api.call(Method::GET, &path, None).await.1["entries"]
        .as_array()
        .unwrap()
        .len()
}

async fn session(api: &common::Api, id: &str, body: Value) -> (StatusCode, Value) {
    api.call(
        Method::POST,
        &format!("/v1/machines/{id}/uploads"),
        Some(body),
    )
    .await
}

async fn chunk(
    api: &common::Api,
    id: &str,
    up: &str,
    i: u64,
    data: &[u8],
    sha: Option<&str>,
) -> (StatusCode, Value) {
    let headers: Vec<(&str, &str)> = sha
        .map(|s| vec![("x-nullspace-chunk-sha256", s)])
        .unwrap_or_default();
    let (s, _, v) = api
        .raw(
            Method::PUT,
            &format!("/v1/machines/{id}/uploads/{up}/chunks/{i}"),
            Body::from(data.to_vec()),
            &headers,
        )
        .await;
    (s, v)
}

#[tokio::test]
async fn resumable_uploads_take_chunks_in_any_order_and_check_them() {
    let api = api();
    let m = api.create(json!({})).await;
    let id = m["id"].as_str().unwrap();
    let data: Vec<u8> = (0..(150u32 << 10)).map(|i| (i % 251) as u8).collect();
    let sha = hex::encode(Sha256::digest(&data));
    let (s, up) = session(
        &api,
        id,
        json!({"path": "/workspace/big.bin", "size": data.len(), "chunk_size": 65536, "sha256": sha}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{up}");
    assert_eq!(
        (up["chunks"].as_u64(), up["state"].as_str()),
        (Some(3), Some("open"))
    );
    let u = up["upload_id"].as_str().unwrap().to_owned();
    let parts: Vec<&[u8]> = data.chunks(65536).collect();
    // Out of order; a wrong chunk digest and a wrong length are refused.
    let (s, v) = chunk(&api, id, &u, 2, parts[2], None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = chunk(&api, id, &u, 0, parts[0], Some(&"0".repeat(64))).await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "upload_checksum_mismatch")
    );
    let (s, v) = chunk(&api, id, &u, 0, &parts[0][..100], None).await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::CONFLICT, "upload_chunk_invalid")
    );
    let (s, v) = chunk(&api, id, &u, 7, parts[0], None).await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::CONFLICT, "upload_chunk_invalid")
    );
    let good = hex::encode(Sha256::digest(parts[0]));
    let (s, v) = chunk(&api, id, &u, 0, parts[0], Some(&good)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["received"], json!([0, 2]));
    // Not all there yet.
    let done = format!("/v1/machines/{id}/uploads/{u}/complete");
    let (s, v) = api.call(Method::POST, &done, None).await;
    assert_eq!((s, code(&v)), (StatusCode::CONFLICT, "upload_state"));
    let (s, _) = chunk(&api, id, &u, 1, parts[1], None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = api.call(Method::POST, &done, None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["upload"]["state"], "complete");
    assert_eq!(v["entry"]["size"].as_u64(), Some(data.len() as u64));
    let (_, body) = api
        .read_some(
            &format!("/v1/machines/{id}/files?path=/workspace/big.bin"),
            1 << 20,
        )
        .await;
    assert_eq!(body, data);
    let (s, v) = chunk(&api, id, &u, 1, parts[1], None).await;
    assert_eq!((s, code(&v)), (StatusCode::CONFLICT, "upload_state"));

    // A wrong whole digest fails the completion and keeps the session open.
    let (_, up) = session(
        &api,
        id,
        json!({"path": "/workspace/c.bin", "size": 3, "chunk_size": 65536}),
    )
    .await;
    let u = up["upload_id"].as_str().unwrap().to_owned();
    chunk(&api, id, &u, 0, b"abc", None).await;
    let done = format!("/v1/machines/{id}/uploads/{u}/complete");
    let (s, v) = api
        .call(Method::POST, &done, Some(json!({"sha256": "1".repeat(64)})))
        .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "upload_checksum_mismatch")
    );
    let (s, v) = api
        .call(Method::GET, &format!("/v1/machines/{id}/uploads/{u}"), None)
        .await;
    assert_eq!((s, v["state"].as_str()), (StatusCode::OK, Some("open")));
    let (s, _) = api
        .call(
            Method::DELETE,
            &format!("/v1/machines/{id}/uploads/{u}"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, v) = api.call(Method::POST, &done, None).await;
    assert_eq!((s, code(&v)), (StatusCode::CONFLICT, "upload_state"));
}

#[tokio::test]
async fn bad_upload_sessions_are_refused() {
    let api = common::api_with_upload_limit(1 << 20);
    let m = api.create(json!({})).await;
    let id = m["id"].as_str().unwrap();
    let (s, v) = session(&api, id, json!({"path": "/workspace/x", "size": 2 << 20})).await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::PAYLOAD_TOO_LARGE, "upload_too_large")
    );
    for bad in ["/workspace/.nullspace/x", "/", "/a/../etc/x"] {
        let (s, v) = session(&api, id, json!({"path": bad, "size": 1})).await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::UNPROCESSABLE_ENTITY, "upload_path_invalid"),
            "{bad}"
        );
    }
    let (s, v) = session(
        &api,
        id,
        json!({"path": "/workspace/x", "size": 1, "chunk_size": 10}),
    )
    .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_error")
    );
    let (s, v) = session(
        &api,
        id,
        json!({"path": "/workspace/x", "size": 1, "sha256": "xyz"}),
    )
    .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_error")
    );
    let (s, v) = api
        .call(
            Method::GET,
            &format!("/v1/machines/{id}/uploads/upl_nope"),
            None,
        )
        .await;
    assert_eq!((s, code(&v)), (StatusCode::NOT_FOUND, "upload_not_found"));
    // Another machine's session is not this one's.
    let (_, up) = session(
        &api,
        id,
        json!({"path": "/workspace/x", "size": 1, "expires_in": 1}),
    )
    .await;
    let u = up["upload_id"].as_str().unwrap().to_owned();
    let other = api.create(json!({})).await;
    let oid = other["id"].as_str().unwrap();
    let (s, v) = api
        .call(
            Method::GET,
            &format!("/v1/machines/{oid}/uploads/{u}"),
            None,
        )
        .await;
    assert_eq!((s, code(&v)), (StatusCode::NOT_FOUND, "upload_not_found"));
    // Expired: refused with its own code.
    let (_, up2) = session(
        &api,
        id,
        json!({"path": "/workspace/y", "size": 1, "expires_in": 1}),
    )
    .await;
    let u2 = up2["upload_id"].as_str().unwrap().to_owned();
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (s, v) = chunk(&api, id, &u, 0, b"x", None).await;
    assert_eq!((s, code(&v)), (StatusCode::GONE, "upload_expired"));
    // The sweep expires a session nobody came back to and removes its staged bytes.
    assert_eq!(
        staged(&api, id).await,
        1,
        "the second session's staging file"
    );
    nullspace_server::services::uploads::sweep(&api.state).await;
    assert_eq!(staged(&api, id).await, 0);
    let (s, v) = api
        .call(
            Method::GET,
            &format!("/v1/machines/{id}/uploads/{u2}"),
            None,
        )
        .await;
    assert_eq!((s, code(&v)), (StatusCode::GONE, "upload_expired"), "{v}");
}
