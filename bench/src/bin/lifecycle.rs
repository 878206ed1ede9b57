//! Lifecycle benchmark of one machine of the `base` template (512 MiB) with
//! 256 MiB of its memory really written (random bytes held by a guest process):
//! pause, resume to the first command, disk per paused machine, snapshot create
//! and source stall, create from snapshot against create from template, and fork
//! into 1 and 4 children. Floors from the same run: bare QEMU restores of the
//! template and of a snapshot of the touched machine, and a bare QEMU save of the
//! latter, so the ratios hold on a noisy host.
//!
//! Usage: `lifecycle [--cycles N] [--snapshots N] [--creates N] [--forks N]`;
//! prints one JSON object.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nullspace_bench::{round, stats, BareRestore, FloorError, RestoreSource};
use nullspace_guest_proto::ExecRequest;
use nullspace_host::image::{build_image, ImageSpec};
use nullspace_host::{Machine, Runtime, RuntimeConfig, RuntimeError, Template};
use nullspace_types::{MachineId, SnapshotId};
use serde_json::{json, Value};

/// Memory the guest process writes, in MiB.
const TOUCH_MIB: u64 = 256;
/// How long writing it may take under emulation.
const TOUCH_DEADLINE: Duration = Duration::from_secs(600);
/// How long any one guest command may take to answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(120);
/// File the touching process creates (holding its pid) once its memory is written.
const READY: &str = "/tmp/lifecycle-ready";
/// Children per fork.
const FORK_SIZES: [usize; 2] = [1, 4];

/// Why the benchmark stopped.
#[derive(Debug)]
enum BenchError {
    /// A runtime call failed.
    Runtime(RuntimeError),
    /// A bare QEMU restore or save (floor) failed.
    Floor(FloorError),
    /// The guest answered, but not as expected, or not in time.
    Guest(String),
}

impl std::fmt::Display for BenchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Runtime(e) => write!(f, "runtime: {e}"),
            Self::Floor(e) => write!(f, "floor: {e}"),
            Self::Guest(e) => write!(f, "guest: {e}"),
        }
    }
}

impl From<RuntimeError> for BenchError {
    fn from(e: RuntimeError) -> Self {
        Self::Runtime(e)
    }
}

impl From<FloorError> for BenchError {
    fn from(e: FloorError) -> Self {
        Self::Floor(e)
    }
}

/// Repetitions asked for on the command line.
struct Options {
    cycles: usize,
    snapshots: usize,
    creates: usize,
    forks: usize,
}

impl Options {
    fn parse() -> Self {
        let args: Vec<String> = std::env::args().collect();
        let arg = |name: &str, default: usize| {
            args.iter()
                .position(|a| a == name)
                .and_then(|i| args.get(i + 1))
                .and_then(|v| v.parse().ok())
                .unwrap_or(default)
                .max(1)
        };
        Self {
            cycles: arg("--cycles", 5),
            snapshots: arg("--snapshots", 3),
            creates: arg("--creates", 5),
            forks: arg("--forks", 3),
        }
    }
}

/// What the run made that outlives a single step: released at the end, also
/// when a step fails (running machines go with [`Runtime::shutdown`]).
#[derive(Default)]
struct Leftovers {
    /// The touched machine, which may be paused (files only) when a step fails.
    source: Option<MachineId>,
    snapshots: Vec<SnapshotId>,
}

impl Leftovers {
    async fn release(self, rt: &Runtime) {
        for e in rt.shutdown().await {
            eprintln!("lifecycle: cleanup: {e}");
        }
        if let Some(id) = self.source.filter(|id| rt.is_paused(id)) {
            rt.discard(&id, false).await;
        }
        for id in self.snapshots {
            if let Err(e) = rt.delete_snapshot(&id) {
                eprintln!("lifecycle: cleanup of snapshot {id}: {e}");
            }
        }
    }
}

#[tokio::main]
async fn main() {
    let opts = Options::parse();
    let mut cfg = RuntimeConfig::from_env();
    cfg.die_with_parent = true;
    let guestd: std::path::PathBuf = std::env::var_os("NULLSPACE_GUESTD")
        .map(Into::into)
        .unwrap_or_else(|| "target/x86_64-unknown-linux-gnu/release/nullspace-guestd".into());
    let image = build_image(&ImageSpec::base(&cfg.data_dir, guestd))
        .await
        .expect("image");
    let rt = Runtime::new(cfg.clone()).await.expect("runtime");
    let template = rt.ensure_template("base", &image).await.expect("template");

    let mut left = Leftovers::default();
    let report = run(&rt, &cfg, &template, &opts, &mut left).await;
    left.release(&rt).await;
    match report {
        Ok(report) => println!("{}", serde_json::to_string_pretty(&report).unwrap()),
        Err(e) => panic!("lifecycle benchmark failed: {e}"),
    }
}

async fn run(
    rt: &Runtime,
    cfg: &RuntimeConfig,
    template: &Template,
    opts: &Options,
    left: &mut Leftovers,
) -> Result<Value, BenchError> {
    let source = rt.create_machine(template).await?;
    let id = source.id().clone();
    left.source = Some(id.clone());
    let t = Instant::now();
    let pid = touch(&source).await?;
    let touch_s = t.elapsed().as_secs_f64();
    let touched_kib = touched_rss_kib(&source, pid).await?;
    drop(source);

    let cycles = pause_resume(rt, &id, opts.cycles).await?;
    // The touched memory must have survived every pause and resume.
    let resumed = rt.machine(&id)?;
    let after_kib = touched_rss_kib(&resumed, pid).await?;
    drop(resumed);
    if after_kib < TOUCH_MIB * 1024 {
        return Err(BenchError::Guest(format!(
            "the touching process holds {after_kib} KiB after the pause/resume cycles"
        )));
    }

    let snaps = snapshots(rt, &id, opts.snapshots, left).await?;
    let creates = creates(rt, cfg, template, &snaps.kept, opts.creates).await?;
    rt.delete_snapshot(&snaps.kept)?;
    left.snapshots.retain(|s| *s != snaps.kept);

    let mut forks = serde_json::Map::new();
    for n in FORK_SIZES {
        forks.insert(
            format!("fork_n{n}"),
            fork(rt, &id, n, opts.forks, pid).await?,
        );
    }
    rt.destroy(&id).await?;
    left.source = None;

    let pause = stats(&cycles.pause);
    let touched_gib = touched_kib as f64 / 1024.0 / 1024.0;
    let saved_gib = cycles.state_bytes as f64 / 1024.0 / 1024.0 / 1024.0;
    let per_gib = |q: &str| round(pause[q].as_f64().expect("ms") / 1000.0 / touched_gib);
    let resume = stats(&cycles.resume);
    let snapshot_stall = stats(&snaps.stall);
    let fork_stall_p50 = FORK_SIZES
        .iter()
        .map(|n| p50(&forks[&format!("fork_n{n}")]["source_stall"]))
        .fold(0.0, f64::max);
    let mut report = json!({
        "benchmark": "lifecycle",
        "accel": cfg.qemu.accel.accel.as_str(),
        "accel_reason": cfg.qemu.accel.reason,
        "memory_mib": template.memory_mib,
        "touched_mib": round(touched_kib as f64 / 1024.0),
        "touch_s": round(touch_s),
        "pause": pause,
        "pause_s_per_gib_touched": { "p50": per_gib("p50_ms"), "p95": per_gib("p95_ms") },
        "pause_s_per_gib_saved": round(p50(&pause) / 1000.0 / saved_gib),
        "pause_state_mib": round(cycles.state_bytes as f64 / 1048576.0),
        "disk_per_paused_machine_mib": round(cycles.disk_bytes as f64 / 1048576.0),
        "resume_to_first_command": resume,
        "resume_p50_over_floor_snapshot_p50": round(p50(&resume) / p50(&creates["floor_bare_qemu_restore_snapshot"])),
        "snapshot_create": stats(&snaps.create),
        "snapshot_source_stall": snapshot_stall,
        "snapshot_size_mib": round(snaps.size_bytes as f64 / 1048576.0),
    });
    let fields = report.as_object_mut().expect("object");
    fields.extend(creates.as_object().expect("object").clone());
    fields.extend(forks);
    let ratio = fields["create_from_snapshot_vs_template"]["p50"]
        .as_f64()
        .expect("ratio");
    fields.insert(
        "targets".into(),
        json!({
            "pause_s_per_gib_touched_max": 1.0,
            "resume_to_first_command_p50_ms_max": 300.0,
            "fork_source_stall_ms_max": 500.0,
            "create_from_snapshot_vs_template_max": 1.5,
        }),
    );
    fields.insert(
        "targets_met_at_p50".into(),
        json!({
            "pause": per_gib("p50_ms") <= 1.0,
            "resume": p50(&resume) <= 300.0,
            "fork_source_stall": fork_stall_p50 <= 500.0,
            "create_from_snapshot_vs_template": ratio <= 1.5,
        }),
    );
    Ok(report)
}

/// Start a guest process that writes `TOUCH_MIB` of random bytes and keeps them;
/// wait until it has. Returns its pid.
async fn touch(m: &Machine) -> Result<u32, BenchError> {
    let script = format!(
        "import os,time; b=os.urandom({TOUCH_MIB}<<20); \
         open('{READY}.tmp','w').write(str(os.getpid())); \
         os.rename('{READY}.tmp','{READY}'); time.sleep(1e9)"
    );
    shell(
        m,
        &format!(
            "rm -f {READY}; setsid nohup python3 -c \"{script}\" >/dev/null 2>&1 </dev/null &"
        ),
    )
    .await?;
    let deadline = Instant::now() + TOUCH_DEADLINE;
    loop {
        let out = shell(m, &format!("cat {READY} 2>/dev/null || true")).await?;
        if let Ok(pid) = out.trim().parse() {
            return Ok(pid);
        }
        if Instant::now() > deadline {
            return Err(BenchError::Guest(format!(
                "{TOUCH_MIB} MiB not written within {TOUCH_DEADLINE:?}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Resident memory of guest process `pid` in KiB (an error if it is gone).
async fn touched_rss_kib(m: &Machine, pid: u32) -> Result<u64, BenchError> {
    let status = shell(m, &format!("cat /proc/{pid}/status")).await?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| BenchError::Guest(format!("the touching process {pid} is gone")))
}

/// Run `cmd` with bash in the guest; its stdout, or an error unless it exits 0.
async fn shell(m: &Machine, cmd: &str) -> Result<String, BenchError> {
    let req = ExecRequest {
        shell: Some(cmd.into()),
        ..Default::default()
    };
    let out = within(m.exec(req, None)).await??;
    if out.result.exit_code != Some(0) {
        return Err(BenchError::Guest(format!(
            "`{cmd}` ended with {:?}: {}",
            out.result,
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The trivial command whose answer ends each timed step.
async fn answer(m: &Machine) -> Result<(), BenchError> {
    let req = ExecRequest {
        argv: vec!["true".into()],
        ..Default::default()
    };
    let out = within(m.exec(req, None)).await??;
    match out.result.exit_code {
        Some(0) => Ok(()),
        _ => Err(BenchError::Guest(format!(
            "`true` ended with {:?}",
            out.result
        ))),
    }
}

/// `fut`, or an error after [`ANSWER_TIMEOUT`].
async fn within<T>(fut: impl Future<Output = T>) -> Result<T, BenchError> {
    tokio::time::timeout(ANSWER_TIMEOUT, fut)
        .await
        .map_err(|_| BenchError::Guest(format!("no answer within {ANSWER_TIMEOUT:?}")))
}

/// Median in ms of a [`stats`] object.
fn p50(stats: &Value) -> f64 {
    stats["p50_ms"].as_f64().expect("p50_ms")
}

/// Allocated bytes (`st_blocks * 512`) of everything under `path`.
fn allocated(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(md) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    let below: u64 = if md.is_dir() {
        std::fs::read_dir(path)
            .map(|rd| rd.flatten().map(|e| allocated(&e.path())).sum())
            .unwrap_or(0)
    } else {
        0
    };
    md.blocks() * 512 + below
}

/// Figures of the pause/resume cycles.
struct Cycles {
    pause: Vec<Duration>,
    resume: Vec<Duration>,
    /// Largest allocated size of the machine directory while paused.
    disk_bytes: u64,
    /// Largest allocated size of the saved state while paused.
    state_bytes: u64,
}

async fn pause_resume(rt: &Runtime, id: &MachineId, n: usize) -> Result<Cycles, BenchError> {
    let dir = rt.machine(id)?.dir().to_owned();
    let mut c = Cycles {
        pause: Vec::new(),
        resume: Vec::new(),
        disk_bytes: 0,
        state_bytes: 0,
    };
    for _ in 0..n {
        let t = Instant::now();
        rt.pause(id).await?;
        c.pause.push(t.elapsed());
        if !rt.is_paused(id) {
            return Err(BenchError::Guest(format!("{id} is not paused after pause")));
        }
        c.disk_bytes = c.disk_bytes.max(allocated(&dir));
        let state = std::fs::read_dir(&dir)
            .map(|rd| {
                rd.flatten()
                    .filter(|e| e.file_name().to_string_lossy().contains("state"))
                    .map(|e| allocated(&e.path()))
                    .sum()
            })
            .unwrap_or(0);
        c.state_bytes = c.state_bytes.max(state);
        let t = Instant::now();
        let m = rt.resume(id).await?;
        answer(&m).await?;
        c.resume.push(t.elapsed());
    }
    Ok(c)
}

/// Figures of the snapshots; the last one is kept for the creates.
struct Snapshots {
    create: Vec<Duration>,
    stall: Vec<Duration>,
    size_bytes: u64,
    kept: SnapshotId,
}

async fn snapshots(
    rt: &Runtime,
    id: &MachineId,
    n: usize,
    left: &mut Leftovers,
) -> Result<Snapshots, BenchError> {
    let (mut create, mut stall, mut size_bytes) = (Vec::new(), Vec::new(), 0);
    let mut kept = None;
    for i in 0..n {
        let t = Instant::now();
        let info = rt.snapshot(id).await?;
        create.push(t.elapsed());
        left.snapshots.push(info.id.clone());
        stall.push(Duration::from_millis(info.pause_ms));
        size_bytes = size_bytes.max(info.size_bytes());
        if i + 1 < n {
            rt.delete_snapshot(&info.id)?;
            left.snapshots.retain(|s| *s != info.id);
        } else {
            kept = Some(info.id);
        }
    }
    Ok(Snapshots {
        create,
        stall,
        size_bytes,
        kept: kept.expect("at least one snapshot"),
    })
}

/// Creates from the template and from snapshot `snap` (each to its first answered
/// command), interleaved with their floors so that noise hits all alike.
async fn creates(
    rt: &Runtime,
    cfg: &RuntimeConfig,
    template: &Template,
    snap: &SnapshotId,
    n: usize,
) -> Result<Value, BenchError> {
    let info = rt.snapshot_info(snap)?;
    let bare_template = BareRestore::new(cfg, "t", RestoreSource::template(template))
        .await?
        .to_first_command();
    let bare_snapshot = match BareRestore::new(cfg, "s", RestoreSource::snapshot(&info)).await {
        Ok(b) => b.to_first_command(),
        Err(e) => {
            bare_template.close().await;
            return Err(e.into());
        }
    };
    let (mut floor_t, mut floor_s) = (Vec::new(), Vec::new());
    let (mut floor_save, mut floor_switch, mut floor_stall) = (Vec::new(), Vec::new(), Vec::new());
    let (mut from_t, mut from_s, mut verify) = (Vec::new(), Vec::new(), Vec::new());
    let measured = async {
        for _ in 0..n {
            floor_t.push(bare_template.sample().await?);
            let bare = bare_snapshot.sample_with_save().await?;
            floor_s.push(bare.restore);
            floor_save.push(bare.save);
            floor_switch.push(bare.disk_switch);
            floor_stall.push(bare.stall);

            let t = Instant::now();
            let m = rt.create_machine(template).await?;
            answer(&m).await?;
            from_t.push(t.elapsed());
            rt.destroy(m.id()).await?;

            // What a restore (and a resume) spends checking the saved files.
            let t = Instant::now();
            info.verify()?;
            verify.push(t.elapsed());

            let t = Instant::now();
            let m = rt.restore_snapshot(snap).await?;
            answer(&m).await?;
            from_s.push(t.elapsed());
            rt.destroy(m.id()).await?;
        }
        Ok::<_, BenchError>(())
    }
    .await;
    bare_template.close().await;
    bare_snapshot.close().await;
    measured?;
    let (floor_t, floor_s) = (stats(&floor_t), stats(&floor_s));
    let (from_t, from_s) = (stats(&from_t), stats(&from_s));
    let ratio = |a: &Value, b: &Value, q: &str| {
        round(a[q].as_f64().expect("ms") / b[q].as_f64().expect("ms"))
    };
    Ok(json!({
        "floor_bare_qemu_restore_template": floor_t,
        "floor_bare_qemu_restore_snapshot": floor_s,
        "floor_bare_qemu_save": {
            "source_stall": stats(&floor_stall),
            "of_which_save_full": stats(&floor_save),
            "of_which_disk_switch": stats(&floor_switch),
        },
        "create_from_template": from_t,
        "create_from_snapshot": from_s,
        "snapshot_verify": stats(&verify),
        "create_from_snapshot_vs_template": {
            "p50": ratio(&from_s, &from_t, "p50_ms"),
            "p95": ratio(&from_s, &from_t, "p95_ms"),
        },
        "floor_snapshot_vs_template_p50": ratio(&floor_s, &floor_t, "p50_ms"),
        "create_from_template_p50_over_floor_p50": ratio(&from_t, &floor_t, "p50_ms"),
        "create_from_snapshot_p50_over_floor_p50": ratio(&from_s, &floor_s, "p50_ms"),
    }))
}

/// `reps` forks of `id` into `n` children, each timed to all children answering;
/// the children are destroyed after each. The first fork's children are checked
/// to hold the touched memory.
async fn fork(
    rt: &Runtime,
    id: &MachineId,
    n: usize,
    reps: usize,
    pid: u32,
) -> Result<Value, BenchError> {
    let (mut stall, mut forked, mut answering) = (Vec::new(), Vec::new(), Vec::new());
    for rep in 0..reps {
        let ids = (0..n).map(|_| MachineId::random()).collect();
        let t = Instant::now();
        let fork = rt.fork(id, ids).await?;
        forked.push(t.elapsed());
        let answered = answer_all(&fork.children).await;
        answering.push(t.elapsed());
        stall.push(Duration::from_millis(fork.stall_ms));
        let mut checked = answered;
        if checked.is_ok() && rep == 0 {
            for c in &fork.children {
                if let Err(e) = touched_rss_kib(c, pid).await {
                    checked = Err(e);
                    break;
                }
            }
        }
        for c in &fork.children {
            rt.destroy(c.id()).await?;
        }
        checked?;
    }
    Ok(json!({
        "children": n,
        "source_stall": stats(&stall),
        "fork_returned": stats(&forked),
        "all_children_answering": stats(&answering),
    }))
}

/// Send the trivial command to all `machines` at once; the first error, if any.
async fn answer_all(machines: &[Arc<Machine>]) -> Result<(), BenchError> {
    let mut set = tokio::task::JoinSet::new();
    for m in machines {
        let m = m.clone();
        set.spawn(async move { answer(&m).await });
    }
    let mut result = Ok(());
    while let Some(r) = set.join_next().await {
        let r = r.unwrap_or_else(|e| Err(BenchError::Guest(format!("command task: {e}"))));
        result = result.and(r);
    }
    result
}
