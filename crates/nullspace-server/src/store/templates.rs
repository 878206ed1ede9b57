//! Built templates: names, versions (builds), tags, build logs and the step cache.

use rusqlite::{params, OptionalExtension};

use super::{Store, StoreError};

/// A template name of a tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateRow {
    /// `tpl_…`.
    pub id: String,
    /// Owning tenant.
    pub tenant: String,
    /// Name.
    pub name: String,
    /// First build, Unix seconds.
    pub created_unix: i64,
}

/// A build: one version of a template once it is ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildRow {
    /// `tb_…`.
    pub id: String,
    /// Its template.
    pub template_id: String,
    /// Owning tenant.
    pub tenant: String,
    /// The request (JSON of `TemplateBuildRequest`).
    pub request: String,
    /// Tags moved to it when ready (JSON list).
    pub tags: String,
    /// `waiting`, `building`, `ready` or `error`.
    pub status: String,
    /// Steps it has.
    pub steps_total: u32,
    /// Steps done.
    pub steps_done: u32,
    /// Steps restored from the cache.
    pub steps_cached: u32,
    /// Its build machine, while one runs.
    pub machine_id: Option<String>,
    /// Saved state of the ready version.
    pub snapshot_id: Option<String>,
    /// vCPUs of its machines.
    pub cpu_count: u32,
    /// Memory in MiB of its machines.
    pub memory_mb: u64,
    /// Default working directory of its machines.
    pub cwd: String,
    /// Environment of its machines (JSON map).
    pub envs: String,
    /// Bytes its saved state takes.
    pub size_bytes: u64,
    /// Why it failed (JSON of `BuildError`).
    pub error: Option<String>,
    /// When it was asked for, Unix seconds.
    pub created_unix: i64,
    /// When it ended.
    pub finished_unix: Option<i64>,
}

/// A stored log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRow {
    /// Position from 0.
    pub offset: u64,
    /// Unix milliseconds.
    pub at_ms: i64,
    /// `info`, `warn` or `error`.
    pub level: String,
    /// 1-based step.
    pub step: Option<u32>,
    /// The line.
    pub message: String,
}

/// A cached step: the saved build machine after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheRow {
    /// Hash of everything the step depends on.
    pub key: String,
    /// Its saved state.
    pub snapshot_id: String,
    /// Bytes it takes.
    pub size_bytes: u64,
}

const BUILD_COLUMNS: &str = "id, template_id, tenant, request, tags, status, steps_total, \
    steps_done, steps_cached, machine_id, snapshot_id, cpu_count, memory_mb, cwd, envs, \
    size_bytes, error, created_unix, finished_unix";

fn read_build(r: &rusqlite::Row<'_>) -> rusqlite::Result<BuildRow> {
    Ok(BuildRow {
        id: r.get(0)?,
        template_id: r.get(1)?,
        tenant: r.get(2)?,
        request: r.get(3)?,
        tags: r.get(4)?,
        status: r.get(5)?,
        steps_total: r.get(6)?,
        steps_done: r.get(7)?,
        steps_cached: r.get(8)?,
        machine_id: r.get(9)?,
        snapshot_id: r.get(10)?,
        cpu_count: r.get(11)?,
        memory_mb: r.get::<_, i64>(12)? as u64,
        cwd: r.get(13)?,
        envs: r.get(14)?,
        size_bytes: r.get::<_, i64>(15)? as u64,
        error: r.get(16)?,
        created_unix: r.get(17)?,
        finished_unix: r.get(18)?,
    })
}

fn read_template(r: &rusqlite::Row<'_>) -> rusqlite::Result<TemplateRow> {
    Ok(TemplateRow {
        id: r.get(0)?,
        tenant: r.get(1)?,
        name: r.get(2)?,
        created_unix: r.get(3)?,
    })
}

impl Store {
    /// The tenant's template `name`, made if it does not exist yet.
    pub fn ensure_template(
        &self,
        id: &str,
        tenant: &str,
        name: &str,
        now: i64,
    ) -> Result<TemplateRow, StoreError> {
        self.with(|c| {
            c.execute(
                "INSERT INTO templates (id, tenant, name, created_unix) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (tenant, name) DO NOTHING",
                params![id, tenant, name, now],
            )?;
            Ok(c.query_row(
                "SELECT id, tenant, name, created_unix FROM templates WHERE tenant = ?1 AND name = ?2",
                params![tenant, name],
                read_template,
            )?)
        })
    }

    /// The tenant's template called `name`.
    pub fn template_named(
        &self,
        tenant: &str,
        name: &str,
    ) -> Result<Option<TemplateRow>, StoreError> {
        self.with(|c| {
            Ok(c.query_row(
                "SELECT id, tenant, name, created_unix FROM templates WHERE tenant = ?1 AND name = ?2",
                params![tenant, name],
                read_template,
            )
            .optional()?)
        })
    }

    /// The tenant's template with id `id`.
    pub fn template_by_id(
        &self,
        tenant: &str,
        id: &str,
    ) -> Result<Option<TemplateRow>, StoreError> {
        self.with(|c| {
            Ok(c.query_row(
                "SELECT id, tenant, name, created_unix FROM templates WHERE tenant = ?1 AND id = ?2",
                params![tenant, id],
                read_template,
            )
            .optional()?)
        })
    }

    /// The tenant's templates, by name.
    pub fn templates(&self, tenant: &str) -> Result<Vec<TemplateRow>, StoreError> {
        self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT id, tenant, name, created_unix FROM templates WHERE tenant = ?1 ORDER BY name",
            )?;
            let rows = stmt.query_map(params![tenant], read_template)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// Remove a template with its builds, tags and logs.
    pub fn delete_template(&self, id: &str) -> Result<(), StoreError> {
        self.with(|c| {
            let tx = c.transaction()?;
            tx.execute(
                "DELETE FROM build_logs WHERE build_id IN
                 (SELECT id FROM template_builds WHERE template_id = ?1)",
                params![id],
            )?;
            tx.execute(
                "DELETE FROM template_tags WHERE template_id = ?1",
                params![id],
            )?;
            tx.execute(
                "DELETE FROM template_builds WHERE template_id = ?1",
                params![id],
            )?;
            tx.execute("DELETE FROM templates WHERE id = ?1", params![id])?;
            tx.commit()?;
            Ok(())
        })
    }

    /// Record a new build.
    pub fn insert_build(&self, b: &BuildRow) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                &format!(
                    "INSERT INTO template_builds ({BUILD_COLUMNS}) VALUES
                     (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)"
                ),
                params![
                    b.id,
                    b.template_id,
                    b.tenant,
                    b.request,
                    b.tags,
                    b.status,
                    b.steps_total,
                    b.steps_done,
                    b.steps_cached,
                    b.machine_id,
                    b.snapshot_id,
                    b.cpu_count,
                    b.memory_mb as i64,
                    b.cwd,
                    b.envs,
                    b.size_bytes as i64,
                    b.error,
                    b.created_unix,
                    b.finished_unix
                ],
            )?;
            Ok(())
        })
    }

    /// Write a build's changing columns (status, progress, machine, result).
    pub fn save_build(&self, b: &BuildRow) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "UPDATE template_builds SET status = ?2, steps_done = ?3, steps_cached = ?4,
                 machine_id = ?5, snapshot_id = ?6, cwd = ?7, envs = ?8, size_bytes = ?9,
                 error = ?10, finished_unix = ?11 WHERE id = ?1",
                params![
                    b.id,
                    b.status,
                    b.steps_done,
                    b.steps_cached,
                    b.machine_id,
                    b.snapshot_id,
                    b.cwd,
                    b.envs,
                    b.size_bytes as i64,
                    b.error,
                    b.finished_unix
                ],
            )?;
            Ok(())
        })
    }

    /// The tenant's build `id`.
    pub fn build(&self, tenant: &str, id: &str) -> Result<Option<BuildRow>, StoreError> {
        self.with(|c| {
            Ok(c.query_row(
                &format!(
                    "SELECT {BUILD_COLUMNS} FROM template_builds WHERE tenant = ?1 AND id = ?2"
                ),
                params![tenant, id],
                read_build,
            )
            .optional()?)
        })
    }

    /// Builds of a template, newest first.
    pub fn builds_of(&self, template_id: &str) -> Result<Vec<BuildRow>, StoreError> {
        self.with(|c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {BUILD_COLUMNS} FROM template_builds WHERE template_id = ?1 ORDER BY seq DESC"
            ))?;
            let rows = stmt.query_map(params![template_id], read_build)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// Builds that had not ended (after a restart: they never will).
    pub fn unfinished_builds(&self) -> Result<Vec<BuildRow>, StoreError> {
        self.with(|c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {BUILD_COLUMNS} FROM template_builds WHERE status IN ('waiting', 'building')"
            ))?;
            let rows = stmt.query_map([], read_build)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// Saved states of every ready version (of every tenant).
    pub fn version_snapshots(&self) -> Result<Vec<String>, StoreError> {
        self.with(|c| {
            let mut stmt =
                c.prepare("SELECT snapshot_id FROM template_builds WHERE snapshot_id IS NOT NULL")?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// Tags of a template and the builds they point to, by tag.
    pub fn tags(&self, template_id: &str) -> Result<Vec<(String, String)>, StoreError> {
        self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT tag, build_id FROM template_tags WHERE template_id = ?1 ORDER BY tag",
            )?;
            let rows = stmt.query_map(params![template_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// Point `tags` of a template at `build_id`.
    pub fn set_tags(
        &self,
        template_id: &str,
        tags: &[String],
        build_id: &str,
    ) -> Result<(), StoreError> {
        self.with(|c| {
            let tx = c.transaction()?;
            for t in tags {
                tx.execute(
                    "INSERT INTO template_tags (template_id, tag, build_id) VALUES (?1, ?2, ?3)
                     ON CONFLICT (template_id, tag) DO UPDATE SET build_id = excluded.build_id",
                    params![template_id, t, build_id],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
    }

    /// Remove a tag; false if it did not exist.
    pub fn remove_tag(&self, template_id: &str, tag: &str) -> Result<bool, StoreError> {
        self.with(|c| {
            Ok(c.execute(
                "DELETE FROM template_tags WHERE template_id = ?1 AND tag = ?2",
                params![template_id, tag],
            )? == 1)
        })
    }

    /// Append log entries to a build (offsets are the caller's, in order).
    pub fn append_logs(&self, build_id: &str, entries: &[LogRow]) -> Result<(), StoreError> {
        self.with(|c| {
            let tx = c.transaction()?;
            for e in entries {
                tx.execute(
                    "INSERT INTO build_logs (build_id, pos, at_ms, level, step, message)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![
                        build_id,
                        e.offset as i64,
                        e.at_ms,
                        e.level,
                        e.step,
                        e.message
                    ],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
    }

    /// Up to `limit` log entries of a build from `offset`.
    pub fn logs(
        &self,
        build_id: &str,
        offset: u64,
        limit: usize,
    ) -> Result<Vec<LogRow>, StoreError> {
        self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT pos, at_ms, level, step, message FROM build_logs
                 WHERE build_id = ?1 AND pos >= ?2 ORDER BY pos LIMIT ?3",
            )?;
            let rows = stmt.query_map(
                params![build_id, offset.min(i64::MAX as u64) as i64, limit as i64],
                |r| {
                    Ok(LogRow {
                        offset: r.get::<_, i64>(0)? as u64,
                        at_ms: r.get(1)?,
                        level: r.get(2)?,
                        step: r.get(3)?,
                        message: r.get(4)?,
                    })
                },
            )?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// The cached step `key` of a tenant.
    pub fn cached_step(&self, tenant: &str, key: &str) -> Result<Option<CacheRow>, StoreError> {
        self.with(|c| {
            Ok(c.query_row(
                "SELECT key, snapshot_id, size_bytes FROM template_cache WHERE tenant = ?1 AND key = ?2",
                params![tenant, key],
                |r| {
                    Ok(CacheRow {
                        key: r.get(0)?,
                        snapshot_id: r.get(1)?,
                        size_bytes: r.get::<_, i64>(2)? as u64,
                    })
                },
            )
            .optional()?)
        })
    }

    /// Keep a cached step; answers the entry it replaced.
    pub fn put_cached_step(
        &self,
        tenant: &str,
        entry: &CacheRow,
        now: i64,
    ) -> Result<Option<CacheRow>, StoreError> {
        let old = self.cached_step(tenant, &entry.key)?;
        self.with(|c| {
            c.execute(
                "INSERT INTO template_cache (tenant, key, snapshot_id, size_bytes, created_unix)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (tenant, key) DO UPDATE SET snapshot_id = excluded.snapshot_id,
                 size_bytes = excluded.size_bytes, created_unix = excluded.created_unix",
                params![
                    tenant,
                    entry.key,
                    entry.snapshot_id,
                    entry.size_bytes as i64,
                    now
                ],
            )?;
            Ok(())
        })?;
        Ok(old)
    }

    /// Every cached step of a tenant.
    pub fn cached_steps(&self, tenant: &str) -> Result<Vec<CacheRow>, StoreError> {
        self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT key, snapshot_id, size_bytes FROM template_cache WHERE tenant = ?1",
            )?;
            let rows = stmt.query_map(params![tenant], |r| {
                Ok(CacheRow {
                    key: r.get(0)?,
                    snapshot_id: r.get(1)?,
                    size_bytes: r.get::<_, i64>(2)? as u64,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// Forget a cached step.
    pub fn delete_cached_step(&self, tenant: &str, key: &str) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "DELETE FROM template_cache WHERE tenant = ?1 AND key = ?2",
                params![tenant, key],
            )?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(id: &str, template_id: &str) -> BuildRow {
        BuildRow {
            id: id.into(),
            template_id: template_id.into(),
            tenant: "t".into(),
            request: "{}".into(),
            tags: "[]".into(),
            status: "waiting".into(),
            steps_total: 2,
            steps_done: 0,
            steps_cached: 0,
            machine_id: None,
            snapshot_id: None,
            cpu_count: 1,
            memory_mb: 512,
            cwd: "/workspace".into(),
            envs: "{}".into(),
            size_bytes: 0,
            error: None,
            created_unix: 1,
            finished_unix: None,
        }
    }

    #[test]
    fn names_builds_tags_logs_and_cache_round_trip() {
        let s = Store::in_memory().unwrap();
        let t = s.ensure_template("tpl_a", "t", "web", 1).unwrap();
        // A second ensure keeps the first id.
        assert_eq!(
            s.ensure_template("tpl_b", "t", "web", 2).unwrap().id,
            "tpl_a"
        );
        assert!(s.template_named("other", "web").unwrap().is_none());
        let mut b = build("tb_1", &t.id);
        s.insert_build(&b).unwrap();
        assert_eq!(s.unfinished_builds().unwrap().len(), 1);
        b.status = "ready".into();
        b.snapshot_id = Some("snap_x".into());
        b.steps_done = 2;
        s.save_build(&b).unwrap();
        assert_eq!(s.build("t", "tb_1").unwrap().unwrap(), b);
        assert!(s.build("other", "tb_1").unwrap().is_none());
        assert!(s.unfinished_builds().unwrap().is_empty());
        assert_eq!(s.version_snapshots().unwrap(), vec!["snap_x".to_owned()]);
        s.set_tags(&t.id, &["latest".into(), "stable".into()], "tb_1")
            .unwrap();
        s.set_tags(&t.id, &["stable".into()], "tb_2").unwrap();
        assert_eq!(
            s.tags(&t.id).unwrap(),
            vec![
                ("latest".to_owned(), "tb_1".to_owned()),
                ("stable".to_owned(), "tb_2".to_owned())
            ]
        );
        assert!(s.remove_tag(&t.id, "stable").unwrap());
        assert!(!s.remove_tag(&t.id, "stable").unwrap());
        let line = |o: u64| LogRow {
            offset: o,
            at_ms: 5,
            level: "info".into(),
            step: Some(1),
            message: format!("line {o}"),
        };
        s.append_logs("tb_1", &[line(0), line(1), line(2)]).unwrap();
        let got = s.logs("tb_1", 1, 1).unwrap();
        assert_eq!(got, vec![line(1)]);
        let entry = CacheRow {
            key: "k".into(),
            snapshot_id: "snap_1".into(),
            size_bytes: 9,
        };
        assert!(s.put_cached_step("t", &entry, 1).unwrap().is_none());
        let newer = CacheRow {
            snapshot_id: "snap_2".into(),
            ..entry.clone()
        };
        assert_eq!(s.put_cached_step("t", &newer, 2).unwrap(), Some(entry));
        assert_eq!(s.cached_step("t", "k").unwrap(), Some(newer));
        assert!(s.cached_step("u", "k").unwrap().is_none());
        s.delete_template(&t.id).unwrap();
        assert!(s.template_named("t", "web").unwrap().is_none());
        assert!(s.logs("tb_1", 0, 10).unwrap().is_empty());
        assert!(s.tags(&t.id).unwrap().is_empty());
        s.delete_cached_step("t", "k").unwrap();
        assert!(s.cached_steps("t").unwrap().is_empty());
    }
}
