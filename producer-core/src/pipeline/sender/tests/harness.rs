//! A sender stepped by hand, with no runtime and a fake clock (quinn-proto's
//! `tests/util.rs` is the model): the test plays the driver and the brokers.
//! It dials and connects when the state asks, decodes the frames the state
//! writes, and answers them with real Kafka responses, one at a time, in any
//! order the test chooses.

use super::super::{DriverCommand, SenderState, Timer};
use crate::clock::Instant;
use crate::config::Config;
use crate::delivery::{BatchCompletion, DeliveryResult};
use crate::observe::{Event, Observer};
use crate::pipeline::admit::{admit, Admit};
use crate::pipeline::Shared;
use crate::produce_set::TopicPartition;
use crate::record::Record;
use crate::wire::frame;
use crate::wire::requests::Versions;
use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, BrokerId, InitProducerIdResponse, MetadataResponse,
    ProduceRequest, ProduceResponse, ProducerId, TopicName,
};
use kafka_protocol::protocol::{decode_request_header_from_buffer, Decodable, Encodable, StrBytes};
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The topic every test writes to.
pub const TOPIC: &str = "t";

/// What every test connection agrees on.
pub const VERSIONS: Versions = Versions {
    produce: 8,
    metadata: 8,
    init_producer_id: 4,
};

/// Keeps every event the producer reports.
#[derive(Default)]
pub struct Recorder(Mutex<Vec<Event>>);

impl Observer for Recorder {
    fn event(&self, event: Event) {
        self.0.lock().unwrap().push(event);
    }
}

/// A request the state wrote, decoded up to its body.
#[derive(Debug)]
pub struct Sent {
    pub broker: i32,
    pub generation: u64,
    pub api: ApiKey,
    pub version: i16,
    pub correlation_id: i32,
    pub body: Bytes,
}

/// One batch inside a produce request, as the broker sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WireBatch {
    pub partition: i32,
    pub epoch: i16,
    pub base_sequence: i32,
    pub records: i32,
    pub last_offset_delta: i32,
}

/// A record the test sent: where to read its outcome.
pub struct Sending {
    pub completion: Arc<BatchCompletion>,
    pub index: u32,
    pub send_id: u64,
}

impl Sending {
    /// Its outcome, if it has one.
    pub fn result(&self) -> Option<DeliveryResult> {
        self.completion.result_at(self.index)
    }

    /// Its offset; panics unless acknowledged.
    pub fn offset(&self) -> i64 {
        match self.result() {
            Some(Ok(m)) => m.offset,
            other => panic!("record {} not acked: {other:?}", self.send_id),
        }
    }
}

/// A config with one bootstrap broker and test-sized timeouts.
pub fn config() -> Config {
    Config {
        client_id: "p".into(),
        bootstrap: vec!["boot:9092".into()],
        linger: Duration::from_millis(5),
        retry_backoff: Duration::from_millis(100),
        request_timeout: Duration::from_millis(1_000),
        delivery_timeout: Duration::from_millis(10_000),
        ..Config::default()
    }
}

/// The sender, its shared state, a clock and the network as the test sees it.
pub struct Harness {
    pub shared: Arc<Shared>,
    pub state: SenderState,
    pub now: Instant,
    pub events: Arc<Recorder>,
    /// Dials asked for and not connected yet: broker -> generation.
    pub dials: BTreeMap<i32, u64>,
    /// Requests written and not answered by the test yet, in write order.
    pub sent: VecDeque<Sent>,
    /// Flushes, closes and disconnects the state reported, in order.
    pub done: Vec<DriverCommand>,
    /// Buffer memory the state released, in bytes, in total.
    pub released: usize,
}

impl Harness {
    /// A harness for `config` (validated), nothing connected.
    pub fn new(config: Config) -> Self {
        config.validate().expect("test config is valid");
        let events = Arc::new(Recorder::default());
        let observer: Arc<dyn Observer> = events.clone();
        let shared = Arc::new(Shared::new(config, Some(observer)));
        Harness {
            state: SenderState::new(shared.config.clone(), true),
            now: Instant::START,
            shared,
            events,
            dials: BTreeMap::new(),
            sent: VecDeque::new(),
            done: Vec::new(),
            released: 0,
        }
    }

    /// A producer with a producer id from broker 0, leaders `leaders[p]` for
    /// the partitions of [`TOPIC`], and connections to every leader.
    pub fn started(config: Config, leaders: &[i32]) -> Self {
        let mut h = Harness::new(config);
        h.shared.accum().wanted_topics.insert(TOPIC.into());
        h.step();
        h.connect(-1);
        h.step();
        let meta = h.take(ApiKey::Metadata);
        h.answer_metadata(&meta, leaders);
        if h.shared.config.idempotence {
            h.step(); // with a window of 1, InitProducerId waits for the answer
            let init = h.take(ApiKey::InitProducerId);
            h.answer_init(&init, 1000, 0);
        }
        h.shared.accum().wanted_topics.clear();
        h.pump();
        h.events.0.lock().unwrap().clear();
        h
    }

    /// Runs the state's `poll` at the current time and collects its actions.
    pub fn step(&mut self) {
        self.state.poll(self.now, &mut self.shared.accum());
        self.take_actions();
    }

    /// Collects the actions the state asked for since the last call, carrying
    /// out those on the shared state (memory, counters, metadata, events) as
    /// the driver does, and tallying the memory released.
    pub fn take_actions(&mut self) {
        while let Some(action) = self.state.poll_action() {
            if let DriverCommand::ReleaseMemory { bytes, .. } = &action {
                self.released += bytes;
            }
            let Some(action) = self.shared.carry_out(action) else {
                continue;
            };
            match action {
                DriverCommand::Dial {
                    broker, generation, ..
                } => {
                    self.dials.insert(broker, generation);
                }
                DriverCommand::Write {
                    broker,
                    generation,
                    frame,
                } => self
                    .sent
                    .push_back(decode_sent(broker, generation, &frame.to_vec())),
                other => self.done.push(other),
            }
        }
    }

    /// Steps, connecting every dial the state asks for, until it asks for none.
    pub fn pump(&mut self) {
        self.step();
        while !self.dials.is_empty() {
            let brokers: Vec<i32> = self.dials.keys().copied().collect();
            for b in brokers {
                self.connect(b);
            }
            self.step();
        }
    }

    /// Sends one record to `partition` and acknowledges it, so the epoch's first
    /// batch there (which travels alone) is out of the way; forgets its events.
    pub fn warm_up(&mut self, partition: i32) {
        self.send(partition, "warm-up");
        self.advance(self.shared.config.linger);
        self.produce_answer(crate::error::code::NONE, 0);
        self.step();
        self.events.0.lock().unwrap().clear();
    }

    /// Moves the clock on and pumps (every dial connects at once).
    pub fn advance(&mut self, by: Duration) {
        self.now += by;
        self.pump();
    }

    /// Moves the clock to the state's next timeout and pumps; returns which it was.
    pub fn advance_to_next_timer(&mut self) -> Timer {
        let (timer, at) = self.state.next_timer().expect("a timer is set");
        self.now = self.now.max(at);
        self.pump();
        timer
    }

    /// The pending dial of `broker` connects and the broker answers the
    /// handshake with [`VERSIONS`].
    pub fn connect(&mut self, broker: i32) {
        let hello = self.connect_socket(broker);
        self.reply(&hello, &api_versions_answer(VERSIONS));
    }

    /// The pending dial of `broker` connects; returns the ApiVersions request
    /// the state writes on it, unanswered.
    pub fn connect_socket(&mut self, broker: i32) -> Sent {
        let generation = self.dials.remove(&broker).expect("a dial of this broker");
        self.state.handle_connected(broker, generation);
        self.take_actions();
        let at = self.sent.iter().rposition(|s| {
            s.api == ApiKey::ApiVersions && s.broker == broker && s.generation == generation
        });
        self.sent
            .remove(at.expect("the state writes ApiVersions on a new connection"))
            .unwrap()
    }

    /// The connection of `broker` (the generation of `sent`) closes.
    pub fn close_connection(&mut self, broker: i32, generation: u64) {
        self.state
            .handle_closed(broker, generation, "closed by test".into(), self.now);
        self.take_actions();
    }

    /// Sends one record to `partition` as `Producer::send` does (no waiting:
    /// the test's buffer memory is always enough).
    pub fn send(&mut self, partition: i32, value: &str) -> Sending {
        self.send_record(partition, Record::new(value.to_string()))
    }

    /// As [`Harness::send`], any record.
    pub fn send_record(&mut self, partition: i32, record: Record) -> Sending {
        self.try_send(partition, record)
            .expect("the test's buffer memory is enough")
    }

    /// Sends `record` to `partition` if buffer memory allows it now (`None`:
    /// `Producer::send` would wait for memory).
    pub fn try_send(&mut self, partition: i32, record: Record) -> Option<Sending> {
        let mut accum = self.shared.accum();
        let tp = TopicPartition {
            topic: accum.topic_name(TOPIC),
            partition,
        };
        let mut reserved = 0;
        let admitted = admit(
            &self.shared,
            &mut accum,
            &tp,
            &record,
            0,
            self.now,
            &mut reserved,
        );
        let (appended, send_id) = match admitted {
            Ok(Admit::Added { appended, send_id }) => (appended, send_id),
            Ok(Admit::NeedMemory(_)) => return None,
            Err(e) => panic!("not admitted: {e:?}"),
        };
        drop(accum);
        self.shared.unresolved.fetch_add(1, Ordering::Relaxed);
        Some(Sending {
            completion: appended.completion,
            index: appended.index,
            send_id,
        })
    }

    /// Buffer memory in use: what the batches hold (not the released buffers
    /// kept for reuse, which keep their charge). Panics when more came back
    /// than was ever taken (a batch's memory released twice).
    pub fn memory_in_use(&self) -> usize {
        let (total, free) = (
            self.shared.config.buffer_memory,
            self.shared.memory.available_permits() + self.shared.spares.bytes(),
        );
        total
            .checked_sub(free)
            .unwrap_or_else(|| panic!("{free} bytes free of {total}: memory released twice"))
    }

    /// The oldest unanswered request of `api`.
    pub fn take(&mut self, api: ApiKey) -> Sent {
        let at = self
            .sent
            .iter()
            .position(|s| s.api == api)
            .unwrap_or_else(|| panic!("no {api:?} request among {:?}", self.sent));
        self.sent.remove(at).unwrap()
    }

    /// How many unanswered requests of `api` the test holds.
    pub fn count(&self, api: ApiKey) -> usize {
        self.sent.iter().filter(|s| s.api == api).count()
    }

    /// Delivers a response to `to`.
    pub fn reply<M: Encodable>(&mut self, to: &Sent, body: &M) {
        let frame: BytesMut = frame::encode_response(to.api, to.version, to.correlation_id, body);
        let body = Bytes::from(frame).slice(4..);
        self.state
            .handle_response(to.broker, to.generation, body, self.now);
        self.take_actions();
    }

    /// Delivers a response frame made of raw bytes (size prefix included, as a
    /// broker writes it) to `to`: for answers no encoder would write.
    pub fn reply_raw(&mut self, to: &Sent, frame: &[u8]) {
        let body = Bytes::copy_from_slice(&frame[4..]);
        self.state
            .handle_response(to.broker, to.generation, body, self.now);
        self.take_actions();
    }

    /// Answers a metadata request: brokers 0..=max(leaders), partition p led by
    /// `leaders[p]` (-1: no leader).
    pub fn answer_metadata(&mut self, to: &Sent, leaders: &[i32]) {
        let max = leaders.iter().copied().max().unwrap_or(0).max(0);
        let brokers: Vec<i32> = (0..=max).collect();
        self.answer_metadata_listing(to, leaders, &brokers);
    }

    /// Answers a metadata request listing only `brokers` (a broker that is
    /// down is left out of Kafka's answer), partition p led by `leaders[p]`.
    pub fn answer_metadata_listing(&mut self, to: &Sent, leaders: &[i32], brokers: &[i32]) {
        let brokers = brokers
            .iter()
            .map(|&id| {
                MetadataResponseBroker::default()
                    .with_node_id(BrokerId(id))
                    .with_host(StrBytes::from_string(format!("broker-{id}")))
                    .with_port(9092)
            })
            .collect();
        let partitions = leaders
            .iter()
            .enumerate()
            .map(|(i, &l)| {
                MetadataResponsePartition::default()
                    .with_error_code(if l >= 0 { 0 } else { 5 })
                    .with_partition_index(i as i32)
                    .with_leader_id(BrokerId(l))
            })
            .collect();
        let topic = MetadataResponseTopic::default()
            .with_name(Some(TopicName(StrBytes::from_static_str(TOPIC))))
            .with_partitions(partitions);
        let resp = MetadataResponse::default()
            .with_brokers(brokers)
            .with_topics(vec![topic]);
        self.reply(to, &resp);
    }

    /// Grants a producer id and epoch.
    pub fn answer_init(&mut self, to: &Sent, producer_id: i64, epoch: i16) {
        let resp = InitProducerIdResponse::default()
            .with_producer_id(ProducerId(producer_id))
            .with_producer_epoch(epoch);
        self.reply(to, &resp);
    }

    /// Answers a produce request batch by batch: `f` gives (code, base offset).
    pub fn answer_produce(&mut self, to: &Sent, mut f: impl FnMut(&WireBatch) -> (i16, i64)) {
        let parts = wire_batches(to)
            .iter()
            .map(|b| {
                let (code, base_offset) = f(b);
                PartitionProduceResponse::default()
                    .with_index(b.partition)
                    .with_error_code(code)
                    .with_base_offset(base_offset)
            })
            .collect();
        let resp = ProduceResponse::default().with_responses(vec![TopicProduceResponse::default()
            .with_name(TopicName(StrBytes::from_static_str(TOPIC)))
            .with_partition_responses(parts)]);
        self.reply(to, &resp);
    }

    /// Answers the oldest produce request with `code` for every batch, at
    /// `base_offset` when it is a success.
    pub fn produce_answer(&mut self, code: i16, base_offset: i64) -> Vec<WireBatch> {
        let req = self.take(ApiKey::Produce);
        let batches = wire_batches(&req);
        self.answer_produce(&req, |_| (code, base_offset));
        batches
    }

    /// Forgets the events recorded so far.
    pub fn forget_events(&self) {
        self.events.0.lock().unwrap().clear();
    }

    /// Every event recorded since the harness started (or was cleared).
    pub fn events(&self) -> Vec<Event> {
        self.events.0.lock().unwrap().clone()
    }

    /// Every `ConnectionLost` event so far: (broker, reason).
    pub fn lost_connections(&self) -> Vec<(i32, String)> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                Event::ConnectionLost { broker, reason, .. } => Some((broker, reason)),
                _ => None,
            })
            .collect()
    }

    /// The results of `BatchResolved` events, in order: (first send id, result).
    pub fn resolved(&self) -> Vec<(u64, Result<i64, crate::Error>)> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                Event::BatchResolved {
                    first_send_id,
                    result,
                    ..
                } => Some((first_send_id, result)),
                _ => None,
            })
            .collect()
    }

    /// The counters that must be zero once everything resolved.
    pub fn counters(&self) -> (usize, usize, usize) {
        let s = &self.shared;
        (
            s.unresolved.load(Ordering::Relaxed),
            self.memory_in_use(),
            self.state.in_flight_requests(),
        )
    }
}

/// A broker's ApiVersions answer offering at most `versions` of the APIs the
/// producer uses.
pub fn api_versions_answer(versions: Versions) -> ApiVersionsResponse {
    let offer = |api: ApiKey, max: i16| {
        ApiVersion::default()
            .with_api_key(api as i16)
            .with_max_version(max)
    };
    ApiVersionsResponse::default().with_api_keys(vec![
        offer(ApiKey::Produce, versions.produce),
        offer(ApiKey::Metadata, versions.metadata),
        offer(ApiKey::InitProducerId, versions.init_producer_id),
    ])
}

fn decode_sent(broker: i32, generation: u64, frame: &[u8]) -> Sent {
    let mut buf = Bytes::copy_from_slice(&frame[4..]);
    let api = ApiKey::try_from(i16::from_be_bytes([buf[0], buf[1]])).expect("known api");
    let version = i16::from_be_bytes([buf[2], buf[3]]);
    let header = decode_request_header_from_buffer(&mut buf).expect("request header decodes");
    Sent {
        broker,
        generation,
        api,
        version,
        correlation_id: header.correlation_id,
        body: buf,
    }
}

/// A record to partition 0 answered NOT_LEADER_OR_FOLLOWER: the retry waits,
/// and the metadata request it caused is returned unanswered.
pub fn not_leader_then_metadata() -> (Harness, Sending, Sent) {
    let mut h = Harness::started(config(), &[0]);
    let r = h.send(0, "a");
    h.advance(Duration::from_millis(5));
    h.produce_answer(crate::error::code::NOT_LEADER_OR_FOLLOWER, -1);
    h.step();
    let meta = h.take(ApiKey::Metadata);
    (h, r, meta)
}

/// The batches of a produce request, read from their headers.
pub fn wire_batches(req: &Sent) -> Vec<WireBatch> {
    assert_eq!(req.api, ApiKey::Produce);
    let decoded = ProduceRequest::decode(&mut req.body.clone(), req.version).expect("decodes");
    decoded
        .topic_data
        .iter()
        .flat_map(|t| t.partition_data.iter())
        .map(|p| {
            let b = p.records.as_ref().expect("records");
            let i32_at = |o: usize| i32::from_be_bytes(b[o..o + 4].try_into().unwrap());
            WireBatch {
                partition: p.index,
                epoch: i16::from_be_bytes([b[51], b[52]]),
                base_sequence: i32_at(53),
                records: i32_at(57),
                last_offset_delta: i32_at(23),
            }
        })
        .collect()
}
