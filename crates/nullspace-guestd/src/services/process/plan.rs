//! Checking an `exec` request against the machine before anything is spawned:
//! the user, the environment, the working directory and the program, so that
//! each failure gets its precise code. `exec` and `process_start` plan alike.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nullspace_guest_proto::ExecRequest;

use crate::services::error::OpError;
use crate::services::fs::paths::normalize;
use crate::users::{User, UserDb};

/// `PATH` of the clean base environment.
pub const BASE_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A checked `exec` request, ready to spawn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Absolute path of the program.
    pub program: PathBuf,
    /// Arguments, `argv[0]` first.
    pub argv: Vec<String>,
    /// The complete environment.
    pub env: Vec<(String, String)>,
    /// Working directory.
    pub cwd: PathBuf,
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// All group ids (primary first).
    pub groups: Vec<u32>,
}

/// Check `req` against the machine: user, environment, working directory, program.
pub fn plan(req: &ExecRequest, db: &UserDb, workspace: &Path) -> Result<Plan, OpError> {
    let argv: Vec<String> = match (req.argv.is_empty(), &req.shell) {
        (false, None) => req.argv.clone(),
        (true, Some(cmd)) => {
            let shell = if is_executable(Path::new("/bin/bash")) {
                "/bin/bash"
            } else {
                "/bin/sh"
            };
            vec![shell.into(), "-c".into(), cmd.clone()]
        }
        _ => return Err(OpError::CommandShape),
    };
    let name = req.user.as_deref().unwrap_or("root");
    let user = match db.user(name) {
        Some(u) => u.clone(),
        // A root without a passwd line is still root.
        None if name == "root" => User {
            name: "root".into(),
            uid: 0,
            gid: 0,
            home: "/root".into(),
            shell: "/bin/sh".into(),
        },
        None => return Err(OpError::UserNotFound(name.into())),
    };
    let mut env: Vec<(String, String)> = vec![
        ("PATH".into(), BASE_PATH.into()),
        ("HOME".into(), user.home.clone()),
        ("USER".into(), user.name.clone()),
        ("LOGNAME".into(), user.name.clone()),
        ("SHELL".into(), user.shell.clone()),
        ("LANG".into(), "C.UTF-8".into()),
        ("TERM".into(), "xterm-256color".into()),
    ];
    for (k, v) in &req.env {
        match env.iter_mut().find(|(key, _)| key == k) {
            Some(slot) => slot.1 = v.clone(),
            None => env.push((k.clone(), v.clone())),
        }
    }
    let cwd = match &req.cwd {
        Some(dir) => {
            let dir = normalize(workspace, dir)?;
            if !dir.is_dir() {
                return Err(OpError::CwdNotFound(dir));
            }
            dir
        }
        None if Path::new(&user.home).is_dir() => PathBuf::from(&user.home),
        None => PathBuf::from("/"),
    };
    let path_var = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map_or("", |(_, v)| v.as_str());
    let program = find_program(&argv[0], path_var, &cwd)
        .ok_or_else(|| OpError::CommandNotFound(argv[0].clone()))?;
    Ok(Plan {
        program,
        argv,
        env,
        cwd,
        uid: user.uid,
        gid: user.gid,
        groups: db.group_ids(&user),
    })
}

/// Locate `name` like `execvp`: as a path if it has a slash, else along `path_var`.
pub fn find_program(name: &str, path_var: &str, cwd: &Path) -> Option<PathBuf> {
    if name.is_empty() {
        return None;
    }
    if name.contains('/') {
        let p = cwd.join(name);
        return is_executable(&p).then_some(p);
    }
    path_var
        .split(':')
        .map(|dir| {
            if dir.is_empty() {
                cwd.to_path_buf()
            } else {
                cwd.join(dir)
            }
        })
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::users::{parse_group, parse_passwd};

    fn db() -> UserDb {
        UserDb {
            users: parse_passwd(
                "root:x:0:0::/root:/bin/bash\nu:x:1000:1000::/nonexistent-home:/bin/sh\n",
            ),
            groups: parse_group("wheel:x:10:u\n"),
        }
    }

    fn req(argv: &[&str]) -> ExecRequest {
        ExecRequest {
            argv: argv.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn argv_and_shell_are_exclusive() {
        let ws = Path::new("/");
        let mut r = req(&["true"]);
        r.shell = Some("true".into());
        assert!(matches!(plan(&r, &db(), ws), Err(OpError::CommandShape)));
        assert!(matches!(
            plan(&req(&[]), &db(), ws),
            Err(OpError::CommandShape)
        ));
        let mut s = req(&[]);
        s.shell = Some("echo hi".into());
        let p = plan(&s, &db(), ws).unwrap();
        assert_eq!(p.argv[1..], ["-c".to_string(), "echo hi".to_string()]);
    }

    #[test]
    fn environment_is_clean_and_overlaid() {
        let mut r = req(&["sh"]);
        r.user = Some("u".into());
        r.env.insert("LANG".into(), "en_US.UTF-8".into());
        r.env.insert("FOO".into(), "bar".into());
        let p = plan(&r, &db(), Path::new("/")).unwrap();
        let get = |k: &str| {
            p.env
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("PATH"), Some(BASE_PATH));
        assert_eq!(get("HOME"), Some("/nonexistent-home"));
        assert_eq!(get("USER"), Some("u"));
        assert_eq!(get("LANG"), Some("en_US.UTF-8"));
        assert_eq!(get("FOO"), Some("bar"));
        assert_eq!(
            (p.uid, p.gid, p.groups.clone()),
            (1000, 1000, vec![1000, 10])
        );
        // The home is missing, so the working directory falls back to /.
        assert_eq!(p.cwd, Path::new("/"));
    }

    #[test]
    fn precise_failures_before_spawning() {
        let ws = Path::new("/");
        let mut r = req(&["true"]);
        r.user = Some("ghost".into());
        assert!(matches!(plan(&r, &db(), ws), Err(OpError::UserNotFound(_))));
        let mut r = req(&["true"]);
        r.cwd = Some("/nonexistent/dir".into());
        assert!(matches!(plan(&r, &db(), ws), Err(OpError::CwdNotFound(_))));
        let r = req(&["definitely-not-a-program-xyz"]);
        assert!(matches!(
            plan(&r, &db(), ws),
            Err(OpError::CommandNotFound(_))
        ));
        let r = req(&["/etc/passwd"]);
        assert!(matches!(
            plan(&r, &db(), ws),
            Err(OpError::CommandNotFound(_))
        ));
    }

    #[test]
    fn programs_are_found_on_path() {
        let sh = find_program("sh", BASE_PATH, Path::new("/")).unwrap();
        assert!(sh.ends_with("sh") && sh.is_absolute());
        assert_eq!(
            find_program("/bin/sh", "", Path::new("/")),
            Some(PathBuf::from("/bin/sh"))
        );
        assert_eq!(find_program("", BASE_PATH, Path::new("/")), None);
    }
}
