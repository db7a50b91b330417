//! Scenario files: TOML in, a validated [`Scenario`] out, or an error that names
//! the file, the line and column, the field and what was expected.
//!
//! The schema is documented with a full annotated example in `docs/scenarios.md`.

use crate::cluster::{ClusterSpec, TopicSpec};
use crate::mechanisms::{Bound, CountFile, Mechanism, MechanismExpect};
use crate::producer_state::BrokerVersion;
use serde::Deserialize;
use std::fmt;
use std::path::Path;
use std::time::Duration;
use toml::Spanned;

/// A scenario file that could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    /// The file.
    pub file: String,
    /// 1-based line and column, when known.
    pub position: Option<(usize, usize)>,
    /// What is wrong (field and expectation).
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some((line, col)) => write!(f, "{}:{line}:{col}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for ScenarioError {}

/// Most seeds a scenario file's `seeds = N` may ask for (each is a test run).
pub const MAX_FILE_SEEDS: u64 = 100_000;

/// `seeds = [1, 2, 3]` or `seeds = 10` (meaning 0..10).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum Seeds {
    /// Exactly these seeds.
    List(Vec<u64>),
    /// Seeds 0..n.
    Count(u64),
}

impl Seeds {
    /// The seeds to run.
    pub fn to_vec(&self) -> Vec<u64> {
        match self {
            Seeds::List(v) => v.clone(),
            Seeds::Count(n) => (0..*n).collect(),
        }
    }
}

/// `value_size = 100` or `value_size = [10, 500]` (uniform, inclusive).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum SizeSpec {
    /// Always this size.
    Fixed(usize),
    /// Uniform in `[min, max]`.
    Range([usize; 2]),
}

impl SizeSpec {
    /// (min, max).
    pub fn bounds(&self) -> (usize, usize) {
        match *self {
            SizeSpec::Fixed(n) => (n, n),
            SizeSpec::Range([a, b]) => (a, b),
        }
    }
}

/// How producers get their records.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Sharing {
    /// Every producer is handed the same record values (same buffers).
    Shared,
    /// Every producer gets a deep copy of the same records.
    Cloned,
    /// Even records shared, odd records cloned.
    Mixed,
    /// Every producer has records of its own.
    Distinct,
}

/// How records are keyed.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum KeyMode {
    /// Null keys (sticky partitioning).
    None,
    /// A key per record.
    Unique,
    /// Keys drawn from a space of `keys` values (collisions on purpose).
    Space,
}

fn default_topic() -> String {
    "events".into()
}
fn default_records() -> usize {
    100
}
fn default_value_size() -> SizeSpec {
    SizeSpec::Range([10, 200])
}
fn default_keys() -> usize {
    64
}
fn default_sharing() -> Sharing {
    Sharing::Shared
}
fn default_key_mode() -> KeyMode {
    KeyMode::Space
}
fn default_burst() -> usize {
    10
}

/// What the producers send.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WorkloadSpec {
    /// Topic every record goes to.
    #[serde(default = "default_topic")]
    pub topic: String,
    /// Records per producer.
    #[serde(default = "default_records")]
    pub records: usize,
    /// Value sizes.
    #[serde(default = "default_value_size")]
    pub value_size: SizeSpec,
    /// Keying.
    #[serde(default = "default_key_mode")]
    pub key: KeyMode,
    /// Key space size for `key = "space"`.
    #[serde(default = "default_keys")]
    pub keys: usize,
    /// Most headers per record (0..=headers, unique keys).
    #[serde(default)]
    pub headers: usize,
    /// Sharing mode.
    #[serde(default = "default_sharing")]
    pub sharing: Sharing,
    /// Records sent back to back before a pause.
    #[serde(default = "default_burst")]
    pub burst: usize,
    /// Pause between bursts.
    #[serde(default)]
    pub interval_ms: u64,
    /// Every `oversize_every`-th record is `oversize_bytes` long (0 = never).
    #[serde(default)]
    pub oversize_every: usize,
    /// Size of those records.
    #[serde(default)]
    pub oversize_bytes: usize,
}

impl Default for WorkloadSpec {
    fn default() -> Self {
        toml::from_str("").expect("every field has a default")
    }
}

/// Declares the producer settings once and the three places they appear:
/// `[producers]` (shared by all), `[[producers.override]]` (one producer) and
/// the merged [`ProducerSettings`]. Plain fields (no `flatten`) keep
/// `deny_unknown_fields` working, so a misspelt setting is an error.
macro_rules! producer_settings {
    ($($field:ident : $ty:ty),* $(,)?) => {
        /// Producer settings (all optional; defaults suit a simulation).
        #[derive(Debug, Clone, Default, Deserialize, PartialEq)]
        #[serde(deny_unknown_fields)]
        pub struct ProducerSettings {
            $(#[allow(missing_docs)] pub $field: Option<$ty>,)*
        }

        /// The producers of a scenario: how many, their shared settings, overrides.
        #[derive(Debug, Clone, Deserialize, PartialEq)]
        #[serde(deny_unknown_fields)]
        pub struct ProducersSpec {
            /// How many.
            #[serde(default = "default_producer_count")]
            pub count: u32,
            /// Settings of individual producers.
            #[serde(default, rename = "override")]
            pub overrides: Vec<Spanned<ProducerOverride>>,
            $(#[allow(missing_docs)] pub $field: Option<$ty>,)*
        }

        /// A per-producer override: `[[producers.override]] index = 1, linger_ms = 0`.
        #[derive(Debug, Clone, Deserialize, PartialEq)]
        #[serde(deny_unknown_fields)]
        pub struct ProducerOverride {
            /// Which producer (0-based).
            pub index: u32,
            $(#[allow(missing_docs)] pub $field: Option<$ty>,)*
        }

        impl ProducerSettings {
            /// `self` with `other`'s values where `other` sets them.
            fn overlay(&self, other: &ProducerSettings) -> ProducerSettings {
                ProducerSettings { $($field: other.$field.clone().or(self.$field.clone()),)* }
            }
        }

        impl ProducersSpec {
            /// The settings every producer starts from.
            pub fn common(&self) -> ProducerSettings {
                ProducerSettings { $($field: self.$field.clone(),)* }
            }
        }

        impl ProducerOverride {
            /// The settings this override changes.
            pub fn settings(&self) -> ProducerSettings {
                ProducerSettings { $($field: self.$field.clone(),)* }
            }
        }
    };
}

producer_settings! {
    idempotence: bool,
    linger_ms: u64,
    batch_size: usize,
    max_message_bytes: usize,
    max_request_size: usize,
    max_records_per_batch: usize,
    max_in_flight: usize,
    retries: u32,
    retry_backoff_ms: u64,
    request_timeout_ms: u64,
    delivery_timeout_ms: u64,
    buffer_memory: usize,
    max_block_ms: u64,
    close: CloseMode,
    flush_every: usize,
    send_tasks: usize,
    drop_futures_every: usize,
    sends_after_close: usize,
    start_after_ms: u64,
}

/// When the application calls `close()`.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum CloseMode {
    /// After every delivery future resolved and a final `flush()`.
    #[default]
    AfterAcks,
    /// Right after the last send, with records buffered and in flight.
    InFlight,
}

/// How the application uses its producer (see [`crate::client`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifecycle {
    /// When `close()` is called.
    pub close: CloseMode,
    /// `flush()` after every Nth send, concurrently with the sends (0 = never).
    pub flush_every: usize,
    /// Tasks sending through one `Producer` handle.
    pub send_tasks: usize,
    /// Every Nth delivery future is dropped unpolled (0 = never).
    pub drop_futures_every: usize,
    /// The last N records are sent after `close()` returned.
    pub sends_after_close: usize,
    /// The producer starts this late.
    pub start_after: Duration,
}

impl ProducerSettings {
    /// How this producer's application behaves.
    pub fn lifecycle(&self) -> Lifecycle {
        Lifecycle {
            close: self.close.unwrap_or_default(),
            flush_every: self.flush_every.unwrap_or(0),
            send_tasks: self.send_tasks.unwrap_or(1),
            drop_futures_every: self.drop_futures_every.unwrap_or(0),
            sends_after_close: self.sends_after_close.unwrap_or(0),
            start_after: Duration::from_millis(self.start_after_ms.unwrap_or(0)),
        }
    }
}

impl ProducerSettings {
    /// The producer-core config for producer `index` of a world seeded `seed`.
    // `..d` fills the fields scenarios do not set (`bugs`: none).
    pub fn to_config(
        &self,
        index: u32,
        seed: u64,
        bootstrap: Vec<String>,
    ) -> producer_core::Config {
        let d = producer_core::Config::default();
        let ms = Duration::from_millis;
        producer_core::Config {
            client_id: format!("producer-{index}"),
            bootstrap,
            idempotence: self.idempotence.unwrap_or(true),
            linger: ms(self.linger_ms.unwrap_or(5)),
            batch_size: self.batch_size.unwrap_or(d.batch_size),
            max_message_bytes: self.max_message_bytes.unwrap_or(d.max_message_bytes),
            max_request_size: self.max_request_size.unwrap_or(d.max_request_size),
            max_records_per_batch: self
                .max_records_per_batch
                .unwrap_or(d.max_records_per_batch),
            max_in_flight: self.max_in_flight.unwrap_or(5),
            retries: self.retries.unwrap_or(d.retries),
            retry_backoff: ms(self.retry_backoff_ms.unwrap_or(50)),
            request_timeout: ms(self.request_timeout_ms.unwrap_or(2_000)),
            delivery_timeout: ms(self.delivery_timeout_ms.unwrap_or(60_000)),
            buffer_memory: self.buffer_memory.unwrap_or(d.buffer_memory),
            max_block: ms(self.max_block_ms.unwrap_or(10_000)),
            seed: seed ^ (0x9e37_79b9_7f4a_7c15u64.wrapping_mul(index as u64 + 1)),
            timestamp_origin_ms: 1_700_000_000_000,
            ..d
        }
    }
}

fn default_producer_count() -> u32 {
    3
}

impl Default for ProducersSpec {
    fn default() -> Self {
        toml::from_str("").expect("every field has a default")
    }
}

impl ProducersSpec {
    /// The settings of producer `index`.
    pub fn settings(&self, index: u32) -> ProducerSettings {
        self.overrides
            .iter()
            .filter(|o| o.get_ref().index == index)
            .fold(self.common(), |acc, o| acc.overlay(&o.get_ref().settings()))
    }
}

fn default_partitions() -> u32 {
    6
}
fn default_replication() -> u32 {
    3
}

/// A topic in a scenario file.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TopicFile {
    /// Name.
    pub name: String,
    /// Partitions.
    #[serde(default = "default_partitions")]
    pub partitions: u32,
    /// Replicas per partition.
    #[serde(default = "default_replication")]
    pub replication: u32,
}

fn default_brokers() -> u32 {
    3
}
fn default_topics() -> Vec<Spanned<TopicFile>> {
    Vec::new()
}
fn default_failover_ms() -> u64 {
    300
}
fn default_broker_max_message_bytes() -> usize {
    1_048_588
}

/// The cluster section.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ClusterFile {
    /// Brokers.
    #[serde(default = "default_brokers")]
    pub brokers: u32,
    /// Topics (default: one topic `events` with 6 partitions).
    #[serde(default = "default_topics")]
    pub topics: Vec<Spanned<TopicFile>>,
    /// Broker `message.max.bytes`.
    #[serde(default = "default_broker_max_message_bytes")]
    pub max_message_bytes: usize,
    /// Leader failover delay.
    #[serde(default = "default_failover_ms")]
    pub failover_delay_ms: u64,
    /// Whose answers the brokers give: `"0.11"`, `"1.0"`, `"2.4"` or `"3.8"`
    /// (the default; any 2.5 and later version behaves so).
    pub broker_version: Option<Spanned<String>>,
    /// Removed: refused with an explanation (restarts keep producer state in
    /// Kafka; the `expire_producers` fault forgets it).
    #[serde(default)]
    pub lose_producer_state_on_restart: Option<bool>,
}

impl Default for ClusterFile {
    fn default() -> Self {
        toml::from_str("").expect("every field has a default")
    }
}

fn default_min_latency() -> u64 {
    1
}
fn default_max_latency() -> u64 {
    5
}

/// The simulated network's defaults.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NetworkFile {
    /// Smallest one-way message latency.
    #[serde(default = "default_min_latency")]
    pub min_latency_ms: u64,
    /// Largest one-way message latency.
    #[serde(default = "default_max_latency")]
    pub max_latency_ms: u64,
}

impl Default for NetworkFile {
    fn default() -> Self {
        NetworkFile {
            min_latency_ms: default_min_latency(),
            max_latency_ms: default_max_latency(),
        }
    }
}

/// What the checker should accept.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ExpectFile {
    /// Violation kinds that are expected anomalies here (e.g. `["duplicate"]` for
    /// a non-idempotent producer with retries).
    #[serde(default)]
    pub allow: Vec<Spanned<String>>,
    /// Every record must be acknowledged (no failed sends at all).
    #[serde(default)]
    pub all_acked: bool,
    /// Violation kinds that must be reported (a scenario that demonstrates a bug).
    #[serde(default)]
    pub require: Vec<Spanned<String>>,
    /// Batch attempts after the first (see [`crate::mechanisms`]).
    pub retries: Option<Spanned<CountFile>>,
    /// Epoch bumps.
    pub epoch_bumps: Option<Spanned<CountFile>>,
    /// Connections the producers lost.
    pub connections_lost: Option<Spanned<CountFile>>,
    /// Brokers crashed.
    pub crashes: Option<Spanned<CountFile>>,
    /// Brokers restarted.
    pub restarts: Option<Spanned<CountFile>>,
    /// Leader elections.
    pub elections: Option<Spanned<CountFile>>,
    /// Injected broker answers given.
    pub injections_hit: Option<Spanned<CountFile>>,
    /// Faults that changed something while the producers ran.
    pub faults: Option<Spanned<CountFile>>,
    /// Bytes of the largest batch.
    pub largest_batch: Option<Spanned<CountFile>>,
    /// Bytes of the largest request.
    pub largest_request: Option<Spanned<CountFile>>,
    /// Sends rejected as too large.
    pub rejected_too_large: Option<Spanned<CountFile>>,
    /// Sends that blocked.
    pub sends_blocked: Option<Spanned<CountFile>>,
    /// `close()` calls with futures unresolved.
    pub closes_with_work: Option<Spanned<CountFile>>,
    /// `flush()` calls with futures unresolved.
    pub flushes_with_work: Option<Spanned<CountFile>>,
    /// Batches split after a broker found them too large.
    pub splits: Option<Spanned<CountFile>>,
    /// Every scheduled heal happened while the producers ran.
    #[serde(default)]
    pub faults_healed: bool,
}

impl ExpectFile {
    /// The mechanism bounds as written, by key.
    fn counts(&self) -> [(Mechanism, &Option<Spanned<CountFile>>); 15] {
        [
            (Mechanism::Retries, &self.retries),
            (Mechanism::EpochBumps, &self.epoch_bumps),
            (Mechanism::ConnectionsLost, &self.connections_lost),
            (Mechanism::Crashes, &self.crashes),
            (Mechanism::Restarts, &self.restarts),
            (Mechanism::Elections, &self.elections),
            (Mechanism::InjectionsHit, &self.injections_hit),
            (Mechanism::Faults, &self.faults),
            (Mechanism::LargestBatch, &self.largest_batch),
            (Mechanism::LargestRequest, &self.largest_request),
            (Mechanism::RejectedTooLarge, &self.rejected_too_large),
            (Mechanism::SendsBlocked, &self.sends_blocked),
            (Mechanism::ClosesWithWork, &self.closes_with_work),
            (Mechanism::FlushesWithWork, &self.flushes_with_work),
            (Mechanism::Splits, &self.splits),
        ]
    }
}

fn default_duration() -> u64 {
    120
}
fn default_tick() -> u64 {
    1
}
fn default_seeds() -> Seeds {
    Seeds::Count(3)
}
fn default_grace() -> u64 {
    0
}

/// A scenario file as written.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// Name (defaults to the file stem).
    pub name: Option<String>,
    /// What it tests, and the real bug it models.
    #[serde(default)]
    pub description: String,
    /// Seeds to run.
    #[serde(default = "default_seeds")]
    pub seeds: Seeds,
    /// Longest simulated run; producers still running then are stuck.
    #[serde(default = "default_duration")]
    pub duration_s: u64,
    /// Simulation tick.
    #[serde(default = "default_tick")]
    pub tick_ms: u64,
    /// Time after the last fault heals by which every send must have resolved
    /// (0 = the producers' delivery timeout plus one request timeout).
    #[serde(default = "default_grace")]
    pub grace_ms: u64,
    /// Network defaults.
    #[serde(default)]
    pub network: NetworkFile,
    /// Cluster.
    #[serde(default)]
    pub cluster: ClusterFile,
    /// Producers.
    #[serde(default)]
    pub producers: ProducersSpec,
    /// Workload.
    #[serde(default)]
    pub workload: WorkloadSpec,
    /// Timed faults.
    #[serde(default)]
    pub faults: Vec<Spanned<crate::faults::FaultFile>>,
    /// Faults drawn from the seed.
    #[serde(default)]
    pub swarm: Option<Spanned<crate::faults::SwarmFile>>,
    /// Checker expectations.
    #[serde(default)]
    pub expect: ExpectFile,
}

/// A validated scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Name.
    pub name: String,
    /// The file it came from (for replay commands).
    pub path: String,
    /// Everything as written, defaults applied.
    pub file: ScenarioFile,
    /// The cluster to build.
    pub cluster: ClusterSpec,
    /// Timed faults, resolved and checked.
    pub faults: Vec<crate::faults::Fault>,
    /// Violation kinds accepted as expected anomalies.
    pub allowed: Vec<crate::checker::Kind>,
    /// Violation kinds that must appear.
    pub required: Vec<crate::checker::Kind>,
    /// What every run must have exercised.
    pub mechanisms: MechanismExpect,
}

/// Line and column (1-based) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, col)
}

/// Builds errors for one file.
pub struct Reporter<'a> {
    file: &'a str,
    text: &'a str,
}

impl Reporter<'_> {
    /// An error at a spanned value.
    pub fn at<T>(&self, spanned: &Spanned<T>, message: impl Into<String>) -> ScenarioError {
        ScenarioError {
            file: self.file.to_string(),
            position: Some(line_col(self.text, spanned.span().start)),
            message: message.into(),
        }
    }

    /// An error without a position.
    pub fn plain(&self, message: impl Into<String>) -> ScenarioError {
        ScenarioError {
            file: self.file.to_string(),
            position: None,
            message: message.into(),
        }
    }

    /// An error at the line where `key = ` first appears (best effort).
    pub fn at_key(&self, key: &str, message: impl Into<String>) -> ScenarioError {
        let position = self.text.lines().enumerate().find_map(|(i, l)| {
            let t = l.trim_start();
            (t.starts_with(key) && t[key.len()..].trim_start().starts_with('='))
                .then(|| (i + 1, l.len() - t.len() + 1))
        });
        ScenarioError {
            file: self.file.to_string(),
            position,
            message: message.into(),
        }
    }
}

impl Scenario {
    /// Reads and validates a scenario file.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
            file: path.display().to_string(),
            position: None,
            message: format!("cannot read: {e}"),
        })?;
        Scenario::parse(&text, &path.display().to_string())
    }

    /// Parses and validates scenario text; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Scenario, ScenarioError> {
        let parsed: ScenarioFile = toml::from_str(text).map_err(|e| ScenarioError {
            file: file.to_string(),
            position: e.span().map(|s| line_col(text, s.start)),
            message: e.message().to_string(),
        })?;
        let r = Reporter { file, text };
        let name = parsed.name.clone().unwrap_or_else(|| {
            Path::new(file)
                .file_stem()
                .map_or("scenario".into(), |s| s.to_string_lossy().into_owned())
        });
        let f = &parsed;
        if f.duration_s == 0 {
            return Err(r.at_key("duration_s", "`duration_s` must be at least 1"));
        }
        if f.tick_ms == 0 || f.tick_ms > 100 {
            return Err(r.at_key("tick_ms", "`tick_ms` must be in 1..=100"));
        }
        match &f.seeds {
            Seeds::Count(0) => {
                return Err(r.at_key("seeds", "`seeds` must name at least one seed"))
            }
            Seeds::List(l) if l.is_empty() => {
                return Err(r.at_key("seeds", "`seeds` must name at least one seed"))
            }
            Seeds::Count(n) if *n > MAX_FILE_SEEDS => {
                return Err(r.at_key(
                    "seeds",
                    format!(
                        "`seeds` = {n}: a file runs at most {MAX_FILE_SEEDS} seeds; explore more with `sim explore FILE --seeds N`"
                    ),
                ))
            }
            _ => {}
        }
        if f.network.min_latency_ms > f.network.max_latency_ms {
            return Err(r.at_key(
                "min_latency_ms",
                "`network.min_latency_ms` is above `max_latency_ms`",
            ));
        }
        let c = &f.cluster;
        if c.brokers == 0 || c.brokers > 64 {
            return Err(r.at_key(
                "brokers",
                format!("`cluster.brokers` is {}, expected 1..=64", c.brokers),
            ));
        }
        let mut topics = Vec::new();
        for t in &c.topics {
            let tf = t.get_ref();
            if tf.name.is_empty()
                || !tf
                    .name
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || "._-".contains(ch))
            {
                return Err(r.at(
                    t,
                    format!("topic name `{}` must be non-empty [a-zA-Z0-9._-]", tf.name),
                ));
            }
            if tf.partitions == 0 || tf.partitions > 1024 {
                return Err(r.at(
                    t,
                    format!(
                        "topic `{}`: `partitions` is {}, expected 1..=1024",
                        tf.name, tf.partitions
                    ),
                ));
            }
            if tf.replication == 0 {
                return Err(r.at(
                    t,
                    format!("topic `{}`: `replication` must be at least 1", tf.name),
                ));
            }
            if topics.iter().any(|x: &TopicSpec| x.name == tf.name) {
                return Err(r.at(t, format!("topic `{}` is defined twice", tf.name)));
            }
            topics.push(TopicSpec {
                name: tf.name.clone(),
                partitions: tf.partitions,
                replication: tf.replication,
            });
        }
        if topics.is_empty() {
            topics.push(TopicSpec {
                name: "events".into(),
                partitions: default_partitions(),
                replication: default_replication(),
            });
        }
        if c.max_message_bytes < producer_core::config::MIN_BATCH_BYTES {
            return Err(r.at_key(
                "max_message_bytes",
                "`cluster.max_message_bytes` is below the smallest batch (68)",
            ));
        }
        let w = &f.workload;
        if !topics.iter().any(|t| t.name == w.topic) {
            return Err(r.at_key(
                "topic",
                format!(
                    "`workload.topic` = `{}` is not a topic of the cluster",
                    w.topic
                ),
            ));
        }
        let (lo, hi) = w.value_size.bounds();
        if lo > hi {
            return Err(r.at_key(
                "value_size",
                format!("`workload.value_size` = [{lo}, {hi}]: min is above max"),
            ));
        }
        if hi > 64 * 1024 * 1024 || w.oversize_bytes > 64 * 1024 * 1024 {
            return Err(r.at_key("value_size", "record sizes are limited to 64 MiB"));
        }
        if w.key == KeyMode::Space && w.keys == 0 {
            return Err(r.at_key(
                "keys",
                "`workload.keys` must be at least 1 with `key = \"space\"`",
            ));
        }
        if w.burst == 0 {
            return Err(r.at_key("burst", "`workload.burst` must be at least 1"));
        }
        if w.oversize_every > 0 && w.oversize_bytes == 0 {
            return Err(r.at_key("oversize_every", "`oversize_every` needs `oversize_bytes`"));
        }
        let p = &f.producers;
        if p.count == 0 || p.count > 64 {
            return Err(r.at_key(
                "count",
                format!("`producers.count` is {}, expected 1..=64", p.count),
            ));
        }
        for o in &p.overrides {
            if o.get_ref().index >= p.count {
                return Err(r.at(
                    o,
                    format!(
                        "`producers.override.index` = {} but there are only {} producers",
                        o.get_ref().index,
                        p.count
                    ),
                ));
            }
        }
        for i in 0..p.count {
            let lc = p.settings(i).lifecycle();
            if lc.send_tasks == 0 || lc.send_tasks > 16 {
                return Err(r.at_key(
                    "send_tasks",
                    format!(
                        "producer {i}: `send_tasks` is {}, expected 1..=16",
                        lc.send_tasks
                    ),
                ));
            }
            if lc.sends_after_close > w.records {
                return Err(r.at_key(
                    "sends_after_close",
                    format!(
                        "producer {i}: `sends_after_close` is {}, but each producer has only {} records",
                        lc.sends_after_close, w.records
                    ),
                ));
            }
            let config = p.settings(i).to_config(i, 0, vec!["broker-0:9092".into()]);
            if let Err(e) = config.validate() {
                return Err(r.at_key(
                    e.field,
                    format!("producer {i}: `{}` {}", e.field, e.message),
                ));
            }
        }
        if c.lose_producer_state_on_restart.is_some() {
            return Err(r.at_key(
                "lose_producer_state_on_restart",
                "`cluster.lose_producer_state_on_restart` was removed: Kafka rebuilds producer state from its log when a broker restarts; use a fault with `action = \"expire_producers\"` and `partition = \"topic/p\"` to make a partition forget its producers",
            ));
        }
        let broker_version = match &c.broker_version {
            None => BrokerVersion::default(),
            Some(v) => BrokerVersion::parse(v.get_ref()).ok_or_else(|| {
                r.at(
                    v,
                    format!(
                        "`cluster.broker_version` = \"{}\" is not a modelled version; expected one of {} (2.5 and later answer as 3.8)",
                        v.get_ref(),
                        BrokerVersion::NAMES.join(", ")
                    ),
                )
            })?,
        };
        let cluster = ClusterSpec {
            brokers: c.brokers,
            topics,
            max_message_bytes: c.max_message_bytes,
            failover_delay: Duration::from_millis(c.failover_delay_ms),
            broker_version,
        };
        let duration = Duration::from_secs(f.duration_s);
        let faults = crate::faults::resolve_all(&f.faults, &cluster, p.count, duration, &r)?;
        if let Some(s) = &f.swarm {
            crate::faults::check_swarm(s, &r)?;
        }
        let kinds = |list: &[Spanned<String>]| -> Result<Vec<crate::checker::Kind>, ScenarioError> {
            list.iter()
                .map(|s| {
                    crate::checker::Kind::parse(s.get_ref()).ok_or_else(|| {
                        r.at(
                            s,
                            format!(
                                "unknown violation kind `{}`; expected one of {}",
                                s.get_ref(),
                                crate::checker::Kind::NAMES.join(", ")
                            ),
                        )
                    })
                })
                .collect()
        };
        let allowed = kinds(&f.expect.allow)?;
        let required = kinds(&f.expect.require)?;
        let mut mechanisms = MechanismExpect {
            faults_healed: f.expect.faults_healed,
            ..MechanismExpect::default()
        };
        for (key, count) in f.expect.counts() {
            if let Some(c) = count {
                let bound = Bound::parse(c.get_ref())
                    .map_err(|m| r.at(c, format!("`expect.{}`: {m}", key.key())))?;
                mechanisms.counts.push((key, bound));
            }
        }
        Ok(Scenario {
            name,
            path: file.to_string(),
            cluster,
            faults,
            allowed,
            required,
            mechanisms,
            file: parsed,
        })
    }

    /// The seeds the file lists.
    pub fn seeds(&self) -> Vec<u64> {
        self.file.seeds.to_vec()
    }
}
