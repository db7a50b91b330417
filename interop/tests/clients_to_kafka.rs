//! The client matrix on a real Apache Kafka 4.4.0 (three nodes, KRaft, from
//! `interop/kafka/kafka.sh`): each client's own produce-then-consume program
//! (the same programs `clients_to_serve.rs` runs against `sim serve`) must
//! pass here, so a difference between the two is prodsim's to explain, not
//! the program's. Then the seed's test on the newest Sarama: one
//! `*ProducerMessage` handed to two producers, against their own copies.
//!
//! One cluster for every client (a test each would start six JVMs per
//! binary); the table of results is printed at the end.

mod common;

use common::clients::{go, kafkajs, python};
use common::kafka::RealKafka;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Instant;

/// The client's `RESULT:` line.
fn result(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find(|l| l.starts_with("RESULT:"))
        .unwrap_or("RESULT: none (the client printed no result)")
        .to_string()
}

struct Row {
    client: &'static str,
    result: String,
    passed: bool,
    secs: f64,
}

fn run(client: &'static str, mut command: Command) -> Row {
    let started = Instant::now();
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("{client}: starting it: {e}"));
    let secs = started.elapsed().as_secs_f64();
    let result = result(&out);
    let passed = out.status.success() && result.starts_with("RESULT: OK");
    if !passed {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(12).collect();
        println!("{client} failed; stderr (last lines, reversed): {tail:#?}");
    }
    println!("{client}: {result} ({secs:.1} s)");
    Row {
        client,
        result,
        passed,
        secs,
    }
}

#[test]
fn every_client_passes_its_own_check_on_real_kafka() {
    let kafka = RealKafka::start("clients", 3);
    let b = kafka.bootstrap.as_str();
    let mut rows = vec![
        run("Java kafka-clients 4.4.0", {
            let mut c = common::java::check(b);
            c.args(["--topic", "java", "--records", "5000"]);
            c
        }),
        run("Java kafka-clients 4.4.0, zstd", {
            let mut c = common::java::check(b);
            c.args([
                "--topic",
                "java-zstd",
                "--compression",
                "zstd",
                "--read",
                "group",
            ]);
            c
        }),
        run(
            "franz-go 1.22.3 (defaults: snappy)",
            go("franz-check", b, &["--topic", "franz"]),
        ),
        run(
            "franz-go 1.22.3, no compression",
            go(
                "franz-check",
                b,
                &[
                    "--topic",
                    "franz-none",
                    "--compression",
                    "none",
                    "--read",
                    "group",
                ],
            ),
        ),
        run(
            "Sarama 1.61.1",
            go(
                "sarama-check",
                b,
                &["--topic", "sarama", "--close-after-acks"],
            ),
        ),
        run(
            "confluent-kafka 2.16.1",
            python(
                "confluent-kafka",
                b,
                &["--topic", "cfk", "--records", "5000"],
            ),
        ),
        run(
            "kafka-python 3.0.12",
            python("kafka-python", b, &["--topic", "kpy", "--records", "3000"]),
        ),
        run(
            "kafkajs 2.2.4",
            kafkajs(
                b,
                &["--topic", "kjs", "--producers", "2", "--records", "3000"],
            ),
        ),
    ];
    println!("\n| client | real Kafka 4.4.0 (3 nodes) | time |\n|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {} | {:.1} s |",
            r.client,
            if r.passed { "PASS" } else { "FAIL" },
            r.secs
        );
    }
    rows.retain(|r| !r.passed);
    assert!(
        rows.is_empty(),
        "correct clients failed on real Kafka: {:?}",
        rows.iter()
            .map(|r| (r.client, &r.result))
            .collect::<Vec<_>>()
    );
}

/// What `sarama-producer -verify` reported.
struct SaramaRun {
    acks: usize,
    errors: usize,
    verify: Option<String>,
    closed: usize,
    races: usize,
    panicked: bool,
}

fn sarama_producers(binary: PathBuf, bootstrap: &str, topic: &str, share: bool) -> SaramaRun {
    let mut c = Command::new(binary);
    c.args([
        "-topic",
        topic,
        "-records",
        "20000",
        "-deadline",
        "20s",
        "-verify",
    ]);
    if share {
        c.arg("-share");
    }
    let out = c
        .args([bootstrap, bootstrap])
        .output()
        .expect("sarama-producer runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let run = SaramaRun {
        acks: stdout.lines().filter(|l| l.starts_with("ACK ")).count(),
        errors: stdout.lines().filter(|l| l.starts_with("FAIL ")).count(),
        verify: stdout
            .lines()
            .find(|l| l.starts_with("VERIFY:"))
            .map(str::to_string),
        closed: stdout.lines().filter(|l| l.starts_with("CLOSED ")).count(),
        races: stderr.matches("WARNING: DATA RACE").count(),
        panicked: stderr.contains("panic:"),
    };
    println!(
        "sarama-producer share={share}: {} acks, {} errors, {} of 2 closed, {} data races{}; {}",
        run.acks,
        run.errors,
        run.closed,
        run.races,
        if run.panicked { ", panicked" } else { "" },
        run.verify.as_deref().unwrap_or("no VERIFY line")
    );
    run
}

/// The seed's test on the newest Sarama (1.61.1), on a real Kafka: two
/// producers with their own copies deliver every record where they said;
/// handed one `*ProducerMessage` each, they race on it and acknowledge
/// records at offsets that hold other records (or never close).
#[test]
fn the_seeds_shared_message_test_on_the_newest_sarama() {
    let kafka = RealKafka::start("sarama-seed", 1);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for t in ["copies", "shared"] {
        rt.block_on(common::create_topic(&kafka.bootstrap, t, 6, 1));
    }
    let newest = common::sarama::producer_binary_newest();
    let copies = sarama_producers(newest.clone(), &kafka.bootstrap, "copies", false);
    assert_eq!(copies.acks, 40_000, "every copy acknowledged");
    assert_eq!((copies.closed, copies.races), (2, 0));
    assert!(
        copies
            .verify
            .as_deref()
            .is_some_and(|v| v.starts_with("VERIFY: OK 40000 acknowledged")),
        "{:?}",
        copies.verify
    );
    let shared = sarama_producers(newest, &kafka.bootstrap, "shared", true);
    assert!(
        shared.races > 0,
        "sharing one message races (Go's race detector)"
    );
    let verified_ok = shared
        .verify
        .as_deref()
        .is_some_and(|v| v.starts_with("VERIFY: OK"));
    assert!(
        shared.panicked || shared.closed < 2 || !verified_ok || shared.errors > 0,
        "sharing one *ProducerMessage went unnoticed: {} acks, {:?}",
        shared.acks,
        shared.verify
    );
}
