//! `nullspace-runtime template build`, `run` and `accel`.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use nullspace_guest_proto::ExecRequest;
use nullspace_host::image::{build_image, ImageSpec};
use nullspace_host::{Runtime, RuntimeConfig, RuntimeError, Template};
use nullspace_vmm::Accel;
use serde_json::json;

/// Where the image and template come from.
#[derive(Args)]
pub struct Common {
    /// Nullspace data directory [default: $NULLSPACE_DATA_DIR, else /var/lib/nullspace].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// The static nullspace-guestd binary.
    #[arg(
        long,
        default_value = "target/x86_64-unknown-linux-gnu/release/nullspace-guestd"
    )]
    guestd: PathBuf,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Arguments of `run`.
#[derive(Args)]
pub struct RunArgs {
    #[command(flatten)]
    common: Common,
    /// Run as this guest user.
    #[arg(long, default_value = "user")]
    user: String,
    /// The command line, run by `bash -c` in the machine.
    #[arg(required = true, trailing_var_arg = true)]
    command: Vec<String>,
}

async fn setup(common: &Common) -> Result<(Runtime, Template), RuntimeError> {
    let mut cfg = match &common.data_dir {
        Some(d) => RuntimeConfig::new(d),
        None => RuntimeConfig::from_env(),
    };
    cfg.die_with_parent = true;
    let image = build_image(&ImageSpec::base(&cfg.data_dir, &common.guestd)).await?;
    let rt = Runtime::new(cfg).await?;
    let template = rt.ensure_template("base", &image).await?;
    Ok((rt, template))
}

/// Build (or find) the `base` template.
pub async fn template_build(common: Common) -> Result<(), RuntimeError> {
    let (_, t) = setup(&common).await?;
    if common.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&t).expect("template serializes")
        );
    } else {
        println!(
            "template {} ({}) at {}; first boot took {} ms",
            t.name,
            t.key,
            t.dir.display(),
            t.boot_ms
        );
    }
    Ok(())
}

/// Create a machine from `base`, run one command in it, print the output, destroy it.
/// Returns the command's exit code.
pub async fn run(args: RunArgs) -> Result<i32, RuntimeError> {
    let (rt, template) = setup(&args.common).await?;
    let t = Instant::now();
    let machine = rt.create_machine(&template).await?;
    let create_ms = t.elapsed().as_secs_f64() * 1000.0;
    let req = ExecRequest {
        shell: Some(args.command.join(" ")),
        user: Some(args.user),
        cwd: Some("/workspace".into()),
        ..Default::default()
    };
    let t = Instant::now();
    let out = machine.exec(req, None).await;
    let exec_ms = t.elapsed().as_secs_f64() * 1000.0;
    let destroyed = rt.destroy(machine.id()).await;
    let out = out?;
    destroyed?;
    let code = out
        .result
        .exit_code
        .unwrap_or(128 + out.result.signal.unwrap_or(0));
    if args.common.json {
        let v = json!({
            "machine_id": machine.id(),
            "stdout": String::from_utf8_lossy(&out.stdout),
            "stderr": String::from_utf8_lossy(&out.stderr),
            "exit_code": code,
            "create_ms": create_ms,
            "exec_ms": exec_ms,
        });
        println!("{v}");
    } else {
        print!("{}", String::from_utf8_lossy(&out.stdout));
        eprint!("{}", String::from_utf8_lossy(&out.stderr));
        eprintln!(
            "[machine {} created in {create_ms:.0} ms, command took {exec_ms:.0} ms, exit {code}]",
            machine.id()
        );
    }
    Ok(code)
}

/// Print the accelerator this host would use and why.
pub fn accel() {
    let c = Accel::detect();
    println!("{}: {}", c.accel.as_str(), c.reason);
}
