//! A server in this process over its own runtime, beside a second runtime used
//! directly, both from one image and template: the set-up of the benchmarks that
//! compare the API with the runtime (or the bare agent channel) in one run. The
//! server's SSH relay listens on a free loopback port too.

use std::path::PathBuf;
use std::sync::Arc;

use nullspace_client::Client;
use nullspace_host::agent::Agent;
use nullspace_host::image::{build_image, ImageSpec};
use nullspace_host::{Machine, Runtime, RuntimeConfig, Template};
use nullspace_server::node::HostNode;
use nullspace_server::services::ssh::{relay, RelayAddress};
use nullspace_server::store::Store;
use nullspace_server::{app, AppState, RateLimiter};

/// The runtime used directly, its template, and a client of the served one.
pub struct Served {
    /// The runtime measured directly.
    pub direct: Arc<Runtime>,
    /// Template `base` of both runtimes.
    pub template: Template,
    /// A client of the server (no practical rate limit).
    pub client: Client,
    /// The server's loopback address.
    pub addr: std::net::SocketAddr,
    /// The SSH relay's loopback address.
    pub ssh_addr: std::net::SocketAddr,
    state_dir: PathBuf,
}

impl Served {
    /// Build (or reuse) the image and template, start the server on a free
    /// loopback port; `name` names its state directory.
    pub async fn start(name: &str) -> Served {
        let mut cfg = RuntimeConfig::from_env();
        cfg.die_with_parent = true;
        let guestd: PathBuf = std::env::var_os("NULLSPACE_GUESTD")
            .map(Into::into)
            .unwrap_or_else(|| "target/x86_64-unknown-linux-gnu/release/nullspace-guestd".into());
        let image = build_image(&ImageSpec::base(&cfg.data_dir, &guestd))
            .await
            .expect("image");
        let direct = Runtime::new(cfg.clone()).await.expect("runtime");
        let template = direct
            .ensure_template("base", &image)
            .await
            .expect("template");
        let data_dir = cfg.data_dir.clone();
        let served = Runtime::new(cfg).await.expect("runtime");
        let state_dir =
            std::env::temp_dir().join(format!("ns-bench-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&state_dir).unwrap();
        let store = Store::open(&state_dir.join("state.db")).expect("store");
        let key = store.create_key("bench").expect("key").secret;
        let mut state = AppState::new(
            store,
            Arc::new(HostNode::new(
                served,
                vec![template.clone()],
                nullspace_server::node::ImageSource {
                    registries: Default::default(),
                    guestd: guestd.clone(),
                    data_dir: data_dir.clone(),
                },
            )),
            RateLimiter::new(1e6, 1e6),
        );
        let ssh = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let ssh_addr = ssh.local_addr().unwrap();
        let mut settings = (*state.settings).clone();
        settings.ssh = RelayAddress {
            host: ssh_addr.ip().to_string(),
            port: ssh_addr.port(),
        };
        state.settings = Arc::new(settings);
        tokio::spawn(relay::serve(state.clone(), ssh));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        tokio::spawn(async move {
            axum::serve(
                listener,
                app(state).into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .await
        });
        let client = Client::new(&format!("http://{addr}"), key).expect("client");
        Served {
            direct: Arc::new(direct),
            template,
            client,
            addr,
            ssh_addr,
            state_dir,
        }
    }
}

impl Served {
    /// One machine made through the API and one made by the runtime directly,
    /// with the latter's agent (the floor's channel).
    pub async fn pair(&self) -> (nullspace_api::Machine, Arc<Machine>, Agent) {
        let api = self
            .client
            .create_machine(&nullspace_api::CreateMachineRequest::default())
            .await
            .expect("create through the API");
        let direct = self
            .direct
            .create_machine(&self.template)
            .await
            .expect("create directly");
        let agent = direct.agent().expect("agent").clone();
        (api, direct, agent)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.state_dir);
    }
}

/// The value of `--name N` on the command line, or `default`.
pub fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
