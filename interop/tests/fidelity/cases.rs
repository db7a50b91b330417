//! Hand-written cases: one or more for every rule of the broker's produce path
//! (dedup window and its answers, sequence and epoch rules, validation,
//! size limits, timestamps, attributes, acks, pipelining, compressed batches:
//! each codec, corrupt payloads, inner counts and offsets, the topic's
//! `compression.type`) and for the other APIs clients use (Fetch,
//! ListOffsets, Metadata, CreateTopics, InitProducerId, ApiVersions, the
//! classic group protocol).

use super::batch::{Codec, Damage, Lz4Frame, RawBatch, Rec, Stamp, Ts, LZ4};
use super::steps::{At, Case, CreateTopic, GroupStep, Part, Produce, Step, Topic};

fn case(name: &str, about: &'static str, steps: Vec<Step>) -> Case {
    Case {
        name: name.to_string(),
        about,
        steps,
    }
}

fn create(t: usize, partitions: i32) -> Step {
    Step::CreateTopic(CreateTopic::new(t, partitions))
}

fn init(p: usize) -> Step {
    Step::InitProducerId { p, version: 4 }
}

fn produce(t: usize, partition: i32, batch: RawBatch) -> Step {
    Step::Produce(Produce::one(t, partition, batch))
}

/// `n` records of producer `p` at (`epoch`, `seq`), values naming them.
pub fn idem(p: usize, epoch: i16, seq: i32, n: usize) -> RawBatch {
    RawBatch::of(
        (0..n)
            .map(|i| Rec::value(&format!("p{p}e{epoch}s{}", seq as i64 + i as i64)))
            .collect(),
    )
    .by(p, epoch, seq)
}

pub fn fetch_all(t: usize, partition: i32) -> Step {
    Step::Fetch {
        t,
        partition,
        offset: 0,
        max_bytes: 1 << 20,
        version: 11,
    }
}

fn list(t: usize, partition: i32, at: At) -> Step {
    Step::ListOffsets {
        t,
        partition,
        at,
        version: 7,
    }
}

/// Everything a case's partition holds, as a consumer and ListOffsets see it.
pub fn read_back(t: usize, partition: i32) -> Vec<Step> {
    vec![
        fetch_all(t, partition),
        list(t, partition, At::Earliest),
        list(t, partition, At::Latest),
    ]
}

fn with(mut steps: Vec<Step>, more: Vec<Step>) -> Vec<Step> {
    steps.extend(more);
    steps
}

fn batch_with(f: impl FnOnce(&mut RawBatch)) -> RawBatch {
    let mut b = RawBatch::values(3);
    f(&mut b);
    b
}

/// Every hand-written case, without restarts (`restarts`: the ones with).
pub fn all(restarts: bool) -> Vec<Case> {
    let mut cases = Vec::new();
    cases.extend(dedup());
    cases.extend(sequences());
    cases.extend(validation());
    cases.extend(limits_and_timestamps());
    cases.extend(acks_and_pipelining());
    cases.extend(consume_side());
    cases.extend(admin());
    cases.extend(groups());
    cases.extend(compression());
    if restarts {
        cases.extend(after_restart());
    }
    cases
}

fn dedup() -> Vec<Case> {
    let base = vec![create(0, 1), init(0)];
    vec![
        case(
            "dedup/duplicate-of-the-last-batch",
            "a resent batch inside the window: NONE with the original offsets, nothing appended",
            with(
                base.clone(),
                with(
                    vec![
                        produce(0, 0, idem(0, 0, 0, 2)),
                        produce(0, 0, idem(0, 0, 2, 1)),
                        produce(0, 0, idem(0, 0, 2, 1)),
                        produce(0, 0, idem(0, 0, 0, 2)),
                        Step::Produce(Produce::one(0, 0, idem(0, 0, 0, 2)).version(3)),
                    ],
                    read_back(0, 0),
                ),
            ),
        ),
        case(
            "dedup/window-of-five",
            "the 5 most recent batches are remembered; an older retry is out of order",
            with(
                base.clone(),
                with(
                    (0..6)
                        .map(|i| produce(0, 0, idem(0, 0, i, 1)))
                        .chain([
                            produce(0, 0, idem(0, 0, 1, 1)),
                            produce(0, 0, idem(0, 0, 0, 1)),
                        ])
                        .collect(),
                    read_back(0, 0),
                ),
            ),
        ),
        case(
            "dedup/same-first-sequence-other-count",
            "a batch matching a stored one's first sequence but not its last",
            with(
                base.clone(),
                vec![
                    produce(0, 0, idem(0, 0, 0, 3)),
                    produce(0, 0, idem(0, 0, 0, 2)),
                    produce(0, 0, idem(0, 0, 0, 4)),
                    fetch_all(0, 0),
                ],
            ),
        ),
        case(
            "dedup/plain-producers-are-not-deduplicated",
            "the same plain batch twice is stored twice",
            vec![
                create(0, 1),
                produce(0, 0, RawBatch::values(2)),
                produce(0, 0, RawBatch::values(2)),
                fetch_all(0, 0),
            ],
        ),
        case(
            "dedup/per-partition",
            "sequences are per partition: the same sequence on another partition is new",
            with(
                vec![create(0, 2), init(0)],
                vec![
                    produce(0, 0, idem(0, 0, 0, 2)),
                    produce(0, 1, idem(0, 0, 0, 2)),
                    produce(0, 1, idem(0, 0, 2, 1)),
                    produce(0, 0, idem(0, 0, 2, 1)),
                    fetch_all(0, 1),
                ],
            ),
        ),
    ]
}

fn sequences() -> Vec<Case> {
    let base = vec![create(0, 1), init(0)];
    vec![
        case(
            "sequence/gap-is-out-of-order",
            "a first sequence past last + 1 in the same epoch",
            with(
                base.clone(),
                vec![
                    produce(0, 0, idem(0, 0, 0, 2)),
                    produce(0, 0, idem(0, 0, 5, 1)),
                    produce(0, 0, idem(0, 0, 2, 1)),
                    fetch_all(0, 0),
                ],
            ),
        ),
        case(
            "sequence/unknown-producer-any-sequence",
            "a producer id the partition has never seen may start anywhere (KIP-360)",
            vec![
                create(0, 1),
                produce(0, 0, idem(0, 0, 7, 2)),
                produce(0, 0, idem(0, 0, 9, 1)),
                produce(0, 0, idem(0, 0, 7, 2)),
                fetch_all(0, 0),
            ],
        ),
        case(
            "sequence/unknown-producer-nonzero-epoch",
            "an unknown producer id at epoch 3",
            vec![
                create(0, 1),
                produce(0, 0, idem(1, 3, 0, 1)),
                produce(0, 0, idem(1, 2, 1, 1)),
                produce(0, 0, idem(1, 4, 5, 1)),
                produce(0, 0, idem(1, 4, 0, 1)),
                fetch_all(0, 0),
            ],
        ),
        case(
            "sequence/new-epoch-starts-at-zero",
            "a higher epoch must start at sequence 0",
            with(
                base.clone(),
                vec![
                    produce(0, 0, idem(0, 0, 0, 2)),
                    produce(0, 0, idem(0, 1, 2, 1)),
                    produce(0, 0, idem(0, 1, 0, 1)),
                    produce(0, 0, idem(0, 1, 1, 1)),
                    fetch_all(0, 0),
                ],
            ),
        ),
        case(
            "sequence/old-epoch-is-fenced",
            "a lower epoch than the partition's is INVALID_PRODUCER_EPOCH, also for a retry",
            with(
                base.clone(),
                vec![
                    produce(0, 0, idem(0, 0, 0, 1)),
                    produce(0, 0, idem(0, 1, 0, 1)),
                    produce(0, 0, idem(0, 0, 1, 1)),
                    produce(0, 0, idem(0, 0, 0, 1)),
                    fetch_all(0, 0),
                ],
            ),
        ),
        case(
            "sequence/wraps-at-i32-max",
            "sequences wrap from 2147483647 to 0",
            vec![
                create(0, 1),
                produce(0, 0, idem(2, 0, i32::MAX - 1, 3)),
                produce(0, 0, idem(2, 0, 1, 1)),
                produce(0, 0, idem(2, 0, i32::MAX - 1, 3)),
                fetch_all(0, 0),
            ],
        ),
        case(
            "sequence/producer-id-without-sequence",
            "producer id set, base sequence -1",
            vec![
                create(0, 1),
                produce(0, 0, {
                    let mut b = RawBatch::values(1);
                    b.stamp = Stamp::Literal(super::run::unknown_pid(5), 0, -1);
                    b
                }),
                fetch_all(0, 0),
            ],
        ),
        case(
            "sequence/two-producers-interleaved",
            "two producers on one partition keep separate sequences",
            vec![
                create(0, 1),
                init(0),
                init(1),
                produce(0, 0, idem(0, 0, 0, 1)),
                produce(0, 0, idem(1, 0, 0, 2)),
                produce(0, 0, idem(0, 0, 1, 1)),
                produce(0, 0, idem(1, 0, 0, 2)),
                produce(0, 0, idem(0, 0, 0, 1)),
                fetch_all(0, 0),
            ],
        ),
        case(
            "init-producer-id/every-call-a-new-id",
            "InitProducerId without a transactional id: a new id at epoch 0 each time, at every version",
            (0..=4)
                .map(|v| Step::InitProducerId { p: v as usize, version: v })
                .collect(),
        ),
    ]
}

fn validation() -> Vec<Case> {
    let refused = |name: &str, about: &'static str, b: RawBatch| {
        case(
            &format!("validation/{name}"),
            about,
            vec![
                create(0, 1),
                produce(0, 0, b),
                fetch_all(0, 0),
                list(0, 0, At::Latest),
            ],
        )
    };
    vec![
        refused(
            "crc-mismatch",
            "a flipped CRC",
            batch_with(|b| b.bad_crc = true),
        ),
        refused(
            "base-offset-not-zero",
            "base offset 5",
            batch_with(|b| b.base_offset = 5),
        ),
        refused(
            "record-count-too-high",
            "count 4 for 3 records",
            batch_with(|b| b.count = Some(4)),
        ),
        refused(
            "record-count-too-low",
            "count 2 for 3 records",
            batch_with(|b| b.count = Some(2)),
        ),
        refused(
            "last-offset-delta-mismatch",
            "lastOffsetDelta 5 for 3 records",
            batch_with(|b| b.last_offset_delta = Some(5)),
        ),
        refused(
            "magic-1",
            "magic 1 in a v2 layout",
            batch_with(|b| b.magic = 1),
        ),
        refused(
            "control-batch-from-a-client",
            "the control bit (0x20)",
            batch_with(|b| b.attributes = 0x20),
        ),
        refused(
            "transactional-batch-without-transaction",
            "the transactional bit (0x10) from an idempotent producer with no transactional id",
            {
                let mut b = idem(3, 0, 0, 2);
                b.attributes = 0x10;
                b
            },
        ),
        refused(
            "log-append-time-from-a-client",
            "the timestamp-type bit (0x08)",
            batch_with(|b| b.attributes = 0x08),
        ),
        refused(
            "unknown-attribute-bits",
            "bit 0x40 (delete horizon) and 0x80 set",
            batch_with(|b| b.attributes = 0xC0),
        ),
        refused(
            "offset-deltas-not-consecutive",
            "records with offset deltas 0, 2, 4",
            batch_with(|b| {
                for (i, r) in b.records.iter_mut().enumerate() {
                    r.offset_delta = Some(2 * i as i64);
                }
                b.last_offset_delta = Some(2);
            }),
        ),
        refused(
            "bytes-after-the-last-record",
            "4 bytes of junk inside the batch length",
            batch_with(|b| b.trailing = vec![0, 0, 0, 0]),
        ),
        case(
            "validation/two-batches-in-one-partition",
            "a request whose records hold two batches",
            vec![
                create(0, 1),
                Step::Produce(Produce {
                    parts: vec![Part {
                        topic: Topic::Case(0),
                        partition: 0,
                        batches: vec![RawBatch::values(1), RawBatch::values(2)],
                    }],
                    ..Produce::one(0, 0, RawBatch::values(1))
                }),
                fetch_all(0, 0),
            ],
        ),
        case(
            "validation/unknown-topic-and-partition",
            "produce to a topic never created, and to a partition past the count",
            vec![
                create(0, 2),
                Step::Produce(Produce {
                    parts: vec![
                        Part {
                            topic: Topic::Case(1),
                            partition: 0,
                            batches: vec![RawBatch::values(1)],
                        },
                        Part {
                            topic: Topic::Case(0),
                            partition: 7,
                            batches: vec![RawBatch::values(1)],
                        },
                        Part {
                            topic: Topic::Case(0),
                            partition: 1,
                            batches: vec![RawBatch::values(1)],
                        },
                    ],
                    ..Produce::one(0, 0, RawBatch::values(1))
                }),
            ],
        ),
        case(
            "validation/null-key-on-a-compacted-topic",
            "cleanup.policy=compact refuses a record without a key",
            vec![
                Step::CreateTopic(CreateTopic::new(0, 1).config("cleanup.policy", "compact")),
                produce(
                    0,
                    0,
                    RawBatch::of(vec![Rec::value("a").key("k"), Rec::value("b")]),
                ),
                produce(0, 0, RawBatch::of(vec![Rec::value("a").key("k")])),
                fetch_all(0, 0),
            ],
        ),
        case(
            "validation/keys-values-headers-round-trip",
            "null and empty keys and values, repeated header keys, a null header value",
            vec![
                create(0, 1),
                produce(
                    0,
                    0,
                    RawBatch::of(vec![
                        Rec {
                            key: None,
                            value: None,
                            headers: vec![],
                            offset_delta: None,
                            timestamp_delta: 0,
                        },
                        Rec {
                            key: Some(vec![]),
                            value: Some(vec![]),
                            headers: vec![
                                (b"h".to_vec(), Some(b"1".to_vec())),
                                (b"h".to_vec(), None),
                            ],
                            offset_delta: None,
                            timestamp_delta: 5,
                        },
                    ]),
                ),
                fetch_all(0, 0),
            ],
        ),
    ]
}

fn limits_and_timestamps() -> Vec<Case> {
    let at = |rel: i64| batch_with(|b| b.base_timestamp = Ts::Rel(rel));
    let hour = 3_600_000;
    vec![
        case(
            "limits/topic-max-message-bytes",
            "a batch over the topic's max.message.bytes (1000), one exactly at it, one record over it",
            vec![
                Step::CreateTopic(CreateTopic::new(0, 1).config("max.message.bytes", "1000")),
                produce(0, 0, RawBatch::of(vec![Rec::value(&"x".repeat(1000))])),
                produce(0, 0, RawBatch::of(vec![Rec::value(&"x".repeat(931))])),
                produce(0, 0, RawBatch::of(vec![Rec::value(&"x".repeat(932))])),
                produce(0, 0, RawBatch::of(vec![Rec::value(&"y".repeat(400)), Rec::value(&"y".repeat(600))])),
                fetch_all(0, 0),
            ],
        ),
        case(
            "timestamps/too-far-ahead",
            "a batch 2 h ahead of the broker's clock (message.timestamp.after.max.ms is 1 h)",
            vec![create(0, 1), produce(0, 0, at(2 * hour)), produce(0, 0, at(hour / 2)), fetch_all(0, 0)],
        ),
        case(
            "timestamps/one-record-too-far-ahead",
            "only the second record of three is 2 h ahead",
            vec![
                create(0, 1),
                produce(
                    0,
                    0,
                    batch_with(|b| {
                        b.base_timestamp = Ts::Rel(-1_000);
                        b.records[1].timestamp_delta = 2 * hour;
                    }),
                ),
                fetch_all(0, 0),
            ],
        ),
        case(
            "timestamps/far-in-the-past",
            "a batch from 2001 and one at timestamp 0",
            vec![
                create(0, 1),
                produce(0, 0, batch_with(|b| b.base_timestamp = Ts::Absolute(1_000_000_000_000))),
                produce(0, 0, batch_with(|b| b.base_timestamp = Ts::Absolute(0))),
                fetch_all(0, 0),
            ],
        ),
        case(
            "timestamps/negative",
            "base timestamp -5 (only -1, no timestamp, is allowed below 0)",
            vec![
                create(0, 1),
                produce(0, 0, batch_with(|b| b.base_timestamp = Ts::Absolute(-5))),
                produce(0, 0, batch_with(|b| b.base_timestamp = Ts::Absolute(-1))),
                fetch_all(0, 0),
            ],
        ),
        case(
            "timestamps/max-timestamp-field-wrong",
            "the header's max timestamp names no record's timestamp",
            vec![
                create(0, 1),
                produce(0, 0, batch_with(|b| b.max_timestamp = Some(Ts::Rel(-1)))),
                fetch_all(0, 0),
                list(0, 0, At::MaxTimestamp),
            ],
        ),
        case(
            "timestamps/log-append-time-topic",
            "message.timestamp.type=LogAppendTime: the broker stamps its clock",
            vec![
                Step::CreateTopic(
                    CreateTopic::new(0, 1).config("message.timestamp.type", "LogAppendTime"),
                ),
                produce(0, 0, RawBatch::values(2)),
                Step::Sleep(20),
                Step::Produce(Produce::one(0, 0, RawBatch::values(1)).version(3)),
                fetch_all(0, 0),
                list(0, 0, At::MaxTimestamp),
            ],
        ),
    ]
}

fn acks_and_pipelining() -> Vec<Case> {
    let seq = |i: i32| Produce::one(0, 0, idem(0, 0, i, 1));
    vec![
        case(
            "acks/zero-one-all",
            "acks 0 (no answer), 1 and -1 all append",
            vec![
                create(0, 1),
                Step::Produce(Produce::one(0, 0, RawBatch::values(1)).acks(0)),
                Step::Produce(Produce::one(0, 0, RawBatch::values(1)).acks(1)),
                Step::Produce(Produce::one(0, 0, RawBatch::values(1)).acks(-1)),
                fetch_all(0, 0),
            ],
        ),
        case(
            "acks/invalid-value",
            "acks=2 is INVALID_REQUIRED_ACKS",
            vec![
                create(0, 1),
                Step::Produce(Produce::one(0, 0, RawBatch::values(1)).acks(2)),
                list(0, 0, At::Latest),
            ],
        ),
        case(
            "acks/idempotent-with-acks-1",
            "an idempotent batch with acks=1",
            vec![
                create(0, 1),
                init(0),
                Step::Produce(Produce::one(0, 0, idem(0, 0, 0, 1)).acks(1)),
                list(0, 0, At::Latest),
            ],
        ),
        case(
            "pipelining/five-in-flight",
            "five idempotent requests on one connection before any answer",
            vec![
                create(0, 1),
                init(0),
                Step::Pipelined((0..5).map(seq).collect()),
                fetch_all(0, 0),
            ],
        ),
        case(
            "pipelining/a-gap-in-flight",
            "the third of five in-flight requests skips a sequence",
            vec![
                create(0, 1),
                init(0),
                Step::Pipelined(vec![seq(0), seq(1), seq(3), seq(2), seq(3)]),
                fetch_all(0, 0),
            ],
        ),
        case(
            "pipelining/versions-mixed",
            "Produce v3, v7, v9 and v12 pipelined",
            vec![
                create(0, 1),
                Step::Pipelined(
                    [3, 7, 9, 12]
                        .into_iter()
                        .map(|v| Produce::one(0, 0, RawBatch::values(1)).version(v))
                        .collect(),
                ),
                fetch_all(0, 0),
            ],
        ),
    ]
}

fn consume_side() -> Vec<Case> {
    let three_batches = vec![
        create(0, 1),
        produce(0, 0, batch_with(|b| b.base_timestamp = Ts::Rel(-30_000))),
        produce(0, 0, batch_with(|b| b.base_timestamp = Ts::Rel(-20_000))),
        produce(0, 0, batch_with(|b| b.base_timestamp = Ts::Rel(-25_000))),
    ];
    let fetch = |offset: i64, max_bytes: i32| Step::Fetch {
        t: 0,
        partition: 0,
        offset,
        max_bytes,
        version: 11,
    };
    vec![
        case(
            "fetch/from-inside-a-batch",
            "offset 4 of a log of three 3-record batches: the whole batch holding it",
            with(three_batches.clone(), vec![fetch(4, 1 << 20)]),
        ),
        case(
            "fetch/max-bytes-smaller-than-a-batch",
            "max_bytes 10: the first batch still comes whole",
            with(three_batches.clone(), vec![fetch(0, 10), fetch(3, 150)]),
        ),
        case(
            "fetch/at-and-past-the-end",
            "at the high watermark (empty), past it (OFFSET_OUT_OF_RANGE), negative",
            with(
                three_batches.clone(),
                vec![fetch(9, 1 << 20), fetch(12, 1 << 20), fetch(-3, 1 << 20)],
            ),
        ),
        case(
            "fetch/versions",
            "the same read at Fetch v4, v7 and v11",
            with(
                three_batches.clone(),
                [4, 7, 11]
                    .into_iter()
                    .map(|v| Step::Fetch {
                        t: 0,
                        partition: 0,
                        offset: 0,
                        max_bytes: 1 << 20,
                        version: v,
                    })
                    .collect(),
            ),
        ),
        case(
            "fetch/unknown-topic-and-partition",
            "Fetch of a topic never created and of partition 9",
            vec![
                create(0, 1),
                Step::Fetch {
                    t: 1,
                    partition: 0,
                    offset: 0,
                    max_bytes: 1000,
                    version: 11,
                },
                Step::Fetch {
                    t: 0,
                    partition: 9,
                    offset: 0,
                    max_bytes: 1000,
                    version: 11,
                },
            ],
        ),
        case(
            "list-offsets/earliest-latest-max-timestamp",
            "on an empty partition and after three batches (timestamps out of order)",
            with(
                vec![
                    create(0, 1),
                    list(0, 0, At::Earliest),
                    list(0, 0, At::Latest),
                    list(0, 0, At::MaxTimestamp),
                ],
                with(
                    three_batches[1..].to_vec(),
                    vec![
                        list(0, 0, At::Earliest),
                        list(0, 0, At::Latest),
                        list(0, 0, At::MaxTimestamp),
                    ],
                ),
            ),
        ),
        case(
            "list-offsets/by-timestamp",
            "the first offset whose timestamp is at or after a time; after every record: -1",
            with(
                three_batches.clone(),
                [-40_000, -27_000, -24_000, -20_000, -10_000]
                    .into_iter()
                    .map(|t| list(0, 0, At::Time(t)))
                    .collect(),
            ),
        ),
        case(
            "list-offsets/versions-and-unknown",
            "ListOffsets v1 and v5; an unknown topic and partition",
            vec![
                create(0, 1),
                produce(0, 0, RawBatch::values(2)),
                Step::ListOffsets {
                    t: 0,
                    partition: 0,
                    at: At::Latest,
                    version: 1,
                },
                Step::ListOffsets {
                    t: 0,
                    partition: 0,
                    at: At::Latest,
                    version: 5,
                },
                Step::ListOffsets {
                    t: 1,
                    partition: 0,
                    at: At::Latest,
                    version: 7,
                },
                Step::ListOffsets {
                    t: 0,
                    partition: 4,
                    at: At::Latest,
                    version: 7,
                },
            ],
        ),
    ]
}

fn admin() -> Vec<Case> {
    let meta = |topics: Vec<Topic>, version: i16, auto_create: bool| Step::Metadata {
        topics,
        version,
        auto_create,
    };
    vec![
        case(
            "metadata/versions",
            "a created topic at Metadata v1, v4, v9 and v12",
            with(
                vec![create(0, 3)],
                [1, 4, 9, 12]
                    .into_iter()
                    .map(|v| meta(vec![Topic::Case(0)], v, false))
                    .collect(),
            ),
        ),
        case(
            "metadata/unknown-and-invalid-topics",
            "an unknown topic without auto-creation, and a name Kafka refuses",
            vec![meta(vec![Topic::Case(0), Topic::Named("bad name!")], 9, false)],
        ),
        case(
            "metadata/auto-creation",
            "an unknown topic with allow_auto_topic_creation: created in the background",
            vec![
                meta(vec![Topic::Case(0)], 9, true),
                Step::AwaitTopic(0),
                meta(vec![Topic::Case(0)], 9, false),
                meta(vec![Topic::Case(1)], 3, false),
                Step::AwaitTopic(1),
                meta(vec![Topic::Case(1)], 9, false),
            ],
        ),
        case(
            "create-topics/errors",
            "twice the same name, 0 partitions, replication 0 and 2 on one broker, a bad name, an unknown config",
            vec![
                create(0, 2),
                create(0, 2),
                create(1, 0),
                Step::CreateTopic(CreateTopic { replication: 0, ..CreateTopic::new(2, 1) }),
                Step::CreateTopic(CreateTopic { replication: 2, ..CreateTopic::new(3, 1) }),
                Step::CreateTopic(CreateTopic { topic: Topic::Named("bad name!"), ..CreateTopic::new(0, 1) }),
                Step::CreateTopic(CreateTopic::new(4, 1).config("no.such.config", "1")),
            ],
        ),
        case(
            "create-topics/defaults-and-validate-only",
            "partitions and replication -1 (the broker's defaults), validate_only",
            vec![
                Step::CreateTopic(CreateTopic { partitions: -1, replication: -1, ..CreateTopic::new(0, 1) }),
                Step::CreateTopic(CreateTopic { validate_only: true, ..CreateTopic::new(1, 2) }),
                meta(vec![Topic::Case(0), Topic::Case(1)], 9, false),
            ],
        ),
        case(
            "api-versions/v0-and-v3",
            "what the broker advertises",
            vec![Step::ApiVersions { version: 3 }, Step::ApiVersions { version: 0 }],
        ),
    ]
}

fn groups() -> Vec<Case> {
    use GroupStep::*;
    let g = Step::Group;
    vec![
        case(
            "groups/one-member-lifecycle",
            "find, join (member id required first), sync, heartbeat, commit, fetch, leave, heartbeat after",
            vec![
                create(0, 1),
                g(FindCoordinator { g: 0, version: 3 }),
                g(JoinGroup { g: 0, m: 0, version: 5 }),
                g(JoinGroup { g: 0, m: 0, version: 5 }),
                g(SyncGroup { g: 0, m: 0, version: 3, assignment: true }),
                g(Heartbeat { g: 0, m: 0, version: 3, generation: None }),
                g(OffsetCommit { g: 0, m: Some(0), version: 7, t: 0, partition: 0, offset: 42 }),
                g(OffsetFetch { g: 0, version: 5, t: 0, partition: 0 }),
                g(LeaveGroup { g: 0, m: 0, version: 3 }),
                g(Heartbeat { g: 0, m: 0, version: 3, generation: None }),
            ],
        ),
        case(
            "groups/old-join-version",
            "JoinGroup v3 needs no member id round trip",
            vec![
                g(FindCoordinator { g: 0, version: 3 }),
                g(JoinGroup { g: 0, m: 0, version: 3 }),
                g(SyncGroup { g: 0, m: 0, version: 2, assignment: true }),
                g(Heartbeat { g: 0, m: 0, version: 2, generation: Some(99) }),
                g(LeaveGroup { g: 0, m: 0, version: 1 }),
            ],
        ),
        case(
            "groups/simple-consumer-offsets",
            "commit with no member and generation -1, fetch it back, fetch an unknown group",
            vec![
                create(0, 1),
                g(FindCoordinator { g: 0, version: 3 }),
                g(FindCoordinator { g: 1, version: 3 }),
                g(OffsetFetch { g: 0, version: 5, t: 0, partition: 0 }),
                g(OffsetCommit { g: 0, m: None, version: 2, t: 0, partition: 0, offset: 7 }),
                g(OffsetFetch { g: 0, version: 1, t: 0, partition: 0 }),
                g(OffsetFetch { g: 1, version: 5, t: 0, partition: 0 }),
            ],
        ),
        case(
            "groups/unknown-member",
            "heartbeat, sync and commit by a member the group does not know",
            vec![
                create(0, 1),
                g(FindCoordinator { g: 0, version: 3 }),
                g(Heartbeat { g: 0, m: 3, version: 3, generation: Some(1) }),
                g(SyncGroup { g: 0, m: 3, version: 3, assignment: false }),
                g(OffsetCommit { g: 0, m: Some(3), version: 7, t: 0, partition: 0, offset: 1 }),
            ],
        ),
    ]
}

fn after_restart() -> Vec<Case> {
    let steps = |restart: Step| {
        vec![
            create(0, 1),
            init(0),
            produce(0, 0, idem(0, 0, 0, 2)),
            produce(0, 0, idem(0, 0, 2, 2)),
            produce(0, 0, idem(0, 0, 4, 2)),
            restart,
            produce(0, 0, idem(0, 0, 4, 2)),
            produce(0, 0, idem(0, 0, 2, 2)),
            produce(0, 0, idem(0, 0, 6, 1)),
            produce(0, 0, idem(0, 0, 4, 2)),
            fetch_all(0, 0),
            list(0, 0, At::Latest),
        ]
    };
    vec![
        case(
            "restart/dedup-window-after-a-clean-restart",
            "three batches, a clean restart, then retries of the last and of an older batch, and the next",
            steps(Step::Restart),
        ),
        case(
            "restart/dedup-window-after-kill-9",
            "three batches, kill -9 and a start, then retries of the last and of an older batch, and the next",
            steps(Step::KillAndRestart),
        ),
    ]
}

/// Every codec a case sends, with the name it goes by in case names.
const CODECS: [(&str, Codec); 5] = [
    ("gzip", Codec::Gzip),
    ("snappy-xerial", Codec::Snappy),
    ("snappy-raw", Codec::SnappyRaw),
    ("lz4", LZ4),
    ("zstd", Codec::Zstd),
];

/// Three records with keys, values and a header, compressed with `codec`.
fn packed(codec: Codec) -> RawBatch {
    let mut b = RawBatch::of(
        (0..3)
            .map(|i| Rec::value(&format!("v{i}-{}", "x".repeat(40))).key(&format!("k{i}")))
            .collect(),
    );
    b.records[1].headers = vec![(b"h".to_vec(), Some(b"1".to_vec())), (b"h".to_vec(), None)];
    b.records[2].timestamp_delta = 7;
    b.compressed(codec)
}

fn create_with(t: usize, configs: &[(&'static str, &'static str)]) -> Step {
    let mut c = CreateTopic::new(t, 1);
    for (k, v) in configs {
        c = c.config(k, v);
    }
    Step::CreateTopic(c)
}

/// Compressed batches: each codec accepted and read back, Kafka's rules for
/// what it decompresses, and when the broker keeps a batch as sent or
/// rebuilds it (topic `compression.type`, inner offsets).
fn compression() -> Vec<Case> {
    let mut cases = Vec::new();
    for (name, codec) in CODECS {
        cases.push(case(
            &format!("compression/{name}-accepted"),
            "a compressed batch of 3 records, then an uncompressed one, read back",
            with(
                vec![
                    create(0, 1),
                    produce(0, 0, packed(codec)),
                    produce(0, 0, RawBatch::values(2)),
                ],
                read_back(0, 0),
            ),
        ));
        cases.push(case(
            &format!("compression/{name}-corrupt"),
            "a truncated payload, garbage for a payload, a payload with its last byte flipped (CRC correct)",
            vec![
                create(0, 1),
                produce(0, 0, RawBatch { damage: Some(Damage::Truncated), ..packed(codec) }),
                produce(0, 0, RawBatch { damage: Some(Damage::Replaced(b"not compressed at all".to_vec())), ..packed(codec) }),
                produce(0, 0, RawBatch { damage: Some(Damage::LastByteFlipped), ..packed(codec) }),
                fetch_all(0, 0),
                list(0, 0, At::Latest),
            ],
        ));
    }
    let lz4 = |f: Lz4Frame| Codec::Lz4(f);
    let plain = Lz4Frame::default();
    cases.extend([
        case(
            "compression/lz4-frame-options",
            "LZ4 frames with block checksums, a content checksum (then a wrong one), a content size, linked blocks",
            vec![
                create(0, 1),
                produce(0, 0, packed(lz4(Lz4Frame { block_checksums: true, ..plain }))),
                produce(0, 0, packed(lz4(Lz4Frame { content_checksum: true, ..plain }))),
                produce(0, 0, RawBatch {
                    damage: Some(Damage::LastByteFlipped),
                    ..packed(lz4(Lz4Frame { content_checksum: true, ..plain }))
                }),
                produce(0, 0, packed(lz4(Lz4Frame { content_size: true, ..plain }))),
                produce(0, 0, packed(lz4(Lz4Frame { linked: true, ..plain }))),
                fetch_all(0, 0),
            ],
        ),
        case(
            "compression/zstd-needs-produce-v7",
            "zstd at Produce v3 and v6 (refused before the log), v7; Fetch v4 and v11 of a producer-compression topic",
            vec![
                create(0, 1),
                Step::Produce(Produce::one(0, 0, packed(Codec::Zstd)).version(3)),
                Step::Produce(Produce::one(0, 0, packed(Codec::Zstd)).version(6)),
                Step::Produce(Produce::one(0, 0, packed(Codec::Zstd)).version(7)),
                Step::Produce(Produce::one(0, 0, packed(Codec::Gzip)).version(3)),
                Step::Fetch { t: 0, partition: 0, offset: 0, max_bytes: 1 << 20, version: 4 },
                fetch_all(0, 0),
            ],
        ),
        case(
            "compression/zstd-topic-and-old-fetch",
            "compression.type=zstd: an uncompressed batch stored as zstd; Fetch v4 and v9 refused, v10 and v11 read",
            with(
                vec![
                    create_with(0, &[("compression.type", "zstd")]),
                    Step::Produce(Produce::one(0, 0, RawBatch::values(2)).version(3)),
                ],
                [4, 9, 10, 11]
                    .into_iter()
                    .map(|v| Step::Fetch { t: 0, partition: 0, offset: 0, max_bytes: 1 << 20, version: v })
                    .collect(),
            ),
        ),
        case(
            "compression/record-count-mismatch",
            "gzip: count and lastOffsetDelta say 4 (3 records inside), then 2 (3 inside)",
            vec![
                create(0, 1),
                produce(0, 0, RawBatch { count: Some(4), last_offset_delta: Some(3), ..packed(Codec::Gzip) }),
                produce(0, 0, RawBatch { count: Some(2), last_offset_delta: Some(1), ..packed(Codec::Gzip) }),
                produce(0, 0, RawBatch { count: Some(4), ..packed(Codec::Gzip) }),
                fetch_all(0, 0),
                list(0, 0, At::Latest),
            ],
        ),
        case(
            "compression/offset-deltas-not-consecutive",
            "gzip batches with inner offset deltas 0,2,4 / 1,2,3 / 0,0,0 on a producer topic (kept codec)",
            with(
                vec![create(0, 1)]
                    .into_iter()
                    .chain([[0, 2, 4], [1, 2, 3], [0, 0, 0]].into_iter().map(|deltas| {
                        produce(0, 0, gapped(packed(Codec::Gzip), deltas))
                    }))
                    .collect(),
                read_back(0, 0),
            ),
        ),
        case(
            "compression/offset-deltas-not-consecutive-recompressed",
            "compression.type=gzip: snappy and uncompressed batches with inner offset deltas 0,2,4 rebuilt as gzip",
            with(
                vec![
                    create_with(0, &[("compression.type", "gzip")]),
                    produce(0, 0, gapped(packed(Codec::Snappy), [0, 2, 4])),
                    produce(0, 0, gapped(packed(Codec::None), [1, 2, 3])),
                    produce(0, 0, gapped(packed(Codec::Gzip), [0, 2, 4])),
                ],
                read_back(0, 0),
            ),
        ),
        case(
            "compression/topic-gzip-recompresses",
            "compression.type=gzip: snappy, lz4 and uncompressed batches stored as gzip, a gzip batch kept",
            with(
                vec![
                    create_with(0, &[("compression.type", "gzip")]),
                    produce(0, 0, packed(Codec::Snappy)),
                    produce(0, 0, packed(LZ4)),
                    produce(0, 0, RawBatch::values(2)),
                    produce(0, 0, packed(Codec::Gzip)),
                ],
                read_back(0, 0),
            ),
        ),
        case(
            "compression/topic-uncompressed-decompresses",
            "compression.type=uncompressed: zstd and snappy batches stored uncompressed",
            with(
                vec![
                    create_with(0, &[("compression.type", "uncompressed")]),
                    produce(0, 0, packed(Codec::Zstd)),
                    produce(0, 0, packed(Codec::SnappyRaw)),
                ],
                read_back(0, 0),
            ),
        ),
        case(
            "compression/topic-producer-keeps",
            "compression.type=producer (explicit): each batch kept in its codec",
            with(
                vec![
                    create_with(0, &[("compression.type", "producer")]),
                    produce(0, 0, packed(Codec::Snappy)),
                    produce(0, 0, packed(LZ4)),
                    produce(0, 0, packed(Codec::Zstd)),
                ],
                read_back(0, 0),
            ),
        ),
        case(
            "compression/topic-configs",
            "compression.type values and levels Kafka refuses and accepts",
            vec![
                create_with(0, &[("compression.type", "brotli")]),
                create_with(1, &[("compression.type", "none")]),
                create_with(2, &[("compression.gzip.level", "10")]),
                create_with(3, &[("compression.lz4.level", "17"), ("compression.zstd.level", "-5"), ("compression.gzip.level", "-1")]),
                create_with(4, &[("max.decompressed.message.bytes", "-1")]),
            ],
        ),
        case(
            "compression/log-append-time",
            "message.timestamp.type=LogAppendTime: a gzip batch kept, a snappy batch rebuilt on a gzip topic",
            vec![
                create_with(0, &[("message.timestamp.type", "LogAppendTime")]),
                create_with(1, &[("message.timestamp.type", "LogAppendTime"), ("compression.type", "gzip")]),
                produce(0, 0, packed(Codec::Gzip)),
                produce(1, 0, packed(Codec::Snappy)),
                fetch_all(0, 0),
                fetch_all(1, 0),
                list(0, 0, At::MaxTimestamp),
                list(1, 0, At::MaxTimestamp),
            ],
        ),
        case(
            "compression/log-append-time-bit-from-a-client",
            "a gzip batch with the LogAppendTime bit and a max timestamp of its own, kept and rebuilt",
            vec![
                create(0, 1),
                produce(0, 0, {
                    let mut b = packed(Codec::Gzip);
                    b.attributes = 0x08;
                    b.max_timestamp = Some(Ts::Rel(-30_000));
                    b
                }),
                produce(0, 0, {
                    let mut b = packed(Codec::Gzip);
                    b.attributes = 0x08;
                    b.max_timestamp = Some(Ts::Rel(-30_000));
                    b.records[1].offset_delta = Some(5);
                    b
                }),
                fetch_all(0, 0),
                list(0, 0, At::MaxTimestamp),
            ],
        ),
        case(
            "compression/idempotent-retry",
            "an idempotent gzip batch, its retry (a duplicate), the retry recompressed as lz4 (a duplicate too), the next batch",
            vec![
                create(0, 1),
                init(0),
                produce(0, 0, idem(0, 0, 0, 3).compressed(Codec::Gzip)),
                produce(0, 0, idem(0, 0, 0, 3).compressed(Codec::Gzip)),
                produce(0, 0, idem(0, 0, 0, 3).compressed(LZ4)),
                produce(0, 0, idem(0, 0, 3, 2).compressed(Codec::Zstd)),
                produce(0, 0, idem(0, 0, 9, 1).compressed(Codec::Snappy)),
                fetch_all(0, 0),
            ],
        ),
        case(
            "compression/max-message-bytes",
            "max.message.bytes=1000 counts the compressed batch as sent: 5000 compressible bytes pass, 1500 incompressible do not",
            vec![
                create_with(0, &[("max.message.bytes", "1000")]),
                produce(0, 0, RawBatch::of(vec![Rec::value(&"z".repeat(5000))]).compressed(Codec::Gzip)),
                produce(0, 0, RawBatch::of(vec![Rec::value(&noise(1500))]).compressed(Codec::Gzip)),
                produce(0, 0, RawBatch::of(vec![Rec::value(&"z".repeat(5000))]).compressed(Codec::Zstd)),
                fetch_all(0, 0),
            ],
        ),
        case(
            "compression/max-message-bytes-after-recompression",
            "max.message.bytes=1000 and compression.type=uncompressed: a gzip batch of 5000 bytes does not fit once stored",
            vec![
                create_with(0, &[("max.message.bytes", "1000"), ("compression.type", "uncompressed")]),
                produce(0, 0, RawBatch::of(vec![Rec::value(&"z".repeat(5000))]).compressed(Codec::Gzip)),
                produce(0, 0, RawBatch::of(vec![Rec::value(&"z".repeat(500))]).compressed(Codec::Gzip)),
                fetch_all(0, 0),
                list(0, 0, At::Latest),
            ],
        ),
        case(
            "compression/max-decompressed-message-bytes",
            "max.decompressed.message.bytes=300: a compressed record of 500 bytes refused, uncompressed accepted",
            vec![
                create_with(0, &[("max.decompressed.message.bytes", "300")]),
                produce(0, 0, RawBatch::of(vec![Rec::value("a"), Rec::value(&"y".repeat(500))]).compressed(Codec::Gzip)),
                produce(0, 0, RawBatch::of(vec![Rec::value("a"), Rec::value(&"y".repeat(500))])),
                produce(0, 0, RawBatch::of(vec![Rec::value(&"y".repeat(200))]).compressed(Codec::Snappy)),
                fetch_all(0, 0),
            ],
        ),
        case(
            "compression/record-rules",
            "inside a gzip batch: a null key on a compacted topic, a record 2 h ahead, bytes after the last record, a CRC mismatch",
            vec![
                create_with(0, &[("cleanup.policy", "compact")]),
                create(1, 1),
                produce(0, 0, RawBatch::of(vec![Rec::value("a").key("k"), Rec::value("b")]).compressed(Codec::Gzip)),
                produce(1, 0, {
                    let mut b = packed(Codec::Gzip);
                    b.records[1].timestamp_delta = 2 * 3_600_000;
                    b
                }),
                produce(1, 0, RawBatch { trailing: vec![0, 0, 0, 0], ..packed(Codec::Gzip) }),
                produce(1, 0, RawBatch { bad_crc: true, ..packed(Codec::Gzip) }),
                fetch_all(1, 0),
            ],
        ),
        case(
            "compression/negative-timestamp",
            "records at timestamp -5: a gzip batch kept; snappy and uncompressed batches rebuilt on a gzip topic",
            vec![
                create(0, 1),
                create_with(1, &[("compression.type", "gzip")]),
                produce(0, 0, RawBatch { base_timestamp: Ts::Absolute(-5), ..packed(Codec::Gzip) }),
                produce(1, 0, RawBatch { base_timestamp: Ts::Absolute(-5), ..packed(Codec::Snappy) }),
                produce(1, 0, RawBatch { base_timestamp: Ts::Absolute(-5), ..packed(Codec::None) }),
                produce(1, 0, RawBatch { base_timestamp: Ts::Absolute(-1), ..packed(Codec::None) }),
                fetch_all(0, 0),
                fetch_all(1, 0),
            ],
        ),
    ]);
    cases
}

/// `b` with these inner offset deltas.
fn gapped(mut b: RawBatch, deltas: [i64; 3]) -> RawBatch {
    for (r, d) in b.records.iter_mut().zip(deltas) {
        r.offset_delta = Some(d);
    }
    b
}

/// `n` characters a compressor cannot shrink (a fixed pseudo-random walk).
fn noise(n: usize) -> String {
    let mut x = 0x2545_f491_u32;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            char::from(b'!' + (x % 90) as u8)
        })
        .collect()
}
