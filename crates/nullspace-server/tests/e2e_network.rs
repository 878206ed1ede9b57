//! Outbound policy on real machines: "outside" hosts in a namespace this test
//! makes (documentation addresses 198.51.100.10 and 203.0.113.10, reachable only
//! through it) answer TCP, UDP and ICMP; machines with and without a policy probe
//! them, after pause and resume, in a fork child and in a machine restored from a
//! snapshot. An open machine reaching both proves the outside works, so a drop
//! seen elsewhere is the policy's doing.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{call, temp_state, Server};

const PROBE: &[u8] = include_bytes!("fixtures/egress_probe.py");
const ECHO: &str = include_str!("fixtures/outside_echo.py");
const ALLOWED: &str = "198.51.100.10";
const DENIED: &str = "203.0.113.10";
const TCP_PORT: u16 = 7000;
const UDP_PORT: u16 = 7001;
const NS_PREFIX: &str = "nstest-egress-";

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The outside hosts: a namespace joined to the host by a veth, with both
/// addresses and a TCP/UDP echo server; removed on drop.
struct Outside {
    ns: String,
    echo: Option<Child>,
}

impl Outside {
    fn start() -> Outside {
        // A run that crashed leaves its namespace: it holds the same addresses.
        for e in std::fs::read_dir("/run/netns")
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(NS_PREFIX) {
                let _ = Command::new("ip").args(["netns", "del", &name]).status();
            }
        }
        let pid = std::process::id();
        let ns = format!("{NS_PREFIX}{pid}");
        let veth = format!("nsto{}", pid % 10_000_000);
        let outside = Outside { ns, echo: None };
        let ns = outside.ns.as_str();
        ip(&["netns", "add", ns]);
        ip(&[
            "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", ns,
        ]);
        for a in ["198.51.100.254/24", "203.0.113.254/24"] {
            ip(&["addr", "add", a, "dev", &veth]);
        }
        ip(&["link", "set", &veth, "up"]);
        for a in ["198.51.100.10/24", "203.0.113.10/24"] {
            ip(&["-n", ns, "addr", "add", a, "dev", "eth0"]);
        }
        ip(&["-n", ns, "link", "set", "eth0", "up"]);
        ip(&["-n", ns, "link", "set", "lo", "up"]);
        let mut outside = outside;
        let mut child = Command::new("ip")
            .args(["netns", "exec", &outside.ns, "python3", "-c", ECHO])
            .args([TCP_PORT.to_string(), UDP_PORT.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .expect("echo server");
        let mut line = String::new();
        use std::io::BufRead;
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready");
        outside.echo = Some(child);
        outside
    }
}

impl Drop for Outside {
    fn drop(&mut self) {
        if let Some(mut c) = self.echo.take() {
            // `ip netns exec` execs python: the pid is the server's own.
            let _ = c.kill();
            let _ = c.wait();
        }
        // The host end of the veth and its addresses go with the namespace.
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
    }
}

struct Machines<'a> {
    server: &'a Server,
    key: String,
}

impl Machines<'_> {
    fn url(&self, path: &str) -> String {
        format!("{}/v1/machines{path}", self.server.url)
    }

    fn create(&self, body: Value) -> Value {
        let mut body = body;
        body["timeout"] = json!(1800);
        let (s, m) = call("POST", &self.url(""), &self.key, Some(body));
        assert_eq!(s, 201, "{m}");
        self.put_probe(m["id"].as_str().unwrap());
        m
    }

    fn put_probe(&self, id: &str) {
        let resp = ureq::put(&self.url(&format!("/{id}/files?path=/workspace/probe.py")))
            .set("Authorization", &format!("Bearer {}", self.key))
            .send_bytes(PROBE)
            .unwrap();
        assert_eq!(resp.status(), 200);
    }

    /// What machine `id` reaches: {host: {tcp, udp, icmp}}.
    fn probe(&self, id: &str) -> Value {
        let (s, r) = call(
            "POST",
            &self.url(&format!("/{id}/commands")),
            &self.key,
            Some(json!({
                "args": ["python3", "/workspace/probe.py", TCP_PORT.to_string(),
                         UDP_PORT.to_string(), ALLOWED, DENIED],
                "user": "root",
                "timeout": 120
            })),
        );
        assert_eq!(s, 200, "{r}");
        assert_eq!(r["exit_code"], 0, "{r}");
        serde_json::from_str(r["stdout"].as_str().unwrap()).unwrap()
    }

    fn kill(&self, id: &str) {
        let (s, r) = call("DELETE", &self.url(&format!("/{id}")), &self.key, None);
        assert_eq!(s, 200, "{r}");
    }
}

fn all(reach: bool) -> Value {
    json!({"icmp": reach, "tcp": reach, "udp": reach})
}

/// Reaches the allowed host on every protocol and the denied one on none.
fn assert_policy_holds(seen: &Value, when: &str) {
    assert_eq!(seen[ALLOWED], all(true), "{when}: {seen}");
    assert_eq!(seen[DENIED], all(false), "{when}: {seen}");
}

#[test]
fn outbound_policies_pass_what_they_allow_and_drop_the_rest_on_every_protocol() {
    if support::skip("egress policy end-to-end test") {
        return;
    }
    let _outside = Outside::start();
    let state = temp_state("network");
    let server = Server::start(&state, None);
    let m = Machines {
        key: server.key("network"),
        server: &server,
    };

    // The floor: with no policy both outside hosts answer everything.
    let open = m.create(json!({}));
    let open_id = open["id"].as_str().unwrap();
    let seen = m.probe(open_id);
    assert_eq!(
        seen[ALLOWED],
        all(true),
        "the outside is unreachable: {seen}"
    );
    assert_eq!(
        seen[DENIED],
        all(true),
        "the outside is unreachable: {seen}"
    );
    m.kill(open_id);

    // A deny list: that range is dropped, the rest stays reachable.
    let deny = m.create(json!({"network": {"deny_out": ["203.0.113.0/24"]}}));
    let deny_id = deny["id"].as_str().unwrap();
    assert_policy_holds(&m.probe(deny_id), "deny_out");
    m.kill(deny_id);

    // No internet but one host: only it answers.
    let closed = m.create(json!({
        "network": {"allow_out": [format!("{ALLOWED}/32")]},
        "internet_access": false
    }));
    assert_eq!(closed["internet_access"], false);
    assert_eq!(closed["network"]["allow_out"], json!(["198.51.100.10/32"]));
    let id = closed["id"].as_str().unwrap().to_owned();
    assert_policy_holds(&m.probe(&id), "allow_out without internet");

    // The host still reaches the machine's ports: a web server answers the proxy.
    let (s, p) = call(
        "POST",
        &m.url(&format!("/{id}/processes")),
        &m.key,
        Some(json!({"args": ["python3", "-m", "http.server", "8080"], "tag": "web"})),
    );
    assert!(s == 200 || s == 201, "{p}");
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let (_, r) = call(
            "GET",
            &m.url(&format!("/{id}/previews/8080/readiness")),
            &m.key,
            None,
        );
        if r["service_ready"] == true {
            break;
        }
        assert!(Instant::now() < deadline, "port 8080 never answered: {r}");
        std::thread::sleep(Duration::from_millis(300));
    }

    // Kept across pause and resume (a new namespace, the same rules).
    let (s, r) = call("POST", &m.url(&format!("/{id}/pause")), &m.key, None);
    assert_eq!(s, 200, "{r}");
    let (s, r) = call("POST", &m.url(&format!("/{id}/resume")), &m.key, None);
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["internet_access"], false);
    assert_policy_holds(&m.probe(&id), "after pause and resume");

    // A fork child runs with its source's policy.
    let (s, f) = call(
        "POST",
        &m.url(&format!("/{id}/fork")),
        &m.key,
        Some(json!({})),
    );
    assert_eq!(s, 201, "{f}");
    let child = f["machines"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(f["machines"][0]["network"], closed["network"]);
    assert_policy_holds(&m.probe(&child), "fork child");
    m.kill(&child);

    // So does a machine restored from a snapshot of it.
    let (s, snap) = call(
        "POST",
        &m.url(&format!("/{id}/snapshots")),
        &m.key,
        Some(json!({})),
    );
    assert_eq!(s, 201, "{snap}");
    m.kill(&id);
    let restored = m.create(json!({"snapshot_id": snap["id"]}));
    assert_eq!(restored["network"], closed["network"], "{restored}");
    let rid = restored["id"].as_str().unwrap().to_owned();
    assert_policy_holds(&m.probe(&rid), "restored from a snapshot");
    m.kill(&rid);
    // The snapshot's files live in the shared data directory: delete them.
    let (s, r) = call(
        "DELETE",
        &format!(
            "{}/v1/snapshots/{}",
            server.url,
            snap["id"].as_str().unwrap()
        ),
        &m.key,
        None,
    );
    assert!(s == 200 || s == 204, "{r}");
}
