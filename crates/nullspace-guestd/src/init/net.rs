//! Network setup of PID 1: `lo` up, and `eth0` from the kernel command line.
//! Uses `ip` from iproute2 in the root filesystem, else ([`super::ifconfig`])
//! the kernel's `ioctl`s directly.

use std::process::{Command, Stdio};

use super::cmdline::BootConfig;

/// Where `ip` may live.
const IP_CANDIDATES: &[&str] = &["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"];

/// The `ip` invocations that configure the network for `cfg`.
pub fn plan(cfg: &BootConfig) -> Vec<Vec<String>> {
    let words = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
    let mut steps = vec![words("link set lo up")];
    if let Some(ip) = &cfg.ip {
        steps.push(words(&format!("addr add {ip} dev eth0")));
        steps.push(words("link set eth0 up"));
        if let Some(gw) = &cfg.gw {
            steps.push(words(&format!("route add default via {gw} dev eth0")));
        }
    }
    steps
}

/// Configure the network, logging each step; failures are logged, not fatal.
pub fn configure(cfg: &BootConfig) {
    let Some(ip) = IP_CANDIDATES
        .iter()
        .find(|p| std::path::Path::new(p).exists())
    else {
        crate::log!("no ip binary found; configuring the network through ioctl");
        without_ip(cfg);
        return;
    };
    for args in plan(cfg) {
        let status = Command::new(ip).args(&args).stdin(Stdio::null()).status();
        match status {
            Ok(s) if s.success() => crate::log!("ip {}", args.join(" ")),
            Ok(s) => crate::log!("ip {} failed: {s}", args.join(" ")),
            Err(e) => crate::log!("ip {} failed: {e}", args.join(" ")),
        }
    }
}

/// [`configure`] for a root filesystem without `ip`.
fn without_ip(cfg: &BootConfig) {
    use super::ifconfig;
    let report = |what: &str, r: std::io::Result<()>| match r {
        Ok(()) => crate::log!("{what}"),
        Err(e) => crate::log!("{what} failed: {e}"),
    };
    report("lo up", ifconfig::link_up("lo"));
    let Some(ip) = &cfg.ip else { return };
    let Some((addr, prefix)) = ifconfig::parse_cidr(ip) else {
        crate::log!("nullspace.ip={ip} is not ADDR/PREFIX; eth0 left down");
        return;
    };
    report(
        &format!("eth0 address {addr}/{prefix}"),
        ifconfig::add_addr("eth0", addr, prefix),
    );
    report("eth0 up", ifconfig::link_up("eth0"));
    if let Some(gw) = cfg.gw.as_deref().and_then(|g| g.parse().ok()) {
        report(
            &format!("default route via {gw}"),
            ifconfig::default_route(gw),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_lo_and_eth0() {
        let cfg = BootConfig::parse("nullspace.ip=10.0.2.2/24 nullspace.gw=10.0.2.1");
        let plan: Vec<String> = plan(&cfg).iter().map(|a| a.join(" ")).collect();
        assert_eq!(
            plan,
            [
                "link set lo up",
                "addr add 10.0.2.2/24 dev eth0",
                "link set eth0 up",
                "route add default via 10.0.2.1 dev eth0"
            ]
        );
        assert_eq!(plan_len(""), 1);
        assert_eq!(plan_len("nullspace.ip=10.0.0.5/8"), 3);
    }

    fn plan_len(cmdline: &str) -> usize {
        plan(&BootConfig::parse(cmdline)).len()
    }
}
