//! A produce's records checked as Apache Kafka's broker checks them
//! (`ProduceRequest.validateRecords`, `UnifiedLog.analyzeAndValidateRecords`,
//! `LogValidator.validateBatch` and `validateMessagesAndAssignOffsetsCompressed`,
//! `DefaultRecordBatch` / `DefaultRecord` reading, at 4.4.0), and decoded by
//! prodsim's own reader into the records the log stores, headers kept in
//! order with duplicate keys. A compressed batch is decompressed
//! ([`crate::codec`]) and its records read from the result.
//!
//! | what is wrong | Kafka's answer |
//! |---|---|
//! | batch length field longer than the bytes, no complete batch | INVALID_RECORD (87) |
//! | magic other than 2 | 87 |
//! | zstd (codec 4) in a Produce request before v7 | UNSUPPORTED_COMPRESSION_TYPE (76), before the log |
//! | more than one batch | 87 ("exactly one record batch per partition") |
//! | CRC-32C mismatch (over the bytes as sent, compressed or not) | CORRUPT_MESSAGE (2) |
//! | base offset other than 0 | 87 |
//! | lastOffsetDelta + 1 not positive, record count <= 0, or the two differ | 87 |
//! | control batch from a client | 87 |
//! | producer id set, base sequence < 0 | 87 |
//! | bytes left after the last record, or inside a record after its headers; a record running past the batch | 87 |
//! | compressed: fewer records than the count (premature EOF) or more ("records still remaining") | 87 |
//! | compressed: a record longer than the topic's `max.decompressed.message.bytes` | 87 |
//! | compressed: the payload does not decompress | [`DECOMPRESSION_FAILED`], with the log start offset (Kafka's `KafkaException` from the decoder) |
//! | compressed: the payload decompresses to more than [`codec::MAX_DECOMPRESSED_BYTES`] | 87 (a bound of the simulated broker, not Kafka's) |
//! | LogAppendTime timestamp type set by the client | accepted; stored with the topic's type (records read with the batch's max timestamp, as Kafka reads them) |
//! | transactional batch (no transactions here) | TRANSACTIONAL_ID_AUTHORIZATION_FAILED (53) |
//! | compression codec 5..=7 (no such codec) | UNKNOWN_SERVER_ERROR (-1) |
//!
//! Before 2.4 an invalid record was a `CorruptRecordException`: the caller
//! maps 87 to 2 for older broker versions. Fewer than 12 bytes after the
//! batch are dropped silently, as Kafka's `trimInvalidBytes` does. Record
//! offset deltas are not checked (Kafka does not for uncompressed batches);
//! the log stores each record of an uncompressed batch at base offset + its
//! delta, as a consumer reads it. A compressed batch whose deltas are not
//! 0, 1, ... is rewritten by the broker (`inPlaceAssignment` false:
//! [`ValidBatch::consecutive`]). Every length and count is checked against
//! the bytes left before anything is allocated.

use crate::codec::{self, Codec};
use bytes::Bytes;
use producer_core::error::code;
use producer_core::wire::reader::Reader;

/// Bytes of a RecordBatch v2 header.
pub const HEADER_LEN: usize = 61;

/// Kafka's answer to a compressed payload its decoder cannot read: the
/// decoder's `IOException` becomes a `KafkaException`, which the log's
/// caller answers as UNKNOWN_SERVER_ERROR with the log start offset
/// (measured on Kafka 4.4.0: interop/tests/fidelity, `compression/corrupt-*`).
pub const DECOMPRESSION_FAILED: i16 = code::UNKNOWN_SERVER_ERROR;
/// The default of the topic config `max.decompressed.message.bytes` (Kafka
/// 4.4): `Integer.MAX_VALUE - 8`, the largest array a JVM allocates.
pub const DEFAULT_MAX_DECOMPRESSED_RECORD: i64 = 2_147_483_639;

/// What the request and the topic add to a batch's own checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checks {
    /// The Produce request's version (zstd needs v7 or later).
    pub produce_version: i16,
    /// The topic's `max.decompressed.message.bytes`: the most bytes one
    /// record of a compressed batch may hold (Kafka reads the records of
    /// uncompressed batches without this bound).
    pub max_record_bytes: i64,
}

impl Default for Checks {
    /// The latest Produce version, Kafka's default topic.
    fn default() -> Self {
        Checks {
            produce_version: i16::MAX,
            max_record_bytes: DEFAULT_MAX_DECOMPRESSED_RECORD,
        }
    }
}

/// A batch the broker accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidBatch {
    /// Producer id (-1 without idempotence).
    pub producer_id: i64,
    /// Producer epoch.
    pub producer_epoch: i16,
    /// Base sequence.
    pub base_sequence: i32,
    /// The batch's first timestamp.
    pub base_timestamp: i64,
    /// The max timestamp field as sent.
    pub max_timestamp: i64,
    /// The client set the LogAppendTime bit (0x08): Kafka reads every
    /// record's timestamp as the max timestamp field.
    pub append_time_bit: bool,
    /// The codec of the batch as sent.
    pub compression: Codec,
    /// Its records (decompressed).
    pub records: Vec<ValidRecord>,
}

impl ValidBatch {
    /// A record's timestamp as Kafka's reader gives it to the validator
    /// (`DefaultRecord.readFrom`): the batch's max timestamp when the batch
    /// says LogAppendTime, else base timestamp + delta.
    pub fn timestamp(&self, r: &ValidRecord) -> i64 {
        if self.append_time_bit {
            self.max_timestamp
        } else {
            self.base_timestamp.wrapping_add(r.timestamp_delta)
        }
    }

    /// The inner offset deltas are 0, 1, 2, ...: a compressed batch can be
    /// stored as it came (`LogValidator`'s `inPlaceAssignment`).
    pub fn consecutive(&self) -> bool {
        self.records
            .iter()
            .enumerate()
            .all(|(i, r)| r.offset_delta == i as i64)
    }
}

/// One record of a valid batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidRecord {
    /// Offset delta as written.
    pub offset_delta: i64,
    /// Timestamp delta as written.
    pub timestamp_delta: i64,
    /// Key.
    pub key: Option<Bytes>,
    /// Value.
    pub value: Option<Bytes>,
    /// Headers in order, duplicate keys kept (keys decoded as UTF-8, lossily,
    /// as Java's `new String(bytes, UTF_8)` does).
    pub headers: Vec<(String, Option<Bytes>)>,
}

/// Why a batch was refused: the Kafka error code and what was wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// Kafka error code.
    pub code: i16,
    /// What was wrong.
    pub reason: String,
    /// Refused by the request's own checks (`ProduceRequest.validateRecords`
    /// and the transactional check in `KafkaApis`: no batch, not magic 2,
    /// more than one batch), before the log: the answer has no log start
    /// offset. The log's own checks answer with it.
    pub before_log: bool,
}

fn refuse<T>(code: i16, reason: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal {
        code,
        reason: reason.into(),
        before_log: false,
    })
}

/// As [`refuse`], for a check Kafka makes before the log.
fn refuse_request<T>(code: i16, reason: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal {
        code,
        reason: reason.into(),
        before_log: true,
    })
}

/// A read past the end of a record: INVALID_RECORD.
fn invalid(reason: String) -> Refusal {
    Refusal {
        code: code::INVALID_RECORD,
        reason,
        before_log: false,
    }
}

/// A varint-length-prefixed field of `data` read by `r`; -1 is null.
fn field(r: &mut Reader<'_>, data: &Bytes) -> Result<Option<Bytes>, Refusal> {
    match r.varlong().map_err(invalid)? {
        -1 => Ok(None),
        n if n < 0 => refuse(code::INVALID_RECORD, format!("negative length {n}")),
        n => Ok(Some(data.slice_ref(r.take(n as usize).map_err(invalid)?))),
    }
}

fn be_i64(b: &[u8], at: usize) -> i64 {
    i64::from_be_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes(b[at..at + 2].try_into().expect("2 bytes"))
}

/// Checks the records of one partition of a produce request of the latest
/// version to a topic of Kafka's defaults, and decodes them.
pub fn validate(records: &Bytes) -> Result<ValidBatch, Refusal> {
    validate_with(records, Checks::default())
}

/// Checks the records of one partition of a produce request and decodes them
/// (decompressed when the batch is compressed).
pub fn validate_with(records: &Bytes, checks: Checks) -> Result<ValidBatch, Refusal> {
    let total = framed_batch(records, checks)?;
    let b = &records[..];
    let compression = check_header(b)?;
    let count = be_i32(b, 57) as usize;
    let (data, max_record) = record_stream(records, total, compression, checks)?;
    let mut reader = Reader::new(&data, false);
    let mut out = Vec::with_capacity(count.min(reader.remaining()));
    for i in 0..count {
        out.push(
            read_record(&mut reader, &data, max_record).map_err(|r| Refusal {
                reason: format!("record {i}: {}", r.reason),
                ..r
            })?,
        );
    }
    if reader.remaining() > 0 {
        return refuse(
            code::INVALID_RECORD,
            format!(
                "{} bytes left after the last of {count} records",
                reader.remaining()
            ),
        );
    }
    let attributes = be_i16(b, 21);
    Ok(ValidBatch {
        producer_id: be_i64(b, 43),
        producer_epoch: be_i16(b, 51),
        base_sequence: be_i32(b, 53),
        base_timestamp: be_i64(b, 27),
        max_timestamp: be_i64(b, 35),
        append_time_bit: attributes & 0x08 != 0,
        compression,
        records: out,
    })
}

/// The one batch of `records`, framed as Kafka requires (length, magic, a
/// codec the request version allows, nothing after it, its CRC): its length.
fn framed_batch(records: &Bytes, checks: Checks) -> Result<usize, Refusal> {
    let b = &records[..];
    if b.len() < HEADER_LEN {
        return refuse_request(
            code::INVALID_RECORD,
            format!("{} bytes hold no batch header", b.len()),
        );
    }
    let batch_length = be_i32(b, 8);
    let total = (batch_length as i64) + 12;
    if batch_length < 0 || total < HEADER_LEN as i64 {
        return refuse(
            code::CORRUPT_MESSAGE,
            format!("batch length {batch_length} is below a batch header"),
        );
    }
    if total as usize > b.len() {
        return refuse_request(
            code::INVALID_RECORD,
            format!(
                "batch length {batch_length} runs past the {} bytes sent: no complete batch",
                b.len()
            ),
        );
    }
    let total = total as usize;
    if b[16] != 2 {
        return refuse_request(
            code::INVALID_RECORD,
            format!("magic {} is not 2", b[16] as i8),
        );
    }
    if checks.produce_version < 7 && b[22] & 0x07 == Codec::Zstd.id() as u8 {
        return refuse_request(
            code::UNSUPPORTED_COMPRESSION_TYPE,
            format!(
                "Produce requests with version {} are not allowed to use ZStandard compression",
                checks.produce_version
            ),
        );
    }
    if b.len() - total >= 12 {
        return refuse_request(
            code::INVALID_RECORD,
            "more than one record batch for one partition",
        );
    }
    let crc = u32::from_be_bytes(b[17..21].try_into().expect("4 bytes"));
    let computed = crc32c::crc32c(&b[21..total]);
    if crc != computed {
        return refuse(
            code::CORRUPT_MESSAGE,
            format!("CRC {crc:#010x}, computed {computed:#010x}"),
        );
    }
    Ok(total)
}

/// The batch's record stream (decompressed when the batch is compressed) and
/// the most bytes one record of it may hold.
fn record_stream(
    records: &Bytes,
    total: usize,
    compression: Codec,
    checks: Checks,
) -> Result<(Bytes, i64), Refusal> {
    if compression == Codec::None {
        return Ok((records.slice(HEADER_LEN..total), i64::MAX));
    }
    let body = &records[HEADER_LEN..total];
    match codec::decompress(compression, body, codec::MAX_DECOMPRESSED_BYTES) {
        Ok(d) => Ok((Bytes::from(d), checks.max_record_bytes)),
        Err(codec::DecodeError::Corrupt(why)) => refuse(
            DECOMPRESSION_FAILED,
            format!("failed to decompress the record stream: {why}"),
        ),
        Err(e @ codec::DecodeError::TooLarge(_)) => {
            refuse(code::INVALID_RECORD, format!("compressed records: {e}"))
        }
    }
}

/// The header fields Kafka checks before reading records; the batch's codec.
fn check_header(b: &[u8]) -> Result<Codec, Refusal> {
    let attributes = be_i16(b, 21);
    let Some(compression) = Codec::from_attributes(attributes) else {
        return refuse(
            code::UNKNOWN_SERVER_ERROR,
            format!("unknown compression codec {}", attributes & 0x07),
        );
    };
    // The timestamp-type bit a client sets is overwritten with the topic's
    // when the batch is stored (Kafka 4.4 accepts it; docs/fidelity.md).
    if attributes & 0x10 != 0 {
        return refuse_request(
            code::TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
            "transactional batch without a transactional id",
        );
    }
    if attributes & 0x20 != 0 {
        return refuse(
            code::INVALID_RECORD,
            "clients may not write control batches",
        );
    }
    let base_offset = be_i64(b, 0);
    if base_offset != 0 {
        return refuse(
            code::INVALID_RECORD,
            format!("base offset {base_offset}, should be 0"),
        );
    }
    let from_offsets = be_i32(b, 23) as i64 + 1;
    let count = be_i32(b, 57);
    if from_offsets <= 0 {
        return refuse(code::INVALID_RECORD, "batch has an invalid offset range");
    }
    if count <= 0 {
        return refuse(
            code::INVALID_RECORD,
            format!("invalid record count {count}"),
        );
    }
    if from_offsets != count as i64 {
        return refuse(
            code::INVALID_RECORD,
            format!("inconsistent offset range ({from_offsets} offsets) and record count {count}"),
        );
    }
    let (producer_id, base_sequence) = (be_i64(b, 43), be_i32(b, 53));
    if producer_id >= 0 && base_sequence < 0 {
        return refuse(
            code::INVALID_RECORD,
            format!("invalid sequence number {base_sequence}"),
        );
    }
    Ok(compression)
}

/// One record of `data`, read by `r`; `max_len`: the longest record body allowed.
fn read_record(r: &mut Reader<'_>, data: &Bytes, max_len: i64) -> Result<ValidRecord, Refusal> {
    let len = r.varlong().map_err(invalid)?;
    if len > max_len {
        return refuse(
            code::INVALID_RECORD,
            format!(
                "invalid record size: {len} exceeds the configured maximum record size of {max_len}"
            ),
        );
    }
    if len < 0 || len as usize > r.remaining() {
        return refuse(
            code::INVALID_RECORD,
            format!("record length {len} with {} bytes left", r.remaining()),
        );
    }
    let mut inner = Reader::new(r.take(len as usize).map_err(invalid)?, false);
    inner.take(1).map_err(invalid)?; // attributes (unused in v2)
    let timestamp_delta = inner.varlong().map_err(invalid)?;
    let offset_delta = inner.varlong().map_err(invalid)?;
    let key = field(&mut inner, data)?;
    let value = field(&mut inner, data)?;
    let count = inner.varlong().map_err(invalid)?;
    if count < 0 || count as usize > inner.remaining() {
        return refuse(
            code::INVALID_RECORD,
            format!("{count} headers with {} bytes left", inner.remaining()),
        );
    }
    let mut headers = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let k = match field(&mut inner, data)? {
            Some(k) => String::from_utf8_lossy(&k).into_owned(),
            None => return refuse(code::INVALID_RECORD, "null header key"),
        };
        headers.push((k, field(&mut inner, data)?));
    }
    if inner.remaining() > 0 {
        return refuse(
            code::INVALID_RECORD,
            format!(
                "invalid record size: {} bytes left after its headers",
                inner.remaining()
            ),
        );
    }
    Ok(ValidRecord {
        offset_delta,
        timestamp_delta,
        key,
        value,
        headers,
    })
}
