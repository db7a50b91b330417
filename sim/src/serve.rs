//! `sim serve`: the simulated cluster on real TCP, so any Kafka client can be
//! tested against it. Same broker code as inside turmoil ([`crate::broker`]);
//! broker-side faults (crash, restart, leader moves, error injection, lost
//! responses) come from a scenario's schedule or from a [`Control`] channel.
//! Network faults (partitions, holds, latency, loss) need the simulated network
//! and are refused here.
//!
//! Everything runs on one thread inside a `tokio::task::LocalSet`, like a world.

use crate::broker::{serve_connection, Ledger, SharedCluster};
use crate::cluster::{Cluster, ClusterSpec, LogBatch};
use crate::faults::{Action, Fault, FaultRunner, FaultSink, Host, LinkChange};
use crate::frames::FrameBudget;
use producer_core::TopicPartition;
use std::cell::{RefCell, RefMut};
use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

/// Final partition logs, by (topic, partition).
pub type Logs = BTreeMap<TopicPartition, Vec<LogBatch>>;

/// Commands a test or the CLI sends to a running server.
#[derive(Debug)]
pub enum Control {
    /// Apply a fault now, outside the schedule (never healed): the one door
    /// for faults from outside, injections included (`Action::Inject`).
    Fault(Action),
    /// Send back a copy of every partition log.
    Logs(oneshot::Sender<Logs>),
    /// Send back how many injections are still queued (not yet consumed).
    PendingInjections(oneshot::Sender<usize>),
    /// Send back a copy of what the brokers answered and the faults applied.
    Ledger(oneshot::Sender<Ledger>),
    /// Stop serving.
    Stop,
}

/// A bound, not yet running, server.
pub struct Server {
    cluster: SharedCluster,
    /// Memory for request frames being read, shared by every connection.
    budget: FrameBudget,
    listeners: Vec<TcpListener>,
    addrs: Vec<SocketAddr>,
}

/// Faults `serve` cannot apply: they need turmoil's simulated network.
pub fn check_supported(faults: &[Fault]) -> Result<(), String> {
    for f in faults {
        match f.action {
            Action::Crash(_)
            | Action::Restart(_)
            | Action::MoveLeader(..)
            | Action::ExpireProducers(..)
            | Action::Inject(..) => {}
            _ => {
                return Err(format!(
                    "`{}` at {} ms needs the simulated network; `sim serve` applies only crash, restart, move_leader, expire_producers and inject",
                    f.action,
                    f.at.as_millis()
                ))
            }
        }
    }
    Ok(())
}

/// Bytes all connections together may hold in request frames being read.
pub const DEFAULT_FRAME_BUDGET: usize = 256 * 1024 * 1024;

impl Server {
    /// Sets the memory all connections together may hold in frames being read
    /// (default [`DEFAULT_FRAME_BUDGET`]); a connection that needs more is closed.
    pub fn with_frame_budget(mut self, bytes: usize) -> Self {
        self.budget = FrameBudget::new(bytes);
        self
    }

    /// Binds one listener per broker on `host`, at `port`, `port + 1`, ... (or
    /// ephemeral ports when `port` is 0), and advertises those addresses.
    pub async fn bind(spec: ClusterSpec, host: &str, port: u16) -> io::Result<Server> {
        let mut listeners = Vec::new();
        let mut addrs = Vec::new();
        for b in 0..spec.brokers {
            let p = if port == 0 { 0 } else { port + b as u16 };
            let l = TcpListener::bind((host, p)).await?;
            addrs.push(l.local_addr()?);
            listeners.push(l);
        }
        let advertised = addrs.clone();
        let mut cluster = Cluster::new(spec, |id| {
            let a = advertised[id as usize];
            (a.ip().to_string(), a.port())
        });
        cluster.auto_create_topics = true;
        Ok(Server {
            cluster: Rc::new(RefCell::new(cluster)),
            budget: FrameBudget::new(DEFAULT_FRAME_BUDGET),
            listeners,
            addrs,
        })
    }

    /// Sets the brokers' wall clock: the Unix time (ms) of the moment the
    /// server starts serving. Record timestamps are checked against it (a
    /// CreateTime more than the topic's `message.timestamp.after.max.ms`
    /// ahead is refused) and LogAppendTime topics stamp it. The caller reads
    /// the real clock: `sim serve` answers real clients in real time.
    pub fn with_wall_clock(self, origin_ms: i64) -> Self {
        self.cluster.borrow_mut().wall_origin_ms = origin_ms;
        self
    }

    /// Whether a Metadata request naming an unknown topic creates it (default:
    /// yes, as Kafka's `auto.create.topics.enable`).
    pub fn with_auto_create_topics(self, on: bool) -> Self {
        self.cluster.borrow_mut().auto_create_topics = on;
        self
    }

    /// The brokers' addresses, broker 0 first.
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// `host:port,host:port,...` for a client's `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        self.addrs
            .iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Serves until [`Control::Stop`] (or the control channel closes), applying
    /// `faults` at their times from now. Must run inside a `LocalSet`. Returns the
    /// final logs.
    pub async fn run(self, faults: Vec<Fault>, control: mpsc::UnboundedReceiver<Control>) -> Logs {
        self.serve(faults, control).await.logs
    }

    /// As [`Server::run`], returning the logs and the ledger: what the brokers
    /// answered and the faults they applied.
    pub async fn serve(
        self,
        faults: Vec<Fault>,
        mut control: mpsc::UnboundedReceiver<Control>,
    ) -> Served {
        let start = tokio::time::Instant::now();
        let clock = move || start.elapsed();
        for (id, listener) in self.listeners.into_iter().enumerate() {
            let cluster = self.cluster.clone();
            let budget = self.budget.clone();
            tokio::task::spawn_local(async move {
                loop {
                    let Ok((stream, peer)) = listener.accept().await else {
                        continue;
                    };
                    if !cluster.borrow().is_up(id as i32) {
                        continue; // a crashed broker refuses connections
                    }
                    let _ = stream.set_nodelay(true);
                    let serve =
                        serve_connection(stream, id as i32, cluster.clone(), budget.clone(), clock);
                    tokio::task::spawn_local(async move {
                        let why = serve.await;
                        if why != "closed by the client" {
                            eprintln!("broker-{id}: connection from {peer} closed: {why}");
                        }
                    });
                }
            });
        }
        let mut runner = FaultRunner::new(faults);
        let mut sink = ServeSink {
            cluster: self.cluster.clone(),
        };
        let mut tick = tokio::time::interval(Duration::from_millis(10));
        loop {
            tokio::select! {
                biased;
                cmd = control.recv() => match cmd {
                    Some(Control::Fault(action)) => {
                        runner.apply_now(&action, clock(), &mut sink);
                    }
                    Some(Control::Logs(reply)) => {
                        let _ = reply.send(snapshot(&self.cluster));
                    }
                    Some(Control::Ledger(reply)) => {
                        let _ = reply.send(self.cluster.borrow().ledger.clone());
                    }
                    Some(Control::PendingInjections(reply)) => {
                        let _ = reply.send(self.cluster.borrow().injections.values().map(|q| q.len()).sum());
                    }
                    Some(Control::Stop) | None => break,
                },
                _ = tick.tick() => {
                    let now = clock();
                    runner.apply_due(now, &mut sink);
                }
            }
        }
        let c = self.cluster.borrow();
        Served {
            logs: c.logs(),
            ledger: c.ledger.clone(),
        }
    }
}

/// What a stopped server leaves: the logs and the ledger.
pub struct Served {
    /// Final partition logs.
    pub logs: Logs,
    /// What the brokers answered, and the faults they applied.
    pub ledger: Ledger,
}

/// The real-TCP cluster as faults see it: the cluster state only. A crashed
/// broker refuses new connections and closes the ones it has on their next
/// request (see `handle_frame`); there is no simulated network to change.
struct ServeSink {
    cluster: SharedCluster,
}

impl FaultSink for ServeSink {
    fn cluster(&self) -> RefMut<'_, Cluster> {
        self.cluster.borrow_mut()
    }

    fn producers(&self) -> u32 {
        0
    }

    fn stop_broker(&mut self, _: u32) {}

    fn start_broker(&mut self, _: u32) {}

    fn link(&mut self, _: LinkChange, _: Host, _: Host) -> Result<(), String> {
        Err("`sim serve` has no simulated network".into())
    }
}

fn snapshot(cluster: &SharedCluster) -> Logs {
    cluster.borrow().logs()
}
