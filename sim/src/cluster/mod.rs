//! The simulated cluster's state: brokers, topics, partition leaders, the log of
//! every partition, idempotent-producer windows, and injected errors.
//!
//! The state lives outside the broker hosts, so a broker crash loses connections
//! and (optionally) in-memory producer state, but never acknowledged data: the
//! log of a partition stands for its replicated log (acks=all).

pub mod group;
pub mod ledger;
pub mod refusals;
mod topic_config;

pub use topic_config::TopicConfig;

/// What an applied fault or heal changed, for the history and the `[expect]`
/// mechanism counts. A heal that restarts brokers is a `Restart`; one that
/// repairs links is `Network`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Change {
    /// Brokers were stopped: the `[expect]` mechanism `crashes` counts it.
    Crash,
    /// Brokers were started again: the mechanism `restarts` counts it.
    Restart,
    /// Links were cut, held, slowed or made lossy: counted in `faults`, and a
    /// coverage feature of guided search.
    Network,
    /// A partition lost its leader: counted in `faults`, and a coverage feature.
    LeaderMove,
    /// Broker answers were queued: counted in `faults`, and a coverage feature.
    Injection,
    /// Partitions elected a new leader: the mechanism `elections` counts it
    /// (not `faults`: it follows a crash or a move).
    Election,
    /// A partition forgot its producers' state: counted in `faults`, and a
    /// coverage feature.
    ProducersExpired,
    /// Nothing (the target resolved to nothing, or the sink cannot apply it):
    /// the history shows the fault fired, and no mechanism counts it.
    Nothing,
}

use crate::producer_state::{BrokerVersion, ProducerWindow};
use bytes::Bytes;
use ledger::{FaultEvent, Ledger};
use producer_core::error::code;
use producer_core::TopicPartition;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

/// How the cluster is built.
#[derive(Clone, Debug, PartialEq)]
pub struct ClusterSpec {
    /// Number of brokers (ids 0..brokers): `Cluster::new` builds one `Broker`
    /// for each, and fault targets are checked against it.
    pub brokers: u32,
    /// Topics to create at start: what `Cluster::new` builds partitions and
    /// leaders for.
    pub topics: Vec<TopicSpec>,
    /// The brokers' `message.max.bytes`: a produce batch larger than it is
    /// refused (MESSAGE_TOO_LARGE), a topic's `max.message.bytes` overrides it.
    pub max_message_bytes: usize,
    /// Time from a leader's crash (or a move order) to the new leader: when
    /// the elections queued in `pending_elections` are due.
    pub failover_delay: Duration,
    /// Whose answers the brokers give (see [`crate::producer_state`]): the
    /// idempotence rules of that Kafka release.
    pub broker_version: BrokerVersion,
}

/// One topic.
#[derive(Clone, Debug, PartialEq)]
pub struct TopicSpec {
    /// Name: the key of `Cluster::topics` and what the producers send to.
    pub name: String,
    /// Partition count: how many `Partition`s the topic gets.
    pub partitions: u32,
    /// Replicas per partition (capped at the broker count): which brokers
    /// can take over leadership when the leader crashes.
    pub replication: u32,
}

/// One record as stored in a log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogRecord {
    /// Offset in the partition: what the producer was acknowledged, and what
    /// the checker matches acknowledgements against.
    pub offset: i64,
    /// Key: compared with what was sent (the checker's record digests) and
    /// returned by Fetch.
    pub key: Option<Bytes>,
    /// Value: compared with what was sent and returned by Fetch.
    pub value: Option<Bytes>,
    /// Headers, in order: compared with what was sent and returned by Fetch.
    pub headers: Vec<(String, Option<Bytes>)>,
    /// Record timestamp (LogAppendTime when the topic says so): returned by
    /// Fetch and ListOffsets, and written to the trace.
    pub timestamp: i64,
}

/// One appended batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogBatch {
    /// Offset of its first record: where the checker finds the batch an
    /// acknowledgement names.
    pub base_offset: i64,
    /// The client id of the request that wrote it: which producer wrote the
    /// batch, for the checker and `sim serve`'s report.
    pub client_id: Arc<str>,
    /// Producer id (-1 without idempotence): with epoch and base sequence,
    /// what the checker's sequence rules read (no gap, no duplicate).
    pub producer_id: i64,
    /// Producer epoch: the sequence rules restart at each new epoch.
    pub producer_epoch: i16,
    /// Base sequence: the sequence rules read it (consecutive per producer,
    /// epoch and partition).
    pub base_sequence: i32,
    /// Broker that appended it: named in violations and the trace.
    pub leader: i32,
    /// Simulated time of the append: the time of a violation about the batch,
    /// and the order of appends in the checker's view.
    pub appended_at: Duration,
    /// Bytes of the batch as the broker received it: the accounting checks it
    /// against the producer's batch limit.
    pub bytes: usize,
    /// Bytes of the produce request that carried it (size prefix included):
    /// the accounting checks it against `max.request.size`.
    pub request_bytes: usize,
    /// The records: what the checker compares with what was sent, and what
    /// consumers of `sim serve` fetch.
    pub records: Vec<LogRecord>,
}

/// One partition.
#[derive(Clone, Debug)]
pub struct Partition {
    /// Current leader, `None` during failover: which broker answers produce
    /// requests, and what Metadata names.
    pub leader: Option<i32>,
    /// Bumped at every leader change, and once more when a partition that had
    /// no live replica gets a leader again (as Kafka's controller does: the
    /// leader goes to none, then to the restarted broker). Metadata answers it;
    /// requests with an older or newer one are refused (KIP-320).
    pub leader_epoch: i32,
    /// Lost its leader with no other live replica to take over: whoever leads
    /// it next restarted since, with only its producer snapshot, so the next
    /// election bumps the leader epoch once more.
    pub offline: bool,
    /// Brokers holding a replica, preferred leader first: the candidates of an
    /// election, and the replica lists of Metadata.
    pub replicas: Vec<i32>,
    /// The log: what the checker judges, and what Fetch and ListOffsets read.
    pub log: Vec<LogBatch>,
    /// Next offset to assign: the base offset of the next append, and the
    /// high watermark Fetch and ListOffsets answer.
    pub next_offset: i64,
    /// Producer id to its window (the last batches and their offsets): what
    /// the idempotence rules check a produce against (duplicates, gaps,
    /// epochs).
    pub producers: BTreeMap<i64, ProducerWindow>,
    /// The leader before the current one: what a stale Metadata answer names
    /// (the `stale_metadata` fault).
    pub former_leader: Option<i32>,
    /// Each batch of `log` as it arrived (sharing the request's buffer, as its
    /// records do), with the leader epoch it was appended in: what a Fetch
    /// returns, base offset and leader epoch written in.
    pub raw: Vec<(Bytes, i32)>,
}

impl Partition {
    fn new(replicas: Vec<i32>) -> Partition {
        Partition {
            leader: Some(replicas[0]),
            leader_epoch: 0,
            offline: false,
            replicas,
            log: Vec::new(),
            next_offset: 0,
            producers: BTreeMap::new(),
            raw: Vec::new(),
            former_leader: None,
        }
    }
}

/// The Unix time (ms) at simulated time zero: a world's brokers read their
/// clock from here and its producers stamp records from here (turmoil's
/// epoch is the same instant).
pub const SIM_EPOCH_MS: i64 = 1_700_000_000_000;

/// Partitions of a topic created without a count (Kafka's `num.partitions`).
pub const DEFAULT_PARTITIONS: u32 = 1;

/// Replicas of a topic created without a factor: three where there are three
/// brokers (Kafka's `default.replication.factor` is 1, but a crash or leader
/// move needs another replica to fail over to).
pub fn default_replication(brokers: u32) -> u32 {
    brokers.clamp(1, 3)
}

/// True for a name Kafka accepts: 1..=249 of `[a-zA-Z0-9._-]`, not `.` or `..`.
pub fn valid_topic_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 249
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
}

/// What a broker does with the next produce request for a partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Injection {
    /// Answer with this error code. Codes 7 and 20 append first (the write
    /// happened, the acknowledgement failed), others reject: tests the
    /// producer's handling of each code.
    Error(i16),
    /// Append, then close the connection without answering: the producer
    /// must retry a batch that was written.
    LoseResponse,
    /// Append, then crash the leader before it answers; it restarts after the
    /// given milliseconds (never when `None`).
    CrashAfterAppend(Option<u64>),
    /// Append, and hold the answer until a request on another connection has
    /// been answered (answers overtake each other across connections).
    HoldResponse,
}

/// A request a broker handled, recorded for faults triggered by protocol events
/// (only while a scenario has such faults).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    /// Kafka api key: a trigger counts requests of one API.
    pub api: i16,
    /// The producer whose client id (`producer-N`) sent it: a trigger may
    /// count one producer's requests only.
    pub producer: Option<u32>,
    /// The broker that handled it: a trigger may count one broker's only.
    pub broker: i32,
    /// For a produce: each partition's batch, with its base sequence and
    /// record count, for triggers on a partition (and a sequence in it).
    pub batches: Vec<(TopicPartition, i32, usize)>,
}

/// One broker.
#[derive(Clone, Debug)]
pub struct Broker {
    /// Serving requests: a stopped broker answers nothing and leads nothing.
    pub up: bool,
    /// Host name to advertise in Metadata and FindCoordinator answers.
    pub host: String,
    /// Port to advertise in Metadata and FindCoordinator answers.
    pub port: u16,
}

/// The whole cluster.
#[derive(Debug)]
pub struct Cluster {
    /// How it was built: the failover delay and broker limits the handlers
    /// read, and what a restart rebuilds.
    pub spec: ClusterSpec,
    /// Brokers by id: which are up, and their advertised addresses.
    pub brokers: Vec<Broker>,
    /// Topics by name: each partition's leader, log and producer windows.
    pub topics: BTreeMap<String, Vec<Partition>>,
    /// Producer ids granted, with their current epoch: InitProducerId gives
    /// the next id, or the next epoch of a known one (KIP-360).
    pub producer_ids: BTreeMap<i64, i16>,
    /// Errors to inject, per partition: the produce handler answers the next
    /// requests of the partition with them.
    pub injections: BTreeMap<TopicPartition, VecDeque<Injection>>,
    /// Injected refusals of a partition's state that still hold for the
    /// batches a producer had behind the refused one.
    pub refusals: refusals::Refusals,
    /// Pending leader elections, with the time each is due: run by
    /// `run_elections` once the failover delay has passed.
    pub pending_elections: Vec<(Duration, TopicPartition)>,
    /// Injected answers actually given: a scenario can require some
    /// (`[expect]` mechanisms), so an injection that never met a request shows.
    pub injections_hit: u64,
    /// Record handled requests in `seen`: on only while event-triggered
    /// faults wait, so runs without them keep nothing.
    pub recording: bool,
    /// Requests handled, in order, while `recording`: what the fault runner
    /// matches event triggers against.
    pub seen: Vec<Seen>,
    /// Brokers that asked to be crashed (an injected crash after append),
    /// with the delay until their restart; the fault runner applies them.
    pub crash_requests: Vec<(i32, Option<u64>)>,
    /// Metadata answers left to give with the former leaders (the
    /// `stale_metadata` fault).
    pub stale_metadata: u32,
    /// Answers written by any connection: a held answer waits for one more
    /// (`Injection::HoldResponse`).
    pub answered: std::rc::Rc<AnswerSignal>,
    /// What the brokers answered and which faults they applied (for the stop
    /// report and the black-box verdict of `sim serve`).
    pub ledger: Ledger,
    /// The latest time the cluster was told (requests, elections, faults):
    /// the time of faults whose caller gives none (restart, expiry).
    pub clock: Duration,
    /// A Metadata request naming an unknown topic creates it (Kafka's
    /// `auto.create.topics.enable`; off in simulated worlds, a scenario's
    /// `cluster.auto_create_topics` for `sim serve`).
    pub auto_create_topics: bool,
    /// Consumer groups by id: the group coordinator's state, kept here so a
    /// coordinator change loses nothing.
    pub groups: BTreeMap<String, group::Group>,
    /// Each topic's configuration, by name (every topic has one): the limits
    /// and policies the produce handler applies.
    pub topic_configs: BTreeMap<String, TopicConfig>,
    /// The wall-clock time (Unix ms) at time zero: what the brokers' clock
    /// reads for record timestamps (the timestamp checks and LogAppendTime).
    /// `sim serve` sets the real time it started; a simulated world keeps
    /// [`SIM_EPOCH_MS`], the origin its producers stamp from.
    pub wall_origin_ms: i64,
}

/// Counts answers written by every connection and wakes held answers.
#[derive(Debug, Default)]
pub struct AnswerSignal {
    /// Answers so far: a held answer is released once it has grown.
    pub count: std::cell::Cell<u64>,
    /// Woken at each answer, so held answers re-check `count`.
    pub notify: tokio::sync::Notify,
}

impl AnswerSignal {
    /// A connection wrote an answer.
    pub fn answered(&self) {
        self.count.set(self.count.get() + 1);
        self.notify.notify_waiters();
    }
}

/// The partitions of topic `t`, the `index`-th topic of a cluster of `n` brokers.
fn partitions(t: &TopicSpec, index: u32, n: u32) -> Vec<Partition> {
    let rf = t.replication.clamp(1, n);
    (0..t.partitions)
        .map(|p| {
            let first = (p + index) % n;
            Partition::new((0..rf).map(|r| ((first + r) % n) as i32).collect())
        })
        .collect()
}

impl Cluster {
    /// A cluster with leaders spread round-robin, advertised as `host_of(id)`.
    pub fn new(spec: ClusterSpec, host_of: impl Fn(u32) -> (String, u16)) -> Self {
        let n = spec.brokers.max(1);
        let brokers = (0..n)
            .map(|id| {
                let (host, port) = host_of(id);
                Broker {
                    up: true,
                    host,
                    port,
                }
            })
            .collect();
        let mut topics = BTreeMap::new();
        let mut topic_configs = BTreeMap::new();
        for (ti, t) in spec.topics.iter().enumerate() {
            topics.insert(t.name.clone(), partitions(t, ti as u32, n));
            topic_configs.insert(t.name.clone(), TopicConfig::new(&t.name, ti));
        }
        Cluster {
            spec,
            brokers,
            topics,
            producer_ids: BTreeMap::new(),
            injections: BTreeMap::new(),
            refusals: Default::default(),
            pending_elections: Vec::new(),
            injections_hit: 0,
            recording: false,
            seen: Vec::new(),
            crash_requests: Vec::new(),
            stale_metadata: 0,
            answered: Default::default(),
            ledger: Ledger::default(),
            clock: Duration::ZERO,
            auto_create_topics: false,
            groups: BTreeMap::new(),
            topic_configs,
            wall_origin_ms: SIM_EPOCH_MS,
        }
    }

    /// The brokers' wall clock (Unix ms) at simulated time `now`.
    pub fn wall_ms(&self, now: Duration) -> i64 {
        self.wall_origin_ms.saturating_add(now.as_millis() as i64)
    }

    /// The configuration of an existing topic.
    pub fn topic_config(&self, topic: &str) -> Option<&TopicConfig> {
        self.topic_configs.get(topic)
    }

    /// Creates a topic of `partitions` partitions with `replication` replicas
    /// each, leaders spread round-robin as for the spec's topics.
    pub fn create_topic(&mut self, name: &str, count: u32, replication: u32) -> Result<(), i16> {
        let config = TopicConfig::new(name, self.topics.len());
        self.create_topic_with(name, count, replication, config)
    }

    /// As [`Cluster::create_topic`], with this configuration.
    pub fn create_topic_with(
        &mut self,
        name: &str,
        count: u32,
        replication: u32,
        config: TopicConfig,
    ) -> Result<(), i16> {
        self.check_new_topic(name, count, replication)?;
        let spec = TopicSpec {
            name: name.to_string(),
            partitions: count,
            replication,
        };
        let parts = partitions(&spec, self.topics.len() as u32, self.brokers.len() as u32);
        self.topics.insert(name.to_string(), parts);
        self.topic_configs.insert(name.to_string(), config);
        Ok(())
    }

    /// Why [`Cluster::create_topic`] would refuse these arguments, if it would.
    pub fn check_new_topic(&self, name: &str, count: u32, replication: u32) -> Result<(), i16> {
        if !valid_topic_name(name) {
            return Err(code::INVALID_TOPIC_EXCEPTION);
        }
        if self.topics.contains_key(name) {
            return Err(code::TOPIC_ALREADY_EXISTS);
        }
        if count == 0 || count > 10_000 {
            return Err(code::INVALID_PARTITIONS);
        }
        let n = self.brokers.len() as u32;
        if replication == 0 || replication > n {
            return Err(code::INVALID_REPLICATION_FACTOR);
        }
        Ok(())
    }

    /// The controller: the first broker that is up (-1 when none is).
    pub fn controller(&self) -> i32 {
        self.brokers
            .iter()
            .position(|b| b.up)
            .map_or(-1, |i| i as i32)
    }

    /// A copy of every partition's log, by (topic, partition).
    pub fn logs(&self) -> BTreeMap<TopicPartition, Vec<LogBatch>> {
        self.topics
            .iter()
            .flat_map(|(t, parts)| {
                parts
                    .iter()
                    .enumerate()
                    .map(move |(i, p)| (TopicPartition::new(t, i as i32), p.log.clone()))
            })
            .collect()
    }

    /// Moves every partition's log out, as [`Self::logs`] would copy them: for
    /// the end of a run, when nothing reads the logs here any more (the copy
    /// and the drop of every batch were a tenth of a short run's cost).
    pub fn take_logs(&mut self) -> BTreeMap<TopicPartition, Vec<LogBatch>> {
        self.topics
            .iter_mut()
            .flat_map(|(t, parts)| {
                parts.iter_mut().enumerate().map(move |(i, p)| {
                    (TopicPartition::new(t, i as i32), std::mem::take(&mut p.log))
                })
            })
            .collect()
    }

    /// The partition, if it exists.
    pub fn partition(&self, topic: &str, p: i32) -> Option<&Partition> {
        self.topics.get(topic)?.get(usize::try_from(p).ok()?)
    }

    /// The partition, mutably.
    pub fn partition_mut(&mut self, topic: &str, p: i32) -> Option<&mut Partition> {
        self.topics
            .get_mut(topic)?
            .get_mut(usize::try_from(p).ok()?)
    }

    /// True when the broker serves requests.
    pub fn is_up(&self, broker: i32) -> bool {
        usize::try_from(broker)
            .ok()
            .and_then(|i| self.brokers.get(i))
            .is_some_and(|b| b.up)
    }

    /// Moves the cluster's clock to `now` (it never goes back).
    pub fn advance(&mut self, now: Duration) {
        self.clock = self.clock.max(now);
    }

    /// Marks a broker down; its partitions lose their leader now and get a new
    /// one after the failover delay.
    pub fn crash(&mut self, broker: i32, now: Duration) {
        self.advance(now);
        self.ledger.fault(now, FaultEvent::Crash(broker));
        if let Some(b) = usize::try_from(broker)
            .ok()
            .and_then(|i| self.brokers.get_mut(i))
        {
            b.up = false;
        }
        let due = now + self.spec.failover_delay;
        let mut elections = Vec::new();
        let up: Vec<bool> = self.brokers.iter().map(|b| b.up).collect();
        for (topic, parts) in &mut self.topics {
            for (i, p) in parts.iter_mut().enumerate() {
                if p.leader == Some(broker) {
                    p.former_leader = p.leader.take();
                    p.leader_epoch += 1;
                    p.offline = !p
                        .replicas
                        .iter()
                        .any(|&r| r != broker && up.get(r as usize) == Some(&true));
                    elections.push((due, TopicPartition::new(topic, i as i32)));
                }
            }
        }
        self.pending_elections.extend(elections);
    }

    /// Marks a broker up again. A partition it hosts that no other replica
    /// took over (offline) is led next by this broker, which rebuilt its
    /// producer state from its snapshot: each producer keeps its last batch
    /// only (Kafka 4.4, after a clean restart and after `kill -9` alike;
    /// docs/fidelity.md). A partition another replica leads kept its state
    /// (followers build it as they replicate). Expiry forgets it all
    /// ([`Cluster::expire_producers`]).
    pub fn restart(&mut self, broker: i32) {
        self.ledger.fault(self.clock, FaultEvent::Restart(broker));
        if let Some(b) = usize::try_from(broker)
            .ok()
            .and_then(|i| self.brokers.get_mut(i))
        {
            b.up = true;
        }
        let mut cut = Vec::new();
        for (topic, parts) in &mut self.topics {
            for (i, p) in parts.iter_mut().enumerate() {
                if p.offline && p.leader.is_none() && p.replicas.contains(&broker) {
                    let mut forgot = false;
                    for w in p.producers.values_mut() {
                        forgot |= w.cut_to_last();
                    }
                    if forgot {
                        cut.push(TopicPartition::new(topic, i as i32));
                    }
                }
            }
        }
        for tp in cut {
            self.ledger.fault(self.clock, FaultEvent::WindowCut(tp));
        }
        // Partitions that found no live replica keep retrying their election
        // every failover delay (see `run_elections`), so they will find this one.
    }

    /// Forgets every producer's state on one partition, as Kafka does when a
    /// producer id expires (`producer.id.expiration.ms`) or retention deletes
    /// the segments holding its batches (`removeExpiredProducers`).
    pub fn expire_producers(&mut self, topic: &str, partition: i32) {
        self.ledger.fault(
            self.clock,
            FaultEvent::ExpireProducers(TopicPartition::new(topic, partition)),
        );
        if let Some(p) = self.partition_mut(topic, partition) {
            p.producers.clear();
        }
    }

    /// Takes leadership away from the current leader; a new one is elected after
    /// the failover delay (preferring a different live replica).
    pub fn move_leader(&mut self, topic: &str, partition: i32, now: Duration) {
        self.advance(now);
        self.ledger.fault(
            now,
            FaultEvent::MoveLeader(TopicPartition::new(topic, partition)),
        );
        let due = now + self.spec.failover_delay;
        if let Some(p) = self.partition_mut(topic, partition) {
            p.former_leader = p.leader.take().or(p.former_leader);
            p.leader_epoch += 1;
            self.pending_elections
                .push((due, TopicPartition::new(topic, partition)));
        }
    }

    /// Runs the elections that are due. Returns how many partitions got a leader.
    pub fn run_elections(&mut self, now: Duration) -> usize {
        self.advance(now);
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending_elections)
            .into_iter()
            .partition(|(t, _)| *t <= now);
        self.pending_elections = later;
        let mut elected = 0;
        for (_, tp) in due {
            let TopicPartition { topic, partition } = &tp;
            let partition = *partition;
            let live: Vec<i32> = match self.partition(topic, partition) {
                Some(p) => p
                    .replicas
                    .iter()
                    .copied()
                    .filter(|&b| self.is_up(b))
                    .collect(),
                None => continue,
            };
            let p = self.partition_mut(topic, partition).expect("exists");
            if p.leader.is_some() {
                continue;
            }
            // Rotate leadership: the first live replica after the old position.
            let start = (p.leader_epoch as usize) % p.replicas.len().max(1);
            let choice = (0..p.replicas.len())
                .map(|i| p.replicas[(start + i) % p.replicas.len()])
                .find(|b| live.contains(b));
            match choice {
                Some(b) => {
                    p.leader = Some(b);
                    if p.offline {
                        // none -> this broker: a second leader change.
                        p.leader_epoch += 1;
                        p.offline = false;
                    }
                    elected += 1;
                }
                None => {
                    // No live replica: try again a failover delay later.
                    let again = now + self.spec.failover_delay;
                    self.pending_elections.push((again, tp.clone()));
                }
            }
        }
        elected
    }

    /// Queues injections for the next produce requests of a partition.
    pub fn inject(&mut self, topic: &str, partition: i32, what: Injection, times: u32) {
        let q = self
            .injections
            .entry(TopicPartition::new(topic, partition))
            .or_default();
        for _ in 0..times {
            q.push_back(what);
        }
    }

    /// Grants a producer id, or bumps the epoch of `(pid, epoch)` when it is current.
    pub fn init_producer_id(&mut self, bump: Option<(i64, i16)>) -> (i64, i16) {
        if let Some((pid, epoch)) = bump {
            if let Some(current) = self.producer_ids.get_mut(&pid) {
                if *current == epoch && epoch < i16::MAX {
                    *current += 1;
                    return (pid, *current);
                }
            }
        }
        let pid = self.producer_ids.keys().next_back().map_or(1000, |p| p + 1);
        self.producer_ids.insert(pid, 0);
        (pid, 0)
    }
}
