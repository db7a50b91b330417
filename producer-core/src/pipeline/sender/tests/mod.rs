//! Runtime-free tests of the sender: each drives [`super::SenderState`] by hand
//! through [`harness::Harness`] (a fake clock, fake connections, real Kafka
//! request and response bytes) and checks what it wrote and how it resolved.

pub(crate) mod harness;

mod close;
mod compression;
mod connections;
pub(crate) mod expiry;
pub(crate) mod fixes;
mod handshake;
#[cfg(feature = "bug-injection")]
mod hooks;
mod hostile;
mod identity;
mod memory;
mod metadata;
mod retries;
pub(crate) mod timers;

use std::time::Duration;

/// Milliseconds.
pub(crate) fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}
