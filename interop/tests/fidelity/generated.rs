//! Generated cases: proptest draws sequences of producer operations (next
//! batch, retry of an earlier batch, a gap, an epoch bump, a stale epoch, a
//! new producer id, an unknown producer, a restart) and folds them into
//! concrete produce steps, the way a client would number them; both brokers
//! get the same requests and their answers are compared. Each new batch is
//! compressed with a drawn codec (none half the time), and a retry resends
//! it as it was. Each sequence is a function of its seed, so a divergence
//! names the seed that replays it.

use super::batch::{Codec, LZ4};
use super::cases::{idem, read_back};
use super::steps::{Case, CreateTopic, Produce, Step};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use std::collections::BTreeMap;

/// Partitions of a generated case's topic.
const PARTITIONS: i32 = 2;
/// Producers 0 and 1 ask for an id; producer 2 never does (unknown id).
const UNKNOWN: usize = 2;

/// One drawn operation.
#[derive(Clone, Debug)]
pub enum Op {
    /// The producer's next batch of `n` records.
    Next {
        p: usize,
        partition: i32,
        n: usize,
        codec: Codec,
    },
    /// The `back`-th most recent batch sent again, unchanged.
    Retry {
        p: usize,
        partition: i32,
        back: usize,
    },
    /// A batch `by` past the next sequence.
    Gap { p: usize, partition: i32, by: i32 },
    /// The producer bumps its epoch locally (sequences restart at 0).
    Bump { p: usize },
    /// A batch at the previous epoch.
    Stale { p: usize, partition: i32 },
    /// InitProducerId again: a new id at epoch 0.
    NewId { p: usize },
    /// A clean restart of the broker.
    Restart,
}

/// A codec for a new batch: none half the time.
fn codec() -> impl Strategy<Value = Codec> {
    prop_oneof![
        5 => Just(Codec::None),
        1 => Just(Codec::Gzip),
        1 => Just(Codec::Snappy),
        1 => Just(Codec::SnappyRaw),
        1 => Just(LZ4),
        1 => Just(Codec::Zstd),
    ]
}

fn op(restarts: bool) -> impl Strategy<Value = Op> {
    let p = 0..3usize;
    let part = 0..PARTITIONS;
    let restart_weight = if restarts { 1 } else { 0 };
    prop_oneof![
        8 => (p.clone(), part.clone(), 1..4usize, codec())
            .prop_map(|(p, partition, n, codec)| Op::Next { p, partition, n, codec }),
        4 => (p.clone(), part.clone(), 0..7usize).prop_map(|(p, partition, back)| Op::Retry { p, partition, back }),
        1 => (p.clone(), part.clone(), prop_oneof![Just(1), Just(2), Just(-1), Just(-5)])
            .prop_map(|(p, partition, by)| Op::Gap { p, partition, by }),
        1 => p.clone().prop_map(|p| Op::Bump { p }),
        1 => (p.clone(), part).prop_map(|(p, partition)| Op::Stale { p, partition }),
        1 => (0..2usize).prop_map(|p| Op::NewId { p }),
        restart_weight => Just(Op::Restart),
    ]
}

/// A batch a producer sent: (epoch, base sequence, records, codec).
type Sent = (i16, i32, usize, Codec);

/// What a client would know of its own producers while it sends.
#[derive(Default)]
struct Model {
    epoch: BTreeMap<usize, i16>,
    next: BTreeMap<(usize, i32), i32>,
    sent: BTreeMap<(usize, i32), Vec<Sent>>,
}

impl Model {
    fn batch(&mut self, p: usize, partition: i32, (epoch, seq, n, codec): Sent) -> Step {
        self.sent
            .entry((p, partition))
            .or_default()
            .push((epoch, seq, n, codec));
        let batch = idem(p, epoch, seq, n).compressed(codec);
        Step::Produce(Produce::one(0, partition, batch))
    }

    fn step(&mut self, op: &Op) -> Option<Step> {
        match *op {
            Op::Next {
                p,
                partition,
                n,
                codec,
            } => {
                let e = *self.epoch.entry(p).or_default();
                let seq = *self.next.entry((p, partition)).or_default();
                self.next.insert((p, partition), seq.wrapping_add(n as i32));
                Some(self.batch(p, partition, (e, seq, n, codec)))
            }
            Op::Retry { p, partition, back } => {
                let sent = self.sent.get(&(p, partition))?;
                let &(e, seq, n, codec) = sent.get(sent.len() - 1 - back % sent.len())?;
                Some(Step::Produce(Produce::one(
                    0,
                    partition,
                    idem(p, e, seq, n).compressed(codec),
                )))
            }
            Op::Gap { p, partition, by } => {
                let e = *self.epoch.entry(p).or_default();
                let seq = self.next.get(&(p, partition)).copied().unwrap_or(0);
                let seq = seq.wrapping_add(by).max(0);
                Some(self.batch(p, partition, (e, seq, 1, Codec::None)))
            }
            Op::Bump { p } => {
                *self.epoch.entry(p).or_default() += 1;
                self.next.retain(|(q, _), _| *q != p);
                None
            }
            Op::Stale { p, partition } => {
                let e = *self.epoch.entry(p).or_default();
                let seq = self.next.get(&(p, partition)).copied().unwrap_or(0);
                (e > 0).then(|| self.batch(p, partition, (e - 1, seq, 1, Codec::None)))
            }
            Op::NewId { p } => {
                self.epoch.insert(p, 0);
                self.next.retain(|(q, _), _| *q != p);
                self.sent.retain(|(q, _), _| *q != p);
                Some(Step::InitProducerId { p, version: 4 })
            }
            Op::Restart => Some(Step::Restart),
        }
    }
}

/// The case for one seed: a 2-partition topic, ids for producers 0 and 1,
/// the drawn operations (`restarts`: a restart may be drawn), then both
/// partitions read back.
pub fn case(seed: u64, restarts: bool) -> (Case, Vec<Op>) {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    bytes[8] = u8::from(restarts);
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &bytes),
    );
    let ops = proptest::collection::vec(op(restarts), 6..18)
        .new_tree(&mut runner)
        .expect("a sequence")
        .current();
    let mut model = Model::default();
    let mut steps = vec![
        Step::CreateTopic(CreateTopic::new(0, PARTITIONS)),
        Step::InitProducerId { p: 0, version: 4 },
        Step::InitProducerId { p: 1, version: 4 },
    ];
    // Producer 2 starts wherever its first draw puts it (an unknown id).
    model.next.insert((UNKNOWN, 0), (seed % 13) as i32);
    steps.extend(ops.iter().filter_map(|o| model.step(o)));
    for partition in 0..PARTITIONS {
        steps.extend(read_back(0, partition));
    }
    let name = if restarts {
        format!("generated/restarts-seed-{seed}")
    } else {
        format!("generated/seed-{seed}")
    };
    (
        Case {
            name,
            about: "a drawn sequence of produce (a drawn codec), retry, gap, epoch bump, stale epoch and new id",
            steps,
        },
        ops,
    )
}
