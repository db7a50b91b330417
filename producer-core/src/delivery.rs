//! Delivery results: one shared completion per batch, one future per record.
//!
//! A batch resolves once, for all its records; each record's future reads its own
//! offset from the batch's base offset. Resolving twice is impossible: the first
//! outcome wins and later attempts are reported back as `false`.

use crate::bugs::SendCell;
use crate::error::Error;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

/// Where an acknowledged record was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordMetadata {
    /// The partition.
    pub partition: i32,
    /// The record's offset in that partition.
    pub offset: i64,
}

/// The outcome of a send.
pub type DeliveryResult = Result<RecordMetadata, Error>;

#[derive(Debug)]
enum Outcome {
    Acked { partition: i32, base_offset: i64 },
    Failed(Error),
}

#[derive(Debug, Default)]
struct State {
    outcome: Option<Outcome>,
    wakers: Vec<Waker>,
}

/// The shared fate of every record in one batch.
#[derive(Debug, Default)]
pub struct BatchCompletion {
    state: Mutex<State>,
}

impl BatchCompletion {
    /// A batch that has not resolved yet.
    pub fn new() -> Arc<Self> {
        Arc::default()
    }

    fn resolve(&self, outcome: Outcome) -> bool {
        let wakers = {
            let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
            if s.outcome.is_some() {
                return false;
            }
            s.outcome = Some(outcome);
            std::mem::take(&mut s.wakers)
        };
        for w in wakers {
            w.wake();
        }
        true
    }

    /// Every record of the batch was written, the first at `base_offset`.
    /// Returns false (and changes nothing) if the batch had already resolved.
    pub fn ack(&self, partition: i32, base_offset: i64) -> bool {
        self.resolve(Outcome::Acked {
            partition,
            base_offset,
        })
    }

    /// Every record of the batch failed with `error`.
    /// Returns false (and changes nothing) if the batch had already resolved.
    pub fn fail(&self, error: Error) -> bool {
        self.resolve(Outcome::Failed(error))
    }

    /// True once the batch has an outcome.
    pub fn is_resolved(&self) -> bool {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .outcome
            .is_some()
    }

    fn poll_record(
        &self,
        index: u32,
        slot: &mut Option<usize>,
        cx: &Context<'_>,
    ) -> Poll<DeliveryResult> {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match &s.outcome {
            Some(Outcome::Acked {
                partition,
                base_offset,
            }) => Poll::Ready(Ok(RecordMetadata {
                partition: *partition,
                offset: base_offset + index as i64,
            })),
            Some(Outcome::Failed(e)) => Poll::Ready(Err(e.clone())),
            None => {
                match *slot {
                    Some(i) if i < s.wakers.len() => {
                        if !s.wakers[i].will_wake(cx.waker()) {
                            s.wakers[i] = cx.waker().clone();
                        }
                    }
                    _ => {
                        *slot = Some(s.wakers.len());
                        s.wakers.push(cx.waker().clone());
                    }
                }
                Poll::Pending
            }
        }
    }
}

/// Resolves, exactly once, to the offset of a sent record or to why it failed.
#[derive(Debug)]
pub struct DeliveryFuture {
    inner: Inner,
    origin: Option<(u64, i32)>,
    /// The `per_send_state_in_record` bug: the partition is read back from the
    /// record's shared cell when the send resolves (zero-sized, and a no-op,
    /// without `bug-injection`).
    cell: SendCell,
}

#[derive(Debug)]
enum Inner {
    Pending {
        batch: Arc<BatchCompletion>,
        index: u32,
        waker_slot: Option<usize>,
    },
    Ready(Option<DeliveryResult>),
}

impl DeliveryFuture {
    /// The future of record `index` in `batch`.
    pub fn new(batch: Arc<BatchCompletion>, index: u32) -> Self {
        DeliveryFuture {
            inner: Inner::Pending {
                batch,
                index,
                waker_slot: None,
            },
            origin: None,
            cell: SendCell::default(),
        }
    }

    /// Records which send and partition this future belongs to.
    pub fn with_origin(mut self, send_id: u64, partition: i32) -> Self {
        self.origin = Some((send_id, partition));
        self
    }

    /// Injects the `per_send_state_in_record` bug for this future.
    pub(crate) fn with_cell(mut self, cell: SendCell) -> Self {
        self.cell = cell;
        self
    }

    /// The producer's id for this send (its position among all sends), or `None`
    /// when the send was rejected before reaching a batch.
    pub fn send_id(&self) -> Option<u64> {
        self.origin.map(|o| o.0)
    }

    /// The partition the record was assigned to, if it reached a batch.
    pub fn partition(&self) -> Option<i32> {
        self.origin.map(|o| o.1)
    }

    /// A future that is already resolved (a send rejected before it reached a batch).
    pub fn ready(result: DeliveryResult) -> Self {
        DeliveryFuture {
            inner: Inner::Ready(Some(result)),
            origin: None,
            cell: SendCell::default(),
        }
    }

    /// True when polling would return immediately.
    pub fn is_resolved(&self) -> bool {
        match &self.inner {
            Inner::Pending { batch, .. } => batch.is_resolved(),
            Inner::Ready(r) => r.is_some(),
        }
    }
}

impl Future for DeliveryFuture {
    type Output = DeliveryResult;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<DeliveryResult> {
        let this = self.get_mut();
        let cell = this.cell;
        poll_inner(&mut this.inner, cx).map(|r| r.map(|m| cell.read_back(m)))
    }
}

fn poll_inner(inner: &mut Inner, cx: &mut Context<'_>) -> Poll<DeliveryResult> {
    match inner {
        Inner::Pending {
            batch,
            index,
            waker_slot,
        } => batch.poll_record(*index, waker_slot, cx),
        Inner::Ready(r) => Poll::Ready(r.take().expect("DeliveryFuture polled after completion")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn records_get_consecutive_offsets_and_resolve_once() {
        let batch = BatchCompletion::new();
        let f0 = DeliveryFuture::new(batch.clone(), 0);
        let f2 = DeliveryFuture::new(batch.clone(), 2);
        assert!(!f0.is_resolved());
        assert!(batch.ack(3, 100));
        assert!(
            !batch.fail(Error::ProducerClosed),
            "second outcome is refused"
        );
        assert_eq!(
            f0.await,
            Ok(RecordMetadata {
                partition: 3,
                offset: 100
            })
        );
        assert_eq!(f2.await.unwrap().offset, 102);
    }

    #[tokio::test]
    async fn a_waiting_future_is_woken_by_failure() {
        let batch = BatchCompletion::new();
        let f = DeliveryFuture::new(batch.clone(), 0);
        let waiter = tokio::spawn(f);
        tokio::task::yield_now().await;
        batch.fail(Error::OutcomeUnknown);
        assert_eq!(waiter.await.unwrap(), Err(Error::OutcomeUnknown));
    }
}
