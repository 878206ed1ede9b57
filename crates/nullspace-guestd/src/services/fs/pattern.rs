//! Globs on names and text matchers, compiled once per call.

use std::path::Path;

use globset::{GlobBuilder, GlobMatcher};
use nullspace_guest_proto::TextMatch;
use regex::bytes::{Regex, RegexBuilder};

use crate::services::error::OpError;

/// A glob on entry names, or on paths relative to the walk's start when it has a `/`.
#[derive(Debug, Clone)]
pub struct NameGlob {
    matcher: GlobMatcher,
    on_path: bool,
}

impl NameGlob {
    /// Compile `pattern`.
    pub fn new(pattern: &str) -> Result<Self, OpError> {
        if pattern.is_empty() {
            return Err(OpError::Pattern("the glob is empty".into()));
        }
        let glob = GlobBuilder::new(pattern)
            .literal_separator(true)
            .backslash_escape(true)
            .build()
            .map_err(|e| OpError::Pattern(format!("invalid glob {pattern:?}: {e}")))?;
        Ok(Self {
            matcher: glob.compile_matcher(),
            on_path: pattern.contains('/'),
        })
    }

    /// Whether the entry at `rel` (relative to the walk's start) matches.
    pub fn matches(&self, rel: &Path) -> bool {
        if self.on_path {
            self.matcher.is_match(rel)
        } else {
            rel.file_name().is_some_and(|n| self.matcher.is_match(n))
        }
    }
}

/// A compiled text matcher: a literal or a regular expression, on bytes.
#[derive(Debug, Clone)]
pub struct Text {
    /// The compiled expression (a literal is escaped).
    pub regex: Regex,
    /// Files found by walking must match this.
    pub include: Option<NameGlob>,
}

impl Text {
    /// Compile what `m` asks for.
    pub fn new(m: &TextMatch) -> Result<Self, OpError> {
        if m.pattern.is_empty() {
            return Err(OpError::Pattern("the pattern is empty".into()));
        }
        let source = if m.regex {
            m.pattern.clone()
        } else {
            regex::escape(&m.pattern)
        };
        let regex = RegexBuilder::new(&source)
            .case_insensitive(!m.case_sensitive)
            .multi_line(true)
            .size_limit(1 << 22)
            .build()
            .map_err(|e| OpError::Pattern(format!("invalid regular expression: {e}")))?;
        let include = m.include.as_deref().map(NameGlob::new).transpose()?;
        Ok(Self { regex, include })
    }
}

/// Whether `head` (a file's first bytes) looks binary: it holds a NUL.
pub fn looks_binary(head: &[u8]) -> bool {
    head[..head.len().min(8192)].contains(&0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(pattern: &str, regex: bool, case_sensitive: bool) -> TextMatch {
        TextMatch {
            pattern: pattern.into(),
            regex,
            case_sensitive,
            include: None,
        }
    }

    #[test]
    fn globs_match_names_or_relative_paths() {
        let g = NameGlob::new("*.py").unwrap();
        assert!(g.matches(Path::new("src/deep/a.py")));
        assert!(!g.matches(Path::new("src/a.pyc")));
        let g = NameGlob::new("src/**/*.rs").unwrap();
        assert!(g.matches(Path::new("src/a/b/c.rs")));
        assert!(!g.matches(Path::new("lib/c.rs")));
        let g = NameGlob::new("{a,b}?").unwrap();
        assert!(g.matches(Path::new("x/bz")));
        assert!(NameGlob::new("[").is_err());
        assert!(NameGlob::new("").is_err());
    }

    #[test]
    fn literals_are_escaped_and_case_folds_on_request() {
        let t = Text::new(&text("a.b", false, true)).unwrap();
        assert!(t.regex.is_match(b"xa.b"));
        assert!(!t.regex.is_match(b"axb"));
        let t = Text::new(&text("HELLO", false, false)).unwrap();
        assert!(t.regex.is_match(b"say hello"));
        let t = Text::new(&text(r"fo+\d", true, true)).unwrap();
        assert!(t.regex.is_match(b"foo1"));
        assert!(matches!(
            Text::new(&text("(", true, true)),
            Err(OpError::Pattern(_))
        ));
        assert!(looks_binary(b"ab\0c"));
        assert!(!looks_binary(b"abc"));
    }
}
