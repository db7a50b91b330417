//! A real Apache Kafka for the ground-truth tests, started with the project's
//! own `interop/kafka/kafka.sh` (Kafka from Maven Central, KRaft, one JVM per
//! node) in a folder of the test target dir, stopped when dropped.
//!
//! `PRODSIM_KAFKA_PORT` moves the port range (default: one derived from the
//! test binary's name, so test binaries running side by side do not collide).

use super::serve::root;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// A running real Kafka cluster.
pub struct RealKafka {
    /// Its `bootstrap.servers`.
    pub bootstrap: String,
    /// Client addresses, node 1 first.
    pub nodes: Vec<String>,
    dir: PathBuf,
}

fn script() -> PathBuf {
    root().join("interop/kafka/kafka.sh")
}

fn kafka_sh(args: &[&str]) -> String {
    let out = Command::new("bash")
        .arg(script())
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running kafka.sh {args:?}: {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "kafka.sh {args:?} failed ({}):\n{stderr}",
        out.status
    );
    eprint!("{stderr}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A base port with `2 * brokers` free ports after it.
fn free_ports(name: &str, brokers: u16) -> u16 {
    let mut port = match std::env::var("PRODSIM_KAFKA_PORT") {
        Ok(p) => p.parse().expect("PRODSIM_KAFKA_PORT is a port number"),
        Err(_) => {
            let h = name
                .bytes()
                .fold(7u32, |h, b| h.wrapping_mul(31) ^ u32::from(b));
            21_000 + (h % 400) as u16 * 20
        }
    };
    loop {
        let free = (0..2 * brokers).all(|i| TcpListener::bind(("127.0.0.1", port + i)).is_ok());
        if free {
            return port;
        }
        port += 2 * brokers;
    }
}

impl RealKafka {
    /// Starts a `brokers`-node cluster named `name` (its folder under the test
    /// target dir); returns once every node answers and lists all of them.
    pub fn start(name: &str, brokers: u16) -> RealKafka {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("kafka-{name}"));
        let _ = Command::new("bash")
            .arg(script())
            .args(["stop", &dir.to_string_lossy()])
            .output();
        let port = free_ports(name, brokers);
        let started = Instant::now();
        let bootstrap = kafka_sh(&[
            "start",
            &dir.to_string_lossy(),
            &port.to_string(),
            &brokers.to_string(),
        ]);
        let bootstrap = bootstrap.lines().last().unwrap_or_default().to_string();
        println!(
            "real Kafka `{name}`: {brokers} node(s) at {bootstrap}, started in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        RealKafka {
            nodes: bootstrap.split(',').map(str::to_string).collect(),
            bootstrap,
            dir,
        }
    }

    /// The node (1-based, as `kafka.sh` counts) listening at `addr`.
    pub fn node_at(&self, addr: &str) -> u16 {
        let i = self
            .nodes
            .iter()
            .position(|n| n == addr)
            .unwrap_or_else(|| panic!("{addr} is not a node of {:?}", self.nodes));
        i as u16 + 1
    }

    /// `kill -9` of one node.
    pub fn kill(&self, node: u16) {
        kafka_sh(&["kill", &self.dir.to_string_lossy(), &node.to_string()]);
    }

    /// Starts a node again (stopping it cleanly first if it runs); returns once
    /// the cluster lists it.
    pub fn restart(&self, node: u16) {
        kafka_sh(&["restart", &self.dir.to_string_lossy(), &node.to_string()]);
    }
}

impl Drop for RealKafka {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(script())
            .args(["stop", &self.dir.to_string_lossy()])
            .output();
    }
}
