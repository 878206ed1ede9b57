//! A machine's outbound traffic policy: which IPv4 destinations it may reach.
//!
//! The rules, in order: replies to connections made into the machine always
//! pass; a destination in `allow_out` passes; one in `deny_out` is dropped; what
//! is left passes unless the policy is closed (internet access off, or an
//! `allow_out` list given without any `deny_out`, which makes it an allow-list).

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Most CIDRs one list of a policy takes.
pub const MAX_CIDRS: usize = 256;

/// An IPv4 network, `a.b.c.d/n` (a bare address is a `/32`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cidr {
    addr: Ipv4Addr,
    prefix: u8,
}

/// Why a CIDR or a policy was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EgressError {
    /// Not `a.b.c.d` or `a.b.c.d/n` with n in 0..=32.
    #[error("{0:?} is not an IPv4 address or CIDR (a.b.c.d or a.b.c.d/n); IPv6 is not routed to machines")]
    BadCidr(String),
    /// A list is longer than [`MAX_CIDRS`].
    #[error("at most {MAX_CIDRS} CIDRs per list, got {0}")]
    TooMany(usize),
}

impl Cidr {
    /// The network `addr/prefix` (`prefix` ≤ 32, no host bits).
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Option<Self> {
        (prefix <= 32 && u32::from(addr) & !mask(prefix) == 0).then_some(Self { addr, prefix })
    }

    /// The network address.
    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether every address of `other` is inside this network.
    pub fn covers(&self, other: &Cidr) -> bool {
        self.prefix <= other.prefix && self.contains(other.addr)
    }

    /// Whether `ip` is inside this network.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & mask(self.prefix) == u32::from(self.addr)
    }
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    }
}

impl FromStr for Cidr {
    type Err = EgressError;

    fn from_str(s: &str) -> Result<Self, EgressError> {
        let bad = || EgressError::BadCidr(s.to_owned());
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => {
                // Digits only: no sign, no spaces, no leading zero.
                if p.is_empty()
                    || p.len() > 2
                    || (p.len() == 2 && p.starts_with('0'))
                    || !p.bytes().all(|b| b.is_ascii_digit())
                {
                    return Err(bad());
                }
                (a, p.parse::<u8>().map_err(|_| bad())?)
            }
            None => (s, 32),
        };
        let addr: Ipv4Addr = addr.parse().map_err(|_| bad())?;
        if prefix > 32 {
            return Err(bad());
        }
        // Host bits past the prefix are dropped: `10.1.2.3/8` is `10.0.0.0/8`.
        Ok(Cidr {
            addr: Ipv4Addr::from(u32::from(addr) & mask(prefix)),
            prefix,
        })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl Serialize for Cidr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Where a machine's outbound traffic may go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Egress {
    /// Destinations always allowed (they win over `deny_out`).
    #[serde(default)]
    pub allow_out: Vec<Cidr>,
    /// Destinations dropped.
    #[serde(default)]
    pub deny_out: Vec<Cidr>,
    /// Whether destinations named by neither list are reachable.
    #[serde(default = "yes")]
    pub internet_access: bool,
}

fn yes() -> bool {
    true
}

impl Default for Egress {
    fn default() -> Self {
        Self::OPEN
    }
}

impl Egress {
    /// No restriction at all.
    pub const OPEN: Egress = Egress {
        allow_out: Vec::new(),
        deny_out: Vec::new(),
        internet_access: true,
    };

    /// A policy from its parts, checked (list lengths) and normalised (sorted,
    /// without repeats or networks inside another of the same list).
    pub fn new(
        mut allow_out: Vec<Cidr>,
        mut deny_out: Vec<Cidr>,
        internet_access: bool,
    ) -> Result<Self, EgressError> {
        for list in [&mut allow_out, &mut deny_out] {
            if list.len() > MAX_CIDRS {
                return Err(EgressError::TooMany(list.len()));
            }
            list.sort();
            list.dedup();
            let all = list.clone();
            list.retain(|c| !all.iter().any(|o| o != c && o.covers(c)));
        }
        Ok(Self {
            allow_out,
            deny_out,
            internet_access,
        })
    }

    /// Whether traffic to destinations named by neither list is dropped.
    pub fn closed(&self) -> bool {
        !self.internet_access || (!self.allow_out.is_empty() && self.deny_out.is_empty())
    }

    /// Whether this policy lets everything through (nothing to install).
    pub fn is_open(&self) -> bool {
        !self.closed() && self.deny_out.is_empty()
    }

    /// Whether a new connection from the machine to `ip` is allowed.
    pub fn allows(&self, ip: Ipv4Addr) -> bool {
        if self.allow_out.iter().any(|c| c.contains(ip)) {
            return true;
        }
        if self.deny_out.iter().any(|c| c.contains(ip)) {
            return false;
        }
        !self.closed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Cidr {
        s.parse().unwrap()
    }

    #[test]
    fn cidrs_parse_strictly() {
        assert_eq!(c("203.0.113.0/24").to_string(), "203.0.113.0/24");
        assert_eq!(c("198.51.100.7").to_string(), "198.51.100.7/32");
        assert_eq!(c("0.0.0.0/0").prefix(), 0);
        for bad in [
            "",
            "1.2.3",
            "1.2.3.4/",
            "1.2.3.4/33",
            "1.2.3.4/-1",
            "1.2.3.4/+8",
            "::1",
            "fe80::/10",
            "1.2.3.4/ 8",
            "01.2.3.4",
            "a.b.c.d/8",
            "1.2.3.4/008",
        ] {
            assert!(
                matches!(bad.parse::<Cidr>(), Err(EgressError::BadCidr(_))),
                "{bad:?} parsed"
            );
        }
        assert_eq!(c("10.1.2.3/8").to_string(), "10.0.0.0/8");
        assert_eq!(c("10.1.2.3/0").to_string(), "0.0.0.0/0");
    }

    #[test]
    fn rules_follow_the_documented_order() {
        let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        let open = Egress::OPEN;
        assert!(open.is_open() && open.allows(ip("8.8.8.8")));
        // An allow-list alone closes everything else.
        let only = Egress::new(vec![c("203.0.113.0/24")], vec![], true).unwrap();
        assert!(only.closed());
        assert!(only.allows(ip("203.0.113.9")) && !only.allows(ip("198.51.100.1")));
        // Deny a range, allow a hole in it; the rest stays reachable.
        let holes = Egress::new(vec![c("203.0.113.5")], vec![c("203.0.113.0/24")], true).unwrap();
        assert!(!holes.closed() && !holes.is_open());
        assert!(holes.allows(ip("203.0.113.5")));
        assert!(!holes.allows(ip("203.0.113.6")));
        assert!(holes.allows(ip("198.51.100.1")));
        // No internet: only what allow_out names.
        let offline = Egress::new(vec![c("198.51.100.0/24")], vec![], false).unwrap();
        assert!(offline.allows(ip("198.51.100.200")) && !offline.allows(ip("203.0.113.1")));
        assert!(!Egress::new(vec![], vec![], false)
            .unwrap()
            .allows(ip("1.1.1.1")));
    }

    #[test]
    fn policies_are_normalised_and_bounded() {
        let e = Egress::new(
            vec![c("9.0.0.0/8"), c("1.0.0.0/8"), c("9.0.0.0/8")],
            vec![],
            true,
        )
        .unwrap();
        assert_eq!(e.allow_out, vec![c("1.0.0.0/8"), c("9.0.0.0/8")]);
        // Nested networks (nftables refuses overlapping set elements) keep the outer one.
        let nested = Egress::new(
            vec![c("10.1.0.0/16"), c("10.0.0.0/8"), c("10.1.2.3")],
            vec![],
            true,
        )
        .unwrap();
        assert_eq!(nested.allow_out, vec![c("10.0.0.0/8")]);
        let many: Vec<Cidr> = (0..=MAX_CIDRS as u32)
            .map(|i| Cidr::new(Ipv4Addr::from(i << 8), 24).unwrap())
            .collect();
        assert_eq!(
            Egress::new(vec![], many, true),
            Err(EgressError::TooMany(MAX_CIDRS + 1))
        );
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(
            json,
            r#"{"allow_out":["1.0.0.0/8","9.0.0.0/8"],"deny_out":[],"internet_access":true}"#
        );
        assert_eq!(serde_json::from_str::<Egress>("{}").unwrap(), Egress::OPEN);
        assert!(serde_json::from_str::<Egress>(r#"{"allow_out":["::/0"]}"#).is_err());
    }
}
