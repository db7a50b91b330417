use sim::scenario::Sharing;
use sim::strategies::*;
#[test]
fn dbg() {
    let lc = PropLifecycle {
        close_in_flight: true,
        flush_every: 3,
        send_tasks: 3,
        drop_futures_every: 4,
        sends_after_close: 0,
        start_after_ms: 0,
    };
    let p = PropProducer {
        idempotence: true,
        linger_ms: 0,
        batch_size: 1000000,
        max_message_bytes: 682,
        max_request_size: 1048576,
        max_in_flight: 2,
        lifecycle: lc,
    };
    let rec = |key: Option<u8>, size| PropRecord {
        key,
        headers: 0,
        size,
    };
    let w = PropWorld {
        producers: vec![p.clone(), p.clone()],
        records: (0..12)
            .map(|i| rec(Some((i % 4) as u8), SizeClass::Bytes(i * 10)))
            .collect(),
        sharing: Sharing::Shared,
        partitions: 2,
        faults: 0,
        seed: 5,
    };
    let a = w.run_as(Sharing::Shared);
    let b = w.run_as(Sharing::Shared);
    let c = w.run_as(Sharing::Cloned);
    println!(
        "shared {:x} shared {:x} cloned {:x}",
        a.trace_hash, b.trace_hash, c.trace_hash
    );
    for (x, y) in a.history.entries.iter().zip(&c.history.entries) {
        if x != y {
            println!(
                "DIFF\n  {:?} {} {}\n  {:?} {} {}",
                x.at, x.who, x.what, y.at, y.who, y.what
            );
            break;
        }
    }
}
