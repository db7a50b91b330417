//! What the `Producer` handles and the sender share.

use super::metadata_cell::MetadataCell;
use super::sender::DriverCommand;
use super::spare_buffers::SpareBuffers;
use crate::clock::Clock;
use crate::config::Config;
use crate::observe::{Event, Observer};
use crate::partitioner::Partitioner;
use crate::produce_set::{Limits, ProduceSet};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::{oneshot, Notify, Semaphore};

/// State shared by the producer handles and the sender.
pub(crate) struct Shared {
    /// The validated configuration.
    pub config: Config,
    /// The size limits derived from it, for `send`'s early too-large check.
    pub limits: Limits,
    /// The produce set and what `send` needs with it. A std `Mutex`, not a
    /// tokio one: it is never held across an await, and the sender's driver
    /// locks it once per turn.
    pub accum: Mutex<Accumulator>,
    /// `send` rings it when a partition gets its first buffered record or a
    /// batch fills up, so the driver wakes before the linger deadline.
    pub wake: Notify,
    /// Buffer memory: one permit per byte the producer's batches allocate.
    /// `send` waits on it (backpressure); the sender returns permits when it
    /// drops a batch; it is closed at shutdown so waiting sends fail.
    pub memory: Semaphore,
    /// Released batch buffers kept for reuse, their memory still charged.
    pub spares: SpareBuffers,
    /// The latest metadata, published by the sender: `send` reads partition
    /// counts from it and waits on it for unknown topics (a deterministic
    /// cell, not a `watch` channel: see `metadata_cell.rs`).
    pub metadata: MetadataCell,
    /// Whoever watches the producer (the simulation's history), if anyone.
    pub observer: Option<Arc<dyn Observer>>,
    /// The producer's time (its start is the origin of record timestamps and
    /// of every instant the sender's state is handed).
    pub clock: Clock,
    /// Records handed to `send` and not resolved yet (`Stats`).
    pub unresolved: AtomicUsize,
    /// Requests written to brokers and not answered yet (`Stats`).
    pub in_flight_requests: AtomicUsize,
    /// Mirrors `Accumulator::closed` for a lock-free early check in `send`; the
    /// flag under the lock stays the one that decides.
    pub closed: AtomicBool,
}

impl Shared {
    /// Shared state for a producer with `config` (already validated).
    pub fn new(config: Config, observer: Option<Arc<dyn Observer>>) -> Self {
        let limits = Limits::from_config(&config);
        Shared {
            accum: Mutex::new(Accumulator::new(limits.clone(), config.seed)),
            limits,
            wake: Notify::new(),
            memory: Semaphore::new(config.buffer_memory),
            spares: SpareBuffers::default(),
            metadata: MetadataCell::default(),
            observer,
            clock: Clock::start_now(),
            unresolved: AtomicUsize::new(0),
            in_flight_requests: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            config,
        }
    }

    /// The produce set, locked.
    pub fn accum(&self) -> MutexGuard<'_, Accumulator> {
        self.accum.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Carries out a sender action that touches only this shared state (buffer
    /// memory, the `Stats` counters, the published metadata, the observer);
    /// returns the others (sockets, flush and close answers) for the driver.
    pub fn carry_out(&self, action: DriverCommand) -> Option<DriverCommand> {
        match action {
            DriverCommand::ReleaseMemory { bytes, buffer } => {
                self.memory.add_permits(self.spares.keep(bytes, buffer))
            }
            DriverCommand::Resolved(records) => {
                self.unresolved.fetch_sub(records, Ordering::Relaxed);
            }
            DriverCommand::PublishMetadata(view) => self.metadata.send_replace(view),
            DriverCommand::Observe(event) => self.emit(|| event),
            other => return Some(other),
        }
        None
    }

    /// Tells the observer, building the event only if there is one.
    pub fn emit(&self, event: impl FnOnce() -> Event) {
        if let Some(o) = &self.observer {
            o.event(event());
        }
    }
}

/// What `send` and the sender share under one lock.
pub(crate) struct Accumulator {
    /// Buffered records, per partition.
    pub produce_set: ProduceSet,
    /// Chooses partitions (sticky for null keys); its state changes per send.
    pub partitioner: Partitioner,
    /// The next send id: sends are numbered in the order they were admitted.
    pub next_send_id: u64,
    /// Topics a `send` waits for metadata of, so the sender asks for them.
    pub wanted_topics: BTreeSet<String>,
    /// `close` was called (or every handle is gone): no send is admitted.
    pub closed: bool,
    /// Topic names already seen, shared by every batch of that topic.
    pub topic_names: BTreeMap<String, Arc<str>>,
}

impl Accumulator {
    /// An empty accumulator.
    pub fn new(limits: Limits, seed: u64) -> Self {
        Accumulator {
            produce_set: ProduceSet::new(limits),
            partitioner: Partitioner::new(seed),
            next_send_id: 0,
            wanted_topics: BTreeSet::new(),
            closed: false,
            topic_names: BTreeMap::new(),
        }
    }

    /// The shared name of `topic` (no allocation after the first send to it).
    pub fn topic_name(&mut self, topic: &str) -> Arc<str> {
        if let Some(name) = self.topic_names.get(topic) {
            return name.clone();
        }
        let name: Arc<str> = topic.into();
        self.topic_names.insert(topic.to_string(), name.clone());
        name
    }
}

/// What a `Producer` handle asks the sender's driver.
pub(crate) enum Command {
    /// Answer `done` once every record with a send id below `upto` resolved.
    Flush {
        /// The first send id the flush does not wait for.
        upto: u64,
        /// Answered when done.
        done: oneshot::Sender<()>,
    },
    /// Deliver everything, stop, then answer `done`.
    Close {
        /// Answered when done.
        done: oneshot::Sender<()>,
    },
}
