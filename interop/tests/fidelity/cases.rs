//! Hand-written cases: one or more for every rule of the broker's produce path
//! (dedup window and its answers, sequence and epoch rules, validation,
//! size limits, timestamps, attributes, acks, pipelining) and for the other
//! APIs clients use (Fetch, ListOffsets, Metadata, CreateTopics,
//! InitProducerId, ApiVersions, the classic group protocol).

use super::batch::{RawBatch, Rec, Stamp, Ts};
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
