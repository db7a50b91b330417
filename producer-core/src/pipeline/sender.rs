//! The sender loop: one task per producer that owns connections, metadata,
//! idempotence state and every batch after it leaves the produce set.
//!
//! Each turn of the loop does the work that is due (expire, connect, refresh
//! metadata, obtain a producer id, send produce requests, time out requests),
//! then sleeps until the next event or the next deadline. Everything runs on this
//! one task, so the order of decisions is a function of the order of events.

use super::batch_state::{PartitionState, SentBatch};
use super::connection::{self, ConnEvent, ConnTasks, Dial};
use super::{finish_records, Command, Shared};
use crate::batch::restamp;
use crate::error::{code, Error};
use crate::idempotence::{Idempotence, Identity};
use crate::metadata::ClusterMetadata;
use crate::network::Network;
use crate::observe::{AttemptOutcome, BatchAttempt, Event};
use crate::produce_set::{OpenBatch, TopicPartition};
use crate::wire::frame::{self, OutFrame};
use crate::wire::produce::{self, PartitionBatch};
use crate::wire::requests::{self, Versions};
use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, InitProducerIdResponse, MetadataResponse, ProduceResponse};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

enum RequestKind {
    Produce {
        version: i16,
        batches: Vec<SentBatch>,
    },
    Metadata {
        version: i16,
    },
    InitProducerId {
        version: i16,
    },
}

struct InFlight {
    correlation_id: i32,
    deadline: Instant,
    kind: RequestKind,
}

enum Conn {
    Connecting {
        generation: u64,
        _tasks: ConnTasks,
    },
    Ready {
        generation: u64,
        tx: mpsc::UnboundedSender<OutFrame>,
        versions: Versions,
        in_flight: VecDeque<InFlight>,
        next_correlation: i32,
        _tasks: ConnTasks,
    },
    Backoff {
        until: Instant,
    },
}

pub(crate) struct Sender {
    shared: Arc<Shared>,
    network: Arc<dyn Network>,
    client_id: Arc<str>,
    metadata: ClusterMetadata,
    metadata_stale: bool,
    metadata_in_flight: bool,
    metadata_retry_at: Option<Instant>,
    conns: BTreeMap<i32, Conn>,
    next_generation: u64,
    dial_cursor: usize,
    partitions: BTreeMap<TopicPartition, PartitionState>,
    idempotence: Idempotence,
    init_in_flight: bool,
    init_retry_at: Option<Instant>,
    /// First send ids of batches the sender holds (in flight or waiting to retry).
    incomplete: BTreeSet<u64>,
    events_tx: mpsc::UnboundedSender<ConnEvent>,
    events_rx: mpsc::UnboundedReceiver<ConnEvent>,
    commands: mpsc::UnboundedReceiver<Command>,
    commands_open: bool,
    flushes: Vec<(u64, oneshot::Sender<()>)>,
    closers: Vec<oneshot::Sender<()>>,
    closing: bool,
    drain_cursor: usize,
}

/// What a produce response (or its absence) said about one batch.
enum Answer {
    Written(i64),
    Rejected(i16),
    Missing,
}

impl Sender {
    pub fn new(
        shared: Arc<Shared>,
        network: Arc<dyn Network>,
        commands: mpsc::UnboundedReceiver<Command>,
    ) -> Self {
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        Sender {
            client_id: shared.config.client_id.as_str().into(),
            idempotence: new_idempotence(&shared.config),
            shared,
            network,
            metadata: ClusterMetadata::default(),
            metadata_stale: true,
            metadata_in_flight: false,
            metadata_retry_at: None,
            conns: BTreeMap::new(),
            next_generation: 0,
            dial_cursor: 0,
            partitions: BTreeMap::new(),
            init_in_flight: false,
            init_retry_at: None,
            incomplete: BTreeSet::new(),
            events_tx,
            events_rx,
            commands,
            commands_open: true,
            flushes: Vec::new(),
            closers: Vec::new(),
            closing: false,
            drain_cursor: 0,
        }
    }

    pub async fn run(mut self) {
        loop {
            let now = tokio::time::Instant::now();
            self.expire(now);
            self.time_out_requests(now);
            self.maybe_start_bump();
            self.request_metadata(now);
            self.request_producer_id(now);
            self.send_produce(now);
            self.connect_where_needed(now);
            self.answer_flushes();
            if self.closing && self.is_idle() {
                break;
            }
            let deadline = self.next_deadline(now);
            tokio::select! {
                biased;
                Some(ev) = self.events_rx.recv() => self.on_conn_event(ev, tokio::time::Instant::now()),
                cmd = self.commands.recv(), if self.commands_open => self.on_command(cmd),
                _ = self.shared.wake.notified() => {}
                _ = sleep_until_opt(deadline) => {}
            }
            while let Ok(ev) = self.events_rx.try_recv() {
                self.on_conn_event(ev, tokio::time::Instant::now());
            }
        }
        self.shutdown();
        for done in self.closers.drain(..) {
            let _ = done.send(());
        }
        for (_, done) in self.flushes.drain(..) {
            let _ = done.send(());
        }
    }

    /// Closes every connection. Only metadata or producer-id requests can still be
    /// unanswered here (no batch is left), and nobody waits for them any more.
    fn shutdown(&mut self) {
        for (_, conn) in std::mem::take(&mut self.conns) {
            if let Conn::Ready { in_flight, .. } = conn {
                self.shared
                    .in_flight_requests
                    .fetch_sub(in_flight.len(), Ordering::Relaxed);
            }
        }
        self.shared.memory.close();
    }

    fn config(&self) -> &crate::Config {
        &self.shared.config
    }

    fn is_idle(&self) -> bool {
        self.incomplete.is_empty() && self.shared.accum().produce_set.buffered_records() == 0
    }

    fn force_drain(&self) -> bool {
        self.closing || !self.flushes.is_empty()
    }

    fn on_command(&mut self, cmd: Option<Command>) {
        match cmd {
            Some(Command::Flush { upto, done }) => self.flushes.push((upto, done)),
            Some(Command::Close { done }) => {
                self.closing = true;
                self.closers.push(done);
            }
            None => {
                // Every handle is gone: nobody can wait for the records, but they
                // are still delivered, then the task ends.
                self.commands_open = false;
                self.closing = true;
                self.shared.accum().closed = true;
                self.shared
                    .closed
                    .store(true, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }

    fn answer_flushes(&mut self) {
        if self.flushes.is_empty() {
            return;
        }
        let oldest_buffered = self.shared.accum().produce_set.oldest_send_id();
        let oldest = [oldest_buffered, self.incomplete.first().copied()]
            .into_iter()
            .flatten()
            .min();
        let (done, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.flushes)
            .into_iter()
            .partition(|(upto, _)| oldest.is_none_or(|o| o >= *upto));
        self.flushes = waiting;
        for (_, tx) in done {
            let _ = tx.send(());
        }
    }

    // ----- deadlines and expiry -------------------------------------------------

    fn next_deadline(&self, now: Instant) -> Option<Instant> {
        let config = self.config();
        let mut candidates: Vec<Instant> = Vec::new();
        {
            let accum = self.shared.accum();
            if !self.force_drain() {
                candidates.extend(accum.produce_set.next_linger_deadline());
            }
            candidates.extend(
                accum
                    .produce_set
                    .oldest_created()
                    .map(|c| c + config.delivery_timeout),
            );
        }
        for ps in self.partitions.values() {
            if let Some(front) = ps.retry.front() {
                candidates.extend(ps.backoff_until);
                candidates.push(front.created + config.delivery_timeout);
            }
        }
        for conn in self.conns.values() {
            match conn {
                Conn::Ready { in_flight, .. } => {
                    candidates.extend(in_flight.front().map(|r| r.deadline))
                }
                Conn::Backoff { until } => candidates.push(*until),
                Conn::Connecting { .. } => {}
            }
        }
        candidates.extend(self.metadata_retry_at);
        candidates.extend(self.init_retry_at);
        candidates.into_iter().filter(|&t| t > now).min()
    }

    fn expire(&mut self, now: Instant) {
        let timeout = self.config().delivery_timeout;
        let Some(cutoff) = now.checked_sub(timeout) else {
            return;
        };
        let expired = self.shared.accum().produce_set.take_expired(cutoff);
        for (tp, batch) in expired {
            self.fail_unsent(
                tp,
                batch,
                Error::DeliveryTimeout {
                    maybe_written: false,
                },
            );
        }
        let tps: Vec<TopicPartition> = self
            .partitions
            .iter()
            .filter(|(_, ps)| ps.retry.front().is_some_and(|b| b.created <= cutoff))
            .map(|(tp, _)| tp.clone())
            .collect();
        for tp in tps {
            while let Some(batch) = self.partitions.get_mut(&tp).and_then(|ps| {
                if ps.retry.front().is_some_and(|b| b.created <= cutoff) {
                    ps.retry.pop_front()
                } else {
                    None
                }
            }) {
                let maybe_written = batch.maybe_written;
                self.idempotence.request_bump();
                self.resolve(batch, Err(Error::DeliveryTimeout { maybe_written }));
            }
        }
    }

    // ----- resolution --------------------------------------------------------------

    fn fail_unsent(&mut self, tp: TopicPartition, batch: OpenBatch, error: Error) {
        let records = batch.send_ids.len();
        batch.completion.fail(error.clone());
        finish_records(&self.shared, records, batch.memory);
        self.shared.emit(|| Event::BatchResolved {
            tp,
            first_send_id: batch.send_ids[0],
            records,
            result: Err(error),
        });
    }

    fn resolve(&mut self, batch: SentBatch, result: Result<i64, Error>) {
        match &result {
            Ok(base_offset) => batch.completion.ack(batch.tp.partition, *base_offset),
            Err(e) => batch.completion.fail(e.clone()),
        };
        self.incomplete.remove(&batch.first_send_id());
        finish_records(&self.shared, batch.send_ids.len(), batch.memory);
        self.shared.emit(|| Event::BatchResolved {
            tp: batch.tp.clone(),
            first_send_id: batch.first_send_id(),
            records: batch.send_ids.len(),
            result,
        });
    }

    // ----- idempotence -------------------------------------------------------------

    fn produce_in_flight(&self) -> bool {
        self.partitions.values().any(|ps| ps.in_flight > 0)
    }

    /// A bump waits until no produce request is in flight, then gives up on every
    /// batch whose fate is unknown (sending it under a new epoch could duplicate
    /// it) and restarts sequences.
    fn maybe_start_bump(&mut self) {
        if !self.idempotence.bump_needed() || self.produce_in_flight() {
            return;
        }
        let mut unknown = Vec::new();
        for ps in self.partitions.values_mut() {
            let (keep, drop): (VecDeque<_>, VecDeque<_>) = std::mem::take(&mut ps.retry)
                .into_iter()
                .partition(|b| !b.maybe_written);
            ps.retry = keep;
            ps.window_failed = false;
            ps.backoff_until = None;
            unknown.extend(drop);
        }
        for batch in unknown {
            self.resolve(batch, Err(Error::OutcomeUnknown));
        }
        self.idempotence.begin_bump();
        self.shared.emit(|| Event::EpochBumpStarted);
    }

    fn request_producer_id(&mut self, now: Instant) {
        if self.idempotence.identity() != Identity::Pending
            || self.init_in_flight
            || self.init_retry_at.is_some_and(|t| now < t)
        {
            return;
        }
        let Some(broker) = self.least_loaded_ready() else {
            return;
        };
        let bump = self.idempotence.last_granted();
        let client_id = self.client_id.clone();
        self.send_request(broker, now, |versions, corr| {
            let v = versions.init_producer_id;
            (
                requests::init_producer_id_request(v, corr, &client_id, bump).into(),
                RequestKind::InitProducerId { version: v },
            )
        });
        self.init_in_flight = true;
    }

    // ----- metadata ---------------------------------------------------------------

    fn wanted_topics(&self) -> Vec<String> {
        let accum = self.shared.accum();
        let mut topics: BTreeSet<String> = accum.wanted_topics.clone();
        topics.extend(
            accum
                .produce_set
                .partitions()
                .map(|tp| tp.topic.to_string()),
        );
        topics.extend(self.partitions.keys().map(|tp| tp.topic.to_string()));
        topics.into_iter().collect()
    }

    fn request_metadata(&mut self, now: Instant) {
        if self.metadata_in_flight || self.metadata_retry_at.is_some_and(|t| now < t) {
            return;
        }
        let topics = self.wanted_topics();
        let missing = topics
            .iter()
            .any(|t| self.metadata.partition_count(t).is_none());
        if !(self.metadata_stale || missing) || topics.is_empty() {
            return;
        }
        let Some(broker) = self.least_loaded_ready() else {
            return;
        };
        let client_id = self.client_id.clone();
        self.send_request(broker, now, |versions, corr| {
            let v = versions.metadata;
            (
                requests::metadata_request(v, corr, &client_id, &topics).into(),
                RequestKind::Metadata { version: v },
            )
        });
        self.metadata_in_flight = true;
        self.metadata_stale = false;
    }

    fn on_metadata(&mut self, resp: &MetadataResponse, now: Instant) {
        self.metadata_in_flight = false;
        let fresh = requests::parse_metadata(resp);
        // Brokers that left the cluster (or moved) lose their connections.
        let gone: Vec<i32> = self
            .conns
            .keys()
            .copied()
            .filter(|id| *id >= 0 && fresh.brokers.get(id) != self.metadata.brokers.get(id))
            .filter(|id| self.metadata.brokers.contains_key(id))
            .collect();
        let mut merged = fresh;
        // Keep topics this response did not mention.
        for (t, parts) in &self.metadata.topics {
            merged
                .topics
                .entry(t.clone())
                .or_insert_with(|| parts.clone());
        }
        let leaderless = merged
            .topics
            .values()
            .any(|parts| parts.iter().any(|p| p.leader.is_none()));
        if leaderless {
            self.metadata_stale = true;
            self.metadata_retry_at = Some(now + self.config().retry_backoff);
        }
        self.metadata = merged;
        for id in gone {
            self.drop_connection(id, "broker left the metadata".into(), now);
        }
        let snapshot = Arc::new(self.metadata.clone());
        self.shared.metadata.send_replace(snapshot);
        self.shared.emit(|| Event::MetadataUpdated {
            leaders: self
                .metadata
                .topics
                .iter()
                .flat_map(|(t, parts)| {
                    parts
                        .iter()
                        .enumerate()
                        .map(move |(i, p)| (TopicPartition::new(t, i as i32), p.leader))
                })
                .collect(),
        });
    }

    fn metadata_failed(&mut self, now: Instant) {
        self.metadata_in_flight = false;
        self.metadata_stale = true;
        self.metadata_retry_at = Some(now + self.config().retry_backoff);
    }

    // ----- connections ------------------------------------------------------------

    fn addr_of(&self, broker: i32) -> Option<String> {
        if broker >= 0 {
            self.metadata.broker_addr(broker).map(str::to_string)
        } else {
            self.config().bootstrap.get((-broker - 1) as usize).cloned()
        }
    }

    fn least_loaded_ready(&self) -> Option<i32> {
        let max = self.config().max_in_flight;
        self.conns
            .iter()
            .filter_map(|(id, c)| match c {
                Conn::Ready { in_flight, .. } if in_flight.len() < max => {
                    Some((in_flight.len(), *id))
                }
                _ => None,
            })
            .min()
            .map(|(_, id)| id)
    }

    fn dial(&mut self, broker: i32, now: Instant) {
        match self.conns.get(&broker) {
            Some(Conn::Ready { .. }) | Some(Conn::Connecting { .. }) => return,
            Some(Conn::Backoff { until }) if now < *until => return,
            _ => {}
        }
        let Some(addr) = self.addr_of(broker) else {
            return;
        };
        self.next_generation += 1;
        let dial = Dial {
            broker,
            generation: self.next_generation,
            addr,
            client_id: self.client_id.clone(),
            idempotence: self.config().idempotence,
            timeout: self.config().request_timeout,
        };
        let tasks = connection::spawn(dial, self.network.clone(), self.events_tx.clone());
        self.conns.insert(
            broker,
            Conn::Connecting {
                generation: self.next_generation,
                _tasks: tasks,
            },
        );
    }

    fn connect_where_needed(&mut self, now: Instant) {
        // Leaders of partitions with something to send.
        let mut leaders = BTreeSet::new();
        {
            let accum = self.shared.accum();
            for tp in accum.produce_set.partitions() {
                leaders.extend(self.metadata.leader(&tp.topic, tp.partition));
            }
        }
        for (tp, ps) in &self.partitions {
            if !ps.retry.is_empty() {
                leaders.extend(self.metadata.leader(&tp.topic, tp.partition));
            }
        }
        for id in leaders {
            self.dial(id, now);
        }
        // A connection to anyone, for metadata and producer ids.
        let need_any = self.metadata_stale
            || self.metadata.brokers.is_empty() && !self.wanted_topics().is_empty()
            || self.idempotence.identity() == Identity::Pending;
        let have_any = self
            .conns
            .values()
            .any(|c| matches!(c, Conn::Ready { .. } | Conn::Connecting { .. }));
        if need_any && !have_any {
            let mut candidates: Vec<i32> = self.metadata.brokers.keys().copied().collect();
            candidates.extend((0..self.config().bootstrap.len() as i32).map(|i| -i - 1));
            for _ in 0..candidates.len() {
                let id = candidates[self.dial_cursor % candidates.len()];
                self.dial_cursor += 1;
                let backing_off =
                    matches!(self.conns.get(&id), Some(Conn::Backoff { until }) if now < *until);
                if !backing_off {
                    self.dial(id, now);
                    break;
                }
            }
        }
    }

    /// Closes a connection: every unanswered request on it gets no answer.
    fn drop_connection(&mut self, broker: i32, reason: String, now: Instant) {
        let Some(old) = self.conns.insert(
            broker,
            Conn::Backoff {
                until: now + self.config().retry_backoff,
            },
        ) else {
            self.conns.remove(&broker);
            return;
        };
        let in_flight = match old {
            Conn::Ready { in_flight, .. } => in_flight,
            _ => VecDeque::new(),
        };
        self.shared
            .in_flight_requests
            .fetch_sub(in_flight.len(), Ordering::Relaxed);
        let unanswered = in_flight.len();
        self.shared.emit(|| Event::ConnectionLost {
            broker,
            reason,
            unanswered,
        });
        self.metadata_stale = true;
        for req in in_flight {
            match req.kind {
                RequestKind::Produce { batches, .. } => {
                    for batch in batches {
                        self.on_answer(batch, Answer::Missing, now);
                    }
                }
                RequestKind::Metadata { .. } => self.metadata_failed(now),
                RequestKind::InitProducerId { .. } => {
                    self.init_in_flight = false;
                    self.init_retry_at = Some(now + self.config().retry_backoff);
                }
            }
        }
    }

    fn time_out_requests(&mut self, now: Instant) {
        let late: Vec<i32> = self
            .conns
            .iter()
            .filter(|(_, c)| matches!(c, Conn::Ready { in_flight, .. } if in_flight.front().is_some_and(|r| r.deadline <= now)))
            .map(|(id, _)| *id)
            .collect();
        for id in late {
            let timeout = self.config().request_timeout;
            self.drop_connection(id, format!("request timed out after {timeout:?}"), now);
        }
    }

    /// Writes one request to a ready connection.
    fn send_request(
        &mut self,
        broker: i32,
        now: Instant,
        build: impl FnOnce(&Versions, i32) -> (OutFrame, RequestKind),
    ) {
        let deadline = now + self.config().request_timeout;
        let Some(Conn::Ready {
            tx,
            versions,
            in_flight,
            next_correlation,
            ..
        }) = self.conns.get_mut(&broker)
        else {
            return;
        };
        let correlation_id = *next_correlation;
        *next_correlation = next_correlation.wrapping_add(1);
        let (frame, kind) = build(versions, correlation_id);
        // A failed send means the writer task is gone; its Closed event follows.
        let _ = tx.send(frame);
        in_flight.push_back(InFlight {
            correlation_id,
            deadline,
            kind,
        });
        self.shared
            .in_flight_requests
            .fetch_add(1, Ordering::Relaxed);
    }

    fn on_conn_event(&mut self, ev: ConnEvent, now: Instant) {
        match ev {
            ConnEvent::Ready {
                broker,
                generation,
                versions,
                tx,
            } => {
                if matches!(self.conns.get(&broker), Some(Conn::Connecting { generation: g, .. }) if *g == generation)
                {
                    let Some(Conn::Connecting { _tasks, .. }) = self.conns.remove(&broker) else {
                        unreachable!()
                    };
                    self.conns.insert(
                        broker,
                        Conn::Ready {
                            generation,
                            tx,
                            versions,
                            in_flight: VecDeque::new(),
                            next_correlation: 1,
                            _tasks,
                        },
                    );
                }
            }
            ConnEvent::Closed {
                broker,
                generation,
                reason,
            } => {
                let current = match self.conns.get(&broker) {
                    Some(Conn::Connecting { generation: g, .. })
                    | Some(Conn::Ready { generation: g, .. }) => *g == generation,
                    _ => false,
                };
                if current {
                    self.drop_connection(broker, reason, now);
                }
            }
            ConnEvent::Response {
                broker,
                generation,
                body,
            } => {
                let Some(Conn::Ready {
                    generation: g,
                    in_flight,
                    ..
                }) = self.conns.get_mut(&broker)
                else {
                    return;
                };
                if *g != generation {
                    return;
                }
                let expected = in_flight.front().map(|r| r.correlation_id);
                if expected.is_none() || frame::peek_correlation_id(&body) != expected {
                    self.drop_connection(
                        broker,
                        format!(
                            "response correlation id {:?}, expected {expected:?}",
                            frame::peek_correlation_id(&body)
                        ),
                        now,
                    );
                    return;
                }
                let req = in_flight.pop_front().expect("checked above");
                self.shared
                    .in_flight_requests
                    .fetch_sub(1, Ordering::Relaxed);
                if let Err(reason) = self.on_response(req.kind, body, now) {
                    self.drop_connection(broker, reason, now);
                }
            }
        }
    }

    fn on_response(&mut self, kind: RequestKind, body: Bytes, now: Instant) -> Result<(), String> {
        match kind {
            RequestKind::Metadata { version } => {
                match frame::decode_response::<MetadataResponse>(ApiKey::Metadata, version, body) {
                    Ok(resp) => self.on_metadata(&resp, now),
                    Err(e) => {
                        self.metadata_failed(now);
                        return Err(e);
                    }
                }
            }
            RequestKind::InitProducerId { version } => {
                self.init_in_flight = false;
                let resp = frame::decode_response::<InitProducerIdResponse>(
                    ApiKey::InitProducerId,
                    version,
                    body,
                );
                match resp {
                    Ok(r) if r.error_code == 0 => {
                        self.idempotence.granted(r.producer_id.0, r.producer_epoch);
                        self.init_retry_at = None;
                        self.shared.emit(|| Event::IdentityGranted {
                            producer_id: r.producer_id.0,
                            epoch: r.producer_epoch,
                        });
                    }
                    Ok(_) => self.init_retry_at = Some(now + self.config().retry_backoff),
                    Err(e) => {
                        self.init_retry_at = Some(now + self.config().retry_backoff);
                        return Err(e);
                    }
                }
            }
            RequestKind::Produce { version, batches } => {
                let resp =
                    match frame::decode_response::<ProduceResponse>(ApiKey::Produce, version, body)
                    {
                        Ok(r) => r,
                        Err(e) => {
                            for batch in batches {
                                self.on_answer(batch, Answer::Missing, now);
                            }
                            return Err(e);
                        }
                    };
                for batch in batches {
                    let answer = resp
                        .responses
                        .iter()
                        .filter(|t| t.name.0.as_str() == &*batch.tp.topic)
                        .flat_map(|t| t.partition_responses.iter())
                        .find(|p| p.index == batch.tp.partition)
                        .map_or(Answer::Missing, |p| match p.error_code {
                            code::NONE | code::DUPLICATE_SEQUENCE_NUMBER => {
                                Answer::Written(p.base_offset)
                            }
                            c => Answer::Rejected(c),
                        });
                    self.on_answer(batch, answer, now);
                }
            }
        }
        Ok(())
    }

    // ----- produce ------------------------------------------------------------------

    /// One attempt of a batch ended.
    fn on_answer(&mut self, mut batch: SentBatch, answer: Answer, now: Instant) {
        let idempotent = self.idempotence.enabled();
        let tp = batch.tp.clone();
        let ps = self.partitions.entry(tp.clone()).or_default();
        ps.in_flight -= 1;
        if must_travel_alone(&batch) {
            ps.solo_in_flight = false;
        }
        let window_had_failed = ps.window_failed;
        self.shared.emit(|| Event::AttemptEnded {
            tp: tp.clone(),
            first_send_id: batch.first_send_id(),
            outcome: match answer {
                Answer::Written(o) => AttemptOutcome::Written { base_offset: o },
                Answer::Rejected(c) => AttemptOutcome::Rejected { code: c },
                Answer::Missing => AttemptOutcome::NoAnswer,
            },
        });
        match answer {
            Answer::Written(base_offset) => self.resolve(batch, Ok(base_offset)),
            Answer::Missing => {
                batch.maybe_written = true;
                self.retry_or_fail(batch, now);
            }
            Answer::Rejected(c) => {
                batch.last_code = Some(c);
                if matches!(
                    c,
                    code::NOT_LEADER_OR_FOLLOWER | code::UNKNOWN_TOPIC_OR_PARTITION
                ) {
                    self.metadata_stale = true;
                }
                if matches!(
                    c,
                    code::REQUEST_TIMED_OUT | code::NOT_ENOUGH_REPLICAS_AFTER_APPEND
                ) {
                    // The leader may have appended it before the error.
                    batch.maybe_written = true;
                }
                let sequence_trouble = matches!(
                    c,
                    code::OUT_OF_ORDER_SEQUENCE_NUMBER
                        | code::UNKNOWN_PRODUCER_ID
                        | code::INVALID_PRODUCER_EPOCH
                );
                if idempotent && sequence_trouble {
                    // A gap explained by an earlier failure in the same window is
                    // just a retry; otherwise the broker's view of our sequences
                    // differs from ours and only a new epoch can reconcile them.
                    if !(c == code::OUT_OF_ORDER_SEQUENCE_NUMBER && window_had_failed) {
                        self.idempotence.request_bump();
                    }
                    self.retry_or_fail(batch, now);
                } else if code::is_retriable(c) {
                    self.retry_or_fail(batch, now);
                } else {
                    if idempotent {
                        self.idempotence.request_bump();
                    }
                    // An earlier attempt may have been written: the outcome is
                    // unknown, not this answer's definite refusal.
                    let error = if batch.maybe_written {
                        Error::OutcomeUnknown
                    } else {
                        Error::Broker { code: c }
                    };
                    self.resolve(batch, Err(error));
                }
            }
        }
        let ps = self.partitions.get_mut(&tp).expect("entry made above");
        if ps.in_flight == 0 {
            ps.in_flight_broker = None;
            ps.window_failed = false;
        }
        if ps.is_idle() {
            self.partitions.remove(&tp);
        }
    }

    fn retry_or_fail(&mut self, batch: SentBatch, now: Instant) {
        let config = self.config();
        let error = if batch.attempts > config.retries {
            Some(match (batch.maybe_written, batch.last_code) {
                (false, Some(c)) => Error::Broker { code: c },
                _ => Error::OutcomeUnknown,
            })
        } else if now >= batch.created + config.delivery_timeout {
            Some(Error::DeliveryTimeout {
                maybe_written: batch.maybe_written,
            })
        } else {
            None
        };
        match error {
            Some(e) => {
                self.idempotence.request_bump();
                self.resolve(batch, Err(e));
            }
            None => {
                let backoff = now + config.retry_backoff;
                let hold_partition = !retry_behind_newer(config);
                let ps = self.partitions.entry(batch.tp.clone()).or_default();
                ps.window_failed = hold_partition;
                if hold_partition {
                    ps.backoff_until = Some(backoff);
                }
                ps.push_retry(batch);
            }
        }
    }

    /// Takes the next batch of `tp` for `broker`, if one may go now: a retry first,
    /// else a ready batch from the produce set. `room` is the request space left.
    fn next_batch(
        &mut self,
        tp: &TopicPartition,
        broker: i32,
        room: usize,
        now: Instant,
        accum: &mut super::Accumulator,
    ) -> Option<SentBatch> {
        let force = self.force_drain();
        let ps = self.partitions.get(tp);
        if ps.is_some_and(|ps| !ps.can_send(broker, now)) {
            return None;
        }
        let newer_first =
            retry_behind_newer(self.config()) && accum.produce_set.is_ready(tp, now, force);
        if let Some(front) = ps.and_then(|ps| ps.retry.front()).filter(|_| !newer_first) {
            if produce::partition_entry_len(front.bytes.len()) > room {
                return None;
            }
            let restamp_with = if self.idempotence.is_current(&front.stamp) {
                None
            } else {
                // Definitely unwritten under the old epoch: new sequence numbers.
                Some(self.idempotence.next_stamp(tp, front.send_ids.len())?)
            };
            let ps = self.partitions.get_mut(tp).expect("checked");
            let mut batch = ps.retry.pop_front().expect("checked");
            if let Some(stamp) = restamp_with {
                batch.bytes = restamp(&batch.bytes, stamp);
                batch.stamp = stamp;
            }
            return Some(batch);
        }
        let len = accum.produce_set.next_batch_len(tp)?;
        if produce::partition_entry_len(len) > room || !accum.produce_set.is_ready(tp, now, force) {
            return None;
        }
        let open = accum.produce_set.take_ready(tp, now, force)?;
        let stamp = self
            .idempotence
            .next_stamp(tp, open.send_ids.len())
            .expect("callers check readiness");
        let limit = accum.produce_set.limits().batch_limit(&tp.topic).0;
        let send_ids: Arc<[u64]> = open.send_ids.into();
        let accounted = open.accounted;
        let bytes = open
            .builder
            .seal(stamp)
            .expect("batches in the produce set are never empty");
        self.shared.emit(|| Event::BatchSealed {
            tp: tp.clone(),
            first_send_id: send_ids[0],
            records: send_ids.len(),
            accounted,
            encoded: bytes.len(),
            limit,
        });
        self.incomplete.insert(send_ids[0]);
        Some(SentBatch {
            tp: tp.clone(),
            bytes,
            stamp,
            send_ids,
            completion: open.completion,
            memory: open.memory,
            created: open.created,
            attempts: 0,
            maybe_written: false,
            last_code: None,
        })
    }

    fn send_produce(&mut self, now: Instant) {
        if !self.idempotence.is_ready() {
            return;
        }
        let shared = self.shared.clone();
        let mut accum = shared.accum();
        // Partitions with something to send, grouped by their leader.
        let mut by_leader: BTreeMap<i32, Vec<TopicPartition>> = BTreeMap::new();
        let candidates: BTreeSet<TopicPartition> = accum
            .produce_set
            .partitions()
            .cloned()
            .chain(
                self.partitions
                    .iter()
                    .filter(|(_, ps)| !ps.retry.is_empty())
                    .map(|(tp, _)| tp.clone()),
            )
            .collect();
        for tp in candidates {
            match self.metadata.leader(&tp.topic, tp.partition) {
                Some(leader) => by_leader.entry(leader).or_default().push(tp),
                None => self.metadata_stale = true,
            }
        }
        let max_request = self.config().max_request_size;
        let max_in_flight = self.config().max_in_flight;
        self.drain_cursor = self.drain_cursor.wrapping_add(1);
        for (broker, tps) in by_leader {
            while let Some(Conn::Ready { in_flight, .. }) = self.conns.get(&broker) {
                if in_flight.len() >= max_in_flight {
                    break;
                }
                let mut size = produce::empty_request_len(&self.client_id);
                let mut topics: BTreeSet<Arc<str>> = BTreeSet::new();
                let mut chosen: Vec<SentBatch> = Vec::new();
                let start = self.drain_cursor % tps.len();
                for i in 0..tps.len() {
                    let tp = &tps[(start + i) % tps.len()];
                    let topic_cost = if topics.contains(&tp.topic) {
                        0
                    } else {
                        produce::topic_entry_len(&tp.topic)
                    };
                    let room = max_request.saturating_sub(size + topic_cost);
                    if let Some(batch) = self.next_batch(tp, broker, room, now, &mut accum) {
                        size += topic_cost + produce::partition_entry_len(batch.bytes.len());
                        topics.insert(tp.topic.clone());
                        chosen.push(batch);
                    }
                }
                if chosen.is_empty() {
                    break;
                }
                chosen.sort_by(|a, b| a.tp.cmp(&b.tp));
                self.dispatch_produce(broker, chosen, size, now);
            }
        }
    }

    fn dispatch_produce(
        &mut self,
        broker: i32,
        mut batches: Vec<SentBatch>,
        accounted: usize,
        now: Instant,
    ) {
        for b in &mut batches {
            b.attempts += 1;
            let ps = self.partitions.entry(b.tp.clone()).or_default();
            ps.in_flight += 1;
            ps.in_flight_broker = Some(broker);
            ps.solo_in_flight |= must_travel_alone(b);
        }
        let client_id = self.client_id.clone();
        let timeout_ms = self
            .config()
            .request_timeout
            .as_millis()
            .min(i32::MAX as u128) as i32;
        let limit = self.config().max_request_size;
        let shared = self.shared.clone();
        self.send_request(broker, now, |versions, corr| {
            let parts: Vec<PartitionBatch<'_>> = batches
                .iter()
                .map(|b| PartitionBatch {
                    topic: &b.tp.topic,
                    partition: b.tp.partition,
                    records: b.bytes.clone(),
                })
                .collect();
            let frame =
                produce::encode_request(versions.produce, corr, &client_id, timeout_ms, &parts);
            shared.emit(|| Event::RequestSent {
                broker,
                correlation_id: corr,
                bytes: frame.len(),
                accounted,
                limit,
                batches: batches
                    .iter()
                    .map(|b| BatchAttempt {
                        tp: b.tp.clone(),
                        first_send_id: b.first_send_id(),
                        send_ids: b.send_ids.clone(),
                        stamp: b.stamp,
                        attempt: b.attempts,
                        bytes: b.bytes.len(),
                    })
                    .collect(),
            });
            (
                frame,
                RequestKind::Produce {
                    version: versions.produce,
                    batches,
                },
            )
        });
    }
}

/// A retry, or the first batch of an epoch (see `PartitionState::solo_in_flight`).
fn must_travel_alone(b: &SentBatch) -> bool {
    b.attempts > 1 || b.stamp.base_sequence == 0
}

fn new_idempotence(config: &crate::Config) -> Idempotence {
    Idempotence::new(config.idempotence).with_bugs(config.bugs)
}

/// The `retry_behind_newer` bug is on.
fn retry_behind_newer(config: &crate::Config) -> bool {
    config.bugs.retry_behind_newer()
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
