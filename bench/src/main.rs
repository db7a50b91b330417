//! prodsim benchmarks, printed as tables side by side with the reference:
//!
//! 1. throughput: producer-core (TokioNetwork) and librdkafka produce the same
//!    workload to the same broker (librdkafka's mock cluster, 3 brokers, 6
//!    partitions), same settings, in the same run;
//! 2. simulation speed: simulated seconds per wall second and seeds per second;
//! 3. memory: 8 producers sending the same 100 MB of records, shared vs cloned,
//!    peak RSS of a child process that holds only the producers;
//! 4. time to first failure: random swarm vs guided search over the deep
//!    injected classes (`bugs::DEEP`), 9 search seeds each, with the `guided
//!    speedup:` line; every class's table with `--only=ttff-all`;
//! 5. compression: lz4 and zstd, producer-core vs librdkafka on one broker,
//!    msgs/s and the bytes each writes.
//!
//! `cargo run --release --manifest-path bench/Cargo.toml [-- --quick]`

mod floor;
mod sim_speed;
mod ttff;

use bytes::Bytes;
use producer_core::compression::Compression;
use producer_core::record::Record;
use producer_core::{Config, Producer, TokioNetwork};
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{
    BaseRecord, DeliveryResult, Producer as _, ProducerContext, ThreadedProducer,
};
use rdkafka::ClientContext;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const TOPIC: &str = "bench";
const PARTITIONS: i32 = 6;
/// Reference numbers measured on a 2-core machine (NOTES.md): librdkafka 2.12.1,
/// idempotent, linger 5 ms, mock cluster, 3 brokers, 6 partitions.
const REFERENCE: [(usize, f64); 2] = [(100, 607_754.0), (1_000, 150_648.0)];

fn workloads(quick: bool) -> [(usize, usize); 2] {
    if quick {
        [(200_000, 100), (40_000, 1_000)]
    } else {
        [(1_000_000, 100), (200_000, 1_000)]
    }
}

/// A pool of distinct payloads, cycled through by both clients.
fn payloads(size: usize) -> Vec<Bytes> {
    (0..1024u32)
        .map(|i| {
            Bytes::from(
                (0..size)
                    .map(|j| (i as usize * 7 + j) as u8)
                    .collect::<Vec<u8>>(),
            )
        })
        .collect()
}

fn mock_cluster() -> MockCluster<'static, rdkafka::producer::DefaultProducerContext> {
    let mock = MockCluster::new(3).expect("librdkafka mock cluster");
    mock.create_topic(TOPIC, PARTITIONS, 3).expect("topic");
    mock
}

/// The runtime both of producer-core's benchmarks run on: two workers, as many
/// as the machine's cores.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn ours(count: usize, size: usize) -> Duration {
    ours_with(count, size, Compression::None).0
}

/// Adds up the bytes of every produce request a producer writes.
#[derive(Default)]
struct WireBytes(AtomicU64);

impl producer_core::observe::Observer for WireBytes {
    fn event(&self, event: producer_core::observe::Event) {
        if let producer_core::observe::Event::RequestSent { bytes, .. } = event {
            self.0.fetch_add(bytes as u64, Ordering::Relaxed);
        }
    }
}

/// producer-core's run with `compression`: time, and produce-request bytes
/// written.
fn ours_with(count: usize, size: usize, compression: Compression) -> (Duration, u64) {
    let mock = mock_cluster();
    let bootstrap = mock.bootstrap_servers();
    let pool = payloads(size);
    let rt = runtime();
    let wire = Arc::new(WireBytes::default());
    let elapsed = rt.block_on(async {
        let config = Config {
            client_id: "prodsim-bench".into(),
            bootstrap: bootstrap.split(',').map(str::to_string).collect(),
            idempotence: true,
            linger: Duration::from_millis(5),
            batch_size: 1024 * 1024,
            max_in_flight: 5,
            request_timeout: Duration::from_secs(30),
            compression,
            ..Config::default()
        };
        let producer = if compression.is_none() {
            Producer::new(config, Arc::new(TokioNetwork)).unwrap()
        } else {
            Producer::with_observer(config, Arc::new(TokioNetwork), wire.clone()).unwrap()
        };
        // Warm up: metadata and producer id, outside the timed part.
        producer
            .send(TOPIC, Record::new(pool[0].clone()))
            .await
            .await
            .expect("warm-up");
        let started = Instant::now();
        let failures = Arc::new(AtomicU64::new(0));
        // Delivery futures go to a waiting task in chunks, as an application
        // that checks every outcome would do it.
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<producer_core::DeliveryFuture>>(64);
        let waiter = {
            let failures = failures.clone();
            tokio::spawn(async move {
                while let Some(chunk) = rx.recv().await {
                    for f in chunk {
                        if let Err(e) = f.await {
                            if failures.fetch_add(1, Ordering::Relaxed) == 0 {
                                eprintln!("producer-core: first failed delivery: {e}");
                            }
                        }
                    }
                }
            })
        };
        let mut chunk = Vec::with_capacity(1024);
        for i in 0..count {
            chunk.push(
                producer
                    .send(TOPIC, Record::new(pool[i % pool.len()].clone()))
                    .await,
            );
            if chunk.len() == 1024 {
                tx.send(std::mem::replace(&mut chunk, Vec::with_capacity(1024)))
                    .await
                    .unwrap();
            }
        }
        tx.send(chunk).await.unwrap();
        drop(tx);
        waiter.await.unwrap();
        let elapsed = started.elapsed();
        producer.close().await;
        assert_eq!(
            failures.load(Ordering::Relaxed),
            0,
            "producer-core failed deliveries"
        );
        elapsed
    });
    (elapsed, wire.0.load(Ordering::Relaxed))
}

struct Counting {
    ok: AtomicU64,
    failed: AtomicU64,
    /// Bytes written to the brokers, from librdkafka's statistics.
    tx_bytes: AtomicU64,
}

impl ClientContext for Counting {
    fn stats(&self, statistics: rdkafka::Statistics) {
        let sent: u64 = statistics
            .brokers
            .values()
            .filter(|b| b.nodeid >= 0)
            .map(|b| b.txbytes)
            .sum();
        self.tx_bytes.fetch_max(sent, Ordering::Relaxed);
    }
}

impl ProducerContext for Counting {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => self.ok.fetch_add(1, Ordering::Relaxed),
            Err(_) => self.failed.fetch_add(1, Ordering::Relaxed),
        };
    }
}

fn librdkafka(count: usize, size: usize) -> Duration {
    librdkafka_with(count, size, "none").0
}

/// librdkafka's run with `compression.codec`: time, and bytes written to the
/// brokers (its statistics' `txbytes`, every request).
fn librdkafka_with(count: usize, size: usize, codec: &str) -> (Duration, u64) {
    let mock = mock_cluster();
    let pool = payloads(size);
    let producer: ThreadedProducer<Counting> = ClientConfig::new()
        .set("bootstrap.servers", mock.bootstrap_servers())
        .set("compression.codec", codec)
        .set("statistics.interval.ms", "100")
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("batch.size", "1048576")
        .set("max.in.flight.requests.per.connection", "5")
        .set("queue.buffering.max.messages", "2000000")
        .set("queue.buffering.max.kbytes", "2097151")
        .create_with_context(Counting {
            ok: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            tx_bytes: AtomicU64::new(0),
        })
        .expect("librdkafka producer");
    let warm = BaseRecord::<(), [u8]>::to(TOPIC).payload(&pool[0][..]);
    producer.send(warm).map_err(|(e, _)| e).unwrap();
    while producer.context().ok.load(Ordering::Relaxed) < 1 {
        std::thread::sleep(Duration::from_millis(1));
    }
    let started = Instant::now();
    for i in 0..count {
        let mut record = BaseRecord::<(), [u8]>::to(TOPIC).payload(&pool[i % pool.len()][..]);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    record = r;
                    std::thread::sleep(Duration::from_micros(200));
                }
                Err((e, _)) => panic!("librdkafka send: {e}"),
            }
        }
    }
    let want = count as u64 + 1;
    while producer.context().ok.load(Ordering::Relaxed)
        + producer.context().failed.load(Ordering::Relaxed)
        < want
    {
        std::thread::sleep(Duration::from_micros(200));
    }
    let elapsed = started.elapsed();
    assert_eq!(
        producer.context().failed.load(Ordering::Relaxed),
        0,
        "librdkafka failed deliveries"
    );
    // One more statistics report after the last request.
    std::thread::sleep(Duration::from_millis(250));
    (elapsed, producer.context().tx_bytes.load(Ordering::Relaxed))
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn throughput(quick: bool) {
    let runs = if quick { 1 } else { 3 };
    println!("## Throughput: producer-core vs librdkafka, same broker (librdkafka mock cluster: 3 brokers, 6 partitions)");
    println!("settings: idempotent, acks=all, linger 5 ms, batch 1 MiB, max_in_flight 5, null keys, no compression");
    println!("each client runs {runs} time(s), alternating, on a fresh mock cluster; the median is shown, then every run's msgs/s");
    println!(
        "{:<14} {:>10} {:>12} {:>9} {:>8} {:>7} {:>16}  runs (msgs/s)",
        "workload", "client", "msgs/s", "MB/s", "wall s", "ratio", "reference msg/s"
    );
    let mut ratio_100 = None;
    for (count, size) in workloads(quick) {
        let (mut theirs, mut mine) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            theirs.push(librdkafka(count, size));
            mine.push(ours(count, size));
        }
        let rate = |d: Duration| count as f64 / d.as_secs_f64();
        let samples = |v: &[Duration]| {
            v.iter()
                .map(|d| format!("{:.0}", rate(*d)))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let (t, m) = (median(theirs.clone()), median(mine.clone()));
        let mb = |d: Duration| (count * size) as f64 / d.as_secs_f64() / 1e6;
        let label = format!("{}k x {} B", count / 1000, size);
        let reference = REFERENCE
            .iter()
            .find(|(s, _)| *s == size)
            .map_or(0.0, |r| r.1);
        let ratio = rate(m) / rate(t);
        println!(
            "{label:<14} {:>10} {:>12.0} {:>9.1} {:>8.3} {:>7} {:>16.0}  {}",
            "librdkafka",
            rate(t),
            mb(t),
            t.as_secs_f64(),
            "",
            reference,
            samples(&theirs)
        );
        println!(
            "{label:<14} {:>10} {:>12.0} {:>9.1} {:>8.3} {:>7.2} {:>16}  {}",
            "prodsim",
            rate(m),
            mb(m),
            m.as_secs_f64(),
            ratio,
            "",
            samples(&mine)
        );
        if size == 100 {
            ratio_100 = Some(ratio);
        }
    }
    if let Some(r) = ratio_100 {
        println!("ratio: {r:.2}");
    }
    println!();
}

/// lz4 and zstd, 100 B and 1 KB, both clients on the same mock cluster in one
/// run: msgs/s, their ratio, and the bytes each writes for the same records.
fn compression(quick: bool) {
    let runs = if quick { 1 } else { 3 };
    println!("## Compression: producer-core vs librdkafka, same broker, same records");
    println!("settings as above; payloads are the same 1,024 distinct values (they compress); bytes = produce requests written (librdkafka: its statistics' txbytes)");
    println!(
        "{:<14} {:>6} {:>10} {:>12} {:>7} {:>14} {:>9}  runs (msgs/s)",
        "workload", "codec", "client", "msgs/s", "ratio", "bytes sent", "B/msg"
    );
    for (count, size) in workloads(quick) {
        let count = count / 2;
        for (codec, ours_codec) in [
            ("lz4", Compression::Lz4),
            ("zstd", Compression::Zstd { level: 3 }),
        ] {
            let (mut theirs, mut mine) = (Vec::new(), Vec::new());
            for _ in 0..runs {
                theirs.push(librdkafka_with(count, size, codec));
                mine.push(ours_with(count, size, ours_codec));
            }
            let rate = |d: Duration| count as f64 / d.as_secs_f64();
            let med = |v: &[(Duration, u64)]| {
                let mut d: Vec<(Duration, u64)> = v.to_vec();
                d.sort();
                d[d.len() / 2]
            };
            let samples = |v: &[(Duration, u64)]| {
                v.iter()
                    .map(|(d, _)| format!("{:.0}", rate(*d)))
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            let (t, m) = (med(&theirs), med(&mine));
            let label = format!("{}k x {} B", count / 1000, size);
            println!(
                "{label:<14} {codec:>6} {:>10} {:>12.0} {:>7} {:>14} {:>9.1}  {}",
                "librdkafka",
                rate(t.0),
                "",
                t.1,
                t.1 as f64 / count as f64,
                samples(&theirs)
            );
            println!(
                "{label:<14} {codec:>6} {:>10} {:>12.0} {:>7.2} {:>14} {:>9.1}  {}",
                "prodsim",
                rate(m.0),
                rate(m.0) / rate(t.0),
                m.1,
                m.1 as f64 / count as f64,
                samples(&mine)
            );
        }
    }
    println!();
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Peak resident set size of this process, from /proc.
fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

const MEMORY_PRODUCERS: usize = 8;
const RECORD_BYTES: usize = 10_000;

/// Child process: 8 producers send the same records (shared or deep-cloned) to
/// `bootstrap`; prints the peak RSS. Only producers live in this process.
fn memory_child(mode: &str, bootstrap: &str, total_bytes: usize) {
    let records: Vec<Record> = (0..total_bytes / RECORD_BYTES)
        .map(|i| Record::new(Bytes::from(vec![(i % 251) as u8; RECORD_BYTES])))
        .collect();
    // Shared: one list of records, handed to every producer. Cloned: a deep copy
    // per producer, all alive at once.
    let shared = Arc::new(records);
    let per_producer: Vec<Arc<Vec<Record>>> = (0..MEMORY_PRODUCERS)
        .map(|_| match mode {
            "shared" => shared.clone(),
            _ => Arc::new(shared.iter().map(Record::deep_clone).collect()),
        })
        .collect();
    if mode != "shared" {
        drop(shared);
    }
    let baseline = peak_rss_kb();
    let rt = runtime();
    rt.block_on(async {
        let mut tasks = Vec::new();
        for (p, records) in per_producer.iter().enumerate() {
            let records = records.clone();
            let config = Config {
                client_id: format!("producer-{p}"),
                bootstrap: bootstrap.split(',').map(str::to_string).collect(),
                linger: Duration::from_millis(5),
                batch_size: 64 * 1024,
                max_message_bytes: 128 * 1024,
                buffer_memory: 256 * 1024,
                ..Config::default()
            };
            tasks.push(tokio::spawn(async move {
                let producer = Producer::new(config, Arc::new(TokioNetwork)).unwrap();
                let mut pending = std::collections::VecDeque::new();
                for r in records.iter() {
                    pending.push_back(producer.send(TOPIC, r.clone()).await);
                    if pending.len() > 256 {
                        pending.pop_front().unwrap().await.expect("delivered");
                    }
                }
                for f in pending {
                    f.await.expect("delivered");
                }
                producer.close().await;
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
    println!("peak_rss_kb {} records_rss_kb {}", peak_rss_kb(), baseline);
}

fn memory(quick: bool) {
    let total = if quick { 20_000_000 } else { 100_000_000 };
    println!(
        "## Memory: {MEMORY_PRODUCERS} producers sending the same {} MB of records ({} B each), peak RSS of the producers' process",
        total / 1_000_000,
        RECORD_BYTES
    );
    println!("settings per producer: buffer_memory 256 KiB, batch 64 KiB, max_message_bytes 128 KiB; broker: sim serve in the parent process");
    println!(
        "{:<8} {:>16} {:>20} {:>10} {:>26}",
        "mode", "peak RSS MB", "x payload size", "goal", "RSS with records only MB"
    );
    for mode in ["shared", "cloned"] {
        let (tx, rx) = std::sync::mpsc::channel();
        let (ctl_tx, ctl_rx) = tokio::sync::mpsc::unbounded_channel();
        let server = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let local = tokio::task::LocalSet::new();
            local.block_on(&rt, async move {
                let spec = sim::cluster::ClusterSpec {
                    brokers: 3,
                    topics: vec![sim::cluster::TopicSpec {
                        name: TOPIC.into(),
                        partitions: PARTITIONS as u32,
                        replication: 3,
                    }],
                    max_message_bytes: 1_048_588,
                    failover_delay: Duration::from_millis(200),
                    broker_version: Default::default(),
                };
                let server = sim::serve::Server::bind(spec, "127.0.0.1", 0)
                    .await
                    .unwrap();
                tx.send(server.bootstrap()).unwrap();
                server.run(Vec::new(), ctl_rx).await;
            });
        });
        let bootstrap = rx.recv().unwrap();
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["memory-child", mode, &bootstrap, &total.to_string()])
            .output()
            .expect("child runs");
        let _ = ctl_tx.send(sim::serve::Control::Stop);
        server.join().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let kb: u64 = text
            .split_whitespace()
            .skip_while(|w| *w != "peak_rss_kb")
            .nth(1)
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| {
                panic!(
                    "child output: {text} {}",
                    String::from_utf8_lossy(&out.stderr)
                )
            });
        let records_kb: u64 = text
            .split_whitespace()
            .skip_while(|w| *w != "records_rss_kb")
            .nth(1)
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let mb = kb as f64 * 1024.0 / 1e6;
        let x = mb * 1e6 / total as f64;
        println!(
            "{mode:<8} {mb:>16.1} {x:>20.2} {:>10} {:>26.1}",
            if mode == "shared" { "<= 1.3" } else { "" },
            records_kb as f64 * 1024.0 / 1e6
        );
    }
    println!();
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("memory-child") {
        memory_child(&args[2], &args[3], args[4].parse().unwrap());
        return;
    }
    if args.get(1).map(String::as_str) == Some("profile-ours") {
        // For profilers: only producer-core, `profile-ours COUNT SIZE [CODEC]`.
        let (count, size) = (args[2].parse().unwrap(), args[3].parse().unwrap());
        let codec = args
            .get(4)
            .map_or(Compression::None, |c| Compression::parse(c).unwrap());
        println!(
            "{:.0} msgs/s",
            count as f64 / ours_with(count, size, codec).0.as_secs_f64()
        );
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let only = |section: &str| {
        !args.iter().any(|a| a.starts_with("--only"))
            || args.iter().any(|a| a == &format!("--only={section}"))
    };
    println!(
        "# prodsim benchmarks ({}; {} cores)\n",
        if quick { "quick" } else { "full" },
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    if only("throughput") {
        throughput(quick);
    }
    if only("compression") {
        compression(quick);
    }
    if only("sim") {
        sim_speed::sim_speed(quick, &root());
    }
    if only("memory") {
        memory(quick);
    }
    if only("ttff") {
        ttff::deep(quick, &root());
    }
    if args.iter().any(|a| a == "--only=ttff-all") {
        let bug = args.iter().find_map(|a| a.strip_prefix("--bug="));
        let files: Vec<&str> = match args.iter().find_map(|a| a.strip_prefix("--scenario=")) {
            Some(file) => vec![file],
            None => ttff::SCENARIOS.to_vec(),
        };
        ttff::time_to_first_failure(quick, &root(), bug, &files);
    }
}
