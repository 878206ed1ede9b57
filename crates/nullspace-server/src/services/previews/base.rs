//! Preview addresses: `{port}-{machine}.{base host}` and `/preview/{machine}/{port}`.

use nullspace_types::MachineId;

/// Where previews are served: scheme, host and port of `--preview-base`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewBase {
    /// `http` or `https`.
    pub scheme: String,
    /// Host that machine hosts are made under (lowercase, no port).
    pub host: String,
    /// Port, if not the scheme's default.
    pub port: Option<u16>,
}

impl Default for PreviewBase {
    fn default() -> Self {
        Self {
            scheme: "http".into(),
            host: "localhost".into(),
            port: None,
        }
    }
}

impl PreviewBase {
    /// Parse `http[s]://host[:port]` (a trailing `/` is allowed, nothing else).
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = || format!("preview base {s:?}: expected http[s]://host[:port]");
        let (scheme, rest) = s.split_once("://").ok_or_else(bad)?;
        if scheme != "http" && scheme != "https" {
            return Err(bad());
        }
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) => (h, Some(p.parse::<u16>().map_err(|_| bad())?)),
            None => (rest, None),
        };
        let host_ok = !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
        if !host_ok {
            return Err(bad());
        }
        Ok(Self {
            scheme: scheme.into(),
            host: host.to_ascii_lowercase(),
            port,
        })
    }

    fn port_suffix(&self) -> String {
        self.port.map(|p| format!(":{p}")).unwrap_or_default()
    }

    /// Host (and port) of machine port `port`'s host form.
    pub fn host_of(&self, id: &MachineId, port: u16) -> String {
        format!("{port}-{id}.{}{}", self.host, self.port_suffix())
    }

    /// `scheme://host[:port]` of the server itself (for the path form).
    pub fn origin(&self) -> String {
        format!("{}://{}{}", self.scheme, self.host, self.port_suffix())
    }

    /// The scheme of WebSocket addresses.
    pub fn ws_scheme(&self) -> &'static str {
        if self.scheme == "https" {
            "wss"
        } else {
            "ws"
        }
    }

    /// The machine port a `Host` header names, if it is a preview host of this base.
    pub fn parse_host(&self, host: &str) -> Option<(MachineId, u16)> {
        let host = host.to_ascii_lowercase();
        let name = match host.rsplit_once(':') {
            Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h.to_owned(),
            _ => host,
        };
        let label = name.strip_suffix(&self.host)?.strip_suffix('.')?;
        let (port, id) = label.split_once('-')?;
        Some((id.parse().ok()?, parse_port(port)?))
    }
}

/// A port number 1–65535 written in digits.
pub fn parse_port(s: &str) -> Option<u16> {
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u16>().ok().filter(|p| *p != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bases_parse_and_hosts_round_trip() {
        let b = PreviewBase::parse("http://localhost:7070/").unwrap();
        let id: MachineId = "sb_abc123".parse().unwrap();
        assert_eq!(b.host_of(&id, 8080), "8080-sb_abc123.localhost:7070");
        assert_eq!(b.origin(), "http://localhost:7070");
        assert_eq!(
            b.parse_host("8080-SB_abc123.localhost:7070"),
            Some((id.clone(), 8080))
        );
        assert_eq!(b.parse_host("8080-sb_abc123.localhost"), Some((id, 8080)));
        for bad in [
            "localhost:7070",
            "8080-sb_abc123.example.com",
            "0-sb_abc123.localhost",
            "70000-sb_abc123.localhost",
            "x-sb_abc123.localhost",
            "8080-nope.localhost",
            "8080-sb_abc123xlocalhost",
        ] {
            assert_eq!(b.parse_host(bad), None, "{bad}");
        }
        let tls = PreviewBase::parse("https://preview.example.com").unwrap();
        assert_eq!((tls.ws_scheme(), tls.port), ("wss", None));
        for bad in [
            "ftp://x",
            "http://",
            "http://a b",
            "http://x:99999",
            "localhost",
        ] {
            assert!(PreviewBase::parse(bad).is_err(), "{bad}");
        }
    }
}
