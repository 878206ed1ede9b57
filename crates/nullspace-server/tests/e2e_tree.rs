//! The tree-wide file calls, archives and resumable uploads on a real machine,
//! through the real server and the Rust client.

mod support;

use nullspace_api::{
    Conflict, CreateUploadRequest, FindRequest, ReplaceRequest, UploadKind, WatchMsg,
};
use nullspace_client::{Body, Client, ClientError, ReadFile, WatchOptions};
use nullspace_types::MachineId;
use serde_json::json;
use sha2::{Digest, Sha256};
use support::{call, temp_state, Server};

fn api_code(e: &ClientError) -> String {
    match e {
        ClientError::Api { code, .. } => nullspace_client::code_name(*code),
        other => format!("{other}"),
    }
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

#[test]
fn tree_calls_archives_and_resumable_uploads_on_a_real_machine() {
    if support::skip("tree-wide file calls end-to-end test") {
        return;
    }
    let state = temp_state("tree");
    let server = Server::start(&state, None);
    let key = server.key("tree");
    let (s, m) = call(
        "POST",
        &format!("{}/v1/machines", server.url),
        &key,
        Some(json!({})),
    );
    assert_eq!(s, 201, "{m}");
    let id: MachineId = m["id"].as_str().unwrap().parse().unwrap();
    let client = Client::new(&server.url, key).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        // A tree, unpacked from a tar stream as it arrives.
        let tar = tar_of(&[
            ("a.py", b"x = 1  # TODO\n"),
            ("src/b.py", b"TODO: more\nold old\n"),
            ("src/c.rs", b"fn old() {}\n"),
            ("sp ace.txt", b"TODO\n"),
        ]);
        let facts = client
            .write_archive_body(
                &id,
                "/workspace/proj",
                Body::from(tar.clone()),
                Conflict::Merge,
                None,
            )
            .await
            .unwrap();
        assert_eq!((facts.files, facts.dirs), (4, 0));
        let err = client
            .write_archive_body(
                &id,
                "/workspace/proj",
                Body::from(tar),
                Conflict::Error,
                None,
            )
            .await
            .unwrap_err();
        assert_eq!(api_code(&err), "already_exists");

        let found = client
            .search_files(&id, "/workspace/proj", "*.py", None, None)
            .await
            .unwrap();
        let names: Vec<_> = found.entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["a.py", "b.py"]);
        let find = FindRequest {
            path: "/workspace/proj".into(),
            pattern: "TODO".into(),
            ..Default::default()
        };
        let hits = client.find_in_files(&id, &find).await.unwrap();
        assert_eq!(hits.matches.len(), 3, "{hits:?}");
        assert_eq!((hits.matches[0].line, hits.matches[0].column), (1, 10));
        let bad = FindRequest {
            pattern: "(".into(),
            regex: true,
            ..find.clone()
        };
        let err = client.find_in_files(&id, &bad).await.unwrap_err();
        assert_eq!(api_code(&err), "invalid_pattern");
        let replace = ReplaceRequest {
            paths: vec!["/workspace/proj/src".into()],
            find: r"old(\w*)".into(),
            replace: "new$1".into(),
            regex: true,
            ..Default::default()
        };
        let done = client.replace_in_files(&id, &replace).await.unwrap();
        assert_eq!(done.total_replacements, 3);
        let b = client
            .read_file(&id, "/workspace/proj/src/b.py", &ReadFile::default())
            .await
            .unwrap();
        assert_eq!(b, b"TODO: more\nnew new\n");

        // The directory comes back as a tar stream.
        let mut chunks = client
            .read_archive_stream(&id, "/workspace/proj", None)
            .await
            .unwrap();
        let mut bytes = Vec::new();
        while let Some(c) = futures_util::StreamExt::next(&mut chunks).await {
            bytes.extend_from_slice(&c.unwrap());
        }
        let mut names: Vec<String> = tar::Archive::new(&bytes[..])
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert!(names.contains(&"src/c.rs".to_string()), "{names:?}");

        // A watch sees a change made by a command, and stops when closed.
        let mut w = client
            .watch_dir(
                &id,
                "/workspace/proj",
                &WatchOptions {
                    recursive: true,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert!(matches!(
            w.next().await.unwrap(),
            Some(WatchMsg::Ready { .. })
        ));
        let (s, r) = call(
            "POST",
            &format!("{}/v1/machines/{id}/commands", server.url),
            &server.key("tree-cmd-unused"),
            Some(json!({"command": "true"})),
        );
        assert_eq!(s, 404, "another tenant cannot reach the machine: {r}");
        client
            .write_file(
                &id,
                "/workspace/proj/src/new.txt",
                b"n".to_vec(),
                None,
                None,
            )
            .await
            .unwrap();
        let mut kinds = Vec::new();
        while kinds.is_empty() {
            match tokio::time::timeout(std::time::Duration::from_secs(30), w.next()).await {
                Ok(Ok(Some(WatchMsg::Event(e)))) if e.path.ends_with("/src/new.txt") => {
                    kinds.push(e.kind)
                }
                Ok(Ok(Some(_))) => {}
                other => panic!("no event: {other:?}"),
            }
        }
        w.close().await.unwrap();
        let err = client
            .watch_dir(&id, "/workspace/nope", &WatchOptions::default())
            .await
            .unwrap_err();
        assert_eq!(api_code(&err), "not_found");

        // A resumable upload: one chunk cut off, resumed, checked by SHA-256.
        let data: Vec<u8> = (0..(200u32 << 10)).map(|i| (i * 7 % 253) as u8).collect();
        let sha = hex::encode(Sha256::digest(&data));
        let up = client
            .create_upload(
                &id,
                &CreateUploadRequest {
                    path: "/workspace/data/blob.bin".into(),
                    size: data.len() as u64,
                    chunk_size: Some(64 << 10),
                    sha256: Some(sha.clone()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(up.chunks, 4);
        let parts: Vec<Vec<u8>> = data.chunks(64 << 10).map(<[u8]>::to_vec).collect();
        client
            .upload_chunk(&id, &up.upload_id, 3, Body::from(parts[3].clone()), None)
            .await
            .unwrap();
        client
            .upload_chunk(&id, &up.upload_id, 0, Body::from(parts[0].clone()), None)
            .await
            .unwrap();
        // A chunk cut short is refused and not counted.
        let err = client
            .upload_chunk(
                &id,
                &up.upload_id,
                1,
                Body::from(parts[1][..1000].to_vec()),
                None,
            )
            .await
            .unwrap_err();
        assert_eq!(api_code(&err), "upload_chunk_invalid");
        let err = client
            .complete_upload(&id, &up.upload_id, None)
            .await
            .unwrap_err();
        assert_eq!(api_code(&err), "upload_state");
        let again = client.get_upload(&id, &up.upload_id).await.unwrap();
        assert_eq!(again.received, [0, 3]);
        for i in [1u64, 2] {
            client
                .upload_chunk(
                    &id,
                    &up.upload_id,
                    i,
                    Body::from(parts[i as usize].clone()),
                    None,
                )
                .await
                .unwrap();
        }
        let done = client
            .complete_upload(&id, &up.upload_id, None)
            .await
            .unwrap();
        assert_eq!(done.entry.unwrap().size, data.len() as u64);
        let back = client
            .read_file(&id, "/workspace/data/blob.bin", &ReadFile::default())
            .await
            .unwrap();
        assert_eq!(
            hex::encode(Sha256::digest(&back)),
            sha,
            "bytes identical by checksum"
        );
        let listing = client
            .list_files(&id, "/workspace/data", None, None)
            .await
            .unwrap();
        assert_eq!(
            listing.entries.len(),
            1,
            "no staging file left: {:?}",
            listing.entries
        );

        // A wrong whole checksum fails the completion.
        let up = client
            .create_upload(
                &id,
                &CreateUploadRequest {
                    path: "/workspace/data/bad.bin".into(),
                    size: 3,
                    sha256: Some("0".repeat(64)),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        client
            .upload_chunk(&id, &up.upload_id, 0, Body::from(b"abc".to_vec()), None)
            .await
            .unwrap();
        let err = client
            .complete_upload(&id, &up.upload_id, None)
            .await
            .unwrap_err();
        assert_eq!(api_code(&err), "upload_checksum_mismatch");
        client.abort_upload(&id, &up.upload_id).await.unwrap();
        assert!(!client
            .exists(&id, "/workspace/data/bad.bin", None)
            .await
            .unwrap());

        // A resumable archive unpacks at completion.
        let tar = tar_of(&[("x/y.txt", b"deep")]);
        let up = client
            .create_upload(
                &id,
                &CreateUploadRequest {
                    path: "/workspace/unpacked".into(),
                    size: tar.len() as u64,
                    kind: UploadKind::Archive,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        client
            .upload_chunk(&id, &up.upload_id, 0, Body::from(tar), None)
            .await
            .unwrap();
        let done = client
            .complete_upload(&id, &up.upload_id, None)
            .await
            .unwrap();
        assert_eq!(done.archive.unwrap().files, 1);
        let y = client
            .read_file(&id, "/workspace/unpacked/x/y.txt", &ReadFile::default())
            .await
            .unwrap();
        assert_eq!(y, b"deep");
        // A directory where a file upload goes is a conflict.
        let err = client
            .create_upload(
                &id,
                &CreateUploadRequest {
                    path: "/workspace/unpacked".into(),
                    size: 1,
                    ..Default::default()
                },
            )
            .await
            .unwrap_err();
        assert_eq!(api_code(&err), "upload_conflict");
    });
    let (s, _) = call(
        "DELETE",
        &format!("{}/v1/machines/{id}", server.url),
        &server.key("tree"),
        None,
    );
    assert!(s == 200 || s == 404, "{s}");
}
