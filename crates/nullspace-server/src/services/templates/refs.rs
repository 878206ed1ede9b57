//! Template refs: `name`, `name:tag` or a `tpl_…` id.

use nullspace_api::{ErrorCode, LATEST_TAG};

use crate::error::{ApiError, ApiResult};

/// A parsed template ref.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateRef {
    /// By name and tag (`latest` when none was given).
    Name {
        /// Template name.
        name: String,
        /// Tag.
        tag: String,
    },
    /// By id (its `latest` version).
    Id(String),
}

impl TemplateRef {
    /// The ref as a string, with the tag made explicit.
    pub fn canonical(&self) -> String {
        match self {
            Self::Name { name, tag } => format!("{name}:{tag}"),
            Self::Id(id) => id.clone(),
        }
    }

    /// The tag it names.
    pub fn tag(&self) -> &str {
        match self {
            Self::Name { tag, .. } => tag,
            Self::Id(_) => LATEST_TAG,
        }
    }
}

/// Check a template name: 1–63 of `[a-z0-9._-]`, starting with a letter or digit.
pub fn check_name(field: &str, name: &str) -> ApiResult<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(ApiError::field(
            field,
            format!("template name {name:?} must be 1-63 of [a-z0-9._-], starting with a letter or digit"),
        ))
    }
}

/// Check a tag: 1–128 of `[A-Za-z0-9._-]`, starting with a letter, digit or `_`.
pub fn check_tag(field: &str, tag: &str) -> ApiResult<()> {
    let ok = !tag.is_empty()
        && tag.len() <= 128
        && tag.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(ApiError::field(
            field,
            format!(
                "tag {tag:?} must be 1-128 of [A-Za-z0-9._-], starting with a letter, digit or _"
            ),
        ))
    }
}

/// Parse a ref given in field `field`.
pub fn parse(field: &str, raw: &str) -> ApiResult<TemplateRef> {
    if raw.starts_with(nullspace_types::TemplateId::PREFIX) {
        raw.parse::<nullspace_types::TemplateId>()
            .map_err(|e| ApiError::field(field, e.to_string()))?;
        return Ok(TemplateRef::Id(raw.to_owned()));
    }
    let (name, tag) = match raw.split_once(':') {
        Some((n, t)) => (n, t),
        None => (raw, LATEST_TAG),
    };
    check_name(field, name)?;
    check_tag(field, tag)?;
    Ok(TemplateRef::Name {
        name: name.to_owned(),
        tag: tag.to_owned(),
    })
}

/// 404 for a ref that names nothing.
pub fn not_found(raw: &str) -> ApiError {
    ApiError::new(
        ErrorCode::TemplateNotFound,
        format!("template {raw:?} not found"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_parse_with_and_without_tags() {
        assert_eq!(
            parse("t", "web").unwrap(),
            TemplateRef::Name {
                name: "web".into(),
                tag: "latest".into()
            }
        );
        assert_eq!(parse("t", "web:v1.2").unwrap().canonical(), "web:v1.2");
        let id = nullspace_types::TemplateId::random();
        assert_eq!(
            parse("t", id.as_str()).unwrap(),
            TemplateRef::Id(id.to_string())
        );
        for bad in [
            "",
            "Web",
            "-web",
            "web:",
            "web:-x",
            "a:b:c",
            "tpl_",
            "we b",
            &"a".repeat(64),
        ] {
            assert!(parse("t", bad).is_err(), "{bad:?} is not a ref");
        }
    }
}
