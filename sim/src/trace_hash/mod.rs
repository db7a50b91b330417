//! The trace hash and the record digest, specified byte for byte.
//!
//! A run's trace hash is printed by `sim run` (`trace hash: 0x...`) and
//! compared by the determinism checks. It must come out the same for the same
//! scenario and seed on any machine and with any Rust release, so it is not
//! built on `std::hash::Hash` (whose byte stream is not promised: discriminants
//! as `isize`, lengths as `usize`, terminators for `str`) nor on
//! `mem::discriminant`. It is XXH3-64 (seed 0, default secret: the function
//! `XXH3_64bits` of the xxHash specification, here the `xxhash-rust` crate)
//! of the byte encoding below. `tests/trace_hash_pinned.rs` pins the hashes of
//! a few scenario seeds; the unit tests at the end of this file pin the bytes.
//!
//! # Encoding (version 1)
//!
//! Primitives, nothing between them:
//!
//! | value | bytes |
//! |---|---|
//! | `u8`, tag | 1 byte |
//! | `bool` | 1 byte: `0x00` false, `0x01` true |
//! | `i16`, `i32`, `u32`, `i64`, `u64` | fixed width, little-endian, two's complement |
//! | `usize` (counts, sizes, indexes) | as `u64`: 8 bytes little-endian, on every platform |
//! | `Duration` | seconds as `u64`, then the sub-second nanoseconds as `u32` (12 bytes) |
//! | bytes | length as `u64`, then the bytes |
//! | string | its UTF-8 as bytes (length as `u64`, no terminator) |
//! | `Option<T>` | `0x00` for `None`; `0x01` then `T` |
//! | `Result<T, E>` | `0x00` then `T`; `0x01` then `E` |
//! | sequence | element count as `u64`, then each element |
//! | tuple, struct | its fields in the order listed here |
//!
//! An enum is one tag byte, given below for each variant, then the variant's
//! fields. Tags are written by hand in a `match`, so reordering the Rust
//! declaration changes nothing.
//!
//! Composites:
//!
//! - `TopicPartition`: topic string, partition `i32`.
//! - `Actor`: `0x00` Producer then `u32`; `0x01` World.
//! - `FailKind`: `0x00` TooLarge, `0x01` ProducerClosed, `0x02` NotWritten,
//!   `0x03` MaybeWritten.
//! - `Change` (of a fault): `0x00` Crash, `0x01` Restart, `0x02` Network,
//!   `0x03` LeaderMove, `0x04` Injection, `0x05` Election, `0x06`
//!   ProducersExpired, `0x07` Nothing.
//! - `AttemptRecord`: tp, first_send_id `u64`, send_ids (sequence of `u64`),
//!   producer id `i64`, epoch `i16`, base sequence `i32`, attempt `u32`,
//!   bytes `usize`.
//! - `Entry`: at `Duration`, who `Actor`, what `What`.
//! - `What`, tag then fields:
//!
//! | tag | variant | fields |
//! |---|---|---|
//! | `0x00` | Send | index `usize`, send_id `Option<u64>`, partition `Option<i32>`, digest `u64`, batch_len `usize` |
//! | `0x01` | SendBlocked | index `usize`, waited `Duration` |
//! | `0x02` | Acked | index `usize`, partition `i32`, offset `i64` |
//! | `0x03` | Failed | index `usize`, kind `FailKind` (the error text is left out, see below) |
//! | `0x04` | BatchSealed | tp, first_send_id `u64`, records, accounted, uncompressed, encoded, limit, memory (each `usize`) |
//! | `0x05` | MemoryReleased | tp, first_send_id `u64`, bytes `usize` |
//! | `0x06` | BatchSplit | tp, first_send_id `u64`, parts (sequence of `u64`) |
//! | `0x07` | RequestSent | broker `i32`, correlation_id `i32`, bytes, accounted, limit (each `usize`), batches (sequence of `AttemptRecord`) |
//! | `0x08` | AttemptEnded | tp, first_send_id `u64`, outcome `Result<i64, Option<i16>>` |
//! | `0x09` | BatchResolved | tp, first_send_id `u64`, records `usize`, result: `0x00` then offset `i64`, or `0x01` alone (the error text is left out) |
//! | `0x0a` | ConnectionLost | broker `i32`, unanswered `usize` (the reason text is left out) |
//! | `0x0b` | IdentityGranted | producer_id `i64`, epoch `i16` |
//! | `0x0c` | EpochBumpStarted | none |
//! | `0x0d` | ControlRequestSent | broker `i32`, api string |
//! | `0x0e` | MetadataUpdated | leaders: sequence of (tp, `Option<i32>`) |
//! | `0x0f` | FutureDropped | index `usize` |
//! | `0x10` | Called | close `bool`, pending `usize` |
//! | `0x11` | Flushed | unresolved `usize` |
//! | `0x12` | Closed | unresolved_records, buffered_bytes, in_flight_requests, unresolved_futures (each `usize`) |
//! | `0x13` | Fault | description string, change `Change`, heal `bool` |
//! | `0x14` | RecordMutated | index `usize` |
//!
//! - `LogRecord`: offset `i64`, key `Option<bytes>`, value `Option<bytes>`,
//!   headers (sequence of (key string, value `Option<bytes>`)), timestamp `i64`.
//! - `LogBatch`: base_offset `i64`, client_id string, producer_id `i64`,
//!   producer_epoch `i16`, base_sequence `i32`, leader `i32`, appended_at
//!   `Duration`, bytes `usize`, request_bytes `usize`, records (sequence of
//!   `LogRecord`).
//!
//! **Trace** (the input of [`trace_hash`]): the 15 ASCII bytes
//! `prodsim-trace/1` (no length), the history's entries (sequence of `Entry`),
//! then the partition logs as a sequence of (topic string, partition `i32`,
//! batches: sequence of `LogBatch`), in the order the caller gives them (the
//! world gives them sorted by topic, then partition).
//!
//! **Record digest** (the `digest` of a Send, [`digest_parts`]; the checker
//! matches log records to sends by it): XXH3-64 of the 16 ASCII bytes
//! `prodsim-record/1`, key `Option<bytes>`, value `Option<bytes>`, then each
//! header as (key bytes, value `Option<bytes>`) up to the end of the input (no
//! count: the input ends after the last header). The timestamp is not part of it.
//!
//! Left out on purpose: free text that can quote the standard library's
//! formatting, which no Rust release promises to keep (a `Duration`'s `Debug`
//! form, an `io::Error`'s message from the simulated network): the reason of a
//! ConnectionLost, the error of a Failed record and of a failed BatchResolved.
//! Their structured fields are hashed. Fault descriptions are hashed: prodsim
//! writes them from the fault schedule (names, integers, a drop rate in `f64`'s
//! shortest round-trip form).
//!
//! Changing any of this changes every trace hash: bump the version in the
//! prefixes, update this table, the pins in `tests/trace_hash_pinned.rs` and
//! the unit tests below, and say so in the commit.

use crate::cluster::Change;
use crate::cluster::{LogBatch, LogRecord};
use crate::history::{Actor, AttemptRecord, Entry, FailKind, History, What};
use producer_core::TopicPartition;
use std::time::Duration;
use xxhash_rust::xxh3::Xxh3Default;

/// The prefix of a trace's encoding (its version).
pub const TRACE_PREFIX: &[u8; 15] = b"prodsim-trace/1";
/// The prefix of a record digest's encoding (its version).
pub const RECORD_PREFIX: &[u8; 16] = b"prodsim-record/1";

/// Where an [`Encoder`] puts its bytes.
pub trait Sink {
    /// Appends `bytes`.
    fn put(&mut self, bytes: &[u8]);
}

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// Streaming XXH3-64: the same value as `xxh3_64` of everything put, without
/// holding the bytes.
impl Sink for Xxh3Default {
    fn put(&mut self, bytes: &[u8]) {
        self.update(bytes);
    }
}

/// Writes values in the encoding of the module documentation.
pub struct Encoder<S> {
    sink: S,
}

impl<S: Sink> Encoder<S> {
    /// An encoder writing to `sink`.
    pub fn new(sink: S) -> Self {
        Encoder { sink }
    }

    /// The sink, with everything written.
    pub fn into_sink(self) -> S {
        self.sink
    }

    /// Bytes as they are, without a length.
    pub fn raw(&mut self, bytes: &[u8]) {
        self.sink.put(bytes);
    }

    /// One byte (also an enum tag).
    pub fn u8(&mut self, v: u8) {
        self.sink.put(&[v]);
    }

    /// `0x00` or `0x01`.
    pub fn bool(&mut self, v: bool) {
        self.u8(u8::from(v));
    }

    /// 2 bytes, little-endian.
    pub fn i16(&mut self, v: i16) {
        self.sink.put(&v.to_le_bytes());
    }

    /// 4 bytes, little-endian.
    pub fn u32(&mut self, v: u32) {
        self.sink.put(&v.to_le_bytes());
    }

    /// 4 bytes, little-endian.
    pub fn i32(&mut self, v: i32) {
        self.sink.put(&v.to_le_bytes());
    }

    /// 8 bytes, little-endian.
    pub fn u64(&mut self, v: u64) {
        self.sink.put(&v.to_le_bytes());
    }

    /// 8 bytes, little-endian.
    pub fn i64(&mut self, v: i64) {
        self.sink.put(&v.to_le_bytes());
    }

    /// A count, size or index: 8 bytes, little-endian, whatever `usize` is.
    pub fn usize(&mut self, v: usize) {
        self.u64(u64::try_from(v).expect("usize is at most 64 bits"));
    }

    /// Seconds as `u64`, then sub-second nanoseconds as `u32`.
    pub fn duration(&mut self, d: Duration) {
        self.u64(d.as_secs());
        self.u32(d.subsec_nanos());
    }

    /// Length as `u64`, then the bytes.
    pub fn bytes(&mut self, b: &[u8]) {
        self.usize(b.len());
        self.raw(b);
    }

    /// UTF-8 as [`bytes`](Self::bytes).
    pub fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }

    /// `0x00`, or `0x01` then the value.
    pub fn option<T>(&mut self, v: Option<T>, some: impl FnOnce(&mut Self, T)) {
        match v {
            None => self.u8(0),
            Some(x) => {
                self.u8(1);
                some(self, x);
            }
        }
    }

    /// `Option<bytes>`.
    pub fn opt_bytes(&mut self, v: Option<&[u8]>) {
        self.option(v, |e, b| e.bytes(b));
    }

    /// Count as `u64`, then each element.
    pub fn seq<T>(
        &mut self,
        items: impl ExactSizeIterator<Item = T>,
        mut each: impl FnMut(&mut Self, T),
    ) {
        self.usize(items.len());
        for x in items {
            each(self, x);
        }
    }

    /// Topic string, partition `i32`.
    pub fn tp(&mut self, tp: &TopicPartition) {
        self.str(&tp.topic);
        self.i32(tp.partition);
    }

    /// `0x00` Producer then `u32`; `0x01` World.
    pub fn actor(&mut self, a: Actor) {
        match a {
            Actor::Producer(p) => {
                self.u8(0x00);
                self.u32(p);
            }
            Actor::World => self.u8(0x01),
        }
    }

    /// A failed record's kind.
    pub fn fail_kind(&mut self, k: FailKind) {
        self.u8(match k {
            FailKind::TooLarge => 0x00,
            FailKind::ProducerClosed => 0x01,
            FailKind::NotWritten => 0x02,
            FailKind::MaybeWritten => 0x03,
        });
    }

    /// What a fault changed.
    pub fn change(&mut self, c: Change) {
        self.u8(match c {
            Change::Crash => 0x00,
            Change::Restart => 0x01,
            Change::Network => 0x02,
            Change::LeaderMove => 0x03,
            Change::Injection => 0x04,
            Change::Election => 0x05,
            Change::ProducersExpired => 0x06,
            Change::Nothing => 0x07,
        });
    }

    /// One batch of a produce request.
    pub fn attempt_record(&mut self, r: &AttemptRecord) {
        // Destructured in full: a new field does not compile until it is encoded.
        let AttemptRecord {
            tp,
            first_send_id,
            send_ids,
            stamp: (producer_id, epoch, base_sequence),
            attempt,
            bytes,
        } = r;
        self.tp(tp);
        self.u64(*first_send_id);
        self.seq(send_ids.iter(), |e, id| e.u64(*id));
        self.i64(*producer_id);
        self.i16(*epoch);
        self.i32(*base_sequence);
        self.u32(*attempt);
        self.usize(*bytes);
    }

    /// One history entry.
    pub fn entry(&mut self, entry: &Entry) {
        let Entry { at, who, what } = entry;
        self.duration(*at);
        self.actor(*who);
        self.what(what);
    }

    /// One event: its tag, then its fields (see the table above).
    pub fn what(&mut self, what: &What) {
        // Every variant and field is named (no `..`): a new one does not
        // compile until it has a tag and an encoding here.
        match what {
            What::Send {
                index,
                send_id,
                partition,
                digest,
                batch_len,
            } => {
                self.u8(0x00);
                self.usize(*index);
                self.option(*send_id, Self::u64);
                self.option(*partition, Self::i32);
                self.u64(*digest);
                self.usize(*batch_len);
            }
            What::SendBlocked { index, waited } => {
                self.u8(0x01);
                self.usize(*index);
                self.duration(*waited);
            }
            What::Acked {
                index,
                partition,
                offset,
            } => {
                self.u8(0x02);
                self.usize(*index);
                self.i32(*partition);
                self.i64(*offset);
            }
            What::Failed {
                index,
                error: _,
                kind,
            } => {
                self.u8(0x03);
                self.usize(*index);
                self.fail_kind(*kind);
            }
            What::BatchSealed {
                tp,
                first_send_id,
                records,
                accounted,
                uncompressed,
                encoded,
                limit,
                memory,
            } => {
                self.u8(0x04);
                self.tp(tp);
                self.u64(*first_send_id);
                for n in [records, accounted, uncompressed, encoded, limit, memory] {
                    self.usize(*n);
                }
            }
            What::MemoryReleased {
                tp,
                first_send_id,
                bytes,
            } => {
                self.u8(0x05);
                self.tp(tp);
                self.u64(*first_send_id);
                self.usize(*bytes);
            }
            What::BatchSplit {
                tp,
                first_send_id,
                parts,
            } => {
                self.u8(0x06);
                self.tp(tp);
                self.u64(*first_send_id);
                self.seq(parts.iter(), |e, p| e.u64(*p));
            }
            What::RequestSent {
                broker,
                correlation_id,
                bytes,
                accounted,
                limit,
                batches,
            } => {
                self.u8(0x07);
                self.i32(*broker);
                self.i32(*correlation_id);
                self.usize(*bytes);
                self.usize(*accounted);
                self.usize(*limit);
                self.seq(batches.iter(), Self::attempt_record);
            }
            What::AttemptEnded {
                tp,
                first_send_id,
                outcome,
            } => {
                self.u8(0x08);
                self.tp(tp);
                self.u64(*first_send_id);
                match outcome {
                    Ok(offset) => {
                        self.u8(0x00);
                        self.i64(*offset);
                    }
                    Err(code) => {
                        self.u8(0x01);
                        self.option(*code, Self::i16);
                    }
                }
            }
            What::BatchResolved {
                tp,
                first_send_id,
                records,
                result,
            } => {
                self.u8(0x09);
                self.tp(tp);
                self.u64(*first_send_id);
                self.usize(*records);
                match result {
                    Ok(offset) => {
                        self.u8(0x00);
                        self.i64(*offset);
                    }
                    Err(_text) => self.u8(0x01),
                }
            }
            What::ConnectionLost {
                broker,
                reason: _,
                unanswered,
            } => {
                self.u8(0x0a);
                self.i32(*broker);
                self.usize(*unanswered);
            }
            What::IdentityGranted { producer_id, epoch } => {
                self.u8(0x0b);
                self.i64(*producer_id);
                self.i16(*epoch);
            }
            What::EpochBumpStarted => self.u8(0x0c),
            What::ControlRequestSent { broker, api } => {
                self.u8(0x0d);
                self.i32(*broker);
                self.str(api);
            }
            What::MetadataUpdated { leaders } => {
                self.u8(0x0e);
                self.seq(leaders.iter(), |e, (tp, leader)| {
                    e.tp(tp);
                    e.option(*leader, Self::i32);
                });
            }
            What::FutureDropped { index } => {
                self.u8(0x0f);
                self.usize(*index);
            }
            What::Called { close, pending } => {
                self.u8(0x10);
                self.bool(*close);
                self.usize(*pending);
            }
            What::Flushed { unresolved } => {
                self.u8(0x11);
                self.usize(*unresolved);
            }
            What::Closed {
                unresolved_records,
                buffered_bytes,
                in_flight_requests,
                unresolved_futures,
            } => {
                self.u8(0x12);
                self.usize(*unresolved_records);
                self.usize(*buffered_bytes);
                self.usize(*in_flight_requests);
                self.usize(*unresolved_futures);
            }
            What::Fault {
                description,
                change,
                heal,
            } => {
                self.u8(0x13);
                self.str(description);
                self.change(*change);
                self.bool(*heal);
            }
            What::RecordMutated { index } => {
                self.u8(0x14);
                self.usize(*index);
            }
        }
    }

    /// One stored record.
    pub fn log_record(&mut self, r: &LogRecord) {
        let LogRecord {
            offset,
            key,
            value,
            headers,
            timestamp,
        } = r;
        self.i64(*offset);
        self.opt_bytes(key.as_deref());
        self.opt_bytes(value.as_deref());
        self.seq(headers.iter(), |e, (k, v)| {
            e.str(k);
            e.opt_bytes(v.as_deref());
        });
        self.i64(*timestamp);
    }

    /// One appended batch.
    pub fn log_batch(&mut self, b: &LogBatch) {
        let LogBatch {
            base_offset,
            client_id,
            producer_id,
            producer_epoch,
            base_sequence,
            leader,
            appended_at,
            bytes,
            request_bytes,
            records,
        } = b;
        self.i64(*base_offset);
        self.str(client_id);
        self.i64(*producer_id);
        self.i16(*producer_epoch);
        self.i32(*base_sequence);
        self.i32(*leader);
        self.duration(*appended_at);
        self.usize(*bytes);
        self.usize(*request_bytes);
        self.seq(records.iter(), Self::log_record);
    }

    /// The whole trace: prefix, history, logs (the input of [`trace_hash`]).
    pub fn trace<'a>(
        &mut self,
        history: &History,
        logs: impl ExactSizeIterator<Item = (&'a str, i32, &'a [LogBatch])>,
    ) {
        self.raw(TRACE_PREFIX);
        self.seq(history.entries.iter(), Self::entry);
        self.seq(logs, |e, (topic, partition, batches)| {
            e.str(topic);
            e.i32(partition);
            e.seq(batches.iter(), Self::log_batch);
        });
    }
}

/// The trace hash: XXH3-64 of the trace's encoding (module documentation).
pub fn trace_hash<'a>(
    history: &History,
    logs: impl ExactSizeIterator<Item = (&'a str, i32, &'a [LogBatch])>,
) -> u64 {
    let mut e = Encoder::new(Xxh3Default::new());
    e.trace(history, logs);
    e.into_sink().digest()
}

/// Writes a record digest's input (module documentation) to `e`.
pub fn encode_record<'a, S: Sink>(
    e: &mut Encoder<S>,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: impl Iterator<Item = (&'a [u8], Option<&'a [u8]>)>,
) {
    e.raw(RECORD_PREFIX);
    e.opt_bytes(key);
    e.opt_bytes(value);
    for (k, v) in headers {
        e.bytes(k);
        e.opt_bytes(v);
    }
}

/// Content fingerprint of a record: XXH3-64 of key, value and headers (not
/// the timestamp) as the module documentation encodes them.
pub fn digest_parts<'a>(
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: impl Iterator<Item = (&'a [u8], Option<&'a [u8]>)>,
) -> u64 {
    let mut e = Encoder::new(Xxh3Default::new());
    encode_record(&mut e, key, value, headers);
    e.into_sink().digest()
}

#[cfg(test)]
mod tests;
