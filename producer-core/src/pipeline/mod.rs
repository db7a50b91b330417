//! The asynchronous producer: `send` admits records into the produce set; one
//! driver task per producer runs the sender's state machine, which drains ready
//! batches into produce requests, one connection per broker, and resolves every
//! record exactly once.
//!
//! ```text
//! Producer::send ─► admit ─► ProduceSet (shared, under a lock) ─► SenderState ◄─► Driver ◄─► connection tasks ◄─► brokers
//!      ▲                                                             │
//!      └─────────────── DeliveryFuture ◄── BatchCompletion ◄─────────┘
//! ```
//!
//! `sender/` holds every decision and does no I/O (tested without a runtime);
//! `driver.rs` owns the tokio side: spawning, channels, sleeping.

mod admit;
mod connection;
mod driver;
mod metadata_cell;
pub(crate) mod sender;
mod shared;
mod spare_buffers;

use crate::bugs::SendCell;
use crate::config::Config;
use crate::delivery::DeliveryFuture;
use crate::error::Error;
use crate::network::Network;
use crate::observe::Observer;
use crate::produce_set::{Appended, TopicPartition};
use crate::record::Record;
use admit::{admit, Admit};
use shared::{Accumulator, Command, Shared};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// Counters that must all be zero once a producer is closed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Records handed to `send` and not yet resolved.
    pub unresolved_records: usize,
    /// Buffer memory held: the bytes allocated by batches not yet dropped.
    pub buffered_bytes: usize,
    /// Requests written to a broker and not yet answered.
    pub in_flight_requests: usize,
}

/// A Kafka producer. Cheap to clone: clones share one pipeline.
#[derive(Clone)]
pub struct Producer {
    /// The state every clone shares with the sender.
    shared: Arc<Shared>,
    /// Flush and close requests to the sender's driver.
    commands: mpsc::UnboundedSender<Command>,
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer")
            .field("client_id", &self.shared.config.client_id)
            .finish_non_exhaustive()
    }
}

impl Producer {
    /// Starts a producer on the current tokio runtime.
    pub fn new(config: Config, network: Arc<dyn Network>) -> Result<Producer, Error> {
        Self::start(config, network, None)
    }

    /// Starts a producer that reports what it does to `observer`.
    pub fn with_observer(
        config: Config,
        network: Arc<dyn Network>,
        observer: Arc<dyn Observer>,
    ) -> Result<Producer, Error> {
        Self::start(config, network, Some(observer))
    }

    /// Validates `config`, builds the shared state and spawns the driver.
    fn start(
        config: Config,
        network: Arc<dyn Network>,
        observer: Option<Arc<dyn Observer>>,
    ) -> Result<Producer, Error> {
        config.validate()?;
        let shared = Arc::new(Shared::new(config, observer));
        let (commands, rx) = mpsc::unbounded_channel();
        tokio::spawn(driver::Driver::new(shared.clone(), network, rx).run());
        Ok(Producer { shared, commands })
    }

    /// Sends `record` to `topic`. Waits while buffer memory is full or the topic's
    /// metadata is unknown (at most `max_block`), then returns a future that
    /// resolves exactly once with the record's offset or its error. The record is
    /// never modified.
    pub async fn send(&self, topic: &str, record: Record) -> DeliveryFuture {
        match self.try_send(topic, record).await {
            Ok(f) => f,
            Err(e) => DeliveryFuture::ready(Err(e)),
        }
    }

    /// `send` without the conversion of an early error into a ready future:
    /// waits for metadata, then admits the record, waiting for memory if needed.
    async fn try_send(&self, topic: &str, record: Record) -> Result<DeliveryFuture, Error> {
        let shared = &self.shared;
        let config = &shared.config;
        if shared.closed.load(Ordering::Relaxed) {
            return Err(Error::ProducerClosed);
        }
        shared.limits.check_fits(topic, &record)?;
        // One clock read per send when the topic is known (a measurable share
        // of a send's cost at small records).
        let started = tokio::time::Instant::now();
        let deadline = started + config.max_block;
        let known = shared.metadata.borrow().partition_count(topic);
        let (partitions, now) = match known {
            Some(n) => (n, shared.clock.at(started)),
            None => (
                self.partition_count(topic, deadline).await?,
                shared.clock.now(),
            ),
        };
        let timestamp = record
            .timestamp()
            .unwrap_or_else(|| config.timestamp_origin_ms + now.since_start().as_millis() as i64);
        let (appended, send_id, partition) = self
            .admit_waiting(topic, &record, partitions, timestamp, now, deadline)
            .await?;
        shared.unresolved.fetch_add(1, Ordering::Relaxed);
        if appended.index == 0 || appended.batch_full {
            shared.wake.notify_one();
        }
        Ok(DeliveryFuture::new(appended.completion, appended.index)
            .with_origin(send_id, partition)
            .with_cell(SendCell::write(config.bugs, &record, partition)))
    }

    /// Admits `record` into `partitions` partitions of `topic`, waiting (until
    /// `deadline`) for the buffer memory a new batch needs. The partition is
    /// chosen once, under the first lock. Returns where it went, its send id and
    /// its partition; permits held when it fails go back.
    async fn admit_waiting(
        &self,
        topic: &str,
        record: &Record,
        partitions: u32,
        timestamp: i64,
        mut now: crate::clock::Instant,
        deadline: Instant,
    ) -> Result<(Appended, u64, i32), Error> {
        let shared = &self.shared;
        let config = &shared.config;
        let mut reserved = 0usize;
        let mut chosen: Option<TopicPartition> = None;
        let result = loop {
            let step = {
                let mut accum = shared.accum();
                if accum.closed {
                    break Err(Error::ProducerClosed);
                }
                let tp = chosen.get_or_insert_with(|| {
                    let key = record.key().map(|k| &k[..]);
                    let partition = accum.partitioner.partition(topic, key, partitions);
                    TopicPartition {
                        topic: accum.topic_name(topic),
                        partition: partition as i32,
                    }
                });
                let step = admit(
                    shared,
                    &mut accum,
                    tp,
                    record,
                    timestamp,
                    now,
                    &mut reserved,
                );
                if let Ok(Admit::Added { appended, .. }) = &step {
                    if record.key().is_none()
                        && (appended.batch_full || appended.closed_previous.is_some())
                    {
                        let p = tp.partition as u32;
                        accum.partitioner.batch_completed(topic, p, partitions);
                    }
                }
                step
            };
            let more = match step {
                Err(e) => break Err(e),
                Ok(Admit::Added { appended, send_id }) => break Ok((appended, send_id)),
                Ok(Admit::NeedMemory(more)) => more,
            };
            let waited =
                tokio::time::timeout_at(deadline, shared.memory.acquire_many(more as u32)).await;
            match waited {
                Ok(Ok(permit)) => {
                    permit.forget();
                    reserved += more;
                    now = shared.clock.now();
                }
                Ok(Err(_)) => break Err(Error::ProducerClosed),
                Err(_) => {
                    break Err(Error::Timeout {
                        waiting_for: "buffer memory",
                        waited: config.max_block,
                    })
                }
            }
        };
        if reserved > 0 {
            shared.memory.add_permits(reserved);
        }
        let (appended, send_id) = result?;
        Ok((
            appended,
            send_id,
            chosen.expect("chosen before admission").partition,
        ))
    }

    /// Waits (until `deadline`) for metadata naming `topic`'s partition count.
    async fn partition_count(&self, topic: &str, deadline: Instant) -> Result<u32, Error> {
        if let Some(n) = self.shared.metadata.borrow().partition_count(topic) {
            return Ok(n);
        }
        if self.shared.accum().wanted_topics.insert(topic.to_string()) {
            self.shared.wake.notify_one();
        }
        let waited = self
            .shared
            .metadata
            .wait_for(deadline, |m| m.partition_count(topic))
            .await;
        waited.ok_or(Error::Timeout {
            waiting_for: "topic metadata",
            waited: self.shared.config.max_block,
        })
    }

    /// Sends every buffered record now and waits until all records sent before
    /// this call have resolved.
    pub async fn flush(&self) {
        let upto = self.shared.accum().next_send_id;
        let (done, wait) = oneshot::channel();
        if self.commands.send(Command::Flush { upto, done }).is_ok() {
            let _ = wait.await;
        }
    }

    /// Stops accepting records, delivers (or fails) everything buffered, and waits
    /// for the pipeline to stop. Always finishes: every batch is bounded by
    /// `delivery_timeout`.
    pub async fn close(&self) {
        self.shared.accum().closed = true;
        self.shared.closed.store(true, Ordering::Relaxed);
        let (done, wait) = oneshot::channel();
        if self.commands.send(Command::Close { done }).is_ok() {
            let _ = wait.await;
        }
    }

    /// Current counters.
    pub fn stats(&self) -> Stats {
        let s = &self.shared;
        Stats {
            unresolved_records: s.unresolved.load(Ordering::Relaxed),
            buffered_bytes: (s.config.buffer_memory - s.memory.available_permits())
                .saturating_sub(s.spares.bytes()),
            in_flight_requests: s.in_flight_requests.load(Ordering::Relaxed),
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.shared.config
    }
}

#[allow(dead_code)]
/// Compile-time check: producer handles can move between threads.
fn assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<Producer>();
}
