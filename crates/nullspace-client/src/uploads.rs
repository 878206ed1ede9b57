//! Resumable upload sessions of a machine (`spec/files.md`).

use nullspace_api::{
    CompleteUploadRequest, CompleteUploadResponse, CreateUploadRequest, Upload, CHUNK_SHA256_HEADER,
};
use nullspace_types::MachineId;
use reqwest::{Body, Method};

use crate::{Client, ClientError};

impl Client {
    /// `POST /v1/machines/{id}/uploads`: start a session.
    pub async fn create_upload(
        &self,
        id: &MachineId,
        request: &CreateUploadRequest,
    ) -> Result<Upload, ClientError> {
        let url = self.url(&format!("v1/machines/{id}/uploads"), &[])?;
        self.json(self.request(Method::POST, &url).json(request), &url)
            .await
    }

    /// `GET /v1/machines/{id}/uploads/{upload}`: the session and its chunks.
    pub async fn get_upload(&self, id: &MachineId, upload: &str) -> Result<Upload, ClientError> {
        let url = self.url(&format!("v1/machines/{id}/uploads/{upload}"), &[])?;
        self.json(self.request(Method::GET, &url), &url).await
    }

    /// `PUT /v1/machines/{id}/uploads/{upload}/chunks/{index}`, with the chunk's
    /// SHA-256 (hex) checked by the server when given.
    pub async fn upload_chunk(
        &self,
        id: &MachineId,
        upload: &str,
        index: u64,
        body: Body,
        sha256: Option<&str>,
    ) -> Result<Upload, ClientError> {
        let url = self.url(
            &format!("v1/machines/{id}/uploads/{upload}/chunks/{index}"),
            &[],
        )?;
        let mut builder = self
            .request(Method::PUT, &url)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(body);
        if let Some(sha) = sha256 {
            builder = builder.header(CHUNK_SHA256_HEADER, sha);
        }
        self.json(builder, &url).await
    }

    /// `POST /v1/machines/{id}/uploads/{upload}/complete`.
    pub async fn complete_upload(
        &self,
        id: &MachineId,
        upload: &str,
        sha256: Option<&str>,
    ) -> Result<CompleteUploadResponse, ClientError> {
        let url = self.url(&format!("v1/machines/{id}/uploads/{upload}/complete"), &[])?;
        let body = CompleteUploadRequest {
            sha256: sha256.map(str::to_owned),
        };
        self.json(self.request(Method::POST, &url).json(&body), &url)
            .await
    }

    /// `DELETE /v1/machines/{id}/uploads/{upload}`: abort.
    pub async fn abort_upload(&self, id: &MachineId, upload: &str) -> Result<(), ClientError> {
        let url = self.url(&format!("v1/machines/{id}/uploads/{upload}"), &[])?;
        self.send(self.request(Method::DELETE, &url), &url).await?;
        Ok(())
    }
}
