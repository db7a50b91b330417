//! `sim serve`: the simulated cluster on real TCP, so any Kafka client can be
//! tested against it. Same broker code as inside turmoil ([`crate::broker`]);
//! broker-side faults (crash, restart, leader moves, error injection, lost
//! responses) come from a scenario's schedule or from a [`Control`] channel.
//! Network faults (partitions, holds, latency, loss) need the simulated network
//! and are refused here.
//!
//! Everything runs on one thread inside a `tokio::task::LocalSet`, like a world.

use crate::broker::{serve_connection, SharedCluster};
use crate::cluster::{Cluster, ClusterSpec, Injection, LogBatch};
use crate::faults::{Action, Fault, Target};
use crate::history::Tp;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

/// Final partition logs, by (topic, partition).
pub type Logs = BTreeMap<Tp, Vec<LogBatch>>;

/// Commands a test or the CLI sends to a running server.
#[derive(Debug)]
pub enum Control {
    /// Queue an injection for the next produce requests of a partition.
    Inject {
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
        /// What happens.
        what: Injection,
        /// How many requests.
        times: u32,
    },
    /// Apply a fault now.
    Fault(Action),
    /// Send back a copy of every partition log.
    Logs(oneshot::Sender<Logs>),
    /// Send back how many injections are still queued (not yet consumed).
    PendingInjections(oneshot::Sender<usize>),
    /// Stop serving.
    Stop,
}

/// A bound, not yet running, server.
pub struct Server {
    cluster: SharedCluster,
    listeners: Vec<TcpListener>,
    addrs: Vec<SocketAddr>,
}

/// Faults `serve` cannot apply: they need turmoil's simulated network.
pub fn check_supported(faults: &[Fault]) -> Result<(), String> {
    for f in faults {
        match f.action {
            Action::Crash(_) | Action::Restart(_) | Action::MoveLeader(..) | Action::Inject(..) => {}
            _ => {
                return Err(format!(
                    "`{}` at {} ms needs the simulated network; `sim serve` applies only crash, restart, move_leader and inject",
                    f.action,
                    f.at.as_millis()
                ))
            }
        }
    }
    Ok(())
}

impl Server {
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
        let cluster = Cluster::new(spec, |id| {
            let a = advertised[id as usize];
            (a.ip().to_string(), a.port())
        });
        Ok(Server {
            cluster: Rc::new(RefCell::new(cluster)),
            listeners,
            addrs,
        })
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
    pub async fn run(
        self,
        mut faults: Vec<Fault>,
        mut control: mpsc::UnboundedReceiver<Control>,
    ) -> Logs {
        let start = tokio::time::Instant::now();
        let clock = move || start.elapsed();
        for (id, listener) in self.listeners.into_iter().enumerate() {
            let cluster = self.cluster.clone();
            tokio::task::spawn_local(async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    if !cluster.borrow().is_up(id as i32) {
                        continue; // a crashed broker refuses connections
                    }
                    let _ = stream.set_nodelay(true);
                    tokio::task::spawn_local(serve_connection(
                        stream,
                        id as i32,
                        cluster.clone(),
                        clock,
                    ));
                }
            });
        }
        faults.sort_by_key(|f| f.at);
        let mut faults = faults.into_iter().peekable();
        let mut tick = tokio::time::interval(Duration::from_millis(10));
        loop {
            tokio::select! {
                biased;
                cmd = control.recv() => match cmd {
                    Some(Control::Inject { topic, partition, what, times }) => {
                        self.cluster.borrow_mut().inject(&topic, partition, what, times)
                    }
                    Some(Control::Fault(action)) => apply(&self.cluster, &action, clock()),
                    Some(Control::Logs(reply)) => {
                        let _ = reply.send(snapshot(&self.cluster));
                    }
                    Some(Control::PendingInjections(reply)) => {
                        let _ = reply.send(self.cluster.borrow().injections.values().map(|q| q.len()).sum());
                    }
                    Some(Control::Stop) | None => break,
                },
                _ = tick.tick() => {
                    let now = clock();
                    while faults.peek().is_some_and(|f| f.at <= now) {
                        let f = faults.next().expect("peeked");
                        apply(&self.cluster, &f.action, now);
                    }
                    self.cluster.borrow_mut().run_elections(now);
                }
            }
        }
        snapshot(&self.cluster)
    }
}

fn brokers_of(cluster: &Cluster, t: &Target) -> Vec<i32> {
    match t {
        Target::Broker(b) => vec![*b as i32],
        Target::Leader(topic, p) => cluster
            .partition(topic, *p)
            .and_then(|x| x.leader)
            .into_iter()
            .collect(),
        Target::AllBrokers => (0..cluster.brokers.len() as i32).collect(),
        Target::Producer(_) | Target::AllProducers => Vec::new(),
    }
}

fn apply(cluster: &SharedCluster, action: &Action, now: Duration) {
    let mut c = cluster.borrow_mut();
    match action {
        Action::Crash(t) => {
            for b in brokers_of(&c, t) {
                c.crash(b, now);
            }
        }
        Action::Restart(t) => {
            for b in brokers_of(&c, t) {
                c.restart(b);
            }
        }
        Action::MoveLeader(topic, p) => c.move_leader(topic, *p, now),
        Action::Inject(topic, p, what, times) => c.inject(topic, *p, *what, *times),
        _ => {}
    }
}

fn snapshot(cluster: &SharedCluster) -> Logs {
    cluster.borrow().logs()
}
