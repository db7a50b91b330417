//! Kafka's record-batch codecs (attributes bits 0-2): decompression as the
//! broker's readers accept the bytes, and compression for a batch the broker
//! rewrites (a topic `compression.type` other than the batch's, or inner
//! offsets that are not consecutive).
//!
//! | id | codec | read as Kafka 4.4 reads it | written as |
//! |---|---|---|---|
//! | 1 | gzip | `GZIPInputStream`: members one after another; bytes after a member that do not start another are ignored | one gzip member (flate2) |
//! | 2 | snappy | xerial `SnappyInputStream` 1.1.10: the framed stream Java clients write (magic `0x82 SNAPPY 0x00`, version, compatible version, then `[i32 length][raw block]` chunks, 1-3 stray bytes at the end ignored), or else one raw snappy block (what other clients write) | framed, 32 KiB chunks (as xerial writes) |
//! | 3 | lz4 | `Lz4BlockInputStream`: an LZ4 frame of version 1 with independent blocks only, reserved bits 0, block size 64 KiB..4 MiB, header checksum checked, block checksums checked when present, content size skipped, content checksum **not** checked, bytes after the end mark ignored, no dictionary id | a frame of independent 64 KiB blocks, no checksums (as `Lz4BlockOutputStream`) |
//! | 4 | zstd | zstd-jni's stream: frames one after another, skippable frames, window up to 2^27 | one frame, level 3 (Kafka's default) |
//!
//! Nothing here trusts a length it reads: every decoder stops at `limit`
//! decompressed bytes ([`DecodeError::TooLarge`]) before it would allocate
//! more, and every decoder error is an [`DecodeError::Corrupt`], never a
//! panic.

use std::io::{Read, Write};

/// The most bytes one batch may decompress to in the simulated broker:
/// 64 MiB, 64 times Kafka's default `max.message.bytes` (1 MiB) and far
/// above any batch a producer builds (Java's `batch.size` 16 KiB, franz-go's
/// 1 MB, both counted compressed or estimated). Kafka 4.4 has no such bound
/// on the batch, only on each record (`max.decompressed.message.bytes`,
/// default 2^31 - 9) and the JVM heap; a simulated broker runs many worlds at
/// once, so a 2 KB batch claiming gigabytes is refused here before anything
/// of that size is allocated (docs/fidelity.md).
pub const MAX_DECOMPRESSED_BYTES: usize = 64 << 20;

/// A record batch's codec.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Codec {
    /// 0: uncompressed.
    None,
    /// 1: gzip.
    Gzip,
    /// 2: snappy.
    Snappy,
    /// 3: lz4.
    Lz4,
    /// 4: zstd.
    Zstd,
}

impl Codec {
    /// Every codec, by id.
    pub const ALL: [Codec; 5] = [
        Codec::None,
        Codec::Gzip,
        Codec::Snappy,
        Codec::Lz4,
        Codec::Zstd,
    ];

    /// The codec of attributes bits 0-2; `None` for 5, 6, 7 (no such codec).
    pub fn from_attributes(attributes: i16) -> Option<Codec> {
        Codec::ALL.get((attributes & 0x07) as usize).copied()
    }

    /// Its id in the attributes.
    pub fn id(self) -> i16 {
        self as i16
    }

    /// Its name in Kafka's configs (`uncompressed` for none, as
    /// `compression.type` spells it).
    pub fn name(self) -> &'static str {
        match self {
            Codec::None => "uncompressed",
            Codec::Gzip => "gzip",
            Codec::Snappy => "snappy",
            Codec::Lz4 => "lz4",
            Codec::Zstd => "zstd",
        }
    }
}

/// Why a payload could not be decompressed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Not a valid stream of the codec (what the decoder said).
    Corrupt(String),
    /// It decompresses to more than this many bytes.
    TooLarge(usize),
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Corrupt(why) => write!(f, "{why}"),
            DecodeError::TooLarge(limit) => write!(f, "decompresses to more than {limit} bytes"),
        }
    }
}

type Decoded = Result<Vec<u8>, DecodeError>;

fn corrupt<T>(why: impl Into<String>) -> Result<T, DecodeError> {
    Err(DecodeError::Corrupt(why.into()))
}

/// Decompresses the records section of a batch written with `codec`, at most
/// `limit` bytes of output.
pub fn decompress(codec: Codec, data: &[u8], limit: usize) -> Decoded {
    match codec {
        Codec::None => {
            if data.len() > limit {
                return Err(DecodeError::TooLarge(limit));
            }
            Ok(data.to_vec())
        }
        Codec::Gzip => gunzip(data, limit),
        Codec::Snappy => unsnappy(data, limit),
        Codec::Lz4 => unlz4(data, limit),
        Codec::Zstd => unzstd(data, limit),
    }
}

/// Compresses a records section with `codec`, as Kafka's writers frame it.
pub fn compress(codec: Codec, data: &[u8]) -> Vec<u8> {
    match codec {
        Codec::None => data.to_vec(),
        Codec::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(data).expect("writing to a Vec");
            e.finish().expect("writing to a Vec")
        }
        Codec::Snappy => snappy_framed(data),
        Codec::Lz4 => {
            let info = lz4_flex::frame::FrameInfo::new()
                .block_size(lz4_flex::frame::BlockSize::Max64KB)
                .block_mode(lz4_flex::frame::BlockMode::Independent);
            let mut e = lz4_flex::frame::FrameEncoder::with_frame_info(info, Vec::new());
            e.write_all(data).expect("writing to a Vec");
            e.finish().expect("writing to a Vec")
        }
        Codec::Zstd => zstd::bulk::compress(data, 3).expect("zstd compresses any input at level 3"),
    }
}

/// Reads `r` to its end, failing past `limit` bytes (reading at most one
/// byte more than the limit).
fn read_bounded(r: impl Read, limit: usize, what: &str) -> Decoded {
    let mut out = Vec::new();
    match r.take(limit as u64 + 1).read_to_end(&mut out) {
        Ok(_) if out.len() > limit => Err(DecodeError::TooLarge(limit)),
        Ok(_) => Ok(out),
        Err(e) => corrupt(format!("{what}: {e}")),
    }
}

// ----- gzip -------------------------------------------------------------------

/// Java's `GZIPInputStream`: members one after another; after a member,
/// bytes that do not begin another member are ignored.
fn gunzip(data: &[u8], limit: usize) -> Decoded {
    let mut out = Vec::new();
    let mut rest = data;
    loop {
        let mut member = flate2::bufread::GzDecoder::new(rest);
        let left = limit - out.len();
        match (&mut member).take(left as u64 + 1).read_to_end(&mut out) {
            Ok(_) if out.len() > limit => return Err(DecodeError::TooLarge(limit)),
            Ok(_) => {}
            Err(e) => return corrupt(format!("gzip: {e}")),
        }
        rest = member.into_inner();
        if rest.len() < 10 || rest[..3] != [0x1f, 0x8b, 8] {
            return Ok(out);
        }
    }
}

// ----- snappy -----------------------------------------------------------------

/// xerial snappy-java's stream header: magic, version 1, compatible version 1.
const SNAPPY_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
const SNAPPY_HEADER_LEN: usize = 16;
/// Uncompressed bytes per chunk as xerial writes them.
const SNAPPY_CHUNK: usize = 32 * 1024;

fn snappy_framed(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(SNAPPY_HEADER_LEN + data.len() / 2);
    out.extend_from_slice(&SNAPPY_MAGIC);
    out.extend_from_slice(&1i32.to_be_bytes());
    out.extend_from_slice(&1i32.to_be_bytes());
    let mut encoder = snap::raw::Encoder::new();
    for chunk in data.chunks(SNAPPY_CHUNK) {
        let block = encoder
            .compress_vec(chunk)
            .expect("a 32 KiB chunk is within snappy's limits");
        out.extend_from_slice(&(block.len() as i32).to_be_bytes());
        out.extend_from_slice(&block);
    }
    out
}

/// One raw snappy block, its claimed length checked against `left` first.
fn unsnappy_block(
    block: &[u8],
    left: usize,
    limit: usize,
    out: &mut Vec<u8>,
) -> Result<(), DecodeError> {
    let n = snap::raw::decompress_len(block).or_else(|e| corrupt(format!("snappy: {e}")))?;
    if n > left {
        return Err(DecodeError::TooLarge(limit));
    }
    let at = out.len();
    out.resize(at + n, 0);
    match snap::raw::Decoder::new().decompress(block, &mut out[at..]) {
        Ok(written) if written == n => Ok(()),
        Ok(written) => corrupt(format!("snappy: {written} bytes, the block said {n}")),
        Err(e) => corrupt(format!("snappy: {e}")),
    }
}

/// xerial's `SnappyInputStream`: framed if the input starts with the full
/// 16-byte header, else one raw block.
fn unsnappy(data: &[u8], limit: usize) -> Decoded {
    if data.is_empty() {
        return corrupt("snappy: cannot decompress an empty stream");
    }
    let mut out = Vec::new();
    if data.len() < SNAPPY_HEADER_LEN || data[..8] != SNAPPY_MAGIC {
        unsnappy_block(data, limit, limit, &mut out)?;
        return Ok(out);
    }
    let mut pos = SNAPPY_HEADER_LEN;
    loop {
        // Fewer than 4 bytes left: the stream ends there (xerial reads no chunk).
        let Some(size) = data.get(pos..pos + 4) else {
            return Ok(out);
        };
        let size = i32::from_be_bytes(size.try_into().expect("4 bytes"));
        pos += 4;
        if size == i32::from_be_bytes(SNAPPY_MAGIC[..4].try_into().expect("4 bytes")) {
            // A second stream concatenated: its header, then its chunks.
            let Some(rest) = data.get(pos..pos + SNAPPY_HEADER_LEN - 4) else {
                return corrupt("snappy: insufficient header size in a concatenated block");
            };
            if rest[..4] != SNAPPY_MAGIC[4..] {
                return Ok(out);
            }
            pos += SNAPPY_HEADER_LEN - 4;
            continue;
        }
        if size < 0 {
            return corrupt(format!("snappy: chunk size {size} is negative"));
        }
        let Some(block) = data.get(pos..pos + size as usize) else {
            return corrupt(format!("snappy: failed to read a chunk of {size} bytes"));
        };
        pos += size as usize;
        unsnappy_block(block, limit - out.len(), limit, &mut out)?;
    }
}

// ----- lz4 --------------------------------------------------------------------

const LZ4_MAGIC: u32 = 0x184D_2204;

/// Kafka's `Lz4BlockInputStream` (KIP-57 frames, magic v1+): see the table at
/// the top for what it accepts.
fn unlz4(data: &[u8], limit: usize) -> Decoded {
    let premature = || corrupt("lz4: stream ended prematurely");
    if data.len() < 6 {
        return premature();
    }
    if u32::from_le_bytes(data[..4].try_into().expect("4 bytes")) != LZ4_MAGIC {
        return corrupt("lz4: stream unsupported (invalid magic bytes)");
    }
    let (flg, bd) = (data[4], data[5]);
    if flg & 0x03 != 0 {
        return corrupt("lz4: reserved bits must be 0 (no dictionary id)");
    }
    if flg & 0x20 == 0 {
        return corrupt("lz4: dependent block stream is unsupported");
    }
    if flg >> 6 != 1 {
        return corrupt(format!("lz4: version {} is unsupported", flg >> 6));
    }
    let (content_checksum, content_size, block_checksum) =
        (flg & 0x04 != 0, flg & 0x08 != 0, flg & 0x10 != 0);
    let block_size_value = (bd >> 4) & 7;
    if bd & 0x0f != 0 || bd & 0x80 != 0 {
        return corrupt("lz4: reserved bits of the block descriptor must be 0");
    }
    if !(4..=7).contains(&block_size_value) {
        return corrupt("lz4: block size value must be between 4 and 7");
    }
    let max_block = 1usize << (2 * block_size_value as usize + 8);
    let mut pos = 6;
    if content_size {
        // Kafka skips the declared content size.
        pos += 8;
    }
    let Some(&hc) = data.get(pos) else {
        return premature();
    };
    if hc != (xxh32(&data[4..pos], 0) >> 8) as u8 {
        return corrupt("lz4: stream frame descriptor corrupted");
    }
    pos += 1;
    let mut out = Vec::new();
    let mut block_buf = Vec::new();
    loop {
        let Some(word) = data.get(pos..pos + 4) else {
            return premature();
        };
        pos += 4;
        let word = u32::from_le_bytes(word.try_into().expect("4 bytes"));
        let compressed = word & 0x8000_0000 == 0;
        let size = (word & 0x7fff_ffff) as usize;
        if size == 0 {
            // The end mark. Kafka reads the content checksum (when the flag
            // says there is one) without checking it, and nothing after.
            if content_checksum && data.len() < pos + 4 {
                return premature();
            }
            return Ok(out);
        }
        if size > max_block {
            return corrupt(format!("lz4: block size {size} exceeded max: {max_block}"));
        }
        let Some(block) = data.get(pos..pos + size) else {
            return premature();
        };
        pos += size;
        let left = limit - out.len();
        if compressed {
            block_buf.resize(max_block, 0);
            let n = lz4_flex::block::decompress_into(block, &mut block_buf)
                .or_else(|e| corrupt(format!("lz4: {e}")))?;
            if n > left {
                return Err(DecodeError::TooLarge(limit));
            }
            out.extend_from_slice(&block_buf[..n]);
        } else {
            if size > left {
                return Err(DecodeError::TooLarge(limit));
            }
            out.extend_from_slice(block);
        }
        if block_checksum {
            let Some(sum) = data.get(pos..pos + 4) else {
                return premature();
            };
            pos += 4;
            if xxh32(block, 0) != u32::from_le_bytes(sum.try_into().expect("4 bytes")) {
                return corrupt("lz4: block checksum mismatch");
            }
        }
    }
}

/// XXH32, the checksum of LZ4 frames (header and blocks).
pub fn xxh32(data: &[u8], seed: u32) -> u32 {
    const P1: u32 = 2_654_435_761;
    const P2: u32 = 2_246_822_519;
    const P3: u32 = 3_266_489_917;
    const P4: u32 = 668_265_263;
    const P5: u32 = 374_761_393;
    let word = |at: usize| u32::from_le_bytes(data[at..at + 4].try_into().expect("4 bytes"));
    let round = |acc: u32, input: u32| {
        acc.wrapping_add(input.wrapping_mul(P2))
            .rotate_left(13)
            .wrapping_mul(P1)
    };
    let mut i = 0;
    let mut h = if data.len() >= 16 {
        let mut v = [
            seed.wrapping_add(P1).wrapping_add(P2),
            seed.wrapping_add(P2),
            seed,
            seed.wrapping_sub(P1),
        ];
        while i + 16 <= data.len() {
            for (lane, acc) in v.iter_mut().enumerate() {
                *acc = round(*acc, word(i + 4 * lane));
            }
            i += 16;
        }
        v[0].rotate_left(1)
            .wrapping_add(v[1].rotate_left(7))
            .wrapping_add(v[2].rotate_left(12))
            .wrapping_add(v[3].rotate_left(18))
    } else {
        seed.wrapping_add(P5)
    };
    h = h.wrapping_add(data.len() as u32);
    while i + 4 <= data.len() {
        h = h
            .wrapping_add(word(i).wrapping_mul(P3))
            .rotate_left(17)
            .wrapping_mul(P4);
        i += 4;
    }
    for &b in &data[i..] {
        h = h
            .wrapping_add(u32::from(b).wrapping_mul(P5))
            .rotate_left(11)
            .wrapping_mul(P1);
    }
    h ^= h >> 15;
    h = h.wrapping_mul(P2);
    h ^= h >> 13;
    h = h.wrapping_mul(P3);
    h ^ (h >> 16)
}

// ----- zstd -------------------------------------------------------------------

/// zstd-jni's `ZstdInputStreamNoFinalizer`: frames one after another, a
/// window of at most 2^27 bytes (its default, and libzstd's).
fn unzstd(data: &[u8], limit: usize) -> Decoded {
    let mut decoder = match zstd::stream::read::Decoder::with_buffer(data) {
        Ok(d) => d,
        Err(e) => return corrupt(format!("zstd: {e}")),
    };
    if let Err(e) = decoder.window_log_max(27) {
        return corrupt(format!("zstd: {e}"));
    }
    read_bounded(decoder, limit, "zstd")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(n: usize) -> Vec<u8> {
        (0..n)
            .map(|i| (i * 7 % 251) as u8 ^ (i / 300) as u8)
            .collect()
    }

    #[test]
    fn xxh32_matches_the_reference_vectors() {
        assert_eq!(xxh32(b"", 0), 0x02CC_5D05);
        assert_eq!(xxh32(b"a", 0), 0x550D_7456);
        assert_eq!(xxh32(b"abc", 0), 0x32D1_53FF);
        assert_eq!(
            xxh32(b"Nobody inspects the spammish repetition", 0),
            0xE229_3B2F
        );
    }

    #[test]
    fn every_codec_round_trips() {
        for codec in Codec::ALL {
            for n in [0, 1, 100, 70_000, 200_000] {
                let data = sample(n);
                let packed = compress(codec, &data);
                assert_eq!(
                    decompress(codec, &packed, MAX_DECOMPRESSED_BYTES).as_deref(),
                    Ok(&data[..]),
                    "{codec:?}, {n} bytes"
                );
            }
        }
    }

    #[test]
    fn the_limit_is_enforced_before_allocating_for_every_codec() {
        let zeros = vec![0u8; 1 << 20];
        for codec in Codec::ALL {
            let packed = compress(codec, &zeros);
            assert_eq!(
                decompress(codec, &packed, 1000),
                Err(DecodeError::TooLarge(1000)),
                "{codec:?}"
            );
            assert_eq!(
                decompress(codec, &packed, 1 << 20).map(|v| v.len()),
                Ok(1 << 20),
                "{codec:?} exactly at the limit"
            );
        }
        // A raw snappy block claiming 2^32 - 1 bytes: refused from its header.
        let claim = [0xff, 0xff, 0xff, 0xff, 0x0f, 0x00];
        assert_eq!(
            decompress(Codec::Snappy, &claim, MAX_DECOMPRESSED_BYTES),
            Err(DecodeError::TooLarge(MAX_DECOMPRESSED_BYTES))
        );
    }

    #[test]
    fn garbage_is_corrupt_not_a_panic() {
        let mut rng = 0x9e37_79b9_u32;
        for codec in &Codec::ALL[1..] {
            for n in 0..300 {
                let mut data = compress(*codec, &sample(n * 13));
                // Flip some bytes, cut some off.
                for _ in 0..3 {
                    rng = rng.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    if !data.is_empty() {
                        let at = rng as usize % data.len();
                        data[at] ^= (rng >> 24) as u8 | 1;
                    }
                }
                data.truncate(data.len() - (rng as usize % 4).min(data.len()));
                let _ = decompress(*codec, &data, 1 << 16);
                let _ = decompress(*codec, &data[..data.len() / 2], 1 << 16);
            }
        }
    }

    #[test]
    fn snappy_reads_xerial_frames_raw_blocks_and_concatenated_streams() {
        let data = sample(100_000);
        let framed = compress(Codec::Snappy, &data);
        assert_eq!(&framed[..8], &SNAPPY_MAGIC);
        let raw = snap::raw::Encoder::new().compress_vec(&data).unwrap();
        assert_eq!(decompress(Codec::Snappy, &raw, 1 << 20), Ok(data.clone()));
        let mut twice = framed.clone();
        twice.extend_from_slice(&framed);
        let mut both = data.clone();
        both.extend_from_slice(&data);
        assert_eq!(decompress(Codec::Snappy, &twice, 1 << 20), Ok(both));
        let mut stray = framed.clone();
        stray.extend_from_slice(&[1, 2, 3]);
        assert_eq!(
            decompress(Codec::Snappy, &stray, 1 << 20),
            Ok(data.clone()),
            "xerial stops at fewer than 4 bytes"
        );
        assert!(matches!(
            decompress(Codec::Snappy, &[], 1 << 20),
            Err(DecodeError::Corrupt(_))
        ));
    }

    fn lz4_frame(info: lz4_flex::frame::FrameInfo, data: &[u8]) -> Vec<u8> {
        let mut e = lz4_flex::frame::FrameEncoder::with_frame_info(info, Vec::new());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn lz4_accepts_what_kafka_accepts_and_refuses_the_rest() {
        use lz4_flex::frame::{BlockMode, BlockSize, FrameInfo};
        let data = sample(300_000);
        let plain = FrameInfo::new().block_size(BlockSize::Max64KB);
        for info in [
            plain.clone(),
            plain.clone().block_checksums(true),
            plain.clone().content_checksum(true),
            plain.clone().content_size(Some(data.len() as u64)),
            FrameInfo::new().block_size(BlockSize::Max4MB),
        ] {
            let frame = lz4_frame(info.clone(), &data);
            assert_eq!(
                decompress(Codec::Lz4, &frame, 1 << 20).as_deref(),
                Ok(&data[..]),
                "{info:?}"
            );
        }
        // Kafka does not check the content checksum.
        let mut frame = lz4_frame(plain.clone().content_checksum(true), &data);
        let last = frame.len() - 1;
        frame[last] ^= 1;
        assert!(decompress(Codec::Lz4, &frame, 1 << 20).is_ok());
        // It does check block checksums and the header checksum.
        let mut frame = lz4_frame(plain.clone().block_checksums(true), &data);
        let at = frame.len() - 5; // inside the last block's checksum
        frame[at] ^= 1;
        assert!(matches!(
            decompress(Codec::Lz4, &frame, 1 << 20),
            Err(DecodeError::Corrupt(_))
        ));
        let mut frame = lz4_frame(plain.clone(), &data);
        frame[6] ^= 1;
        assert!(matches!(
            decompress(Codec::Lz4, &frame, 1 << 20),
            Err(DecodeError::Corrupt(why)) if why.contains("descriptor")
        ));
        // Linked blocks are refused.
        let linked = lz4_frame(plain.block_mode(BlockMode::Linked), &data);
        assert!(matches!(
            decompress(Codec::Lz4, &linked, 1 << 20),
            Err(DecodeError::Corrupt(why)) if why.contains("dependent")
        ));
    }

    #[test]
    fn gzip_reads_concatenated_members_and_ignores_trailing_bytes() {
        let data = sample(5_000);
        let one = compress(Codec::Gzip, &data);
        let mut two = one.clone();
        two.extend_from_slice(&one);
        two.extend_from_slice(b"junk");
        let mut both = data.clone();
        both.extend_from_slice(&data);
        assert_eq!(decompress(Codec::Gzip, &two, 1 << 20), Ok(both));
        let cut = &one[..one.len() - 3];
        assert!(matches!(
            decompress(Codec::Gzip, cut, 1 << 20),
            Err(DecodeError::Corrupt(_))
        ));
    }
}
