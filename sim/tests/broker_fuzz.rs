//! The simulated broker survives arbitrary bytes: every frame gets a reply that
//! is a well-formed response, or the connection is closed. Never a panic, never
//! an abort.

use bytes::{BufMut, Bytes, BytesMut};
use proptest::prelude::*;
use sim::broker::{handle_frame, Reply};
use sim::cluster::{Cluster, ClusterSpec, TopicSpec};
use std::time::Duration;

fn cluster() -> Cluster {
    Cluster::new(
        ClusterSpec {
            brokers: 3,
            topics: vec![TopicSpec {
                name: "events".into(),
                partitions: 3,
                replication: 3,
            }],
            max_message_bytes: 1_048_588,
            failover_delay: Duration::from_millis(100),
            broker_version: Default::default(),
        },
        |id| (format!("broker-{id}"), 9092),
    )
}

fn check(reply: Reply) -> Result<(), TestCaseError> {
    match reply {
        Reply::Respond(frame) | Reply::Hold(frame) => {
            prop_assert!(
                frame.len() >= 8,
                "response frame has a size prefix and correlation id"
            );
            let len = i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]);
            prop_assert_eq!(len as usize, frame.len() - 4);
        }
        Reply::Silent | Reply::Close(_) | Reply::Wait { .. } => {}
    }
    Ok(())
}

/// A frame whose header names a supported API and version, then random bytes:
/// this reaches the body decoders, where oversized length prefixes live.
fn plausible_frame() -> impl Strategy<Value = Bytes> {
    (
        prop::sample::select(
            sim::broker::SUPPORTED
                .iter()
                .map(|(api, lo, hi)| (*api as i16, *lo, *hi))
                .collect::<Vec<_>>(),
        ),
        any::<u16>(),
        any::<i32>(),
        prop::collection::vec(any::<u8>(), 0..300),
    )
        .prop_map(|((api, lo, hi), v, corr, rest)| {
            let version = lo + (v as i16).rem_euclid(hi - lo + 1);
            let mut b = BytesMut::new();
            b.put_i16(api);
            b.put_i16(version);
            b.put_i32(corr);
            b.put_i16(3);
            b.put_slice(b"fuz");
            b.put_slice(&rest);
            b.freeze()
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_frames_get_a_response_or_a_close(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let mut c = cluster();
        check(handle_frame(&mut c, 0, Bytes::from(bytes), Duration::ZERO))?;
    }

    #[test]
    fn random_bodies_behind_valid_headers_never_crash(frame in plausible_frame()) {
        let mut c = cluster();
        check(handle_frame(&mut c, 0, frame, Duration::ZERO))?;
    }
}

#[test]
fn huge_array_count_in_a_produce_request_is_refused_not_allocated() {
    let mut b = BytesMut::new();
    b.put_i16(0); // Produce
    b.put_i16(3);
    b.put_i32(1);
    b.put_i16(-1); // null client id
    b.put_i16(-1); // null transactional id
    b.put_i16(-1); // acks
    b.put_i32(1000);
    b.put_i32(i32::MAX); // topics
    let mut c = cluster();
    assert!(matches!(
        handle_frame(&mut c, 0, b.freeze(), Duration::ZERO),
        Reply::Close(_)
    ));
}
