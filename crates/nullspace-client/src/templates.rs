//! Template builds and their versions, tags, contexts and step cache
//! (`/v1/templates…`, `spec/templates.md`). A build's log is polled here by offset,
//! or followed as it is written with [`Client::follow_build_logs`].

use std::path::Path;

use nullspace_api::{
    AssignTagsRequest, BuildLogs, PruneCacheResponse, Template, TemplateBuild,
    TemplateBuildRequest, TemplateList, TemplateTagList,
};
use nullspace_types::TemplateBuildId;
use reqwest::{Body, Method};
use tokio::io::AsyncReadExt;

use crate::{Client, ClientError};

/// Bytes of a context file read at a time as it is sent.
const CONTEXT_CHUNK: usize = 1 << 20;

/// `raw` as one URL path segment: everything but unreserved characters and `:`
/// (which template refs use and a later segment may hold) percent-encoded.
pub(crate) fn segment(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for b in raw.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b':') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Client {
    /// `POST /v1/templates/builds`: start a build (the server answers at once, 202);
    /// follow it with [`Client::template_build`].
    pub async fn build_template(
        &self,
        request: &TemplateBuildRequest,
    ) -> Result<TemplateBuild, ClientError> {
        let url = self.url("v1/templates/builds", &[])?;
        self.json(self.request(Method::POST, &url).json(request), &url)
            .await
    }

    /// `GET /v1/templates/builds/{id}?logs_offset=N`: the build with its log entries
    /// from `logs_offset` (at most 1000; ask again from `logs_next_offset`).
    pub async fn template_build(
        &self,
        id: &TemplateBuildId,
        logs_offset: u64,
    ) -> Result<TemplateBuild, ClientError> {
        let url = self.url(
            &format!("v1/templates/builds/{id}"),
            &[("logs_offset", logs_offset.to_string())],
        )?;
        self.json(self.request(Method::GET, &url), &url).await
    }

    /// `GET /v1/templates/builds/{id}/logs?offset=N&limit=M`: log entries only, and
    /// whether the build has ended (`limit` 1-1000; the server's default is 1000).
    pub async fn template_build_logs(
        &self,
        id: &TemplateBuildId,
        offset: u64,
        limit: Option<u32>,
    ) -> Result<BuildLogs, ClientError> {
        let mut query = vec![("offset", offset.to_string())];
        if let Some(limit) = limit {
            query.push(("limit", limit.to_string()));
        }
        let url = self.url(&format!("v1/templates/builds/{id}/logs"), &query)?;
        self.json(self.request(Method::GET, &url), &url).await
    }

    /// `GET /v1/templates`: the tenant's templates and `base`, by name.
    pub async fn list_templates(&self) -> Result<TemplateList, ClientError> {
        let url = self.url("v1/templates", &[])?;
        self.json(self.request(Method::GET, &url), &url).await
    }

    /// `GET /v1/templates/{ref}` (`name`, `name:tag` or `tpl_…`); an unknown one is
    /// `template_not_found` (404).
    pub async fn get_template(&self, template: &str) -> Result<Template, ClientError> {
        let url = self.url(&format!("v1/templates/{}", segment(template)), &[])?;
        self.json(self.request(Method::GET, &url), &url).await
    }

    /// `DELETE /v1/templates/{ref}`: the template and every version's files;
    /// `template_in_use` (409) while machines use a version, `conflict` while a
    /// build of it runs.
    pub async fn delete_template(&self, template: &str) -> Result<(), ClientError> {
        let url = self.url(&format!("v1/templates/{}", segment(template)), &[])?;
        self.empty(self.request(Method::DELETE, &url), &url).await
    }

    /// `GET /v1/templates/{name}/tags`: the tags and the versions they point to.
    pub async fn template_tags(&self, template: &str) -> Result<TemplateTagList, ClientError> {
        let url = self.url(&format!("v1/templates/{}/tags", segment(template)), &[])?;
        self.json(self.request(Method::GET, &url), &url).await
    }

    /// `POST /v1/templates/{name}/tags`: move `tags` to the version `target` (a ref or
    /// `tb_…`; default `latest`) resolves to; answers every tag of the template.
    pub async fn assign_template_tags(
        &self,
        template: &str,
        tags: &[String],
        target: Option<&str>,
    ) -> Result<TemplateTagList, ClientError> {
        let url = self.url(&format!("v1/templates/{}/tags", segment(template)), &[])?;
        let body = AssignTagsRequest {
            tags: tags.to_vec(),
            target: target.map(str::to_owned),
        };
        self.json(self.request(Method::POST, &url).json(&body), &url)
            .await
    }

    /// `DELETE /v1/templates/{name}/tags/{tag}` (`latest` cannot be removed: 422).
    pub async fn remove_template_tag(&self, template: &str, tag: &str) -> Result<(), ClientError> {
        let url = self.url(
            &format!("v1/templates/{}/tags/{}", segment(template), segment(tag)),
            &[],
        )?;
        self.empty(self.request(Method::DELETE, &url), &url).await
    }

    /// `PUT /v1/templates/contexts/{sha256}`: a build context (a tar) whose bytes hash
    /// to `sha256` (hex); `body` is bytes or a stream ([`Body::wrap_stream`]).
    pub async fn put_template_context(
        &self,
        sha256: &str,
        body: impl Into<Body>,
    ) -> Result<(), ClientError> {
        let url = self.url(&format!("v1/templates/contexts/{}", segment(sha256)), &[])?;
        let builder = self
            .request(Method::PUT, &url)
            .header(reqwest::header::CONTENT_TYPE, "application/x-tar")
            .body(body.into());
        self.empty(builder, &url).await
    }

    /// [`Client::put_template_context`] of the file at `path`, read a piece at a time
    /// as it is sent (never held whole in memory).
    pub async fn put_template_context_file(
        &self,
        sha256: &str,
        path: &Path,
    ) -> Result<(), ClientError> {
        let file = tokio::fs::File::open(path)
            .await
            .map_err(|source| ClientError::LocalFile {
                path: path.display().to_string(),
                source,
            })?;
        let chunks = futures_util::stream::try_unfold(file, |mut file| async move {
            let mut buf = vec![0u8; CONTEXT_CHUNK];
            let n = file.read(&mut buf).await?;
            if n == 0 {
                return Ok::<_, std::io::Error>(None);
            }
            buf.truncate(n);
            Ok(Some((buf, file)))
        });
        self.put_template_context(sha256, Body::wrap_stream(chunks))
            .await
    }

    /// `DELETE /v1/templates/cache`: the tenant's cached steps that no version uses
    /// (and its uploaded contexts).
    pub async fn prune_template_cache(&self) -> Result<PruneCacheResponse, ClientError> {
        let url = self.url("v1/templates/cache", &[])?;
        self.json(self.request(Method::DELETE, &url), &url).await
    }
}

#[cfg(test)]
mod tests {
    use nullspace_api::{
        BuildLogEntry, BuildStatus, ErrorCode, TemplateStep, TemplateTag, TemplateTagList,
    };
    use serde_json::json;

    use super::*;
    use crate::test_server::{Reply, TestServer};

    fn build(id: &str, status: BuildStatus, logs: Vec<BuildLogEntry>) -> TemplateBuild {
        let next = logs.last().map_or(0, |l| l.offset + 1);
        TemplateBuild {
            id: id.parse().unwrap(),
            template_id: "tpl_aaaaaaaaaaaaaaaaaaaa".parse().unwrap(),
            name: "web".into(),
            tags: vec!["latest".into(), "stable".into()],
            status,
            steps_total: 1,
            steps_done: 0,
            steps_cached: 0,
            logs,
            logs_next_offset: next,
            error: None,
            created_at: "2026-01-01T00:00:00Z".into(),
            finished_at: None,
        }
    }

    fn entry(offset: u64, message: &str) -> BuildLogEntry {
        BuildLogEntry {
            offset,
            at: "2026-01-01T12:34:56.789Z".into(),
            level: "info".into(),
            step: Some(1),
            message: message.into(),
        }
    }

    fn template(name: &str) -> Template {
        Template {
            id: Some("tpl_aaaaaaaaaaaaaaaaaaaa".parse().unwrap()),
            name: name.into(),
            builtin: false,
            tags: vec![TemplateTag {
                tag: "latest".into(),
                build_id: "tb_bbbbbbbbbbbbbbbbbbbb".parse().unwrap(),
            }],
            cpu_count: 1,
            memory_mb: 512,
            cwd: "/workspace".into(),
            envs: Default::default(),
            start_cmd: None,
            ready_cmd: None,
            size_bytes: 1 << 20,
            created_at: Some("2026-01-01T00:00:00Z".into()),
            updated_at: Some("2026-01-01T00:00:00Z".into()),
        }
    }

    fn tags() -> TemplateTagList {
        TemplateTagList {
            tags: vec![TemplateTag {
                tag: "beta".into(),
                build_id: "tb_bbbbbbbbbbbbbbbbbbbb".parse().unwrap(),
            }],
        }
    }

    fn server() -> TestServer {
        TestServer::start(|r| match r.route().as_str() {
            "POST /v1/templates/builds" => Reply::json(
                202,
                &build("tb_bbbbbbbbbbbbbbbbbbbb", BuildStatus::Waiting, Vec::new()),
            ),
            "GET /v1/templates/builds/tb_bbbbbbbbbbbbbbbbbbbb" => Reply::json(
                200,
                &build(
                    "tb_bbbbbbbbbbbbbbbbbbbb",
                    BuildStatus::Building,
                    vec![entry(2, "echo one")],
                ),
            ),
            "GET /v1/templates/builds/tb_bbbbbbbbbbbbbbbbbbbb/logs" => Reply::json(
                200,
                &BuildLogs {
                    logs: vec![entry(3, "two")],
                    next_offset: 4,
                    done: true,
                },
            ),
            "GET /v1/templates/builds/tb_cccccccccccccccccccc" => {
                Reply::error(ErrorCode::BuildNotFound, "template build not found")
            }
            "GET /v1/templates" => Reply::json(
                200,
                &TemplateList {
                    templates: vec![template("base"), template("web")],
                },
            ),
            "GET /v1/templates/web:stable" => Reply::json(200, &template("web")),
            "GET /v1/templates/nope" => {
                Reply::error(ErrorCode::TemplateNotFound, "template \"nope\" not found")
            }
            "DELETE /v1/templates/web" => Reply::empty(204),
            "DELETE /v1/templates/used" => {
                Reply::error(ErrorCode::TemplateInUse, "template used is used by sb_a")
            }
            "GET /v1/templates/web/tags" | "POST /v1/templates/web/tags" => {
                Reply::json(200, &tags())
            }
            "DELETE /v1/templates/web/tags/beta" => Reply::empty(204),
            "DELETE /v1/templates/cache" => Reply::json(
                200,
                &PruneCacheResponse {
                    deleted: 2,
                    bytes: 4096,
                },
            ),
            route if route.starts_with("PUT /v1/templates/contexts/") => Reply::empty(204),
            _ => Reply::error(ErrorCode::NotFound, "no such route"),
        })
    }

    #[test]
    fn segments_keep_refs_and_escape_the_rest() {
        assert_eq!(segment("web:stable"), "web:stable");
        assert_eq!(segment("tpl_a.b-c~"), "tpl_a.b-c~");
        assert_eq!(segment("a/b c?#%"), "a%2Fb%20c%3F%23%25");
        assert_eq!(segment("é"), "%C3%A9");
    }

    #[tokio::test]
    async fn builds_post_the_request_and_poll_by_offset() {
        let server = server();
        let client = Client::new(server.url(), "k").unwrap();
        let request = TemplateBuildRequest {
            name: "web:stable".into(),
            steps: vec![TemplateStep::Run {
                cmd: "echo one".into(),
                user: Some("root".into()),
            }],
            start_cmd: Some("sleep 1000".into()),
            internet_access: Some(false),
            ..Default::default()
        };
        let started = client.build_template(&request).await.unwrap();
        assert_eq!(started.status, BuildStatus::Waiting);
        assert_eq!(
            server.last().json(),
            json!({
                "name": "web:stable",
                "steps": [{"kind": "run", "cmd": "echo one", "user": "root"}],
                "start_cmd": "sleep 1000",
                "internet_access": false
            })
        );
        let b = client.template_build(&started.id, 2).await.unwrap();
        assert_eq!(b.logs[0].message, "echo one");
        assert_eq!(b.logs_next_offset, 3);
        assert_eq!(
            server.last().query_pairs(),
            [("logs_offset".to_string(), "2".to_string())]
        );
        let logs = client
            .template_build_logs(&started.id, 3, Some(10))
            .await
            .unwrap();
        assert!(logs.done);
        assert_eq!(logs.next_offset, 4);
        let pairs: Vec<(String, String)> = [("offset", "3"), ("limit", "10")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(server.last().query_pairs(), pairs);
        let err = client
            .template_build(&"tb_cccccccccccccccccccc".parse().unwrap(), 0)
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::BuildNotFound), "{err}");
    }

    #[tokio::test]
    async fn templates_tags_and_the_cache() {
        let server = server();
        let client = Client::new(server.url(), "k").unwrap();
        let list = client.list_templates().await.unwrap();
        assert_eq!(list.templates.len(), 2);
        let t = client.get_template("web:stable").await.unwrap();
        assert_eq!(t.name, "web");
        assert_eq!(server.last().path, "/v1/templates/web:stable");
        let err = client.get_template("nope").await.unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::TemplateNotFound));
        assert_eq!(err.status(), Some(404));
        client.delete_template("web").await.unwrap();
        let err = client.delete_template("used").await.unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::TemplateInUse));
        assert_eq!(err.status(), Some(409));

        assert_eq!(client.template_tags("web").await.unwrap(), tags());
        let moved = client
            .assign_template_tags("web", &["beta".into()], Some("web:stable"))
            .await
            .unwrap();
        assert_eq!(moved, tags());
        assert_eq!(
            server.last().json(),
            json!({"tags": ["beta"], "target": "web:stable"})
        );
        client
            .assign_template_tags("web", &["beta".into()], None)
            .await
            .unwrap();
        assert_eq!(server.last().json(), json!({"tags": ["beta"]}));
        client.remove_template_tag("web", "beta").await.unwrap();
        assert_eq!(server.last().route(), "DELETE /v1/templates/web/tags/beta");

        let pruned = client.prune_template_cache().await.unwrap();
        assert_eq!((pruned.deleted, pruned.bytes), (2, 4096));
        // A ref with characters outside a segment's is escaped, not split.
        let _ = client.get_template("a/b").await;
        assert_eq!(server.last().path, "/v1/templates/a%2Fb");
    }

    #[tokio::test]
    async fn contexts_upload_bytes_or_a_streamed_file() {
        let server = server();
        let client = Client::new(server.url(), "k").unwrap();
        client
            .put_template_context("ab12", b"tar bytes".to_vec())
            .await
            .unwrap();
        let r = server.last();
        assert_eq!(r.route(), "PUT /v1/templates/contexts/ab12");
        assert_eq!(r.header("content-type"), Some("application/x-tar"));
        assert_eq!(r.body, b"tar bytes");

        let dir = std::env::temp_dir().join(format!("ns-client-ctx-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("context.tar");
        let big: Vec<u8> = (0..(3 * CONTEXT_CHUNK + 17)).map(|i| i as u8).collect();
        std::fs::write(&path, &big).unwrap();
        client
            .put_template_context_file("cd34", &path)
            .await
            .unwrap();
        assert_eq!(server.last().body, big, "every piece, in order");
        let err = client
            .put_template_context_file("cd34", &dir.join("missing.tar"))
            .await
            .unwrap_err();
        assert!(matches!(err, ClientError::LocalFile { .. }), "{err:?}");
        assert!(err.to_string().contains("missing.tar"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
