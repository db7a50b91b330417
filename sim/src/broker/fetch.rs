//! Fetch: the stored batches' bytes, as they arrived, with the offset and
//! leader epoch they were given written in (a consumer reads them at the
//! offsets the producer was told). Per partition at most `partition_max_bytes`
//! and in all at most `max_bytes`, except that the first batch is returned
//! whole (KIP-74); with less than `min_bytes` to return, the answer waits up to
//! `max_wait_ms` ([`super::Reply::Wait`]). Answered by the leader only, with
//! KIP-320's leader epoch checks (v9+); compressed batches go out as stored,
//! zstd ones too at every version (Kafka 4.4 no longer refuses Fetch before
//! v10 on a zstd topic: measured). No fetch sessions (KIP-227): every answer
//! is a full one, with session id 0.

use super::{decode, leader_error, respond, Reply, Request};
use crate::cluster::{Cluster, Partition};
use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{ApiKey, FetchRequest, FetchResponse};
use kafka_protocol::protocol::Decodable;
use producer_core::error::code;
use std::time::Duration;

const API: i16 = ApiKey::Fetch as i16;

/// Handles a fetch first received at `received`.
pub(super) fn handle(
    cluster: &mut Cluster,
    req: &Request<'_>,
    buf: &mut Bytes,
    received: Duration,
) -> Reply {
    let version = req.version;
    let request = crate::validate::fetch_request(buf, version)
        .and_then(|_| decode("Fetch", || FetchRequest::decode(buf, version)));
    let request = match request {
        Ok(r) => r,
        Err(e) => {
            cluster.ledger.request(req.client_id, -1, API);
            cluster.ledger.closed(req.client_id, -1, API);
            return Reply::Close(e);
        }
    };
    if version >= 7 && request.session_id != 0 {
        let resp = FetchResponse::default().with_error_code(code::FETCH_SESSION_ID_NOT_FOUND);
        return counted(cluster, req, code::FETCH_SESSION_ID_NOT_FOUND, &resp);
    }
    let mut budget = request.max_bytes.max(0) as usize;
    let mut total = 0;
    let mut first_error = code::NONE;
    let mut topics = Vec::new();
    for t in &request.topics {
        let name = t.topic.0.as_str();
        let mut partitions = Vec::new();
        for p in &t.partitions {
            let epoch = (version >= 9).then_some(p.current_leader_epoch);
            let out = PartitionData::default().with_partition_index(p.partition);
            let data = match leader_error(cluster, req.broker, name, p.partition, epoch) {
                Some(e) => Err((e, -1)),
                None => {
                    let part = cluster.partition(name, p.partition).expect("checked");
                    read(
                        part,
                        p.fetch_offset,
                        p.partition_max_bytes,
                        &mut budget,
                        total == 0,
                    )
                    .map(|records| (part.next_offset, records))
                    .map_err(|e| (e, -1))
                }
            };
            partitions.push(match data {
                Ok((high_watermark, records)) => {
                    total += records.len();
                    out.with_high_watermark(high_watermark)
                        .with_last_stable_offset(high_watermark)
                        .with_log_start_offset(if version >= 5 { 0 } else { -1 })
                        .with_records(Some(records))
                }
                Err((e, high_watermark)) => {
                    if first_error == code::NONE {
                        first_error = e;
                    }
                    // Kafka answers an error with every offset unknown.
                    out.with_error_code(e)
                        .with_high_watermark(high_watermark)
                        .with_last_stable_offset(-1)
                        .with_log_start_offset(-1)
                }
            });
        }
        topics.push(
            FetchableTopicResponse::default()
                .with_topic(t.topic.clone())
                .with_partitions(partitions),
        );
    }
    let deadline = received + Duration::from_millis(request.max_wait_ms.max(0) as u64);
    if first_error == code::NONE && total < request.min_bytes.max(0) as usize && req.now < deadline
    {
        return Reply::Wait { until: deadline };
    }
    let resp = FetchResponse::default().with_responses(topics);
    counted(cluster, req, first_error, &resp)
}

fn counted(cluster: &mut Cluster, req: &Request<'_>, code: i16, resp: &FetchResponse) -> Reply {
    cluster.ledger.request(req.client_id, -1, API);
    let reply = respond(ApiKey::Fetch, req, resp);
    match reply {
        Reply::Close(_) => cluster.ledger.closed(req.client_id, -1, API),
        _ => cluster.ledger.code(req.client_id, -1, API, code),
    }
    reply
}

/// The log of `p` from the batch holding `offset` on, as Kafka reads a log
/// segment: `min(max, budget)` bytes, so the last batch may be cut short (a
/// consumer drops the partial batch and asks again); the first batch of a
/// response comes whole whatever the limits (KIP-74).
fn read(
    p: &Partition,
    offset: i64,
    max: i32,
    budget: &mut usize,
    first_of_response: bool,
) -> Result<Bytes, i16> {
    if offset < 0 || offset > p.next_offset {
        return Err(code::OFFSET_OUT_OF_RANGE);
    }
    let start = p
        .log
        .partition_point(|b| b.base_offset + b.records.len() as i64 <= offset);
    let mut limit = (max.max(0) as usize).min(*budget);
    if first_of_response {
        if let Some((raw, _)) = p.raw.get(start) {
            limit = limit.max(batch_len(raw));
        }
    }
    let mut out = BytesMut::new();
    for (batch, (raw, leader_epoch)) in p.log[start..].iter().zip(&p.raw[start..]) {
        if out.len() >= limit {
            break;
        }
        let len = batch_len(raw).min(limit - out.len());
        let at = out.len();
        out.extend_from_slice(&raw[..len]);
        // The offset and leader epoch it was given, where the cut left room.
        let written = &mut out[at..];
        let base = batch.base_offset.to_be_bytes();
        let n = written.len().min(8);
        written[..n].copy_from_slice(&base[..n]);
        if written.len() > 12 {
            let epoch = leader_epoch.to_be_bytes();
            let n = (written.len() - 12).min(4);
            written[12..12 + n].copy_from_slice(&epoch[..n]);
        }
    }
    *budget = budget.saturating_sub(out.len());
    Ok(out.freeze())
}

/// The length of a stored batch (its header says; never past its bytes).
fn batch_len(raw: &Bytes) -> usize {
    raw.get(8..12)
        .map_or(raw.len(), |l| {
            12 + i32::from_be_bytes(l.try_into().expect("4 bytes")).max(0) as usize
        })
        .min(raw.len())
}
