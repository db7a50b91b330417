//! Real clients, each running its own produce-then-consume check (programs in
//! `interop/clients/`, none of them prodsim code), against the `sim` binary's
//! `sim serve`, judged twice: by the client's own read-back (`RESULT: OK`) and
//! by `sim serve`'s black-box verdict from the wire alone (no outcomes file).
//! Each client runs without faults and under `interop/scenarios/broker-faults.toml`
//! (retriable errors, lost responses, a crash and restart, a leader move).
//!
//! Java kafka-clients 4.4, franz-go 1.22.3 and Sarama 1.61.1 run the same
//! programs as on real Kafka (`clients_to_kafka.rs`); franz-go with its
//! default compression (snappy, a raw block) and the Java client with each
//! codec (snappy framed as xerial writes it, gzip, lz4, zstd) as well as
//! uncompressed.
//!
//! Also the measured cases of issue 16: a confluent-kafka program producing
//! 3 x 5,000 idempotent records and reading them back with `assign()` passes;
//! two Sarama 1.22.1 producers with one client id and their own copies of
//! equal messages pass; the same two sharing each `*ProducerMessage` fail,
//! named by the broker's out-of-order answers.

mod common;

use common::clients::{go, kafkajs, python};
use common::serve::{root, Served, SimServe};
use std::path::PathBuf;
use std::process::{Command, Output};

fn faults() -> PathBuf {
    root().join("interop/scenarios/broker-faults.toml")
}

/// Runs `client` against a fresh `sim serve` (with `scenario`), then stops the
/// server with Ctrl-C; prints both sides' summaries.
fn run(
    name: &str,
    scenario: Option<PathBuf>,
    client: impl FnOnce(&str) -> Command,
) -> (Output, Served) {
    let server = SimServe::start(scenario.as_deref(), name);
    let started = std::time::Instant::now();
    let out = client(&server.bootstrap)
        .output()
        .unwrap_or_else(|e| panic!("{name}: starting the client: {e}"));
    let took = started.elapsed();
    let served = server.stop();
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!(
        "== {name}: client exit {:?} after {:.1} s",
        out.status.code(),
        took.as_secs_f64()
    );
    // Not Sarama's outcome lines (SEND, ACK, FAIL, CLOSED): its summary.
    let outcome = |l: &str| {
        ["SEND ", "ACK ", "FAIL ", "CLOSED "]
            .iter()
            .any(|p| l.starts_with(p))
    };
    for line in stdout
        .lines()
        .filter(|l| !l.is_empty() && !outcome(l))
        .take(12)
    {
        println!("client: {line}");
    }
    println!("server: {} ({} records)", served.verdict, served.records());
    for v in served.report["violations"]
        .as_array()
        .into_iter()
        .flatten()
        .take(3)
    {
        println!("server violation: {v}");
    }
    if let Some(p) = served.progress.iter().rev().find(|l| l.contains("records")) {
        println!("server progress (last): {p}");
    }
    (out, served)
}

/// The client's `RESULT:` line.
fn result(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find(|l| l.starts_with("RESULT:"))
        .unwrap_or("RESULT: none (the client printed no result)")
        .to_string()
}

/// The client checked its records and the server found nothing wrong.
fn assert_both_pass(name: &str, out: &Output, served: &Served, min_records: u64) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let tail: Vec<&str> = stderr.lines().rev().take(15).collect();
    assert!(
        result(out).starts_with("RESULT: OK") && out.status.success(),
        "{name}: the client's own check failed: {}\nstderr (last lines, reversed): {tail:#?}",
        result(out)
    );
    assert!(
        served.passed(),
        "{name}: sim serve: {}\n{}",
        served.verdict,
        served.stdout
    );
    assert!(
        served.records() >= min_records,
        "{name}: only {} records reached the broker",
        served.records()
    );
}

#[test]
fn confluent_kafka_3_x_5000_idempotent_records_read_back_with_assign() {
    let (out, served) = run("cfk-assign", None, |b| {
        python(
            "confluent-kafka",
            b,
            &["--producers", "3", "--records", "5000", "--read", "assign"],
        )
    });
    assert_both_pass("confluent-kafka", &out, &served, 15_000);
}

#[test]
fn confluent_kafka_group_consumer_under_broker_faults() {
    let (out, served) = run("cfk-faults", Some(faults()), |b| {
        python(
            "confluent-kafka",
            b,
            &[
                "--topic",
                "events",
                "--producers",
                "2",
                "--records",
                "4000",
                "--read",
                "group",
                "--spread-secs",
                "3",
            ],
        )
    });
    assert_both_pass("confluent-kafka under faults", &out, &served, 8_000);
    // The faults were met while it produced, and sim serve showed progress.
    let answers = served
        .stdout
        .lines()
        .filter(|l| l.starts_with("cfk-producer"));
    assert!(
        answers.clone().any(|l| l.contains("closed x"))
            && answers.clone().any(|l| l.contains(" 6x")),
        "the lost responses and NOT_LEADER injections were not met:\n{}",
        served.stdout
    );
    let faults = served.report["faults"].to_string();
    assert!(
        faults.contains("crash") && faults.contains("restart"),
        "{faults}"
    );
    assert!(
        served
            .progress
            .iter()
            .any(|l| l.contains("cfk-producer-0: ") && l.contains("/s)")),
        "no progress line: {:?}",
        served.progress
    );
}

#[test]
fn kafka_python_assign_without_faults() {
    let (out, served) = run("kpy-assign", None, |b| {
        python(
            "kafka-python",
            b,
            &["--producers", "2", "--records", "3000", "--read", "assign"],
        )
    });
    assert_both_pass("kafka-python", &out, &served, 6_000);
}

#[test]
fn kafka_python_group_consumer_under_broker_faults() {
    let (out, served) = run("kpy-faults", Some(faults()), |b| {
        python(
            "kafka-python",
            b,
            &[
                "--topic",
                "events",
                "--producers",
                "2",
                "--records",
                "3000",
                "--read",
                "group",
                "--spread-secs",
                "3",
            ],
        )
    });
    assert_both_pass("kafka-python under faults", &out, &served, 6_000);
}

#[test]
fn kafkajs_group_consumer_without_faults() {
    let (out, served) = run("kjs", None, |b| {
        kafkajs(b, &["--producers", "2", "--records", "3000"])
    });
    assert_both_pass("kafkajs", &out, &served, 6_000);
}

/// kafkajs 2.2.4 loses acknowledged records when a send spans a leader's
/// crash: `producer/sendMessages.js` keeps each broker's response across
/// retries (`responsePerBroker`) and asks again only brokers without one, so
/// the crashed leader's partitions, now led by a broker that already answered
/// an earlier attempt, are never sent again, yet `send()` resolves; and it
/// rolls back the sequence numbers of the failed request. When that request
/// never reached the log, the wire cannot show anything (sequences stay
/// contiguous) and `sim serve` passes; when it was written before the crash,
/// the next batch reuses its sequence for other records, which the broker
/// answers as a duplicate and `sim serve` fails as `sequence_reused`. Which
/// one happens depends on where the crash meets the client. The client's own
/// read-back finds the records missing either way. Whether the crash meets a
/// send depends on wall-clock timing over real TCP: the loss showed in 8 of 8
/// runs on a quiet machine and not at all in one run of CI's clean clone, so
/// this test does not require the bug; it requires a verdict that fits what
/// happened: no false alarm when kafkajs delivered everything, and when it lost
/// records, nothing but the loss (the client) and reused sequences (the wire).
#[test]
fn kafkajs_under_a_leader_crash_is_judged_for_what_happened() {
    let (out, served) = run("kjs-faults", Some(faults()), |b| {
        kafkajs(
            b,
            &[
                "--topic",
                "events",
                "--producers",
                "2",
                "--records",
                "3000",
                "--spread-secs",
                "3",
            ],
        )
    });
    let result = result(&out);
    let kinds = served.violation_kinds();
    if result.starts_with("RESULT: OK") {
        println!("kafkajs delivered every record this time: {result}");
        assert!(
            kinds.is_empty(),
            "a false alarm on a correct run: {kinds:?}\n{}",
            served.stdout
        );
        assert!(
            served.records() >= 6_000,
            "only {} records reached the broker",
            served.records()
        );
        return;
    }
    println!("kafkajs lost acknowledged records (its bug): {result}");
    assert!(
        result.starts_with("RESULT: FAIL") && result.contains("acknowledged values not read back"),
        "kafkajs failed otherwise: {result}"
    );
    assert!(
        !result.contains("stored twice") && !result.contains("out of"),
        "{result}"
    );
    assert!(
        kinds.iter().all(|(k, _)| k == "sequence_reused"),
        "sim serve found more than the reused sequences: {kinds:?}\n{}",
        served.stdout
    );
    assert!(served.records() < 6_000, "every record reached the broker");
}

fn java(bootstrap: &str, args: &[&str]) -> Command {
    let mut c = common::java::check(bootstrap);
    c.args(args);
    c
}

/// The faulted run's arguments: the scenario's topic, 2 x 4,000 records spread
/// over 3 s so the crash, restart and leader move meet the sends.
const UNDER_FAULTS: [&str; 8] = [
    "--topic",
    "events",
    "--producers",
    "2",
    "--records",
    "4000",
    "--spread-secs",
    "3",
];

#[test]
fn java_client_without_faults() {
    let (out, served) = run("java", None, |b| java(b, &["--records", "5000"]));
    assert_both_pass("Java kafka-clients 4.4.0", &out, &served, 15_000);
}

#[test]
fn java_client_group_consumer_under_broker_faults() {
    let (out, served) = run("java-faults", Some(faults()), |b| {
        java(b, &[&UNDER_FAULTS[..], &["--read", "group"]].concat())
    });
    assert_both_pass(
        "Java kafka-clients 4.4.0 under faults",
        &out,
        &served,
        8_000,
    );
}

#[test]
fn franz_go_without_compression_without_faults() {
    let (out, served) = run("franz", None, |b| {
        go(
            "franz-check",
            b,
            &["--compression", "none", "--read", "group"],
        )
    });
    assert_both_pass("franz-go 1.22.3", &out, &served, 15_000);
}

#[test]
fn franz_go_without_compression_under_broker_faults() {
    let (out, served) = run("franz-faults", Some(faults()), |b| {
        go(
            "franz-check",
            b,
            &[&UNDER_FAULTS[..], &["--compression", "none"]].concat(),
        )
    });
    assert_both_pass("franz-go 1.22.3 under faults", &out, &served, 8_000);
}

#[test]
fn franz_go_with_its_default_compression_without_faults() {
    let (out, served) = run("franz-snappy", None, |b| {
        go("franz-check", b, &["--read", "group"])
    });
    assert_both_pass("franz-go 1.22.3, defaults (snappy)", &out, &served, 15_000);
}

#[test]
fn franz_go_with_its_default_compression_under_broker_faults() {
    let (out, served) = run("franz-snappy-faults", Some(faults()), |b| {
        go("franz-check", b, &UNDER_FAULTS)
    });
    assert_both_pass(
        "franz-go 1.22.3, defaults (snappy), under faults",
        &out,
        &served,
        8_000,
    );
}

#[test]
fn java_client_with_each_codec() {
    for codec in ["gzip", "snappy", "lz4", "zstd"] {
        let (out, served) = run(&format!("java-{codec}"), None, |b| {
            java(b, &["--records", "3000", "--compression", codec])
        });
        assert_both_pass(
            &format!("Java kafka-clients 4.4.0, {codec}"),
            &out,
            &served,
            9_000,
        );
    }
}

#[test]
fn java_client_with_zstd_under_broker_faults() {
    let (out, served) = run("java-zstd-faults", Some(faults()), |b| {
        java(b, &[&UNDER_FAULTS[..], &["--compression", "zstd"]].concat())
    });
    assert_both_pass(
        "Java kafka-clients 4.4.0, zstd, under faults",
        &out,
        &served,
        8_000,
    );
}

#[test]
fn sarama_1_61_without_faults() {
    let (out, served) = run("sarama-1.61", None, |b| {
        go("sarama-check", b, &["--close-after-acks"])
    });
    assert_both_pass("Sarama 1.61.1", &out, &served, 15_000);
}

#[test]
fn sarama_1_61_group_consumer_under_broker_faults() {
    let (out, served) = run("sarama-1.61-faults", Some(faults()), |b| {
        go(
            "sarama-check",
            b,
            &[
                &UNDER_FAULTS[..],
                &["--close-after-acks", "--read", "group"],
            ]
            .concat(),
        )
    });
    assert_both_pass("Sarama 1.61.1 under faults", &out, &served, 8_000);
}

/// The seed's test on the newest Sarama (1.61.1): one `*ProducerMessage`
/// handed to two producers. They race on its fields (Partition, Offset,
/// sequence number, flags); the wire alone shows batches sent to brokers that
/// do not lead their partition (`misrouted`) and the broker's out-of-order
/// answers.
#[test]
fn one_message_shared_by_two_producers_of_the_newest_sarama_fails() {
    let (_, served) = run("sarama-1.61-shared", None, |b| {
        let mut c = Command::new(common::sarama::producer_binary_newest());
        c.args([
            "-topic",
            "events",
            "-client-id",
            "sarama",
            "-records",
            "20000",
        ])
        .args(["-share", "-deadline", "15s", b, b]);
        c
    });
    assert!(!served.passed(), "sharing passed:\n{}", served.stdout);
    let kinds = served.violation_kinds();
    println!("Sarama 1.61.1, one message shared by two producers: {kinds:?}");
    assert!(
        kinds.iter().any(|(k, n)| {
            [
                "misrouted",
                "out_of_order_answer",
                "sequence",
                "sequence_reused",
            ]
            .contains(&k.as_str())
                && *n > 0
        }),
        "{kinds:?}"
    );
}

fn sarama(bootstrap: &str, args: &[&str]) -> Command {
    let mut c = Command::new(common::sarama::producer_binary());
    c.args(["-topic", "events", "-client-id", "sarama"])
        .args(args);
    // Two producers, one client id, against the same cluster.
    c.args([bootstrap, bootstrap]);
    c
}

#[test]
fn sarama_producers_with_their_own_copies_and_one_client_id_pass_without_outcomes() {
    let (out, served) = run("sarama-copies", None, |b| {
        sarama(b, &["-records", "20000", "-verify"])
    });
    let stdout = String::from_utf8_lossy(&out.stdout);
    let acks = stdout.lines().filter(|l| l.starts_with("ACK ")).count();
    assert_eq!(acks, 40_000, "Sarama's own acks");
    let verify = stdout.lines().find(|l| l.starts_with("VERIFY:"));
    assert!(
        verify.is_some_and(|v| v.starts_with("VERIFY: OK 40000 acknowledged")),
        "Sarama's read-back: {verify:?}"
    );
    assert!(out.status.success());
    assert!(served.passed(), "{}\n{}", served.verdict, served.stdout);
    assert_eq!(served.records(), 40_000);
}

#[test]
fn sarama_producers_with_their_own_copies_under_broker_faults() {
    let (out, served) = run("sarama-faults", Some(faults()), |b| {
        sarama(b, &["-records", "20000", "-deadline", "40s", "-verify"])
    });
    let stdout = String::from_utf8_lossy(&out.stdout);
    // What Sarama acknowledged is where it said (its consumer reads it back).
    let verify = stdout.lines().find(|l| l.starts_with("VERIFY:"));
    assert!(
        verify.is_some_and(|v| v.starts_with("VERIFY: OK")),
        "{verify:?}"
    );
    let acks = stdout.lines().filter(|l| l.starts_with("ACK ")).count();
    let fails = stdout.lines().filter(|l| l.starts_with("FAIL ")).count();
    println!(
        "Sarama under broker faults: {acks} acks, {fails} errors; server {:?}",
        served.violation_kinds()
    );
    // Sarama 1.22.1's idempotence breaks after a lost response (see
    // sarama_to_sim.rs, IBM/sarama#1430): its retries are refused as out of
    // order, answers the wire verdict explains by the fault (expected
    // anomalies), so the server passes; the client's errors are all those.
    assert!(served.passed(), "{}\n{}", served.verdict, served.stdout);
    let other: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("FAIL ") && !l.contains("out of order sequence number"))
        .take(5)
        .collect();
    assert!(
        other.is_empty(),
        "Sarama errors other than out of order: {other:?}"
    );
    assert!(acks > 0, "Sarama delivered nothing");
}

#[test]
fn one_message_shared_by_two_sarama_producers_fails_naming_the_out_of_order_answers() {
    let (_, served) = run("sarama-shared", None, |b| {
        sarama(b, &["-records", "20000", "-share", "-deadline", "15s"])
    });
    assert!(!served.passed(), "sharing passed:\n{}", served.stdout);
    let kinds = served.violation_kinds();
    println!("Sarama, one message shared by two producers: {kinds:?}");
    assert!(
        kinds
            .iter()
            .any(|(k, n)| k == "out_of_order_answer" && *n > 0),
        "{kinds:?}"
    );
    assert!(
        served
            .stdout
            .contains("answered 45 (OUT_OF_ORDER_SEQUENCE_NUMBER)"),
        "{}",
        served.stdout
    );
}
