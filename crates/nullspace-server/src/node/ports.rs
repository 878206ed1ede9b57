//! Connections to machine ports, for the preview proxy.

use tokio::io::{AsyncRead, AsyncWrite};

/// A byte stream both ways.
pub trait PortIo: AsyncRead + AsyncWrite + Send + Unpin {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin> PortIo for T {}

/// A connection to a TCP port inside a machine.
pub type PortStream = Box<dyn PortIo>;
