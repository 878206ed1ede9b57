//! `nullspace ssh ID [-- CMD…]` and `nullspace sandbox ssh-access ID`: SSH into a
//! machine through the server's relay (`spec/ssh.md`).
//!
//! `ssh` is the one-liner: a throwaway ed25519 key made by `ssh-keygen` in a private
//! temporary directory, a grant for it, the certificate and a `known_hosts` line
//! for the relay written beside it, then the system's `ssh` with nothing but those
//! (`StrictHostKeyChecking=yes`), whose exit code is the command's. The grant is
//! revoked and the directory removed when `ssh` ends. `ssh-access` mints a grant
//! for a key of the user's own and leaves the files where `ssh` finds them.

use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Args;
use nullspace_api::{SshAccess, MAX_SSH_MINUTES, MIN_SSH_MINUTES};
use nullspace_types::{MachineId, SshAccessId};

use super::{Ctx, Outcome, OK};
use crate::error::CliError;
use crate::output;

/// Flags of `nullspace ssh`.
#[derive(Debug, Args)]
pub struct SshArgs {
    /// Machine id (sb_…).
    pub id: MachineId,
    /// Force a terminal even for a command (`ssh -tt`).
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Forward a local port into the machine, `[BIND:]PORT:localhost:MACHINE_PORT`
    /// (`ssh -L`; repeatable).
    #[arg(short = 'L', long = "local-forward", value_name = "SPEC")]
    pub forwards: Vec<String>,
    /// Only forward ports, run nothing (`ssh -N`).
    #[arg(short = 'N', long)]
    pub no_command: bool,
    /// Life of the throwaway certificate in minutes (1-1440).
    #[arg(long, value_name = "N", default_value_t = 30, value_parser = minutes)]
    pub expires_in_minutes: u64,
    /// The command to run instead of a login shell (after `--`).
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
}

/// Flags of `nullspace sandbox ssh-access`.
#[derive(Debug, Args)]
pub struct SshAccessArgs {
    /// Machine id (sb_…).
    pub id: MachineId,
    /// Public key file to certify [default: ~/.ssh/id_ed25519.pub, else
    /// ~/.ssh/id_ecdsa.pub]; the certificate is written beside it as
    /// `<key>-cert.pub`, where `ssh -i <key>` finds it.
    #[arg(long, value_name = "FILE")]
    pub public_key: Option<PathBuf>,
    /// Life of the certificate in minutes (1-1440; server default 30).
    #[arg(long, value_name = "N", value_parser = minutes)]
    pub expires_in_minutes: Option<u64>,
    /// Print only a ready `ssh` command line.
    #[arg(long)]
    pub print_command: bool,
}

/// A lifetime in minutes the server takes.
fn minutes(s: &str) -> Result<u64, String> {
    match s.parse::<u64>() {
        Ok(n) if (MIN_SSH_MINUTES..=MAX_SSH_MINUTES).contains(&n) => Ok(n),
        _ => Err(format!(
            "expected whole minutes from {MIN_SSH_MINUTES} to {MAX_SSH_MINUTES}, got {s:?}"
        )),
    }
}

/// A local program failed.
fn tool(what: &str, source: std::io::Error) -> CliError {
    CliError::LocalTool {
        what: what.to_owned(),
        source,
    }
}

/// Write `text` to `path` (owner-only).
fn write_private(path: &Path, text: &str) -> Result<(), CliError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| tool(&format!("write {}", path.display()), e))?;
    writeln!(f, "{}", text.trim_end()).map_err(|e| tool(&format!("write {}", path.display()), e))
}

/// The `ssh` options that use `key` and its certificate and trust only the relay
/// key in `known_hosts`.
pub fn ssh_options(key: &Path, cert: &Path, known_hosts: &Path) -> Vec<String> {
    [
        "-i".to_owned(),
        key.display().to_string(),
        "-o".into(),
        format!("CertificateFile={}", cert.display()),
        "-o".into(),
        "IdentitiesOnly=yes".into(),
        "-o".into(),
        format!("UserKnownHostsFile={}", known_hosts.display()),
        "-o".into(),
        "StrictHostKeyChecking=yes".into(),
    ]
    .into()
}

/// The destination and port arguments of `access`.
fn target(access: &SshAccess) -> [String; 3] {
    [
        "-p".into(),
        access.relay_port.to_string(),
        format!("{}@{}", access.username, access.relay_host),
    ]
}

/// Quote `arg` for a POSIX shell when it needs it.
fn quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:@%+,".contains(&b));
    if plain {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

/// A private temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<Self, CliError> {
        use std::io::Read;
        use std::os::unix::fs::DirBuilderExt;
        let mut bytes = [0u8; 8];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut bytes))
            .map_err(|e| tool("read /dev/urandom", e))?;
        let name = format!(
            "nullspace-ssh-{}-{}",
            std::process::id(),
            hex::encode(bytes)
        );
        let path = std::env::temp_dir().join(name);
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .map_err(|e| tool(&format!("create {}", path.display()), e))?;
        Ok(Self(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The exit code of a finished child (128 + signal when it was killed).
fn child_code(status: std::process::ExitStatus) -> u8 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => c as u8,
        (None, Some(s)) => 128u8.saturating_add(s as u8),
        _ => 255,
    }
}

/// `nullspace ssh`.
pub async fn run(ctx: &Ctx, args: SshArgs) -> Outcome {
    let client = ctx.client()?;
    let dir = TempDir::new()?;
    let key = dir.0.join("key");
    let made = Command::new("ssh-keygen")
        .args(["-t", "ed25519", "-N", "", "-q", "-C", "nullspace-ssh", "-f"])
        .arg(&key)
        .status()
        .map_err(|e| tool("run ssh-keygen (install openssh-client)", e))?;
    if !made.success() {
        return Err(tool(
            "make a key with ssh-keygen",
            std::io::Error::other(format!("it exited with {made}")),
        ));
    }
    let public = std::fs::read_to_string(key.with_extension("pub"))
        .map_err(|e| tool("read the new public key", e))?;
    let access = client
        .create_ssh_access(&args.id, public.trim(), Some(args.expires_in_minutes))
        .await?;
    let cert = dir.0.join("key-cert.pub");
    let known_hosts = dir.0.join("known_hosts");
    write_private(&cert, &access.certificate)?;
    write_private(&known_hosts, &access.known_hosts)?;
    let mut ssh = Command::new("ssh");
    ssh.args(ssh_options(&key, &cert, &known_hosts)).args([
        "-o",
        "IdentityAgent=none",
        "-o",
        "LogLevel=ERROR",
    ]);
    if args.tty {
        ssh.arg("-tt");
    }
    if args.no_command {
        ssh.arg("-N");
    }
    for f in &args.forwards {
        ssh.args(["-L", f]);
    }
    ssh.args(target(&access));
    if !args.command.is_empty() {
        // The relay runs the command line through a shell, as sshd does.
        ssh.args(&args.command);
    }
    let status = ssh
        .status()
        .map_err(|e| tool("run ssh (install openssh-client)", e));
    // The throwaway grant is of no use to anyone after this.
    if let Ok(access_id) = access.id.parse::<SshAccessId>() {
        let _ = client.revoke_ssh_access(&args.id, &access_id).await;
    }
    Ok(child_code(status?))
}

/// The user's default public key.
fn default_public_key() -> Result<PathBuf, CliError> {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    ["id_ed25519.pub", "id_ecdsa.pub"]
        .iter()
        .map(|name| home.join(".ssh").join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| CliError::ReadInput {
            what: "~/.ssh/id_ed25519.pub or ~/.ssh/id_ecdsa.pub (pass --public-key FILE)".into(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        })
}

/// Where the certificate for public key file `public` goes: `<key>-cert.pub`.
pub fn cert_path(public: &Path) -> PathBuf {
    let name = public
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name.strip_suffix(".pub").unwrap_or(&name);
    public.with_file_name(format!("{stem}-cert.pub"))
}

/// `nullspace sandbox ssh-access`.
pub async fn access(ctx: &Ctx, args: SshAccessArgs) -> Outcome {
    let public = match &args.public_key {
        Some(p) => p.clone(),
        None => default_public_key()?,
    };
    let line = std::fs::read_to_string(&public).map_err(|source| CliError::ReadInput {
        what: public.display().to_string(),
        source,
    })?;
    let access = ctx
        .client()?
        .create_ssh_access(&args.id, line.trim(), args.expires_in_minutes)
        .await?;
    if ctx.json() && !args.print_command {
        output::json(&access)?;
        return Ok(OK);
    }
    let cert = cert_path(&public);
    let known_hosts = public.with_file_name("nullspace_known_hosts");
    write_private(&cert, &access.certificate)?;
    write_private(&known_hosts, &access.known_hosts)?;
    let private = public.with_extension("");
    let mut words = vec!["ssh".to_owned()];
    words.extend(ssh_options(&private, &cert, &known_hosts));
    words.extend(target(&access));
    let command = words.iter().map(|w| quote(w)).collect::<Vec<_>>().join(" ");
    if args.print_command {
        output::line(&command)?;
        return Ok(OK);
    }
    output::line(&output::fields(&[
        ("access", access.id.clone()),
        ("machine", access.machine_id.clone()),
        (
            "relay",
            format!("{}:{}", access.relay_host, access.relay_port),
        ),
        ("expires", access.expires_at.clone()),
        ("certificate", cert.display().to_string()),
        ("known_hosts", known_hosts.display().to_string()),
        ("command", command),
    ]))?;
    Ok(OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificates_go_where_ssh_looks_for_them() {
        assert_eq!(
            cert_path(Path::new("/h/.ssh/id_ed25519.pub")),
            PathBuf::from("/h/.ssh/id_ed25519-cert.pub")
        );
        assert_eq!(cert_path(Path::new("k")), PathBuf::from("k-cert.pub"));
    }

    #[test]
    fn words_are_quoted_only_when_needed() {
        assert_eq!(quote("sb_abc@127.0.0.1"), "sb_abc@127.0.0.1");
        assert_eq!(quote("CertificateFile=/a b"), "'CertificateFile=/a b'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote(""), "''");
    }

    #[test]
    fn lifetimes_are_checked_before_any_request() {
        assert_eq!(minutes("30"), Ok(30));
        assert!(minutes("0").is_err());
        assert!(minutes("1441").is_err());
        assert!(minutes("5m").is_err());
    }
}
