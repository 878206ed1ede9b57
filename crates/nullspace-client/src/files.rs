//! Files of a machine. Every operation runs as a guest user, `user` unless one is
//! named (`root` must be named).

use nullspace_api::{
    ChmodRequest, EntryInfo, ExistsResponse, FileUrl, FileUrlRequest, ListResponse, MkdirRequest,
    MkdirResponse, RenameRequest, WriteFilesRequest, WriteFilesResponse,
};
use std::pin::Pin;

use bytes::Bytes;
use futures_util::{Stream, StreamExt, TryStreamExt};
use nullspace_types::MachineId;
use reqwest::{Body, Method};

use crate::{Client, ClientError};

/// Who reads, and which bytes, in [`Client::read_file`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadFile {
    /// Guest user whose permissions the read has (server default `user`).
    pub user: Option<String>,
    /// Byte to start at (server default 0).
    pub offset: Option<u64>,
    /// Most bytes to return (server default: to the end of the file).
    pub limit: Option<u64>,
}

/// A file's bytes as they arrive; an `Err` means the read was cut short.
pub type FileBytes = Pin<Box<dyn Stream<Item = Result<Bytes, ClientError>> + Send>>;

/// Permission bits as the API spells them: octal text, e.g. `0644`.
fn octal(mode: u32) -> String {
    format!("{mode:04o}")
}

/// The query of a files route: `path`, then `user` when one is named.
pub(crate) fn path_query(path: &str, user: Option<&str>) -> Vec<(&'static str, String)> {
    let mut query = vec![("path", path.to_owned())];
    if let Some(user) = user {
        query.push(("user", user.to_owned()));
    }
    query
}

impl Client {
    /// `GET /v1/machines/{id}/files`: the file's bytes, all of them or the range
    /// `read.offset`/`read.limit`, read as `read.user`, held in memory (see
    /// [`Client::read_file_stream`] for large files).
    pub async fn read_file(
        &self,
        id: &MachineId,
        path: &str,
        read: &ReadFile,
    ) -> Result<Vec<u8>, ClientError> {
        let chunks: Vec<Bytes> = self
            .read_file_stream(id, path, read)
            .await?
            .try_collect()
            .await?;
        Ok(chunks.concat())
    }

    /// `GET /v1/machines/{id}/files` as a stream of the file's bytes as the
    /// server sends them; errors found before the first byte are the call's.
    pub async fn read_file_stream(
        &self,
        id: &MachineId,
        path: &str,
        read: &ReadFile,
    ) -> Result<FileBytes, ClientError> {
        let mut query = path_query(path, read.user.as_deref());
        if let Some(offset) = read.offset {
            query.push(("offset", offset.to_string()));
        }
        if let Some(limit) = read.limit {
            query.push(("limit", limit.to_string()));
        }
        let url = self.url(&format!("v1/machines/{id}/files"), &query)?;
        let response = self.send(self.request(Method::GET, &url), &url).await?;
        let url = url.to_string();
        Ok(Box::pin(response.bytes_stream().map(move |chunk| {
            chunk.map_err(|source| ClientError::Transport {
                url: url.clone(),
                source,
            })
        })))
    }

    /// `PUT /v1/machines/{id}/files`: writes `bytes` atomically as `user` (default
    /// `user`), creating parents, with permission bits `mode` (e.g. `0o644`). The server
    /// takes at most [`MAX_FILE_BYTES`](nullspace_api::MAX_FILE_BYTES)
    /// (413 `payload_too_large`).
    pub async fn write_file(
        &self,
        id: &MachineId,
        path: &str,
        bytes: Vec<u8>,
        user: Option<&str>,
        mode: Option<u32>,
    ) -> Result<EntryInfo, ClientError> {
        self.write_file_body(id, path, Body::from(bytes), user, mode)
            .await
    }

    /// `PUT /v1/machines/{id}/files` from `body`, sent as it is produced (e.g.
    /// [`Body::wrap_stream`] over a file), so nothing is held whole in memory.
    pub async fn write_file_body(
        &self,
        id: &MachineId,
        path: &str,
        body: Body,
        user: Option<&str>,
        mode: Option<u32>,
    ) -> Result<EntryInfo, ClientError> {
        let mut query = path_query(path, user);
        if let Some(mode) = mode {
            query.push(("mode", octal(mode)));
        }
        let url = self.url(&format!("v1/machines/{id}/files"), &query)?;
        let builder = self
            .request(Method::PUT, &url)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(body);
        self.json(builder, &url).await
    }

    /// `POST /v1/machines/{id}/files/batch`: writes several files as `request.user`.
    pub async fn write_files(
        &self,
        id: &MachineId,
        request: &WriteFilesRequest,
    ) -> Result<WriteFilesResponse, ClientError> {
        let url = self.url(&format!("v1/machines/{id}/files/batch"), &[])?;
        self.json(self.request(Method::POST, &url).json(request), &url)
            .await
    }

    /// `GET /v1/machines/{id}/files/list`: entries under `path`, `depth` levels deep
    /// (server default 1), as seen by `user`.
    pub async fn list_files(
        &self,
        id: &MachineId,
        path: &str,
        depth: Option<u32>,
        user: Option<&str>,
    ) -> Result<ListResponse, ClientError> {
        let mut query = path_query(path, user);
        if let Some(depth) = depth {
            query.push(("depth", depth.to_string()));
        }
        let url = self.url(&format!("v1/machines/{id}/files/list"), &query)?;
        self.json(self.request(Method::GET, &url), &url).await
    }

    /// `GET /v1/machines/{id}/files/exists`, as seen by `user`.
    pub async fn exists(
        &self,
        id: &MachineId,
        path: &str,
        user: Option<&str>,
    ) -> Result<bool, ClientError> {
        let url = self.url(
            &format!("v1/machines/{id}/files/exists"),
            &path_query(path, user),
        )?;
        let answer: ExistsResponse = self.json(self.request(Method::GET, &url), &url).await?;
        Ok(answer.exists)
    }

    /// `GET /v1/machines/{id}/files/info`, as seen by `user`.
    pub async fn file_info(
        &self,
        id: &MachineId,
        path: &str,
        user: Option<&str>,
    ) -> Result<EntryInfo, ClientError> {
        let url = self.url(
            &format!("v1/machines/{id}/files/info"),
            &path_query(path, user),
        )?;
        self.json(self.request(Method::GET, &url), &url).await
    }

    /// `POST /v1/machines/{id}/files/mkdir`: true if created, false if it was there.
    /// `user` creates and owns the directories.
    pub async fn mkdir(
        &self,
        id: &MachineId,
        path: &str,
        user: Option<&str>,
    ) -> Result<bool, ClientError> {
        let url = self.url(&format!("v1/machines/{id}/files/mkdir"), &[])?;
        let body = MkdirRequest {
            path: path.to_owned(),
            user: user.map(str::to_owned),
        };
        let answer: MkdirResponse = self
            .json(self.request(Method::POST, &url).json(&body), &url)
            .await?;
        Ok(answer.created)
    }

    /// `POST /v1/machines/{id}/files/rename`, with the permissions of `user`: the entry
    /// at its new path.
    pub async fn rename(
        &self,
        id: &MachineId,
        source: &str,
        destination: &str,
        user: Option<&str>,
    ) -> Result<EntryInfo, ClientError> {
        let url = self.url(&format!("v1/machines/{id}/files/rename"), &[])?;
        let body = RenameRequest {
            source: source.to_owned(),
            destination: destination.to_owned(),
            user: user.map(str::to_owned),
        };
        self.json(self.request(Method::POST, &url).json(&body), &url)
            .await
    }

    /// `POST /v1/machines/{id}/files/download-url` (`upload` false) or
    /// `…/upload-url` (`upload` true): a signed URL that reads or writes the file
    /// with no API key until it expires.
    pub async fn file_url(
        &self,
        id: &MachineId,
        upload: bool,
        request: &FileUrlRequest,
    ) -> Result<FileUrl, ClientError> {
        let which = if upload { "upload-url" } else { "download-url" };
        let url = self.url(&format!("v1/machines/{id}/files/{which}"), &[])?;
        self.json(self.request(Method::POST, &url).json(request), &url)
            .await
    }

    /// `POST /v1/machines/{id}/files/chmod`, with the permissions of `user`: sets
    /// permission bits `mode` (e.g. `0o644`).
    pub async fn chmod(
        &self,
        id: &MachineId,
        path: &str,
        mode: u32,
        user: Option<&str>,
    ) -> Result<EntryInfo, ClientError> {
        let url = self.url(&format!("v1/machines/{id}/files/chmod"), &[])?;
        let body = ChmodRequest {
            path: path.to_owned(),
            mode: octal(mode),
            user: user.map(str::to_owned),
        };
        self.json(self.request(Method::POST, &url).json(&body), &url)
            .await
    }

    /// `DELETE /v1/machines/{id}/files`, with the permissions of `user`: removes a
    /// file, or a directory with its contents when `recursive` (the API's default and
    /// the Python SDK's; without it a non-empty directory is `not_empty`).
    pub async fn remove(
        &self,
        id: &MachineId,
        path: &str,
        recursive: bool,
        user: Option<&str>,
    ) -> Result<(), ClientError> {
        let mut query = path_query(path, user);
        query.push(("recursive", recursive.to_string()));
        let url = self.url(&format!("v1/machines/{id}/files"), &query)?;
        self.empty(self.request(Method::DELETE, &url), &url).await
    }
}

#[cfg(test)]
mod tests {
    use nullspace_api::WriteFileEntry;

    use super::*;
    use crate::test_server::{sample_entry, Reply, TestServer};

    fn files_server() -> TestServer {
        TestServer::start(|r| match r.route().as_str() {
            "GET /v1/machines/sb_a/files" => Reply::bytes(vec![0u8, 159, 146, 150]),
            "DELETE /v1/machines/sb_a/files" => Reply::empty(204),
            "GET /v1/machines/sb_a/files/list" => Reply::json(
                200,
                &ListResponse {
                    entries: vec![sample_entry("/workspace/a")],
                },
            ),
            "GET /v1/machines/sb_a/files/exists" => {
                Reply::json(200, &ExistsResponse { exists: true })
            }
            "POST /v1/machines/sb_a/files/mkdir" => {
                Reply::json(200, &MkdirResponse { created: false })
            }
            "POST /v1/machines/sb_a/files/batch" => Reply::json(
                200,
                &WriteFilesResponse {
                    files: vec![sample_entry("/a")],
                },
            ),
            _ => Reply::json(200, &sample_entry("/workspace/a")),
        })
    }

    fn id() -> MachineId {
        "sb_a".parse().unwrap()
    }

    #[tokio::test]
    async fn read_returns_raw_bytes_and_encodes_the_path() {
        let server = files_server();
        let client = Client::new(server.url(), "k").unwrap();
        let bytes = client
            .read_file(&id(), "/work space/ä&b", &ReadFile::default())
            .await
            .unwrap();
        assert_eq!(bytes, vec![0u8, 159, 146, 150]);
        assert_eq!(
            server.last().query_pairs(),
            vec![("path".to_string(), "/work space/ä&b".to_string())],
            "no user, offset or limit unless given"
        );
    }

    #[tokio::test]
    async fn read_sends_the_user_and_the_range() {
        let server = files_server();
        let client = Client::new(server.url(), "k").unwrap();
        let read = ReadFile {
            user: Some("root".into()),
            offset: Some(1 << 27),
            limit: Some(4096),
        };
        client.read_file(&id(), "/big", &read).await.unwrap();
        assert_eq!(
            server.last().query,
            "path=%2Fbig&user=root&offset=134217728&limit=4096"
        );
        let read = ReadFile {
            limit: Some(0),
            ..ReadFile::default()
        };
        client.read_file(&id(), "/big", &read).await.unwrap();
        assert_eq!(server.last().query, "path=%2Fbig&limit=0");
    }

    #[tokio::test]
    async fn too_large_reads_keep_their_code() {
        let server = TestServer::start(|_| {
            Reply::error(
                nullspace_api::ErrorCode::FileTooLarge,
                "/dev/zero is larger than 134217728 bytes; read it in ranges",
            )
        });
        let client = Client::new(server.url(), "k").unwrap();
        let err = client
            .read_file(&id(), "/dev/zero", &ReadFile::default())
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some(nullspace_api::ErrorCode::FileTooLarge));
        assert_eq!(err.status(), Some(413));
    }

    #[tokio::test]
    async fn write_sends_bytes_user_and_octal_mode() {
        let server = files_server();
        let client = Client::new(server.url(), "k").unwrap();
        let info = client
            .write_file(
                &id(),
                "/workspace/a",
                b"hello".to_vec(),
                Some("root"),
                Some(0o600),
            )
            .await
            .unwrap();
        assert_eq!(info.size, 5);
        let req = server.last();
        assert_eq!(req.route(), "PUT /v1/machines/sb_a/files");
        assert_eq!(req.body, b"hello");
        assert_eq!(req.header("content-type"), Some("application/octet-stream"));
        assert_eq!(
            req.query_pairs(),
            vec![
                ("path".to_string(), "/workspace/a".to_string()),
                ("user".to_string(), "root".to_string()),
                ("mode".to_string(), "0600".to_string()),
            ]
        );
    }

    #[tokio::test]
    async fn the_other_file_routes() {
        let server = files_server();
        let client = Client::new(server.url(), "k").unwrap();
        let batch = WriteFilesRequest {
            files: vec![WriteFileEntry {
                path: "/a".into(),
                content: Some("x".into()),
                content_base64: None,
            }],
            user: None,
        };
        assert_eq!(
            client.write_files(&id(), &batch).await.unwrap().files.len(),
            1
        );
        assert_eq!(
            client
                .list_files(&id(), "/workspace", Some(2), None)
                .await
                .unwrap()
                .entries
                .len(),
            1
        );
        assert!(client.exists(&id(), "/workspace/a", None).await.unwrap());
        client.file_info(&id(), "/workspace/a", None).await.unwrap();
        assert!(!client
            .mkdir(&id(), "/workspace/d", Some("root"))
            .await
            .unwrap());
        client.rename(&id(), "/a", "/b", None).await.unwrap();
        client.chmod(&id(), "/a", 0o755, None).await.unwrap();
        client.remove(&id(), "/a", false, None).await.unwrap();

        let reqs = server.requests();
        let routes: Vec<String> = reqs.iter().map(|r| r.route()).collect();
        assert_eq!(
            routes,
            [
                "POST /v1/machines/sb_a/files/batch",
                "GET /v1/machines/sb_a/files/list",
                "GET /v1/machines/sb_a/files/exists",
                "GET /v1/machines/sb_a/files/info",
                "POST /v1/machines/sb_a/files/mkdir",
                "POST /v1/machines/sb_a/files/rename",
                "POST /v1/machines/sb_a/files/chmod",
                "DELETE /v1/machines/sb_a/files",
            ]
        );
        assert_eq!(
            reqs[0].json(),
            serde_json::json!({"files":[{"path":"/a","content":"x"}]})
        );
        assert_eq!(reqs[1].query, "path=%2Fworkspace&depth=2");
        assert_eq!(
            reqs[4].json(),
            serde_json::json!({"path":"/workspace/d","user":"root"})
        );
        assert_eq!(
            reqs[5].json(),
            serde_json::json!({"source":"/a","destination":"/b"})
        );
        assert_eq!(
            reqs[6].json(),
            serde_json::json!({"path":"/a","mode":"0755"})
        );
        assert_eq!(reqs[7].query, "path=%2Fa&recursive=false");
    }

    #[tokio::test]
    async fn every_file_route_carries_a_named_user() {
        let server = files_server();
        let client = Client::new(server.url(), "k").unwrap();
        let root = Some("root");
        let read = ReadFile {
            user: Some("root".into()),
            ..ReadFile::default()
        };
        client.read_file(&id(), "/a", &read).await.unwrap();
        client
            .write_file(&id(), "/a", b"x".to_vec(), root, None)
            .await
            .unwrap();
        client.list_files(&id(), "/", None, root).await.unwrap();
        client.exists(&id(), "/a", root).await.unwrap();
        client.file_info(&id(), "/a", root).await.unwrap();
        client.remove(&id(), "/a", true, root).await.unwrap();
        for req in server.requests() {
            assert_eq!(
                req.query_param("user").as_deref(),
                Some("root"),
                "{}",
                req.route()
            );
        }
        let batch = WriteFilesRequest {
            files: Vec::new(),
            user: Some("root".into()),
        };
        client.write_files(&id(), &batch).await.unwrap();
        client.mkdir(&id(), "/d", root).await.unwrap();
        client.rename(&id(), "/a", "/b", root).await.unwrap();
        client.chmod(&id(), "/a", 0o600, root).await.unwrap();
        let reqs = server.requests();
        for req in &reqs[reqs.len() - 4..] {
            assert_eq!(req.json()["user"], "root", "{}", req.route());
        }
        assert_eq!(
            reqs[reqs.len() - 2].json(),
            serde_json::json!({"source": "/a", "destination": "/b", "user": "root"})
        );
    }
}
