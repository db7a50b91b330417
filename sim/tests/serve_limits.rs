//! `sim serve` keeps serving when clients misbehave: connections that declare
//! huge frames and send a few bytes hold only what they sent, a server-wide
//! budget closes the connection that would pass it, and a well-behaved client
//! on another connection still gets its acknowledgements.

use producer_core::record::Record;
use producer_core::{Config, Producer, TokioNetwork};
use sim::cluster::{ClusterSpec, TopicSpec};
use sim::serve::{Control, Server};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

fn spec() -> ClusterSpec {
    ClusterSpec {
        brokers: 1,
        topics: vec![TopicSpec {
            name: "events".into(),
            partitions: 2,
            replication: 1,
        }],
        max_message_bytes: 1_048_588,
        failover_delay: Duration::from_millis(100),
        broker_version: Default::default(),
    }
}

/// Resident memory of this process, in bytes (Linux).
fn rss() -> usize {
    status_kb("VmRSS:")
}

/// Virtual memory of this process, in bytes: a zeroed 100 MiB buffer is not
/// resident until written, but it is reserved.
fn virtual_size() -> usize {
    status_kb("VmSize:")
}

fn status_kb(field: &str) -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<usize>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Runs `client` against a server with `budget` bytes for frames being read.
fn with_server<F: std::future::Future<Output = ()>>(
    budget: usize,
    client: impl FnOnce(String) -> F,
) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let server = Server::bind(spec(), "127.0.0.1", 0)
            .await
            .unwrap()
            .with_frame_budget(budget);
        let bootstrap = server.bootstrap();
        let (tx, rx) = mpsc::unbounded_channel();
        let serving = tokio::task::spawn_local(server.run(Vec::new(), rx));
        client(bootstrap).await;
        tx.send(Control::Stop).unwrap();
        serving.await.unwrap();
    });
}

async fn produce_100(bootstrap: &str) -> usize {
    let config = Config {
        bootstrap: vec![bootstrap.split(',').next().unwrap().to_string()],
        client_id: "producer-0".into(),
        ..Config::default()
    };
    let producer = Producer::new(config, Arc::new(TokioNetwork)).unwrap();
    let mut acked = 0;
    let mut futures = Vec::new();
    for i in 0..100 {
        futures.push(
            producer
                .send("events", Record::new(format!("value-{i}")))
                .await,
        );
    }
    for f in futures {
        acked += usize::from(f.await.is_ok());
    }
    producer.close().await;
    acked
}

#[test]
fn fifty_connections_declaring_100_mib_frames_hold_next_to_nothing() {
    let (before, before_virtual) = (rss(), virtual_size());
    with_server(256 << 20, |bootstrap| async move {
        let addr = bootstrap.split(',').next().unwrap().to_string();
        let mut hostile = Vec::new();
        for _ in 0..50 {
            let mut c = TcpStream::connect(&addr).await.unwrap();
            c.write_all(&(100i32 << 20).to_be_bytes()).await.unwrap();
            c.write_all(b"abcd").await.unwrap();
            hostile.push(c);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let acked = produce_100(&bootstrap).await;
        assert_eq!(acked, 100, "the well-behaved client is served");
        let grown = rss().saturating_sub(before);
        // 50 x 64 KiB read chunks, the runtime and the client: far below 50 x 100 MiB.
        assert!(grown < 64 << 20, "RSS grew by {grown} bytes");
        let reserved = virtual_size().saturating_sub(before_virtual);
        assert!(
            reserved < 1 << 30,
            "virtual memory grew by {reserved} bytes"
        );
        drop(hostile);
    });
}

#[test]
fn the_connection_that_would_pass_the_budget_is_closed() {
    with_server(2 << 20, |bootstrap| async move {
        let addr = bootstrap.split(',').next().unwrap().to_string();
        let chunk = vec![0u8; 900 << 10];
        let mut open = Vec::new();
        for _ in 0..2 {
            let mut c = TcpStream::connect(&addr).await.unwrap();
            c.write_all(&(100i32 << 20).to_be_bytes()).await.unwrap();
            c.write_all(&chunk).await.unwrap();
            open.push(c);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        // A third connection sending a big frame passes the 2 MiB budget.
        let mut third = TcpStream::connect(&addr).await.unwrap();
        third
            .write_all(&(100i32 << 20).to_be_bytes())
            .await
            .unwrap();
        let _ = third.write_all(&chunk).await;
        let mut buf = [0u8; 8];
        let read = tokio::time::timeout(Duration::from_secs(5), third.read(&mut buf)).await;
        assert!(
            matches!(read, Ok(Ok(0)) | Ok(Err(_))),
            "the server closes the connection that passes the budget: {read:?}"
        );
        drop(open);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(produce_100(&bootstrap).await, 100, "and keeps serving");
    });
}
