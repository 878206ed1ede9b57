//! Users and groups from `/etc/passwd` and `/etc/group`, parsed directly (a static
//! binary has no NSS).

use std::path::Path;

/// One `/etc/passwd` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Login name.
    pub name: String,
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Home directory.
    pub home: String,
    /// Login shell.
    pub shell: String,
}

/// One `/etc/group` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// Group name.
    pub name: String,
    /// Group id.
    pub gid: u32,
    /// Names of supplementary members.
    pub members: Vec<String>,
}

/// The user and group databases of the machine, read once.
#[derive(Debug, Clone, Default)]
pub struct UserDb {
    /// Parsed passwd entries, in file order.
    pub users: Vec<User>,
    /// Parsed group entries, in file order.
    pub groups: Vec<Group>,
}

impl UserDb {
    /// Read `/etc/passwd` and `/etc/group` (a missing file counts as empty).
    pub fn load() -> Self {
        Self::load_from(Path::new("/etc/passwd"), Path::new("/etc/group"))
    }

    /// Read the given passwd and group files (a missing file counts as empty).
    pub fn load_from(passwd: &Path, group: &Path) -> Self {
        let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
        Self {
            users: parse_passwd(&read(passwd)),
            groups: parse_group(&read(group)),
        }
    }

    /// The user called `name`.
    pub fn user(&self, name: &str) -> Option<&User> {
        self.users.iter().find(|u| u.name == name)
    }

    /// Name of uid `uid`, or the number as text.
    pub fn user_name(&self, uid: u32) -> String {
        self.users
            .iter()
            .find(|u| u.uid == uid)
            .map_or_else(|| uid.to_string(), |u| u.name.clone())
    }

    /// Name of gid `gid`, or the number as text.
    pub fn group_name(&self, gid: u32) -> String {
        self.groups
            .iter()
            .find(|g| g.gid == gid)
            .map_or_else(|| gid.to_string(), |g| g.name.clone())
    }

    /// All group ids of `user`: the primary group first, then every group listing it.
    pub fn group_ids(&self, user: &User) -> Vec<u32> {
        let mut ids = vec![user.gid];
        for g in &self.groups {
            if g.members.contains(&user.name) && !ids.contains(&g.gid) {
                ids.push(g.gid);
            }
        }
        ids
    }
}

/// Fields of the non-comment, non-empty lines of a colon-separated database.
fn records(text: &str) -> impl Iterator<Item = Vec<&str>> {
    text.lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.split(':').collect())
}

/// Parse passwd text (`name:pw:uid:gid:gecos:home:shell`); malformed lines are skipped.
pub fn parse_passwd(text: &str) -> Vec<User> {
    records(text)
        .filter_map(|f| {
            if f.len() < 7 || f[0].is_empty() {
                return None;
            }
            Some(User {
                name: f[0].to_string(),
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
                home: f[5].to_string(),
                shell: f[6].to_string(),
            })
        })
        .collect()
}

/// Parse group text (`name:pw:gid:member,member`); malformed lines are skipped.
pub fn parse_group(text: &str) -> Vec<Group> {
    records(text)
        .filter_map(|f| {
            if f.len() < 4 || f[0].is_empty() {
                return None;
            }
            Some(Group {
                name: f[0].to_string(),
                gid: f[2].parse().ok()?,
                members: f[3]
                    .split(',')
                    .map(str::trim)
                    .filter(|m| !m.is_empty())
                    .map(String::from)
                    .collect(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "\
root:x:0:0:root:/root:/bin/bash
# a comment

daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
broken:x:notanumber:1::/:/bin/sh
short:x:5
agent:x:1000:1000:Agent,,,:/home/agent:/bin/bash
";
    const GROUP: &str = "\
root:x:0:
sudo:x:27:agent,other
docker:x:999: agent 
agent:x:1000:
bad:x:zz:agent
";

    fn db() -> UserDb {
        UserDb {
            users: parse_passwd(PASSWD),
            groups: parse_group(GROUP),
        }
    }

    #[test]
    fn passwd_skips_comments_and_malformed_lines() {
        let users = parse_passwd(PASSWD);
        let names: Vec<_> = users.iter().map(|u| u.name.as_str()).collect();
        assert_eq!(names, ["root", "daemon", "agent"]);
        let agent = &users[2];
        assert_eq!((agent.uid, agent.gid), (1000, 1000));
        assert_eq!(agent.home, "/home/agent");
        assert_eq!(agent.shell, "/bin/bash");
    }

    #[test]
    fn group_members_are_trimmed_and_split() {
        let groups = parse_group(GROUP);
        assert_eq!(groups.len(), 4);
        assert_eq!(groups[1].members, ["agent", "other"]);
        assert_eq!(groups[2].members, ["agent"]);
        assert!(groups[0].members.is_empty());
    }

    #[test]
    fn supplementary_groups_start_with_primary() {
        let db = db();
        let agent = db.user("agent").unwrap();
        assert_eq!(db.group_ids(agent), [1000, 27, 999]);
        assert_eq!(db.group_ids(db.user("root").unwrap()), [0]);
        assert!(db.user("nobody-here").is_none());
    }

    #[test]
    fn names_fall_back_to_numbers() {
        let db = db();
        assert_eq!(db.user_name(1000), "agent");
        assert_eq!(db.user_name(4242), "4242");
        assert_eq!(db.group_name(27), "sudo");
        assert_eq!(db.group_name(4242), "4242");
    }

    #[test]
    fn missing_files_are_empty() {
        let db = UserDb::load_from(Path::new("/nonexistent/p"), Path::new("/nonexistent/g"));
        assert!(db.users.is_empty() && db.groups.is_empty());
    }
}
