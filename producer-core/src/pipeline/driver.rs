//! The sender's driver: the one task per producer that runs [`SenderState`] on
//! tokio, as quinn's `ConnectionDriver` runs quinn-proto's `Connection`. It owns
//! what the state must not: spawned connection tasks, their write channels,
//! the command channel, the waiters of flushes and closes, and the sleep until
//! the state's next timeout. Every decision is the state's.

use super::connection::{self, ConnEvent, ConnTasks, Dial};
use super::sender::{DriverCommand, SenderState};
use super::{Command, Shared};
use crate::network::Network;
use crate::wire::frame::OutFrame;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// The tasks of one broker connection and, once it is ready, its write channel.
struct Link {
    /// Which dial of the broker this is (the state's generation).
    generation: u64,
    /// Dropping them closes the connection.
    _tasks: ConnTasks,
    /// Frames to write; `None` until the connection is ready.
    tx: Option<mpsc::UnboundedSender<OutFrame>>,
}

/// Runs the sender of one producer.
pub(crate) struct Driver {
    /// The decisions.
    state: SenderState,
    /// The produce set (locked once per turn) and the wake-up `send` rings.
    shared: Arc<Shared>,
    /// Opens broker connections.
    network: Arc<dyn Network>,
    /// Live connections by broker.
    links: BTreeMap<i32, Link>,
    /// Connection tasks report here...
    events_tx: mpsc::UnboundedSender<ConnEvent>,
    /// ...and the driver reads here.
    events_rx: mpsc::UnboundedReceiver<ConnEvent>,
    /// Flush and close from the `Producer` handles.
    commands: mpsc::UnboundedReceiver<Command>,
    /// False once every handle is gone.
    commands_open: bool,
    /// Whoever waits for a flush or close, by the token the state answers with.
    waiters: BTreeMap<u64, oneshot::Sender<()>>,
    /// The next waiter token.
    next_token: u64,
}

impl Driver {
    /// A driver for the producer sharing `shared`.
    pub fn new(
        shared: Arc<Shared>,
        network: Arc<dyn Network>,
        commands: mpsc::UnboundedReceiver<Command>,
    ) -> Self {
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        Driver {
            state: SenderState::new(shared.config.clone(), shared.observer.is_some()),
            shared,
            network,
            links: BTreeMap::new(),
            events_tx,
            events_rx,
            commands,
            commands_open: true,
            waiters: BTreeMap::new(),
            next_token: 0,
        }
    }

    /// Turns until the state has delivered everything after a close.
    pub async fn run(mut self) {
        loop {
            // Closed batches are compressed outside the produce set's lock, so
            // sends go on meanwhile (on another core where there is one).
            if !self.shared.config.compression.is_none() {
                let to_compress = self.shared.accum().produce_set.take_to_compress();
                for closed in to_compress {
                    closed.run();
                }
            }
            let now = self.shared.clock.now();
            self.state.poll(now, &mut self.shared.accum());
            self.perform();
            if self.state.is_finished() {
                break;
            }
            let deadline = self.state.poll_timeout();
            tokio::select! {
                biased;
                Some(ev) = self.events_rx.recv() => self.on_conn_event(ev),
                cmd = self.commands.recv(), if self.commands_open => self.on_command(cmd),
                _ = self.shared.wake.notified() => {}
                _ = sleep_until_opt(deadline.map(|d| self.shared.clock.to_tokio(d))) => {}
            }
            while let Ok(ev) = self.events_rx.try_recv() {
                self.on_conn_event(ev);
            }
        }
        self.state.shutdown();
        self.perform();
        // Waiting sends fail: nothing will take their records any more.
        self.shared.memory.close();
        for (_, done) in std::mem::take(&mut self.waiters) {
            let _ = done.send(());
        }
    }

    /// Carries out every action the state asked for.
    fn perform(&mut self) {
        while let Some(action) = self.state.poll_action() {
            let Some(action) = self.shared.carry_out(action) else {
                continue;
            };
            match action {
                DriverCommand::Dial {
                    broker,
                    generation,
                    addr,
                } => {
                    let dial = Dial {
                        broker,
                        generation,
                        addr,
                    };
                    let tasks =
                        connection::spawn(dial, self.network.clone(), self.events_tx.clone());
                    let link = Link {
                        generation,
                        _tasks: tasks,
                        tx: None,
                    };
                    self.links.insert(broker, link);
                }
                DriverCommand::Write {
                    broker,
                    generation,
                    frame,
                } => {
                    // A failed send means the writer task is gone; its Closed
                    // event follows.
                    if let Some(tx) = self.link(broker, generation).and_then(|l| l.tx.as_ref()) {
                        let _ = tx.send(frame);
                    }
                }
                DriverCommand::Disconnect { broker, generation } => {
                    if self.link(broker, generation).is_some() {
                        self.links.remove(&broker);
                    }
                }
                DriverCommand::FlushDone(token) | DriverCommand::CloseDone(token) => {
                    if let Some(done) = self.waiters.remove(&token) {
                        let _ = done.send(());
                    }
                }
                // Memory, counters, metadata and events: `carry_out` did them.
                DriverCommand::ReleaseMemory { .. }
                | DriverCommand::Resolved(_)
                | DriverCommand::PublishMetadata(_)
                | DriverCommand::Observe(_) => {}
            }
        }
        let in_flight = self.state.in_flight_requests();
        self.shared
            .in_flight_requests
            .store(in_flight, Ordering::Relaxed);
    }

    /// The link of `broker` if it is the connection `generation`.
    fn link(&self, broker: i32, generation: u64) -> Option<&Link> {
        self.links
            .get(&broker)
            .filter(|l| l.generation == generation)
    }

    /// News from a connection task, handed to the state.
    fn on_conn_event(&mut self, ev: ConnEvent) {
        let now = self.shared.clock.now();
        match ev {
            ConnEvent::Connected {
                broker,
                generation,
                tx,
            } => {
                if let Some(link) = self.links.get_mut(&broker) {
                    if link.generation == generation {
                        link.tx = Some(tx);
                    }
                }
                self.state.handle_connected(broker, generation);
            }
            ConnEvent::Response {
                broker,
                generation,
                body,
            } => self.state.handle_response(broker, generation, body, now),
            ConnEvent::Closed {
                broker,
                generation,
                reason,
            } => self.state.handle_closed(broker, generation, reason, now),
        }
    }

    /// A flush or close from a handle (or `None`: every handle is gone).
    fn on_command(&mut self, cmd: Option<Command>) {
        let token = self.next_token;
        self.next_token += 1;
        match cmd {
            Some(Command::Flush { upto, done }) => {
                self.waiters.insert(token, done);
                self.state.handle_flush(upto, token);
            }
            Some(Command::Close { done }) => {
                self.waiters.insert(token, done);
                self.state.handle_close(Some(token));
            }
            None => {
                // Every handle is gone: nobody can wait for the records, but they
                // are still delivered, then the task ends.
                self.commands_open = false;
                self.shared.accum().closed = true;
                self.shared.closed.store(true, Ordering::Relaxed);
                self.state.handle_close(None);
            }
        }
    }
}

/// Sleeps until `deadline`, or forever without one.
async fn sleep_until_opt(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
