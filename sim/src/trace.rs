//! Chrome / Perfetto trace export (open the file in ui.perfetto.dev).
//!
//! One track per producer and per broker plus a `world` track. Produce requests
//! are spans from the moment they are written to the last answer for their
//! batches; faults, appends, epoch bumps, lost connections and violations are
//! instants.

use crate::history::{Actor, What};
use crate::world::RunReport;
use producer_core::TopicPartition;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

const PID: u32 = 1;
const WORLD_TID: u32 = 0;

fn producer_tid(p: u32) -> u32 {
    1 + p
}

fn broker_tid(b: i32) -> u32 {
    1000 + b.max(0) as u32
}

fn micros(d: Duration) -> u64 {
    d.as_micros() as u64
}

fn instant(name: String, tid: u32, at: Duration, args: Value) -> Value {
    json!({"name": name, "ph": "i", "s": "t", "pid": PID, "tid": tid, "ts": micros(at), "args": args})
}

/// The trace of a run as Chrome trace-event JSON.
pub fn perfetto_trace(report: &RunReport) -> Value {
    let mut events = track_names(report);
    let requests = history_events(report, &mut events);
    request_spans(requests, report.sim_time, &mut events);
    append_events(report, &mut events);
    violation_events(report, &mut events);
    json!({"traceEvents": events, "displayTimeUnit": "ms"})
}

/// The name of every track, and of the process (scenario and seed).
fn track_names(report: &RunReport) -> Vec<Value> {
    let mut events: Vec<Value> = Vec::new();
    let mut name_track = |tid: u32, name: String| {
        events.push(json!({"name": "thread_name", "ph": "M", "pid": PID, "tid": tid, "args": {"name": name}}));
    };
    name_track(WORLD_TID, "world".into());
    for p in 0..report.producers.len() as u32 {
        name_track(producer_tid(p), format!("producer-{p}"));
    }
    for b in 0..report.brokers as i32 {
        name_track(broker_tid(b), format!("broker-{b}"));
    }
    events.push(json!({"name": "process_name", "ph": "M", "pid": PID, "args": {"name": format!("{} seed {}", report.scenario, report.seed)}}));
    events
}

/// A produce request as a span: producer, start, end (its last answer), label, args.
type RequestSpan = (u32, Duration, Option<Duration>, String, Value);

/// The history's instants (faults, failed attempts, lost connections, epoch
/// bumps, failures, flush and close); returns the produce requests, each
/// ended by the last answer for its batches.
fn history_events(report: &RunReport, events: &mut Vec<Value>) -> Vec<RequestSpan> {
    // (producer, tp, first_send_id) -> the request that carried the batch last.
    let mut batch_to_request: BTreeMap<(u32, TopicPartition, u64), usize> = BTreeMap::new();
    let mut requests: Vec<RequestSpan> = Vec::new();
    for e in &report.history.entries {
        match (&e.who, &e.what) {
            (
                Actor::Producer(p),
                What::RequestSent {
                    broker,
                    correlation_id,
                    bytes,
                    batches,
                    ..
                },
            ) => {
                let key = requests.len();
                for b in batches {
                    batch_to_request.insert((*p, b.tp.clone(), b.first_send_id), key);
                }
                requests.push((
                    *p,
                    e.at,
                    None,
                    format!("produce -> broker-{broker}"),
                    json!({"correlation_id": correlation_id, "bytes": bytes, "batches": e.what.to_string()}),
                ));
            }
            (
                Actor::Producer(p),
                What::AttemptEnded {
                    tp,
                    first_send_id,
                    outcome,
                },
            ) => {
                if let Some(&key) = batch_to_request.get(&(*p, tp.clone(), *first_send_id)) {
                    let end = &mut requests[key].2;
                    *end = Some(end.map_or(e.at, |x: Duration| x.max(e.at)));
                }
                if outcome.is_err() {
                    events.push(instant(
                        e.what.to_string(),
                        producer_tid(*p),
                        e.at,
                        json!({}),
                    ));
                }
            }
            (Actor::World, What::Fault { description, .. }) => {
                events.push(json!({"name": description, "ph": "i", "s": "g", "pid": PID, "tid": WORLD_TID, "ts": micros(e.at)}));
            }
            (
                Actor::Producer(p),
                What::ConnectionLost { .. }
                | What::EpochBumpStarted
                | What::IdentityGranted { .. }
                | What::Failed { .. }
                | What::Closed { .. }
                | What::Flushed { .. },
            ) => events.push(instant(
                e.what.to_string(),
                producer_tid(*p),
                e.at,
                json!({}),
            )),
            _ => {}
        }
    }
    requests
}

/// Each request as a begin and an end event (unanswered ones end with the run).
fn request_spans(requests: Vec<RequestSpan>, run_end: Duration, events: &mut Vec<Value>) {
    for (i, (p, start, end, name, args)) in requests.into_iter().enumerate() {
        let id = format!("req-{i}");
        let end = end.unwrap_or(run_end);
        events.push(json!({"name": name, "cat": "request", "ph": "b", "id": id, "pid": PID, "tid": producer_tid(p), "ts": micros(start), "args": args}));
        events.push(json!({"name": name, "cat": "request", "ph": "e", "id": id, "pid": PID, "tid": producer_tid(p), "ts": micros(end)}));
    }
}

/// Every appended batch, on its leader's track.
fn append_events(report: &RunReport, events: &mut Vec<Value>) {
    for (
        TopicPartition {
            topic,
            partition: part,
        },
        batches,
    ) in &report.logs
    {
        for b in batches {
            events.push(instant(
                format!("append {topic}/{part} @{} x{} from {}", b.base_offset, b.records.len(), b.client_id),
                broker_tid(b.leader),
                b.appended_at,
                json!({"producer_id": b.producer_id, "epoch": b.producer_epoch, "base_sequence": b.base_sequence}),
            ));
        }
    }
}

/// Every violation and expected anomaly, on its producer's track (or the world's).
fn violation_events(report: &RunReport, events: &mut Vec<Value>) {
    for v in report
        .verdict
        .violations
        .iter()
        .chain(&report.verdict.expected)
    {
        let tid = v.producer.map_or(WORLD_TID, producer_tid);
        events.push(instant(
            format!("VIOLATION {}", v.kind.name()),
            tid,
            v.at,
            json!({"detail": v.to_string()}),
        ));
    }
}
