//! ListOffsets: a partition's earliest (-2) or latest (-1, the high
//! watermark) offset, the offset of its largest timestamp (-3, v7), or the
//! first offset whose record timestamp is at least the one asked for.
//! Answered by the partition's leader only, with the leader epoch checks of
//! KIP-320 (v4+).

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
                        Ok((timestamp, offset)) => {
                            out = out.with_timestamp(timestamp).with_offset(offset);
                            if version >= 4 {
                                // No record at or after the time: no epoch either.
                                let leader_epoch = match offset {
                                    -1 => -1,
                                    _ => cluster
                                        .partition(name, p.partition_index)
                                        .map_or(-1, |p| p.leader_epoch),
                                };
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

/// (timestamp, offset) of the answer for `timestamp` on `p`.
fn lookup(p: &Partition, timestamp: i64) -> (i64, i64) {
    let records = || p.log.iter().flat_map(|b| &b.records);
    match timestamp {
        LATEST => (-1, p.next_offset),
        EARLIEST => (-1, 0),
        MAX_TIMESTAMP => records()
            .max_by_key(|r| (r.timestamp, std::cmp::Reverse(r.offset)))
            .map_or((-1, -1), |r| (r.timestamp, r.offset)),
        t => records()
            .filter(|r| r.timestamp >= t)
            .min_by_key(|r| r.offset)
            .map_or((-1, -1), |r| (r.timestamp, r.offset)),
    }
}
