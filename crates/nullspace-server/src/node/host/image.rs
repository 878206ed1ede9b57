//! OCI images as node templates: pulled and unpacked by `nullspace_host::image::oci`,
//! booted once with the base template's kernel and saved like any template.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::RwLock;

use nullspace_host::image::oci::{self, OciImport, Registries};
use nullspace_host::image::{ImageArtifacts, DEFAULT_DISK_SIZE_MIB};
use nullspace_host::{Runtime, Template};

use crate::node::{ImageImport, ImportedImage, NodeError, NodeErrorCode, NodeResult};

/// Where a node pulls images from and what it injects into them.
#[derive(Debug, Clone)]
pub struct ImageSource {
    /// Registries and their trust.
    pub registries: Registries,
    /// The static guest agent injected into every image.
    pub guestd: PathBuf,
    /// The node's data directory (the image cache is under `images/oci`).
    pub data_dir: PathBuf,
}

/// The node templates made from images, by name.
pub struct Images {
    source: ImageSource,
    made: RwLock<HashMap<String, Template>>,
    /// One import at a time: two builds of one image share its boot.
    importing: tokio::sync::Mutex<()>,
}

/// The node template name of an imported root filesystem.
fn template_name(key: &str) -> String {
    format!("image-{}", &key[..16])
}

impl Images {
    /// No image imported yet.
    pub fn new(source: ImageSource) -> Self {
        Self {
            source,
            made: RwLock::new(HashMap::new()),
            importing: tokio::sync::Mutex::new(()),
        }
    }

    /// The template imported as `name`, if any.
    pub fn template(&self, name: &str) -> Option<Template> {
        self.made.read().expect("lock").get(name).cloned()
    }

    /// Pulls `image`, builds its root filesystem and boots it as a template.
    pub async fn import(
        &self,
        runtime: &Runtime,
        base: &Template,
        image: ImageImport,
    ) -> NodeResult<ImportedImage> {
        let _one = self.importing.lock().await;
        let import = OciImport {
            data_dir: self.source.data_dir.clone(),
            guestd: self.source.guestd.clone(),
            reference: image.reference,
            credentials: image.credentials,
            disk_size_mib: DEFAULT_DISK_SIZE_MIB,
        };
        let rootfs = oci::import(&self.source.registries, &import)
            .await
            .map_err(|e| NodeError::new(NodeErrorCode::ImagePullFailed, e.to_string()))?;
        let name = template_name(&rootfs.key);
        let existing = self.template(&name);
        if existing.is_none() {
            let artifacts = ImageArtifacts {
                key: rootfs.key.clone(),
                dir: rootfs.rootfs.parent().map(Into::into).unwrap_or_default(),
                vmlinux: base.vmlinux.clone(),
                initrd: base.initrd.clone(),
                rootfs: rootfs.rootfs.clone(),
                kernel_release: String::new(),
            };
            let t = runtime
                .ensure_image_template(&name, &artifacts)
                .await
                .map_err(|e| {
                    NodeError::new(
                        NodeErrorCode::ImagePullFailed,
                        format!("image {} did not boot: {e}", rootfs.reference),
                    )
                })?;
            self.made.write().expect("lock").insert(name.clone(), t);
        }
        Ok(ImportedImage {
            template: name,
            reference: rootfs.reference,
            digest: rootfs.digest,
            config: rootfs.config,
        })
    }
}
