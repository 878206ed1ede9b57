//! A machine's outbound policy as nftables rules in its own namespace.
//!
//! The rules filter what the guest sends through its tap and the namespace
//! forwards: nothing the host does inside the namespace (connections to guest
//! ports) and no reply to such a connection passes through them.

use nullspace_types::{Cidr, Egress};

use crate::cmd::{run, CmdError};
use crate::netns::{MachineNet, TAP};

/// Name of the table holding a machine's outbound policy.
const TABLE: &str = "inet nullspace_egress";

/// The nftables script that installs `egress` (replacing any earlier policy),
/// or `None` when the policy lets everything through.
pub fn rules(egress: &Egress) -> Option<String> {
    if egress.is_open() {
        return None;
    }
    let set = |cidrs: &[Cidr]| {
        cidrs
            .iter()
            .map(Cidr::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut chain = format!(
        "  type filter hook forward priority filter; policy accept;\n\
         \x20 iifname != \"{TAP}\" accept\n\
         \x20 ct state established,related accept\n\
         \x20 meta nfproto ipv6 drop\n"
    );
    if !egress.allow_out.is_empty() {
        chain += &format!("  ip daddr {{ {} }} accept\n", set(&egress.allow_out));
    }
    if !egress.deny_out.is_empty() {
        chain += &format!("  ip daddr {{ {} }} drop\n", set(&egress.deny_out));
    }
    if egress.closed() {
        chain += "  drop\n";
    }
    Some(format!(
        "table {TABLE}\ndelete table {TABLE}\ntable {TABLE} {{\n chain forward {{\n{chain} }}\n}}\n"
    ))
}

impl MachineNet {
    /// Install `egress` in the namespace (before the guest runs anything).
    pub async fn apply_egress(&self, egress: &Egress) -> Result<(), CmdError> {
        match rules(egress) {
            Some(script) => run("nft", ["-f", "-"], Some(&script), Some(&self.path()))
                .await
                .map(drop),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Cidr {
        s.parse().unwrap()
    }

    #[test]
    fn an_open_policy_installs_nothing() {
        assert_eq!(rules(&Egress::OPEN), None);
        let allow_only_with_internet =
            Egress::new(vec![c("1.0.0.0/8")], vec![c("2.0.0.0/8")], true).unwrap();
        assert!(rules(&allow_only_with_internet).is_some());
    }

    #[test]
    fn rules_allow_then_deny_then_close() {
        let e = Egress::new(
            vec![c("198.51.100.10"), c("198.51.100.0/30")],
            vec![c("203.0.113.0/24")],
            false,
        )
        .unwrap();
        let script = rules(&e).unwrap();
        let allow = script
            .find("ip daddr { 198.51.100.0/30, 198.51.100.10/32 } accept")
            .unwrap();
        let deny = script.find("ip daddr { 203.0.113.0/24 } drop").unwrap();
        let close = script.rfind("  drop\n").unwrap();
        assert!(allow < deny && deny < close, "{script}");
        assert!(script.contains("iifname != \"tap0\" accept"), "{script}");
        // Deny-only keeps the rest open: no closing drop.
        let deny_only = rules(&Egress::new(vec![], vec![c("203.0.113.0/24")], true).unwrap());
        assert!(!deny_only.unwrap().contains("  drop\n"));
    }
}
