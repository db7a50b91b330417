//! Workloads: the records each producer sends, generated from the seed, and
//! how producers share them (the same values, deep clones, or their own).

use crate::scenario::{KeyMode, Payload, Sharing, WorkloadSpec};
use bytes::Bytes;
use producer_core::record::{Header, Record};
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn random_bytes(rng: &mut ChaCha8Rng, len: usize) -> Bytes {
    let mut v = vec![0u8; len];
    rng.fill_bytes(&mut v);
    Bytes::from(v)
}

/// Words text payloads are made of.
const WORDS: [&str; 16] = [
    "broker",
    "batch",
    "offset",
    "epoch",
    "leader",
    "record",
    "commit",
    "replica",
    "fetch",
    "produce",
    "sequence",
    "topic",
    "partition",
    "retry",
    "split",
    "window",
];

/// Value `i` of `size` bytes: random, or text that compresses.
fn value(spec: &WorkloadSpec, i: usize, size: usize, rng: &mut ChaCha8Rng) -> Bytes {
    let third = spec.records.div_ceil(3).max(1);
    let text = match spec.payload {
        Payload::Random => false,
        Payload::Text => true,
        Payload::Flip => i / third != 1,
    };
    if !text {
        return random_bytes(rng, size);
    }
    let mut v = Vec::with_capacity(size + 12);
    let mut w = i;
    while v.len() < size {
        v.extend_from_slice(WORDS[w % WORDS.len()].as_bytes());
        v.push(b' ');
        w = w.wrapping_mul(31).wrapping_add(7);
    }
    v.truncate(size);
    Bytes::from(v)
}

/// One list of records, as `spec` describes, drawn from `rng`.
pub fn records(spec: &WorkloadSpec, rng: &mut ChaCha8Rng) -> Vec<Record> {
    let (lo, hi) = spec.value_size.bounds();
    (0..spec.records)
        .map(|i| {
            let size =
                if spec.oversize_every > 0 && i % spec.oversize_every == spec.oversize_every - 1 {
                    spec.oversize_bytes
                } else {
                    rng.gen_range(lo..=hi)
                };
            let mut r = Record::new(value(spec, i, size, rng));
            match spec.key {
                KeyMode::None => {}
                KeyMode::Unique => r = r.with_key(format!("key-{i}")),
                KeyMode::Space => r = r.with_key(format!("key-{}", rng.gen_range(0..spec.keys))),
            }
            if spec.headers > 0 {
                let n = rng.gen_range(0..=spec.headers);
                let headers = (0..n)
                    .map(|h| {
                        let value = rng.gen_bool(0.8).then(|| {
                            let len = rng.gen_range(0..16);
                            random_bytes(rng, len)
                        });
                        Header::new(&format!("h{h}"), value)
                    })
                    .collect();
                r = r.with_headers(headers);
            }
            r
        })
        .collect()
}

/// The records of every producer. With `Shared`, producers hold the very same
/// values (shared buffers); with `Cloned`, deep copies; with `Mixed`, even records
/// shared and odd ones cloned; with `Distinct`, each producer its own records.
pub fn generate(spec: &WorkloadSpec, producers: u32, seed: u64) -> Vec<Vec<Record>> {
    generate_as(spec, producers, seed, spec.sharing)
}

/// Like [`generate`] with an explicit sharing mode (for metamorphic tests).
pub fn generate_as(
    spec: &WorkloadSpec,
    producers: u32,
    seed: u64,
    sharing: Sharing,
) -> Vec<Vec<Record>> {
    if sharing == Sharing::Distinct {
        return (0..producers)
            .map(|p| {
                let mut own = ChaCha8Rng::seed_from_u64(
                    seed ^ (p as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15),
                );
                records(spec, &mut own)
            })
            .collect();
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x574f_524b_4c4f_4144);
    share(&records(spec, &mut rng), producers, sharing)
}

/// Hands `base` to every producer: the same values (`Shared`), deep copies
/// (`Cloned`), or even records shared and odd ones copied (`Mixed`). `Distinct`
/// here means deep copies too: the records are given, not drawn.
pub fn share(base: &[Record], producers: u32, sharing: Sharing) -> Vec<Vec<Record>> {
    (0..producers)
        .map(|_| match sharing {
            Sharing::Shared => base.to_vec(),
            Sharing::Cloned | Sharing::Distinct => base.iter().map(Record::deep_clone).collect(),
            Sharing::Mixed => base
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    if i % 2 == 0 {
                        r.clone()
                    } else {
                        r.deep_clone()
                    }
                })
                .collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_records_share_buffers_and_cloned_do_not() {
        let spec = WorkloadSpec {
            records: 20,
            headers: 2,
            ..WorkloadSpec::default()
        };
        let shared = generate_as(&spec, 3, 1, Sharing::Shared);
        let cloned = generate_as(&spec, 3, 1, Sharing::Cloned);
        for i in 0..20 {
            assert!(shared[0][i].shares_buffers_with(&shared[2][i]));
            assert!(!cloned[0][i].shares_buffers_with(&cloned[2][i]));
            assert_eq!(shared[1][i], cloned[1][i], "same content either way");
        }
        assert_eq!(generate(&spec, 2, 9), generate(&spec, 2, 9), "seeded");
        assert_ne!(generate(&spec, 2, 9), generate(&spec, 2, 10));
    }
}
