//! The simulated Kafka broker: a subset of the wire protocol (ApiVersions,
//! Metadata, InitProducerId, Produce) answered from the [`Cluster`] state.
//!
//! [`handle_frame`] is pure: bytes in, reply out, state changed; no I/O and no
//! clock. [`serve_connection`] runs it over any byte stream, so the same broker
//! serves turmoil's simulated TCP and real sockets (`sim serve`).
//!
//! Every produced batch goes through an independent decoder (`kafka-protocol`'s,
//! which checks the CRC) before it is appended; untrusted bytes are checked
//! structurally first ([`crate::validate`]) so no input can crash the broker.

use crate::cluster::{Cluster, Injection, LogBatch, LogRecord, Seen};
use crate::frames::{self, FrameBudget};
use crate::log_validator;
use crate::producer_state::{self, Decision, ProducerWindow};
use crate::validate;
use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, BrokerId, InitProducerIdRequest, InitProducerIdResponse,
    MetadataRequest, MetadataResponse, ProduceRequest, ProduceResponse, ProducerId, RequestHeader,
    TopicName,
};
use kafka_protocol::protocol::{decode_request_header_from_buffer, Decodable, StrBytes};
use producer_core::error::code;
use producer_core::wire::frame;
use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

/// Cluster state shared by the broker tasks of one (single-threaded) world.
pub type SharedCluster = Rc<RefCell<Cluster>>;

pub use crate::frames::MAX_REQUEST_FRAME;

const LEADER_NOT_AVAILABLE: i16 = 5;
const COORDINATOR_NOT_AVAILABLE: i16 = 15;

/// The API versions this broker advertises. Fetch is listed only because clients
/// infer record-batch v2 support from it (librdkafka's MsgVer2 feature needs
/// Produce v3 and Fetch v4); this broker serves producers, and closes a
/// connection that actually sends a Fetch.
pub const SUPPORTED: [(ApiKey, i16, i16); 5] = [
    (ApiKey::Produce, 3, 12),
    (ApiKey::Fetch, 4, 11),
    (ApiKey::Metadata, 0, 12),
    (ApiKey::ApiVersions, 0, 3),
    (ApiKey::InitProducerId, 0, 4),
];

/// What to do after a request.
#[derive(Debug)]
pub enum Reply {
    /// Write this frame.
    Respond(BytesMut),
    /// Write nothing (acks=0).
    Silent,
    /// Close the connection (bad input, broker down, or a lost response).
    Close(String),
    /// Write this frame once a request on another connection has been answered
    /// (an injected hold: answers overtake each other across connections).
    Hold(BytesMut),
}

/// Runs a third-party decoder on untrusted bytes: errors and panics both become
/// an error message (a panic must not take the broker down).
fn decode<T, E: std::fmt::Display>(
    what: &str,
    f: impl FnOnce() -> Result<T, E>,
) -> Result<T, String> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(format!("{what}: {e}")),
        Err(_) => Err(format!("{what}: decoder panicked")),
    }
}

/// Handles one request frame (size prefix stripped) as broker `broker`.
pub fn handle_frame(cluster: &mut Cluster, broker: i32, frame_body: Bytes, now: Duration) -> Reply {
    if !cluster.is_up(broker) {
        return Reply::Close("broker is down".into());
    }
    if frame_body.len() < 8 {
        return Reply::Close(format!(
            "{}-byte frame has no request header",
            frame_body.len()
        ));
    }
    let api_raw = i16::from_be_bytes([frame_body[0], frame_body[1]]);
    let version = i16::from_be_bytes([frame_body[2], frame_body[3]]);
    let correlation_id =
        i32::from_be_bytes([frame_body[4], frame_body[5], frame_body[6], frame_body[7]]);
    let Ok(api) = ApiKey::try_from(api_raw) else {
        return Reply::Close(format!("unknown api key {api_raw}"));
    };
    let Some(&(_, min, max)) = SUPPORTED.iter().find(|(k, _, _)| *k == api) else {
        return Reply::Close(format!("{api:?} is not supported"));
    };
    if api == ApiKey::ApiVersions && version > max {
        // KIP-511: answer with v0 and UNSUPPORTED_VERSION so the client retries lower.
        return Reply::Respond(api_versions(correlation_id, 0, code::UNSUPPORTED_VERSION));
    }
    if version < min || version > max {
        return Reply::Close(format!("{api:?} v{version} outside {min}..={max}"));
    }
    if api == ApiKey::Fetch {
        return Reply::Close("Fetch is not served: the simulated broker serves producers".into());
    }
    let frame_len = frame_body.len() + 4;
    let mut buf = frame_body;
    let header: RequestHeader = match decode("request header", || {
        decode_request_header_from_buffer(&mut buf)
    }) {
        Ok(h) => h,
        Err(e) => return Reply::Close(e),
    };
    let client_id: Arc<str> = header.client_id.as_ref().map_or("", |c| c.as_str()).into();
    if cluster.recording {
        cluster.seen.push(Seen {
            api: api_raw,
            producer: client_id
                .strip_prefix("producer-")
                .and_then(|n| n.parse().ok()),
            broker,
            batches: Vec::new(),
        });
    }
    let stale = api == ApiKey::Metadata && cluster.stale_metadata > 0;
    if stale {
        cluster.stale_metadata -= 1;
        cluster.injections_hit += 1;
    }
    let result = match api {
        ApiKey::ApiVersions => Ok(api_versions(correlation_id, version, code::NONE)),
        ApiKey::Metadata => validate::metadata_request(&buf, version)
            .and_then(|_| decode("Metadata", || MetadataRequest::decode(&mut buf, version)))
            .map(|req| metadata(cluster, &req, version, correlation_id, stale)),
        ApiKey::InitProducerId => decode("InitProducerId", || {
            InitProducerIdRequest::decode(&mut buf, version)
        })
        .map(|req| init_producer_id(cluster, &req, version, correlation_id)),
        ApiKey::Produce => {
            let req = validate::produce_request(&buf, version)
                .and_then(|_| decode("Produce", || ProduceRequest::decode(&mut buf, version)));
            return match req {
                Ok(req) => produce(
                    cluster,
                    Origin {
                        broker,
                        client_id: &client_id,
                        request_bytes: frame_len,
                    },
                    &req,
                    version,
                    correlation_id,
                    now,
                ),
                Err(e) => Reply::Close(e),
            };
        }
        _ => unreachable!("filtered by SUPPORTED"),
    };
    match result {
        Ok(frame) => Reply::Respond(frame),
        Err(e) => Reply::Close(e),
    }
}

fn api_versions(correlation_id: i32, version: i16, error: i16) -> BytesMut {
    let resp = ApiVersionsResponse::default()
        .with_error_code(error)
        .with_api_keys(
            SUPPORTED
                .iter()
                .map(|(k, min, max)| {
                    ApiVersion::default()
                        .with_api_key(*k as i16)
                        .with_min_version(*min)
                        .with_max_version(*max)
                })
                .collect(),
        );
    frame::encode_response(ApiKey::ApiVersions, version, correlation_id, &resp)
}

/// A Metadata answer; `stale` names each partition's former leader, as a
/// broker whose metadata cache lags behind a leader change would.
fn metadata(
    cluster: &Cluster,
    req: &MetadataRequest,
    version: i16,
    correlation_id: i32,
    stale: bool,
) -> BytesMut {
    let brokers = cluster
        .brokers
        .iter()
        .enumerate()
        .filter(|(_, b)| b.up)
        .map(|(id, b)| {
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(id as i32))
                .with_host(StrBytes::from_string(b.host.clone()))
                .with_port(b.port as i32)
        })
        .collect();
    let names: Vec<String> = match &req.topics {
        Some(t) if !(t.is_empty() && version == 0) => t
            .iter()
            .filter_map(|t| t.name.as_ref().map(|n| n.0.to_string()))
            .collect(),
        _ => cluster.topics.keys().cloned().collect(),
    };
    let topics = names
        .into_iter()
        .map(|name| {
            let topic = MetadataResponseTopic::default()
                .with_name(Some(TopicName(StrBytes::from_string(name.clone()))));
            match cluster.topics.get(&name) {
                None => topic.with_error_code(code::UNKNOWN_TOPIC_OR_PARTITION),
                Some(parts) => topic.with_partitions(
                    parts
                        .iter()
                        .enumerate()
                        .map(|(i, p)| {
                            let live: Vec<BrokerId> = p
                                .replicas
                                .iter()
                                .filter(|&&b| cluster.is_up(b))
                                .map(|&b| BrokerId(b))
                                .collect();
                            MetadataResponsePartition::default()
                                .with_error_code(if p.leader.is_some() {
                                    code::NONE
                                } else {
                                    LEADER_NOT_AVAILABLE
                                })
                                .with_partition_index(i as i32)
                                .with_leader_id(BrokerId(
                                    stale
                                        .then_some(p.former_leader)
                                        .flatten()
                                        .or(p.leader)
                                        .unwrap_or(-1),
                                ))
                                .with_leader_epoch(p.leader_epoch)
                                .with_replica_nodes(
                                    p.replicas.iter().map(|&b| BrokerId(b)).collect(),
                                )
                                .with_isr_nodes(live)
                        })
                        .collect(),
                ),
            }
        })
        .collect();
    let controller = cluster
        .brokers
        .iter()
        .position(|b| b.up)
        .map_or(-1, |i| i as i32);
    let resp = MetadataResponse::default()
        .with_brokers(brokers)
        .with_cluster_id(Some(StrBytes::from_static_str("prodsim")))
        .with_controller_id(BrokerId(controller))
        .with_topics(topics);
    frame::encode_response(ApiKey::Metadata, version, correlation_id, &resp)
}

fn init_producer_id(
    cluster: &mut Cluster,
    req: &InitProducerIdRequest,
    version: i16,
    correlation_id: i32,
) -> BytesMut {
    let resp = if req.transactional_id.is_some() {
        InitProducerIdResponse::default().with_error_code(COORDINATOR_NOT_AVAILABLE)
    } else {
        let bump = (req.producer_id.0 >= 0 && req.producer_epoch >= 0)
            .then_some((req.producer_id.0, req.producer_epoch));
        let (pid, epoch) = cluster.init_producer_id(bump);
        InitProducerIdResponse::default()
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch)
    };
    frame::encode_response(ApiKey::InitProducerId, version, correlation_id, &resp)
}

/// The outcome for one partition of a produce request.
struct PartitionResult {
    code: i16,
    base_offset: i64,
    lose_response: bool,
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

/// Where a produce request came from.
#[derive(Clone, Copy)]
struct Origin<'a> {
    /// The broker it reached.
    broker: i32,
    /// The client id in its header.
    client_id: &'a Arc<str>,
    /// Its size on the wire, size prefix included.
    request_bytes: usize,
}

fn produce(
    cluster: &mut Cluster,
    origin: Origin<'_>,
    req: &ProduceRequest,
    version: i16,
    correlation_id: i32,
    now: Duration,
) -> Reply {
    let (mut lose_response, mut hold) = (false, false);
    let mut responses = Vec::new();
    for t in &req.topic_data {
        let topic = t.name.0.to_string();
        let mut parts = Vec::new();
        for p in &t.partition_data {
            let r = produce_partition(cluster, origin, &topic, p.index, p.records.as_ref(), now);
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
        return Reply::Close("response lost (injected)".into());
    }
    if req.acks == 0 {
        return Reply::Silent;
    }
    let resp = ProduceResponse::default().with_responses(responses);
    let frame = frame::encode_response(ApiKey::Produce, version, correlation_id, &resp);
    if hold {
        Reply::Hold(frame)
    } else {
        Reply::Respond(frame)
    }
}

fn produce_partition(
    cluster: &mut Cluster,
    origin: Origin<'_>,
    topic: &str,
    index: i32,
    records: Option<&Bytes>,
    now: Duration,
) -> PartitionResult {
    let version = cluster.spec.broker_version;
    let Some(partition) = cluster.partition(topic, index) else {
        return PartitionResult::error(code::UNKNOWN_TOPIC_OR_PARTITION);
    };
    if partition.leader != Some(origin.broker) {
        return PartitionResult::error(code::NOT_LEADER_OR_FOLLOWER);
    }
    let Some(bytes) = records.filter(|b| !b.is_empty()) else {
        return PartitionResult::error(version.invalid_record());
    };
    if bytes.len() > cluster.spec.max_message_bytes {
        return PartitionResult::error(code::MESSAGE_TOO_LARGE);
    }
    let batch = match log_validator::validate(bytes) {
        Ok(b) => b,
        Err(r) if r.code == code::INVALID_RECORD => {
            return PartitionResult::error(version.invalid_record())
        }
        Err(r) => return PartitionResult::error(r.code),
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
    let injection = cluster
        .injections
        .get_mut(&(topic.to_string(), index))
        .and_then(|q| q.pop_front());
    cluster.injections_hit += u64::from(injection.is_some());
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
        Some(Injection::Error(c)) => return PartitionResult::error(c),
        _ => None,
    };
    let lose_response = matches!(
        injection,
        Some(Injection::LoseResponse | Injection::CrashAfterAppend(_))
    );
    let hold = injection == Some(Injection::HoldResponse);
    if let Some(Injection::CrashAfterAppend(restart_ms)) = injection {
        cluster.crash_requests.push((origin.broker, restart_ms));
    }
    let partition = cluster.partition_mut(topic, index).expect("checked above");
    let count = batch.records.len();
    let (pid, epoch, first_seq) = (batch.producer_id, batch.producer_epoch, batch.base_sequence);
    if pid >= 0 {
        match producer_state::check(
            version,
            partition.producers.get(&pid),
            epoch,
            first_seq,
            count,
        ) {
            Decision::Append => {}
            Decision::Duplicate(base_offset) => {
                return PartitionResult {
                    code: code::NONE,
                    base_offset,
                    lose_response,
                    hold,
                }
            }
            // A lost response is lost whatever the answer was.
            Decision::Reject(c) => {
                return PartitionResult {
                    lose_response,
                    ..PartitionResult::error(c)
                }
            }
        }
    }
    let base_offset = partition.next_offset;
    let stored = batch
        .records
        .into_iter()
        .map(|r| LogRecord {
            offset: base_offset + r.offset_delta,
            key: r.key,
            value: r.value,
            headers: r.headers,
            timestamp: batch.base_timestamp.wrapping_add(r.timestamp_delta),
        })
        .collect();
    partition.next_offset += count as i64;
    partition.log.push(LogBatch {
        base_offset,
        client_id: origin.client_id.clone(),
        producer_id: pid,
        producer_epoch: epoch,
        base_sequence: first_seq,
        leader: origin.broker,
        appended_at: now,
        bytes: bytes.len(),
        request_bytes: origin.request_bytes,
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
    match append_then_answer {
        Some(c) => PartitionResult {
            lose_response,
            ..PartitionResult::error(c)
        },
        None => PartitionResult {
            code: code::NONE,
            base_offset,
            lose_response,
            hold,
        },
    }
}

/// Serves one connection until it closes: read a frame, handle it, answer.
/// Returns why it ended, in one line.
pub async fn serve_connection<S>(
    mut stream: S,
    broker: i32,
    cluster: SharedCluster,
    budget: FrameBudget,
    clock: impl Fn() -> Duration,
) -> String
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    loop {
        let frame = match frames::read_request(&mut stream, &budget).await {
            Ok(Some(f)) => f,
            Ok(None) => return "closed by the client".into(),
            Err(e) => return e,
        };
        let reply = {
            let mut c = cluster.borrow_mut();
            handle_frame(&mut c, broker, frame.body.clone(), clock())
        };
        drop(frame);
        let signal = cluster.borrow().answered.clone();
        let frame = match reply {
            Reply::Respond(frame) => frame,
            Reply::Hold(frame) => {
                // Until another connection answers (or a second, at most).
                let seen = signal.count.get();
                let _ = tokio::time::timeout(Duration::from_secs(1), async {
                    while signal.count.get() == seen {
                        signal.notify.notified().await;
                    }
                })
                .await;
                frame
            }
            Reply::Silent => continue,
            Reply::Close(why) => return why,
        };
        if let Err(e) = stream.write_all(&frame).await {
            return format!("write: {e}");
        }
        signal.answered();
    }
}

/// Splits a response frame (with size prefix) into its body, for tests.
pub fn strip_size_prefix(mut frame: Bytes) -> Bytes {
    frame.advance(4);
    frame
}
