//! The `nullspace.*` keys of the kernel command line.

/// Hostname used when the command line names none.
pub const DEFAULT_HOSTNAME: &str = "nullspace";

/// Boot settings from the kernel command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootConfig {
    /// `nullspace.hostname=NAME`.
    pub hostname: String,
    /// `nullspace.ip=ADDR/PREFIX` for `eth0`.
    pub ip: Option<String>,
    /// `nullspace.gw=ADDR`, the default route.
    pub gw: Option<String>,
}

impl BootConfig {
    /// Read `/proc/cmdline` (an unreadable one gives the defaults).
    pub fn load() -> Self {
        Self::parse(&std::fs::read_to_string("/proc/cmdline").unwrap_or_default())
    }

    /// Parse a kernel command line.
    pub fn parse(cmdline: &str) -> Self {
        let mut cfg = BootConfig {
            hostname: DEFAULT_HOSTNAME.into(),
            ip: None,
            gw: None,
        };
        for word in cmdline.split_whitespace() {
            let Some((key, value)) = word.split_once('=') else {
                continue;
            };
            if value.is_empty() {
                continue;
            }
            match key {
                "nullspace.hostname" => cfg.hostname = value.into(),
                "nullspace.ip" => cfg.ip = Some(value.into()),
                "nullspace.gw" => cfg.gw = Some(value.into()),
                _ => {}
            }
        }
        cfg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_keys_and_defaults() {
        let cfg = BootConfig::parse(
            "console=ttyS0 nullspace.hostname=box-1 nullspace.ip=10.0.2.2/24 nullspace.gw=10.0.2.1 quiet\n",
        );
        assert_eq!(cfg.hostname, "box-1");
        assert_eq!(cfg.ip.as_deref(), Some("10.0.2.2/24"));
        assert_eq!(cfg.gw.as_deref(), Some("10.0.2.1"));
        let cfg = BootConfig::parse("console=ttyS0 nullspace.hostname= nullspace.ip");
        assert_eq!(cfg.hostname, DEFAULT_HOSTNAME);
        assert_eq!((cfg.ip, cfg.gw), (None, None));
    }
}
