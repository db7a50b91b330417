//! The produce set: per-partition batches being filled, with exact accounting.
//!
//! Every number here is exact. A batch's size is the byte count its encoder has
//! written (see [`crate::batch`]), and the limit a batch must respect is
//! the smaller of `max_message_bytes` and what fits in a produce request alone
//! (`max_request_size` minus the request's own exact overhead). So a batch can
//! always be sent, and no request can grow past `max_request_size`.
//!
//! This module does no I/O and reads no clock: time comes in as an argument.

use crate::batch::{single_record_batch_len, BatchBuilder, Compressing, BATCH_HEADER_LEN};
use crate::clock::Instant;
use crate::compression::{Compression, RatioEstimates, ESTIMATION_MARGIN};
use crate::config::Config;
use crate::delivery::BatchCompletion;
use crate::error::Error;
use crate::record::Record;
use crate::wire::produce;
use bytes::BytesMut;
use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// A topic and partition.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicPartition {
    /// Topic name.
    pub topic: Arc<str>,
    /// Partition index.
    pub partition: i32,
}

impl TopicPartition {
    /// A topic-partition pair.
    pub fn new(topic: &str, partition: i32) -> Self {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// Why a record does not go into the open batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overflow {
    /// The batch would pass the target `batch_size`.
    BatchSize,
    /// The batch would pass `max_message_bytes`.
    MaxMessageBytes,
    /// A request carrying the batch would pass `max_request_size`.
    MaxRequestSize,
    /// The batch already holds `max_records_per_batch` records.
    MaxRecords,
    /// The batch's buffer is full: its uncompressed records fill what it was
    /// allocated (with compression, a batch may hold more than `batch_size`
    /// uncompressed bytes, as much as its allocation).
    Allocation,
}

/// The size limits of the produce set, taken from [`Config`].
#[derive(Clone, Debug)]
pub struct Limits {
    /// Target batch size.
    pub batch_size: usize,
    /// Hard per-batch limit.
    pub max_message_bytes: usize,
    /// Hard per-request limit (frame size).
    pub max_request_size: usize,
    /// Records per batch.
    pub max_records: usize,
    /// How long a batch may wait.
    pub linger: Duration,
    /// The client id: its length is part of every request.
    pub client_id: String,
    /// The codec batches are sealed with.
    pub compression: Compression,
    /// Injected bugs (`overflow_off_by_one` makes the overflow check under-count
    /// by one byte).
    pub bugs: crate::bugs::Bugs,
}

/// How much more than `batch_size` a compressed batch's uncompressed records
/// may take (a cap on the allocation the ratio estimate asks for).
pub const MAX_EXPANSION: usize = 16;

impl Limits {
    /// The limits of a producer configuration.
    pub fn from_config(c: &Config) -> Self {
        Limits {
            batch_size: c.batch_size,
            max_message_bytes: c.max_message_bytes,
            max_request_size: c.max_request_size,
            max_records: c.max_records_per_batch,
            linger: c.linger,
            client_id: c.client_id.clone(),
            compression: c.compression,
            bugs: c.bugs,
        }
    }

    fn slack(&self) -> usize {
        usize::from(self.bugs.overflow_off_by_one())
    }

    /// The hard limit on a batch of `topic`, and which setting imposes it.
    pub fn batch_limit(&self, topic: &str) -> (usize, Overflow) {
        let by_request = self
            .max_request_size
            .saturating_sub(produce::single_batch_overhead(&self.client_id, topic));
        if by_request < self.max_message_bytes {
            (by_request, Overflow::MaxRequestSize)
        } else {
            (self.max_message_bytes, Overflow::MaxMessageBytes)
        }
    }

    /// `Err(MessageTooLarge)` when `record` cannot fit in any batch of `topic`.
    pub fn check_fits(&self, topic: &str, record: &Record) -> Result<usize, Error> {
        let size = single_record_batch_len(record);
        let (limit, _) = self.batch_limit(topic);
        if size > limit {
            Err(Error::MessageTooLarge { size, limit })
        } else {
            Ok(size)
        }
    }
}

/// The answer to a record's request for the buffer memory of a new batch.
#[derive(Debug)]
pub enum Grant {
    /// Not available now: nothing changes.
    Refused,
    /// Charged: the batch allocates a new buffer of the size asked.
    Fresh,
    /// A released batch's buffer, kept with its charge (its capacity): the
    /// batch writes into it instead of allocating.
    Reused(BytesMut),
}

/// `n` rounded up to the next of eight steps between powers of two (at most
/// 12.5% more); small sizes stay as they are.
fn size_class(n: usize) -> usize {
    if n <= 4096 {
        return n;
    }
    let step = n.next_power_of_two() / 16;
    n.div_ceil(step) * step
}

/// A batch collecting records, with what the pipeline needs to resolve them.
#[derive(Debug)]
pub struct OpenBatch {
    /// The encoder holding the records written so far.
    pub builder: BatchBuilder,
    /// When the first record arrived (linger counts from here).
    pub created: Instant,
    /// The producer's send id of each record, in batch order.
    pub send_ids: Vec<u64>,
    /// Buffer memory charged for this batch: the bytes its buffer allocated
    /// (returned to the pool when the sender drops the batch).
    pub memory: usize,
    /// Sum of the exact per-record sizes, header included: the accounted size.
    pub accounted: usize,
    /// Shared by every record's delivery future.
    pub completion: Arc<BatchCompletion>,
}

impl OpenBatch {
    fn new(now: Instant, capacity: usize, buffer: Option<BytesMut>, limits: &Limits) -> Self {
        let builder = match buffer {
            Some(buffer) => BatchBuilder::reusing(buffer),
            None => BatchBuilder::new(capacity),
        };
        let builder = builder
            .with_bugs(limits.bugs)
            .with_compression(limits.compression);
        OpenBatch {
            accounted: builder.len(),
            builder,
            created: now,
            send_ids: Vec::new(),
            memory: 0,
            completion: BatchCompletion::new(),
        }
    }
}

/// Where an added record went.
#[derive(Debug)]
pub struct Appended {
    /// The batch's completion, for the record's delivery future.
    pub completion: Arc<BatchCompletion>,
    /// The record's index inside its batch.
    pub index: u32,
    /// The previous open batch was closed to make room.
    pub closed_previous: Option<Overflow>,
    /// The batch reached its target size or record count: it is ready to send.
    pub batch_full: bool,
}

#[derive(Debug, Default)]
struct PartitionBatches {
    open: Option<OpenBatch>,
    closed: VecDeque<OpenBatch>,
}

impl PartitionBatches {
    /// Moves the open batch behind the closed ones; returns its records to
    /// compress when it is a compressed batch ([`BatchBuilder::close`]).
    fn close_open(&mut self) -> Option<Arc<Compressing>> {
        let mut full = self.open.take().expect("an open batch to close");
        let records = full.builder.close();
        self.closed.push_back(full);
        records
    }
}

/// Open and closed (full, not yet sent) batches of every partition.
#[derive(Debug)]
pub struct ProduceSet {
    limits: Limits,
    partitions: BTreeMap<TopicPartition, PartitionBatches>,
    records: usize,
    bytes: usize,
    /// Compression ratio estimates, per topic (see [`crate::compression`]).
    ratios: RatioEstimates,
    /// Compressed batches closed since the last [`ProduceSet::take_to_compress`].
    to_compress: Vec<Arc<Compressing>>,
}

impl ProduceSet {
    /// An empty produce set with the given limits.
    pub fn new(limits: Limits) -> Self {
        ProduceSet {
            limits,
            partitions: BTreeMap::new(),
            records: 0,
            bytes: 0,
            ratios: RatioEstimates::default(),
            to_compress: Vec::new(),
        }
    }

    /// The records of the compressed batches closed since the last call, for
    /// the sender's driver to compress *before* it locks the produce set to
    /// seal them ([`Compressing::run`]): sends go on meanwhile, and sealing
    /// finds the work done. A batch sealed first is compressed at seal.
    pub fn take_to_compress(&mut self) -> Vec<Arc<Compressing>> {
        std::mem::take(&mut self.to_compress)
    }

    /// The estimated compression ratio of `topic`'s batches (1.0 without
    /// compression).
    pub fn ratio(&self, topic: &str) -> f64 {
        if self.limits.compression.is_none() {
            return 1.0;
        }
        self.ratios.get(topic, self.limits.compression.codec())
    }

    /// A batch of `topic` sealed: its records compressed to `observed` of
    /// their size. Corrects the estimate (up fast, down slowly).
    pub fn observe_ratio(&mut self, topic: &Arc<str>, observed: f64) {
        if self.limits.compression.is_none() {
            return;
        }
        let codec = self.limits.compression.codec();
        if self.limits.bugs.ratio_never_corrects() && observed > self.ratios.get(topic, codec) {
            return; // a miss never moves the estimate up
        }
        self.ratios.observe(topic, codec, observed);
    }

    /// The size a batch of `topic` whose exact uncompressed size is `exact`
    /// counts as against the limits: `exact` without compression; with it, the
    /// header plus the records times the estimated ratio and the margin.
    pub fn counted(&self, topic: &str, exact: usize) -> usize {
        if self.limits.compression.is_none() {
            return exact;
        }
        let records = exact.saturating_sub(BATCH_HEADER_LEN) as f64;
        BATCH_HEADER_LEN + (records * self.ratio(topic) * ESTIMATION_MARGIN).ceil() as usize
    }

    /// A batch at its target size (as counted) or record count, or with its
    /// buffer full, is sent without lingering.
    fn is_full(&self, topic: &str, open: &OpenBatch) -> bool {
        let b = &open.builder;
        self.counted(topic, b.len()) >= self.limits.batch_size
            || b.record_count() >= self.limits.max_records
            || (!self.limits.compression.is_none() && b.len() >= open.memory)
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Records buffered and not yet taken for sending.
    pub fn buffered_records(&self) -> usize {
        self.records
    }

    /// Exact bytes of the buffered batches.
    pub fn buffered_bytes(&self) -> usize {
        self.bytes
    }

    /// Why `record` (stamped `timestamp`) would not fit in the open batch of `tp`,
    /// or `None` when it fits (or there is no open batch: a new one takes it).
    pub fn would_overflow(
        &self,
        tp: &TopicPartition,
        record: &Record,
        timestamp: i64,
    ) -> Option<Overflow> {
        let open = self.partitions.get(tp)?.open.as_ref()?;
        self.overflow_of(open, &tp.topic, record, timestamp)
    }

    fn overflow_of(
        &self,
        open: &OpenBatch,
        topic: &str,
        record: &Record,
        timestamp: i64,
    ) -> Option<Overflow> {
        if open.builder.record_count() >= self.limits.max_records {
            return Some(Overflow::MaxRecords);
        }
        let exact = open.builder.size_with(record, timestamp) - self.limits.slack();
        let size = self.counted(topic, exact);
        let (hard, reason) = self.limits.batch_limit(topic);
        if size > hard {
            return Some(reason);
        }
        if size > self.limits.batch_size && !open.builder.is_empty() {
            return Some(Overflow::BatchSize);
        }
        if exact > open.memory && !open.builder.is_empty() {
            return Some(Overflow::Allocation);
        }
        None
    }

    /// Bytes a new batch for `record` allocates: the target batch size (capped
    /// by the hard limit), or the record's own batch if that is larger. Records
    /// that join the batch later never grow it past this (they join only while
    /// the batch stays within the target size).
    pub fn new_batch_capacity(&self, topic: &str, record: &Record) -> usize {
        let target = self.limits.batch_size.min(self.limits.batch_limit(topic).0);
        let target = if self.limits.compression.is_none() {
            target
        } else {
            // The uncompressed bytes the estimate says fill `target` compressed.
            let records = target.saturating_sub(BATCH_HEADER_LEN) as f64;
            let scaled = (records / (self.ratio(topic) * ESTIMATION_MARGIN)).floor() as usize;
            // Rounded up to a size class, so batches filled by a drifting
            // estimate still fit the buffers of earlier ones (kept for reuse).
            size_class(BATCH_HEADER_LEN + scaled).min(target.saturating_mul(MAX_EXPANSION))
        };
        target.max(single_record_batch_len(record))
    }

    /// Buffer memory adding `record` to `tp` allocates: 0 when it joins the open
    /// batch, else the capacity of the new batch it opens. This is what the
    /// producer charges against `buffer_memory`, as the Java client's
    /// `BufferPool` charges `batch.size` per batch.
    pub fn memory_for(&self, tp: &TopicPartition, record: &Record, timestamp: i64) -> usize {
        let joins = self
            .partitions
            .get(tp)
            .and_then(|p| p.open.as_ref())
            .is_some_and(|open| {
                self.overflow_of(open, &tp.topic, record, timestamp)
                    .is_none()
            });
        if joins {
            0
        } else {
            self.new_batch_capacity(&tp.topic, record)
        }
    }

    /// Bytes the buffers of every buffered batch have allocated.
    pub fn allocated_bytes(&self) -> usize {
        self.partitions
            .values()
            .flat_map(|p| p.closed.iter().chain(&p.open))
            .map(|b| b.builder.capacity())
            .sum()
    }

    /// Adds a record to the open batch of `tp`, closing that batch first if the
    /// record would overflow it; a batch it opens is charged its allocation
    /// (see [`Self::try_add`]). A record that fits no batch fails alone with
    /// [`Error::MessageTooLarge`] and leaves the set untouched.
    pub fn add(
        &mut self,
        tp: &TopicPartition,
        record: &Record,
        timestamp: i64,
        now: Instant,
        send_id: u64,
    ) -> Result<Appended, Error> {
        self.try_add(tp, record, timestamp, now, send_id, |_| Grant::Fresh)
            .map(|added| added.expect("memory always granted"))
    }

    /// Adds a record like [`Self::add`] if the buffer memory it allocates is
    /// granted: when the record opens a batch, `reserve` is asked for the
    /// batch's capacity ([`Self::new_batch_capacity`]) and the batch keeps
    /// that charge (or the capacity of the buffer [`Grant::Reused`] hands
    /// it); a record joining the open batch allocates nothing and asks
    /// nothing. `Ok(None)`: not granted, nothing changed.
    #[inline]
    pub fn try_add(
        &mut self,
        tp: &TopicPartition,
        record: &Record,
        timestamp: i64,
        now: Instant,
        send_id: u64,
        reserve: impl FnOnce(usize) -> Grant,
    ) -> Result<Option<Appended>, Error> {
        self.limits.check_fits(&tp.topic, record)?;
        let open = self.partitions.get(tp).and_then(|p| p.open.as_ref());
        let overflow = open.and_then(|o| self.overflow_of(o, &tp.topic, record, timestamp));
        let opens = open.is_none() || overflow.is_some();
        let (capacity, buffer) = if opens {
            let capacity = self.new_batch_capacity(&tp.topic, record);
            match reserve(capacity) {
                Grant::Refused => return Ok(None),
                Grant::Fresh => (capacity, None),
                Grant::Reused(buffer) => (buffer.capacity(), Some(buffer)),
            }
        } else {
            (0, None)
        };
        let limits = &self.limits;
        let entry = self.partitions.entry(tp.clone()).or_default();
        if overflow.is_some() {
            self.to_compress.extend(entry.close_open());
        }
        if entry.open.is_none() {
            self.bytes += BATCH_HEADER_LEN;
        }
        let open = entry.open.get_or_insert_with(|| {
            let mut batch = OpenBatch::new(now, capacity, buffer, limits);
            batch.memory = capacity;
            batch
        });
        let before = open.builder.len();
        let predicted = open.builder.size_with(record, timestamp) - before;
        let written = open.builder.push(record, timestamp);
        debug_assert_eq!(predicted, written, "record size prediction must be exact");
        open.accounted += predicted;
        open.send_ids.push(send_id);
        let index = (open.send_ids.len() - 1) as u32;
        let completion = open.completion.clone();
        let batch_full = (self.partitions.get(tp))
            .and_then(|p| p.open.as_ref())
            .is_some_and(|o| self.is_full(&tp.topic, o));
        if batch_full && !self.limits.compression.is_none() {
            // A compressed batch full by the estimate takes no more records,
            // as the Java client's `MemoryRecordsBuilder::isFull`: it closes,
            // so its records may be compressed before the sender takes it.
            let entry = self.partitions.get_mut(tp).expect("added above");
            self.to_compress.extend(entry.close_open());
        }
        self.records += 1;
        self.bytes += written;
        Ok(Some(Appended {
            completion,
            index,
            closed_previous: overflow,
            batch_full,
        }))
    }

    /// True when `tp` has a batch to send now: a closed batch, a full open batch,
    /// an open batch whose linger has passed, or any open batch when `force`
    /// (flush or close) is set.
    pub fn is_ready(&self, tp: &TopicPartition, now: Instant, force: bool) -> bool {
        let Some(p) = self.partitions.get(tp) else {
            return false;
        };
        if !p.closed.is_empty() {
            return true;
        }
        match &p.open {
            Some(open) => {
                force || self.is_full(&tp.topic, open) || now >= open.created + self.limits.linger
            }
            None => false,
        }
    }

    /// Takes the oldest batch of `tp` if [`Self::is_ready`].
    pub fn take_ready(
        &mut self,
        tp: &TopicPartition,
        now: Instant,
        force: bool,
    ) -> Option<OpenBatch> {
        if !self.is_ready(tp, now, force) {
            return None;
        }
        let p = self.partitions.get_mut(tp)?;
        let batch = match p.closed.pop_front() {
            Some(b) => b,
            None => p.open.take()?,
        };
        if p.open.is_none() && p.closed.is_empty() {
            self.partitions.remove(tp);
        }
        self.records -= batch.send_ids.len();
        self.bytes -= batch.builder.len();
        Some(batch)
    }

    /// Partitions holding any batch, in order.
    pub fn partitions(&self) -> impl Iterator<Item = &TopicPartition> {
        self.partitions.keys()
    }

    /// Size of the oldest batch of `tp` if it were taken now: exact without
    /// compression, the estimate with it (the real size is known at seal).
    pub fn next_batch_len(&self, tp: &TopicPartition) -> Option<usize> {
        let p = self.partitions.get(tp)?;
        p.closed
            .front()
            .or(p.open.as_ref())
            .map(|b| self.counted(&tp.topic, b.builder.len()))
    }

    /// The earliest moment an open batch's linger runs out.
    pub fn next_linger_deadline(&self, after: Instant) -> Option<Instant> {
        self.linger_deadlines().filter(|&at| at > after).min()
    }

    /// When each partition's open batch stops lingering (partitions with a
    /// closed batch are ready already).
    pub fn linger_deadlines(&self) -> impl Iterator<Item = Instant> + '_ {
        self.partitions
            .values()
            .filter(|p| p.closed.is_empty())
            .filter_map(|p| p.open.as_ref().map(|o| o.created + self.limits.linger))
    }

    /// Removes the batches created at or before `cutoff` (oldest first in each
    /// partition): they ran out of delivery time before they could be sent.
    pub fn take_expired(&mut self, cutoff: Instant) -> Vec<(TopicPartition, OpenBatch)> {
        let mut out = Vec::new();
        self.partitions.retain(|tp, p| {
            while p.closed.front().is_some_and(|b| b.created <= cutoff) {
                out.extend(p.closed.pop_front().map(|b| (tp.clone(), b)));
            }
            if p.closed.is_empty() && p.open.as_ref().is_some_and(|b| b.created <= cutoff) {
                out.extend(p.open.take().map(|b| (tp.clone(), b)));
            }
            p.open.is_some() || !p.closed.is_empty()
        });
        for (_, b) in &out {
            self.records -= b.send_ids.len();
            self.bytes -= b.builder.len();
        }
        out
    }

    /// Creation time of the oldest buffered batch.
    pub fn oldest_created(&self) -> Option<Instant> {
        self.partitions
            .values()
            .filter_map(|p| p.closed.front().or(p.open.as_ref()).map(|b| b.created))
            .min()
    }

    /// The smallest send id still buffered.
    pub fn oldest_send_id(&self) -> Option<u64> {
        self.partitions
            .values()
            .filter_map(|p| p.closed.front().or(p.open.as_ref()).map(|b| b.send_ids[0]))
            .min()
    }
}

#[cfg(test)]
mod tests;
