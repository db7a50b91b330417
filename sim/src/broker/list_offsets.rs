//! ListOffsets: a partition's earliest (-2) or latest (-1, the high
//! watermark) offset, the offset of its largest timestamp (-3, v7), or the
//! first offset whose record timestamp is at least the one asked for.
//! Answered by the partition's leader only, with the leader epoch checks of
//! KIP-320 (v4+). A record found by time carries the leader epoch of the
//! batch holding it, the earliest offset the epoch of the first batch. The largest timestamp is Kafka 4.4's
//! (`UnifiedLog.fetchOffsetByTimestamp`): the first batch whose stored max
//! timestamp is the largest, and in it the first record whose timestamp
//! equals that max timestamp; none (a batch whose max timestamp no record
//! has, as a client's LogAppendTime bit can leave it) answers -1.

use super::{answer, decode, leader_error, Answer, Request};
use crate::cluster::{Cluster, Partition};
use bytes::Bytes;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ApiKey, ListOffsetsRequest, ListOffsetsResponse};
use kafka_protocol::protocol::Decodable;
use producer_core::error::code;

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;

pub(super) fn handle(cluster: &mut Cluster, req: &Request<'_>, buf: &mut Bytes) -> Answer {
    let version = req.version;
    let request = crate::validate::list_offsets_request(buf, version)
        .and_then(|_| decode("ListOffsets", || ListOffsetsRequest::decode(buf, version)))?;
    let mut first_error = code::NONE;
    let topics = request
        .topics
        .iter()
        .map(|t| {
            let name = t.name.0.as_str();
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let mut out = ListOffsetsPartitionResponse::default()
                        .with_partition_index(p.partition_index);
                    let epoch = (version >= 4).then_some(p.current_leader_epoch);
                    let found =
                        match leader_error(cluster, req.broker, name, p.partition_index, epoch) {
                            Some(e) => Err(e),
                            None => Ok(lookup(
                                cluster.partition(name, p.partition_index).expect("checked"),
                                p.timestamp,
                            )),
                        };
                    match found {
                        Err(e) => {
                            if first_error == code::NONE {
                                first_error = e;
                            }
                            out = out.with_error_code(e).with_offset(-1).with_timestamp(-1);
                        }
                        Ok(Found {
                            timestamp,
                            offset,
                            leader_epoch,
                        }) => {
                            out = out.with_timestamp(timestamp).with_offset(offset);
                            if version >= 4 {
                                out = out.with_leader_epoch(leader_epoch);
                            }
                        }
                    }
                    out
                })
                .collect();
            ListOffsetsTopicResponse::default()
                .with_name(t.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    let resp = ListOffsetsResponse::default().with_topics(topics);
    answer(ApiKey::ListOffsets, req, first_error, &resp)
}

/// What a lookup found.
struct Found {
    timestamp: i64,
    offset: i64,
    leader_epoch: i32,
}

/// No record at or after the time: no offset, no epoch either.
const NOT_FOUND: Found = Found {
    timestamp: -1,
    offset: -1,
    leader_epoch: -1,
};

/// The answer for `timestamp` on `p`.
fn lookup(p: &Partition, timestamp: i64) -> Found {
    let now = |offset| Found {
        timestamp: -1,
        offset,
        leader_epoch: p.leader_epoch,
    };
    // Each batch with the leader epoch it was appended in.
    let batches = || p.log.iter().zip(p.raw.iter().map(|(_, epoch)| *epoch));
    let found = |r: &crate::cluster::LogRecord, epoch| Found {
        timestamp: r.timestamp,
        offset: r.offset,
        leader_epoch: epoch,
    };
    match timestamp {
        LATEST => now(p.next_offset),
        // Kafka answers with the earliest entry of its leader epoch cache:
        // the epoch the first batch was appended in (an empty log: the
        // current one, whose entry replaced the earlier ones at offset 0).
        EARLIEST => Found {
            leader_epoch: p.raw.first().map_or(p.leader_epoch, |(_, e)| *e),
            ..now(0)
        },
        MAX_TIMESTAMP => {
            let max_of = |raw: &Bytes| {
                raw.get(35..43)
                    .map_or(-1, |b| i64::from_be_bytes(b.try_into().expect("8 bytes")))
            };
            let Some(max) = p.raw.iter().map(|(raw, _)| max_of(raw)).max() else {
                return NOT_FOUND;
            };
            batches()
                .zip(&p.raw)
                .find(|(_, (raw, _))| max_of(raw) == max)
                .and_then(|((b, epoch), _)| {
                    b.records
                        .iter()
                        .find(|r| r.timestamp == max)
                        .map(|r| found(r, epoch))
                })
                .unwrap_or(NOT_FOUND)
        }
        t => batches()
            .flat_map(|(b, epoch)| b.records.iter().map(move |r| (r, epoch)))
            .filter(|(r, _)| r.timestamp >= t)
            .min_by_key(|(r, _)| r.offset)
            .map_or(NOT_FOUND, |(r, epoch)| found(r, epoch)),
    }
}
