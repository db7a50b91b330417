//! The batch as the log stores it, after Kafka's `LogValidator` accepted it
//! (`validateMessagesAndAssignOffsets` at 4.4.0):
//!
//! - source and target uncompressed (`assignOffsetsNonCompressed`): the
//!   batch as sent, its timestamp type set to the topic's, its max timestamp
//!   written (the largest record timestamp, or the append time), the CRC
//!   computed again; records at base offset + their delta;
//! - compressed source or target (`validateMessagesAndAssignOffsetsCompressed`):
//!   the target codec is the topic's `compression.type`, or the batch's own
//!   for `producer`. When the two are the same (`inPlaceAssignment`) and the
//!   inner offsets are 0, 1, 2, ... the batch is kept as sent, with the same
//!   three fields rewritten as above; with other inner offsets Kafka 4.4
//!   fails (UNKNOWN_SERVER_ERROR, measured: it read the records without
//!   their keys and values, expecting to keep the batch, and cannot rebuild
//!   it from them). When the codecs differ the batch is rebuilt
//!   (`buildRecordsAndAssignOffsets`, `MemoryRecordsBuilder`): records with
//!   offsets 0..n, attributes 0, timestamps as read (base timestamp the first
//!   record's), compressed with the target codec; a rebuilt batch over the
//!   topic's `max.message.bytes` is MESSAGE_TOO_LARGE (`UnifiedLog.append`
//!   checks again when `messageSizeMaybeChanged`).
//!
//! A rebuilt batch's bytes are not Java's byte for byte (another gzip, zstd
//! and lz4 encoder); what they hold is.

use crate::codec::{self, Codec};
use crate::log_validator::{ValidBatch, HEADER_LEN};
use bytes::{BufMut, Bytes, BytesMut};
use producer_core::error::code;

/// The broker's clock at the append and the topic's timestamp type.
#[derive(Clone, Copy, Debug)]
pub struct Stamp {
    /// The broker's clock (ms).
    pub now_ms: i64,
    /// The topic is `message.timestamp.type=LogAppendTime`.
    pub log_append_time: bool,
}

/// A batch ready to append.
#[derive(Clone, Debug)]
pub struct Stored {
    /// Its bytes as the log keeps them (base offset and leader epoch are
    /// written at Fetch).
    pub bytes: Bytes,
    /// The max timestamp written in it.
    pub max_timestamp: i64,
    /// Its records are at base offset + 0, 1, 2, ... (a compressed batch:
    /// kept because its offsets were consecutive, or rebuilt); `false`: at
    /// base offset + each record's delta (an uncompressed batch kept).
    pub consecutive: bool,
    /// Written again by the broker (records as the broker read them);
    /// `false`: the batch as sent, three header fields rewritten.
    pub rebuilt: bool,
}

/// Why the broker cannot store a valid batch: Kafka's error code, and
/// whether the answer carries the log start offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotStored {
    /// Kafka's error code.
    pub code: i16,
    /// Refused inside the log (the answer carries its start offset).
    pub in_log: bool,
    /// What was wrong.
    pub reason: String,
}

/// `batch` (received as `bytes`) as the log stores it on a topic storing
/// `target` (`None`: `compression.type=producer`), with `max_message_bytes`
/// the topic's limit.
pub fn stored(
    bytes: &Bytes,
    batch: &ValidBatch,
    target: Option<Codec>,
    stamp: Stamp,
    max_message_bytes: usize,
) -> Result<Stored, NotStored> {
    let target = target.unwrap_or(batch.compression);
    if batch.compression == Codec::None && target == Codec::None {
        let (bytes, max_timestamp) = in_place(bytes, batch, stamp);
        return Ok(Stored {
            bytes,
            max_timestamp,
            consecutive: false,
            rebuilt: false,
        });
    }
    if batch.compression == target {
        if !batch.consecutive() {
            // Kafka 4.4 reads a batch it expects to keep with
            // `skipKeyValueIterator`; when an offset turns out not to be
            // consecutive, `buildRecordsAndAssignOffsets` asks those partial
            // records for keys they do not hold: an exception the log's
            // caller answers as an unknown error (measured).
            return Err(NotStored {
                code: code::UNKNOWN_SERVER_ERROR,
                in_log: true,
                reason: "inner offsets not consecutive in a batch of the topic's codec: \
                         Kafka fails rebuilding it from partially read records"
                    .into(),
            });
        }
        let (bytes, max_timestamp) = in_place(bytes, batch, stamp);
        return Ok(Stored {
            bytes,
            max_timestamp,
            consecutive: true,
            rebuilt: false,
        });
    }
    let (bytes, max_timestamp) = rebuilt(batch, target, stamp)?;
    if bytes.len() > max_message_bytes {
        return Err(NotStored {
            code: code::MESSAGE_TOO_LARGE,
            in_log: false,
            reason: format!(
                "the batch stored as {} is {} bytes, over the topic's {max_message_bytes}",
                target.name(),
                bytes.len()
            ),
        });
    }
    Ok(Stored {
        bytes,
        max_timestamp,
        consecutive: true,
        rebuilt: true,
    })
}

/// The max timestamp the log writes: the append time, or the largest
/// record timestamp (-1 when none is larger).
fn max_timestamp(batch: &ValidBatch, stamp: Stamp) -> i64 {
    if stamp.log_append_time {
        stamp.now_ms
    } else {
        batch
            .records
            .iter()
            .map(|r| batch.timestamp(r))
            .fold(-1, i64::max)
    }
}

/// The batch as sent with the timestamp type set to the topic's, the max
/// timestamp written and the CRC computed again. Returns the bytes and that
/// max timestamp.
fn in_place(bytes: &Bytes, batch: &ValidBatch, stamp: Stamp) -> (Bytes, i64) {
    let max_timestamp = max_timestamp(batch, stamp);
    let len = (12 + i32::from_be_bytes(bytes[8..12].try_into().expect("4 bytes")) as usize)
        .min(bytes.len());
    let mut out = BytesMut::from(&bytes[..len]);
    let attributes = i16::from_be_bytes([out[21], out[22]]);
    let attributes = if stamp.log_append_time {
        attributes | 0x08
    } else {
        attributes & !0x08
    };
    out[21..23].copy_from_slice(&attributes.to_be_bytes());
    out[35..43].copy_from_slice(&max_timestamp.to_be_bytes());
    let crc = crc32c::crc32c(&out[21..]);
    out[17..21].copy_from_slice(&crc.to_be_bytes());
    (out.freeze(), max_timestamp)
}

/// The batch written again as `MemoryRecordsBuilder` writes it, compressed
/// with `target`.
fn rebuilt(batch: &ValidBatch, target: Codec, stamp: Stamp) -> Result<(Bytes, i64), NotStored> {
    if let Some(t) = batch
        .records
        .iter()
        .map(|r| batch.timestamp(r))
        .find(|t| *t < 0 && *t != -1)
    {
        // `MemoryRecordsBuilder.appendWithOffset`: IllegalArgumentException,
        // which the log's caller answers as an unknown error.
        return Err(NotStored {
            code: code::UNKNOWN_SERVER_ERROR,
            in_log: true,
            reason: format!("invalid negative timestamp {t} in a batch the broker rebuilds"),
        });
    }
    let base_timestamp = batch.records.first().map_or(-1, |r| batch.timestamp(r));
    let mut body = BytesMut::new();
    let mut record = BytesMut::new();
    for (i, r) in batch.records.iter().enumerate() {
        record.clear();
        record.put_i8(0);
        put_varlong(&mut record, batch.timestamp(r).wrapping_sub(base_timestamp));
        put_varint(&mut record, i as i32);
        put_field(&mut record, r.key.as_deref());
        put_field(&mut record, r.value.as_deref());
        put_varint(&mut record, r.headers.len() as i32);
        for (k, v) in &r.headers {
            put_field(&mut record, Some(k.as_bytes()));
            put_field(&mut record, v.as_deref());
        }
        put_varint(&mut body, record.len() as i32);
        body.put_slice(&record);
    }
    let payload = codec::compress(target, &body);
    let max_timestamp = max_timestamp(batch, stamp);
    let attributes = target.id() | if stamp.log_append_time { 0x08 } else { 0 };
    let n = batch.records.len() as i32;
    let mut out = BytesMut::with_capacity(HEADER_LEN + payload.len());
    out.put_i64(0);
    out.put_i32((HEADER_LEN - 12 + payload.len()) as i32);
    out.put_i32(0);
    out.put_i8(2);
    out.put_u32(0);
    out.put_i16(attributes);
    out.put_i32(n - 1);
    out.put_i64(base_timestamp);
    out.put_i64(max_timestamp);
    out.put_i64(batch.producer_id);
    out.put_i16(batch.producer_epoch);
    out.put_i32(batch.base_sequence);
    out.put_i32(n);
    out.put_slice(&payload);
    let crc = crc32c::crc32c(&out[21..]);
    out[17..21].copy_from_slice(&crc.to_be_bytes());
    Ok((out.freeze(), max_timestamp))
}

/// A zigzag varlong, as records write their fields.
fn put_varlong(buf: &mut BytesMut, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        buf.put_u8((z as u8) | 0x80);
        z >>= 7;
    }
    buf.put_u8(z as u8);
}

fn put_varint(buf: &mut BytesMut, v: i32) {
    put_varlong(buf, i64::from(v));
}

fn put_field(buf: &mut BytesMut, b: Option<&[u8]>) {
    match b {
        None => put_varint(buf, -1),
        Some(b) => {
            put_varint(buf, b.len() as i32);
            buf.put_slice(b);
        }
    }
}
