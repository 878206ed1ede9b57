//! `nullspace-runtime image ...`: guest image commands.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use nullspace_host::image::{self, ImageError, ImageSpec};

/// Default guestd location, relative to the current directory.
const DEFAULT_GUESTD: &str = "target/x86_64-unknown-linux-gnu/release/nullspace-guestd";

/// Data directory when neither `--data-dir` nor `NULLSPACE_DATA_DIR` is given.
const DEFAULT_DATA_DIR: &str = "/var/lib/nullspace";

/// Arguments of `image`.
#[derive(Args)]
pub struct ImageArgs {
    #[command(subcommand)]
    command: ImageCommand,
}

#[derive(Subcommand)]
enum ImageCommand {
    /// Build the base image (cached: a rebuild with unchanged inputs is instant).
    Build(BuildArgs),
}

#[derive(Args)]
struct BuildArgs {
    /// Nullspace data directory [default: $NULLSPACE_DATA_DIR, else /var/lib/nullspace].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// The static nullspace-guestd binary.
    #[arg(long, default_value = DEFAULT_GUESTD)]
    guestd: PathBuf,
    /// Print the artefact paths as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs an `image` subcommand.
pub async fn run(args: ImageArgs) -> Result<(), ImageError> {
    match args.command {
        ImageCommand::Build(args) => build(args).await,
    }
}

async fn build(args: BuildArgs) -> Result<(), ImageError> {
    if !args.guestd.is_file() {
        return Err(ImageError::GuestdMissing { path: args.guestd });
    }
    let data_dir = args
        .data_dir
        .or_else(|| std::env::var_os("NULLSPACE_DATA_DIR").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
    let spec = ImageSpec::base(data_dir, args.guestd);
    let artifacts = image::build_image(&spec).await?;
    if args.json {
        let json = serde_json::to_string_pretty(&artifacts).expect("artifacts serialise");
        println!("{json}");
    } else {
        println!("key      {}", artifacts.key);
        println!("dir      {}", artifacts.dir.display());
        println!("vmlinux  {}", artifacts.vmlinux.display());
        println!("initrd   {}", artifacts.initrd.display());
        println!("rootfs   {}", artifacts.rootfs.display());
        println!("kernel   {}", artifacts.kernel_release);
    }
    Ok(())
}
