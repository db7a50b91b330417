//! librdkafka, a client nobody here wrote, against the simulated broker on real
//! TCP: several idempotent producers, some payloads shared between them, and the
//! same checker as inside the simulation judging the broker's logs.

mod common;

use common::judge::{self, Outcome, Parts};
use common::{SimCluster, TOPIC};
use rdkafka::config::ClientConfig;
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use sim::outcomes::Reported;
use std::time::Duration;

const PRODUCERS: u32 = 3;
const PER_PRODUCER: usize = 3_400;

/// Record `i` of producer `p`: even records carry a payload every producer shares.
fn record(p: u32, i: usize) -> Parts {
    let key = (!i.is_multiple_of(5)).then(|| format!("k{}", i % 37));
    let value = if i.is_multiple_of(2) {
        format!("shared-{i}-{}", "x".repeat(i % 200)).into_bytes()
    } else {
        format!("own-p{p}-{i}-{}", "y".repeat(i % 90)).into_bytes()
    };
    let headers = if i.is_multiple_of(3) {
        vec![("trace".to_string(), format!("t{i}").into_bytes())]
    } else {
        Vec::new()
    };
    (key, value, headers)
}

/// Produces with librdkafka and returns what it reported.
fn produce(bootstrap: &str) -> Reported {
    produce_with(bootstrap, "none")
}

/// As [`produce`], batches compressed with `codec` (`compression.codec`).
fn produce_with(bootstrap: &str, codec: &'static str) -> Reported {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let results = rt.block_on(async {
        let mut tasks = Vec::new();
        for p in 0..PRODUCERS {
            let producer: FutureProducer = ClientConfig::new()
                .set("bootstrap.servers", bootstrap)
                .set("client.id", format!("producer-{p}"))
                .set("enable.idempotence", "true")
                .set("acks", "all")
                .set("linger.ms", "5")
                .set("message.timeout.ms", "60000")
                .set("compression.codec", codec)
                .create()
                .expect("librdkafka producer");
            tasks.push(tokio::spawn(async move {
                let mut futures = Vec::new();
                for i in 0..PER_PRODUCER {
                    let (key, value, headers) = record(p, i);
                    let mut h = OwnedHeaders::new();
                    for (k, v) in &headers {
                        h = h.insert(Header {
                            key: k,
                            value: Some(v),
                        });
                    }
                    let mut rec = FutureRecord::to(TOPIC).payload(&value).headers(h);
                    if let Some(k) = &key {
                        rec = rec.key(k);
                    }
                    futures.push(
                        producer
                            .send_result(rec)
                            .map_err(|(e, _)| e)
                            .expect("queue has room"),
                    );
                }
                let mut out = Vec::new();
                for f in futures {
                    out.push(match f.await.expect("not cancelled") {
                        Ok(d) => Outcome::Acked(d.partition, d.offset),
                        Err((e, m)) => Outcome::Failed(Some(m.partition()), e.to_string()),
                    });
                }
                producer.flush(Duration::from_secs(30)).unwrap();
                out
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.push(t.await.unwrap());
        }
        all
    });
    judge::reported(results, record)
}

fn assert_delivered_once(reported: &Reported, logs: &sim::serve::Logs) {
    let violations = judge::violations(reported, logs, 5);
    assert!(violations.is_empty(), "{}", judge::show(&violations));
    let stored: usize = logs.values().flatten().map(|b| b.records.len()).sum();
    assert_eq!(
        stored,
        PRODUCERS as usize * PER_PRODUCER,
        "every record stored exactly once"
    );
}

#[test]
fn librdkafka_idempotent_producers_deliver_everything_once_in_order() {
    let cluster = SimCluster::start(3, 6);
    let reported = produce(&cluster.bootstrap);
    let logs = cluster.stop();
    assert_delivered_once(&reported, &logs);
}

#[test]
fn librdkafka_survives_retriable_errors_and_lost_responses() {
    let cluster = SimCluster::start(3, 6);
    cluster.inject_retriable_errors_and_lost_responses();
    let reported = produce(&cluster.bootstrap);
    assert_eq!(
        cluster.pending_injections(),
        0,
        "every injected error met a request"
    );
    let logs = cluster.stop();
    assert_delivered_once(&reported, &logs);
}

/// librdkafka compressing with lz4 and with zstd: the simulated broker
/// decompresses and validates every batch, stores the records, and the
/// checker finds each delivered once, in order; under the same broker faults.
#[test]
fn librdkafka_with_lz4_and_zstd_delivers_everything_once_in_order() {
    for codec in ["lz4", "zstd"] {
        let cluster = SimCluster::start(3, 6);
        cluster.inject_retriable_errors_and_lost_responses();
        let reported = produce_with(&cluster.bootstrap, codec);
        let logs = cluster.stop();
        assert_delivered_once(&reported, &logs);
        println!("librdkafka {codec}: delivered once, in order");
    }
}
