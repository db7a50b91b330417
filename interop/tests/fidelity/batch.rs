//! RecordBatch v2 written by hand for the differential suite, every field
//! settable (so a case can get any of them wrong), with a correct CRC-32C
//! unless told otherwise. Producer ids are symbolic: each target resolves them
//! to the ids its own InitProducerId answered. A batch may be compressed
//! (its records section, with the codec crates clients in Rust use, framed
//! as the clients of each codec frame it), and its compressed payload
//! damaged on purpose.

use bytes::{BufMut, BytesMut};
use std::io::Write;

/// How a batch's records are compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    None,
    /// One gzip member.
    Gzip,
    /// xerial-framed snappy, as Kafka's Java client writes it.
    Snappy,
    /// One raw snappy block, as librdkafka and franz-go write it.
    SnappyRaw,
    /// An LZ4 frame of independent 64 KiB blocks (what Kafka writes), with
    /// these options.
    Lz4(Lz4Frame),
    /// One zstd frame, level 3.
    Zstd,
}

/// Options of an LZ4 frame.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lz4Frame {
    pub block_checksums: bool,
    pub content_checksum: bool,
    pub content_size: bool,
    /// Blocks that refer to earlier ones (Kafka refuses these).
    pub linked: bool,
}

/// The plain LZ4 frame Kafka writes.
pub const LZ4: Codec = Codec::Lz4(Lz4Frame {
    block_checksums: false,
    content_checksum: false,
    content_size: false,
    linked: false,
});

impl Codec {
    /// Attributes bits 0-2.
    pub fn id(self) -> i16 {
        match self {
            Codec::None => 0,
            Codec::Gzip => 1,
            Codec::Snappy | Codec::SnappyRaw => 2,
            Codec::Lz4(_) => 3,
            Codec::Zstd => 4,
        }
    }

    pub fn compress(self, data: &[u8]) -> Vec<u8> {
        match self {
            Codec::None => data.to_vec(),
            Codec::Gzip => {
                let mut e =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                e.write_all(data).unwrap();
                e.finish().unwrap()
            }
            Codec::Snappy => {
                let mut out = vec![
                    0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1,
                ];
                for chunk in data.chunks(32 * 1024) {
                    let block = snap::raw::Encoder::new().compress_vec(chunk).unwrap();
                    out.extend_from_slice(&(block.len() as i32).to_be_bytes());
                    out.extend_from_slice(&block);
                }
                out
            }
            Codec::SnappyRaw => snap::raw::Encoder::new().compress_vec(data).unwrap(),
            Codec::Lz4(f) => {
                use lz4_flex::frame::{BlockMode, BlockSize, FrameEncoder, FrameInfo};
                let info = FrameInfo::new()
                    .block_size(BlockSize::Max64KB)
                    .block_mode(if f.linked {
                        BlockMode::Linked
                    } else {
                        BlockMode::Independent
                    })
                    .block_checksums(f.block_checksums)
                    .content_checksum(f.content_checksum)
                    .content_size(f.content_size.then_some(data.len() as u64));
                let mut e = FrameEncoder::with_frame_info(info, Vec::new());
                e.write_all(data).unwrap();
                e.finish().unwrap()
            }
            Codec::Zstd => zstd::bulk::compress(data, 3).unwrap(),
        }
    }
}

/// Damage done to a compressed payload (the CRC is computed after it, so
/// the broker's decoder is what finds it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Damage {
    /// Its second half cut off.
    Truncated,
    /// Replaced by these bytes.
    Replaced(Vec<u8>),
    /// Its last byte flipped.
    LastByteFlipped,
}

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
    /// How the records section is compressed.
    pub codec: Codec,
    /// Damage to the compressed payload.
    pub damage: Option<Damage>,
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
            codec: Codec::None,
            damage: None,
        }
    }

    /// Compressed with `codec` (its id in the attributes).
    pub fn compressed(mut self, codec: Codec) -> RawBatch {
        self.codec = codec;
        self
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
        let mut body = self.codec.compress(&body);
        match &self.damage {
            None => {}
            Some(Damage::Truncated) => body.truncate(body.len() / 2),
            Some(Damage::Replaced(b)) => body = b.clone(),
            Some(Damage::LastByteFlipped) => {
                if let Some(b) = body.last_mut() {
                    *b ^= 0x01;
                }
            }
        }
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
        after_crc.put_i16(self.attributes | self.codec.id());
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
