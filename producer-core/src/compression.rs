//! Record batch compression: the codec a producer uses (Kafka's attribute
//! bits 0-2: none, gzip, snappy, lz4, zstd), compressing and decompressing a
//! batch's records section, and the compression-ratio estimate batches are
//! filled by (the Java client's `CompressionRatioEstimator`).
//!
//! The real compressed size is known only when a batch is sealed; while it
//! fills, its size is the uncompressed size times the estimated ratio times
//! [`ESTIMATION_MARGIN`]. Each sealed batch corrects the estimate of its topic
//! and codec: up fast ([`RATIO_DETERIORATE_STEP`]) when the batch compressed
//! worse than estimated, down slowly ([`RATIO_IMPROVE_STEP`]) when better.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::sync::Arc;

/// A codec, with its level where it has one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Compression {
    /// Records as they are.
    #[default]
    None,
    /// gzip (RFC 1952), level 1-9.
    Gzip {
        /// 1 (fastest) to 9 (smallest).
        level: u32,
    },
    /// snappy, in the xerial framing the Java client writes.
    Snappy,
    /// LZ4 frames (independent 64 KiB blocks), as Kafka reads them. The pure
    /// Rust encoder has one speed: no level.
    Lz4,
    /// zstd, level 1-22.
    Zstd {
        /// 1 (fastest) to 22 (smallest); Kafka's default is 3.
        level: i32,
    },
}

/// The margin a filling batch's estimated size carries (Java's
/// `COMPRESSION_RATE_ESTIMATION_FACTOR`).
pub const ESTIMATION_MARGIN: f64 = 1.05;
/// How much the ratio estimate rises when a batch compressed worse than
/// estimated (Java's `COMPRESSION_RATIO_DETERIORATE_STEP`).
pub const RATIO_DETERIORATE_STEP: f64 = 0.05;
/// How much it falls when a batch compressed better (Java's
/// `COMPRESSION_RATIO_IMPROVING_STEP`).
pub const RATIO_IMPROVE_STEP: f64 = 0.005;

impl Compression {
    /// The attribute bits Kafka writes for it.
    pub fn codec(self) -> i16 {
        match self {
            Compression::None => 0,
            Compression::Gzip { .. } => 1,
            Compression::Snappy => 2,
            Compression::Lz4 => 3,
            Compression::Zstd { .. } => 4,
        }
    }

    /// No compression.
    pub fn is_none(self) -> bool {
        self == Compression::None
    }

    /// Parses `none`, `gzip`, `gzip:LEVEL`, `snappy`, `lz4`, `zstd`,
    /// `zstd:LEVEL` (defaults: gzip 6, zstd 3, as Kafka's).
    pub fn parse(s: &str) -> Result<Compression, String> {
        let (name, level) = match s.trim().split_once(':') {
            Some((n, l)) => (n, Some(l)),
            None => (s.trim(), None),
        };
        let level_of =
            |range: std::ops::RangeInclusive<i64>, default: i64| -> Result<i64, String> {
                match level {
                    None => Ok(default),
                    Some(l) => match l.trim().parse::<i64>() {
                        Ok(v) if range.contains(&v) => Ok(v),
                        _ => Err(format!(
                            "`{name}` level must be {}..={}, got {l:?}",
                            range.start(),
                            range.end()
                        )),
                    },
                }
            };
        let no_level = |c| match level {
            None => Ok(c),
            Some(_) => Err(format!("`{name}` takes no level")),
        };
        match name {
            "none" => no_level(Compression::None),
            "gzip" => Ok(Compression::Gzip {
                level: level_of(1..=9, 6)? as u32,
            }),
            "snappy" => no_level(Compression::Snappy),
            "lz4" => no_level(Compression::Lz4),
            "zstd" => Ok(Compression::Zstd {
                level: level_of(1..=22, 3)? as i32,
            }),
            other => Err(format!(
                "unknown compression `{other}`: none, gzip[:1-9], snappy, lz4, zstd[:1-22]"
            )),
        }
    }

    /// Compresses a batch's records section.
    pub fn compress(self, records: &[u8]) -> Vec<u8> {
        match self {
            Compression::None => records.to_vec(),
            Compression::Gzip { level } => {
                let mut e = flate2::write::GzEncoder::new(
                    Vec::with_capacity(records.len() / 2 + 64),
                    flate2::Compression::new(level),
                );
                e.write_all(records).expect("writing to memory");
                e.finish().expect("writing to memory")
            }
            Compression::Snappy => xerial_snappy(records),
            Compression::Lz4 => {
                let info = lz4_flex::frame::FrameInfo::new()
                    .block_size(lz4_flex::frame::BlockSize::Max64KB)
                    .block_mode(lz4_flex::frame::BlockMode::Independent);
                let mut e = lz4_flex::frame::FrameEncoder::with_frame_info(
                    info,
                    Vec::with_capacity(records.len() / 2 + 64),
                );
                e.write_all(records).expect("writing to memory");
                e.finish().expect("writing to memory")
            }
            Compression::Zstd { level } => zstd_compress(records, level),
        }
    }
}

thread_local! {
    /// One zstd compression context per thread, kept between batches: a new
    /// context per batch allocates and clears its tables (a megabyte or more at
    /// level 3) for every batch. The output is the same either way.
    static ZSTD: std::cell::RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> =
        const { std::cell::RefCell::new(None) };
}

fn zstd_compress(records: &[u8], level: i32) -> Vec<u8> {
    ZSTD.with(|cell| {
        let mut cached = cell.borrow_mut();
        if cached.as_ref().is_none_or(|(l, _)| *l != level) {
            let c = zstd::bulk::Compressor::new(level).expect("zstd accepts levels 1-22");
            *cached = Some((level, c));
        }
        let (_, c) = cached.as_mut().expect("set above");
        c.compress(records).expect("zstd compresses any input")
    })
}

impl std::fmt::Display for Compression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Compression::None => f.write_str("none"),
            Compression::Gzip { level } => write!(f, "gzip:{level}"),
            Compression::Snappy => f.write_str("snappy"),
            Compression::Lz4 => f.write_str("lz4"),
            Compression::Zstd { level } => write!(f, "zstd:{level}"),
        }
    }
}

/// The xerial snappy stream header (magic, version 1, compatible version 1).
const XERIAL_HEADER: [u8; 16] = [
    0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1,
];
/// xerial's block size.
const XERIAL_BLOCK: usize = 32 * 1024;

fn xerial_snappy(records: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(records.len() / 2 + 64);
    out.extend_from_slice(&XERIAL_HEADER);
    let mut encoder = snap::raw::Encoder::new();
    for chunk in records.chunks(XERIAL_BLOCK) {
        let block = encoder
            .compress_vec(chunk)
            .expect("snappy compresses any block below 4 GiB");
        out.extend_from_slice(&(block.len() as u32).to_be_bytes());
        out.extend_from_slice(&block);
    }
    out
}

/// Decompresses a records section written with `codec` (attribute bits);
/// `None` for an unknown codec, corrupt input, or more than `limit` bytes.
pub fn decompress(codec: i16, data: &[u8], limit: usize) -> Option<Vec<u8>> {
    let read_all = |mut r: Box<dyn Read + '_>| -> Option<Vec<u8>> {
        let mut out = Vec::new();
        r.by_ref()
            .take(limit as u64 + 1)
            .read_to_end(&mut out)
            .ok()?;
        (out.len() <= limit).then_some(out)
    };
    match codec {
        0 => (data.len() <= limit).then(|| data.to_vec()),
        1 => read_all(Box::new(flate2::read::GzDecoder::new(data))),
        2 => unsnappy(data, limit),
        3 => read_all(Box::new(lz4_flex::frame::FrameDecoder::new(data))),
        4 => read_all(Box::new(zstd::stream::read::Decoder::new(data).ok()?)),
        _ => None,
    }
}

/// A xerial-framed or raw snappy stream.
fn unsnappy(data: &[u8], limit: usize) -> Option<Vec<u8>> {
    let mut decoder = snap::raw::Decoder::new();
    let mut one = |block: &[u8], out: &mut Vec<u8>| -> Option<()> {
        let len = snap::raw::decompress_len(block).ok()?;
        if out.len() + len > limit {
            return None;
        }
        out.extend_from_slice(&decoder.decompress_vec(block).ok()?);
        Some(())
    };
    let mut out = Vec::new();
    if data.len() >= 8 && data[..8] == XERIAL_HEADER[..8] {
        let mut at = XERIAL_HEADER.len();
        while at < data.len() {
            let len = u32::from_be_bytes(data.get(at..at + 4)?.try_into().ok()?) as usize;
            at += 4;
            let block = data.get(at..at.checked_add(len)?)?;
            one(block, &mut out)?;
            at += len;
        }
    } else {
        one(data, &mut out)?;
    }
    Some(out)
}

/// The compression-ratio estimate of every (topic, codec) a producer wrote:
/// compressed bytes per uncompressed byte of a batch's records, 1.0 before
/// the first batch.
#[derive(Clone, Debug, Default)]
pub struct RatioEstimates {
    /// Per topic, one estimate per codec (indexed by attribute bits).
    by: BTreeMap<Arc<str>, [f64; 5]>,
}

impl RatioEstimates {
    /// The current estimate for `topic` and `codec`.
    pub fn get(&self, topic: &str, codec: i16) -> f64 {
        self.by
            .get(topic)
            .and_then(|r| r.get(codec as usize))
            .copied()
            .unwrap_or(1.0)
    }

    /// A batch of `topic` compressed with `codec` came out at `observed`.
    pub fn observe(&mut self, topic: &Arc<str>, codec: i16, observed: f64) {
        let Some(slot) = self
            .by
            .entry(topic.clone())
            .or_insert([1.0; 5])
            .get_mut(codec as usize)
        else {
            return;
        };
        let current = *slot;
        *slot = if observed > current {
            (current + RATIO_DETERIORATE_STEP).max(observed)
        } else if observed < current {
            (current - RATIO_IMPROVE_STEP).max(observed)
        } else {
            current
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every() -> [Compression; 5] {
        [
            Compression::None,
            Compression::Gzip { level: 6 },
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd { level: 3 },
        ]
    }

    #[test]
    fn the_kept_zstd_context_writes_what_a_fresh_one_writes() {
        let inputs: Vec<Vec<u8>> = vec![
            Vec::new(),
            b"x".to_vec(),
            (0..50_000u32)
                .flat_map(|i| (i % 13).to_le_bytes())
                .collect(),
            (0..20_000u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
                .collect(),
        ];
        // Levels change between calls too: the context follows.
        for level in [3, 1, 3, 19, 3] {
            for data in &inputs {
                let fresh = zstd::bulk::compress(data, level).unwrap();
                assert_eq!(
                    zstd_compress(data, level),
                    fresh,
                    "level {level}, {} bytes",
                    data.len()
                );
            }
        }
    }

    #[test]
    fn every_codec_round_trips_and_compressible_data_shrinks() {
        let data: Vec<u8> = (0..100_000u32)
            .flat_map(|i| (i % 97).to_le_bytes())
            .collect();
        for c in every() {
            let packed = c.compress(&data);
            if !c.is_none() {
                assert!(packed.len() < data.len() / 2, "{c}: {}", packed.len());
            }
            assert_eq!(
                decompress(c.codec(), &packed, data.len()).as_deref(),
                Some(&data[..]),
                "{c}"
            );
            assert!(
                decompress(c.codec(), &packed, data.len() - 1).is_none(),
                "{c}: limit"
            );
        }
    }

    #[test]
    fn corrupt_or_unknown_input_is_refused_not_a_panic() {
        let data = vec![7u8; 10_000];
        for c in every().into_iter().skip(1) {
            let mut packed = c.compress(&data);
            let mid = packed.len() / 2;
            packed[mid] ^= 0xff;
            packed.truncate(packed.len() - 3);
            let _ = decompress(c.codec(), &packed, 1 << 20);
            assert!(decompress(c.codec(), &[1, 2, 3], 1 << 20).is_none(), "{c}");
        }
        assert!(decompress(5, &data, 1 << 20).is_none());
    }

    #[test]
    fn raw_snappy_is_read_too() {
        let data = b"abcabcabcabcabcabc".repeat(100);
        let raw = snap::raw::Encoder::new().compress_vec(&data).unwrap();
        assert_eq!(unsnappy(&raw, 1 << 20).unwrap(), data);
    }

    #[test]
    fn names_parse_with_levels_and_clear_errors() {
        assert_eq!(
            Compression::parse("zstd:7"),
            Ok(Compression::Zstd { level: 7 })
        );
        assert_eq!(
            Compression::parse("gzip"),
            Ok(Compression::Gzip { level: 6 })
        );
        assert_eq!(Compression::parse("lz4"), Ok(Compression::Lz4));
        assert!(Compression::parse("zstd:99")
            .unwrap_err()
            .contains("1..=22"));
        assert!(Compression::parse("snappy:2")
            .unwrap_err()
            .contains("no level"));
        assert!(Compression::parse("brotli")
            .unwrap_err()
            .contains("unknown"));
        for c in every() {
            assert_eq!(Compression::parse(&c.to_string()), Ok(c));
        }
    }

    #[test]
    fn the_estimate_rises_fast_and_falls_slowly() {
        let mut e = RatioEstimates::default();
        let t: Arc<str> = "t".into();
        assert_eq!(e.get("t", 4), 1.0);
        e.observe(&t, 4, 0.3);
        assert!((e.get("t", 4) - 0.995).abs() < 1e-9, "down by 0.005");
        let mut low = RatioEstimates::default();
        for _ in 0..1000 {
            low.observe(&t, 4, 0.3);
        }
        assert!(
            (low.get("t", 4) - 0.3).abs() < 1e-9,
            "never below what was seen"
        );
        low.observe(&t, 4, 0.32);
        assert!((low.get("t", 4) - 0.35).abs() < 1e-9, "up by 0.05");
        low.observe(&t, 4, 0.9);
        assert!((low.get("t", 4) - 0.9).abs() < 1e-9, "up to what was seen");
        assert_eq!(low.get("t", 1), 1.0, "per codec");
        assert_eq!(low.get("u", 4), 1.0, "per topic");
    }
}
