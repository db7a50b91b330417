//! Structure-aware fuzzing of the producer's response path: whatever a broker
//! sends, reading and interpreting it never panics, never aborts, and never
//! allocates more than a small multiple of what was sent.
//!
//! Random bytes rarely get past a response header, so each input starts as a
//! *valid* response, encoded by `kafka-protocol` at a version the producer
//! reads (ApiVersions v0..=2, Metadata v0..=13, InitProducerId v0..=6, Produce
//! v3..=9, the negotiated ones among them), with random contents. Then one
//! thing is broken: a field found by `precheck::response_fields` (an array
//! count, a string length, a varint, a tagged field's size, a number) set to
//! an extreme or off-by-one value or to the count the bytes left could just
//! hold, or the frame is truncated, given trailing bytes, a flipped, inserted
//! or deleted byte, or a size prefix that lies. The frame then takes the
//! producer's own path: `frame::read_frame`, then the `wire::responses`
//! function the sender calls for that API, then what the sender reads from
//! its result. Unbroken inputs must be accepted.
//!
//! A counting allocator measures, per input, the largest single allocation
//! and the peak of live bytes while the input is read and interpreted; both
//! must stay within [`ALLOWED_PER_BYTE`] times the frame plus
//! [`ALLOWED_FIXED`] (the frame reader's first buffer). An allocation the
//! system refuses aborts the run: that is a failure too.
//!
//! Deterministic: every input is a function of the target's seed. `cargo test`
//! runs a few thousand inputs per target; the long mode (README, "Reliability")
//! runs a million, printing inputs/s and the process's peak RSS per target.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, BrokerId, InitProducerIdResponse, MetadataResponse,
    ProduceResponse, ProducerId, TopicName,
};
use kafka_protocol::protocol::{Encodable, StrBytes};
use producer_core::wire::precheck::{self, Field, FieldKind};
use producer_core::wire::{frame, responses};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Instant; // wall clock: reports inputs per second

/// Bytes the path may allocate per byte of frame (decoded structs are larger
/// than their encoding: a 18-byte partition entry decodes into ~120 bytes).
const ALLOWED_PER_BYTE: usize = 16;
/// Bytes the path may allocate whatever the frame: the frame reader's first
/// buffer (`frame::READ_CHUNK`) and small change (error messages).
const ALLOWED_FIXED: usize = frame::READ_CHUNK + 4096;

// ----- counting allocator ------------------------------------------------------

/// The system allocator, counting what this thread allocates while `TRACKING`.
struct Counting;

#[global_allocator]
static ALLOCATOR: Counting = Counting;

thread_local! {
    static TRACKING: Cell<bool> = const { Cell::new(false) };
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
    static BIGGEST: Cell<usize> = const { Cell::new(0) };
}

fn note(grow: usize, shrink: usize) {
    let _ = TRACKING.try_with(|t| {
        if t.get() {
            let live = LIVE.get() + grow as isize - shrink as isize;
            LIVE.set(live);
            PEAK.set(PEAK.get().max(live));
            BIGGEST.set(BIGGEST.get().max(grow));
        }
    });
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size(), 0);
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size(), 0);
        System.alloc_zeroed(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note(0, layout.size());
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size, layout.size());
        System.realloc(ptr, layout, new_size)
    }
}

/// Runs `f` and returns its result with (largest single allocation, peak live
/// bytes) on this thread meanwhile.
fn measured<T>(f: impl FnOnce() -> T) -> (T, usize, usize) {
    LIVE.set(0);
    PEAK.set(0);
    BIGGEST.set(0);
    TRACKING.set(true);
    let out = f();
    TRACKING.set(false);
    (out, BIGGEST.get(), PEAK.get().max(0) as usize)
}

// ----- valid responses -----------------------------------------------------------

/// Values a number field is set to.
const I16S: [i16; 6] = [0, -1, 1, i16::MAX, i16::MIN, 0x7ffe];
const I32S: [i32; 7] = [0, -1, 1, i32::MAX, i32::MAX - 1, i32::MIN, 0xffff];
const I64S: [i64; 5] = [0, -1, i64::MAX, i64::MIN, i64::MAX - 1];

/// A seeded source of responses.
struct Gen {
    rng: ChaCha8Rng,
}

impl Gen {
    fn string(&mut self, max: usize) -> StrBytes {
        let n = self.rng.gen_range(0..=max);
        let s: String = (0..n)
            .map(|_| *b"abcxyz-._0189".choose(&mut self.rng).unwrap() as char)
            .collect();
        StrBytes::from_string(s)
    }

    fn topic_name(&mut self) -> StrBytes {
        match self.rng.gen_range(0..4) {
            0 => StrBytes::from_static_str("t"),
            1 => StrBytes::from_static_str("events"),
            _ => self.string(12),
        }
    }

    /// Unknown tagged fields for a struct of a flexible version.
    fn tags(&mut self, flexible: bool) -> BTreeMap<i32, Bytes> {
        let mut tags = BTreeMap::new();
        if flexible && self.rng.gen_bool(0.2) {
            for _ in 0..self.rng.gen_range(1..=2) {
                let len = self.rng.gen_range(0..8);
                let value: Vec<u8> = (0..len).map(|_| self.rng.gen()).collect();
                tags.insert(self.rng.gen_range(10..20), Bytes::from(value));
            }
        }
        tags
    }

    /// Mostly small, sometimes large (so a frame can reach kilobytes).
    fn count(&mut self, small: usize, large: usize) -> usize {
        if self.rng.gen_bool(0.03) {
            self.rng.gen_range(large / 2..=large)
        } else {
            self.rng.gen_range(0..=small)
        }
    }

    fn api_versions(&mut self, _v: i16) -> ApiVersionsResponse {
        let key = |api: ApiKey, min: i16, max: i16| {
            ApiVersion::default()
                .with_api_key(api as i16)
                .with_min_version(min)
                .with_max_version(max)
        };
        let mut keys = vec![
            key(ApiKey::Produce, 0, self.rng.gen_range(3..=11)),
            key(ApiKey::Metadata, 0, self.rng.gen_range(1..=12)),
            key(ApiKey::ApiVersions, 0, 3),
            key(ApiKey::InitProducerId, 0, self.rng.gen_range(0..=5)),
        ];
        // Other APIs (the four above once each: the first entry of a key counts).
        let others: Vec<ApiKey> = (1..=40)
            .filter_map(|k| ApiKey::try_from(k).ok())
            .filter(|k| !keys.iter().any(|have| have.api_key == *k as i16))
            .collect();
        for _ in 0..self.count(3, 80) {
            let lo = self.rng.gen_range(0..5);
            let api = *others.choose(&mut self.rng).unwrap();
            keys.push(key(api, lo, lo + self.rng.gen_range(0..5)));
        }
        keys.shuffle(&mut self.rng);
        ApiVersionsResponse::default()
            .with_api_keys(keys)
            .with_throttle_time_ms(self.rng.gen_range(0..100))
    }

    fn metadata(&mut self, v: i16) -> MetadataResponse {
        let flexible = v >= 9;
        let brokers = (0..self.count(4, 60))
            .map(|i| {
                let b = MetadataResponseBroker::default()
                    .with_node_id(BrokerId(i as i32))
                    .with_host(self.string(16))
                    .with_port(self.rng.gen_range(1..65536))
                    .with_unknown_tagged_fields(self.tags(flexible));
                if v >= 1 && self.rng.gen_bool(0.5) {
                    b.with_rack(Some(self.string(6)))
                } else {
                    b
                }
            })
            .collect();
        let topics = (0..self.count(3, 20))
            .map(|_| {
                let mut indexes: Vec<i32> = (0..self.count(6, 300) as i32).collect();
                indexes.shuffle(&mut self.rng);
                let partitions = indexes
                    .into_iter()
                    .map(|i| self.metadata_partition(v, i))
                    .collect();
                let t = MetadataResponseTopic::default()
                    .with_error_code(if self.rng.gen_bool(0.9) { 0 } else { 3 })
                    .with_name(Some(TopicName(self.topic_name())))
                    .with_is_internal(v >= 1 && self.rng.gen_bool(0.1))
                    .with_partitions(partitions)
                    .with_unknown_tagged_fields(self.tags(flexible));
                if v >= 8 {
                    t.with_topic_authorized_operations(self.rng.gen())
                } else {
                    t
                }
            })
            .collect();
        let mut m = MetadataResponse::default()
            .with_brokers(brokers)
            .with_controller_id(BrokerId(self.rng.gen_range(-1..4)))
            .with_topics(topics)
            .with_unknown_tagged_fields(self.tags(flexible));
        if v >= 2 && self.rng.gen_bool(0.7) {
            m = m.with_cluster_id(Some(self.string(10)));
        }
        if v >= 3 {
            m = m.with_throttle_time_ms(self.rng.gen_range(0..100));
        }
        if (8..=10).contains(&v) {
            m = m.with_cluster_authorized_operations(self.rng.gen());
        }
        m
    }

    fn metadata_partition(&mut self, v: i16, index: i32) -> MetadataResponsePartition {
        fn ids(g: &mut Gen) -> Vec<BrokerId> {
            (0..g.rng.gen_range(0..4))
                .map(|_| BrokerId(g.rng.gen_range(0..5)))
                .collect()
        }
        let p = MetadataResponsePartition::default()
            .with_error_code(if self.rng.gen_bool(0.9) { 0 } else { 5 })
            .with_partition_index(index)
            .with_leader_id(BrokerId(self.rng.gen_range(-1..5)))
            .with_replica_nodes(ids(self))
            .with_isr_nodes(ids(self))
            .with_unknown_tagged_fields(self.tags(v >= 9));
        let p = if v >= 7 {
            p.with_leader_epoch(self.rng.gen_range(-1..100))
        } else {
            p
        };
        if v >= 5 {
            p.with_offline_replicas(ids(self))
        } else {
            p
        }
    }

    fn init_producer_id(&mut self, v: i16) -> InitProducerIdResponse {
        let r = InitProducerIdResponse::default()
            .with_throttle_time_ms(self.rng.gen_range(0..100))
            .with_unknown_tagged_fields(self.tags(v >= 2));
        let r = match self.rng.gen_range(0..5) {
            0 => r.with_error_code(*[15, 47, 53, 87].choose(&mut self.rng).unwrap()),
            _ => r
                .with_producer_id(ProducerId(self.rng.gen_range(0..1 << 40)))
                .with_producer_epoch(self.rng.gen_range(0..i16::MAX)),
        };
        if v >= 6 {
            r.with_ongoing_txn_producer_id(ProducerId(self.rng.gen_range(-1..1000)))
                .with_ongoing_txn_producer_epoch(self.rng.gen_range(-1..10))
        } else {
            r
        }
    }

    fn produce(&mut self, v: i16) -> ProduceResponse {
        let flexible = v >= 9;
        let topics = (0..self.count(3, 10))
            .map(|_| {
                let parts = (0..self.count(4, 300))
                    .map(|_| self.produce_partition(v))
                    .collect();
                TopicProduceResponse::default()
                    .with_name(TopicName(self.topic_name()))
                    .with_partition_responses(parts)
                    .with_unknown_tagged_fields(self.tags(flexible))
            })
            .collect();
        ProduceResponse::default()
            .with_responses(topics)
            .with_throttle_time_ms(self.rng.gen_range(0..100))
            .with_unknown_tagged_fields(self.tags(flexible))
    }

    fn produce_partition(&mut self, v: i16) -> PartitionProduceResponse {
        let code = *[0, 0, 0, 6, 7, 10, 45, 46, 47, 87, 99]
            .choose(&mut self.rng)
            .unwrap();
        let p = PartitionProduceResponse::default()
            .with_index(self.rng.gen_range(0..8))
            .with_error_code(code)
            .with_base_offset(if code == 0 {
                self.rng.gen_range(0..1 << 50)
            } else {
                -1
            })
            .with_log_append_time_ms(self.rng.gen_range(-1..1 << 41))
            .with_unknown_tagged_fields(self.tags(v >= 9));
        let p = if v >= 5 {
            p.with_log_start_offset(self.rng.gen_range(-1..1000))
        } else {
            p
        };
        if v >= 8 {
            let errors = (0..self.rng.gen_range(0..3))
                .map(|_| {
                    let e = BatchIndexAndErrorMessage::default()
                        .with_batch_index(self.rng.gen_range(0..10))
                        .with_unknown_tagged_fields(self.tags(v >= 9));
                    if self.rng.gen_bool(0.5) {
                        e.with_batch_index_error_message(Some(self.string(20)))
                    } else {
                        e
                    }
                })
                .collect();
            let p = p.with_record_errors(errors);
            if self.rng.gen_bool(0.3) {
                p.with_error_message(Some(self.string(30)))
            } else {
                p
            }
        } else {
            p
        }
    }
}

// ----- breaking one thing ----------------------------------------------------------

/// An unsigned varint.
fn varint(mut v: u32) -> Vec<u8> {
    let mut out = Vec::new();
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
    out
}

/// The signed value of a big-endian field of 1 to 8 bytes.
fn read_fixed(b: &[u8]) -> i64 {
    let v = b.iter().fold(0i64, |v, &x| (v << 8) | i64::from(x));
    let shift = 64 - 8 * b.len() as u32;
    (v << shift) >> shift
}

impl Gen {
    /// A value for a count or length prefix: extremes, off by one, or the
    /// count the bytes after it could just hold for some element size.
    fn length_value(&mut self, original: i64, left: usize) -> i64 {
        let left = left as i64;
        match self.rng.gen_range(0..8) {
            0 => *[-2, -1, 0, 1].choose(&mut self.rng).unwrap(),
            1 => original + 1,
            2 => original - 1,
            3 => i64::from(i32::MAX),
            4 => i64::from(i32::MAX - 1),
            5 => i64::from(u32::MAX),
            6 => left,
            _ => {
                left / *[2, 4, 6, 8, 12, 16, 18, 24, 32]
                    .choose(&mut self.rng)
                    .unwrap()
            }
        }
    }

    /// Breaks `field` of `body` (offsets relative to `body`).
    fn break_field(&mut self, body: &mut Vec<u8>, f: Field) {
        let range = f.offset..f.offset + f.len;
        let left = body.len() - range.end;
        if f.varint {
            let original = i64::from(decode_varint(&body[range.clone()]));
            let replacement = match self.rng.gen_range(0..6) {
                // Malformed: too long, too wide, unterminated at the end.
                0 => vec![0x80, 0x80, 0x80, 0x80, 0x80, 0x00],
                1 => vec![0xff, 0xff, 0xff, 0xff, 0x7f],
                2 if range.end == body.len() => vec![0x80],
                _ => {
                    // Counts and lengths are stored plus one (0 is null).
                    let v = match f.kind {
                        FieldKind::Number | FieldKind::TagCount | FieldKind::TagSize => {
                            self.length_value(original, left)
                        }
                        _ => self.length_value(original - 1, left) + 1,
                    };
                    varint(v.clamp(0, i64::from(u32::MAX)) as u32)
                }
            };
            body.splice(range, replacement);
            return;
        }
        let value = match (f.kind, f.len) {
            (FieldKind::Number, 2) => i64::from(*I16S.choose(&mut self.rng).unwrap()),
            (FieldKind::Number, 4) => i64::from(*I32S.choose(&mut self.rng).unwrap()),
            (FieldKind::Number, 8) => *I64S.choose(&mut self.rng).unwrap(),
            (FieldKind::Number, _) => {
                // A flag or a uuid.
                self.rng.fill(&mut body[range]);
                return;
            }
            _ => self.length_value(read_fixed(&body[range.clone()]), left),
        };
        let bytes = value.to_be_bytes();
        body[range].copy_from_slice(&bytes[8 - f.len..]);
    }

    /// A frame: a valid response body, broken in one place (or not, when
    /// `sane` comes back true), with a size prefix that mostly tells the truth.
    fn frame(&mut self, api: ApiKey, v: i16, valid: &[u8]) -> (Vec<u8>, bool) {
        let mut body = valid.to_vec();
        let mut sane = false;
        match self.rng.gen_range(0..20) {
            0 => sane = true,
            1 | 2 => body.truncate(self.rng.gen_range(0..body.len())),
            3 | 4 => {
                let n = self.rng.gen_range(1..40);
                body.extend((0..n).map(|_| self.rng.gen::<u8>()));
            }
            5 => {
                let at = self.rng.gen_range(0..body.len());
                body[at] ^= 1 << self.rng.gen_range(0..8);
            }
            6 => {
                let at = self.rng.gen_range(0..=body.len());
                body.insert(at, self.rng.gen());
            }
            7 => {
                body.remove(self.rng.gen_range(0..body.len()));
            }
            _ => {
                let fields = precheck::response_fields(api, v, valid).expect("valid input");
                let f = *fields.choose(&mut self.rng).expect("a field");
                self.break_field(&mut body, f);
            }
        }
        let declared = match self.rng.gen_range(0..20) {
            0 if !sane => *I32S.choose(&mut self.rng).unwrap(),
            1 if !sane => body.len() as i32 + self.rng.gen_range(-3..=3),
            _ => body.len() as i32,
        };
        let mut frame = declared.to_be_bytes().to_vec();
        frame.extend_from_slice(&body);
        (frame, sane)
    }
}

fn decode_varint(b: &[u8]) -> u32 {
    b.iter()
        .enumerate()
        .fold(0u32, |v, (i, &x)| v | (u32::from(x & 0x7f) << (7 * i)))
}

// ----- the producer's path -----------------------------------------------------------

struct Noop;

impl Wake for Noop {
    fn wake(self: Arc<Self>) {}
}

/// Polls `f` once: reading from a slice never waits.
fn now_or_never<F: Future>(f: F, waker: &Waker) -> Option<F::Output> {
    let mut cx = Context::from_waker(waker);
    match pin!(f).poll(&mut cx) {
        Poll::Ready(v) => Some(v),
        Poll::Pending => None,
    }
}

/// What became of an input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Fate {
    /// `read_frame` refused it (a bad length, the stream ending inside the
    /// frame) or found no frame at all.
    Frame,
    /// The structural check refused it.
    Structure,
    /// The decoder, or what the producer reads into the result, refused it.
    Meaning,
    /// Accepted and acted upon.
    Accepted,
}

/// Reads `frame` as the connection task does and interprets it as the sender
/// does, for a response to `api` at `v`.
fn producer_path(api: ApiKey, v: i16, frame: &[u8], rng: &mut ChaCha8Rng, waker: &Waker) -> Fate {
    let mut reader = frame;
    let read = now_or_never(
        frame::read_frame(&mut reader, frame::MAX_RESPONSE_FRAME),
        waker,
    )
    .expect("reading a slice never waits");
    let Ok(Some(body)) = read else {
        return Fate::Frame;
    };
    if precheck::check_response(api, v, &body).is_err() {
        // The path below runs anyway: it must refuse the input on its own.
        let again = interpret(api, v, body, rng);
        assert!(
            again.is_err(),
            "{api:?} v{v}: the check refused it, the path did not"
        );
        return Fate::Structure;
    }
    match interpret(api, v, body, rng) {
        Ok(()) => Fate::Accepted,
        Err(_) => Fate::Meaning,
    }
}

/// The `wire::responses` call the producer makes for `api`, and what it reads
/// from the result.
fn interpret(api: ApiKey, v: i16, body: Bytes, rng: &mut ChaCha8Rng) -> Result<(), String> {
    match api {
        ApiKey::ApiVersions if v == producer_core::wire::requests::API_VERSIONS_VERSION => {
            let idempotence = rng.gen_bool(0.5);
            responses::api_versions(body, idempotence).map(|_| ())
        }
        ApiKey::ApiVersions => {
            frame::decode_response::<ApiVersionsResponse>(api, v, body).map(|_| ())
        }
        ApiKey::Metadata => {
            let meta = responses::metadata(v, body)?;
            for (topic, parts) in &meta.topics {
                assert_eq!(
                    meta.partition_count(topic).map_or(0, |n| n as usize),
                    parts.len()
                );
                for p in 0..parts.len() as i32 {
                    if let Some(leader) = meta.leader(topic, p) {
                        let _ = meta.broker_addr(leader);
                    }
                }
            }
            Ok(())
        }
        ApiKey::InitProducerId => responses::init_producer_id(v, body).map(|_| ()),
        _ => {
            let answers = responses::produce(v, body)?;
            for topic in ["t", "events", ""] {
                for partition in 0..8 {
                    let records = rng.gen_range(1..=1000);
                    answers.for_batch(topic, partition, records)?;
                }
            }
            Ok(())
        }
    }
}

// ----- campaigns -------------------------------------------------------------------

fn inputs() -> u64 {
    std::env::var("PRODSIM_FUZZ_INPUTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4_000)
}

/// Peak resident memory of this process so far, in bytes (Linux; 0 elsewhere).
fn peak_rss() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<usize>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Runs the producer's path on inputs built by `valid` at the versions of
/// `api` the check covers; fails on the first panic, over-allocation, or
/// refused unbroken input; prints the rate, the fates, the worst allocation.
fn campaign(api: ApiKey, seed: u64, valid: fn(&mut Gen, i16) -> Vec<u8>) {
    let n = inputs();
    let versions: Vec<i16> = precheck::covers(api).expect("covered").collect();
    let mut gen = Gen {
        rng: ChaCha8Rng::seed_from_u64(seed),
    };
    let mut path_rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
    let waker = Waker::from(Arc::new(Noop));
    let mut fates: BTreeMap<Fate, u64> = BTreeMap::new();
    let mut seen_versions = BTreeSet::new();
    let (mut worst_ratio, mut largest_frame) = (0.0f64, 0);
    let start = Instant::now();
    for i in 0..n {
        let v = *versions.choose(&mut gen.rng).unwrap();
        seen_versions.insert(v);
        let body = valid(&mut gen, v);
        let (frame, sane) = gen.frame(api, v, &body);
        let run = catch_unwind(AssertUnwindSafe(|| {
            measured(|| producer_path(api, v, &frame, &mut path_rng, &waker))
        }));
        let Ok((fate, biggest, peak)) = run else {
            panic!("{api:?} v{v} input {i} (seed {seed}) panicked: {frame:02x?}");
        };
        if sane {
            assert_eq!(
                fate,
                Fate::Accepted,
                "{api:?} v{v} input {i}: unbroken, refused"
            );
        }
        let allowed = ALLOWED_PER_BYTE * frame.len() + ALLOWED_FIXED;
        assert!(
            biggest <= allowed && peak <= allowed,
            "{api:?} v{v} input {i} (seed {seed}): {} bytes in, {biggest} in one allocation, \
             {peak} at the peak (allowed {allowed})",
            frame.len()
        );
        let beyond_fixed = biggest.max(peak).saturating_sub(ALLOWED_FIXED);
        worst_ratio = worst_ratio.max(beyond_fixed as f64 / frame.len() as f64);
        largest_frame = largest_frame.max(frame.len());
        *fates.entry(fate).or_default() += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "fuzz {api:?} responses (v{:?}): {n} inputs in {secs:.1} s, {:.0} inputs/s, peak RSS {} MiB; \
         fates {fates:?}; largest frame {largest_frame} B; at worst {worst_ratio:.1} B allocated \
         per frame byte beyond the first {ALLOWED_FIXED} B (allowed {ALLOWED_PER_BYTE})",
        seen_versions,
        n as f64 / secs,
        peak_rss() >> 20,
    );
    // Broken inputs reach every stage: the check, the decoder and the meaning.
    for fate in [Fate::Structure, Fate::Meaning, Fate::Accepted] {
        assert!(
            fates.get(&fate).is_some_and(|&c| c > 0),
            "{api:?}: no input ended {fate:?}"
        );
    }
}

/// `m` encoded as a response body at `v` (header included).
fn encoded<M: Encodable>(api: ApiKey, v: i16, m: &M) -> Vec<u8> {
    let frame: BytesMut = frame::encode_response(api, v, 7, m);
    frame[4..].to_vec()
}

#[test]
fn api_versions_responses_broken_one_field_at_a_time() {
    campaign(ApiKey::ApiVersions, 11, |g, v| {
        encoded(ApiKey::ApiVersions, v, &g.api_versions(v))
    });
}

#[test]
fn metadata_responses_broken_one_field_at_a_time() {
    campaign(ApiKey::Metadata, 12, |g, v| {
        encoded(ApiKey::Metadata, v, &g.metadata(v))
    });
}

#[test]
fn init_producer_id_responses_broken_one_field_at_a_time() {
    campaign(ApiKey::InitProducerId, 13, |g, v| {
        encoded(ApiKey::InitProducerId, v, &g.init_producer_id(v))
    });
}

#[test]
fn produce_responses_broken_one_field_at_a_time() {
    campaign(ApiKey::Produce, 14, |g, v| {
        encoded(ApiKey::Produce, v, &g.produce(v))
    });
}
