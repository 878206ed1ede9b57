//! A private registry on loopback for tests: Debian's `docker-registry` with
//! htpasswd auth and TLS from a test CA made with `openssl`, and images the test
//! builds itself (static busybox layers) pushed with the OCI client.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use oci_client::client::{
    Certificate, CertificateEncoding, ClientConfig, ClientProtocol, Config, ImageLayer,
};
use oci_client::manifest::{IMAGE_LAYER_GZIP_MEDIA_TYPE, OCI_IMAGE_MEDIA_TYPE};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

/// User and password the registry accepts.
pub const USER: &str = "tester";
pub const PASSWORD: &str = "registry-secret";
/// The password of user `AWS`, which the fake ECR API hands out as its token.
pub const ECR_PASSWORD: &str = "ecr-token-password";

/// What the registry tests need on the host, missing ones named.
pub fn missing_tools() -> Vec<&'static str> {
    ["docker-registry", "htpasswd", "openssl", "busybox"]
        .into_iter()
        .filter(|t| {
            Command::new("sh")
                .args(["-c", &format!("command -v {t}")])
                .stdout(Stdio::null())
                .status()
                .map_or(true, |s| !s.success())
        })
        .collect()
}

/// A running registry; stopped (by PID) and its files removed on drop.
pub struct Registry {
    child: Child,
    pub dir: tempfile::TempDir,
    pub host: String,
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Registry {
    /// The CA certificate the registry's certificate is signed by.
    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// Starts a registry on a free loopback port.
    pub fn start() -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let p = |n: &str| d.join(n).to_str().unwrap().to_owned();
        run(Command::new("openssl").args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=nullspace test CA",
            "-keyout",
            &p("ca.key"),
            "-out",
            &p("ca.pem"),
        ]));
        run(Command::new("openssl").args([
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            &p("reg.key"),
            "-out",
            &p("reg.csr"),
        ]));
        std::fs::write(d.join("ext.cnf"), "subjectAltName=IP:127.0.0.1\n").unwrap();
        run(Command::new("openssl").args([
            "x509",
            "-req",
            "-in",
            &p("reg.csr"),
            "-CA",
            &p("ca.pem"),
            "-CAkey",
            &p("ca.key"),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &p("ext.cnf"),
            "-out",
            &p("reg.pem"),
        ]));
        let mut users = Vec::new();
        for (user, password) in [(USER, PASSWORD), ("AWS", ECR_PASSWORD)] {
            let out = Command::new("htpasswd")
                .args(["-Bbn", user, password])
                .output()
                .unwrap();
            assert!(out.status.success());
            users.extend(String::from_utf8(out.stdout).unwrap().trim().bytes());
            users.push(b'\n');
        }
        std::fs::write(d.join("htpasswd"), users).unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n\
             http:\n  addr: 127.0.0.1:{port}\n  secret: nullspace-test\n  tls:\n    certificate: {}\n    key: {}\n\
             auth:\n  htpasswd:\n    realm: nullspace-test\n    path: {}\n",
            p("storage"),
            p("reg.pem"),
            p("reg.key"),
            p("htpasswd"),
        );
        std::fs::write(d.join("config.yml"), config).unwrap();
        let child = Command::new("docker-registry")
            .args(["serve", &p("config.yml")])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let r = Registry {
            child,
            dir,
            host: format!("127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "registry did not come up");
            std::thread::sleep(Duration::from_millis(50));
        }
        r
    }

    fn client(&self) -> Client {
        Client::new(ClientConfig {
            protocol: ClientProtocol::Https,
            extra_root_certificates: vec![Certificate {
                encoding: CertificateEncoding::Pem,
                data: std::fs::read(self.ca()).unwrap(),
            }],
            ..Default::default()
        })
    }

    /// Pushes `layers` (gzip'd tars) as `repo:tag` with `env` and `workdir` in its config.
    pub async fn push(
        &self,
        repo: &str,
        tag: &str,
        layers: Vec<Vec<u8>>,
        env: &[&str],
        workdir: &str,
    ) {
        let reference: Reference = format!("{}/{repo}:{tag}", self.host).parse().unwrap();
        let diff_ids: Vec<String> = layers
            .iter()
            .map(|l| {
                use sha2::Digest;
                let mut raw = Vec::new();
                std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&l[..]), &mut raw)
                    .unwrap();
                format!("sha256:{}", hex::encode(sha2::Sha256::digest(&raw)))
            })
            .collect();
        let config = serde_json::json!({
            "architecture": "amd64",
            "os": "linux",
            "config": {"Env": env, "WorkingDir": workdir},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        });
        let layers: Vec<ImageLayer> = layers
            .into_iter()
            .map(|data| ImageLayer::new(data, IMAGE_LAYER_GZIP_MEDIA_TYPE.to_owned(), None))
            .collect();
        let config = Config::new(
            serde_json::to_vec(&config).unwrap(),
            oci_client::manifest::IMAGE_CONFIG_MEDIA_TYPE.to_owned(),
            None,
        );
        let mut manifest = oci_client::manifest::OciImageManifest::build(&layers, &config, None);
        manifest.media_type = Some(OCI_IMAGE_MEDIA_TYPE.to_owned());
        self.client()
            .push(
                &reference,
                &layers,
                config,
                &RegistryAuth::Basic(USER.into(), PASSWORD.into()),
                Some(manifest),
            )
            .await
            .expect("push");
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A stand-in for the AWS ECR API on loopback: answers every signed
/// `GetAuthorizationToken` from access key `AKIDTEST` with the token of user `AWS`,
/// and refuses any other key as AWS does. Runs until the test process ends.
pub fn fake_ecr() -> String {
    use std::io::{Read, Write};
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", l.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in l.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
            let req = String::from_utf8_lossy(&got).to_lowercase();
            let signed = req.contains("authorization: aws4-hmac-sha256 credential=akidtest/")
                && req.contains(
                    "x-amz-target: amazonec2containerregistry_v20150921.getauthorizationtoken",
                );
            let (status, body) = if signed {
                use base64::Engine;
                let token =
                    base64::engine::general_purpose::STANDARD.encode(format!("AWS:{ECR_PASSWORD}"));
                (
                    "200 OK",
                    format!(r#"{{"authorizationData":[{{"authorizationToken":"{token}"}}]}}"#),
                )
            } else {
                (
                    "400 Bad Request",
                    r#"{"__type":"UnrecognizedClientException","message":"The security token included in the request is invalid."}"#.to_owned(),
                )
            };
            let _ = write!(
                s,
                "HTTP/1.1 {status}\r\ncontent-type: application/x-amz-json-1.1\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

/// A gzip'd tar layer.
pub struct Layer(tar::Builder<Vec<u8>>);

impl Layer {
    pub fn new() -> Self {
        Layer(tar::Builder::new(Vec::new()))
    }

    pub fn file(mut self, path: &str, data: &[u8], mode: u32) -> Self {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_entry_type(tar::EntryType::Regular);
        self.0.append_data(&mut h, path, data).unwrap();
        self
    }

    pub fn dir(mut self, path: &str) -> Self {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_uid(0);
        h.set_gid(0);
        h.set_size(0);
        self.0.append_data(&mut h, path, std::io::empty()).unwrap();
        self
    }

    pub fn symlink(mut self, path: &str, to: &str) -> Self {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_mode(0o777);
        h.set_uid(0);
        h.set_gid(0);
        h.set_size(0);
        self.0.append_link(&mut h, path, to).unwrap();
        self
    }

    pub fn gzip(self) -> Vec<u8> {
        use std::io::Write;
        let tar = self.0.into_inner().unwrap();
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&tar).unwrap();
        enc.finish().unwrap()
    }
}

/// A busybox root: the static binary, `sh` and a few applets linked to it, `/etc`.
pub fn busybox_layer() -> Vec<u8> {
    let bin = std::fs::read(which("busybox")).unwrap();
    let mut l = Layer::new()
        .dir("bin/")
        .file("bin/busybox", &bin, 0o755)
        .dir("etc/")
        .file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n", 0o644)
        .file("etc/group", b"root:x:0:\n", 0o644)
        .file("etc/removed-later", b"x\n", 0o644)
        .dir("root/")
        .dir("tmp/");
    for applet in [
        "sh", "ls", "cat", "echo", "id", "pwd", "sleep", "env", "uname", "mkdir", "test", "true",
        "nc", "httpd", "wget", "grep",
    ] {
        l = l.symlink(&format!("bin/{applet}"), "busybox");
    }
    l.gzip()
}

fn which(tool: &str) -> PathBuf {
    let out = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .unwrap();
    Path::new(String::from_utf8_lossy(&out.stdout).trim()).to_owned()
}
