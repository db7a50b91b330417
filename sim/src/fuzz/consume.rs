//! Valid requests of the consume, admin and group APIs, encoded with
//! `kafka-protocol` at a random supported version (flexible ones included), so
//! the one-field mutations of [`super::Inputs::request`] reach their walkers
//! in [`crate::validate`] and their handlers.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic, ForgottenTopic};
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Encodable, HeaderVersion, StrBytes};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// The APIs generated here (the producer's are built by hand in `super`).
pub const APIS: [ApiKey; 10] = [
    ApiKey::Fetch,
    ApiKey::ListOffsets,
    ApiKey::CreateTopics,
    ApiKey::FindCoordinator,
    ApiKey::JoinGroup,
    ApiKey::SyncGroup,
    ApiKey::Heartbeat,
    ApiKey::LeaveGroup,
    ApiKey::OffsetCommit,
    ApiKey::OffsetFetch,
];

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn events() -> TopicName {
    TopicName(s("events"))
}

fn encode<R: Encodable + HeaderVersion>(api: ApiKey, v: i16, corr: i32, req: R) -> Vec<u8> {
    let header = RequestHeader::default()
        .with_request_api_key(api as i16)
        .with_request_api_version(v)
        .with_correlation_id(corr)
        .with_client_id(Some(s("consumer-0")));
    let mut buf = BytesMut::new();
    header
        .encode(&mut buf, R::header_version(v))
        .expect("a valid header encodes");
    req.encode(&mut buf, v).expect("a valid request encodes");
    buf.to_vec()
}

/// A valid request frame body of one of [`APIS`], at a version the broker
/// advertises.
pub fn frame(rng: &mut ChaCha8Rng) -> Vec<u8> {
    let api = APIS[rng.gen_range(0..APIS.len())];
    let (_, lo, hi) = crate::broker::SUPPORTED
        .iter()
        .find(|(a, _, _)| *a == api)
        .copied()
        .expect("every generated API is supported");
    let v = rng.gen_range(lo..=hi);
    let corr = rng.gen();
    let part = rng.gen_range(0..6);
    let member = if rng.gen_bool(0.5) {
        ""
    } else {
        "consumer-0-1"
    };
    match api {
        ApiKey::Fetch => encode(api, v, corr, fetch_request(rng, v, part)),
        ApiKey::ListOffsets | ApiKey::CreateTopics => admin_frame(rng, api, v, corr, part),
        _ => group_frame(rng, (api, v, corr), part, member),
    }
}

/// ListOffsets (for `ApiKey::ListOffsets`) or CreateTopics (any other).
fn admin_frame(rng: &mut ChaCha8Rng, api: ApiKey, v: i16, corr: i32, part: i32) -> Vec<u8> {
    match api {
        ApiKey::ListOffsets => encode(
            api,
            v,
            corr,
            ListOffsetsRequest::default().with_topics(vec![ListOffsetsTopic::default()
                .with_name(events())
                .with_partitions(vec![ListOffsetsPartition::default()
                    .with_partition_index(part)
                    .with_timestamp(rng.gen_range(-3..2))])]),
        ),
        _ => encode(
            api,
            v,
            corr,
            CreateTopicsRequest::default().with_topics(vec![CreatableTopic::default()
                .with_name(TopicName(s(["t", "events", "a.b"][rng.gen_range(0..3)])))
                .with_num_partitions(rng.gen_range(-1..4))
                .with_replication_factor(rng.gen_range(-1..2))
                .with_configs(vec![CreatableTopicConfig::default()
                    .with_name(s("retention.ms"))
                    .with_value(Some(s("1000")))])]),
        ),
    }
}

/// A group coordinator request (FindCoordinator, Join/Sync/Heartbeat/Leave,
/// OffsetCommit/Fetch) of `member`.
fn group_frame(
    rng: &mut ChaCha8Rng,
    (api, v, corr): (ApiKey, i16, i32),
    part: i32,
    member: &str,
) -> Vec<u8> {
    let group = || GroupId(s("g"));
    match api {
        ApiKey::FindCoordinator => encode(
            api,
            v,
            corr,
            FindCoordinatorRequest::default().with_key(s("g")),
        ),
        ApiKey::JoinGroup => encode(
            api,
            v,
            corr,
            JoinGroupRequest::default()
                .with_group_id(group())
                .with_session_timeout_ms(10_000)
                .with_rebalance_timeout_ms(rng.gen_range(0..3))
                .with_member_id(s(member))
                .with_protocol_type(s("consumer"))
                .with_protocols(vec![JoinGroupRequestProtocol::default()
                    .with_name(s("range"))
                    .with_metadata(Bytes::from_static(b"\0\0\0\0\0\x01\0\x06events"))]),
        ),
        ApiKey::SyncGroup => encode(
            api,
            v,
            corr,
            SyncGroupRequest::default()
                .with_group_id(group())
                .with_generation_id(rng.gen_range(0..3))
                .with_member_id(s(member))
                .with_assignments(vec![SyncGroupRequestAssignment::default()
                    .with_member_id(s(member))
                    .with_assignment(Bytes::from_static(b"assignment"))]),
        ),
        ApiKey::Heartbeat => encode(
            api,
            v,
            corr,
            HeartbeatRequest::default()
                .with_group_id(group())
                .with_generation_id(rng.gen_range(0..3))
                .with_member_id(s(member)),
        ),
        ApiKey::LeaveGroup => {
            let req = LeaveGroupRequest::default().with_group_id(group());
            let req = if v >= 3 {
                req.with_members(vec![MemberIdentity::default().with_member_id(s(member))])
            } else {
                req.with_member_id(s(member))
            };
            encode(api, v, corr, req)
        }
        ApiKey::OffsetCommit => encode(
            api,
            v,
            corr,
            OffsetCommitRequest::default()
                .with_group_id(group())
                .with_generation_id_or_member_epoch(rng.gen_range(-1..3))
                .with_member_id(s(member))
                .with_topics(vec![OffsetCommitRequestTopic::default()
                    .with_name(events())
                    .with_partitions(vec![OffsetCommitRequestPartition::default()
                        .with_partition_index(part)
                        .with_committed_offset(rng.gen_range(0..10))
                        .with_committed_metadata(Some(s("m")))])]),
        ),
        _ => encode(
            api,
            v,
            corr,
            OffsetFetchRequest::default()
                .with_group_id(group())
                .with_topics(Some(vec![OffsetFetchRequestTopic::default()
                    .with_name(events())
                    .with_partition_indexes(vec![part])])),
        ),
    }
}

fn fetch_request(rng: &mut ChaCha8Rng, v: i16, part: i32) -> FetchRequest {
    let req = FetchRequest::default()
        .with_max_wait_ms(rng.gen_range(0..3))
        .with_min_bytes(rng.gen_range(0..2))
        .with_topics(vec![FetchTopic::default()
            .with_topic(events())
            .with_partitions(vec![FetchPartition::default()
                .with_partition(part)
                .with_fetch_offset(rng.gen_range(-1..3))
                .with_partition_max_bytes(rng.gen_range(0..2000))])]);
    if v < 7 {
        return req; // forgotten topics (fetch sessions) came with v7
    }
    req.with_forgotten_topics_data(vec![ForgottenTopic::default()
        .with_topic(events())
        .with_partitions(vec![1])])
}
