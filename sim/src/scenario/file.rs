//! The scenario file as written: every section and field, with its default.
//! Validation is in [`super::check`].

use crate::mechanisms::{CountFile, Mechanism};
use serde::Deserialize;
use std::time::Duration;
use toml::Spanned;

/// Most seeds a scenario file's `seeds = N` may ask for (each is a test run).
pub const MAX_FILE_SEEDS: u64 = 100_000;

/// `seeds = [1, 2, 3]` or `seeds = 10` (meaning 0..10).
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq, Eq)]
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
#[derive(Debug, Clone, Copy, Deserialize, serde::Serialize, PartialEq, Eq)]
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
#[derive(Debug, Clone, Copy, Deserialize, serde::Serialize, PartialEq, Eq, Hash)]
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
#[derive(Debug, Clone, Copy, Deserialize, serde::Serialize, PartialEq, Eq)]
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
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq)]
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
    /// What values hold (how they compress).
    #[serde(default)]
    pub payload: Payload,
}

/// What record values hold, for compression: how well a batch of them
/// compresses decides how far the producer's ratio estimate is off.
#[derive(Debug, Clone, Copy, Default, Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Payload {
    /// Random bytes: they do not compress.
    #[default]
    Random,
    /// Text from a small vocabulary: compresses several times over.
    Text,
    /// Text, then random bytes from a third of the records on, then text
    /// again from two thirds on: the compression ratio flips twice, so the
    /// estimate misses upwards, then downwards.
    Flip,
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
        #[derive(Debug, Clone, Default, Deserialize, serde::Serialize, PartialEq)]
        #[serde(deny_unknown_fields)]
        pub struct ProducerSettings {
            $(#[allow(missing_docs)] pub $field: Option<$ty>,)*
        }

        /// The producers of a scenario: how many, their shared settings, overrides.
        #[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq)]
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
        #[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq)]
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
    compression: String,
}

/// When the application calls `close()`.
#[derive(Debug, Clone, Copy, Default, Deserialize, serde::Serialize, PartialEq, Eq)]
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
            timestamp_origin_ms: crate::cluster::SIM_EPOCH_MS,
            // Checked when the file is read (scenario/check.rs): a bad name
            // never gets here.
            compression: self
                .compression
                .as_deref()
                .and_then(|c| producer_core::compression::Compression::parse(c).ok())
                .unwrap_or_default(),
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

pub(super) fn default_partitions() -> u32 {
    6
}
pub(super) fn default_replication() -> u32 {
    3
}

/// A topic in a scenario file.
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq)]
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
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq)]
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
    /// `sim serve` only: a Metadata request naming an unknown topic creates
    /// it (Kafka's `auto.create.topics.enable`; default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_create_topics: Option<bool>,
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
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq)]
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
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize, PartialEq)]
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
    /// Faults fired by protocol events.
    pub triggers_fired: Option<Spanned<CountFile>>,
    /// Batches failed while an attempt was in flight.
    pub expired_in_flight: Option<Spanned<CountFile>>,
    /// Every scheduled heal happened while the producers ran.
    #[serde(default)]
    pub faults_healed: bool,
}

impl ExpectFile {
    /// The mechanism bounds as written, by key.
    pub(super) fn counts(&self) -> [(Mechanism, &Option<Spanned<CountFile>>); 17] {
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
            (Mechanism::TriggersFired, &self.triggers_fired),
            (Mechanism::ExpiredInFlight, &self.expired_in_flight),
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
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq)]
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
