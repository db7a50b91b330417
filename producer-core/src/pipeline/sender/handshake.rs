//! The first exchange on every connection: the sender writes ApiVersions (v2,
//! correlation id 0) once the driver reports the socket up, and the answer
//! decides the versions of every later request. The dial's deadline
//! (`request_timeout` from the dial) covers connecting and this answer alike.

use super::{DriverCommand, SenderState};
use crate::clock::Instant;
use crate::wire::{requests, responses};
use bytes::Bytes;

impl SenderState {
    /// The socket of `broker`'s dial `generation` is up: ask for its versions.
    pub(super) fn start_handshake(&mut self, broker: i32, generation: u64) {
        if !self.conns.connected(broker, generation) {
            return;
        }
        let frame = requests::api_versions_request(0, &self.client_id).into();
        self.out.push(DriverCommand::Write {
            broker,
            generation,
            frame,
        });
    }

    /// The ApiVersions answer of `broker`'s connection `generation`: agree on
    /// versions, or drop the connection (the broker lacks an API the producer
    /// needs, or the answer does not decode).
    pub(super) fn on_api_versions(
        &mut self,
        broker: i32,
        generation: u64,
        body: Bytes,
        now: Instant,
    ) {
        match responses::api_versions(body, self.config.idempotence) {
            Ok(versions) => self.conns.negotiated(broker, generation, versions),
            Err(reason) => self.drop_connection(broker, reason, now),
        }
    }
}
