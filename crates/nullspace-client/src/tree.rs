//! Tree-wide file calls of a machine (`spec/files.md`): name search, content
//! search, replace, directory archives and watches.

use futures_util::{StreamExt, TryStreamExt};
use nullspace_api::{
    ArchiveResponse, Conflict, FindRequest, FindResponse, ReplaceRequest, ReplaceResponse,
    SearchResponse, WatchMsg,
};
use nullspace_types::MachineId;
use reqwest::{Body, Method};
use tokio_tungstenite::tungstenite::Message;

use crate::files::{path_query, FileBytes};
use crate::stream::Socket;
use crate::{Client, ClientError};

/// Options of [`Client::watch_dir`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WatchOptions {
    /// Watch subdirectories too.
    pub recursive: bool,
    /// End the watch after this many seconds.
    pub timeout: Option<f64>,
    /// Guest user whose rights the watch has.
    pub user: Option<String>,
}

/// An open watch: its messages, `ready` first.
#[derive(Debug)]
pub struct DirWatch {
    socket: Socket,
    url: String,
    done: bool,
}

impl DirWatch {
    /// The next message; `None` once the server closed after `end` or `error`.
    pub async fn next(&mut self) -> Result<Option<WatchMsg>, ClientError> {
        loop {
            if self.done {
                return Ok(None);
            }
            let message = match self.socket.next().await {
                None => return self.closed(None),
                Some(Err(source)) => {
                    return Err(ClientError::WebSocket {
                        url: self.url.clone(),
                        source: Box::new(source),
                    })
                }
                Some(Ok(m)) => m,
            };
            match message {
                Message::Text(text) => {
                    let msg: WatchMsg = serde_json::from_str(text.as_str()).map_err(|e| {
                        ClientError::StreamMessage {
                            url: self.url.clone(),
                            what: format!("{e}: {text}"),
                        }
                    })?;
                    if matches!(msg, WatchMsg::End { .. } | WatchMsg::Error { .. }) {
                        self.done = true;
                    }
                    return Ok(Some(msg));
                }
                Message::Close(frame) => return self.closed(frame.map(|f| u16::from(f.code))),
                _ => continue,
            }
        }
    }

    /// Stop the watch.
    pub async fn close(mut self) -> Result<(), ClientError> {
        let _ = self.socket.close(None).await;
        Ok(())
    }

    fn closed(&mut self, code: Option<u16>) -> Result<Option<WatchMsg>, ClientError> {
        if self.done {
            return Ok(None);
        }
        self.done = true;
        Err(ClientError::StreamClosed {
            url: self.url.clone(),
            code,
            reason: String::new(),
        })
    }
}

impl Client {
    /// `GET /v1/machines/{id}/files/search`: entries below `path` whose names
    /// match the glob `pattern`.
    pub async fn search_files(
        &self,
        id: &MachineId,
        path: &str,
        pattern: &str,
        limit: Option<u32>,
        user: Option<&str>,
    ) -> Result<SearchResponse, ClientError> {
        let mut query = path_query(path, user);
        query.push(("pattern", pattern.to_owned()));
        if let Some(limit) = limit {
            query.push(("limit", limit.to_string()));
        }
        let url = self.url(&format!("v1/machines/{id}/files/search"), &query)?;
        self.json(self.request(Method::GET, &url), &url).await
    }

    /// `POST /v1/machines/{id}/files/find`: matching lines of files.
    pub async fn find_in_files(
        &self,
        id: &MachineId,
        request: &FindRequest,
    ) -> Result<FindResponse, ClientError> {
        let url = self.url(&format!("v1/machines/{id}/files/find"), &[])?;
        self.json(self.request(Method::POST, &url).json(request), &url)
            .await
    }

    /// `POST /v1/machines/{id}/files/replace`: replace matches in files.
    pub async fn replace_in_files(
        &self,
        id: &MachineId,
        request: &ReplaceRequest,
    ) -> Result<ReplaceResponse, ClientError> {
        let url = self.url(&format!("v1/machines/{id}/files/replace"), &[])?;
        self.json(self.request(Method::POST, &url).json(request), &url)
            .await
    }

    /// `GET /v1/machines/{id}/files/archive`: the directory as a tar stream.
    pub async fn read_archive_stream(
        &self,
        id: &MachineId,
        path: &str,
        user: Option<&str>,
    ) -> Result<FileBytes, ClientError> {
        let url = self.url(
            &format!("v1/machines/{id}/files/archive"),
            &path_query(path, user),
        )?;
        let response = self.send(self.request(Method::GET, &url), &url).await?;
        let url = url.to_string();
        Ok(Box::pin(response.bytes_stream().map_err(move |source| {
            ClientError::Transport {
                url: url.clone(),
                source,
            }
        })))
    }

    /// `PUT /v1/machines/{id}/files/archive`: unpack the tar `body` into `path`.
    pub async fn write_archive_body(
        &self,
        id: &MachineId,
        path: &str,
        body: Body,
        conflict: Conflict,
        user: Option<&str>,
    ) -> Result<ArchiveResponse, ClientError> {
        let mut query = path_query(path, user);
        let name = serde_json::to_value(conflict).expect("conflicts serialize");
        query.push(("conflict", name.as_str().unwrap_or("merge").to_owned()));
        let url = self.url(&format!("v1/machines/{id}/files/archive"), &query)?;
        let builder = self
            .request(Method::PUT, &url)
            .header(reqwest::header::CONTENT_TYPE, "application/x-tar")
            .body(body);
        self.json(builder, &url).await
    }

    /// `GET /v1/machines/{id}/files/watch` (WebSocket): changes below `path`.
    pub async fn watch_dir(
        &self,
        id: &MachineId,
        path: &str,
        options: &WatchOptions,
    ) -> Result<DirWatch, ClientError> {
        let mut query = path_query(path, options.user.as_deref());
        if options.recursive {
            query.push(("recursive", "true".into()));
        }
        if let Some(t) = options.timeout {
            query.push(("timeout", t.to_string()));
        }
        let url = self.url(&format!("v1/machines/{id}/files/watch"), &query)?;
        let (socket, url) = self.connect_ws(url).await?;
        Ok(DirWatch {
            socket,
            url,
            done: false,
        })
    }
}
