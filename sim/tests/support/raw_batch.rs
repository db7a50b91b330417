//! A RecordBatch v2 written by hand for the broker tests: every field settable
//! (so a test can get any of them wrong), a correct CRC unless told otherwise,
//! the records section compressed with any codec (sim's own writer, or bytes
//! a test gives).

use bytes::{BufMut, Bytes, BytesMut};
use sim::codec::Codec;

pub fn zigzag(buf: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        buf.push((z as u8) | 0x80);
        z >>= 7;
    }
    buf.push(z as u8);
}

pub fn field(buf: &mut Vec<u8>, b: Option<&[u8]>) {
    match b {
        None => zigzag(buf, -1),
        Some(b) => {
            zigzag(buf, b.len() as i64);
            buf.extend_from_slice(b);
        }
    }
}

/// One record, with every field a test may want to get wrong.
#[derive(Clone)]
pub struct RawRecord {
    pub offset_delta: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    /// Bytes after the headers, inside the record's length.
    pub junk: Vec<u8>,
    /// From the batch's base timestamp.
    pub timestamp_delta: i64,
}

pub fn record(i: i64, value: &str) -> RawRecord {
    RawRecord {
        offset_delta: i,
        key: None,
        value: Some(value.as_bytes().to_vec()),
        headers: Vec::new(),
        junk: Vec::new(),
        timestamp_delta: 0,
    }
}

/// A RecordBatch v2, encoded by hand with a correct CRC unless told otherwise.
#[derive(Clone)]
pub struct RawBatch {
    pub base_offset: i64,
    pub last_offset_delta: Option<i32>,
    pub magic: i8,
    pub attributes: i16,
    pub producer_id: i64,
    pub epoch: i16,
    pub base_sequence: i32,
    pub count: Option<i32>,
    pub records: Vec<RawRecord>,
    /// Bytes after the last record, inside the batch length.
    pub junk: Vec<u8>,
    pub bad_crc: bool,
    /// The codec the records section is compressed with (its id is added
    /// to the attributes).
    pub codec: Codec,
    /// The compressed records section as given, instead of the records
    /// compressed with `codec`.
    pub payload: Option<Vec<u8>>,
    pub base_timestamp: i64,
    /// Default: the base timestamp.
    pub max_timestamp: Option<i64>,
}

impl RawBatch {
    pub fn of(records: Vec<RawRecord>) -> Self {
        RawBatch {
            base_offset: 0,
            last_offset_delta: None,
            magic: 2,
            attributes: 0,
            producer_id: -1,
            epoch: -1,
            base_sequence: -1,
            count: None,
            records,
            junk: Vec::new(),
            bad_crc: false,
            codec: Codec::None,
            payload: None,
            base_timestamp: 1_700_000_000_000,
            max_timestamp: None,
        }
    }

    /// Compressed with `codec`.
    pub fn compressed(mut self, codec: Codec) -> Self {
        self.codec = codec;
        self
    }

    /// The records section as the bytes before compression.
    pub fn records_section(&self) -> Vec<u8> {
        let mut body = Vec::new();
        for r in &self.records {
            let mut rec = vec![0u8];
            zigzag(&mut rec, r.timestamp_delta);
            zigzag(&mut rec, r.offset_delta);
            field(&mut rec, r.key.as_deref());
            field(&mut rec, r.value.as_deref());
            zigzag(&mut rec, r.headers.len() as i64);
            for (k, v) in &r.headers {
                field(&mut rec, Some(k));
                field(&mut rec, v.as_deref());
            }
            rec.extend_from_slice(&r.junk);
            zigzag(&mut body, rec.len() as i64);
            body.extend_from_slice(&rec);
        }
        body.extend_from_slice(&self.junk);
        body
    }

    pub fn idempotent(mut self, producer_id: i64, epoch: i16, base_sequence: i32) -> Self {
        self.producer_id = producer_id;
        self.epoch = epoch;
        self.base_sequence = base_sequence;
        self
    }

    pub fn encode(&self) -> Bytes {
        let body = match &self.payload {
            Some(p) => p.clone(),
            None => sim::codec::compress(self.codec, &self.records_section()),
        };
        let n = self.records.len() as i32;
        let mut after_crc = BytesMut::new();
        after_crc.put_i16(self.attributes | self.codec.id());
        after_crc.put_i32(self.last_offset_delta.unwrap_or(n - 1));
        after_crc.put_i64(self.base_timestamp);
        after_crc.put_i64(self.max_timestamp.unwrap_or(self.base_timestamp));
        after_crc.put_i64(self.producer_id);
        after_crc.put_i16(self.epoch);
        after_crc.put_i32(self.base_sequence);
        after_crc.put_i32(self.count.unwrap_or(n));
        after_crc.put_slice(&body);
        let crc = crc32c::crc32c(&after_crc) ^ u32::from(self.bad_crc);
        let mut b = BytesMut::new();
        b.put_i64(self.base_offset);
        b.put_i32((4 + 1 + 4 + after_crc.len()) as i32);
        b.put_i32(0);
        b.put_i8(self.magic);
        b.put_u32(crc);
        b.put_slice(&after_crc);
        b.freeze()
    }
}
