//! Produce packing: which batches go into which request to which broker, and
//! the connections that needs.
//!
//! Per leader, requests are filled with at most one batch per partition (a
//! retry first, else the oldest ready batch), rotating which partition starts,
//! up to `max_request_size` exactly, while the broker's window of unanswered
//! requests has room.

use super::batches::SentBatch;
use super::injected::injected_restamp;
use super::{Accumulator, RequestKind, SenderState};
use crate::batch::{restamp, ProducerStamp, BATCH_HEADER_LEN};
use crate::clock::Instant;
use crate::idempotence::Identity;
use crate::observe::{BatchAttempt, Event};
use crate::produce_set::{OpenBatch, TopicPartition};
use crate::wire::produce::{self, PartitionBatch};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

impl SenderState {
    /// Most unanswered requests per broker connection.
    fn window(&self) -> usize {
        if self.config().bugs.in_flight_over_window() {
            usize::MAX
        } else {
            self.config().max_in_flight
        }
    }

    /// Partitions with something to send (buffered or waiting to retry), by leader.
    fn sendable_by_leader(&mut self, accum: &Accumulator) -> BTreeMap<i32, Vec<TopicPartition>> {
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
        let mut by_leader: BTreeMap<i32, Vec<TopicPartition>> = BTreeMap::new();
        for tp in candidates {
            match self.metadata.view.leader(&tp.topic, tp.partition) {
                Some(leader) => by_leader.entry(leader).or_default().push(tp),
                None => self.metadata.refresh.mark_stale(),
            }
        }
        by_leader
    }

    /// Packs and writes every produce request that may go now.
    pub(super) fn send_produce(&mut self, now: Instant, accum: &mut Accumulator) {
        if !self.idempotence.is_ready() {
            return;
        }
        let by_leader = self.sendable_by_leader(accum);
        let max_request = self.config().max_request_size;
        let window = self.window();
        self.drain_cursor = self.drain_cursor.wrapping_add(1);
        for (broker, tps) in by_leader {
            while self.conns.in_flight_len(broker).is_some_and(|n| n < window) {
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
                    let first = chosen.is_empty();
                    if let Some(batch) = self.next_batch(tp, broker, room, first, now, accum) {
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

    /// Takes the next batch of `tp` for `broker`, if one may go now: a retry first,
    /// else a ready batch from the produce set. `room` is the request space left;
    /// `first`: the request holds nothing yet.
    fn next_batch(
        &mut self,
        tp: &TopicPartition,
        broker: i32,
        room: usize,
        first: bool,
        now: Instant,
        accum: &mut Accumulator,
    ) -> Option<SentBatch> {
        let force = self.force_drain();
        let ps = self.partitions.get(tp);
        if ps.is_some_and(|ps| !ps.can_send(broker, now)) {
            return None;
        }
        let newer_first = (self.config().bugs.retry_behind_newer()
            || ps.is_some_and(|ps| ps.behind_newer))
            && accum.produce_set.is_ready(tp, now, force);
        if let Some(front) = ps.and_then(|ps| ps.retry.front()).filter(|_| !newer_first) {
            if produce::partition_entry_len(front.bytes.len()) > room {
                return None;
            }
            return self.pop_retry(tp);
        }
        let len = accum.produce_set.next_batch_len(tp)?;
        // With compression `len` is an estimate, and it grows when the ratio
        // estimate rises after the batch was filled: an empty request takes
        // the batch anyway (sealed, it is split if it is really too large),
        // or it would wait for a request it never fits.
        let fits = produce::partition_entry_len(len) <= room || first;
        if !fits || !accum.produce_set.is_ready(tp, now, force) {
            return None;
        }
        let open = accum.produce_set.take_ready(tp, now, force)?;
        let limit = accum.produce_set.limits().batch_limit(&tp.topic).0;
        let batch = self.seal_taken(tp, open, limit, accum);
        if self.config().compression.is_none() {
            return Some(batch);
        }
        self.queue_fitting_parts(tp, batch, limit);
        self.next_batch(tp, broker, room, first, now, accum)
    }

    /// Takes the first retry of `tp`, restamped with new sequence numbers when
    /// it was stamped under an older epoch (it is definitely unwritten there).
    /// `None` while the producer has no identity to stamp it with.
    fn pop_retry(&mut self, tp: &TopicPartition) -> Option<SentBatch> {
        let front = self.partitions.get(tp)?.retry.front()?;
        let restamp_with = if self.idempotence.is_current(&front.stamp) {
            None
        } else {
            let fresh = self.idempotence.next_stamp(tp, front.send_ids.len())?;
            Some(injected_restamp(self.config().bugs, front, fresh))
        };
        let ps = self.partitions.get_mut(tp).expect("checked");
        let mut batch = ps.retry.pop_front().expect("checked");
        if let Some(stamp) = restamp_with {
            batch.bytes = restamp(&batch.bytes, stamp);
            batch.stamp = stamp;
        }
        Some(batch)
    }

    /// Seals a batch taken from the produce set and holds it. Without
    /// compression it is stamped now; a compressed batch's size is news at seal,
    /// so it is stamped only once its parts are known to fit
    /// ([`Self::queue_fitting_parts`]), and no sequence goes to a batch that is
    /// then split or fails. Its compressed size corrects the ratio estimate.
    fn seal_taken(
        &mut self,
        tp: &TopicPartition,
        open: OpenBatch,
        limit: usize,
        accum: &mut Accumulator,
    ) -> SentBatch {
        let compressed = !self.config().compression.is_none();
        let stamp = if compressed {
            ProducerStamp::NONE
        } else {
            self.idempotence
                .next_stamp(tp, open.send_ids.len())
                .expect("callers check readiness")
        };
        let send_ids: Arc<[u64]> = open.send_ids.into();
        let (accounted, uncompressed) = (open.accounted, open.builder.len());
        let bytes = open
            .builder
            .seal(stamp)
            .expect("batches in the produce set are never empty");
        if compressed {
            let records = uncompressed.saturating_sub(BATCH_HEADER_LEN).max(1);
            let observed = bytes.len().saturating_sub(BATCH_HEADER_LEN) as f64 / records as f64;
            accum.produce_set.observe_ratio(&tp.topic, observed);
        }
        self.out.emit(|| Event::BatchSealed {
            tp: tp.clone(),
            first_send_id: send_ids[0],
            records: send_ids.len(),
            accounted,
            uncompressed,
            encoded: bytes.len(),
            limit,
            memory: open.memory,
        });
        let batch = SentBatch {
            tp: tp.clone(),
            bytes,
            uncompressed,
            stamp,
            send_ids,
            completion: open.completion,
            first_index: 0,
            split_part: false,
            memory: open.memory,
            created: open.created,
            attempts: 0,
            maybe_written: false,
            resolved: false,
        };
        self.held.insert(&batch);
        batch
    }

    /// The estimate a compressed batch was filled by may have been too low:
    /// splits it until every part fits `limit` (a record alone too large
    /// fails), stamps the parts in order, and queues them to go first.
    fn queue_fitting_parts(&mut self, tp: &TopicPartition, batch: SentBatch, limit: usize) {
        let parts = if self.config().bugs.ratio_never_corrects() {
            vec![batch]
        } else {
            self.split_to_fit(batch, limit)
        };
        let mut previous: Option<ProducerStamp> = None;
        for mut part in parts {
            let stamp = match previous.filter(|_| self.config().bugs.split_same_sequence()) {
                Some(first) => first,
                None => self
                    .idempotence
                    .next_stamp(tp, part.send_ids.len())
                    .expect("callers check readiness"),
            };
            previous = Some(stamp);
            if stamp != ProducerStamp::NONE {
                part.bytes = restamp(&part.bytes, stamp);
            }
            part.stamp = stamp;
            self.partitions
                .entry(tp.clone())
                .or_default()
                .push_retry(part);
        }
    }

    /// Writes one produce request of `batches` (sorted by partition) to `broker`;
    /// `accounted` is the size computed while packing, for the observer.
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
            ps.solo_in_flight |= b.must_travel_alone();
        }
        let client_id = self.client_id.clone();
        let timeout_ms = self
            .config()
            .request_timeout
            .as_millis()
            .min(i32::MAX as u128) as i32;
        let limit = self.config().max_request_size;
        let observed = self.out.observed();
        let mut sent = None;
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
            sent = observed.then(|| Event::RequestSent {
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
        if let Some(event) = sent {
            self.out.push(super::DriverCommand::Observe(event));
        }
    }

    /// Dials the leaders of partitions with something to send, and any broker
    /// when metadata or a producer id is needed and nothing is connected.
    pub(super) fn connect_where_needed(&mut self, now: Instant, accum: &Accumulator) {
        let mut leaders = BTreeSet::new();
        for tp in accum.produce_set.partitions() {
            leaders.extend(self.metadata.view.leader(&tp.topic, tp.partition));
        }
        for (tp, ps) in &self.partitions {
            if !ps.retry.is_empty() {
                leaders.extend(self.metadata.view.leader(&tp.topic, tp.partition));
            }
        }
        for id in leaders {
            self.dial(id, now);
        }
        let need_any = self.metadata.refresh.is_stale()
            || self.metadata.view.brokers.is_empty() && !self.wanted_topics(accum).is_empty()
            || self.idempotence.identity() == Identity::Pending;
        if need_any && !self.conns.any_active() {
            let mut candidates: Vec<i32> = self.metadata.view.brokers.keys().copied().collect();
            candidates.extend((0..self.config().bootstrap.len() as i32).map(|i| -i - 1));
            for _ in 0..candidates.len() {
                let id = candidates[self.conns.dial_cursor % candidates.len()];
                self.conns.dial_cursor += 1;
                if !self.conns.backing_off(id, now) {
                    self.dial(id, now);
                    break;
                }
            }
        }
    }

    /// The address of `broker` (negative: a bootstrap address).
    fn addr_of(&self, broker: i32) -> Option<String> {
        if broker >= 0 {
            self.metadata.view.broker_addr(broker).map(str::to_string)
        } else {
            self.config().bootstrap.get((-broker - 1) as usize).cloned()
        }
    }

    /// Asks the driver to dial `broker` unless it is connected, connecting or
    /// backing off.
    fn dial(&mut self, broker: i32, now: Instant) {
        if !self.conns.can_dial(broker, now) {
            return;
        }
        let Some(addr) = self.addr_of(broker) else {
            // Metadata names no address for it: ask again (`poll` sends the
            // request in the same turn).
            self.metadata.refresh.mark_stale();
            return;
        };
        let generation = self
            .conns
            .start_dial(broker, now + self.config().request_timeout);
        self.out.push(super::DriverCommand::Dial {
            broker,
            generation,
            addr,
        });
    }
}
