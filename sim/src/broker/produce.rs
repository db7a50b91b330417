//! Produce: each partition's batch checked as Kafka's `LogValidator` does,
//! judged against the producer's idempotence window
//! ([`crate::producer_state`]), then appended, refused or answered as a
//! duplicate; injected errors and lost responses apply here.
//!
//! The ledger counts one request per (client id, producer id) and one answer
//! per partition, and keeps every answer a correct client should not get
//! without a fault (45, 47, 59, or 6 while the partition has a leader).

use super::ledger::{Anomaly, FaultEvent};
use super::{decode, respond, Reply, Request};
use crate::cluster::{Cluster, Injection, LogBatch, LogRecord};
use crate::log_validator::{self, ValidBatch};
use crate::producer_state::{self, Decision, ProducerWindow};
use bytes::Bytes;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ApiKey, ProduceRequest, ProduceResponse};
use kafka_protocol::protocol::Decodable;
use producer_core::error::code;

const API: i16 = ApiKey::Produce as i16;

/// The outcome for one partition of a produce request.
struct PartitionResult {
    code: i16,
    base_offset: i64,
    lose_response: bool,
    /// An injected hold: answer after another connection's answer.
    hold: bool,
}

impl PartitionResult {
    fn error(code: i16) -> Self {
        PartitionResult {
            code,
            base_offset: -1,
            lose_response: false,
            hold: false,
        }
    }
}

/// The producer id of the first batch that carries one (-1: none).
fn producer_id_of(req: &ProduceRequest) -> i64 {
    req.topic_data
        .iter()
        .flat_map(|t| &t.partition_data)
        .filter_map(|p| p.records.as_ref())
        .find_map(|b| {
            (b.len() >= log_validator::HEADER_LEN)
                .then(|| i64::from_be_bytes(b[43..51].try_into().expect("8 bytes")))
        })
        .unwrap_or(-1)
}

pub(super) fn handle(cluster: &mut Cluster, req: &Request<'_>, buf: &mut Bytes) -> Reply {
    let request = crate::validate::produce_request(buf, req.version)
        .and_then(|_| decode("Produce", || ProduceRequest::decode(buf, req.version)));
    let request = match request {
        Ok(r) => r,
        Err(e) => {
            cluster.ledger.request(req.client_id, -1, API);
            cluster.ledger.closed(req.client_id, -1, API);
            return Reply::Close(e);
        }
    };
    let pid = producer_id_of(&request);
    cluster.ledger.request(req.client_id, pid, API);
    let (mut lose_response, mut hold) = (false, false);
    let mut responses = Vec::new();
    for t in &request.topic_data {
        let topic = t.name.0.to_string();
        let mut parts = Vec::new();
        for p in &t.partition_data {
            let r = partition(cluster, req, &topic, p.index, p.records.as_ref());
            cluster.ledger.code(req.client_id, pid, API, r.code);
            lose_response |= r.lose_response;
            hold |= r.hold;
            parts.push(
                PartitionProduceResponse::default()
                    .with_index(p.index)
                    .with_error_code(r.code)
                    .with_base_offset(r.base_offset)
                    .with_log_append_time_ms(-1)
                    .with_log_start_offset(0),
            );
        }
        responses.push(
            TopicProduceResponse::default()
                .with_name(t.name.clone())
                .with_partition_responses(parts),
        );
    }
    if lose_response {
        cluster.ledger.closed(req.client_id, pid, API);
        return Reply::Close("response lost (injected)".into());
    }
    if request.acks == 0 {
        return Reply::Silent;
    }
    let resp = ProduceResponse::default().with_responses(responses);
    match respond(ApiKey::Produce, req, &resp) {
        Reply::Respond(frame) if hold => Reply::Hold(frame),
        reply => reply,
    }
}

/// Keeps an answer a correct client should not get without a fault.
fn anomaly(
    cluster: &mut Cluster,
    req: &Request<'_>,
    tp: (&str, i32),
    batch: Option<&ValidBatch>,
    code: i16,
    context: String,
) {
    let (producer_id, epoch, base_sequence, records) = batch.map_or((-1, -1, -1, 0), |b| {
        (
            b.producer_id,
            b.producer_epoch,
            b.base_sequence,
            b.records.len(),
        )
    });
    cluster.ledger.anomaly(Anomaly {
        at: req.now,
        client_id: req.client_id.clone(),
        producer_id,
        epoch,
        base_sequence,
        records,
        tp: (tp.0.to_string(), tp.1),
        broker: req.broker,
        code,
        context,
    });
}

/// The code an anomaly of a reused sequence is kept under (the batch itself
/// is answered NONE with the stored batch's offset, as Kafka does).
pub const DUPLICATE: i16 = code::DUPLICATE_SEQUENCE_NUMBER;

/// Why `batch`, answered as the duplicate of the batch stored at `base_offset`,
/// is not one: the records differ (count, key, value or headers). Kafka
/// compares sequence numbers only, so a client that reuses a sequence for
/// other records is told they were written when they were not.
fn other_records(
    cluster: &Cluster,
    tp: (&str, i32),
    base_offset: i64,
    batch: &ValidBatch,
) -> Option<String> {
    let partition = cluster.partition(tp.0, tp.1)?;
    let i = partition
        .log
        .partition_point(|b| b.base_offset < base_offset);
    let stored = partition
        .log
        .get(i)
        .filter(|b| b.base_offset == base_offset)?;
    let same = stored.records.len() == batch.records.len()
        && stored
            .records
            .iter()
            .zip(&batch.records)
            .all(|(s, b)| s.key == b.key && s.value == b.value && s.headers == b.headers);
    (!same).then(|| {
        format!(
            "answered as the duplicate of the batch stored at offset {base_offset} ({} records), but its {} records differ: acknowledged, not stored",
            stored.records.len(),
            batch.records.len()
        )
    })
}

/// One partition's batch of a produce request: checked, injected faults
/// applied, deduplicated against the producer's window, appended.
fn partition(
    cluster: &mut Cluster,
    req: &Request<'_>,
    topic: &str,
    index: i32,
    records: Option<&Bytes>,
) -> PartitionResult {
    let (bytes, batch) = match accepted_batch(cluster, req, (topic, index), records) {
        Ok(b) => b,
        Err(refused) => return refused,
    };
    if cluster.recording {
        if let Some(seen) = cluster.seen.last_mut() {
            seen.batches.push((
                (topic.to_string(), index),
                batch.base_sequence,
                batch.records.len(),
            ));
        }
    }
    let effects = match injected(cluster, req, (topic, index)) {
        Ok(e) => e,
        Err(refused) => return refused,
    };
    if let Some(answer) = idempotence_answer(cluster, req, (topic, index), &batch, &effects) {
        return answer;
    }
    let base_offset = append(cluster, req, (topic, index), bytes, batch);
    PartitionResult {
        lose_response: effects.lose_response,
        hold: effects.hold,
        ..match effects.append_then_answer {
            Some(c) => PartitionResult::error(c),
            None => PartitionResult {
                base_offset,
                ..PartitionResult::error(code::NONE)
            },
        }
    }
}

/// The batch, if this broker leads the partition and the batch is valid and
/// within `max_message_bytes`; else the answer that refuses it.
fn accepted_batch<'b>(
    cluster: &mut Cluster,
    req: &Request<'_>,
    (topic, index): (&str, i32),
    records: Option<&'b Bytes>,
) -> Result<(&'b Bytes, ValidBatch), PartitionResult> {
    let version = cluster.spec.broker_version;
    let Some(partition) = cluster.partition(topic, index) else {
        return Err(PartitionResult::error(code::UNKNOWN_TOPIC_OR_PARTITION));
    };
    if partition.leader != Some(req.broker) {
        if let Some(leader) = partition.leader {
            let batch = records.and_then(|b| log_validator::validate(b).ok());
            let context = format!("broker-{leader} leads it");
            anomaly(
                cluster,
                req,
                (topic, index),
                batch.as_ref(),
                code::NOT_LEADER_OR_FOLLOWER,
                context,
            );
        }
        return Err(PartitionResult::error(code::NOT_LEADER_OR_FOLLOWER));
    }
    let Some(bytes) = records.filter(|b| !b.is_empty()) else {
        return Err(PartitionResult::error(version.invalid_record()));
    };
    if bytes.len() > cluster.spec.max_message_bytes {
        return Err(PartitionResult::error(code::MESSAGE_TOO_LARGE));
    }
    match log_validator::validate(bytes) {
        Ok(b) => Ok((bytes, b)),
        Err(r) if r.code == code::INVALID_RECORD => {
            Err(PartitionResult::error(version.invalid_record()))
        }
        Err(r) => Err(PartitionResult::error(r.code)),
    }
}

/// What an injected fault does to an appended batch's answer.
struct Effects {
    /// Answer with this code after appending.
    append_then_answer: Option<i16>,
    /// Append, then send no answer.
    lose_response: bool,
    /// Append, then hold the answer.
    hold: bool,
}

/// Takes the partition's next injection, if any: an error that refuses the
/// batch is the answer; the others say what follows the append.
fn injected(
    cluster: &mut Cluster,
    req: &Request<'_>,
    (topic, index): (&str, i32),
) -> Result<Effects, PartitionResult> {
    let injection = cluster
        .injections
        .get_mut(&(topic.to_string(), index))
        .and_then(|q| q.pop_front());
    cluster.injections_hit += u64::from(injection.is_some());
    if let Some(what) = injection {
        cluster.ledger.fault(
            req.now,
            FaultEvent::Injected((topic.to_string(), index), what),
        );
    }
    // 7, 20 and 46 are answered after the append (the write happened, the
    // acknowledgement says otherwise); the other codes refuse the batch.
    let append_then_answer = match injection {
        Some(Injection::Error(c))
            if c == code::REQUEST_TIMED_OUT
                || c == code::NOT_ENOUGH_REPLICAS_AFTER_APPEND
                || c == code::DUPLICATE_SEQUENCE_NUMBER =>
        {
            Some(c)
        }
        Some(Injection::Error(c)) => return Err(PartitionResult::error(c)),
        _ => None,
    };
    if let Some(Injection::CrashAfterAppend(restart_ms)) = injection {
        cluster.crash_requests.push((req.broker, restart_ms));
    }
    Ok(Effects {
        append_then_answer,
        lose_response: matches!(
            injection,
            Some(Injection::LoseResponse | Injection::CrashAfterAppend(_))
        ),
        hold: injection == Some(Injection::HoldResponse),
    })
}

/// The answer of the producer's idempotence window when it does not append:
/// a duplicate (acknowledged at the stored offset) or a refused sequence or
/// epoch. `None`: append.
fn idempotence_answer(
    cluster: &mut Cluster,
    req: &Request<'_>,
    tp: (&str, i32),
    batch: &ValidBatch,
    effects: &Effects,
) -> Option<PartitionResult> {
    let (pid, epoch, first_seq) = (batch.producer_id, batch.producer_epoch, batch.base_sequence);
    if pid < 0 {
        return None;
    }
    let version = cluster.spec.broker_version;
    let window = cluster
        .partition(tp.0, tp.1)
        .and_then(|p| p.producers.get(&pid));
    match producer_state::check(version, window, epoch, first_seq, batch.records.len()) {
        Decision::Append => None,
        Decision::Duplicate(base_offset) => {
            if let Some(context) = other_records(cluster, tp, base_offset, batch) {
                anomaly(cluster, req, tp, Some(batch), DUPLICATE, context);
            }
            Some(PartitionResult {
                code: code::NONE,
                base_offset,
                lose_response: effects.lose_response,
                hold: effects.hold,
            })
        }
        // A lost response is lost whatever the answer was.
        Decision::Reject(c) => {
            if matches!(
                c,
                code::OUT_OF_ORDER_SEQUENCE_NUMBER
                    | code::INVALID_PRODUCER_EPOCH
                    | code::UNKNOWN_PRODUCER_ID
            ) {
                let context = match window {
                    None => "the broker holds no state of this producer id".to_string(),
                    Some(w) => window_context(w, epoch),
                };
                anomaly(cluster, req, tp, Some(batch), c, context);
            }
            Some(PartitionResult {
                lose_response: effects.lose_response,
                ..PartitionResult::error(c)
            })
        }
    }
}

/// Appends the batch to the partition's log and the producer's window;
/// returns its base offset.
fn append(
    cluster: &mut Cluster,
    req: &Request<'_>,
    (topic, index): (&str, i32),
    bytes: &Bytes,
    batch: ValidBatch,
) -> i64 {
    let version = cluster.spec.broker_version;
    let count = batch.records.len();
    let (pid, epoch, first_seq) = (batch.producer_id, batch.producer_epoch, batch.base_sequence);
    let partition = cluster.partition_mut(topic, index).expect("checked above");
    let base_offset = partition.next_offset;
    let timestamp = batch.base_timestamp;
    let stored = batch
        .records
        .into_iter()
        .map(|r| LogRecord {
            offset: base_offset + r.offset_delta,
            key: r.key,
            value: r.value,
            headers: r.headers,
            timestamp: timestamp.wrapping_add(r.timestamp_delta),
        })
        .collect();
    partition.next_offset += count as i64;
    let epoch_now = partition.leader_epoch;
    partition.raw.push((bytes.clone(), epoch_now));
    partition.log.push(LogBatch {
        base_offset,
        client_id: req.client_id.clone(),
        producer_id: pid,
        producer_epoch: epoch,
        base_sequence: first_seq,
        leader: req.broker,
        appended_at: req.now,
        bytes: bytes.len(),
        request_bytes: req.frame_len,
        records: stored,
    });
    if pid >= 0 {
        let state = partition
            .producers
            .entry(pid)
            .or_insert_with(|| ProducerWindow {
                epoch,
                ..Default::default()
            });
        producer_state::record(version, state, epoch, first_seq, count, base_offset);
    }
    cluster.ledger.appended(req.client_id, pid, count);
    base_offset
}

/// What the broker's window held when it refused a batch.
fn window_context(w: &ProducerWindow, epoch: i16) -> String {
    if epoch < w.epoch {
        return format!("the broker holds epoch {}", w.epoch);
    }
    if epoch > w.epoch {
        return format!(
            "epoch {epoch} is new (the broker holds {}): it must start at sequence 0",
            w.epoch
        );
    }
    match w.recent.back() {
        Some((_, last, _)) => format!(
            "the broker expected sequence {}",
            producer_core::idempotence::advance_sequence(*last, 1)
        ),
        None => "the broker expected sequence 0".to_string(),
    }
}
