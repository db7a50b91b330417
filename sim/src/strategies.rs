//! proptest strategies for whole simulated worlds, reusable by anyone testing a
//! producer with prodsim.
//!
//! A [`PropWorld`] is: 2..=6 producers with their own settings, a list of records
//! whose sizes sit on the limits (empty, 1 byte, half a batch, limit-1, limit,
//! limit+1, far too large), keys that collide, headers, a sharing mode, and a
//! fault schedule drawn from a simulation seed. Producers, records and sizes
//! shrink toward fewer and smaller; the simulation seed does not shrink (a
//! different seed is a different world, not a simpler one).

use crate::scenario::{Scenario, Sharing};
use crate::world::{self, RunOptions, RunReport};
use bytes::Bytes;
use producer_core::record::{Header, Record};
use proptest::prelude::*;
use std::fmt;

/// The topic every property world writes to.
pub const TOPIC: &str = "events";

/// One producer's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PropProducer {
    /// Idempotence on.
    pub idempotence: bool,
    /// Linger.
    pub linger_ms: u64,
    /// Target batch size.
    pub batch_size: usize,
    /// Batch limit.
    pub max_message_bytes: usize,
    /// Request limit.
    pub max_request_size: usize,
    /// In-flight requests per connection.
    pub max_in_flight: usize,
    /// How its application uses it.
    pub lifecycle: PropLifecycle,
    /// Its codec (`compression` setting).
    pub compression: &'static str,
}

/// How one producer's application behaves (see `sim/src/client.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PropLifecycle {
    /// `close()` right after the last send instead of after every ack.
    pub close_in_flight: bool,
    /// `flush()` after every Nth send (0 = never).
    pub flush_every: usize,
    /// Tasks sending through the one handle.
    pub send_tasks: usize,
    /// Every Nth future dropped unpolled (0 = never).
    pub drop_futures_every: usize,
    /// Records sent after `close()` (at most the record count).
    pub sends_after_close: usize,
    /// Late start.
    pub start_after_ms: u64,
}

fn lifecycle() -> impl Strategy<Value = PropLifecycle> {
    (
        any::<bool>(),
        prop_oneof![2 => Just(0usize), 1 => Just(3), 1 => Just(7)],
        prop_oneof![2 => Just(1usize), 1 => 2usize..=3],
        prop_oneof![3 => Just(0usize), 1 => Just(4)],
        prop_oneof![3 => Just(0usize), 1 => 1usize..=2],
        prop_oneof![3 => Just(0u64), 1 => Just(50)],
    )
        .prop_map(
            |(
                close_in_flight,
                flush_every,
                send_tasks,
                drop_futures_every,
                sends_after_close,
                start_after_ms,
            )| {
                PropLifecycle {
                    close_in_flight,
                    flush_every,
                    send_tasks,
                    drop_futures_every,
                    sends_after_close,
                    start_after_ms,
                }
            },
        )
}

/// A record size, relative to the first producer's batch limit where it matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SizeClass {
    /// A null value.
    Null,
    /// An empty value.
    Empty,
    /// A `n`-byte value (small).
    Bytes(usize),
    /// Half a batch, plus `delta` bytes: two of them land on the limit.
    Half(i8),
    /// A batch of exactly `limit - 1` bytes on its own.
    LimitMinusOne,
    /// A batch of exactly the limit on its own.
    Limit,
    /// One byte over the limit on its own: must fail alone.
    LimitPlusOne,
    /// Three times the limit.
    Large,
}

/// One record of the workload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PropRecord {
    /// Key from a space of 4 (collisions), or null (sticky partitioning).
    pub key: Option<u8>,
    /// Headers 0..=2.
    pub headers: u8,
    /// Value size.
    pub size: SizeClass,
}

/// A whole world for a property.
#[derive(Clone, PartialEq, Eq)]
pub struct PropWorld {
    /// The producers.
    pub producers: Vec<PropProducer>,
    /// Records every producer sends (shared per `sharing`).
    pub records: Vec<PropRecord>,
    /// How producers get the records.
    pub sharing: Sharing,
    /// Partitions of the topic.
    pub partitions: u32,
    /// Faults the swarm draws (0 = none).
    pub faults: u32,
    /// The simulation seed.
    pub seed: u64,
}

impl fmt::Debug for PropWorld {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "PropWorld {{ sim seed {}, {} partitions, {} swarm faults, sharing {:?}",
            self.seed, self.partitions, self.faults, self.sharing
        )?;
        for (i, p) in self.producers.iter().enumerate() {
            writeln!(
                f,
                "  producer-{i}: idempotence {}, linger {} ms, batch_size {}, max_message_bytes {}, max_request_size {}, max_in_flight {}, compression {}, {:?}",
                p.idempotence, p.linger_ms, p.batch_size, p.max_message_bytes, p.max_request_size, p.max_in_flight, p.compression, p.lifecycle
            )?;
        }
        let records = self.materialize();
        for (i, (r, rec)) in self.records.iter().zip(&records).enumerate() {
            writeln!(
                f,
                "  record #{i}: key {:?}, {} headers, {:?} -> value {} B, batch alone {} B",
                r.key.map(|k| format!("k{k}")),
                r.headers,
                r.size,
                rec.value().map_or(0, |v| v.len()),
                crate::sizes::batch_len_of(rec)
            )?;
        }
        write!(f, "}}")
    }
}

fn producer() -> impl Strategy<Value = PropProducer> {
    (
        any::<bool>(),
        prop_oneof![Just(0u64), 1u64..20],
        200usize..3000,
        0usize..3,
        prop_oneof![3 => Just(None), 1 => (-40i64..200).prop_map(Some)],
        1usize..=5,
        lifecycle(),
        prop_oneof![
            4 => Just("none"),
            1 => Just("gzip"),
            1 => Just("snappy"),
            1 => Just("lz4"),
            1 => Just("zstd"),
        ],
    )
        .prop_map(
            |(
                idempotence,
                linger_ms,
                max_message_bytes,
                batch_kind,
                request_delta,
                max_in_flight,
                lifecycle,
                compression,
            )| {
                let overhead = crate::sizes::produce_request_len(
                    crate::sizes::PRODUCE_VERSION,
                    "producer-0",
                    TOPIC,
                    0,
                );
                let max_request_size = match request_delta {
                    None => 1_048_576,
                    Some(d) => ((max_message_bytes + overhead) as i64 + d).max(200) as usize,
                };
                let batch_size = match batch_kind {
                    0 => max_message_bytes,
                    1 => 1_000_000,
                    _ => max_message_bytes / 2 + 1,
                };
                PropProducer {
                    idempotence,
                    linger_ms,
                    batch_size,
                    max_message_bytes,
                    max_request_size,
                    max_in_flight,
                    lifecycle,
                    compression,
                }
            },
        )
}

fn size_class() -> impl Strategy<Value = SizeClass> {
    prop_oneof![
        Just(SizeClass::Null),
        Just(SizeClass::Empty),
        Just(SizeClass::Bytes(1)),
        (0usize..300).prop_map(SizeClass::Bytes),
        (0usize..300).prop_map(SizeClass::Bytes),
        (-2i8..=2).prop_map(SizeClass::Half),
        Just(SizeClass::LimitMinusOne),
        Just(SizeClass::Limit),
        Just(SizeClass::LimitPlusOne),
        Just(SizeClass::Large),
    ]
}

fn record() -> impl Strategy<Value = PropRecord> {
    (prop::option::of(0u8..4), 0u8..=2, size_class()).prop_map(|(key, headers, size)| PropRecord {
        key,
        headers,
        size,
    })
}

/// Worlds with 2..=6 producers, 1..=`max_records` records and 0..=`max_faults` faults.
pub fn prop_world(max_records: usize, max_faults: u32) -> impl Strategy<Value = PropWorld> {
    (
        prop::collection::vec(producer(), 2..=6),
        prop::collection::vec(record(), 1..=max_records),
        prop_oneof![
            Just(Sharing::Shared),
            Just(Sharing::Cloned),
            Just(Sharing::Mixed)
        ],
        1u32..=4,
        0..=max_faults,
        any::<u64>().no_shrink(),
    )
        .prop_map(
            |(producers, records, sharing, partitions, faults, seed)| PropWorld {
                producers,
                records,
                sharing,
                partitions,
                faults,
                seed,
            },
        )
}

/// The largest value length whose single-record batch is at most `target` bytes.
fn value_len_at_most(target: usize, base: &Record) -> usize {
    let len_with = |n: usize| {
        crate::sizes::batch_len_of(&base.clone().with_value(Some(Bytes::from(vec![0u8; n]))))
    };
    let (mut lo, mut hi) = (0usize, target);
    if len_with(0) > target {
        return 0;
    }
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if len_with(mid) <= target {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    lo
}

impl PropWorld {
    /// The first producer's batch limit, which size classes refer to.
    pub fn limit(&self) -> usize {
        let p = &self.producers[0];
        crate::sizes::batch_limit(p.max_message_bytes, p.max_request_size, "producer-0", TOPIC)
    }

    /// The records, built from their classes.
    pub fn materialize(&self) -> Vec<Record> {
        let limit = self.limit();
        self.records
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let mut base = Record::empty();
                if let Some(k) = r.key {
                    base = base.with_key(format!("k{k}"));
                }
                let headers: Vec<Header> = (0..r.headers)
                    .map(|h| Header::new(&format!("h{h}"), Some(Bytes::from(format!("v{i}")))))
                    .collect();
                base = base.with_headers(headers);
                let len = match r.size {
                    SizeClass::Null => return base,
                    SizeClass::Empty => 0,
                    SizeClass::Bytes(n) => n,
                    SizeClass::Half(d) => {
                        let half = (limit + crate::sizes::BATCH_HEADER_LEN) / 2;
                        value_len_at_most((half as i64 + d as i64).max(0) as usize, &base)
                    }
                    SizeClass::LimitMinusOne => value_len_at_most(limit - 1, &base),
                    SizeClass::Limit => value_len_at_most(limit, &base),
                    SizeClass::LimitPlusOne => value_len_at_most(limit, &base) + 1,
                    SizeClass::Large => 3 * limit,
                };
                // Distinct bytes per record so contents tell records apart.
                let value: Vec<u8> = (0..len).map(|j| (i * 31 + j) as u8).collect();
                base.with_value(Some(Bytes::from(value)))
            })
            .collect()
    }

    /// The world as a scenario file (workload records and the seed, which may not
    /// fit a TOML integer, are passed to the run separately).
    pub fn scenario_toml(&self) -> String {
        let broker_limit = self
            .producers
            .iter()
            .map(|p| p.max_message_bytes)
            .max()
            .unwrap_or(1_048_588);
        let mut t = format!(
            "seeds = [0]\nduration_s = 120\n\n[cluster]\nbrokers = 3\nmax_message_bytes = {broker_limit}\nfailover_delay_ms = 150\n\n\
             [[cluster.topics]]\nname = \"{TOPIC}\"\npartitions = {parts}\nreplication = 3\n\n\
             [producers]\ncount = {count}\nrequest_timeout_ms = 400\ndelivery_timeout_ms = 15000\nretry_backoff_ms = 20\n",
            parts = self.partitions,
            count = self.producers.len(),
        );
        for (i, p) in self.producers.iter().enumerate() {
            t += &format!(
                "\n[[producers.override]]\nindex = {i}\nidempotence = {}\nlinger_ms = {}\nbatch_size = {}\nmax_message_bytes = {}\nmax_request_size = {}\nmax_in_flight = {}\nbuffer_memory = {}\ncompression = \"{}\"\n",
                p.idempotence,
                p.linger_ms,
                p.batch_size,
                p.max_message_bytes,
                p.max_request_size,
                p.max_in_flight,
                (p.max_message_bytes * 8).max(1 << 20),
                p.compression
            );
            let lc = &p.lifecycle;
            t += &format!(
                "close = \"{}\"\nflush_every = {}\nsend_tasks = {}\ndrop_futures_every = {}\nsends_after_close = {}\nstart_after_ms = {}\n",
                if lc.close_in_flight { "in_flight" } else { "after_acks" },
                lc.flush_every,
                lc.send_tasks,
                lc.drop_futures_every,
                lc.sends_after_close.min(self.records.len()),
                lc.start_after_ms
            );
        }
        // Spread the sends over the fault window so faults meet traffic.
        let bursts = self.records.len().div_ceil(2).max(1) as u64;
        t += &format!(
            "\n[workload]\ntopic = \"{TOPIC}\"\nrecords = {}\nburst = 2\ninterval_ms = {}\n",
            self.records.len(),
            (700 / bursts).max(5)
        );
        if self.faults > 0 {
            t += &format!(
                "\n[swarm]\nfaults = {}\nwindow_ms = [5, 600]\n",
                self.faults
            );
        }
        t
    }

    /// The world as a validated scenario.
    pub fn scenario(&self) -> Scenario {
        Scenario::parse(&self.scenario_toml(), "prop-world.toml").unwrap_or_else(|e| {
            panic!(
                "generated scenario is invalid: {e}\n{}",
                self.scenario_toml()
            )
        })
    }

    /// Runs the world with its own sharing mode.
    pub fn run(&self) -> RunReport {
        self.run_as(self.sharing)
    }

    /// Runs the world with a given sharing mode.
    pub fn run_as(&self, sharing: Sharing) -> RunReport {
        self.run_with(RunOptions {
            sharing: Some(sharing),
            ..RunOptions::default()
        })
    }

    /// Runs the world with explicit options (records are filled in).
    pub fn run_with(&self, mut options: RunOptions) -> RunReport {
        options.records = Some(self.materialize());
        options.sharing = options.sharing.or(Some(self.sharing));
        world::run_with(&self.scenario(), self.seed, &options)
    }
}
