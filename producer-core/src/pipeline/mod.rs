//! The asynchronous producer: `send` appends to the produce set; one sender task
//! per producer drains ready batches into produce requests, one connection per
//! broker, and resolves every record exactly once.
//!
//! ```text
//! Producer::send ──► ProduceSet (shared, under a lock) ──► sender loop ──► connection tasks ──► brokers
//!      ▲                                                      │
//!      └──────────── DeliveryFuture ◄── BatchCompletion ◄─────┘
//! ```

mod batch_state;
mod connection;
mod metadata_cell;
mod sender;

use crate::bugs::SendCell;
use crate::config::Config;
use crate::delivery::DeliveryFuture;
use crate::error::Error;
use crate::network::Network;
use crate::observe::Observer;
use crate::partitioner::Partitioner;
use crate::produce_set::{Limits, ProduceSet, TopicPartition};
use crate::record::Record;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::{mpsc, oneshot, Notify, Semaphore};
use tokio::time::Instant;

/// Counters that must all be zero once a producer is closed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Records handed to `send` and not yet resolved.
    pub unresolved_records: usize,
    /// Buffer memory held by unresolved records.
    pub buffered_bytes: usize,
    /// Requests written to a broker and not yet answered.
    pub in_flight_requests: usize,
}

/// State shared by the producer handles and the sender task.
pub(crate) struct Shared {
    pub config: Config,
    pub limits: Limits,
    pub accum: Mutex<Accumulator>,
    pub wake: Notify,
    pub memory: Semaphore,
    pub metadata: metadata_cell::MetadataCell,
    pub observer: Option<Arc<dyn Observer>>,
    pub start: Instant,
    pub unresolved: AtomicUsize,
    pub in_flight_requests: AtomicUsize,
    /// Mirrors `Accumulator::closed` for a lock-free early check in `send`; the
    /// flag under the lock stays the one that decides.
    pub closed: AtomicBool,
}

impl Shared {
    pub fn accum(&self) -> MutexGuard<'_, Accumulator> {
        self.accum.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn emit(&self, event: impl FnOnce() -> crate::observe::Event) {
        if let Some(o) = &self.observer {
            o.event(event());
        }
    }
}

/// What `send` and the sender share under one lock.
pub(crate) struct Accumulator {
    pub produce_set: ProduceSet,
    pub partitioner: Partitioner,
    pub next_send_id: u64,
    pub wanted_topics: BTreeSet<String>,
    pub closed: bool,
    /// Topic names already seen, shared by every batch of that topic.
    pub topic_names: BTreeMap<String, Arc<str>>,
}

impl Accumulator {
    /// The shared name of `topic` (no allocation after the first send to it).
    fn topic_name(&mut self, topic: &str) -> Arc<str> {
        if let Some(name) = self.topic_names.get(topic) {
            return name.clone();
        }
        let name: Arc<str> = topic.into();
        self.topic_names.insert(topic.to_string(), name.clone());
        name
    }
}

pub(crate) enum Command {
    Flush {
        upto: u64,
        done: oneshot::Sender<()>,
    },
    Close {
        done: oneshot::Sender<()>,
    },
}

/// A Kafka producer. Cheap to clone: clones share one pipeline.
#[derive(Clone)]
pub struct Producer {
    shared: Arc<Shared>,
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

    fn start(
        config: Config,
        network: Arc<dyn Network>,
        observer: Option<Arc<dyn Observer>>,
    ) -> Result<Producer, Error> {
        config.validate()?;
        let limits = Limits::from_config(&config);
        let shared = Arc::new(Shared {
            accum: Mutex::new(Accumulator {
                produce_set: ProduceSet::new(limits.clone()),
                partitioner: Partitioner::new(config.seed),
                next_send_id: 0,
                wanted_topics: BTreeSet::new(),
                closed: false,
                topic_names: BTreeMap::new(),
            }),
            limits,
            wake: Notify::new(),
            memory: Semaphore::new(config.buffer_memory),
            metadata: metadata_cell::MetadataCell::default(),
            observer,
            start: tokio::time::Instant::now(),
            unresolved: AtomicUsize::new(0),
            in_flight_requests: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            config,
        });
        let (commands, rx) = mpsc::unbounded_channel();
        tokio::spawn(sender::Sender::new(shared.clone(), network, rx).run());
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

    async fn try_send(&self, topic: &str, record: Record) -> Result<DeliveryFuture, Error> {
        let shared = &self.shared;
        let config = &shared.config;
        if shared.closed.load(Ordering::Relaxed) {
            return Err(Error::ProducerClosed);
        }
        let memory = shared.limits.check_fits(topic, &record)?;
        let started = tokio::time::Instant::now();
        let deadline = started + config.max_block;
        let mut waited = false;
        let permit = match shared.memory.try_acquire_many(memory as u32) {
            Ok(p) => p,
            Err(_) => {
                waited = true;
                tokio::time::timeout_at(deadline, shared.memory.acquire_many(memory as u32))
                    .await
                    .map_err(|_| Error::Timeout {
                        waiting_for: "buffer memory",
                        waited: config.max_block,
                    })?
                    .map_err(|_| Error::ProducerClosed)?
            }
        };
        let known = shared.metadata.borrow().partition_count(topic);
        let partitions = match known {
            Some(n) => n,
            None => {
                waited = true;
                self.partition_count(topic, deadline).await?
            }
        };
        // One clock read per send unless it had to wait.
        let now = if waited {
            tokio::time::Instant::now()
        } else {
            started
        };
        let timestamp = record.timestamp().unwrap_or_else(|| {
            config.timestamp_origin_ms + (now - shared.start).as_millis() as i64
        });
        let mut accum = shared.accum();
        if accum.closed {
            return Err(Error::ProducerClosed);
        }
        let partition =
            accum
                .partitioner
                .partition(topic, record.key().map(|k| &k[..]), partitions);
        let tp = TopicPartition {
            topic: accum.topic_name(topic),
            partition: partition as i32,
        };
        let send_id = accum.next_send_id;
        let appended = accum
            .produce_set
            .add(&tp, &record, timestamp, now, send_id, memory)?;
        accum.next_send_id += 1;
        permit.forget();
        if record.key().is_none() && (appended.batch_full || appended.closed_previous.is_some()) {
            accum
                .partitioner
                .batch_completed(topic, partition, partitions);
        }
        drop(accum);
        shared.unresolved.fetch_add(1, Ordering::Relaxed);
        if appended.index == 0 || appended.batch_full {
            shared.wake.notify_one();
        }
        let future = DeliveryFuture::new(appended.completion, appended.index)
            .with_origin(send_id, tp.partition)
            .with_cell(SendCell::write(config.bugs, &record, tp.partition));
        Ok(future)
    }

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
            buffered_bytes: s.config.buffer_memory - s.memory.available_permits(),
            in_flight_requests: s.in_flight_requests.load(Ordering::Relaxed),
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.shared.config
    }
}

/// Resolves a whole batch: the one place records leave the pipeline.
pub(crate) fn finish_records(shared: &Shared, records: usize, memory: usize) {
    shared.memory.add_permits(memory);
    shared.unresolved.fetch_sub(records, Ordering::Relaxed);
}

#[allow(dead_code)]
fn assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<Producer>();
}
