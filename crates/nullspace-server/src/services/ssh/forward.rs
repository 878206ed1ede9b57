//! `direct-tcpip` channels (`ssh -L`): a connection to a port of the machine,
//! made inside its own network, copied both ways.

use russh::server::Msg;
use russh::{Channel, ChannelOpenFailure};

use super::relay::Login;
use crate::services::lifecycle;
use crate::state::AppState;

/// Hosts a forward may name: the machine itself.
const LOCAL_HOSTS: &[&str] = &["localhost", "127.0.0.1", "::1", "10.0.2.2"];

/// Why a forward is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ForwardRefusal {
    /// The host is not the machine.
    #[error("forwards reach the machine only (localhost), not {0}")]
    Host(String),
    /// Not a TCP port.
    #[error("port {0} is not a TCP port")]
    Port(u32),
}

/// The machine port a `direct-tcpip` request names.
pub fn target(host: &str, port: u32) -> Result<u16, ForwardRefusal> {
    if !LOCAL_HOSTS.contains(&host) {
        return Err(ForwardRefusal::Host(host.to_owned()));
    }
    match u16::try_from(port) {
        Ok(p) if p != 0 => Ok(p),
        _ => Err(ForwardRefusal::Port(port)),
    }
}

/// Connect to `port` of the machine (waking it when it auto-resumes); the
/// connection, or why it cannot be made.
pub async fn connect(
    state: &AppState,
    login: &Login,
    port: u16,
) -> Result<crate::node::PortStream, ChannelOpenFailure> {
    if let Err(e) = lifecycle::running(state, &login.tenant, &login.machine).await {
        tracing::info!(machine = %login.machine, "ssh forward refused: {}", e.message);
        return Err(ChannelOpenFailure::AdministrativelyProhibited);
    }
    state
        .node
        .connect_port(&login.machine, port)
        .await
        .map_err(|e| {
            tracing::info!(machine = %login.machine, port, "ssh forward: {e}");
            ChannelOpenFailure::ConnectFailed
        })
}

/// Copy between `channel` and `conn` until both sides are done.
pub async fn copy(channel: Channel<Msg>, mut conn: crate::node::PortStream) {
    let mut stream = channel.into_stream();
    let _ = tokio::io::copy_bidirectional(&mut stream, &mut conn).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_machine_ports_are_targets() {
        assert_eq!(target("localhost", 8000), Ok(8000));
        assert_eq!(target("127.0.0.1", 22), Ok(22));
        assert_eq!(
            target("example.com", 80),
            Err(ForwardRefusal::Host("example.com".into()))
        );
        assert_eq!(target("localhost", 0), Err(ForwardRefusal::Port(0)));
        assert_eq!(target("localhost", 70000), Err(ForwardRefusal::Port(70000)));
    }
}
