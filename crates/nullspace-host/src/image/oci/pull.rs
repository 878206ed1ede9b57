//! Pulling an image's manifest, config and layers with the OCI distribution client.

use std::path::{Path, PathBuf};
use std::time::Duration;

use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::manifest::OciImageManifest;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

use super::{Credentials, OciError, Registries};

/// Largest sum of compressed layer sizes an import accepts, bytes.
pub const MAX_IMAGE_BYTES: i64 = 16 << 30;

/// A resolved image: its manifest, digest and config.
pub struct Pulled {
    /// The platform manifest.
    pub manifest: OciImageManifest,
    /// Digest of that manifest.
    pub digest: String,
    /// The image config JSON.
    pub config: String,
}

/// A registry client configured for `registries`.
pub fn client(registries: &Registries) -> Client {
    Client::new(ClientConfig {
        protocol: ClientProtocol::HttpsExcept(registries.insecure.clone()),
        extra_root_certificates: registries
            .extra_ca_pem
            .iter()
            .map(|pem| Certificate {
                encoding: CertificateEncoding::Pem,
                data: pem.clone(),
            })
            .collect(),
        platform_resolver: Some(Box::new(oci_client::client::linux_amd64_resolver)),
        connect_timeout: Some(Duration::from_secs(15)),
        read_timeout: Some(Duration::from_secs(120)),
        ..Default::default()
    })
}

fn auth(credentials: &Credentials) -> RegistryAuth {
    match credentials {
        Credentials::Anonymous => RegistryAuth::Anonymous,
        Credentials::Basic { username, password } => {
            RegistryAuth::Basic(username.clone(), password.clone())
        }
        // Exchanged for basic credentials before the pull.
        Credentials::Aws(_) => RegistryAuth::Anonymous,
    }
}

/// Maps a client error to what the build reports.
fn explain(reference: &Reference, e: OciDistributionError) -> OciError {
    let registry = reference.resolve_registry().to_owned();
    let whole = reference.whole();
    match e {
        OciDistributionError::UnauthorizedError { .. } => OciError::Unauthorized {
            registry,
            reference: whole,
            reason: "the credentials are missing or wrong (HTTP 401)".into(),
        },
        OciDistributionError::AuthenticationFailure(why) => OciError::Unauthorized {
            registry,
            reference: whole,
            reason: why,
        },
        OciDistributionError::ImageManifestNotFoundError(_) => OciError::NotFound {
            registry,
            reference: whole,
        },
        OciDistributionError::ServerError { code: 404, .. } => OciError::NotFound {
            registry,
            reference: whole,
        },
        OciDistributionError::ServerError {
            code: 401 | 403,
            message,
            ..
        } => OciError::Unauthorized {
            registry,
            reference: whole,
            reason: message,
        },
        OciDistributionError::RegistryError { envelope, .. }
            if envelope.errors.iter().any(|e| {
                matches!(
                    e.code,
                    oci_client::errors::OciErrorCode::ManifestUnknown
                        | oci_client::errors::OciErrorCode::NameUnknown
                        | oci_client::errors::OciErrorCode::BlobUnknown
                        | oci_client::errors::OciErrorCode::NotFound
                )
            }) =>
        {
            OciError::NotFound {
                registry,
                reference: whole,
            }
        }
        OciDistributionError::RegistryError { envelope, .. }
            if envelope.errors.iter().any(|e| {
                matches!(
                    e.code,
                    oci_client::errors::OciErrorCode::Unauthorized
                        | oci_client::errors::OciErrorCode::Denied
                )
            }) =>
        {
            OciError::Unauthorized {
                registry,
                reference: whole,
                reason: envelope
                    .errors
                    .iter()
                    .map(|e| e.message.clone())
                    .collect::<Vec<_>>()
                    .join("; "),
            }
        }
        OciDistributionError::RequestError(r) if r.is_connect() || r.is_timeout() => {
            OciError::Unreachable {
                registry,
                reason: chain(&r),
            }
        }
        other => OciError::Registry {
            registry,
            reference: whole,
            reason: chain(&other),
        },
    }
}

/// An error with its sources, one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        let text = inner.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        src = inner.source();
    }
    s
}

/// Fetches the manifest (choosing linux/amd64 from an index) and the config.
pub async fn manifest(
    client: &Client,
    reference: &Reference,
    credentials: &Credentials,
) -> Result<Pulled, OciError> {
    let (manifest, digest, config) = client
        .pull_manifest_and_config(reference, &auth(credentials))
        .await
        .map_err(|e| explain(reference, e))?;
    let total: i64 = manifest.layers.iter().map(|l| l.size.max(0)).sum();
    if total > MAX_IMAGE_BYTES {
        return Err(OciError::Unsupported {
            reference: reference.whole(),
            reason: format!("its layers are {total} bytes, over the {MAX_IMAGE_BYTES} limit"),
        });
    }
    Ok(Pulled {
        manifest,
        digest,
        config,
    })
}

/// Downloads every layer into `dir`, in order, returning their paths.
pub async fn layers(
    client: &Client,
    reference: &Reference,
    pulled: &Pulled,
    dir: &Path,
) -> Result<Vec<PathBuf>, OciError> {
    let mut out = Vec::with_capacity(pulled.manifest.layers.len());
    for (i, layer) in pulled.manifest.layers.iter().enumerate() {
        let path = dir.join(format!("layer-{i}"));
        let file = tokio::fs::File::create(&path)
            .await
            .map_err(|e| OciError::BadLayer {
                reference: reference.whole(),
                layer: layer.digest.clone(),
                reason: format!("create {}: {e}", path.display()),
            })?;
        let mut file = tokio::io::BufWriter::new(file);
        client
            .pull_blob(reference, layer, &mut file)
            .await
            .map_err(|e| explain(reference, e))?;
        tokio::io::AsyncWriteExt::flush(&mut file)
            .await
            .map_err(|e| OciError::BadLayer {
                reference: reference.whole(),
                layer: layer.digest.clone(),
                reason: format!("write: {e}"),
            })?;
        out.push(path);
    }
    Ok(out)
}
