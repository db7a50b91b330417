//! RecordBatch v2 written by hand for the differential suite, every field
//! settable (so a case can get any of them wrong), with a correct CRC-32C
//! unless told otherwise. Producer ids are symbolic: each target resolves them
//! to the ids its own InitProducerId answered.

use bytes::{BufMut, BytesMut};

/// Who stamps a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stamp {
    /// A plain producer: producer id -1, epoch -1, sequence -1.
    None,
    /// Symbolic producer `p` (its id from InitProducerId, or a fixed unknown
    /// id if the case never asked for one), at this epoch and base sequence.
    Producer { p: usize, epoch: i16, seq: i32 },
    /// These exact values (producer id, epoch, base sequence).
    Literal(i64, i16, i32),
}

/// One record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rec {
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    /// Offset delta written (default: its index).
    pub offset_delta: Option<i64>,
    /// Timestamp delta from the batch's base timestamp.
    pub timestamp_delta: i64,
}

impl Rec {
    /// A record with this value, no key.
    pub fn value(v: &str) -> Rec {
        Rec {
            key: None,
            value: Some(v.as_bytes().to_vec()),
            headers: Vec::new(),
            offset_delta: None,
            timestamp_delta: 0,
        }
    }

    pub fn key(mut self, k: &str) -> Rec {
        self.key = Some(k.as_bytes().to_vec());
        self
    }
}

/// A batch, as a case writes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawBatch {
    pub base_offset: i64,
    pub magic: i8,
    pub attributes: i16,
    /// Written lastOffsetDelta (default: records - 1).
    pub last_offset_delta: Option<i32>,
    /// Written record count (default: records).
    pub count: Option<i32>,
    /// Base timestamp, in ms relative to the case's clock (wall time when the
    /// case started on a target); `Absolute` writes the value as it is.
    pub base_timestamp: Ts,
    /// Written max timestamp (default: the largest record timestamp).
    pub max_timestamp: Option<Ts>,
    pub stamp: Stamp,
    pub records: Vec<Rec>,
    /// Bytes after the last record, inside the batch length.
    pub trailing: Vec<u8>,
    /// Flip the CRC.
    pub bad_crc: bool,
}

/// A timestamp as a case writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ts {
    /// Milliseconds after the case's clock (negative: before it).
    Rel(i64),
    /// This value.
    Absolute(i64),
}

/// The default base timestamp: a minute before the case's clock, so no
/// client-chosen timestamp is mistaken for a broker's append time.
pub const PAST: Ts = Ts::Rel(-60_000);

impl RawBatch {
    /// `n` records `v0`, `v1`, ... by a plain producer.
    pub fn values(n: usize) -> RawBatch {
        RawBatch::of((0..n).map(|i| Rec::value(&format!("v{i}"))).collect())
    }

    pub fn of(records: Vec<Rec>) -> RawBatch {
        RawBatch {
            base_offset: 0,
            magic: 2,
            attributes: 0,
            last_offset_delta: None,
            count: None,
            base_timestamp: PAST,
            max_timestamp: None,
            stamp: Stamp::None,
            records,
            trailing: Vec::new(),
            bad_crc: false,
        }
    }

    /// Stamped by symbolic producer `p`.
    pub fn by(mut self, p: usize, epoch: i16, seq: i32) -> RawBatch {
        self.stamp = Stamp::Producer { p, epoch, seq };
        self
    }

    /// Encodes it; `clock` is the case's clock (ms), `pid` resolves a
    /// symbolic producer to its id on this target.
    pub fn encode(&self, clock: i64, pid: &dyn Fn(usize) -> i64) -> Vec<u8> {
        let ts = |t: Ts| match t {
            Ts::Rel(d) => clock + d,
            Ts::Absolute(v) => v,
        };
        let base_ts = ts(self.base_timestamp);
        let mut body = Vec::new();
        for (i, r) in self.records.iter().enumerate() {
            let mut rec = vec![0u8];
            zigzag(&mut rec, r.timestamp_delta);
            zigzag(&mut rec, r.offset_delta.unwrap_or(i as i64));
            field(&mut rec, r.key.as_deref());
            field(&mut rec, r.value.as_deref());
            zigzag(&mut rec, r.headers.len() as i64);
            for (k, v) in &r.headers {
                field(&mut rec, Some(k));
                field(&mut rec, v.as_deref());
            }
            zigzag(&mut body, rec.len() as i64);
            body.extend_from_slice(&rec);
        }
        body.extend_from_slice(&self.trailing);
        let n = self.records.len() as i32;
        let max_ts = match self.max_timestamp {
            Some(t) => ts(t),
            None => {
                base_ts
                    + self
                        .records
                        .iter()
                        .map(|r| r.timestamp_delta)
                        .max()
                        .unwrap_or(0)
            }
        };
        let (producer_id, epoch, seq) = match self.stamp {
            Stamp::None => (-1, -1, -1),
            Stamp::Producer { p, epoch, seq } => (pid(p), epoch, seq),
            Stamp::Literal(id, e, s) => (id, e, s),
        };
        let mut after_crc = BytesMut::new();
        after_crc.put_i16(self.attributes);
        after_crc.put_i32(self.last_offset_delta.unwrap_or(n - 1));
        after_crc.put_i64(base_ts);
        after_crc.put_i64(max_ts);
        after_crc.put_i64(producer_id);
        after_crc.put_i16(epoch);
        after_crc.put_i32(seq);
        after_crc.put_i32(self.count.unwrap_or(n));
        after_crc.put_slice(&body);
        let crc = crc32c::crc32c(&after_crc) ^ u32::from(self.bad_crc);
        let mut b = BytesMut::new();
        b.put_i64(self.base_offset);
        b.put_i32((4 + 1 + 4 + after_crc.len()) as i32);
        b.put_i32(-1); // partition leader epoch: the broker sets it
        b.put_i8(self.magic);
        b.put_u32(crc);
        b.put_slice(&after_crc);
        b.to_vec()
    }
}

fn zigzag(buf: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        buf.push((z as u8) | 0x80);
        z >>= 7;
    }
    buf.push(z as u8);
}

fn field(buf: &mut Vec<u8>, b: Option<&[u8]>) {
    match b {
        None => zigzag(buf, -1),
        Some(b) => {
            zigzag(buf, b.len() as i64);
            buf.extend_from_slice(b);
        }
    }
}
