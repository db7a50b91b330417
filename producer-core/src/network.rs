//! The network the producer runs on. The pipeline only ever calls
//! [`Network::connect`]; which network answers (real TCP, or a simulated one) is
//! the caller's choice.

use std::future::Future;
use std::io;
use std::pin::Pin;
use tokio::io::{AsyncRead, AsyncWrite};

/// A byte stream to one broker.
pub trait Connection: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Connection for T {}

/// A boxed connection, as the pipeline holds it.
pub type BoxConnection = Box<dyn Connection>;

/// The future [`Network::connect`] returns.
pub type ConnectFuture = Pin<Box<dyn Future<Output = io::Result<BoxConnection>> + Send>>;

/// Opens connections to brokers by `host:port` address.
pub trait Network: Send + Sync + 'static {
    /// Connects to `addr` (`host:port`).
    fn connect(&self, addr: &str) -> ConnectFuture;
}

/// Real TCP through tokio.
#[derive(Clone, Copy, Debug, Default)]
pub struct TokioNetwork;

impl Network for TokioNetwork {
    fn connect(&self, addr: &str) -> ConnectFuture {
        let addr = addr.to_string();
        Box::pin(async move {
            let stream = tokio::net::TcpStream::connect(addr).await?;
            stream.set_nodelay(true)?;
            Ok(Box::new(stream) as BoxConnection)
        })
    }
}
