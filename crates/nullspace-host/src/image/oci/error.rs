//! Why an OCI image could not be turned into a root filesystem.

use super::super::ImageError;

/// What failed while importing an OCI image.
#[derive(Debug, thiserror::Error)]
pub enum OciError {
    /// The reference does not parse.
    #[error("bad image reference {reference:?}: {reason}")]
    BadReference {
        /// What was given.
        reference: String,
        /// Why it does not parse.
        reason: String,
    },
    /// The registry could not be reached (DNS, connect, TLS).
    #[error("registry {registry} is unreachable: {reason}")]
    Unreachable {
        /// Registry host.
        registry: String,
        /// The transport error.
        reason: String,
    },
    /// The registry refused the credentials, or asked for some that were not given.
    #[error("registry {registry} refused access to {reference}: {reason}")]
    Unauthorized {
        /// Registry host.
        registry: String,
        /// The image.
        reference: String,
        /// What the registry said.
        reason: String,
    },
    /// The registry has no such repository or tag.
    #[error("image {reference} was not found in registry {registry}")]
    NotFound {
        /// Registry host.
        registry: String,
        /// The image.
        reference: String,
    },
    /// The registry answered something else that stops the pull.
    #[error("pulling {reference} from registry {registry} failed: {reason}")]
    Registry {
        /// Registry host.
        registry: String,
        /// The image.
        reference: String,
        /// What went wrong.
        reason: String,
    },
    /// The image is not a Linux amd64 image made of tar layers, or it is too big.
    #[error("image {reference} cannot be used: {reason}")]
    Unsupported {
        /// The image.
        reference: String,
        /// Why.
        reason: String,
    },
    /// A layer is damaged or tries to write outside the root.
    #[error("layer {layer} of {reference}: {reason}")]
    BadLayer {
        /// The image.
        reference: String,
        /// Layer digest.
        layer: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Building the root filesystem from the unpacked image failed.
    #[error("building the root filesystem of {reference}: {source}")]
    Rootfs {
        /// The image.
        reference: String,
        /// The underlying failure.
        source: ImageError,
    },
}
