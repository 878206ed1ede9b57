//! Entry point: picks the role from the pid, the initramfs marker and the arguments.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use nullspace_guestd::init::{self, INITRAMFS_MARKER};
use nullspace_guestd::log::{self, LogTarget};
use nullspace_guestd::serve::{self, port, Transport};
use nullspace_guestd::services::fs::paths::PathPolicy;
use nullspace_guestd::services::state::GuestState;
use nullspace_guestd::{sys, VERSION};

const USAGE: &str = "usage: nullspace-guestd serve [--listen-unix PATH | --port PATH]
       nullspace-guestd version
As PID 1 it runs as init (or as the initramfs /init when /etc/nullspace-initramfs exists).";

fn main() -> ExitCode {
    if sys::getpid() == 1 {
        // The kernel may pass stray command-line words as arguments: ignore them.
        if Path::new(INITRAMFS_MARKER).exists() {
            log::init(LogTarget {
                prefix: "nullspace-stage1",
                console: true,
            });
            init::stage1::run();
        }
        log::init(LogTarget {
            prefix: "nullspace-init",
            console: true,
        });
        init::pid1::run();
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("version" | "--version") => {
            println!("nullspace-guestd {VERSION}");
            ExitCode::SUCCESS
        }
        Some("serve") => serve_main(&args[1..]),
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn serve_main(args: &[String]) -> ExitCode {
    log::init(LogTarget {
        prefix: "nullspace-guestd",
        console: false,
    });
    let mut transport = Transport::Port(PathBuf::from(port::PORT_PATH));
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        match (flag.as_str(), it.next()) {
            ("--listen-unix", Some(path)) => transport = Transport::Unix(path.into()),
            ("--port", Some(path)) => transport = Transport::Port(path.into()),
            _ => {
                eprintln!("{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    // NULLSPACE_GUESTD_NO_IDENTITY=1 makes `hello` record an identity without
    // applying it (entropy, clock, hostname), so tests can run on a real host.
    let apply_identity = std::env::var_os("NULLSPACE_GUESTD_NO_IDENTITY").is_none_or(|v| v != "1");
    let mut state = GuestState::new(PathPolicy::default(), apply_identity);
    // NULLSPACE_GUESTD_ETC=DIR reads users and groups from DIR/passwd and
    // DIR/group, so tests on a real host can have users the host does not.
    if let Some(dir) = std::env::var_os("NULLSPACE_GUESTD_ETC") {
        state = state.with_user_db_dir(dir.into());
    }
    match serve::run(transport, state) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            nullspace_guestd::log!("fatal: {e}");
            ExitCode::FAILURE
        }
    }
}
