//! `nullspace-server keys …` refuses what would print a key the server rejects.

use std::process::Command;

fn server() -> Command {
    Command::new(env!("CARGO_BIN_EXE_nullspace-server"))
}

#[test]
fn keys_need_a_tenant_name_and_an_existing_state_database() {
    let dir = std::env::temp_dir().join(format!("ns-keys-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let missing = dir.join("nonexistent");
    let out = server()
        .args(["--state-dir"])
        .arg(&missing)
        .args(["keys", "create", "--tenant", "t"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "a missing state dir is an error");
    assert!(out.stdout.is_empty(), "no key is printed");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no state database"), "{err}");
    assert!(!missing.exists(), "nothing is created");

    // A state dir with a database (as a server leaves it) works.
    std::fs::create_dir_all(&dir).unwrap();
    nullspace_server::store::Store::open(&nullspace_server::db_path(&dir)).unwrap();
    let out = server()
        .arg("--state-dir")
        .arg(&dir)
        .args(["keys", "create", "--tenant", "team-a"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ns_live_"));
    for bad in ["", "a b", "x/y"] {
        let out = server()
            .arg("--state-dir")
            .arg(&dir)
            .args(["keys", "create", "--tenant", bad])
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(2),
            "tenant {bad:?} is a usage error"
        );
        assert!(out.stdout.is_empty());
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
