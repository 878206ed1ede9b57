//! Image references: `name[:tag|@digest]` resolved against the configured default registry.

use oci_client::Reference;

use super::OciError;

/// The registry Docker Hub names resolve to unless an operator points them elsewhere.
pub const DOCKER_HUB: &str = "docker.io";

/// Parses `reference`, sending names without a registry (and `docker.io/…`) to `default_registry`.
///
/// `ubuntu:22.04` becomes `{default_registry}/library/ubuntu:22.04`, so a mirror of
/// Docker Hub serves it; a name with a registry host (`ghcr.io/x/y`, `127.0.0.1:5000/y`)
/// is left as it is.
pub fn resolve(reference: &str, default_registry: &str) -> Result<Reference, OciError> {
    let bad = |reason: String| OciError::BadReference {
        reference: reference.to_owned(),
        reason,
    };
    if reference.trim() != reference || reference.is_empty() {
        return Err(bad("must be non-empty, without surrounding spaces".into()));
    }
    let parsed: Reference = reference.parse().map_err(|e| bad(format!("{e}")))?;
    if parsed.registry() != DOCKER_HUB || default_registry == DOCKER_HUB {
        return Ok(parsed);
    }
    let repository = parsed.repository().to_owned();
    Ok(match (parsed.digest(), parsed.tag()) {
        (Some(d), _) => Reference::with_digest(default_registry.to_owned(), repository, d.into()),
        (None, Some(t)) => Reference::with_tag(default_registry.to_owned(), repository, t.into()),
        (None, None) => {
            Reference::with_tag(default_registry.to_owned(), repository, "latest".into())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_go_to_the_default_registry() {
        let r = resolve("ubuntu:22.04", DOCKER_HUB).unwrap();
        assert_eq!(r.whole(), "docker.io/library/ubuntu:22.04");
        let r = resolve("python:3.12", "mirror.example:5000").unwrap();
        assert_eq!(r.whole(), "mirror.example:5000/library/python:3.12");
        let r = resolve("team/app", "mirror.example").unwrap();
        assert_eq!(r.whole(), "mirror.example/team/app:latest");
    }

    #[test]
    fn names_with_a_registry_keep_it() {
        let r = resolve("127.0.0.1:5000/test/busybox:1", "mirror.example").unwrap();
        assert_eq!(r.registry(), "127.0.0.1:5000");
        assert_eq!(r.repository(), "test/busybox");
        assert_eq!(r.tag(), Some("1"));
        let d = format!("ghcr.io/a/b@sha256:{}", "0".repeat(64));
        assert_eq!(resolve(&d, "m").unwrap().whole(), d);
    }

    #[test]
    fn bad_references_are_refused() {
        for r in ["", " ubuntu", "UPPER/Case", "a:b:c:d", "x@sha256:12"] {
            assert!(
                matches!(resolve(r, DOCKER_HUB), Err(OciError::BadReference { .. })),
                "{r:?}"
            );
        }
    }
}
