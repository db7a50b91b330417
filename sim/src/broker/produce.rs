//! Produce: each partition's batch checked as Kafka's `LogValidator` does,
//! judged against the producer's idempotence window
//! ([`crate::producer_state`]), then appended, refused or answered as a
//! duplicate; injected errors and lost responses apply here.
//!
//! The ledger counts one request per (client id, producer id) and one answer
//! per partition, and keeps every answer a correct client should not get
//! without a fault (45, 47, 59, or 6 while the partition has a leader).

use super::ledger::{Anomaly, FaultEvent};
use super::stored::{self, Stamp, Stored};
use super::{decode, respond, Reply, Request};
use crate::cluster::refusals::BatchId;
use crate::cluster::{Cluster, Injection, LogBatch, LogRecord, TopicConfig};
use crate::log_validator::{self, Checks, ValidBatch, ValidRecord};
use crate::producer_state::{self, Appended, Decision, ProducerWindow};
use bytes::Bytes;
use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{ApiKey, ProduceRequest, ProduceResponse};
use kafka_protocol::protocol::{Decodable, StrBytes};
use producer_core::error::code;
use producer_core::TopicPartition;

const API: i16 = ApiKey::Produce as i16;
/// The log start offset of every partition: nothing is ever deleted here.
const LOG_START_OFFSET: i64 = 0;

/// The outcome for one partition of a produce request.
struct PartitionResult {
    code: i16,
    base_offset: i64,
    /// The append time on a LogAppendTime topic; a duplicate's stored max
    /// timestamp; else -1.
    log_append_time: i64,
    /// -1 when the request was refused before it reached the log (unknown
    /// partition, not the leader, too large, corrupt, refused by the request's
    /// own checks), as Kafka's `ReplicaManager` answers; else the log's.
    log_start_offset: i64,
    /// Records refused one by one (index, why), as Kafka's
    /// `RecordValidationException` lists them.
    record_errors: Vec<(i32, String)>,
    lose_response: bool,
    /// An injected hold: answer after another connection's answer.
    hold: bool,
}

impl PartitionResult {
    /// Refused before the log: no offsets at all.
    fn error(code: i16) -> Self {
        PartitionResult {
            code,
            base_offset: -1,
            log_append_time: -1,
            log_start_offset: -1,
            record_errors: Vec::new(),
            lose_response: false,
            hold: false,
        }
    }

    /// Refused by the log (its validation or the producer's state): the
    /// answer carries the log start offset.
    fn log_error(code: i16) -> Self {
        PartitionResult {
            log_start_offset: LOG_START_OFFSET,
            ..PartitionResult::error(code)
        }
    }

    /// Written (or already written) at `base_offset`.
    fn appended(base_offset: i64, log_append_time: i64) -> Self {
        PartitionResult {
            base_offset,
            log_append_time,
            ..PartitionResult::log_error(code::NONE)
        }
    }

    fn answer(&self, index: i32) -> PartitionProduceResponse {
        PartitionProduceResponse::default()
            .with_index(index)
            .with_error_code(self.code)
            .with_base_offset(self.base_offset)
            .with_log_append_time_ms(self.log_append_time)
            .with_log_start_offset(self.log_start_offset)
            .with_record_errors(
                self.record_errors
                    .iter()
                    .map(|(i, why)| {
                        BatchIndexAndErrorMessage::default()
                            .with_batch_index(*i)
                            .with_batch_index_error_message(Some(StrBytes::from_string(
                                why.clone(),
                            )))
                    })
                    .collect(),
            )
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
    let acks_valid = matches!(request.acks, -1..=1);
    for t in &request.topic_data {
        let topic = t.name.0.to_string();
        let mut parts = Vec::new();
        for p in &t.partition_data {
            let r = if acks_valid {
                partition(cluster, req, &topic, p.index, p.records.as_ref())
            } else {
                // Kafka's ReplicaManager refuses every partition it would
                // append to; unknown ones are refused before.
                match cluster.partition(&topic, p.index) {
                    None => PartitionResult::error(code::UNKNOWN_TOPIC_OR_PARTITION),
                    Some(_) => PartitionResult::error(code::INVALID_REQUIRED_ACKS),
                }
            };
            cluster.ledger.code(req.client_id, pid, API, r.code);
            lose_response |= r.lose_response;
            hold |= r.hold;
            parts.push(r.answer(p.index));
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
    tp: &TopicPartition,
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
        tp: tp.clone(),
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
    tp: &TopicPartition,
    base_offset: i64,
    batch: &ValidBatch,
) -> Option<String> {
    let partition = cluster.partition(&tp.topic, tp.partition)?;
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
    let tp = TopicPartition::new(topic, index);
    let (bytes, batch) = match accepted_batch(cluster, req, &tp, records) {
        Ok(b) => b,
        Err(refused) => return refused,
    };
    if cluster.recording {
        if let Some(seen) = cluster.seen.last_mut() {
            seen.batches
                .push((tp.clone(), batch.base_sequence, batch.records.len()));
        }
    }
    let config = cluster
        .topic_config(topic)
        .cloned()
        .unwrap_or_else(|| TopicConfig::new(topic, 0));
    let now_ms = cluster.wall_ms(req.now);
    if let Some(refused) = record_errors(&config, &batch, now_ms) {
        return refused;
    }
    let stamp = Stamp {
        now_ms,
        log_append_time: config.log_append_time,
    };
    let max = config
        .max_message_bytes
        .unwrap_or(cluster.spec.max_message_bytes);
    let stored = match stored::stored(bytes, &batch, config.compression, stamp, max) {
        Ok(s) => s,
        Err(e) if e.in_log => return PartitionResult::log_error(e.code),
        Err(e) => return PartitionResult::error(e.code),
    };
    let id = BatchId {
        producer_id: batch.producer_id,
        epoch: batch.producer_epoch,
        sequence: batch.base_sequence,
    };
    if let Some(c) = cluster.refusals.holds(&tp, id, req.now) {
        return PartitionResult::error(c);
    }
    let effects = match injected(cluster, req, &tp, id) {
        Ok(e) => e,
        Err(refused) => return refused,
    };
    if let Some(answer) = idempotence_answer(cluster, req, &tp, &batch, &effects) {
        return answer;
    }
    let (base_offset, append_time) = append(cluster, req, &tp, bytes.len(), batch, stored, stamp);
    PartitionResult {
        lose_response: effects.lose_response,
        hold: effects.hold,
        ..match effects.append_then_answer {
            Some(c) => PartitionResult::error(c),
            None => PartitionResult::appended(base_offset, append_time),
        }
    }
}

/// The records Kafka's `LogValidator` refuses one by one on this topic (a
/// null key on a compacted topic: INVALID_RECORD; a CreateTime timestamp
/// further from the broker's clock than the topic allows: INVALID_TIMESTAMP),
/// as one answer listing them; `None`: every record passes.
fn record_errors(config: &TopicConfig, batch: &ValidBatch, now_ms: i64) -> Option<PartitionResult> {
    let mut errors = Vec::new();
    let mut first_code = None;
    for (i, r) in batch.records.iter().enumerate() {
        let ts = batch.timestamp(r);
        let why = if config.compact && r.key.is_none() {
            Some((
                code::INVALID_RECORD,
                "Compacted topic cannot accept message without key".to_string(),
            ))
        } else if !config.log_append_time && ts != -1 {
            if ts.saturating_sub(now_ms) > config.timestamp_after_max_ms {
                Some((
                    code::INVALID_TIMESTAMP,
                    format!(
                        "Timestamp {ts} of message with offset {i} is ahead of the server's time {now_ms}"
                    ),
                ))
            } else if now_ms.saturating_sub(ts) > config.timestamp_before_max_ms {
                Some((
                    code::INVALID_TIMESTAMP,
                    format!(
                        "Timestamp {ts} of message with offset {i} is before the server's time {now_ms}"
                    ),
                ))
            } else {
                None
            }
        } else {
            None
        };
        if let Some((c, why)) = why {
            first_code.get_or_insert(c);
            errors.push((i as i32, why));
        }
    }
    first_code.map(|c| PartitionResult {
        record_errors: errors,
        ..PartitionResult::log_error(c)
    })
}

/// The batch, if this broker leads the partition and the batch is valid and
/// within `max_message_bytes`; else the answer that refuses it.
fn accepted_batch<'b>(
    cluster: &mut Cluster,
    req: &Request<'_>,
    tp: &TopicPartition,
    records: Option<&'b Bytes>,
) -> Result<(&'b Bytes, ValidBatch), PartitionResult> {
    let version = cluster.spec.broker_version;
    let Some(partition) = cluster.partition(&tp.topic, tp.partition) else {
        return Err(PartitionResult::error(code::UNKNOWN_TOPIC_OR_PARTITION));
    };
    if partition.leader != Some(req.broker) {
        if let Some(leader) = partition.leader {
            let batch = records.and_then(|b| log_validator::validate(b).ok());
            let context = format!("broker-{leader} leads it");
            anomaly(
                cluster,
                req,
                tp,
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
    let config = cluster.topic_config(&tp.topic);
    let max = config
        .and_then(|c| c.max_message_bytes)
        .unwrap_or(cluster.spec.max_message_bytes);
    if bytes.len() > max {
        return Err(PartitionResult::error(code::MESSAGE_TOO_LARGE));
    }
    let checks = Checks {
        produce_version: req.version,
        max_record_bytes: config.map_or(log_validator::DEFAULT_MAX_DECOMPRESSED_RECORD, |c| {
            c.max_decompressed_record_bytes
        }),
    };
    match log_validator::validate_with(bytes, checks) {
        Ok(b) => Ok((bytes, b)),
        Err(r) => {
            let c = if r.code == code::INVALID_RECORD {
                version.invalid_record()
            } else {
                r.code
            };
            // What Kafka refuses before the log (the request's own checks, a
            // corrupt batch) carries no log start offset.
            if r.before_log || c == code::CORRUPT_MESSAGE {
                Err(PartitionResult::error(c))
            } else {
                Err(PartitionResult::log_error(c))
            }
        }
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
    tp: &TopicPartition,
    batch: BatchId,
) -> Result<Effects, PartitionResult> {
    let injection = cluster.injections.get_mut(tp).and_then(|q| q.pop_front());
    cluster.injections_hit += u64::from(injection.is_some());
    if let Some(what) = injection {
        cluster
            .ledger
            .fault(req.now, FaultEvent::Injected(tp.clone(), what));
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
        Some(Injection::Error(c)) => {
            cluster.refusals.begin(tp, batch, c, req.now);
            return Err(PartitionResult::error(c));
        }
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
    tp: &TopicPartition,
    batch: &ValidBatch,
    effects: &Effects,
) -> Option<PartitionResult> {
    let (pid, epoch, first_seq) = (batch.producer_id, batch.producer_epoch, batch.base_sequence);
    if pid < 0 {
        return None;
    }
    let version = cluster.spec.broker_version;
    let window = cluster
        .partition(&tp.topic, tp.partition)
        .and_then(|p| p.producers.get(&pid));
    match producer_state::check(version, window, epoch, first_seq, batch.records.len()) {
        Decision::Append => None,
        Decision::Duplicate(base_offset) => {
            // Kafka answers a duplicate with the stored batch's offsets and its
            // max timestamp as the append time.
            let max_timestamp = window
                .and_then(|w| w.at(base_offset))
                .map_or(-1, |b| b.max_timestamp);
            if let Some(context) = other_records(cluster, tp, base_offset, batch) {
                anomaly(cluster, req, tp, Some(batch), DUPLICATE, context);
            }
            Some(PartitionResult {
                lose_response: effects.lose_response,
                hold: effects.hold,
                ..PartitionResult::appended(base_offset, max_timestamp)
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
                ..PartitionResult::log_error(c)
            })
        }
    }
}

/// Appends the batch (`received` bytes as it came, `stored` as the log keeps
/// it) to the partition's log and the producer's window; returns its base
/// offset and the answer's log append time.
fn append(
    cluster: &mut Cluster,
    req: &Request<'_>,
    tp: &TopicPartition,
    received: usize,
    batch: ValidBatch,
    stored: Stored,
    stamp: Stamp,
) -> (i64, i64) {
    let version = cluster.spec.broker_version;
    let count = batch.records.len();
    let (pid, epoch, first_seq) = (batch.producer_id, batch.producer_epoch, batch.base_sequence);
    let Stored {
        bytes: raw,
        max_timestamp,
        consecutive,
        rebuilt,
    } = stored;
    let partition = cluster
        .partition_mut(&tp.topic, tp.partition)
        .expect("checked above");
    let base_offset = partition.next_offset;
    let read_as = ReadAs::new(
        base_offset,
        consecutive,
        rebuilt,
        max_timestamp,
        &batch,
        stamp,
    );
    let stored = batch
        .records
        .into_iter()
        .enumerate()
        .map(|(i, r)| read_as.record(i, r))
        .collect();
    partition.next_offset += count as i64;
    let epoch_now = partition.leader_epoch;
    partition.raw.push((raw, epoch_now));
    partition.log.push(LogBatch {
        base_offset,
        client_id: req.client_id.clone(),
        producer_id: pid,
        producer_epoch: epoch,
        base_sequence: first_seq,
        leader: req.broker,
        appended_at: req.now,
        bytes: received,
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
        let appended = Appended {
            epoch,
            first_seq,
            count,
            base_offset,
            max_timestamp,
        };
        producer_state::record(version, state, appended);
    }
    cluster.ledger.appended(req.client_id, pid, count);
    let log_append_time = if stamp.log_append_time {
        max_timestamp
    } else {
        -1
    };
    (base_offset, log_append_time)
}

/// How a consumer reads the records of a batch appended at `base_offset`.
struct ReadAs {
    base_offset: i64,
    /// The stored batch's offsets are consecutive (rewritten by the broker);
    /// else each record keeps its offset delta.
    consecutive: bool,
    /// Every record reads this timestamp (LogAppendTime); `None`: base
    /// timestamp + delta.
    max: Option<i64>,
    base_timestamp: i64,
}

impl ReadAs {
    /// How `batch`, stored with `max_timestamp` (consecutive offsets or not,
    /// rebuilt or kept as sent), reads: the append time on a LogAppendTime
    /// topic; a record of a kept batch as the stored batch says (the
    /// LogAppendTime bit a client set is cleared: base timestamp + delta); of
    /// a rebuilt batch, as the broker read it (`ValidBatch::timestamp`).
    fn new(
        base_offset: i64,
        consecutive: bool,
        rebuilt: bool,
        max_timestamp: i64,
        batch: &ValidBatch,
        stamp: Stamp,
    ) -> ReadAs {
        let read_as_max = stamp.log_append_time || (rebuilt && batch.append_time_bit);
        let max_read = if stamp.log_append_time {
            max_timestamp
        } else {
            batch.max_timestamp
        };
        ReadAs {
            base_offset,
            consecutive,
            max: read_as_max.then_some(max_read),
            base_timestamp: batch.base_timestamp,
        }
    }

    /// Record `i` of the batch, as it is stored.
    fn record(&self, i: usize, r: ValidRecord) -> LogRecord {
        LogRecord {
            offset: self.base_offset
                + if self.consecutive {
                    i as i64
                } else {
                    r.offset_delta
                },
            timestamp: self
                .max
                .unwrap_or_else(|| self.base_timestamp.wrapping_add(r.timestamp_delta)),
            key: r.key,
            value: r.value,
            headers: r.headers,
        }
    }
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
        Some(b) => format!(
            "the broker expected sequence {}",
            producer_core::idempotence::advance_sequence(b.last, 1)
        ),
        None => "the broker expected sequence 0".to_string(),
    }
}
