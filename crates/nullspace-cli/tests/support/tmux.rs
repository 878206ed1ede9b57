//! A terminal for tests of interactive commands: a tmux session on a tmux server of
//! its own (its own socket), killed when dropped.

use std::process::Command;
use std::time::{Duration, Instant};

/// One detached tmux session running one command.
pub struct Tmux {
    socket: String,
    session: String,
}

/// Whether `tmux` can be run.
pub fn available() -> bool {
    Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// tmux, or after [`super::skip`] (a failure with `NULLSPACE_REQUIRE_VM=1`) `None`.
pub fn required() -> Option<()> {
    if available() {
        Some(())
    } else {
        super::skip("tmux is not installed (apt-get install -y tmux)");
        None
    }
}

impl Tmux {
    /// Starts `command` (a shell command line) on a `cols`x`rows` terminal; the pane
    /// stays after the command ends, showing `[exited N]`.
    pub fn start(name: &str, command: &str, cols: u16, rows: u16) -> Self {
        let tmux = Self {
            socket: format!("ns-test-{name}-{}", std::process::id()),
            session: name.to_owned(),
        };
        let line = format!("{command}; echo \"[exited $?]\"; sleep 600");
        tmux.run(&[
            "new-session",
            "-d",
            "-s",
            name,
            "-x",
            &cols.to_string(),
            "-y",
            &rows.to_string(),
            "sh",
            "-c",
            &line,
        ]);
        tmux
    }

    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .expect("run tmux");
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Sends tmux key names (`Enter`, `C-c`, `C-]`).
    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", &self.session];
        args.extend_from_slice(keys);
        self.run(&args);
    }

    /// Types `text` as it is.
    pub fn type_text(&self, text: &str) {
        self.run(&["send-keys", "-t", &self.session, "-l", text]);
    }

    /// The visible screen.
    pub fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", &self.session])
    }

    /// The pid of the process the session's shell started (its only child), once
    /// there is one.
    pub fn child_pid(&self) -> Option<u32> {
        let shell = self.run(&["list-panes", "-t", &self.session, "-F", "#{pane_pid}"]);
        let out = Command::new("pgrep")
            .args(["-P", shell.trim()])
            .output()
            .ok()?;
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()?
            .trim()
            .parse()
            .ok()
    }

    /// Resizes the terminal.
    pub fn resize(&self, cols: u16, rows: u16) {
        self.run(&[
            "resize-window",
            "-t",
            &self.session,
            "-x",
            &cols.to_string(),
            "-y",
            &rows.to_string(),
        ]);
    }

    /// Waits up to `secs` for the screen to satisfy `ok`; the screen, or a panic
    /// showing it.
    pub fn wait_for(&self, what: &str, secs: u64, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let screen = self.screen();
            if ok(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "waited {secs}s for {what}; the screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits for `needle` on the screen.
    pub fn wait_text(&self, needle: &str, secs: u64) -> String {
        self.wait_for(&format!("{needle:?}"), secs, |s| s.contains(needle))
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}
