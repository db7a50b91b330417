//! Structure-aware fuzzing of every input prodsim takes from outside: request
//! frames for the broker, scenario files, outcome files. Random bytes never
//! carry a valid CRC or a plausible length, so they never reach the deep decoder
//! paths; these generators build *valid* inputs (frames with correct headers,
//! record batches with correct CRC-32C, files that load) and then break one
//! field at a time: a count, a length, a varint, a version, an api key, trailing
//! bytes, a number in a file. Broken batches get their CRC recomputed most of
//! the time, so the check behind the CRC is reached too.
//!
//! Deterministic: every input is a function of a seed. `sim/tests/fuzz.rs`
//! runs a few thousand per target in `cargo test` and a million in its long
//! mode (`PRODSIM_FUZZ_INPUTS`).

mod consume;

pub use consume::APIS as CONSUME_APIS;

use bytes::{BufMut, Bytes, BytesMut};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Interesting 32-bit values for counts and lengths.
const EXTREMES: [i64; 10] = [
    0,
    1,
    -1,
    2,
    127,
    128,
    i32::MAX as i64,
    i32::MIN as i64,
    0xffff,
    1 << 24,
];

/// A seeded source of inputs.
pub struct Inputs {
    rng: ChaCha8Rng,
}

fn zigzag(buf: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        buf.push((z as u8) | 0x80);
        z >>= 7;
    }
    buf.push(z as u8);
}

/// Where the batches of a generated frame sit, so a mutation can re-sign them.
struct Layout {
    /// (start, end) of each record batch inside the frame body.
    batches: Vec<(usize, usize)>,
}

impl Inputs {
    /// Inputs drawn from `seed`.
    pub fn new(seed: u64) -> Self {
        Inputs {
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    fn extreme(&mut self) -> i64 {
        EXTREMES[self.rng.gen_range(0..EXTREMES.len())]
    }

    /// A valid RecordBatch v2 with 1..=4 records (keys, values, headers).
    pub fn batch(&mut self) -> Vec<u8> {
        let n = self.rng.gen_range(1..=4);
        let mut body = Vec::new();
        for i in 0..n {
            let mut rec = vec![0u8];
            zigzag(&mut rec, self.rng.gen_range(0..5));
            zigzag(&mut rec, i);
            for _ in 0..2 {
                if self.rng.gen_bool(0.2) {
                    zigzag(&mut rec, -1);
                } else {
                    let len = self.rng.gen_range(0..20);
                    zigzag(&mut rec, len);
                    rec.extend((0..len).map(|_| self.rng.gen::<u8>()));
                }
            }
            let headers = self.rng.gen_range(0..3);
            zigzag(&mut rec, headers);
            for _ in 0..headers {
                zigzag(&mut rec, 1);
                rec.push(b'h');
                zigzag(&mut rec, 1);
                rec.push(self.rng.gen());
            }
            zigzag(&mut body, rec.len() as i64);
            body.extend_from_slice(&rec);
        }
        let idempotent = self.rng.gen_bool(0.5);
        let mut after_crc = BytesMut::new();
        after_crc.put_i16(0);
        after_crc.put_i32(n as i32 - 1);
        after_crc.put_i64(1_700_000_000_000);
        after_crc.put_i64(1_700_000_000_000);
        after_crc.put_i64(if idempotent { 1000 } else { -1 });
        after_crc.put_i16(if idempotent { 0 } else { -1 });
        after_crc.put_i32(if idempotent { 0 } else { -1 });
        after_crc.put_i32(n as i32);
        after_crc.put_slice(&body);
        let mut b = Vec::with_capacity(after_crc.len() + 21);
        b.extend_from_slice(&0i64.to_be_bytes());
        b.extend_from_slice(&((after_crc.len() + 9) as i32).to_be_bytes());
        b.extend_from_slice(&0i32.to_be_bytes());
        b.push(2);
        b.extend_from_slice(&crc32c::crc32c(&after_crc).to_be_bytes());
        b.extend_from_slice(&after_crc);
        b
    }

    /// A valid request frame body (size prefix stripped) for a random API the
    /// broker serves, and where its batches are.
    fn frame(&mut self) -> (Vec<u8>, Layout) {
        let mut layout = Layout {
            batches: Vec::new(),
        };
        if self.rng.gen_range(0..14) < 4 {
            return (consume::frame(&mut self.rng), layout);
        }
        let (api, version): (i16, i16) = match self.rng.gen_range(0..10) {
            0 => (18, self.rng.gen_range(0..=3)),
            1 | 2 => (3, self.rng.gen_range(0..=8)),
            3 => (22, self.rng.gen_range(0..=1)),
            _ => (0, self.rng.gen_range(3..=8)),
        };
        let mut b = Vec::new();
        b.extend_from_slice(&api.to_be_bytes());
        b.extend_from_slice(&version.to_be_bytes());
        b.extend_from_slice(&self.rng.gen::<i32>().to_be_bytes());
        b.extend_from_slice(&(10i16).to_be_bytes());
        b.extend_from_slice(b"producer-0");
        match api {
            0 => {
                b.extend_from_slice(&(-1i16).to_be_bytes()); // transactional id
                b.extend_from_slice(&(-1i16).to_be_bytes()); // acks
                b.extend_from_slice(&1000i32.to_be_bytes());
                let topics: i32 = self.rng.gen_range(1..=2);
                b.extend_from_slice(&topics.to_be_bytes());
                for _ in 0..topics {
                    b.extend_from_slice(&6i16.to_be_bytes());
                    b.extend_from_slice(b"events");
                    let parts: i32 = self.rng.gen_range(1..=2);
                    b.extend_from_slice(&parts.to_be_bytes());
                    for _ in 0..parts {
                        b.extend_from_slice(&self.rng.gen_range(0..6i32).to_be_bytes());
                        let mut records = self.batch();
                        if self.rng.gen_bool(0.1) {
                            // The measured case: a second batch header behind the first.
                            let second = self.batch();
                            records.extend_from_slice(&second[..61.min(second.len())]);
                        }
                        b.extend_from_slice(&(records.len() as i32).to_be_bytes());
                        let start = b.len();
                        b.extend_from_slice(&records);
                        layout.batches.push((start, b.len()));
                    }
                }
            }
            3 => {
                let topics: i32 = self.rng.gen_range(0..=2);
                b.extend_from_slice(&topics.to_be_bytes());
                for _ in 0..topics {
                    b.extend_from_slice(&6i16.to_be_bytes());
                    b.extend_from_slice(b"events");
                }
                if version >= 4 {
                    b.push(1); // allow auto topic creation
                }
                if version >= 8 {
                    b.extend_from_slice(&[0, 0]);
                }
            }
            22 => {
                b.extend_from_slice(&(-1i16).to_be_bytes());
                b.extend_from_slice(&60_000i32.to_be_bytes());
            }
            _ => {}
        }
        (b, layout)
    }

    /// A broker request frame: valid, then (mostly) broken in one place.
    pub fn request(&mut self) -> Bytes {
        let (mut b, layout) = self.frame();
        if !self.rng.gen_bool(0.1) {
            self.mutate_bytes(&mut b);
            if self.rng.gen_bool(0.8) {
                for &(start, end) in &layout.batches {
                    resign(&mut b, start, end);
                }
            }
        }
        Bytes::from(b)
    }

    /// One structure-aware change: a 32-bit or 16-bit field set to an extreme,
    /// a varint widened, bytes cut or appended, a byte flipped.
    fn mutate_bytes(&mut self, b: &mut Vec<u8>) {
        if b.is_empty() {
            return;
        }
        let at = self.rng.gen_range(0..b.len());
        match self.rng.gen_range(0..7) {
            0 if at + 4 <= b.len() => {
                let v = self.extreme() as i32;
                b[at..at + 4].copy_from_slice(&v.to_be_bytes());
            }
            1 if at + 2 <= b.len() => {
                let v = self.extreme() as i16;
                b[at..at + 2].copy_from_slice(&v.to_be_bytes());
            }
            2 => {
                let mut v = Vec::new();
                zigzag(&mut v, self.extreme());
                b.splice(at..(at + 1).min(b.len()), v);
            }
            3 => b.truncate(at),
            4 => {
                let n = self.rng.gen_range(1..70);
                let extra: Vec<u8> = (0..n).map(|_| self.rng.gen()).collect();
                b.extend_from_slice(&extra);
            }
            5 => b.insert(at, self.rng.gen()),
            _ => b[at] ^= 1 << self.rng.gen_range(0..8),
        }
    }

    /// A scenario file: a valid one, then one value or line changed.
    pub fn scenario(&mut self, valid: &str) -> String {
        let mut lines: Vec<String> = valid.lines().map(str::to_string).collect();
        if lines.is_empty() {
            return String::new();
        }
        let i = self.rng.gen_range(0..lines.len());
        let replacement = match self.rng.gen_range(0..8) {
            0 => "0".to_string(),
            1 => "-1".to_string(),
            2 => "18446744073709551615".to_string(),
            3 => "9223372036854775807".to_string(),
            4 => "1e300".to_string(),
            5 => "\"\"".to_string(),
            6 => "[]".to_string(),
            _ => "{ x = 1 }".to_string(),
        };
        match self.rng.gen_range(0..4) {
            0 => {
                lines.remove(i);
            }
            1 => {
                let line = lines[i].clone();
                lines.insert(i, line);
            }
            _ => {
                if let Some((key, _)) = lines[i].split_once('=') {
                    lines[i] = format!("{key}= {replacement}");
                }
            }
        }
        lines.join("\n")
    }

    /// An outcomes file: a valid one (2 producers, a few records), then one
    /// token changed.
    pub fn outcomes(&mut self) -> String {
        let mut lines = Vec::new();
        for p in 0..2 {
            let n = self.rng.gen_range(1..5);
            for r in 0..n {
                lines.push(format!("SEND {p} {r} {:02x} {:02x} h={:02x}", r, p, r));
                lines.push(match self.rng.gen_range(0..3) {
                    0 => format!("ACK {p} {r} 1 {}", r * 2),
                    1 => format!("FAIL {p} {r} - broker went away"),
                    _ => format!("FAIL {p} {r} 3 timed out"),
                });
            }
            lines.push(format!("CLOSED {p}"));
        }
        let i = self.rng.gen_range(0..lines.len());
        let mut tokens: Vec<String> = lines[i].split(' ').map(str::to_string).collect();
        let t = self.rng.gen_range(0..tokens.len());
        tokens[t] = match self.rng.gen_range(0..6) {
            0 => "99999999".into(),
            1 => "-1".into(),
            2 => "18446744073709551616".into(),
            3 => "zz".into(),
            4 => String::new(),
            _ => "-".into(),
        };
        lines[i] = tokens.join(" ");
        lines.join("\n")
    }
}

/// Recomputes the CRC of a batch at `start..end` of `b` (as far as it lies
/// inside `b` and has a header), so a change behind the CRC reaches the checks
/// that follow it.
fn resign(b: &mut [u8], start: usize, end: usize) {
    let end = end.min(b.len());
    if end < start + 61 {
        return;
    }
    let len = i32::from_be_bytes(b[start + 8..start + 12].try_into().expect("4 bytes"));
    let batch_end = (start as i64 + 12 + len as i64).clamp(start as i64 + 21, end as i64) as usize;
    let crc = crc32c::crc32c(&b[start + 21..batch_end]);
    b[start + 17..start + 21].copy_from_slice(&crc.to_be_bytes());
}

/// Peak resident memory of this process so far, in bytes (Linux; 0 elsewhere).
pub fn peak_rss() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<usize>().ok())
        .map_or(0, |kb| kb * 1024)
}
