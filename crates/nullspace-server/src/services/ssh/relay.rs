//! The SSH relay: a russh server that takes only OpenSSH user certificates of
//! this server's CA whose grant stands (see [`super::access::authorize`]), and
//! serves session channels ([`super::session`]) and `direct-tcpip` forwards
//! ([`super::forward`]) into the machine named by the login.

use std::sync::Arc;
use std::time::Duration;

use nullspace_types::MachineId;
use russh::keys::ssh_key::public::KeyData;
use russh::keys::Certificate;
use russh::server::{Auth, ChannelOpenHandle, Msg, Session};
use russh::{Channel, ChannelId, ChannelOpenFailure, MethodKind, MethodSet};
use tokio::net::TcpListener;

use super::{access, forward, keys, session};
use crate::auth::Tenant;
use crate::state::AppState;

/// An authenticated login: whose, which machine, by which grant and key.
#[derive(Debug, Clone)]
pub struct Login {
    /// The tenant that owns the machine and the grant.
    pub tenant: Tenant,
    /// The machine.
    pub machine: MachineId,
    /// The grant id.
    pub access: String,
    /// The user's key the certificate is for.
    pub key: KeyData,
}

/// Why the relay could not start.
#[derive(Debug, thiserror::Error)]
#[error("SSH relay: {0}")]
pub struct RelayError(String);

/// Serve SSH on `listener` until the process ends.
pub async fn serve(state: AppState, listener: TcpListener) -> Result<(), RelayError> {
    let keys = keys(&state).await.map_err(|e| RelayError(e.message))?;
    let config = Arc::new(russh::server::Config {
        keys: vec![keys.host().clone()],
        methods: MethodSet::from(&[MethodKind::PublicKey][..]),
        auth_rejection_time: Duration::from_millis(300),
        auth_rejection_time_initial: Some(Duration::ZERO),
        inactivity_timeout: Some(Duration::from_secs(3600)),
        keepalive_interval: Some(Duration::from_secs(30)),
        ..Default::default()
    });
    loop {
        let (socket, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("ssh accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        // Small packets (keystrokes, exit statuses) go out at once; russh sets
        // this only on sockets it accepts itself.
        let _ = socket.set_nodelay(true);
        let handler = Conn {
            state: state.clone(),
            login: None,
        };
        let config = config.clone();
        tokio::spawn(async move {
            match russh::server::run_stream(config, socket, handler).await {
                Ok(running) => {
                    if let Err(e) = running.await {
                        tracing::debug!(%peer, "ssh session ended: {e}");
                    }
                }
                Err(e) => tracing::debug!(%peer, "ssh handshake: {e}"),
            }
        });
    }
}

/// One client connection.
struct Conn {
    state: AppState,
    login: Option<Login>,
}

fn now() -> i64 {
    crate::store::now().1
}

impl Conn {
    /// The login, if its grant still stands now.
    async fn standing(&self) -> Option<Login> {
        let login = self.login.clone()?;
        match access::authorize(
            &self.state,
            &login.machine,
            &login.access,
            &login.key,
            now(),
        )
        .await
        {
            Ok(_) => Some(login),
            Err(e) => {
                tracing::info!(machine = %login.machine, access = %login.access, "ssh channel refused: {e}");
                None
            }
        }
    }
}

impl russh::server::Handler for Conn {
    type Error = russh::Error;

    async fn auth_openssh_certificate(
        &mut self,
        user: &str,
        cert: &Certificate,
    ) -> Result<Auth, Self::Error> {
        let Ok(machine) = user.parse::<MachineId>() else {
            tracing::info!(user, "ssh login refused: the user is not a machine id");
            return Ok(Auth::reject());
        };
        let Ok(keys) = keys(&self.state).await else {
            return Ok(Auth::reject());
        };
        if let Err(e) = keys.check(cert, user, now().max(0) as u64) {
            tracing::info!(machine = %machine, "ssh login refused: {e}");
            return Ok(Auth::reject());
        }
        let key = cert.public_key().clone();
        match access::authorize(&self.state, &machine, cert.key_id(), &key, now()).await {
            Ok(tenant) => {
                tracing::info!(machine = %machine, access = cert.key_id(), "ssh login");
                self.login = Some(Login {
                    tenant,
                    machine,
                    access: cert.key_id().to_owned(),
                    key,
                });
                Ok(Auth::Accept)
            }
            Err(e) => {
                tracing::info!(machine = %machine, access = cert.key_id(), "ssh login refused: {e}");
                Ok(Auth::reject())
            }
        }
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        match self.standing().await {
            Some(login) => {
                reply.accept().await;
                tokio::spawn(session::serve(self.state.clone(), login, channel));
            }
            None => {
                reply
                    .reject(ChannelOpenFailure::AdministrativelyProhibited)
                    .await
            }
        }
        Ok(())
    }

    async fn channel_open_direct_tcpip(
        &mut self,
        channel: Channel<Msg>,
        host: &str,
        port: u32,
        _originator_address: &str,
        _originator_port: u32,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        let Some(login) = self.standing().await else {
            reply
                .reject(ChannelOpenFailure::AdministrativelyProhibited)
                .await;
            return Ok(());
        };
        let port = match forward::target(host, port) {
            Ok(p) => p,
            Err(e) => {
                tracing::info!(machine = %login.machine, "ssh forward refused: {e}");
                reply
                    .reject(ChannelOpenFailure::AdministrativelyProhibited)
                    .await;
                return Ok(());
            }
        };
        match forward::connect(&self.state, &login, port).await {
            Ok(conn) => {
                reply.accept().await;
                tokio::spawn(forward::copy(channel, conn));
            }
            Err(why) => reply.reject(why).await,
        }
        Ok(())
    }

    async fn pty_request(
        &mut self,
        channel: ChannelId,
        _term: &str,
        _cols: u32,
        _rows: u32,
        _pix_width: u32,
        _pix_height: u32,
        _modes: &[(russh::Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        _data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)
    }

    async fn subsystem_request(
        &mut self,
        channel: ChannelId,
        name: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        if name == "sftp" {
            session.channel_success(channel)
        } else {
            session.channel_failure(channel)
        }
    }
}
