//! Preview URLs on a real machine: a web app with a WebSocket started in the
//! guest, opened through the preview proxy with curl and in headless Chromium
//! (the screenshot is checked), a signed link revoked, a paused machine woken by
//! its first request.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{call, temp_state, Server};

const APP: &[u8] = include_bytes!("fixtures/preview_app.py");
const CHROMIUM: &str = "/usr/bin/chromium";

/// Whether Chromium is here; without it the test fails where VMs are required.
fn chromium_missing() -> bool {
    if Path::new(CHROMIUM).exists() {
        return false;
    }
    assert!(
        std::env::var_os("NULLSPACE_REQUIRE_VM").is_none(),
        "{CHROMIUM} is missing (scripts/install-deps.sh installs it)"
    );
    eprintln!("SKIP: preview browser test: {CHROMIUM} is missing");
    true
}

/// `curl -sS` of `url` with extra arguments; status and body.
fn curl(url: &str, extra: &[&str]) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "120", "-w", "\n%{http_code}"])
        .args(extra)
        .arg(url)
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (status.trim().parse().unwrap_or(0), body.to_owned())
}

/// Headless Chromium with a fresh profile, run on `url` with `args`.
fn chromium(profile: &Path, args: &[&str], url: &str) -> std::process::Output {
    Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .output()
        .expect("chromium")
}

/// The RGB colour at the centre of PNG `path`.
fn centre_colour(path: &Path) -> (u8, u8, u8) {
    let decoder = png::Decoder::new(std::fs::File::open(path).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let px = match info.color_type {
        png::ColorType::Rgba => 4,
        png::ColorType::Rgb => 3,
        other => panic!("unexpected PNG colour type {other:?}"),
    };
    let (w, h) = (info.width as usize, info.height as usize);
    let at = ((h / 2) * w + w / 2) * px;
    (buf[at], buf[at + 1], buf[at + 2])
}

fn wait_ready(server: &Server, key: &str, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let (s, r) = call(
            "GET",
            &format!("{}/v1/machines/{id}/previews/8080/readiness", server.url),
            key,
            None,
        );
        assert_eq!(s, 200, "{r}");
        if r["service_ready"] == true {
            return r;
        }
        assert!(Instant::now() < deadline, "the app never answered: {r}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Write the app into machine `id` and start it on port 8080.
fn start_app(server: &Server, key: &str, id: &str) {
    let resp = ureq::put(&format!(
        "{}/v1/machines/{id}/files?path=/workspace/app.py",
        server.url
    ))
    .set("Authorization", &format!("Bearer {key}"))
    .send_bytes(APP)
    .unwrap();
    assert_eq!(resp.status(), 200);
    let (s, p) = call(
        "POST",
        &format!("{}/v1/machines/{id}/processes", server.url),
        key,
        Some(json!({"args": ["python3", "/workspace/app.py", "8080"], "tag": "app"})),
    );
    assert!(s == 200 || s == 201, "{p}");
}

#[test]
fn a_web_app_opens_through_its_preview_url_in_curl_and_chromium() {
    if support::skip("preview URL end-to-end test") || chromium_missing() {
        return;
    }
    let state = temp_state("previews");
    let server = Server::start(&state, None);
    let key = server.key("previews");
    let (s, m) = call(
        "POST",
        &format!("{}/v1/machines", server.url),
        &key,
        Some(json!({"auto_resume": true, "timeout": 1800})),
    );
    assert_eq!(s, 201, "{m}");
    let id = m["id"].as_str().unwrap().to_owned();
    start_app(&server, &key, &id);
    let ready = wait_ready(&server, &key, &id);
    assert_eq!(ready["status"], 200, "{ready}");

    // curl resolves *.localhost to loopback by itself: the host form works as is.
    let (s, direct) = call(
        "GET",
        &format!("{}/v1/machines/{id}/previews/8080", server.url),
        &key,
        None,
    );
    assert_eq!(s, 200, "{direct}");
    let base = direct["url"].as_str().unwrap().to_owned();
    let (s, body) = curl(&format!("{base}info?q=1"), &[]);
    assert_eq!(s, 200, "{body}");
    let seen: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(seen["path"], "/info?q=1");
    let forwarded_host = seen["headers"]
        .as_object()
        .unwrap()
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("x-forwarded-host"))
        .map(|(_, v)| v.clone());
    assert_eq!(forwarded_host.as_ref(), Some(&direct["host"]), "{seen}");
    let (s, body) = curl(
        &format!("{}info", direct["path_url"].as_str().unwrap()),
        &[],
    );
    assert_eq!(s, 200, "{body}");
    // Nothing listens on 9: the proxy says so.
    let (s, body) = curl(&base.replace("8080-", "9-"), &[]);
    assert_eq!(s, 502, "{body}");

    // A signed link in a real browser: the page's WebSocket goes through the
    // proxy with the cookie the link left, and the page turns green.
    let (s, link) = call(
        "POST",
        &format!("{}/v1/machines/{id}/previews", server.url),
        &key,
        Some(json!({"port": 8080, "expires_in_seconds": 600})),
    );
    assert_eq!(s, 201, "{link}");
    let url = link["url"].as_str().unwrap().to_owned();
    let grant = link["grant"]["grant_id"].as_str().unwrap().to_owned();
    let profile = state.join("chromium-dom");
    let out = chromium(&profile, &["--dump-dom"], &url);
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        dom.contains("echo: hello"),
        "the page's WebSocket echo never showed: {dom}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shot = state.join("preview.png");
    let out = chromium(
        &state.join("chromium-shot"),
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=400,300",
        ],
        &url,
    );
    assert!(
        shot.is_file(),
        "no screenshot: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (r, g, b) = centre_colour(&shot);
    assert!(
        g > 150 && r < 60 && b < 60,
        "the page is not green ({r},{g},{b}): the WebSocket echo did not arrive"
    );
    let (s, list) = call(
        "GET",
        &format!("{}/v1/machines/{id}/preview-grants?port=8080", server.url),
        &key,
        None,
    );
    assert_eq!(s, 200);
    let info = &list["grants"][0];
    assert!(
        info["request_count"].as_u64().unwrap() >= 4
            && info["websocket_count"].as_u64().unwrap() >= 2,
        "{info}"
    );
    // Revoked: the link stops at once.
    let (s, _) = call(
        "DELETE",
        &format!("{}/v1/machines/{id}/preview-grants/{grant}", server.url),
        &key,
        None,
    );
    assert_eq!(s, 200);
    let (s, body) = curl(&url, &[]);
    assert_eq!(s, 403, "{body}");

    // Paused, the machine wakes on its first request; the client only waits.
    let (s, v) = call(
        "POST",
        &format!("{}/v1/machines/{id}/pause", server.url),
        &key,
        None,
    );
    assert_eq!(s, 200, "{v}");
    let (s, body) = curl(&format!("{base}info"), &[]);
    assert_eq!(s, 200, "{body}");
    let (_, m) = call(
        "GET",
        &format!("{}/v1/machines/{id}", server.url),
        &key,
        None,
    );
    assert_eq!(m["state"], "running");
    let (s, _) = call(
        "DELETE",
        &format!("{}/v1/machines/{id}", server.url),
        &key,
        None,
    );
    assert_eq!(s, 200);
}
