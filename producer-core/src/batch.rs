//! RecordBatch v2 (magic 2) encoder with exact byte accounting.
//!
//! A [`BatchBuilder`] writes each record as it is added, so its length is always
//! the exact size the finished batch will have. [`BatchBuilder::size_with`] answers
//! "how big would the batch be with this record too" from the varint arithmetic
//! alone, without writing anything; tests prove that answer equals the bytes
//! written. There is no estimate and no safety margin anywhere.
//!
//! Layout of the 61-byte header (offsets in bytes):
//! ```text
//!  0 baseOffset i64        8 batchLength i32      12 partitionLeaderEpoch i32
//! 16 magic i8             17 crc u32              21 attributes i16
//! 23 lastOffsetDelta i32  27 baseTimestamp i64    35 maxTimestamp i64
//! 43 producerId i64       51 producerEpoch i16    53 baseSequence i32
//! 57 recordCount i32      61 records...
//! ```
//! The CRC-32C covers bytes 21 (attributes) to the end of the batch.

use crate::bugs::Bugs;
use crate::compression::{decompress, Compression};
use crate::record::{Header, Record};
use crate::varint::{get_varint, get_varlong, put_varint, put_varlong, varint_len, varlong_len};
use bytes::{BufMut, Bytes, BytesMut};
use std::sync::{Arc, OnceLock};

/// Size of the RecordBatch v2 header.
pub const BATCH_HEADER_LEN: usize = 61;
/// Bytes before `batchLength` counts: baseOffset and batchLength themselves.
const LOG_OVERHEAD: usize = 12;
const CRC_OFFSET: usize = 17;
const CRC_START: usize = 21;
const PRODUCER_ID_OFFSET: usize = 43;

/// Producer identity stamped into a batch header. Non-idempotent producers use
/// [`ProducerStamp::NONE`] (`-1, -1, -1`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ProducerStamp {
    /// Producer id from InitProducerId, or -1.
    pub producer_id: i64,
    /// Producer epoch, or -1.
    pub producer_epoch: i16,
    /// Sequence number of the first record, or -1.
    pub base_sequence: i32,
}

impl ProducerStamp {
    /// The stamp of a producer without idempotence.
    pub const NONE: ProducerStamp = ProducerStamp {
        producer_id: -1,
        producer_epoch: -1,
        base_sequence: -1,
    };
}

/// Exact encoded length of one record inside a batch, including its length prefix.
pub fn record_len(record: &Record, timestamp_delta: i64, offset_delta: i32) -> usize {
    let body = record_body_len(record, timestamp_delta, offset_delta);
    varint_len(body as i32) + body
}

fn bytes_field_len(field: Option<&Bytes>) -> usize {
    match field {
        None => varint_len(-1),
        Some(b) => varint_len(b.len() as i32) + b.len(),
    }
}

fn record_body_len(record: &Record, timestamp_delta: i64, offset_delta: i32) -> usize {
    let headers: usize = record
        .headers()
        .iter()
        .map(|h| bytes_field_len(Some(h.key())) + bytes_field_len(h.value()))
        .sum();
    1 + varlong_len(timestamp_delta)
        + varint_len(offset_delta)
        + bytes_field_len(record.key())
        + bytes_field_len(record.value())
        + varint_len(record.headers().len() as i32)
        + headers
}

/// Size of a batch holding only `record`: the smallest batch that can carry it.
/// A record whose single-record batch exceeds `max_message_bytes` can never be sent.
pub fn single_record_batch_len(record: &Record) -> usize {
    BATCH_HEADER_LEN + record_len(record, 0, 0)
}

fn put_bytes_field(buf: &mut BytesMut, field: Option<&Bytes>) {
    match field {
        None => put_varint(buf, -1),
        Some(b) => {
            put_varint(buf, b.len() as i32);
            buf.put_slice(b);
        }
    }
}

/// The records of a closed batch, compressed once by whichever side gets to
/// them first: the sender's driver before it locks the produce set (so sends
/// go on meanwhile), or [`BatchBuilder::seal`]. The bytes are the same either
/// way, so who compresses never changes a run.
#[derive(Debug)]
pub struct Compressing {
    /// The records, split off the builder's buffer (same allocation: sealing
    /// joins them back and writes the compressed bytes over them).
    records: BytesMut,
    compression: Compression,
    packed: OnceLock<Vec<u8>>,
}

impl Compressing {
    /// The compressed records, compressing them on the first call (a second
    /// caller meanwhile waits for the first one's result).
    pub fn run(&self) -> &[u8] {
        self.packed
            .get_or_init(|| self.compression.compress(&self.records))
    }
}

/// An open batch being filled with records for one partition.
#[derive(Debug)]
pub struct BatchBuilder {
    /// The header and the records; after [`BatchBuilder::close`], the header
    /// only (the records moved to `closed`).
    buf: BytesMut,
    /// Set by [`BatchBuilder::close`]: the records, to be compressed.
    closed: Option<Arc<Compressing>>,
    /// Bytes the buffer allocated, kept across `close`.
    allocated: usize,
    base_timestamp: i64,
    max_timestamp: i64,
    count: i32,
    /// Injected bugs (`batch_header_wrong` writes a wrong `lastOffsetDelta`).
    bugs: Bugs,
    /// The codec [`BatchBuilder::seal`] compresses the records with.
    compression: Compression,
}

impl BatchBuilder {
    /// An empty batch whose buffer is allocated for `capacity` bytes (at least
    /// the header). Records beyond that grow the buffer.
    pub fn new(capacity: usize) -> Self {
        Self::reusing(BytesMut::with_capacity(capacity.max(BATCH_HEADER_LEN)))
    }

    /// An empty batch written into `buffer` (a released batch's, kept for
    /// reuse): its capacity is the batch's allocation.
    pub fn reusing(mut buffer: BytesMut) -> Self {
        buffer.clear();
        buffer.put_bytes(0, BATCH_HEADER_LEN);
        BatchBuilder {
            allocated: buffer.capacity(),
            buf: buffer,
            closed: None,
            base_timestamp: 0,
            max_timestamp: 0,
            count: 0,
            bugs: Bugs::default(),
            compression: Compression::None,
        }
    }

    /// This builder, sealing its records compressed with `compression`. Its
    /// length stays the exact *uncompressed* size; the compressed size is
    /// known only once sealed.
    pub fn with_compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// This builder with injected bugs (see [`crate::bugs`]).
    pub fn with_bugs(mut self, bugs: Bugs) -> Self {
        self.bugs = bugs;
        self
    }

    /// Exact current size in bytes (header included), uncompressed.
    pub fn len(&self) -> usize {
        self.buf.len() + self.closed.as_ref().map_or(0, |c| c.records.len())
    }

    /// Bytes allocated for the buffer: what this batch really holds in memory.
    pub fn capacity(&self) -> usize {
        match self.closed {
            Some(_) => self.allocated,
            None => self.buf.capacity(),
        }
    }

    /// Closes a compressed batch to further records and hands out its
    /// records to be compressed ([`Compressing::run`]) by whoever may do it
    /// without holding the produce set: [`BatchBuilder::seal`] then uses that
    /// result. `None` without compression, for an empty batch, or when
    /// already closed.
    pub fn close(&mut self) -> Option<Arc<Compressing>> {
        if self.compression.is_none() || self.count == 0 || self.closed.is_some() {
            return None;
        }
        self.allocated = self.buf.capacity();
        let records = self.buf.split_off(BATCH_HEADER_LEN);
        let closed = Arc::new(Compressing {
            records,
            compression: self.compression,
            packed: OnceLock::new(),
        });
        self.closed = Some(closed.clone());
        Some(closed)
    }

    /// Number of records added so far.
    pub fn record_count(&self) -> usize {
        self.count as usize
    }

    /// True while no record has been added.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    fn timestamp_delta(&self, timestamp: i64) -> i64 {
        if self.count == 0 {
            0
        } else {
            timestamp.wrapping_sub(self.base_timestamp)
        }
    }

    /// Exact size of the batch if `record`, stamped `timestamp`, were added now.
    pub fn size_with(&self, record: &Record, timestamp: i64) -> usize {
        self.len() + record_len(record, self.timestamp_delta(timestamp), self.count)
    }

    /// Appends a record and returns the number of bytes it took.
    pub fn push(&mut self, record: &Record, timestamp: i64) -> usize {
        assert!(self.closed.is_none(), "a closed batch takes no records");
        let before = self.buf.len();
        let delta = self.timestamp_delta(timestamp);
        if self.count == 0 {
            self.base_timestamp = timestamp;
            self.max_timestamp = timestamp;
        } else {
            self.max_timestamp = self.max_timestamp.max(timestamp);
        }
        let body = record_body_len(record, delta, self.count);
        let buf = &mut self.buf;
        buf.reserve(varint_len(body as i32) + body);
        put_varint(buf, body as i32);
        buf.put_i8(0); // record attributes: unused in v2
        put_varlong(buf, delta);
        put_varint(buf, self.count);
        put_bytes_field(buf, record.key());
        put_bytes_field(buf, record.value());
        put_varint(buf, record.headers().len() as i32);
        for h in record.headers() {
            put_bytes_field(buf, Some(h.key()));
            put_bytes_field(buf, h.value());
        }
        self.count += 1;
        self.buf.len() - before
    }

    /// Fills in the header, compresses the records (see
    /// [`BatchBuilder::with_compression`]), computes the CRC and returns the
    /// finished batch bytes. Sealing an empty batch is a logic error: the
    /// builder returns `None`.
    pub fn seal(mut self, stamp: ProducerStamp) -> Option<Bytes> {
        if self.count == 0 {
            return None;
        }
        if let Some(closed) = self.closed.take() {
            closed.run();
            match Arc::try_unwrap(closed) {
                // The only holder: the records go back behind the header (the
                // same allocation, no copy) and the packed bytes over them.
                Ok(Compressing {
                    mut records,
                    packed,
                    ..
                }) => {
                    let packed = packed.into_inner().expect("run above");
                    records.clear();
                    self.buf.unsplit(records);
                    self.buf.extend_from_slice(&packed);
                }
                Err(shared) => self.buf.extend_from_slice(shared.run()),
            }
        } else if !self.compression.is_none() {
            let packed = self.compression.compress(&self.buf[BATCH_HEADER_LEN..]);
            self.buf.truncate(BATCH_HEADER_LEN);
            self.buf.extend_from_slice(&packed);
        }
        let total = self.buf.len();
        let mut h = &mut self.buf[..BATCH_HEADER_LEN];
        h.put_i64(0); // baseOffset: assigned by the broker
        h.put_i32((total - LOG_OVERHEAD) as i32);
        h.put_i32(-1); // partitionLeaderEpoch
        h.put_i8(2); // magic
        h.put_u32(0); // crc, patched below
                      // attributes: the codec; create time, not transactional
        h.put_i16(self.compression.codec());
        let last_offset_delta = if self.bugs.batch_header_wrong() {
            self.count
        } else {
            self.count - 1
        };
        h.put_i32(last_offset_delta);
        h.put_i64(self.base_timestamp);
        h.put_i64(self.max_timestamp);
        h.put_i64(stamp.producer_id);
        h.put_i16(stamp.producer_epoch);
        h.put_i32(stamp.base_sequence);
        h.put_i32(self.count);
        fix_crc(&mut self.buf);
        Some(self.buf.freeze())
    }
}

fn fix_crc(buf: &mut [u8]) {
    let crc = crc32c::crc32c(&buf[CRC_START..]);
    buf[CRC_OFFSET..CRC_START].copy_from_slice(&crc.to_be_bytes());
}

/// Most bytes a batch's records may decompress to when it is split again: a
/// batch this producer sealed held at most its buffer's allocation.
const MAX_DECOMPRESSED: usize = i32::MAX as usize;

/// The records of a batch this encoder sealed, with their timestamps, in order
/// (key, value and header buffers are slices of `batch`, or of its
/// decompressed records, not copies). `None` when the bytes are not such a
/// batch. Used to split a batch a broker (or the producer) found too large.
pub(crate) fn decode_records(batch: &Bytes) -> Option<Vec<(Record, i64)>> {
    let header = batch.get(..BATCH_HEADER_LEN)?;
    let base_timestamp = i64::from_be_bytes(header[27..35].try_into().ok()?);
    let count = i32::from_be_bytes(header[57..61].try_into().ok()?);
    let codec = i16::from_be_bytes(header[21..23].try_into().ok()?) & 0x07;
    let (batch, mut at) = if codec == 0 {
        (batch.clone(), BATCH_HEADER_LEN)
    } else {
        let records = decompress(codec, &batch[BATCH_HEADER_LEN..], MAX_DECOMPRESSED)?;
        (Bytes::from(records), 0)
    };
    let batch = &batch;
    let mut out = Vec::with_capacity(usize::try_from(count).ok()?);
    for _ in 0..count {
        let body = usize::try_from(get_varint(batch, &mut at)?).ok()?;
        let end = at.checked_add(body)?;
        at += 1; // attributes
        let delta = get_varlong(batch, &mut at)?;
        get_varint(batch, &mut at)?; // offset delta: renumbered when re-encoded
        let key = get_bytes(batch, &mut at)?;
        let value = get_bytes(batch, &mut at)?;
        let headers = (0..get_varint(batch, &mut at)?)
            .map(|_| {
                let key = get_bytes(batch, &mut at)??;
                Some(Header::from_parts(key, get_bytes(batch, &mut at)?))
            })
            .collect::<Option<Vec<_>>>()?;
        if at != end {
            return None;
        }
        let mut record = Record::empty().with_value(value).with_headers(headers);
        if let Some(key) = key {
            record = record.with_key(key);
        }
        out.push((record, base_timestamp.wrapping_add(delta)));
    }
    (at == batch.len()).then_some(out)
}

/// A length-prefixed nullable byte field at `*at`: `Some(None)` for null.
fn get_bytes(buf: &Bytes, at: &mut usize) -> Option<Option<Bytes>> {
    let len = get_varint(buf, at)?;
    if len < 0 {
        return Some(None);
    }
    let end = at.checked_add(len as usize).filter(|&e| e <= buf.len())?;
    let field = buf.slice(*at..end);
    *at = end;
    Some(Some(field))
}

/// Returns a copy of a sealed batch with a new producer stamp and a fresh CRC.
/// Used when an epoch bump restarts sequence numbers for batches not yet written.
pub fn restamp(batch: &Bytes, stamp: ProducerStamp) -> Bytes {
    let mut buf = BytesMut::from(&batch[..]);
    let mut h = &mut buf[PRODUCER_ID_OFFSET..BATCH_HEADER_LEN - 4];
    h.put_i64(stamp.producer_id);
    h.put_i16(stamp.producer_epoch);
    h.put_i32(stamp.base_sequence);
    fix_crc(&mut buf);
    buf.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Header;

    fn one(record: &Record, ts: i64) -> Bytes {
        let mut b = BatchBuilder::new(0);
        b.push(record, ts);
        b.seal(ProducerStamp::NONE).unwrap()
    }

    /// Closing a compressed batch and compressing its records elsewhere first
    /// (alone, or while another holder still has them) seals the same bytes
    /// as sealing it directly; the allocation and uncompressed length stay.
    #[test]
    fn a_batch_compressed_before_its_seal_seals_the_same_bytes() {
        let stamp = ProducerStamp {
            producer_id: 7,
            producer_epoch: 1,
            base_sequence: 3,
        };
        for codec in [
            Compression::Gzip { level: 6 },
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd { level: 3 },
        ] {
            let filled = || {
                let mut b = BatchBuilder::new(4096).with_compression(codec);
                for i in 0..40 {
                    b.push(&Record::new(format!("value {}", i % 7)).with_key("k"), i);
                }
                b
            };
            let direct = filled().seal(stamp).unwrap();
            let mut early = filled();
            let (len, capacity) = (early.len(), early.capacity());
            let closed = early.close().expect("a compressed batch closes");
            assert!(early.close().is_none(), "once");
            assert_eq!((early.len(), early.capacity()), (len, capacity));
            closed.run();
            drop(closed);
            assert_eq!(early.seal(stamp).unwrap(), direct, "{codec}");
            let mut shared = filled();
            let held = shared.close().unwrap();
            assert_eq!(shared.seal(stamp).unwrap(), direct, "{codec}, still held");
            drop(held);
        }
        assert!(BatchBuilder::new(0)
            .with_compression(Compression::Lz4)
            .close()
            .is_none());
        let mut plain = BatchBuilder::new(0);
        plain.push(&Record::new("v"), 0);
        assert!(plain.close().is_none(), "nothing to compress");
    }

    #[test]
    fn sizes_match_the_measured_reference() {
        // NOTES.md: one record with null key and value is 68 bytes; key "k" + value
        // "hello" is 74 bytes; two of those are 87 bytes.
        assert_eq!(one(&Record::empty(), 0).len(), 68);
        let r = Record::new("hello").with_key("k");
        assert_eq!(one(&r, 0).len(), 74);
        let mut b = BatchBuilder::new(0);
        b.push(&r, 5);
        b.push(&r, 5);
        assert_eq!(b.seal(ProducerStamp::NONE).unwrap().len(), 87);
    }

    #[test]
    fn header_fields_land_at_their_offsets() {
        let r = Record::new("v");
        let mut b = BatchBuilder::new(0);
        b.push(&r, 1000);
        b.push(&r, 999);
        b.push(&r, 1007);
        let stamp = ProducerStamp {
            producer_id: 42,
            producer_epoch: 3,
            base_sequence: 17,
        };
        let bytes = b.seal(stamp).unwrap();
        let i64_at = |o: usize| i64::from_be_bytes(bytes[o..o + 8].try_into().unwrap());
        let i32_at = |o: usize| i32::from_be_bytes(bytes[o..o + 4].try_into().unwrap());
        assert_eq!(i64_at(0), 0);
        assert_eq!(i32_at(8) as usize, bytes.len() - 12);
        assert_eq!(i32_at(12), -1);
        assert_eq!(bytes[16], 2);
        assert_eq!(i32_at(23), 2, "lastOffsetDelta");
        assert_eq!(i64_at(27), 1000, "baseTimestamp");
        assert_eq!(i64_at(35), 1007, "maxTimestamp");
        assert_eq!(i64_at(43), 42);
        assert_eq!(i16::from_be_bytes([bytes[51], bytes[52]]), 3);
        assert_eq!(i32_at(53), 17);
        assert_eq!(i32_at(57), 3);
        let crc = u32::from_be_bytes(bytes[17..21].try_into().unwrap());
        assert_eq!(crc, crc32c::crc32c(&bytes[21..]));
    }

    #[test]
    fn empty_batch_cannot_be_sealed() {
        assert!(BatchBuilder::new(0).seal(ProducerStamp::NONE).is_none());
    }

    #[test]
    fn restamp_changes_only_identity_and_crc() {
        let r = Record::new("abc")
            .with_headers(vec![Header::new("h", None)])
            .with_key("k");
        let original = one(&r, 7);
        let stamp = ProducerStamp {
            producer_id: 9,
            producer_epoch: 1,
            base_sequence: 0,
        };
        let again = restamp(&original, stamp);
        assert_eq!(original.len(), again.len());
        assert_eq!(original[..17], again[..17]);
        assert_eq!(original[21..43], again[21..43]);
        assert_eq!(original[57..], again[57..]);
        let mut direct = BatchBuilder::new(0);
        direct.push(&r, 7);
        assert_eq!(direct.seal(stamp).unwrap(), again);
    }

    #[test]
    fn decoded_records_re_encode_to_the_same_batch() {
        let records = [
            Record::new("abc").with_key("k").with_headers(vec![
                Header::new("h", None),
                Header::new("h2", Some(Bytes::from_static(b"v"))),
            ]),
            Record::empty(),
            Record::new(vec![9u8; 300]),
        ];
        let mut b = BatchBuilder::new(0);
        for (i, r) in records.iter().enumerate() {
            b.push(r, 1_000 + i as i64 * 7);
        }
        let sealed = b.seal(ProducerStamp::NONE).unwrap();
        let decoded = decode_records(&sealed).expect("our own batch decodes");
        let mut again = BatchBuilder::new(0);
        for (i, (r, ts)) in decoded.iter().enumerate() {
            assert_eq!(r, &records[i]);
            again.push(r, *ts);
        }
        assert_eq!(again.seal(ProducerStamp::NONE).unwrap(), sealed);
        assert!(decode_records(&sealed.slice(..sealed.len() - 1)).is_none());
    }

    #[test]
    fn capacity_is_what_the_buffer_allocated() {
        let b = BatchBuilder::new(16 * 1024);
        assert_eq!(b.capacity(), 16 * 1024);
        assert_eq!(BatchBuilder::new(0).capacity(), BATCH_HEADER_LEN);
    }

    #[test]
    fn size_with_predicts_push_exactly_for_large_deltas() {
        let mut b = BatchBuilder::new(0);
        let r = Record::new(vec![7u8; 300]).with_key(vec![1u8; 200]);
        for ts in [0i64, -5_000_000_000, i64::MAX / 4, 3] {
            let predicted = b.size_with(&r, ts);
            b.push(&r, ts);
            assert_eq!(predicted, b.len());
        }
    }
}
