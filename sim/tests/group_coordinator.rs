//! The minimal group coordinator, through the pure `handle_frame`: a client
//! finds the coordinator, joins, syncs its assignment, heartbeats, commits and
//! fetches offsets; a second member makes the first rejoin (the rebalance
//! waits for both); leaving and crashing coordinators answer as Kafka does.

mod support;

use bytes::Bytes;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use sim::broker::group::coordinator;
use sim::broker::Reply;
use sim::cluster::Cluster;
use std::time::Duration;
use support::*;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn join_req(member: &str) -> JoinGroupRequest {
    JoinGroupRequest::default()
        .with_group_id(GroupId(s("g")))
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(5_000)
        .with_member_id(s(member))
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![JoinGroupRequestProtocol::default()
            .with_name(s("range"))
            .with_metadata(Bytes::from_static(b"meta"))])
}

fn join(c: &mut Cluster, v: i16, member: &str, now: Duration, received: Duration) -> Reply {
    call_at(c, 0, ApiKey::JoinGroup, v, &join_req(member), now, received)
}

/// The member id a new member joins with: JoinGroup v4+ without one is
/// answered MEMBER_ID_REQUIRED with an id (KIP-394, as Kafka 4.4 does);
/// before v4 the member joins with none.
fn new_member(c: &mut Cluster, v: i16, now: Duration) -> String {
    if v < 4 {
        return String::new();
    }
    let resp: JoinGroupResponse = decoded(join(c, v, "", now, now), v);
    assert_eq!(resp.error_code, 79, "MEMBER_ID_REQUIRED");
    assert!(!resp.member_id.is_empty());
    resp.member_id.to_string()
}

#[test]
fn a_new_member_is_given_its_id_first_from_join_group_v4() {
    let mut c = cluster(1);
    let id = new_member(&mut c, 4, ms(1));
    let resp: JoinGroupResponse = decoded(join(&mut c, 4, &id, ms(2), ms(2)), 4);
    assert_eq!((resp.error_code, resp.member_id.as_str()), (0, id.as_str()));
    assert_eq!(resp.generation_id, 1, "one rebalance, not two");
    let unknown: JoinGroupResponse = decoded(join(&mut c, 4, "made-up", ms(3), ms(3)), 4);
    assert_eq!(unknown.error_code, 25, "an id the coordinator never gave");
}

fn sync(c: &mut Cluster, v: i16, member: &str, generation: i32, leader: bool) -> Reply {
    let mut req = SyncGroupRequest::default()
        .with_group_id(GroupId(s("g")))
        .with_generation_id(generation)
        .with_member_id(s(member));
    if leader {
        req = req.with_assignments(vec![SyncGroupRequestAssignment::default()
            .with_member_id(s(member))
            .with_assignment(Bytes::from_static(b"all of events"))]);
    }
    call(c, 0, ApiKey::SyncGroup, v, &req, ms(10))
}

fn heartbeat(c: &mut Cluster, v: i16, member: &str, generation: i32, now: Duration) -> i16 {
    let req = HeartbeatRequest::default()
        .with_group_id(GroupId(s("g")))
        .with_generation_id(generation)
        .with_member_id(s(member));
    let resp: HeartbeatResponse = decoded(call(c, 0, ApiKey::Heartbeat, v, &req, now), v);
    resp.error_code
}

#[test]
fn find_coordinator_names_a_live_broker_and_moves_when_it_crashes() {
    for v in 0..=3 {
        let mut c = cluster(3);
        let req = FindCoordinatorRequest::default().with_key(s("g"));
        let resp: FindCoordinatorResponse =
            decoded(call(&mut c, 0, ApiKey::FindCoordinator, v, &req, ms(1)), v);
        let first = coordinator(&c, "g").unwrap();
        assert_eq!((resp.error_code, resp.node_id.0), (0, first), "v{v}");
        assert_eq!(resp.host.as_str(), format!("broker-{first}"));
        c.crash(first, ms(2));
        let live = if first == 0 { 1 } else { 0 };
        let resp: FindCoordinatorResponse = decoded(
            call(&mut c, live, ApiKey::FindCoordinator, v, &req, ms(3)),
            v,
        );
        assert_eq!(resp.error_code, 0);
        assert_ne!(
            resp.node_id.0, first,
            "v{v}: a crashed broker coordinates nothing"
        );
    }
}

#[test]
fn one_member_joins_syncs_heartbeats_and_leaves_in_every_version() {
    for v in 0..=3 {
        let mut c = cluster(1);
        let jv = v + 2; // JoinGroup v2..=5 with SyncGroup/Heartbeat/LeaveGroup v0..=3
        let id = new_member(&mut c, jv, ms(1));
        let resp: JoinGroupResponse = decoded(join(&mut c, jv, &id, ms(1), ms(1)), jv);
        assert_eq!(resp.error_code, 0);
        let me = resp.member_id.to_string();
        assert_eq!(resp.leader.as_str(), me, "the only member leads");
        assert_eq!(resp.generation_id, 1);
        assert_eq!(resp.members.len(), 1);
        assert_eq!(resp.members[0].metadata.as_ref(), b"meta");
        let resp: SyncGroupResponse = decoded(sync(&mut c, v, &me, 1, true), v);
        assert_eq!(
            (resp.error_code, resp.assignment.as_ref()),
            (0, &b"all of events"[..])
        );
        assert_eq!(heartbeat(&mut c, v, &me, 1, ms(20)), 0);
        assert_eq!(
            heartbeat(&mut c, v, &me, 0, ms(20)),
            22,
            "ILLEGAL_GENERATION"
        );
        assert_eq!(
            heartbeat(&mut c, v, "stranger", 1, ms(20)),
            25,
            "UNKNOWN_MEMBER_ID"
        );
        let leave = if v >= 3 {
            LeaveGroupRequest::default()
                .with_group_id(GroupId(s("g")))
                .with_members(vec![
                    leave_group_request::MemberIdentity::default().with_member_id(s(&me))
                ])
        } else {
            LeaveGroupRequest::default()
                .with_group_id(GroupId(s("g")))
                .with_member_id(s(&me))
        };
        let resp: LeaveGroupResponse =
            decoded(call(&mut c, 0, ApiKey::LeaveGroup, v, &leave, ms(30)), v);
        assert_eq!(resp.error_code, 0);
        assert_eq!(
            heartbeat(&mut c, v, &me, 1, ms(40)),
            25,
            "gone after leaving"
        );
    }
}

#[test]
fn a_second_member_makes_the_first_rejoin_and_both_are_answered_together() {
    let v = 5;
    let mut c = cluster(1);
    let a = new_member(&mut c, v, ms(1));
    let first: JoinGroupResponse = decoded(join(&mut c, v, &a, ms(1), ms(1)), v);
    assert_eq!(first.member_id.as_str(), a);
    decoded::<SyncGroupResponse>(sync(&mut c, 3, &a, 1, true), 3);
    // b joins: it waits for a, which learns of the rebalance from its heartbeat.
    let b = new_member(&mut c, v, ms(100));
    let until = match join(&mut c, v, &b, ms(100), ms(100)) {
        Reply::Wait { until } => until,
        _ => panic!("b's join waits for a"),
    };
    assert_eq!(until, ms(5_100), "at most the rebalance timeout");
    assert_eq!(
        heartbeat(&mut c, 3, &a, 1, ms(200)),
        27,
        "REBALANCE_IN_PROGRESS"
    );
    // a rejoins: the rebalance completes, both joins are answered.
    let ra: JoinGroupResponse = decoded(join(&mut c, v, &a, ms(300), ms(300)), v);
    let rb: JoinGroupResponse = decoded(join(&mut c, v, &b, ms(305), ms(100)), v);
    assert_eq!((ra.generation_id, rb.generation_id), (2, 2));
    assert_eq!(ra.leader, rb.leader);
    assert_eq!(rb.member_id.as_str(), b);
    assert_ne!(a, b);
    let leader_members = if ra.leader.as_str() == a {
        &ra.members
    } else {
        &rb.members
    };
    assert_eq!(
        leader_members.len(),
        2,
        "the leader gets every member's metadata"
    );
}

#[test]
fn a_member_that_does_not_rejoin_is_dropped_at_the_rebalance_timeout() {
    let v = 5;
    let mut c = cluster(1);
    let a = new_member(&mut c, v, ms(1));
    decoded::<JoinGroupResponse>(join(&mut c, v, &a, ms(1), ms(1)), v);
    decoded::<SyncGroupResponse>(sync(&mut c, 3, a.as_str(), 1, true), 3);
    let b = new_member(&mut c, v, ms(100));
    assert!(matches!(
        join(&mut c, v, &b, ms(100), ms(100)),
        Reply::Wait { .. }
    ));
    let rb: JoinGroupResponse = decoded(join(&mut c, v, &b, ms(5_100), ms(100)), v);
    assert_eq!((rb.error_code, rb.generation_id), (0, 2));
    assert_eq!(rb.leader, rb.member_id, "b alone, so b leads");
    assert_eq!(heartbeat(&mut c, 3, a.as_str(), 2, ms(5_200)), 25);
}

#[test]
fn committed_offsets_are_fetched_back() {
    for (cv, fv) in [(2, 1), (5, 3), (7, 5)] {
        let mut c = cluster(1);
        let id = new_member(&mut c, 5, ms(1));
        let me = decoded::<JoinGroupResponse>(join(&mut c, 5, &id, ms(1), ms(1)), 5).member_id;
        let commit = OffsetCommitRequest::default()
            .with_group_id(GroupId(s("g")))
            .with_generation_id_or_member_epoch(1)
            .with_member_id(me.clone())
            .with_topics(vec![OffsetCommitRequestTopic::default()
                .with_name(TopicName(s("events")))
                .with_partitions(vec![OffsetCommitRequestPartition::default()
                    .with_partition_index(1)
                    .with_committed_offset(42)])]);
        let resp: OffsetCommitResponse = decoded(
            call(&mut c, 0, ApiKey::OffsetCommit, cv, &commit, ms(5)),
            cv,
        );
        assert_eq!(resp.topics[0].partitions[0].error_code, 0, "commit v{cv}");
        let stale = commit.clone().with_generation_id_or_member_epoch(7);
        let resp: OffsetCommitResponse =
            decoded(call(&mut c, 0, ApiKey::OffsetCommit, cv, &stale, ms(5)), cv);
        assert_eq!(
            resp.topics[0].partitions[0].error_code, 22,
            "stale generation"
        );
        let fetch = OffsetFetchRequest::default()
            .with_group_id(GroupId(s("g")))
            .with_topics(Some(vec![OffsetFetchRequestTopic::default()
                .with_name(TopicName(s("events")))
                .with_partition_indexes(vec![0, 1])]));
        let resp: OffsetFetchResponse =
            decoded(call(&mut c, 0, ApiKey::OffsetFetch, fv, &fetch, ms(6)), fv);
        let offsets: Vec<i64> = resp.topics[0]
            .partitions
            .iter()
            .map(|p| p.committed_offset)
            .collect();
        assert_eq!(offsets, vec![-1, 42], "fetch v{fv}");
    }
}

#[test]
fn group_requests_to_a_broker_that_does_not_coordinate_the_group_are_refused() {
    let mut c = cluster(3);
    let other = (coordinator(&c, "g").unwrap() + 1) % 3;
    let resp: JoinGroupResponse = decoded(
        call(&mut c, other, ApiKey::JoinGroup, 5, &join_req(""), ms(1)),
        5,
    );
    assert_eq!(resp.error_code, 16, "NOT_COORDINATOR");
}
