//! SSH access through the relay (`spec/ssh.md`): certificates for a public key,
//! and their revocation.

use nullspace_api::{CreateSshAccessRequest, SshAccess};
use nullspace_types::{MachineId, SshAccessId};
use reqwest::Method;

use crate::{Client, ClientError};

impl Client {
    /// `POST /v1/machines/{id}/ssh-access`: an OpenSSH user certificate for
    /// `public_key` (one key line) valid for `expires_in_minutes` (server default
    /// 30, 1 – 1440), with the relay's address and host key.
    pub async fn create_ssh_access(
        &self,
        id: &MachineId,
        public_key: &str,
        expires_in_minutes: Option<u64>,
    ) -> Result<SshAccess, ClientError> {
        let url = self.url(&format!("v1/machines/{id}/ssh-access"), &[])?;
        let body = CreateSshAccessRequest {
            public_key: public_key.to_owned(),
            expires_in_minutes,
        };
        self.json(self.request(Method::POST, &url).json(&body), &url)
            .await
    }

    /// `DELETE /v1/machines/{id}/ssh-access/{access_id}`: new logins and channels
    /// with its certificate are refused from now on.
    pub async fn revoke_ssh_access(
        &self,
        id: &MachineId,
        access_id: &SshAccessId,
    ) -> Result<(), ClientError> {
        let url = self.url(&format!("v1/machines/{id}/ssh-access/{access_id}"), &[])?;
        self.empty(self.request(Method::DELETE, &url), &url).await
    }
}
