//! End-to-end runs of the preview commands against a real server (a module of
//! `tests/e2e.rs`): a web server started in the machine with `exec --background` is
//! reached with plain curl (which resolves `*.localhost` to loopback by itself)
//! through the host, the direct URL and a signed link, until the link is revoked.

use std::process::Command;

use super::{json, ns, target, Cleanup};

/// The HTTP status curl gets for `url` (0 when it gets none).
fn status_of(url: &str) -> u16 {
    let out = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "30",
            url,
        ])
        .output()
        .expect("run curl");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

#[test]
fn a_machine_port_is_reached_by_curl_until_its_link_is_revoked() {
    let Some(t) = target() else { return };
    let mut made = Cleanup::new(&t);
    let id = made.create("e2e-previews", &[])["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _, err) = ns(
        &t,
        &["sandbox", "file", "write", &id, "/workspace/index.html"],
        "<h1>from the machine</h1>",
    );
    assert_eq!(status, 0, "{err}");
    let (status, pid, err) = ns(
        &t,
        &[
            "sandbox",
            "exec",
            "--background",
            &id,
            "python3",
            "-m",
            "http.server",
            "8080",
        ],
        "",
    );
    assert_eq!(status, 0, "{err}");
    assert!(pid.trim().parse::<u32>().is_ok(), "a pid: {pid:?}");

    // A signed link, printed once the service answers.
    let (status, out, err) = ns(
        &t,
        &[
            "sandbox",
            "preview-url",
            "create",
            &id,
            "8080",
            "--expires",
            "15m",
            "--wait",
            "--wait-timeout",
            "2m",
            "--json",
        ],
        "",
    );
    assert_eq!(status, 0, "{err}");
    let link = json(&out);
    assert_eq!(link["readiness"]["service_ready"], true, "{link}");
    assert_eq!(link["readiness"]["status"], 200, "{link}");
    let token = link["token"].as_str().unwrap().to_owned();
    let grant = link["grant"]["grant_id"].as_str().unwrap().to_owned();
    let url = link["url"].as_str().unwrap().to_owned();
    assert!(url.ends_with(&token), "{url}");
    assert_eq!(status_of(&url), 200, "curl {url}");
    let page = Command::new("curl").args(["-sf", &url]).output().unwrap();
    assert!(
        String::from_utf8_lossy(&page.stdout).contains("<h1>from the machine</h1>"),
        "the machine's index.html: {}",
        String::from_utf8_lossy(&page.stdout)
    );

    // The host and the direct URL of a public machine work as they are.
    let (status, host, err) = ns(&t, &["sandbox", "host", &id, "8080"], "");
    assert_eq!(status, 0, "{err}");
    assert!(host.trim().starts_with(&format!("8080-{id}.")), "{host}");
    let (status, direct, err) = ns(&t, &["sandbox", "url", &id, "8080"], "");
    assert_eq!(status, 0, "{err}");
    assert!(
        direct.contains(host.trim()) && !direct.contains("nspv1"),
        "{direct}"
    );
    assert_eq!(status_of(direct.trim()), 200, "curl {direct}");
    assert_eq!(
        status_of(&format!("http://{}/index.html", host.trim())),
        200
    );

    // Human output shows the link redacted.
    let (status, human, err) = ns(&t, &["sandbox", "preview-url", "create", &id, "8080"], "");
    assert_eq!(status, 0, "{err}");
    assert!(human.contains(".***") && !human.contains(&token), "{human}");

    // The grant counted its use; revoked, its link is refused at once.
    let (status, out, err) = ns(
        &t,
        &[
            "sandbox",
            "preview-url",
            "list",
            &id,
            "--port",
            "8080",
            "--json",
        ],
        "",
    );
    assert_eq!(status, 0, "{err}");
    let listed = json(&out);
    let ours = listed["grants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["grant_id"] == grant.as_str())
        .unwrap_or_else(|| panic!("{grant} in {listed}"))
        .clone();
    assert_eq!(ours["state"], "active");
    assert!(ours["request_count"].as_u64().unwrap() >= 2, "{ours}");
    assert!(!out.contains(&token), "a list never holds a token");
    let (status, out, err) = ns(
        &t,
        &["sandbox", "preview-url", "revoke", &id, &grant, "--json"],
        "",
    );
    assert_eq!(status, 0, "{err}");
    assert_eq!(json(&out)["revoked"], true);
    assert_eq!(status_of(&url), 403, "curl {url} after the revoke");
    let (_, out, _) = ns(&t, &["sandbox", "preview-url", "list", &id], "");
    let row = out
        .lines()
        .find(|l| l.starts_with(&grant))
        .unwrap_or_else(|| panic!("{grant} in {out}"));
    assert_eq!(row.split_whitespace().nth(3), Some("revoked"), "{out}");
    let (status, _, err) = ns(
        &t,
        &["sandbox", "preview-url", "revoke", &id, "pvg_nosuchgrant"],
        "",
    );
    assert_eq!(status, 5, "{err}");
}

#[test]
fn network_flags_reach_the_server_and_show_in_get() {
    let Some(t) = target() else { return };
    let mut made = Cleanup::new(&t);
    let m = made.create(
        "e2e-network",
        &[
            "--network-json",
            r#"{"allow_out":["203.0.113.7/24"],"allow_public_traffic":false}"#,
            "--no-internet-access",
        ],
    );
    let id = m["id"].as_str().unwrap().to_owned();
    assert_eq!(m["network"]["allow_out"][0], "203.0.113.0/24", "{m}");
    assert_eq!(m["internet_access"], false);
    let token = m["traffic_access_token"].as_str().unwrap().to_owned();
    let (status, text, err) = ns(&t, &["sandbox", "get", &id], "");
    assert_eq!(status, 0, "{err}");
    assert!(text.contains("203.0.113.0/24"), "{text}");
    assert!(!text.contains(&token), "the token is redacted: {text}");
    // The server refuses what the CLI does not check, a list too long: exit 7.
    let many: Vec<String> = (0..300)
        .map(|i| format!("\"10.{}.{}.0/24\"", i / 256, i % 256))
        .collect();
    let body = format!("{{\"deny_out\":[{}]}}", many.join(","));
    let (status, _, err) = ns(&t, &["sandbox", "create", "--network-json", &body], "");
    assert_eq!(status, 7, "{err}");
    assert!(err.contains("at most 256"), "{err}");
}
