//! The memory bound, runtime-free: sends stop being admitted when the batches
//! hold `buffer_memory`, the state's `ReleaseMemory` actions give it back, and
//! over generated runs of answers, errors, splits, lost connections and
//! expiry, every batch's memory comes back exactly once.

use super::harness::{config, Harness, Sending};
use super::ms;
use crate::compression::Compression;
use crate::error::code;
use crate::record::Record;
use crate::Config;
use kafka_protocol::messages::ApiKey;
use proptest::prelude::*;

/// Small batches, room for three of them.
fn tight() -> Config {
    Config {
        batch_size: 1024,
        max_message_bytes: 1024,
        buffer_memory: 3 * 1024,
        linger: ms(5),
        ..config()
    }
}

#[test]
fn a_send_that_needs_a_batch_waits_until_an_answer_releases_one() {
    let mut h = Harness::started(tight(), &[0, 0, 0, 0]);
    for p in 0..3 {
        assert!(h.try_send(p, Record::new("x")).is_some(), "partition {p}");
    }
    assert_eq!(h.memory_in_use(), 3 * 1024);
    assert!(
        h.try_send(3, Record::new("x")).is_none(),
        "a fourth batch would pass buffer_memory"
    );
    assert!(
        h.try_send(0, Record::new("y")).is_some(),
        "joining a batch costs nothing"
    );
    let before = h.released;
    h.advance(ms(5));
    let req = h.take(ApiKey::Produce);
    h.answer_produce(&req, |_| (code::NONE, 0));
    h.step();
    assert_eq!(
        h.released - before,
        3 * 1024,
        "each answered batch gave its buffer back"
    );
    assert_eq!(h.memory_in_use(), 0);
    assert!(h.try_send(3, Record::new("x")).is_some());
}

/// One step of a generated run.
#[derive(Clone, Debug)]
enum Op {
    /// Send a record of this many bytes to this partition (if memory allows).
    Send(i32, usize),
    /// Answer the oldest request; produce batches get this error code.
    Answer(i16),
    /// The connection of the oldest request closes.
    Drop,
    /// Time passes.
    Wait(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..3i32, 1..400usize).prop_map(|(p, n)| Op::Send(p, n)),
        4 => prop::sample::select(vec![
            code::NONE,
            code::NONE,
            code::NOT_LEADER_OR_FOLLOWER,
            code::REQUEST_TIMED_OUT,
            code::MESSAGE_TOO_LARGE,
            code::CORRUPT_MESSAGE,
        ])
        .prop_map(Op::Answer),
        1 => Just(Op::Drop),
        2 => prop::sample::select(vec![1u64, 5, 100, 1_000, 4_000]).prop_map(Op::Wait),
    ]
}

/// Answers the oldest request the state wrote: metadata with every partition on
/// broker 0, a producer id with a new epoch, produce batches with `produce`.
fn answer_oldest(h: &mut Harness, produce: i16, epoch: &mut i16, offset: &mut i64) {
    let Some(req) = h.sent.pop_front() else {
        return;
    };
    match req.api {
        ApiKey::Metadata => h.answer_metadata(&req, &[0, 0, 0]),
        ApiKey::InitProducerId => {
            *epoch += 1;
            h.answer_init(&req, 1000, *epoch);
        }
        ApiKey::Produce => h.answer_produce(&req, |b| {
            let base = *offset;
            *offset += b.records as i64;
            (produce, base)
        }),
        _ => {}
    }
}

fn run(ops: &[Op], compression: Compression) -> Result<(), TestCaseError> {
    let config = Config {
        compression,
        ..tight()
    };
    let mut h = Harness::started(config, &[0, 0, 0]);
    let (mut epoch, mut offset) = (0, 0);
    let mut sends: Vec<Sending> = Vec::new();
    for op in ops {
        match op {
            Op::Send(p, n) => sends.extend(h.try_send(*p, Record::new(vec![b'v'; *n]))),
            Op::Answer(c) => answer_oldest(&mut h, *c, &mut epoch, &mut offset),
            Op::Drop => {
                if let Some(req) = h.sent.pop_front() {
                    h.close_connection(req.broker, req.generation);
                }
            }
            Op::Wait(n) => h.now += ms(*n),
        }
        h.pump();
        // Panics inside if memory came back twice.
        prop_assert!(h.memory_in_use() <= h.shared.config.buffer_memory);
        // What is really allocated stays within what is charged: the
        // buffered batches' buffers and the released buffers kept for reuse.
        let charged = h.shared.config.buffer_memory - h.shared.memory.available_permits();
        let allocated = h.shared.accum().produce_set.allocated_bytes();
        prop_assert!(
            allocated + h.shared.spares.bytes() <= charged,
            "{} allocated + {} kept > {} charged",
            allocated,
            h.shared.spares.bytes(),
            charged
        );
    }
    // Settle: answer everything, let time pass, until every record resolved.
    for _ in 0..200 {
        if sends.iter().all(|s| s.result().is_some()) && h.sent.is_empty() {
            break;
        }
        while !h.sent.is_empty() {
            answer_oldest(&mut h, code::NONE, &mut epoch, &mut offset);
            h.pump();
        }
        h.advance(ms(500));
    }
    prop_assert!(
        sends.iter().all(|s| s.result().is_some()),
        "every record resolved"
    );
    prop_assert_eq!(
        h.counters(),
        (0, 0, 0),
        "memory, records and requests all back"
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn every_batchs_memory_comes_back_exactly_once(ops in prop::collection::vec(op(), 1..80)) {
        run(&ops, Compression::None)?;
    }

    #[test]
    fn every_compressed_batchs_memory_comes_back_exactly_once(
        ops in prop::collection::vec(op(), 1..80),
        codec in prop::sample::select(vec![Compression::Lz4, Compression::Zstd { level: 3 }]),
    ) {
        run(&ops, codec)?;
    }
}
