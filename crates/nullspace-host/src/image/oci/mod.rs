//! Root filesystems from OCI images: pulled with a registry client, their layers
//! applied with whiteouts, the guest agent and user injected, written as ext4.
//!
//! Cache entry: `images/oci/<key>/{rootfs.ext4, image.json}`, keyed by the image's
//! manifest digest, guestd, the disk size and the guest's resolv.conf. A second
//! import of the same digest only asks the registry for the manifest.

pub mod ecr;
mod error;
pub mod layers;
mod pull;
mod reference;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use error::OciError;
pub use pull::MAX_IMAGE_BYTES;
pub use reference::{resolve, DOCKER_HUB};

use super::cache::{self, KeyHasher, Staging};
use super::{rootfs, ImageError};

/// Bump when the import procedure changes, to invalidate imported root filesystems.
const OCI_BUILDER_VERSION: u32 = 1;

/// Where images come from.
#[derive(Debug, Clone)]
pub struct Registries {
    /// Registry of names without one (`ubuntu:22.04`) and of `docker.io/…`.
    pub default_registry: String,
    /// Registries spoken to over plain HTTP (`host:port`).
    pub insecure: Vec<String>,
    /// Extra CA certificates (PEM) trusted for registries.
    pub extra_ca_pem: Vec<Vec<u8>>,
    /// The ECR API endpoint AWS logins call (`{region}` replaced), when not
    /// [`ecr::DEFAULT_ENDPOINT`].
    pub ecr_endpoint: Option<String>,
}

impl Default for Registries {
    fn default() -> Self {
        Self {
            default_registry: DOCKER_HUB.to_owned(),
            insecure: Vec::new(),
            extra_ca_pem: Vec::new(),
            ecr_endpoint: None,
        }
    }
}

/// How to log in to the registry.
#[derive(Clone, Default)]
pub enum Credentials {
    /// No credentials.
    #[default]
    Anonymous,
    /// HTTP basic credentials (also GCP `_json_key` and registry tokens).
    Basic {
        /// User name.
        username: String,
        /// Password or token.
        password: String,
    },
    /// AWS keys, exchanged for an ECR token before the pull.
    Aws(ecr::AwsKeys),
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Anonymous => f.write_str("Anonymous"),
            Self::Basic { username, .. } => write!(f, "Basic({username}, <redacted>)"),
            Self::Aws(keys) => write!(f, "{keys:?}"),
        }
    }
}

/// What the image asks of the processes it runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageConfig {
    /// `Env`, as names and values.
    pub env: BTreeMap<String, String>,
    /// `WorkingDir`, when set.
    pub workdir: Option<String>,
    /// `User`, when set.
    pub user: Option<String>,
}

/// An imported root filesystem.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OciRootfs {
    /// Cache key.
    pub key: String,
    /// The image as resolved (`registry/repository:tag`).
    pub reference: String,
    /// Digest of its linux/amd64 manifest.
    pub digest: String,
    /// The ext4 root filesystem.
    pub rootfs: PathBuf,
    /// Its config.
    pub config: ImageConfig,
    /// Sum of the compressed layer sizes, bytes.
    pub layers_bytes: u64,
}

/// The `image.json` of a cache entry.
#[derive(Debug, Serialize, Deserialize)]
struct Recorded {
    reference: String,
    digest: String,
    config: ImageConfig,
    layers_bytes: u64,
}

/// What to import and into which data directory.
#[derive(Debug, Clone)]
pub struct OciImport {
    /// Nullspace data directory.
    pub data_dir: PathBuf,
    /// The static guestd injected as the guest's agent.
    pub guestd: PathBuf,
    /// The image reference as the user wrote it.
    pub reference: String,
    /// Registry login.
    pub credentials: Credentials,
    /// Size of the root filesystem, MiB.
    pub disk_size_mib: u64,
}

/// Reads `Env`, `WorkingDir` and `User`, refusing images not made for linux/amd64.
fn image_config(reference: &str, json: &str) -> Result<ImageConfig, OciError> {
    let unsupported = |reason: String| OciError::Unsupported {
        reference: reference.to_owned(),
        reason,
    };
    let v: serde_json::Value = serde_json::from_str(json)
        .map_err(|e| unsupported(format!("its config is not JSON: {e}")))?;
    let field = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("");
    if !matches!(field("os"), "" | "linux") || !matches!(field("architecture"), "" | "amd64") {
        return Err(unsupported(format!(
            "it is built for {}/{}, machines run linux/amd64",
            field("os"),
            field("architecture")
        )));
    }
    let cfg = v.get("config");
    let text = |k: &str| {
        cfg.and_then(|c| c.get(k))
            .and_then(|x| x.as_str())
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let env = cfg
        .and_then(|c| c.get("Env"))
        .and_then(|e| e.as_array())
        .into_iter()
        .flatten()
        .filter_map(|e| e.as_str())
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    Ok(ImageConfig {
        env,
        workdir: text("WorkingDir"),
        user: text("User"),
    })
}

fn key(digest: &str, guestd_sha: &str, disk_mib: u64, resolv: &str) -> String {
    let mut h = KeyHasher::new("nullspace-oci-rootfs");
    h.str("builder", &OCI_BUILDER_VERSION.to_string())
        .str("digest", digest)
        .str("guestd", guestd_sha)
        .str("disk_mib", &disk_mib.to_string())
        .str("resolv", resolv);
    h.finish()
}

/// Pulls `import.reference` from its registry and builds (or finds cached) its root filesystem.
pub async fn import(registries: &Registries, import: &OciImport) -> Result<OciRootfs, OciError> {
    let reference = resolve(&import.reference, &registries.default_registry)?;
    let whole = reference.whole();
    let rootfs_err = |source: ImageError| OciError::Rootfs {
        reference: whole.clone(),
        source,
    };
    if !import.guestd.is_file() {
        return Err(rootfs_err(ImageError::GuestdMissing {
            path: import.guestd.clone(),
        }));
    }
    let credentials = match &import.credentials {
        Credentials::Aws(keys) => {
            let (username, password) = ecr::login(
                keys,
                registries.ecr_endpoint.as_deref(),
                &registries.extra_ca_pem,
            )
            .await?;
            Credentials::Basic { username, password }
        }
        other => other.clone(),
    };
    let client = pull::client(registries);
    let pulled = pull::manifest(&client, &reference, &credentials).await?;
    let config = image_config(&whole, &pulled.config)?;
    let guestd_sha = cache::sha256_file(&import.guestd).map_err(rootfs_err)?;
    let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let resolv = rootfs::guest_resolv_conf(&host_resolv);
    let key = key(&pulled.digest, &guestd_sha, import.disk_size_mib, &resolv);
    let dir = super::images_dir(&import.data_dir).join("oci");
    let entry = dir.join(&key);
    let layers_bytes: u64 = pulled
        .manifest
        .layers
        .iter()
        .map(|l| l.size.max(0) as u64)
        .sum();
    let done = |entry: &Path| OciRootfs {
        key: key.clone(),
        reference: whole.clone(),
        digest: pulled.digest.clone(),
        rootfs: entry.join("rootfs.ext4"),
        config: config.clone(),
        layers_bytes,
    };
    if entry.join("image.json").is_file() {
        tracing::info!(%whole, digest = %pulled.digest, "imported image cache hit");
        return Ok(done(&entry));
    }
    if !rootfs::is_root() {
        return Err(rootfs_err(ImageError::NotRoot {
            why: "image layers carry root-owned files",
        }));
    }
    std::fs::create_dir_all(&dir)
        .map_err(ImageError::io("create directory", &dir))
        .map_err(rootfs_err)?;
    cache::clean_stale_staging(&dir);
    let staging = Staging::new(&dir, &key[..16]).map_err(rootfs_err)?;
    let layer_files = pull::layers(&client, &reference, &pulled, staging.path()).await?;
    let out = staging.path().to_owned();
    let (guestd, disk_mib) = (import.guestd.clone(), import.disk_size_mib);
    let digests: Vec<String> = pulled
        .manifest
        .layers
        .iter()
        .map(|l| l.digest.clone())
        .collect();
    let who = whole.clone();
    let recorded = Recorded {
        reference: whole.clone(),
        digest: pulled.digest.clone(),
        config: config.clone(),
        layers_bytes,
    };
    tokio::task::spawn_blocking(move || {
        assemble(
            &who,
            &out,
            &layer_files,
            &digests,
            &guestd,
            &resolv,
            disk_mib,
        )?;
        cache::write_json(&out.join("image.json"), &recorded).map_err(|source| OciError::Rootfs {
            reference: who.clone(),
            source,
        })
    })
    .await
    .map_err(|e| rootfs_err(ImageError::Join(e)))??;
    staging.publish(&entry).map_err(rootfs_err)?;
    tracing::info!(%whole, digest = %pulled.digest, "image imported");
    Ok(done(&entry))
}

/// Applies the layers, customises the tree and writes `rootfs.ext4` in `out`.
fn assemble(
    reference: &str,
    out: &Path,
    layer_files: &[PathBuf],
    digests: &[String],
    guestd: &Path,
    resolv: &str,
    disk_mib: u64,
) -> Result<(), OciError> {
    let rootfs_err = |source: ImageError| OciError::Rootfs {
        reference: reference.to_owned(),
        source,
    };
    let root = out.join("root");
    std::fs::create_dir_all(&root)
        .map_err(ImageError::io("create directory", &root))
        .map_err(rootfs_err)?;
    for (file, digest) in layer_files.iter().zip(digests) {
        layers::apply(file, &root).map_err(|e| OciError::BadLayer {
            reference: reference.to_owned(),
            layer: digest.clone(),
            reason: e.to_string(),
        })?;
        std::fs::remove_file(file)
            .map_err(ImageError::io("remove", file))
            .map_err(rootfs_err)?;
    }
    rootfs::customise_image(&root, guestd, resolv).map_err(rootfs_err)?;
    rootfs::make_ext4(&root, &out.join("rootfs.ext4"), disk_mib).map_err(rootfs_err)?;
    cache::remove_tree(&root).map_err(rootfs_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_gives_env_workdir_and_user() {
        let json = r#"{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/local/bin:/usr/bin","LANG=C.UTF-8","BROKEN"],"WorkingDir":"/app","User":"1000"}}"#;
        let c = image_config("r", json).unwrap();
        assert_eq!(c.env.get("PATH").unwrap(), "/usr/local/bin:/usr/bin");
        assert_eq!(c.env.len(), 2);
        assert_eq!(c.workdir.as_deref(), Some("/app"));
        assert_eq!(c.user.as_deref(), Some("1000"));
        let bare = image_config("r", r#"{"architecture":"amd64","os":"linux"}"#).unwrap();
        assert_eq!(bare, ImageConfig::default());
    }

    #[test]
    fn other_platforms_and_bad_configs_are_refused() {
        for json in [
            r#"{"architecture":"arm64","os":"linux"}"#,
            r#"{"os":"windows"}"#,
            "nope",
        ] {
            assert!(
                matches!(image_config("r", json), Err(OciError::Unsupported { .. })),
                "{json}"
            );
        }
    }

    #[test]
    fn credentials_never_print_the_password() {
        let c = Credentials::Basic {
            username: "u".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn keys_track_digest_and_guestd() {
        let a = key("sha256:1", "g", 4096, "");
        assert_ne!(a, key("sha256:2", "g", 4096, ""));
        assert_ne!(a, key("sha256:1", "h", 4096, ""));
        assert_eq!(a, key("sha256:1", "g", 4096, ""));
    }
}
