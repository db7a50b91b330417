//! The sender as sans-I/O state: every decision the producer makes after a
//! record is buffered (connections, metadata, producer id and epoch bumps,
//! packing produce requests, retries, expiry, resolution), with no socket, no
//! task and no clock of its own. quinn-proto's `Connection` is the model.
//!
//! [`SenderState`]'s methods come in three kinds, called in this order by its
//! driver (`super::driver`), or by a test stepping it by hand:
//!
//! - `handle_*`: events in. A connection's socket came up or closed, a response
//!   frame arrived, a flush or close was asked for. Those that need it take the
//!   current time, a plain [`crate::clock::Instant`] the driver hands in.
//! - [`SenderState::poll`]: time passing. Does the work that is due at `now`
//!   (expire, time out requests, bump the epoch, ask for metadata and a producer
//!   id, pack produce requests, dial brokers, answer flushes), reading batches
//!   from the produce set the caller lends it (`&mut Accumulator`, locked once
//!   per turn by the driver).
//! - `poll_*`: actions out. [`SenderState::poll_action`] drains what the driver
//!   must do (dial a broker, write a frame, drop a connection, answer a flush or
//!   a close, release buffer memory, count records out, publish metadata, tell
//!   the observer: see `outbox.rs`); [`SenderState::poll_timeout`] says when to
//!   call `poll` again.
//!
//! The state touches no runtime primitive: no semaphore, no `Notify`, no atomic
//! and no observer. The one thing it does in place is complete the records'
//! futures (`BatchCompletion`), so a test sees a result as soon as the state
//! decided it. The handshake (ApiVersions) is the state's too (`handshake.rs`):
//! the connection task only moves bytes.
//!
//! Because the state only ever changes in these calls, the sender's behaviour is
//! a function of the order of events, which is what makes simulation runs
//! replay bit for bit.

mod batches;
mod conns;
mod handshake;
mod identity;
mod injected;
mod metadata;
mod outbox;
mod packing;
mod policy;
mod resolve;
mod split;
mod timer;

#[cfg(test)]
pub(crate) mod tests;

use super::Accumulator;
use crate::clock::Instant;
use crate::config::Config;
use crate::idempotence::Idempotence;
use crate::observe::Event;
use crate::produce_set::TopicPartition;
use crate::wire::frame::{self, OutFrame};
use crate::wire::requests::Versions;
use batches::{Held, PartitionState};
use bytes::Bytes;
use conns::{Conns, RequestKind};
use identity::IdRequest;
use metadata::MetadataState;
pub(crate) use outbox::DriverCommand;
use outbox::Outbox;
use std::collections::BTreeMap;
use std::sync::Arc;
use timer::{Timer, TimerTable};

/// The sender's whole state. See the module documentation for how to drive it.
pub(crate) struct SenderState {
    /// The producer's configuration.
    config: Config,
    /// The client id once, shared by every request header.
    client_id: Arc<str>,
    /// The cluster as this producer knows it, and when to ask again.
    metadata: MetadataState,
    /// Protocol state of each broker connection.
    conns: Conns,
    /// Ordering state of every partition with batches in flight or waiting to be
    /// sent again; a partition leaves the map once it is idle.
    partitions: BTreeMap<TopicPartition, PartitionState>,
    /// Every unresolved batch the sender holds, for flushes and expiry.
    held: Held,
    /// Producer id, epoch and sequence numbers.
    idempotence: Idempotence,
    /// The InitProducerId request: in flight, or when to ask again.
    producer_id: IdRequest,
    /// Flushes waiting: every send id below `upto` must resolve first.
    flushes: Vec<(u64, u64)>,
    /// Tokens of closes waiting for the pipeline to drain.
    closers: Vec<u64>,
    /// A close was asked for (or every handle is gone): drain, then stop.
    closing: bool,
    /// Set by `poll` once closing and nothing is left: the driver stops.
    finished: bool,
    /// Rotates which partition packs first into a request, so one busy
    /// partition cannot starve the others of request space.
    drain_cursor: usize,
    /// The deadlines the driver sleeps until, one named slot each.
    timers: TimerTable,
    /// Requests written and not answered yet (`Stats` reads it).
    in_flight_requests: usize,
    /// What the driver must do, in order.
    out: Outbox,
}

impl SenderState {
    /// Fresh state for a producer with `config` (validated); events for an
    /// observer are built only when `observed`.
    pub fn new(config: Config, observed: bool) -> Self {
        SenderState {
            client_id: config.client_id.as_str().into(),
            idempotence: Idempotence::new(config.idempotence).with_bugs(config.bugs),
            metadata: MetadataState::default(),
            conns: Conns::default(),
            partitions: BTreeMap::new(),
            held: Held::default(),
            producer_id: IdRequest::default(),
            flushes: Vec::new(),
            closers: Vec::new(),
            closing: false,
            finished: false,
            drain_cursor: 0,
            timers: TimerTable::default(),
            in_flight_requests: 0,
            out: Outbox::new(observed),
            config,
        }
    }

    /// The producer's configuration.
    fn config(&self) -> &Config {
        &self.config
    }

    // ----- events in ------------------------------------------------------------

    /// The dial `generation` of `broker` connected: the handshake starts.
    pub fn handle_connected(&mut self, broker: i32, generation: u64) {
        self.start_handshake(broker, generation);
    }

    /// The connection `broker`/`generation` failed or closed.
    pub fn handle_closed(&mut self, broker: i32, generation: u64, reason: String, now: Instant) {
        if self.conns.is_current(broker, generation) {
            self.drop_connection(broker, reason, now);
        }
    }

    /// A response frame (header included, size prefix stripped) arrived on
    /// `broker`/`generation`.
    pub fn handle_response(&mut self, broker: i32, generation: u64, body: Bytes, now: Instant) {
        if self.conns.is_handshaking(broker, generation) {
            return self.on_api_versions(broker, generation, body, now);
        }
        let correlation = frame::peek_correlation_id(&body);
        match self.conns.take_response(broker, generation, correlation) {
            Ok(None) => {}
            Err(reason) => self.drop_connection(broker, reason, now),
            Ok(Some(req)) => {
                self.in_flight_requests -= 1;
                if let Err(reason) = self.on_response(req.kind, body, now) {
                    self.drop_connection(broker, reason, now);
                }
            }
        }
    }

    /// Answer `token` once every record with a send id below `upto` resolved.
    pub fn handle_flush(&mut self, upto: u64, token: u64) {
        self.flushes.push((upto, token));
    }

    /// Deliver (or fail) everything, then stop; answer `token` when done.
    /// `None`: every producer handle is gone and nobody waits.
    pub fn handle_close(&mut self, token: Option<u64>) {
        self.closing = true;
        if let Some(token) = token {
            if self.config().bugs.close_returns_early() {
                self.out.push(DriverCommand::CloseDone(token));
            } else {
                self.closers.push(token);
            }
        }
    }

    // ----- time passing -----------------------------------------------------------

    /// Does everything that is due at `now`.
    pub fn poll(&mut self, now: Instant, accum: &mut Accumulator) {
        self.expire(now, accum);
        self.time_out_requests(now);
        self.maybe_start_bump();
        self.request_metadata(now, accum);
        self.request_producer_id(now);
        self.send_produce(now, accum);
        self.connect_where_needed(now, accum);
        // Packing and dialling may have found the metadata stale (a partition
        // without a leader, a leader without an address): ask in this turn, as
        // nothing else would wake the sender for it.
        self.request_metadata(now, accum);
        self.answer_flushes(accum);
        self.finished =
            self.closing && self.held.is_empty() && accum.produce_set.buffered_records() == 0;
        self.refresh_timers(now, accum);
    }

    // ----- actions out -------------------------------------------------------------

    /// The next thing the driver must do.
    pub fn poll_action(&mut self) -> Option<DriverCommand> {
        self.out.pop()
    }

    /// Requests written to brokers and not answered yet.
    pub fn in_flight_requests(&self) -> usize {
        self.in_flight_requests
    }

    /// When `poll` must run again at the latest (events may call for it sooner).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next_timeout().map(|(_, at)| at)
    }

    /// Which deadline [`Self::poll_timeout`] is.
    #[cfg(test)]
    pub fn next_timer(&self) -> Option<(Timer, Instant)> {
        self.timers.next_timeout()
    }

    /// Closing, and nothing is left to deliver: the driver stops.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Ends every connection (only resolved batches or metadata and producer-id
    /// requests can be unanswered here, and nobody waits for them), returns the
    /// memory they held and answers every waiting close and flush.
    pub fn shutdown(&mut self) {
        for (broker, generation, in_flight) in self.conns.drain() {
            self.in_flight_requests -= in_flight.len();
            for req in in_flight {
                if let RequestKind::Produce { batches, .. } = req.kind {
                    batches.into_iter().for_each(|b| self.release(b));
                }
            }
            self.out
                .push(DriverCommand::Disconnect { broker, generation });
        }
        let closers = std::mem::take(&mut self.closers);
        self.out
            .extend(closers.into_iter().map(DriverCommand::CloseDone));
        let flushes = std::mem::take(&mut self.flushes);
        self.out.extend(
            flushes
                .into_iter()
                .map(|(_, t)| DriverCommand::FlushDone(t)),
        );
    }

    // ----- internals ------------------------------------------------------------

    /// Flushing or closing: batches go at once, without lingering.
    fn force_drain(&self) -> bool {
        self.closing || !self.flushes.is_empty()
    }

    /// Answers every flush whose records have all resolved.
    fn answer_flushes(&mut self, accum: &Accumulator) {
        if self.flushes.is_empty() {
            return;
        }
        let oldest = [
            accum.produce_set.oldest_send_id(),
            self.held.oldest_send_id(),
        ]
        .into_iter()
        .flatten()
        .min();
        let (done, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.flushes)
            .into_iter()
            .partition(|(upto, _)| oldest.is_none_or(|o| o >= *upto));
        self.flushes = waiting;
        self.out
            .extend(done.into_iter().map(|(_, t)| DriverCommand::FlushDone(t)));
    }

    /// Sets every timer slot from the state that owns it: each slot is the
    /// earliest of its deadlines *after* `now`. Deadlines at or before `now`
    /// were handled by this turn (or wait on something else, which wakes the
    /// sender itself); taking the minimum before dropping them would let a
    /// passed deadline hide a later one, and the sender would sleep through it
    /// (a broker's ended backoff hid another's, and retries waited for the
    /// delivery timeout: swarm seed 12).
    fn refresh_timers(&mut self, now: Instant, accum: &Accumulator) {
        let delivery = self.config().delivery_timeout;
        let bugs = self.config().bugs;
        let earliest = |deadlines: &mut dyn Iterator<Item = Instant>| {
            if bugs.passed_deadline_hides_later() {
                deadlines.min()
            } else {
                deadlines.filter(|&t| t > now).min()
            }
        };
        let linger = if self.force_drain() {
            None
        } else {
            earliest(&mut accum.produce_set.linger_deadlines())
        };
        let oldest = [
            accum.produce_set.oldest_created(),
            self.held.oldest_created(),
        ]
        .into_iter()
        .flatten()
        .min();
        let backoff = earliest(
            &mut self
                .partitions
                .values()
                .filter(|ps| !ps.retry.is_empty())
                .filter_map(|ps| ps.backoff_until),
        );
        let slots = [
            (Timer::Linger, linger),
            (Timer::DeliveryExpiry, oldest.map(|c| c + delivery)),
            (Timer::RetryBackoff, backoff),
            (Timer::RequestTimeout, self.conns.next_request_deadline()),
            (
                Timer::ConnectionBackoff,
                earliest(&mut self.conns.backoff_ends()),
            ),
            (Timer::MetadataRetry, self.metadata.refresh.retry_at()),
            (Timer::ProducerIdRetry, self.producer_id.retry_at()),
        ];
        for (timer, at) in slots {
            self.timers.set(timer, at.filter(|&t| t > now));
        }
    }

    /// Writes one request to ready `broker`; `build` gets the negotiated
    /// versions and the correlation id.
    fn send_request(
        &mut self,
        broker: i32,
        now: Instant,
        build: impl FnOnce(&Versions, i32) -> (OutFrame, RequestKind),
    ) {
        let deadline = now + self.config().request_timeout;
        if let Some((generation, frame)) = self.conns.push(broker, deadline, build) {
            self.out.push(DriverCommand::Write {
                broker,
                generation,
                frame,
            });
            self.in_flight_requests += 1;
        }
    }

    /// Closes a connection: every unanswered request on it gets no answer.
    fn drop_connection(&mut self, broker: i32, reason: String, now: Instant) {
        let (generation, in_flight) = self.conns.close(broker, now + self.config().retry_backoff);
        let Some(generation) = generation else {
            return;
        };
        self.out
            .push(DriverCommand::Disconnect { broker, generation });
        self.in_flight_requests -= in_flight.len();
        let unanswered = in_flight.len();
        self.out.emit(|| Event::ConnectionLost {
            broker,
            reason,
            unanswered,
        });
        self.metadata.refresh.mark_stale();
        for req in in_flight {
            self.on_no_answer(req.kind, now);
        }
    }

    /// Drops connections whose oldest request got no answer in time.
    fn time_out_requests(&mut self, now: Instant) {
        let timeout = self.config().request_timeout;
        for (id, handshake) in self.conns.late(now) {
            let reason = if handshake {
                format!("connect and ApiVersions timed out after {timeout:?}")
            } else {
                format!("request timed out after {timeout:?}")
            };
            self.drop_connection(id, reason, now);
        }
    }

    /// A response body for a request of `kind`. `Err`: the connection is
    /// unusable (undecodable response) and must be dropped.
    fn on_response(&mut self, kind: RequestKind, body: Bytes, now: Instant) -> Result<(), String> {
        match kind {
            RequestKind::Metadata { version } => self.on_metadata_response(version, body, now),
            RequestKind::InitProducerId { version } => {
                self.on_init_producer_id_response(version, body, now)
            }
            RequestKind::Produce { version, batches } => {
                self.on_produce_response(version, batches, body, now)
            }
        }
    }

    /// A request of `kind` will get no answer (its connection is gone).
    fn on_no_answer(&mut self, kind: RequestKind, now: Instant) {
        match kind {
            RequestKind::Produce { batches, .. } => {
                for batch in batches {
                    self.on_answer(batch, policy::Answer::Missing, now);
                }
            }
            RequestKind::Metadata { .. } => self.metadata_failed(now),
            RequestKind::InitProducerId { .. } => self.producer_id_failed(now),
        }
    }
}
