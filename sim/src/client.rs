//! The application each simulated producer host runs: how it uses its
//! [`Producer`]. A scenario (or a generated world) varies the lifecycle the way
//! real applications do: several tasks sending through one handle, `flush()`
//! mid-stream while other sends go on, `close()` with sends in flight and
//! buffered, sends after `close()`, delivery futures dropped unpolled, a late
//! start. Everything it sees goes into the history, where the checker judges it:
//! `flush()` and `close()` must return only once the records they wait for
//! resolved, and sends after `close()` must fail with "producer closed".

use crate::history::{
    digest_record, record, sim_now, Actor, FailKind, HistoryObserver, SharedHistory, What,
};
use crate::net::TurmoilNetwork;
use crate::scenario::{CloseMode, Lifecycle};
use producer_core::record::Record;
use producer_core::{DeliveryFuture, Producer};
use std::cell::RefCell;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

/// Everything one producer host needs.
pub(crate) struct ClientPlan {
    /// Producer number (host `producer-N`).
    pub index: u32,
    /// Its producer-core configuration.
    pub config: producer_core::Config,
    /// Topic of every record.
    pub topic: String,
    /// Its records, in workload order.
    pub records: Vec<Record>,
    /// Records sent back to back before a pause.
    pub burst: usize,
    /// The pause.
    pub interval: Duration,
    /// How the application uses the producer.
    pub lifecycle: Lifecycle,
    /// Where to record.
    pub history: SharedHistory,
}

/// The caller's side of one record.
enum Slot {
    /// Not handed to `send` yet.
    Unsent,
    /// Sent; its future is held (and awaited by a waiter task).
    Pending(DeliveryFuture),
    /// Its future resolved and was recorded.
    Done,
    /// Its future was dropped without being polled.
    Dropped,
}

/// What the tasks of one client share.
struct Client {
    producer: Producer,
    plan: ClientPlan,
    slots: RefCell<Vec<Slot>>,
    waiters: RefCell<Vec<tokio::task::JoinHandle<()>>>,
}

impl Client {
    fn who(&self) -> Actor {
        Actor::Producer(self.plan.index)
    }

    fn record(&self, what: What) {
        record(&self.plan.history, sim_now(), self.who(), what);
    }

    /// Sends record `index` and records what `send` did.
    async fn send(&self, index: usize) -> DeliveryFuture {
        let rec = &self.plan.records[index];
        let digest = digest_record(rec);
        let batch_len = crate::sizes::batch_len_of(rec);
        let before = tokio::time::Instant::now();
        let fut = self.producer.send(&self.plan.topic, rec.clone()).await;
        let waited = before.elapsed();
        self.record(What::Send {
            index,
            send_id: fut.send_id(),
            partition: fut.partition(),
            digest,
            batch_len,
        });
        if waited >= Duration::from_millis(1) {
            self.record(What::SendBlocked { index, waited });
        }
        fut
    }

    /// Records how record `index`'s future resolved.
    fn resolved(&self, index: usize, result: producer_core::DeliveryResult) {
        self.record(match result {
            Ok(m) => What::Acked {
                index,
                partition: m.partition,
                offset: m.offset,
            },
            Err(e) => What::Failed {
                index,
                kind: fail_kind(&e),
                error: e.to_string(),
            },
        });
    }

    /// Records sent (futures held) whose futures have not resolved.
    fn unresolved(&self, among: &[usize]) -> usize {
        let slots = self.slots.borrow();
        among
            .iter()
            .filter(|&&i| matches!(&slots[i], Slot::Pending(f) if !f.is_resolved()))
            .count()
    }

    /// Records a call of `flush()` or `close()`; returns the records it must
    /// wait for.
    fn called(&self, close: bool) -> Vec<usize> {
        let sent = self.sent_so_far();
        let pending = self.unresolved(&sent);
        self.record(What::Called { close, pending });
        sent
    }

    /// Indexes of every record sent so far whose future is held.
    fn sent_so_far(&self) -> Vec<usize> {
        let slots = self.slots.borrow();
        (0..slots.len())
            .filter(|&i| matches!(slots[i], Slot::Pending(_) | Slot::Done))
            .collect()
    }
}

/// What producer-core's error promises about the record.
pub(crate) fn fail_kind(e: &producer_core::Error) -> FailKind {
    use producer_core::Error as E;
    match e {
        E::MessageTooLarge { .. } => FailKind::TooLarge,
        E::ProducerClosed => FailKind::ProducerClosed,
        E::Timeout { .. } | E::Broker { .. } | E::Config(_) => FailKind::NotWritten,
        E::DeliveryTimeout { maybe_written } => {
            if *maybe_written {
                FailKind::MaybeWritten
            } else {
                FailKind::NotWritten
            }
        }
        E::OutcomeUnknown | E::Protocol(_) => FailKind::MaybeWritten,
    }
}

/// The whole program of one producer host.
pub(crate) async fn run(plan: ClientPlan) -> turmoil::Result {
    let lc = plan.lifecycle;
    if lc.start_after > Duration::ZERO {
        tokio::time::sleep(lc.start_after).await;
    }
    let observer = Arc::new(HistoryObserver {
        producer: plan.index,
        history: plan.history.clone(),
    });
    let producer =
        Producer::with_observer(plan.config.clone(), Arc::new(TurmoilNetwork), observer)?;
    let n = plan.records.len();
    let before_close = n - lc.sends_after_close.min(n);
    let client = Rc::new(Client {
        producer,
        slots: RefCell::new((0..n).map(|_| Slot::Unsent).collect()),
        waiters: RefCell::new(Vec::new()),
        plan,
    });
    let tasks: Vec<_> = (0..lc.send_tasks.max(1))
        .map(|t| tokio::task::spawn_local(send_task(client.clone(), t, before_close)))
        .collect();
    for t in tasks {
        t.await?;
    }
    if lc.close == CloseMode::AfterAcks {
        await_waiters(&client).await?;
        flush(client.clone()).await;
    }
    let pending = client.called(true);
    client.producer.close().await;
    let stats = client.producer.stats();
    client.record(What::Closed {
        unresolved_records: stats.unresolved_records,
        buffered_bytes: stats.buffered_bytes,
        in_flight_requests: stats.in_flight_requests,
        unresolved_futures: client.unresolved(&pending),
    });
    for index in before_close..n {
        let fut = client.send(index).await;
        let result = fut.await;
        client.resolved(index, result);
    }
    await_waiters(&client).await
}

async fn await_waiters(client: &Client) -> turmoil::Result {
    let waiters = std::mem::take(&mut *client.waiters.borrow_mut());
    for w in waiters {
        w.await?;
    }
    Ok(())
}

/// Task `t` of `lifecycle.send_tasks`: sends records t, t + tasks, ... below
/// `end`, pacing by the workload's bursts, flushing and dropping futures as the
/// lifecycle says.
async fn send_task(client: Rc<Client>, t: usize, end: usize) {
    let lc = client.plan.lifecycle;
    let (burst, interval) = (client.plan.burst, client.plan.interval);
    for index in (t..end).step_by(lc.send_tasks.max(1)) {
        if !interval.is_zero() && index > 0 && index % burst < lc.send_tasks.max(1) {
            tokio::time::sleep(interval).await;
        }
        let fut = client.send(index).await;
        let nth = |every: usize| every > 0 && (index + 1) % every == 0;
        if nth(lc.drop_futures_every) {
            drop(fut);
            client.slots.borrow_mut()[index] = Slot::Dropped;
            client.record(What::FutureDropped { index });
        } else {
            client.slots.borrow_mut()[index] = Slot::Pending(fut);
            let waiter = tokio::task::spawn_local(wait_for(client.clone(), index));
            client.waiters.borrow_mut().push(waiter);
        }
        if nth(lc.flush_every) {
            tokio::task::spawn_local(flush(client.clone()));
        }
    }
}

/// Awaits record `index`'s future in its slot, then records the outcome.
async fn wait_for(client: Rc<Client>, index: usize) {
    let result = poll_fn(|cx| match &mut client.slots.borrow_mut()[index] {
        Slot::Pending(f) => Pin::new(f).poll(cx),
        _ => unreachable!("only a held future has a waiter"),
    })
    .await;
    client.slots.borrow_mut()[index] = Slot::Done;
    client.resolved(index, result);
}

/// `flush()` concurrently with the sends: when it returns, every record sent
/// before it was called must have resolved.
async fn flush(client: Rc<Client>) {
    let pending = client.called(false);
    client.producer.flush().await;
    let unresolved = client.unresolved(&pending);
    client.record(What::Flushed { unresolved });
}
