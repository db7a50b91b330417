//! Sarama (Go, `github.com/Shopify/sarama` 1.22.1, pinned in
//! `interop/go/sarama-1.22.mod`) as a peer, built in module mode by
//! [`super::go`]:
//! - its mock broker (`interop/go/sarama-mock-broker/`), a second, independent judge
//!   of produce requests: it decodes every request completely, RecordBatch
//!   CRC-32C included;
//! - its idempotent AsyncProducer (`interop/go/sarama-producer/`), a second real
//!   client for the simulated broker, built with Go's race detector.

use super::judge::Reported;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A running `sarama-mock-broker` process.
pub struct SaramaBroker {
    /// Its `host:port`, usable as bootstrap address.
    pub bootstrap: String,
    child: Child,
    stdin: Option<ChildStdin>,
    rejections: Arc<Mutex<Vec<String>>>,
}

impl SaramaBroker {
    /// Builds (once per test process) and starts a broker leading every
    /// partition of `topic`.
    pub fn start(topic: &str, partitions: u32) -> SaramaBroker {
        let binary = build("sarama-mock-broker", false);
        let mut child = Command::new(&binary)
            .args([topic, &partitions.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));
        let stdin = child.stdin.take();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines
            .next()
            .expect("sarama-mock-broker exited before it listened")
            .unwrap();
        let bootstrap = first
            .strip_prefix("LISTENING ")
            .unwrap_or_else(|| panic!("unexpected first line from sarama-mock-broker: {first}"))
            .to_string();
        let rejections = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&rejections);
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if let Some(reason) = line.strip_prefix("REJECTED: ") {
                    sink.lock().unwrap().push(reason.to_string());
                }
            }
        });
        SaramaBroker {
            bootstrap,
            child,
            stdin,
            rejections,
        }
    }

    /// Why the broker refused requests so far, one reason per request.
    pub fn rejections(&self) -> Vec<String> {
        self.rejections.lock().unwrap().clone()
    }

    /// The rejections once there are at least `count` of them, or whatever
    /// there is after a second (the broker reports before it hangs up, but its
    /// output is read on another thread).
    pub fn wait_for_rejections(&self, count: usize) -> Vec<String> {
        for _ in 0..50 {
            let seen = self.rejections();
            if seen.len() >= count {
                return seen;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.rejections()
    }
}

impl Drop for SaramaBroker {
    fn drop(&mut self) {
        drop(self.stdin.take()); // EOF on stdin: the broker closes and exits
        let _ = self.child.wait();
    }
}

/// What `sarama-producer` did.
pub struct ProducerRun {
    /// What it reported (one producer per bootstrap address, in order).
    pub reported: Reported,
    /// How many data races Go's race detector reported.
    pub data_races: usize,
    /// The process's standard error (race reports, panics).
    pub stderr: String,
    /// Its exit code (None: killed by a signal). Go's race detector makes it 66.
    pub exit: Option<i32>,
}

/// Runs Sarama's idempotent AsyncProducer, one per address in `bootstraps`,
/// each sent `records` records (see `sarama-producer/main.go` for their
/// contents); `share`: every producer is handed the same `*ProducerMessage`.
/// Close is given `deadline`; after it the run counts as not closed.
pub fn run_producers(
    bootstraps: &[&str],
    records: usize,
    share: bool,
    deadline: Duration,
) -> ProducerRun {
    let binary = build("sarama-producer", true);
    let mut command = Command::new(&binary);
    command
        .args(["-topic", super::TOPIC, "-records", &records.to_string()])
        .arg(format!("-deadline={}ms", deadline.as_millis()));
    if share {
        command.arg("-share");
    }
    let out = command
        .args(bootstraps)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", binary.display()));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let reported = Reported::parse(&String::from_utf8_lossy(&out.stdout))
        .unwrap_or_else(|e| panic!("sarama-producer's output: {e}\n{stderr}"));
    assert_eq!(reported.producers.len(), bootstraps.len(), "{stderr}");
    ProducerRun {
        reported,
        data_races: stderr.matches("WARNING: DATA RACE").count(),
        stderr,
        exit: out.status.code(),
    }
}

/// The Go peer `name` of `interop/go/` (Sarama 1.22.1 builds: the versions
/// these tests' assertions describe, IBM/sarama#1430 included).
fn build(name: &str, _race: bool) -> PathBuf {
    super::go::binary(&format!("{name}-1.22"))
}

/// The `sarama-producer` binary on Sarama 1.22.1 (race detector on).
pub fn producer_binary() -> PathBuf {
    build("sarama-producer", true)
}

/// The `sarama-producer` binary on the newest Sarama, 1.61.1 (race detector on).
pub fn producer_binary_newest() -> PathBuf {
    super::go::binary("sarama-producer")
}
