//! The real OpenSSH client against the relay: a throwaway key, the files a
//! grant needs (certificate, known_hosts) and `ssh`/`scp`/`sftp` runs that
//! trust nothing but the relay's host key.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

/// A key pair in its own directory, and where the relay is.
pub struct Client {
    pub dir: PathBuf,
    pub key: PathBuf,
    pub port: u16,
}

impl Client {
    /// A fresh ed25519 key in `dir` (made empty first).
    pub fn new(dir: &Path, port: u16) -> Client {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).unwrap();
        let key = dir.join("id_ed25519");
        let out = Command::new("ssh-keygen")
            .args(["-t", "ed25519", "-N", "", "-q", "-f"])
            .arg(&key)
            .output()
            .expect("ssh-keygen (openssh-client) must be installed");
        assert!(out.status.success(), "{out:?}");
        Client {
            dir: dir.to_owned(),
            key,
            port,
        }
    }

    /// The public key line.
    pub fn public_key(&self) -> String {
        std::fs::read_to_string(self.key.with_extension("pub"))
            .unwrap()
            .trim()
            .to_owned()
    }

    /// Path of the certificate file `ssh` is given.
    pub fn cert_path(&self) -> PathBuf {
        self.dir.join("id_ed25519-cert.pub")
    }

    /// Use the certificate and host key of grant `access` from now on.
    pub fn install(&self, access: &Value) {
        self.install_cert(access["certificate"].as_str().unwrap());
        std::fs::write(
            self.dir.join("known_hosts"),
            format!("{}\n", access["known_hosts"].as_str().unwrap()),
        )
        .unwrap();
    }

    /// Use `cert` (OpenSSH text) from now on.
    pub fn install_cert(&self, cert: &str) {
        std::fs::write(self.cert_path(), format!("{cert}\n")).unwrap();
    }

    /// Options every client run takes: this key and certificate only, the
    /// relay's host key only, no prompts.
    pub fn options(&self) -> Vec<String> {
        let kh = self.dir.join("known_hosts");
        vec![
            "-i".into(),
            self.key.display().to_string(),
            "-o".into(),
            format!("CertificateFile={}", self.cert_path().display()),
            "-o".into(),
            "IdentitiesOnly=yes".into(),
            "-o".into(),
            "IdentityAgent=none".into(),
            "-o".into(),
            format!("UserKnownHostsFile={}", kh.display()),
            "-o".into(),
            "GlobalKnownHostsFile=/dev/null".into(),
            "-o".into(),
            "StrictHostKeyChecking=yes".into(),
            "-o".into(),
            "BatchMode=yes".into(),
            "-o".into(),
            "ConnectTimeout=60".into(),
            "-F".into(),
            "/dev/null".into(),
        ]
    }

    /// `ssh [extra…] -p port user@127.0.0.1 [remote…]`.
    pub fn ssh_command(&self, user: &str, extra: &[&str], remote: &[&str]) -> Command {
        let mut c = Command::new("ssh");
        c.args(self.options())
            .args(extra)
            .args(["-p", &self.port.to_string()])
            .arg(format!("{user}@127.0.0.1"))
            .args(remote);
        c
    }

    /// Run `ssh` with `stdin`; its output.
    pub fn ssh(&self, user: &str, extra: &[&str], remote: &[&str], stdin: &[u8]) -> Output {
        run(self.ssh_command(user, extra, remote), stdin)
    }

    /// `scp` with these arguments (paths as `user@127.0.0.1:path`).
    pub fn scp(&self, extra: &[&str], args: &[&str]) -> Output {
        let mut c = Command::new("scp");
        c.args(self.options())
            .args(extra)
            .args(["-P", &self.port.to_string()])
            .args(args);
        run(c, b"")
    }

    /// `sftp -b -` with `batch` as its commands.
    pub fn sftp(&self, user: &str, batch: &str) -> Output {
        let mut c = Command::new("sftp");
        c.args(self.options())
            .args(["-P", &self.port.to_string(), "-b", "-"])
            .arg(format!("{user}@127.0.0.1"));
        run(c, batch.as_bytes())
    }
}

/// Run `c` with `stdin` piped in; its output.
pub fn run(mut c: Command, stdin: &[u8]) -> Output {
    use std::io::Write;
    let mut child = c
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the OpenSSH client must be installed");
    let mut pipe = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = pipe.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

/// stdout and stderr as text, for messages.
pub fn show(out: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Whether the run was refused at login.
pub fn refused(out: &Output) -> bool {
    out.status.code() == Some(255)
        && String::from_utf8_lossy(&out.stderr).contains("Permission denied")
}
