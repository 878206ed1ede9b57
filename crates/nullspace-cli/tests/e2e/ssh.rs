//! End-to-end runs of the SSH commands against a real server (a module of
//! `tests/e2e.rs`): `nullspace ssh ID -- CMD` runs the command through the relay
//! with a throwaway key and exits with its code; `sandbox ssh-access
//! --print-command` certifies a key of the user's and prints a line the system
//! `ssh` runs as it is.

use std::process::Command;

use super::{json, ns, target, Cleanup};

#[test]
fn nullspace_ssh_runs_commands_and_ssh_access_prints_a_working_command() {
    let Some(t) = target() else { return };
    let mut made = Cleanup::new(&t);
    let (status, out, err) = ns(
        &t,
        &[
            "sandbox",
            "create",
            "--timeout",
            "300",
            "--metadata",
            "test=e2e-ssh",
            "--json",
        ],
        "",
    );
    assert_eq!(status, 0, "{err}");
    let id = json(&out)["id"].as_str().unwrap().to_owned();
    made.machines.push(id.clone());

    let (status, out, err) = ns(&t, &["ssh", &id, "--", "echo via-ssh; exit 5"], "");
    assert_eq!((status, out.as_str()), (5, "via-ssh\n"), "{err}");
    let (status, out, err) = ns(&t, &["ssh", &id, "--", "cat"], "piped\n");
    assert_eq!((status, out.as_str()), (0, "piped\n"), "{err}");

    // A key of the user's own, certified beside itself.
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("id_ed25519");
    let made_key = Command::new("ssh-keygen")
        .args(["-t", "ed25519", "-N", "", "-q", "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(made_key.success());
    let public = format!("{}.pub", key.display());
    let (status, line, err) = ns(
        &t,
        &[
            "sandbox",
            "ssh-access",
            &id,
            "--public-key",
            &public,
            "--print-command",
        ],
        "",
    );
    assert_eq!(status, 0, "{err}");
    assert!(dir.path().join("id_ed25519-cert.pub").is_file());
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{} -o BatchMode=yes -o IdentityAgent=none 'echo printed-command-works'",
            line.trim()
        ))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "printed-command-works\n",
        "{line}: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Bad values are refused before any request, or by the server with its code.
    let (status, _, err) = ns(
        &t,
        &["ssh", &id, "--expires-in-minutes", "0", "--", "true"],
        "",
    );
    assert_eq!(status, 2, "{err}");
    std::fs::write(dir.path().join("bad.pub"), "not a key\n").unwrap();
    let bad = dir.path().join("bad.pub").display().to_string();
    let (status, _, err) = ns(
        &t,
        &["sandbox", "ssh-access", &id, "--public-key", &bad],
        "",
    );
    assert_eq!(status, 7, "{err}");
    assert!(err.contains("ssh_key_invalid"), "{err}");
}
