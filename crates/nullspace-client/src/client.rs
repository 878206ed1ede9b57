//! The client, its request plumbing and the health route.

use std::time::Duration;

use nullspace_api::ErrorBody;
use reqwest::{Method, RequestBuilder, Response};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::parse_retry_after;
use crate::ClientError;

/// How long to wait for a TCP (and TLS) connection before giving up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Characters of a non-JSON error body kept in [`ClientError::Http`].
const BODY_EXCERPT: usize = 512;

/// Body of `GET /v1/health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// Always `ok` when the server answers.
    pub status: String,
    /// Server version.
    pub version: String,
}

/// Async client of one Nullspace server, authenticated by one API key.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    api_key: Option<String>,
}

impl Client {
    /// A client of the server at `base_url` (e.g. `http://127.0.0.1:7070`) using `api_key`
    /// (an empty key sends no `Authorization` header, enough for [`Client::health`]).
    pub fn new(base_url: &str, api_key: impl Into<String>) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("nullspace-client/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|source| ClientError::Transport {
                url: base_url.to_owned(),
                source,
            })?;
        Self::with_http(base_url, api_key, http)
    }

    /// Like [`Client::new`] over a caller-configured `reqwest::Client`.
    pub fn with_http(
        base_url: &str,
        api_key: impl Into<String>,
        http: reqwest::Client,
    ) -> Result<Self, ClientError> {
        let mut base = Url::parse(base_url).map_err(|source| ClientError::InvalidUrl {
            url: base_url.to_owned(),
            source,
        })?;
        if base.cannot_be_a_base() {
            return Err(ClientError::InvalidUrl {
                url: base_url.to_owned(),
                source: url::ParseError::RelativeUrlWithCannotBeABaseBase,
            });
        }
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let api_key = Some(api_key.into()).filter(|k| !k.is_empty());
        Ok(Self {
            http,
            base,
            api_key,
        })
    }

    /// The server's base URL.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// `GET /v1/health` (no key needed).
    pub async fn health(&self) -> Result<Health, ClientError> {
        let url = self.url("v1/health", &[])?;
        self.json(self.http.get(url.clone()), &url).await
    }

    /// `GET /v1/openapi.json`: the contract the server implements.
    pub async fn openapi(&self) -> Result<serde_json::Value, ClientError> {
        let url = self.url("v1/openapi.json", &[])?;
        self.json(self.http.get(url.clone()), &url).await
    }

    /// The API key, if one is sent.
    pub(crate) fn api_key(&self) -> Option<&str> {
        self.api_key.as_deref()
    }

    /// The URL of `path` (relative to the base, no leading slash) with `query` appended.
    pub(crate) fn url(&self, path: &str, query: &[(&str, String)]) -> Result<Url, ClientError> {
        let mut url = self
            .base
            .join(path)
            .map_err(|source| ClientError::InvalidUrl {
                url: format!("{}{path}", self.base),
                source,
            })?;
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in query {
                pairs.append_pair(k, v);
            }
        }
        Ok(url)
    }

    /// A request of `method` to `url`, with the API key.
    pub(crate) fn request(&self, method: Method, url: &Url) -> RequestBuilder {
        let builder = self.http.request(method, url.clone());
        match &self.api_key {
            Some(key) => builder.bearer_auth(key),
            None => builder,
        }
    }

    /// Sends `builder`; a non-success answer becomes an error.
    pub(crate) async fn send(
        &self,
        builder: RequestBuilder,
        url: &Url,
    ) -> Result<Response, ClientError> {
        let transport = |source| ClientError::Transport {
            url: url.to_string(),
            source,
        };
        let response = builder.send().await.map_err(transport)?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let bytes = response.bytes().await.map_err(transport)?;
        Err(match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(body) => ClientError::Api {
                status: status.as_u16(),
                code: body.error.code,
                message: body.error.message,
                output: body.error.output,
                retry_after,
            },
            Err(_) => ClientError::Http {
                status: status.as_u16(),
                url: url.to_string(),
                body: String::from_utf8_lossy(&bytes)
                    .chars()
                    .take(BODY_EXCERPT)
                    .collect(),
                retry_after,
            },
        })
    }

    /// Sends `builder` and decodes the JSON answer.
    pub(crate) async fn json<T: DeserializeOwned>(
        &self,
        builder: RequestBuilder,
        url: &Url,
    ) -> Result<T, ClientError> {
        let (status, bytes) = self.body(builder, url).await?;
        decode(&bytes, status, url)
    }

    /// Sends `builder` and decodes the JSON answer, or `None` when the answer has no
    /// body (a 204 of a server older than the answer's type).
    pub(crate) async fn optional_json<T: DeserializeOwned>(
        &self,
        builder: RequestBuilder,
        url: &Url,
    ) -> Result<Option<T>, ClientError> {
        let (status, bytes) = self.body(builder, url).await?;
        if bytes.is_empty() {
            return Ok(None);
        }
        decode(&bytes, status, url).map(Some)
    }

    /// Sends `builder`: the status and body of the success answer.
    async fn body(
        &self,
        builder: RequestBuilder,
        url: &Url,
    ) -> Result<(u16, Vec<u8>), ClientError> {
        let response = self.send(builder, url).await?;
        let status = response.status().as_u16();
        let bytes = response
            .bytes()
            .await
            .map_err(|source| ClientError::Transport {
                url: url.to_string(),
                source,
            })?;
        Ok((status, bytes.to_vec()))
    }

    /// Sends `builder` and ignores the (empty) answer.
    pub(crate) async fn empty(
        &self,
        builder: RequestBuilder,
        url: &Url,
    ) -> Result<(), ClientError> {
        self.send(builder, url).await.map(drop)
    }
}

/// The JSON `bytes` of a success answer with `status` from `url`.
fn decode<T: DeserializeOwned>(bytes: &[u8], status: u16, url: &Url) -> Result<T, ClientError> {
    serde_json::from_slice(bytes).map_err(|source| ClientError::Decode {
        url: url.to_string(),
        status,
        source,
    })
}

#[cfg(test)]
mod tests {
    use nullspace_api::{ErrorCode, PartialOutput, RunCommandRequest};
    use nullspace_types::MachineId;

    use super::*;
    use crate::test_server::{Reply, TestServer};

    #[tokio::test]
    async fn health_needs_no_key_and_decodes() {
        let server = TestServer::start(|_| {
            Reply::json(200, &serde_json::json!({"status":"ok","version":"1.2.3"}))
        });
        let client = Client::new(server.url(), "").unwrap();
        let health = client.health().await.unwrap();
        assert_eq!(health.version, "1.2.3");
        let req = server.last();
        assert_eq!(req.route(), "GET /v1/health");
        assert_eq!(req.header("authorization"), None);
    }

    #[tokio::test]
    async fn base_url_path_prefix_is_kept() {
        let server = TestServer::start(|_| {
            Reply::json(200, &serde_json::json!({"status":"ok","version":"1"}))
        });
        let client = Client::new(&format!("{}/api", server.url()), "k").unwrap();
        client.health().await.unwrap();
        assert_eq!(server.last().path, "/api/v1/health");
    }

    #[tokio::test]
    async fn error_bodies_become_api_errors() {
        let server = TestServer::start(|_| Reply::error(ErrorCode::NotFound, "no machine sb_x"));
        let client = Client::new(server.url(), "ns_live_k").unwrap();
        let err = client
            .get_machine(&"sb_x".parse().unwrap())
            .await
            .unwrap_err();
        match &err {
            ClientError::Api {
                status,
                code,
                message,
                output,
                retry_after,
            } => {
                assert_eq!(*status, 404);
                assert_eq!(*code, ErrorCode::NotFound);
                assert_eq!(message, "no machine sb_x");
                assert_eq!(*output, None);
                assert_eq!(*retry_after, None);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(err.code(), Some(ErrorCode::NotFound));
        assert_eq!(
            server.last().header("authorization"),
            Some("Bearer ns_live_k")
        );
    }

    #[tokio::test]
    async fn non_json_errors_and_bad_success_bodies_are_told_apart() {
        let server = TestServer::start(|r| {
            if r.path.ends_with("health") {
                Reply::bytes("not json")
            } else {
                Reply {
                    status: 502,
                    content_type: Some("text/html"),
                    headers: Vec::new(),
                    body: b"<h1>bad gateway</h1>".to_vec(),
                }
            }
        });
        let client = Client::new(server.url(), "k").unwrap();
        let err = client.health().await.unwrap_err();
        assert!(
            matches!(err, ClientError::Decode { status: 200, .. }),
            "{err:?}"
        );
        let err = client
            .get_machine(&"sb_a".parse().unwrap())
            .await
            .unwrap_err();
        match err {
            ClientError::Http {
                status,
                body,
                url,
                retry_after,
            } => {
                assert_eq!(status, 502);
                assert_eq!(retry_after, None);
                assert!(body.contains("bad gateway"));
                assert!(url.ends_with("/v1/machines/sb_a"));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[tokio::test]
    async fn partial_output_and_retry_after_are_kept() {
        let server = TestServer::start(|r| {
            if r.path.ends_with("/commands") {
                Reply::error_with_output(
                    ErrorCode::CommandTimeout,
                    "killed after 1s",
                    PartialOutput {
                        stdout: "step 1\n".into(),
                        stderr: "warn\n".into(),
                        truncated: true,
                    },
                )
            } else if r.path.ends_with("/sb_proxy") {
                Reply {
                    status: 429,
                    content_type: Some("text/plain"),
                    headers: Vec::new(),
                    body: b"slow down".to_vec(),
                }
                .with_header("retry-after", "7")
            } else {
                Reply::error(ErrorCode::RateLimited, "too many requests")
                    .with_header("retry-after", "3")
            }
        });
        let client = Client::new(server.url(), "k").unwrap();
        let id: MachineId = "sb_a".parse().unwrap();
        let err = client
            .run_command(&id, &RunCommandRequest::default())
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::CommandTimeout));
        let output = err.output().expect("the partial output");
        assert_eq!(output.stdout, "step 1\n");
        assert_eq!(output.stderr, "warn\n");
        assert!(output.truncated);
        assert_eq!(err.retry_after(), None);

        let err = client.get_machine(&id).await.unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::RateLimited));
        assert_eq!(err.status(), Some(429));
        assert_eq!(err.retry_after(), Some(Duration::from_secs(3)));
        assert_eq!(err.output(), None);

        let err = client
            .get_machine(&"sb_proxy".parse().unwrap())
            .await
            .unwrap_err();
        assert!(
            matches!(err, ClientError::Http { status: 429, .. }),
            "{err:?}"
        );
        assert_eq!(err.retry_after(), Some(Duration::from_secs(7)));
    }

    #[tokio::test]
    async fn connection_refused_is_a_transport_error_with_the_url() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let client = Client::new(&format!("http://127.0.0.1:{port}"), "k").unwrap();
        let err = client.health().await.unwrap_err();
        assert!(err.is_connect(), "{err:?}");
        assert!(
            err.to_string()
                .contains(&format!("127.0.0.1:{port}/v1/health")),
            "{err}"
        );
    }

    #[test]
    fn invalid_base_urls_are_rejected() {
        assert!(matches!(
            Client::new("not a url", "k"),
            Err(ClientError::InvalidUrl { .. })
        ));
        assert!(matches!(
            Client::new("mailto:x@y", "k"),
            Err(ClientError::InvalidUrl { .. })
        ));
    }
}
