//! What the state decided and its driver carries out: every effect outside the
//! state (sockets, buffer memory, the metadata `send` reads, the counters of
//! `Stats`, the observer) leaves as a [`DriverCommand`], in the order it was decided.
//! quinn-proto's `Connection` returns its transmits and events the same way.

use crate::metadata::ClusterMetadata;
use crate::observe::Event;
use crate::wire::frame::OutFrame;
use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::Arc;

/// Something the driver must do for the state.
#[derive(Debug)]
pub(crate) enum DriverCommand {
    /// Open a connection to `addr` for `broker`; report back with `generation`
    /// (`handle_connected` once the socket is up, `handle_closed` if it fails).
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
    /// A batch let go of its bytes: return this much buffer memory to the pool
    /// that `send` waits on. Each batch's memory is released exactly once.
    ReleaseMemory {
        /// The batch's charge.
        bytes: usize,
        /// Its sealed bytes, for the driver to keep for reuse (with the
        /// charge) when the batch was their only holder.
        buffer: Option<Bytes>,
    },
    /// This many records resolved (acknowledged or failed): `Stats` counts them
    /// out.
    Resolved(usize),
    /// The cluster as the sender now knows it: `send` reads partition counts
    /// from it, and sends waiting for a topic wake up.
    PublishMetadata(Arc<ClusterMetadata>),
    /// Tell the observer (only when the producer has one).
    Observe(Event),
}

/// The state's queue of actions.
#[derive(Debug)]
pub(crate) struct Outbox {
    /// In the order they were decided.
    actions: VecDeque<DriverCommand>,
    /// The producer has an observer: events are built and queued (without one,
    /// no event is even built).
    observed: bool,
}

impl Outbox {
    /// An empty queue; events are queued only when `observed`.
    pub fn new(observed: bool) -> Self {
        Outbox {
            actions: VecDeque::new(),
            observed,
        }
    }

    /// Queues `action`.
    pub fn push(&mut self, action: DriverCommand) {
        self.actions.push_back(action);
    }

    /// Queues the event `event` builds, if anyone observes.
    pub fn emit(&mut self, event: impl FnOnce() -> Event) {
        if self.observed {
            self.actions.push_back(DriverCommand::Observe(event()));
        }
    }

    /// Whether events are queued.
    pub fn observed(&self) -> bool {
        self.observed
    }

    /// The oldest action not yet taken.
    pub fn pop(&mut self) -> Option<DriverCommand> {
        self.actions.pop_front()
    }
}

impl Extend<DriverCommand> for Outbox {
    fn extend<I: IntoIterator<Item = DriverCommand>>(&mut self, iter: I) {
        self.actions.extend(iter);
    }
}
