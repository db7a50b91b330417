//! Structure-aware fuzzing (sim/src/fuzz.rs): valid inputs broken one field at a
//! time never panic, abort, hang or allocate without bound, and every rejection
//! is a clear error. `PRODSIM_FUZZ_INPUTS=1000000 cargo test --release -p sim
//! --test fuzz -- --nocapture` is the long mode; each target prints inputs/s
//! and the process's peak RSS.

use kafka_protocol::messages::{ProduceResponse, ResponseHeader};
use kafka_protocol::protocol::{Decodable, HeaderVersion};
use sim::broker::{handle_frame, Reply};
use sim::cluster::{Cluster, ClusterSpec, TopicSpec};
use sim::fuzz::{peak_rss, Inputs};
use sim::outcomes::Reported;
use sim::Scenario;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::time::{Duration, Instant}; // wall clock: reports inputs per second

fn inputs() -> u64 {
    std::env::var("PRODSIM_FUZZ_INPUTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5_000)
}

fn cluster() -> Cluster {
    Cluster::new(
        ClusterSpec {
            brokers: 1,
            topics: vec![TopicSpec {
                name: "events".into(),
                partitions: 6,
                replication: 1,
            }],
            max_message_bytes: 1_048_588,
            failover_delay: Duration::from_millis(100),
            broker_version: Default::default(),
        },
        |id| (format!("broker-{id}"), 9092),
    )
}

/// Runs `one` on `n` inputs, failing on the first panic; prints the rate.
fn campaign(target: &str, seed: u64, mut one: impl FnMut(&mut Inputs, u64) -> Result<(), String>) {
    let n = inputs();
    let mut gen = Inputs::new(seed);
    let start = Instant::now();
    for i in 0..n {
        match catch_unwind(AssertUnwindSafe(|| one(&mut gen, i))) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("{target}: input {i} (seed {seed}): {e}"),
            Err(_) => panic!("{target}: input {i} (seed {seed}) panicked"),
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "fuzz {target}: {n} inputs in {secs:.1} s, {:.0} inputs/s, peak RSS {} MiB",
        n as f64 / secs,
        peak_rss() >> 20
    );
}

/// The partition error codes of a produce response frame.
fn produce_codes(frame: &[u8], version: i16) -> Vec<i16> {
    let mut body = bytes::Bytes::copy_from_slice(&frame[4..]);
    let ok = ResponseHeader::decode(&mut body, ProduceResponse::header_version(version)).is_ok();
    match ProduceResponse::decode(&mut body, version) {
        Ok(r) if ok => r
            .responses
            .iter()
            .flat_map(|t| t.partition_responses.iter().map(|p| p.error_code))
            .collect(),
        _ => Vec::new(),
    }
}

#[test]
fn broker_requests_broken_one_field_at_a_time() {
    let mut c = cluster();
    let mut codes = std::collections::BTreeSet::new();
    let mut answered = std::collections::BTreeSet::new();
    let mut refused = std::collections::BTreeSet::new();
    campaign("broker requests", 1, |gen, i| {
        if i % 1000 == 0 {
            c = cluster(); // keep the logs small over a million inputs
        }
        let frame = gen.request();
        let (api, version) = match frame.get(..4) {
            Some(h) => (
                i16::from_be_bytes([h[0], h[1]]),
                i16::from_be_bytes([h[2], h[3]]),
            ),
            None => (-1, -1),
        };
        match handle_frame(&mut c, 0, frame, Duration::ZERO) {
            Reply::Respond(r) | Reply::Hold(r) => {
                let len = i32::from_be_bytes([r[0], r[1], r[2], r[3]]);
                if len as usize != r.len() - 4 {
                    return Err(format!("response size prefix {len} for {} bytes", r.len()));
                }
                if api == 0 {
                    codes.extend(produce_codes(&r, version));
                }
                answered.insert(api);
            }
            Reply::Wait { .. } => {
                answered.insert(api);
            }
            Reply::Silent => {}
            Reply::Close(why) if why.is_empty() => return Err("closed without a reason".into()),
            Reply::Close(_) => {
                refused.insert(api);
            }
        }
        Ok(())
    });
    // The inputs reach behind the CRC: appended, corrupt and invalid batches.
    for code in [0, 2, 87] {
        assert!(
            codes.contains(&code),
            "no produce answer {code} in {codes:?}"
        );
    }
    println!("produce answers seen: {codes:?}");
    // Every consume, admin and group API was reached, answered when valid and
    // refused (the connection closed) when broken.
    for api in sim::fuzz::CONSUME_APIS {
        let key = api as i16;
        assert!(answered.contains(&key), "{api:?} never answered");
        assert!(refused.contains(&key), "{api:?} never refused");
    }
}

#[test]
fn scenario_files_broken_one_value_at_a_time() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut valid: Vec<String> = std::fs::read_dir(root.join("scenarios"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    valid.sort();
    campaign("scenario files", 2, |gen, i| {
        let text = gen.scenario(&valid[i as usize % valid.len()]);
        match Scenario::parse(&text, "fuzz.toml") {
            Ok(s) => {
                for p in 0..s.file.producers.count {
                    let c = s
                        .file
                        .producers
                        .settings(p)
                        .to_config(p, 0, vec!["b:1".into()]);
                    c.validate()
                        .map_err(|e| format!("loaded, but its config fails: {e}\n{text}"))?;
                }
            }
            Err(e) if !e.to_string().starts_with("fuzz.toml") => {
                return Err(format!("error without the file name: {e}"))
            }
            Err(_) => {}
        }
        Ok(())
    });
}

#[test]
fn outcome_files_broken_one_token_at_a_time() {
    campaign("outcome files", 3, |gen, _| {
        let text = gen.outcomes();
        if let Ok(r) = Reported::parse(&text) {
            let h = r.history();
            if h.entries.len() > 10 * text.len() + 10 {
                return Err(format!(
                    "{} history entries from {} bytes",
                    h.entries.len(),
                    text.len()
                ));
            }
        }
        Ok(())
    });
}
