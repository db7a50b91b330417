//! [`TurmoilNetwork`]: the producer's [`Network`] over turmoil's simulated TCP.

use producer_core::network::{BoxConnection, ConnectFuture, Network};
use std::io;

/// Connects through `turmoil::net`, so producer traffic crosses the simulated
/// network with its latency, partitions, holds and crashes.
#[derive(Clone, Copy, Debug, Default)]
pub struct TurmoilNetwork;

impl Network for TurmoilNetwork {
    fn connect(&self, addr: &str) -> ConnectFuture {
        let target = addr
            .rsplit_once(':')
            .and_then(|(host, port)| Some((host.to_string(), port.parse::<u16>().ok()?)));
        Box::pin(async move {
            let (host, port) = target.ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidInput, "address is not host:port")
            })?;
            let stream = turmoil::net::TcpStream::connect((host, port)).await?;
            Ok(Box::new(stream) as BoxConnection)
        })
    }
}
