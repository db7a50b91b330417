//! Partition choice: murmur2 for keyed records (bit-for-bit the Java client's
//! `Utils.murmur2` and `toPositive(hash) % partitions`), sticky for null keys.
//!
//! The sticky partitioner keeps sending null-key records to one partition until
//! the batch there is full, then picks another at random from a seeded RNG, like
//! the Java client's `BuiltInPartitioner`. The RNG is seeded from the config, so a
//! run is reproducible.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Kafka's murmur2 hash (seed `0x9747b28c`), as the Java client computes it.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let len = data.len();
    let mut h: u32 = SEED ^ (len as u32);
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if tail.len() >= 3 {
        h ^= (tail[2] as u32) << 16;
    }
    if tail.len() >= 2 {
        h ^= (tail[1] as u32) << 8;
    }
    if !tail.is_empty() {
        h ^= tail[0] as u32;
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The Java client's `Utils.toPositive`: clears the sign bit.
pub fn to_positive(v: i32) -> i32 {
    v & 0x7fff_ffff
}

/// Partition for a keyed record: `toPositive(murmur2(key)) % partitions`.
pub fn partition_for_key(key: &[u8], partitions: u32) -> u32 {
    (to_positive(murmur2(key)) as u32) % partitions.max(1)
}

/// Chooses partitions for records, keyed or not.
#[derive(Debug)]
pub struct Partitioner {
    rng: ChaCha8Rng,
    sticky: std::collections::BTreeMap<String, u32>,
}

impl Partitioner {
    /// A partitioner whose null-key choices come from `seed`.
    pub fn new(seed: u64) -> Self {
        Partitioner {
            rng: ChaCha8Rng::seed_from_u64(seed),
            sticky: Default::default(),
        }
    }

    /// The partition for a record with `key` in a topic with `partitions` partitions.
    pub fn partition(&mut self, topic: &str, key: Option<&[u8]>, partitions: u32) -> u32 {
        match key {
            Some(k) => partition_for_key(k, partitions),
            None => {
                if let Some(&p) = self.sticky.get(topic) {
                    if p < partitions {
                        return p;
                    }
                }
                let p = self.rng.gen_range(0..partitions.max(1));
                self.sticky.insert(topic.to_string(), p);
                p
            }
        }
    }

    /// Called when the sticky partition's batch is full: the next null-key record
    /// of `topic` goes to a different partition (when there is more than one).
    pub fn batch_completed(&mut self, topic: &str, partition: u32, partitions: u32) {
        if self.sticky.get(topic) != Some(&partition) {
            return;
        }
        let next = if partitions > 1 {
            let r = self.rng.gen_range(0..partitions - 1);
            if r >= partition {
                r + 1
            } else {
                r
            }
        } else {
            0
        };
        self.sticky.insert(topic.to_string(), next);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_the_java_client_vectors() {
        // From Apache Kafka's UtilsTest.testMurmur2.
        let cases: [(&[u8], i32); 6] = [
            (b"21", -973_932_308),
            (b"foobar", -790_332_482),
            (b"a-little-bit-long-string", -985_981_536),
            (b"a-little-bit-longer-string", -1_486_304_829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58_897_971,
            ),
            (b"abc", 479_470_107),
        ];
        for (key, want) in cases {
            assert_eq!(murmur2(key), want, "{}", String::from_utf8_lossy(key));
        }
    }

    #[test]
    fn keyed_partition_uses_to_positive_modulo() {
        // toPositive(-790332482) = 1357151166; 1357151166 % 50 = 16.
        assert_eq!(partition_for_key(b"foobar", 50), 16);
        let mut p = Partitioner::new(1);
        assert_eq!(p.partition("t", Some(b"foobar"), 50), 16);
    }

    #[test]
    fn sticky_partition_holds_until_batch_completes_and_is_seeded() {
        let run = |seed| {
            let mut p = Partitioner::new(seed);
            let mut seen = Vec::new();
            for _ in 0..5 {
                let a = p.partition("t", None, 6);
                assert_eq!(a, p.partition("t", None, 6), "sticky within a batch");
                p.batch_completed("t", a, 6);
                let b = p.partition("t", None, 6);
                assert_ne!(a, b, "a completed batch moves the sticky partition");
                seen.push(a);
            }
            seen
        };
        assert_eq!(run(3), run(3));
        assert!(run(3).iter().all(|&p| p < 6));
    }
}
