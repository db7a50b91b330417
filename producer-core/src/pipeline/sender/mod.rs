//! The sender as sans-I/O state: every decision the producer makes after a
//! record is buffered (connections, metadata, producer id and epoch bumps,
//! packing produce requests, retries, expiry, resolution), with no socket, no
//! task and no clock of its own. quinn-proto's `Connection` is the model.
//!
//! [`SenderState`]'s methods come in three kinds, called in this order by its
//! driver (`super::driver`), or by a test stepping it by hand:
//!
//! - `handle_*`: events in. A connection became ready or closed, a response
//!   frame arrived, a flush or close was asked for. Each takes the current time.
//! - [`SenderState::poll`]: time passing. Does the work that is due at `now`
//!   (expire, time out requests, bump the epoch, ask for metadata and a producer
//!   id, pack produce requests, dial brokers, answer flushes), reading batches
//!   from the produce set the caller lends it (`&mut Accumulator`, locked once
//!   per turn by the driver).
//! - `poll_*`: actions out. [`SenderState::poll_action`] drains what the driver
//!   must do (dial a broker, write a frame, drop a connection, answer a flush or
//!   a close); [`SenderState::poll_timeout`] says when to call `poll` again.
//!
//! Resolving a batch (its completion, the unresolved counter, buffer memory, the
//! observer's events) is synchronous and happens inside the state: tests see it
//! in the completions and in the `BatchResolved` events.
//!
//! Because the state only ever changes in these calls, the sender's behaviour is
//! a function of the order of events, which is what makes simulation runs
//! replay bit for bit.

mod batches;
mod conns;
mod identity;
mod metadata;
mod packing;
mod policy;
mod resolve;
mod split;
mod timer;

#[cfg(test)]
pub(crate) mod tests;

use super::{Accumulator, Shared};
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
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use timer::{Timer, TimerTable};
use tokio::time::Instant;

/// Something the driver must do for the state.
#[derive(Debug)]
pub(crate) enum DriverCommand {
    /// Open a connection to `addr` for `broker`; report back with `generation`.
    Dial {
        /// Broker id (negative: a bootstrap address).
        broker: i32,
        /// Identifies this attempt in later events.
        generation: u64,
        /// `host:port`.
        addr: String,
    },
    /// Write a request frame on the connection `broker`/`generation`.
    Write {
        /// Broker id.
        broker: i32,
        /// The connection it was built for.
        generation: u64,
        /// The whole frame, size prefix included.
        frame: OutFrame,
    },
    /// Close the connection `broker`/`generation` (its requests were given up).
    Disconnect {
        /// Broker id.
        broker: i32,
        /// The connection to close.
        generation: u64,
    },
    /// Every record sent before the flush with this token has resolved.
    FlushDone(u64),
    /// The close with this token is complete.
    CloseDone(u64),
}

/// The sender's whole state. See the module documentation for how to drive it.
pub(crate) struct SenderState {
    /// Configuration, counters, observer, buffer memory and the metadata
    /// channel, shared with the `Producer` handles. The produce set inside it is
    /// never locked here: `poll` is lent it by the caller.
    shared: Arc<Shared>,
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
    /// What the driver must do, in order.
    actions: VecDeque<DriverCommand>,
}

impl SenderState {
    /// Fresh state for the producer sharing `shared`.
    pub fn new(shared: Arc<Shared>) -> Self {
        let config = &shared.config;
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
            actions: VecDeque::new(),
            shared,
        }
    }

    /// The producer's configuration.
    fn config(&self) -> &crate::Config {
        &self.shared.config
    }

    // ----- events in ------------------------------------------------------------

    /// The dial `generation` of `broker` connected and agreed on `versions`.
    pub fn handle_connected(&mut self, broker: i32, generation: u64, versions: Versions) {
        self.conns.connected(broker, generation, versions);
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
        let correlation = frame::peek_correlation_id(&body);
        match self.conns.take_response(broker, generation, correlation) {
            Ok(None) => {}
            Err(reason) => self.drop_connection(broker, reason, now),
            Ok(Some(req)) => {
                self.shared
                    .in_flight_requests
                    .fetch_sub(1, Ordering::Relaxed);
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
                self.actions.push_back(DriverCommand::CloseDone(token));
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
        self.actions.pop_front()
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
            self.shared
                .in_flight_requests
                .fetch_sub(in_flight.len(), Ordering::Relaxed);
            for req in in_flight {
                if let RequestKind::Produce { batches, .. } = req.kind {
                    batches.into_iter().for_each(|b| self.release(b));
                }
            }
            self.actions
                .push_back(DriverCommand::Disconnect { broker, generation });
        }
        self.shared.memory.close();
        let closers = std::mem::take(&mut self.closers);
        self.actions
            .extend(closers.into_iter().map(DriverCommand::CloseDone));
        let flushes = std::mem::take(&mut self.flushes);
        self.actions.extend(
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
        self.actions
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
            self.actions.push_back(DriverCommand::Write {
                broker,
                generation,
                frame,
            });
            self.shared
                .in_flight_requests
                .fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Closes a connection: every unanswered request on it gets no answer.
    fn drop_connection(&mut self, broker: i32, reason: String, now: Instant) {
        let (generation, in_flight) = self.conns.close(broker, now + self.config().retry_backoff);
        let Some(generation) = generation else {
            return;
        };
        self.actions
            .push_back(DriverCommand::Disconnect { broker, generation });
        self.shared
            .in_flight_requests
            .fetch_sub(in_flight.len(), Ordering::Relaxed);
        let unanswered = in_flight.len();
        self.shared.emit(|| Event::ConnectionLost {
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
        for id in self.conns.late(now) {
            self.drop_connection(id, format!("request timed out after {timeout:?}"), now);
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
