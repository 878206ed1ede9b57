//! The Nullspace control plane: HTTP API, auth and state over a host runtime.
//!
//! One binary is the whole single-host appliance: axum serves `/v1`, SQLite (WAL)
//! under the data dir holds tenants, hashed API keys and machines, and the host
//! runtime runs in-process behind the [`node::Node`] trait, so the HTTP layer can
//! be tested against a do-nothing node and a remote node can replace it later.
//! A machine row is written (state `starting`) before its VM exists, so a create
//! interrupted by a crash is found and cleaned up at the next start.

pub mod auth;
pub mod error;
pub mod extract;
pub mod node;
pub mod params;
pub mod reaper;
pub mod recovery;
pub mod routes;
pub mod services;
pub mod state;
pub mod store;
pub mod wire;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use routes::{app, openapi_json, table};
pub use state::{AppState, RateLimiter, Settings};

/// Settings of the server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Data directory (images, templates, machines).
    pub data_dir: PathBuf,
    /// Directory of the state database and the admin key file (default: `data_dir`).
    pub state_dir: Option<PathBuf>,
    /// Static guest agent used to build the image.
    pub guestd: PathBuf,
    /// Use the do-nothing node instead of real VMs (tests of the HTTP layer).
    pub fake_node: bool,
    /// Sustained requests per second per tenant.
    pub rate_per_second: f64,
    /// Destroy machines when the server stops (else they keep running and the
    /// next start takes them over).
    pub destroy_on_exit: bool,
    /// Seconds the records of killed and failed machines are kept.
    pub history_retention_secs: i64,
    /// Most bytes one file upload takes.
    pub max_upload_bytes: u64,
    /// Where preview URLs are served (default `http://localhost:{listen port}`).
    pub preview_base: Option<String>,
    /// Address the SSH relay listens on (port 0: any free port).
    pub ssh_listen: SocketAddr,
    /// Host name the SSH relay is advertised as (default: the listen address).
    pub ssh_host: Option<String>,
    /// Where template builds pull `from_image` images from.
    pub registries: nullspace_host::image::oci::Registries,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The state database failed.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// The runtime or template failed.
    #[error(transparent)]
    Runtime(#[from] nullspace_host::RuntimeError),
    /// The guest image could not be built.
    #[error(transparent)]
    Image(#[from] nullspace_host::image::ImageError),
    /// A setting is invalid.
    #[error("{0}")]
    Config(String),
    /// Machines of the previous run could not be settled.
    #[error("recovering machines of the previous run: {0}")]
    Recovery(String),
    /// The listener or a file failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Path of the state database.
pub fn db_path(data_dir: &Path) -> PathBuf {
    data_dir.join("state.db")
}

/// Path of the file holding the first admin key.
pub fn admin_key_path(data_dir: &Path) -> PathBuf {
    data_dir.join("admin-api-key")
}

/// Make the admin key on first start; returns where it was written.
pub fn bootstrap_admin_key(
    store: &store::Store,
    data_dir: &Path,
) -> Result<Option<PathBuf>, StartError> {
    if store.key_count()? > 0 {
        return Ok(None);
    }
    let key = store.create_key("admin")?;
    let path = admin_key_path(data_dir);
    write_secret(&path, &key.secret).map_err(|source| StartError::Io {
        what: format!("write {}", path.display()),
        source,
    })?;
    Ok(Some(path))
}

fn write_secret(path: &Path, secret: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    writeln!(f, "{secret}")
}

/// Start everything and serve until SIGINT/SIGTERM.
pub async fn run(cfg: ServerConfig) -> Result<(), StartError> {
    let preview = match &cfg.preview_base {
        Some(base) => services::previews::PreviewBase::parse(base).map_err(StartError::Config)?,
        None => services::previews::PreviewBase {
            port: Some(cfg.listen.port()),
            ..Default::default()
        },
    };
    std::fs::create_dir_all(&cfg.data_dir).map_err(|source| StartError::Io {
        what: format!("create {}", cfg.data_dir.display()),
        source,
    })?;
    let state_dir = cfg
        .state_dir
        .clone()
        .unwrap_or_else(|| cfg.data_dir.clone());
    std::fs::create_dir_all(&state_dir).map_err(|source| StartError::Io {
        what: format!("create {}", state_dir.display()),
        source,
    })?;
    let _lock = lock_state_dir(&state_dir)?;
    // Bind first: a second server on a busy port must fail before it touches state.
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .map_err(|source| StartError::Io {
            what: format!("listen on {}", cfg.listen),
            source,
        })?;
    let ssh_listener = tokio::net::TcpListener::bind(cfg.ssh_listen)
        .await
        .map_err(|source| StartError::Io {
            what: format!("listen for SSH on {}", cfg.ssh_listen),
            source,
        })?;
    let ssh = services::ssh::RelayAddress {
        host: cfg
            .ssh_host
            .clone()
            .unwrap_or_else(|| cfg.ssh_listen.ip().to_string()),
        port: ssh_listener
            .local_addr()
            .map(|a| a.port())
            .unwrap_or(cfg.ssh_listen.port()),
    };
    let store = store::Store::open(&db_path(&state_dir))?;
    if let Some(path) = bootstrap_admin_key(&store, &state_dir)? {
        tracing::info!(path = %path.display(), "created the admin API key; it is in this file");
        eprintln!(
            "nullspace-server: admin API key written to {}",
            path.display()
        );
    }
    let node: Arc<dyn node::Node> = if cfg.fake_node {
        Arc::new(node::FakeNode::default())
    } else {
        let rt_cfg = nullspace_host::RuntimeConfig::new(&cfg.data_dir);
        let image = nullspace_host::image::build_image(&nullspace_host::image::ImageSpec::base(
            &cfg.data_dir,
            &cfg.guestd,
        ))
        .await?;
        let runtime = nullspace_host::Runtime::new(rt_cfg).await?;
        let base = runtime.ensure_template("base", &image).await?;
        let source = node::ImageSource {
            registries: cfg.registries.clone(),
            guestd: cfg.guestd.clone(),
            data_dir: cfg.data_dir.clone(),
        };
        Arc::new(node::HostNode::new(runtime, vec![base], source))
    };
    let mut state = AppState::new(
        store,
        node.clone(),
        RateLimiter::new(cfg.rate_per_second, cfg.rate_per_second * 2.0),
    );
    state.settings = Arc::new(Settings {
        history_retention_secs: cfg.history_retention_secs,
        max_upload_bytes: cfg.max_upload_bytes,
        preview,
        ssh: ssh.clone(),
        contexts_dir: state_dir.join("template-contexts"),
    });
    // Subscribed before recovery, so a VM that dies meanwhile is not missed.
    let node_events = node.subscribe();
    let recovered = recovery::recover(&state)
        .await
        .map_err(|e| StartError::Recovery(e.message))?;
    if recovered != recovery::Recovered::default() {
        tracing::info!(
            adopted = recovered.adopted,
            failed = recovered.failed,
            paused = recovered.paused,
            "machines of the previous run"
        );
    }
    tokio::spawn(reaper::run(state.clone()));
    tokio::spawn(services::node_events::follow(state.clone(), node_events));
    // Made before the relay serves, so a bad store fails the start.
    services::ssh::keys(&state)
        .await
        .map_err(|e| StartError::Config(format!("SSH keys: {}", e.message)))?;
    let relay = state.clone();
    tokio::spawn(async move {
        if let Err(e) = services::ssh::relay::serve(relay, ssh_listener).await {
            tracing::error!("{e}");
        }
    });
    tracing::info!(host = %ssh.host, port = ssh.port, "serving SSH");
    eprintln!("nullspace-server: SSH relay on {}:{}", ssh.host, ssh.port);
    tracing::info!(addr = %cfg.listen, "serving /v1");
    eprintln!("nullspace-server: listening on http://{}", cfg.listen);
    // Small writes (WebSocket frames, proxied answers) go out at once.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let served = axum::serve(
        listener,
        app(state.clone()).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await;
    if cfg.destroy_on_exit {
        tracing::info!("shutting down: destroying machines");
        recovery::stop_all(&state).await;
        node.shutdown().await;
    } else {
        tracing::info!("shutting down: machines keep running and are taken over at the next start");
        node.detach();
    }
    served.map_err(|source| StartError::Io {
        what: "serve".into(),
        source,
    })
}

/// Hold an exclusive lock on the state directory for the life of the process, so
/// two servers never manage the same machines.
fn lock_state_dir(dir: &Path) -> Result<std::fs::File, StartError> {
    use std::os::fd::AsRawFd;
    let path = dir.join("server.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| StartError::Io {
            what: format!("open {}", path.display()),
            source,
        })?;
    // SAFETY: flock(2) on a descriptor owned by `file`, which outlives the call.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        return Err(StartError::Io {
            what: format!("another nullspace-server uses {}", dir.display()),
            source: std::io::Error::last_os_error(),
        });
    }
    Ok(file)
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
