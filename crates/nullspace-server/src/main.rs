//! `nullspace-server`: the control plane binary.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use nullspace_server::{db_path, run, store::Store, ServerConfig};

/// Nullspace control plane.
#[derive(Parser)]
#[command(name = "nullspace-server", version, about)]
struct Cli {
    /// Data directory [default: $NULLSPACE_DATA_DIR, else /var/lib/nullspace].
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// Directory of the state database and admin key [default: the data directory].
    #[arg(long, global = true)]
    state_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:7070")]
    listen: std::net::SocketAddr,
    /// The static nullspace-guestd binary (to build the guest image).
    #[arg(
        long,
        default_value = "target/x86_64-unknown-linux-gnu/release/nullspace-guestd"
    )]
    guestd: PathBuf,
    /// Serve with a do-nothing node (no VMs; for testing clients).
    #[arg(long)]
    fake_node: bool,
    /// Sustained requests per second allowed per tenant.
    #[arg(long, default_value_t = 200.0)]
    rate: f64,
    /// What a stop does with running machines: keep them (the next start takes
    /// them over) or destroy them.
    #[arg(long, value_enum, default_value_t = OnExit::Keep)]
    on_exit: OnExit,
    /// Seconds killed and failed machines stay listed (`state=killed`) before
    /// their records are deleted.
    #[arg(long, default_value_t = nullspace_api::DEFAULT_HISTORY_RETENTION_SECS,
          value_parser = clap::value_parser!(i64).range(0..))]
    history_retention: i64,
    /// Most bytes one file upload takes (at most the API's 17179869184, 16 GiB).
    #[arg(long, default_value_t = nullspace_api::MAX_FILE_BYTES,
          value_parser = clap::value_parser!(u64).range(1..=nullspace_api::MAX_FILE_BYTES))]
    max_upload_bytes: u64,
    /// Where preview URLs are served, `http[s]://host[:port]`: machine ports are
    /// `{port}-{machine}.{host}` [default: $NULLSPACE_PREVIEW_BASE, else
    /// http://localhost:{listen port}].
    #[arg(long)]
    preview_base: Option<String>,
    /// Address the SSH relay listens on, port 0 for any free one [default:
    /// $NULLSPACE_SSH_LISTEN, else 127.0.0.1:2222].
    #[arg(long)]
    ssh_listen: Option<std::net::SocketAddr>,
    /// Host name SSH access grants give for the relay [default:
    /// $NULLSPACE_SSH_HOST, else the --ssh-listen address].
    #[arg(long)]
    ssh_host: Option<String>,
    /// Registry that image names without one (`python:3.12`) and `docker.io/…`
    /// are pulled from, `host[:port]`: point it at a mirror of Docker Hub
    /// [default: $NULLSPACE_IMAGE_REGISTRY, else docker.io].
    #[arg(long)]
    image_registry: Option<String>,
    /// A PEM file of CA certificates trusted for registries, besides the system's
    /// (repeatable).
    #[arg(long = "registry-ca")]
    registry_ca: Vec<PathBuf>,
    /// A registry `host:port` spoken to over plain HTTP (repeatable).
    #[arg(long = "insecure-registry")]
    insecure_registry: Vec<String>,
    /// The ECR API endpoint AWS registry logins call, `{region}` replaced
    /// [default: https://api.ecr.{region}.amazonaws.com/].
    #[arg(long)]
    ecr_endpoint: Option<String>,
}

/// What a stop does with running machines.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum OnExit {
    /// Keep them running; the next start takes them over.
    Keep,
    /// Destroy them.
    Destroy,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default).
    Serve,
    /// Manage API keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create an API key for a tenant (made if new) and print it.
    Create {
        /// Tenant name (1-64 characters: letters, digits, `-`, `_`, `.`).
        #[arg(long, value_parser = tenant_name)]
        tenant: String,
    },
    /// Revoke every key of a tenant.
    Revoke {
        /// Tenant name.
        #[arg(long, value_parser = tenant_name)]
        tenant: String,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let data_dir = cli
        .data_dir
        .or_else(|| std::env::var_os("NULLSPACE_DATA_DIR").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(nullspace_host::DEFAULT_DATA_DIR));
    let ssh_listen = match cli.serve.ssh_listen {
        Some(a) => a,
        None => {
            let text = std::env::var("NULLSPACE_SSH_LISTEN")
                .unwrap_or_else(|_| nullspace_server::services::ssh::DEFAULT_LISTEN.into());
            match text.parse() {
                Ok(a) => a,
                Err(e) => {
                    eprintln!("error: NULLSPACE_SSH_LISTEN={text}: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
    };
    let mut extra_ca_pem = Vec::new();
    for path in &cli.serve.registry_ca {
        match std::fs::read(path) {
            Ok(pem) => extra_ca_pem.push(pem),
            Err(e) => {
                eprintln!("error: --registry-ca {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
        }
    }
    let registries = nullspace_host::image::oci::Registries {
        default_registry: cli
            .serve
            .image_registry
            .clone()
            .or_else(|| std::env::var("NULLSPACE_IMAGE_REGISTRY").ok())
            .unwrap_or_else(|| nullspace_host::image::oci::DOCKER_HUB.to_owned()),
        insecure: cli.serve.insecure_registry.clone(),
        extra_ca_pem,
        ecr_endpoint: cli.serve.ecr_endpoint.clone(),
    };
    let result = match cli.command {
        Some(Command::Keys { command }) => {
            keys(cli.state_dir.as_deref().unwrap_or(&data_dir), command)
        }
        None | Some(Command::Serve) => run(ServerConfig {
            listen: cli.serve.listen,
            data_dir,
            state_dir: cli.state_dir,
            guestd: cli.serve.guestd,
            fake_node: cli.serve.fake_node,
            rate_per_second: cli.serve.rate,
            destroy_on_exit: cli.serve.on_exit == OnExit::Destroy,
            history_retention_secs: cli.serve.history_retention,
            max_upload_bytes: cli.serve.max_upload_bytes,
            preview_base: cli
                .serve
                .preview_base
                .or_else(|| std::env::var("NULLSPACE_PREVIEW_BASE").ok()),
            ssh_listen,
            ssh_host: cli
                .serve
                .ssh_host
                .or_else(|| std::env::var("NULLSPACE_SSH_HOST").ok()),
            registries,
        })
        .await
        .map_err(|e| e.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A tenant name: 1-64 letters, digits, `-`, `_` or `.`.
fn tenant_name(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(s.to_owned())
    } else {
        Err("a tenant name is 1-64 letters, digits, '-', '_' or '.'".into())
    }
}

/// Keys live in the state database of a server: its directory must exist and
/// hold one (a typo must not make a second, empty database the server never reads).
fn keys(state_dir: &std::path::Path, command: KeysCommand) -> Result<(), String> {
    let db = db_path(state_dir);
    if !db.is_file() {
        return Err(format!(
            "no state database at {}: start nullspace-server with this --state-dir \
             (or --data-dir) first, or pass the directory the server uses",
            db.display()
        ));
    }
    let store = Store::open(&db).map_err(|e| e.to_string())?;
    match command {
        KeysCommand::Create { tenant } => {
            let key = store.create_key(&tenant).map_err(|e| e.to_string())?;
            println!("{}", key.secret);
        }
        KeysCommand::Revoke { tenant } => {
            let n = store.revoke_keys(&tenant).map_err(|e| e.to_string())?;
            println!("revoked {n} key(s) of {tenant}");
        }
    }
    Ok(())
}
