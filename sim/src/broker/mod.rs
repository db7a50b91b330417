//! The simulated Kafka broker: a subset of the wire protocol answered from the
//! [`Cluster`] state, one file per API (each parses, applies, encodes):
//! [`api_versions`], [`metadata`], [`init_producer_id`], [`produce`] for
//! producers; [`list_offsets`], [`fetch`] for consumers; [`create_topics`];
//! and a minimal group coordinator ([`group`]: FindCoordinator, JoinGroup,
//! SyncGroup, Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch).
//!
//! [`handle_frame`] is pure: bytes in, reply out, state changed; no I/O and no
//! clock. [`serve_connection`] runs it over any byte stream, so the same broker
//! serves turmoil's simulated TCP and real sockets (`sim serve`). What it
//! answered is counted in the cluster's [`Ledger`].
//!
//! Every produced batch goes through prodsim's own checked reader
//! ([`crate::log_validator`]) before it is appended; every request body is
//! checked structurally ([`crate::validate`]) before `kafka-protocol` decodes
//! it, so no input can crash the broker.

mod api_versions;
mod create_topics;
mod fetch;
pub mod group;
mod init_producer_id;
pub use crate::cluster::ledger;
mod list_offsets;
mod metadata;
mod produce;
mod stored;

pub use ledger::Ledger;

use crate::cluster::{Cluster, Seen};
use crate::frames::{self, FrameBudget};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{decode_request_header_from_buffer, Encodable};
use producer_core::error::code;
use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

/// Cluster state shared by the broker tasks of one (single-threaded) world.
pub type SharedCluster = Rc<RefCell<Cluster>>;

pub use crate::frames::MAX_REQUEST_FRAME;

/// The API versions this broker answers, and advertises in ApiVersions; any
/// other API or version closes the connection, as Kafka does (ApiVersions
/// itself answers a newer version with UNSUPPORTED_VERSION, KIP-511). Lower
/// bounds are `kafka-protocol`'s: record-batch v2 (Produce v3, Fetch v4) and
/// what the supported clients send.
pub const SUPPORTED: [(ApiKey, i16, i16); 14] = [
    (ApiKey::Produce, 3, 12),
    (ApiKey::Fetch, 4, 11),
    (ApiKey::ListOffsets, 1, 7),
    (ApiKey::Metadata, 0, 12),
    (ApiKey::OffsetCommit, 2, 7),
    (ApiKey::OffsetFetch, 1, 5),
    (ApiKey::FindCoordinator, 0, 3),
    (ApiKey::JoinGroup, 0, 5),
    (ApiKey::Heartbeat, 0, 3),
    (ApiKey::LeaveGroup, 0, 3),
    (ApiKey::SyncGroup, 0, 3),
    (ApiKey::ApiVersions, 0, 3),
    (ApiKey::CreateTopics, 2, 4),
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
    /// Nothing to answer yet (a Fetch below its `min_bytes`, a JoinGroup or
    /// SyncGroup waiting for the group): handle the same frame again, with the
    /// time it was first received, at the latest at `until`.
    Wait {
        /// When the request must be answered, whatever there is.
        until: Duration,
    },
    /// Write this frame once a request on another connection has been answered
    /// (an injected hold: answers overtake each other across connections).
    Hold(BytesMut),
}

/// One request as its handler sees it.
pub(crate) struct Request<'a> {
    /// The broker it reached.
    pub broker: i32,
    /// Its version.
    pub version: i16,
    /// Its correlation id.
    pub correlation_id: i32,
    /// The client id in its header ("" when null).
    pub client_id: &'a Arc<str>,
    /// Its size on the wire, size prefix included.
    pub frame_len: usize,
    /// The time it is handled.
    pub now: Duration,
}

/// Runs a third-party decoder on untrusted bytes: errors and panics both become
/// an error message (a panic must not take the broker down).
pub(crate) fn decode<T, E: std::fmt::Display>(
    what: &str,
    f: impl FnOnce() -> Result<T, E>,
) -> Result<T, String> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(format!("{what}: {e}")),
        Err(_) => Err(format!("{what}: decoder panicked")),
    }
}

/// Encodes `[size][response header][body]`; a body its version cannot carry
/// is an error, not a panic.
pub(crate) fn respond<M: Encodable>(api: ApiKey, req: &Request<'_>, body: &M) -> Reply {
    let mut buf = BytesMut::with_capacity(64);
    buf.put_i32(0);
    let header = ResponseHeader::default().with_correlation_id(req.correlation_id);
    let encoded = header
        .encode(&mut buf, api.response_header_version(req.version))
        .and_then(|_| body.encode(&mut buf, req.version));
    if let Err(e) = encoded {
        return Reply::Close(format!("{api:?} v{} response: {e}", req.version));
    }
    let len = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&len.to_be_bytes());
    Reply::Respond(buf)
}

/// Why a partition request (Fetch, ListOffsets) cannot be served by `broker`:
/// unknown partition, a leader epoch older or newer than the partition's
/// (KIP-320, when the client sent one), or not its leader.
pub(crate) fn leader_error(
    cluster: &Cluster,
    broker: i32,
    topic: &str,
    partition: i32,
    current_leader_epoch: Option<i32>,
) -> Option<i16> {
    let Some(p) = cluster.partition(topic, partition) else {
        return Some(code::UNKNOWN_TOPIC_OR_PARTITION);
    };
    match current_leader_epoch.filter(|e| *e >= 0) {
        Some(e) if e < p.leader_epoch => return Some(code::FENCED_LEADER_EPOCH),
        Some(e) if e > p.leader_epoch => return Some(code::UNKNOWN_LEADER_EPOCH),
        _ => {}
    }
    (p.leader != Some(broker)).then_some(code::NOT_LEADER_OR_FOLLOWER)
}

/// Handles one request frame (size prefix stripped) as broker `broker`.
pub fn handle_frame(cluster: &mut Cluster, broker: i32, frame_body: Bytes, now: Duration) -> Reply {
    handle_frame_at(cluster, broker, frame_body, now, now)
}

/// Handles a request frame first received at `received` (earlier than `now`
/// when it is handled again after a [`Reply::Wait`]).
pub fn handle_frame_at(
    cluster: &mut Cluster,
    broker: i32,
    frame_body: Bytes,
    now: Duration,
    received: Duration,
) -> Reply {
    if !cluster.is_up(broker) {
        return Reply::Close("broker is down".into());
    }
    cluster.advance(now);
    let (api, version, correlation_id) = match frame_head(&frame_body) {
        Ok(head) => head,
        Err(reply) => return reply,
    };
    let frame_len = frame_body.len() + 4;
    let mut buf = frame_body;
    let header: RequestHeader = match decode("request header", || {
        decode_request_header_from_buffer(&mut buf)
    }) {
        Ok(h) => h,
        Err(e) => return Reply::Close(e),
    };
    let client_id: Arc<str> = header.client_id.as_ref().map_or("", |c| c.as_str()).into();
    if cluster.recording && received == now {
        cluster.seen.push(Seen {
            api: api as i16,
            producer: client_id
                .strip_prefix("producer-")
                .and_then(|n| n.parse().ok()),
            broker,
            batches: Vec::new(),
        });
    }
    let req = Request {
        broker,
        version,
        correlation_id,
        client_id: &client_id,
        frame_len,
        now,
    };
    dispatch(cluster, &req, api, &mut buf, received)
}

/// The api, version and correlation id of a frame, if the broker serves that
/// api at that version; else the reply that refuses it.
fn frame_head(frame_body: &Bytes) -> Result<(ApiKey, i16, i32), Reply> {
    if frame_body.len() < 8 {
        return Err(Reply::Close(format!(
            "{}-byte frame has no request header",
            frame_body.len()
        )));
    }
    let api_raw = i16::from_be_bytes([frame_body[0], frame_body[1]]);
    let version = i16::from_be_bytes([frame_body[2], frame_body[3]]);
    let correlation_id =
        i32::from_be_bytes([frame_body[4], frame_body[5], frame_body[6], frame_body[7]]);
    let Ok(api) = ApiKey::try_from(api_raw) else {
        return Err(Reply::Close(format!("unknown api key {api_raw}")));
    };
    let Some(&(_, min, max)) = SUPPORTED.iter().find(|(k, _, _)| *k == api) else {
        return Err(Reply::Close(format!("{api:?} is not supported")));
    };
    if api == ApiKey::ApiVersions && version > max {
        // KIP-511: answer with v0 and UNSUPPORTED_VERSION so the client retries lower.
        return Err(api_versions::unsupported(correlation_id));
    }
    if version < min || version > max {
        return Err(Reply::Close(format!(
            "{api:?} v{version} outside {min}..={max}"
        )));
    }
    Ok((api, version, correlation_id))
}

/// Hands the request body to its api's handler and counts the answer.
fn dispatch(
    cluster: &mut Cluster,
    req: &Request<'_>,
    api: ApiKey,
    buf: &mut Bytes,
    received: Duration,
) -> Reply {
    // These count their requests themselves: per producer id and partition
    // (Produce), once when answered and not while waiting (the others).
    match api {
        ApiKey::Produce => return produce::handle(cluster, req, buf),
        ApiKey::Fetch => return fetch::handle(cluster, req, buf, received),
        ApiKey::JoinGroup | ApiKey::SyncGroup => {
            return group::handle_waiting(cluster, req, api, buf, received)
        }
        _ => {}
    }
    let client_id = req.client_id;
    cluster.ledger.request(client_id, -1, api as i16);
    let answer = match api {
        ApiKey::ApiVersions => api_versions::handle(req),
        ApiKey::Metadata => metadata::handle(cluster, req, buf),
        ApiKey::InitProducerId => init_producer_id::handle(cluster, req, buf),
        ApiKey::ListOffsets => list_offsets::handle(cluster, req, buf),
        ApiKey::CreateTopics => create_topics::handle(cluster, req, buf),
        ApiKey::FindCoordinator
        | ApiKey::Heartbeat
        | ApiKey::LeaveGroup
        | ApiKey::OffsetCommit
        | ApiKey::OffsetFetch => group::handle(cluster, req, api, buf),
        _ => unreachable!("filtered by SUPPORTED"),
    };
    match answer {
        Ok((code, reply)) => {
            match &reply {
                Reply::Wait { .. } => {}
                Reply::Close(_) => cluster.ledger.closed(client_id, -1, api as i16),
                _ => cluster.ledger.code(client_id, -1, api as i16, code),
            }
            reply
        }
        Err(why) => {
            cluster.ledger.closed(client_id, -1, api as i16);
            Reply::Close(why)
        }
    }
}

/// A handler's answer: the error code it leads with (for the ledger) and the
/// reply; `Err`: close the connection, for this reason.
pub(crate) type Answer = Result<(i16, Reply), String>;

/// An answer with `code`: `body` encoded as the response to `api`.
pub(crate) fn answer<M: Encodable>(api: ApiKey, req: &Request<'_>, code: i16, body: &M) -> Answer {
    Ok((code, respond(api, req, body)))
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
        let received = clock();
        let mut reply = {
            let mut c = cluster.borrow_mut();
            handle_frame_at(&mut c, broker, frame.body.clone(), received, received)
        };
        // A waiting request is handled again every few milliseconds until it
        // is answered; the connection reads nothing else meanwhile (Kafka
        // mutes a connection while one of its requests is in progress).
        while let Reply::Wait { until } = reply {
            let now = clock();
            let step = until.saturating_sub(now).min(WAIT_STEP);
            tokio::time::sleep(step.max(Duration::from_millis(1))).await;
            let now = clock();
            let mut c = cluster.borrow_mut();
            reply = handle_frame_at(&mut c, broker, frame.body.clone(), now, received);
        }
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
            Reply::Wait { .. } => unreachable!("waited above"),
        };
        if let Err(e) = stream.write_all(&frame).await {
            return format!("write: {e}");
        }
        signal.answered();
    }
}

/// How often a waiting request is looked at again.
const WAIT_STEP: Duration = Duration::from_millis(5);

/// Splits a response frame (with size prefix) into its body, for tests.
pub fn strip_size_prefix(mut frame: Bytes) -> Bytes {
    frame.advance(4);
    frame
}
