//! Delivery results: one shared completion per batch, one future per record.
//!
//! A batch resolves once, for all its records; each record's future reads its own
//! offset from the batch's base offset. A batch the broker found too large is
//! split, and then each part resolves its own range of records. Resolving a
//! record twice is impossible: the first outcome wins and later attempts are
//! reported back as `false`.

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
    /// Written at `base_offset` (the first record of the part), or with no
    /// offsets known (`None`: a DUPLICATE_SEQUENCE_NUMBER answer).
    Acked {
        partition: i32,
        base_offset: Option<i64>,
    },
    Failed(Error),
}

/// Records `first..first + count` of the batch share `outcome`.
#[derive(Debug)]
struct Part {
    first: u32,
    count: u32,
    outcome: Outcome,
}

impl Part {
    fn holds(&self, index: u32) -> bool {
        index >= self.first && index - self.first < self.count
    }

    fn overlaps(&self, first: u32, count: u32) -> bool {
        first < self.first.saturating_add(self.count) && self.first < first.saturating_add(count)
    }
}

#[derive(Debug, Default)]
struct State {
    /// The outcome of every record (the usual case: the batch was not split).
    whole: Option<Outcome>,
    /// Outcomes of the parts of a split batch, each resolved on its own.
    parts: Vec<Part>,
    wakers: Vec<Waker>,
    /// Counts resolutions: a waker slot from an earlier round is stale.
    round: u32,
}

/// The shared fate of the records in one batch.
#[derive(Debug, Default)]
pub struct BatchCompletion {
    state: Mutex<State>,
}

/// A whole batch, whatever its record count.
pub(crate) const ALL: (u32, u32) = (0, u32::MAX);

impl BatchCompletion {
    /// A batch that has not resolved yet.
    pub fn new() -> Arc<Self> {
        Arc::default()
    }

    fn resolve(&self, (first, count): (u32, u32), outcome: Outcome) -> bool {
        let wakers = {
            let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
            let whole = (first, count) == ALL;
            if s.whole.is_some()
                || (whole && !s.parts.is_empty())
                || s.parts.iter().any(|p| p.overlaps(first, count))
            {
                return false;
            }
            if whole {
                s.whole = Some(outcome);
            } else {
                s.parts.push(Part {
                    first,
                    count,
                    outcome,
                });
            }
            s.round = s.round.wrapping_add(1);
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
        self.resolve(
            ALL,
            Outcome::Acked {
                partition,
                base_offset: Some(base_offset),
            },
        )
    }

    /// Every record of the batch failed with `error`.
    /// Returns false (and changes nothing) if the batch had already resolved.
    pub fn fail(&self, error: Error) -> bool {
        self.resolve(ALL, Outcome::Failed(error))
    }

    /// Records `first..first + count` were written, the first at `base_offset`
    /// (`None`: written, offsets unknown, and every record reports offset -1 as
    /// the Java client does). Returns false if any of them had resolved.
    pub(crate) fn ack_part(
        &self,
        (first, count): (u32, u32),
        partition: i32,
        base_offset: Option<i64>,
    ) -> bool {
        self.resolve(
            (first, count),
            Outcome::Acked {
                partition,
                base_offset,
            },
        )
    }

    /// Records `first..first + count` failed with `error`.
    pub(crate) fn fail_part(&self, (first, count): (u32, u32), error: Error) -> bool {
        self.resolve((first, count), Outcome::Failed(error))
    }

    /// True once record `index` has an outcome.
    pub fn is_resolved_at(&self, index: u32) -> bool {
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.whole.is_some() || s.parts.iter().any(|p| p.holds(index))
    }

    /// True once the first record has an outcome (the whole batch, unless it
    /// was split).
    pub fn is_resolved(&self) -> bool {
        self.is_resolved_at(0)
    }

    /// The outcome of record `index`, if it has one.
    pub fn result_at(&self, index: u32) -> Option<DeliveryResult> {
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        result_of(&s, index)
    }

    fn poll_record(
        &self,
        index: u32,
        slot: &mut Option<(u32, usize)>,
        cx: &Context<'_>,
    ) -> Poll<DeliveryResult> {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(result) = result_of(&s, index) {
            return Poll::Ready(result);
        }
        let round = s.round;
        match *slot {
            Some((r, i)) if r == round && i < s.wakers.len() => {
                if !s.wakers[i].will_wake(cx.waker()) {
                    s.wakers[i] = cx.waker().clone();
                }
            }
            _ => {
                *slot = Some((round, s.wakers.len()));
                s.wakers.push(cx.waker().clone());
            }
        }
        Poll::Pending
    }
}

#[inline]
fn result_of(s: &State, index: u32) -> Option<DeliveryResult> {
    let (first, outcome) = match &s.whole {
        Some(outcome) => (0, outcome),
        None => {
            let part = s.parts.iter().find(|p| p.holds(index))?;
            (part.first, &part.outcome)
        }
    };
    Some(match outcome {
        Outcome::Acked {
            partition,
            base_offset,
        } => Ok(RecordMetadata {
            partition: *partition,
            offset: base_offset.map_or(-1, |b| b + i64::from(index - first)),
        }),
        Outcome::Failed(e) => Err(e.clone()),
    })
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
        waker_slot: Option<(u32, usize)>,
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
            Inner::Pending { batch, index, .. } => batch.is_resolved_at(*index),
            Inner::Ready(r) => r.is_some(),
        }
    }
}

impl Future for DeliveryFuture {
    type Output = DeliveryResult;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<DeliveryResult> {
        let this = self.get_mut();
        let cell = this.cell;
        poll_inner(&mut this.inner, cx).map(|r| {
            r.map(|m| RecordMetadata {
                partition: cell.read_back(m.partition),
                ..m
            })
        })
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

    #[test]
    fn parts_of_a_split_batch_resolve_on_their_own() {
        let batch = BatchCompletion::new();
        assert!(batch.ack_part((2, 3), 1, Some(50)));
        assert!(!batch.fail_part((4, 1), Error::OutcomeUnknown), "overlaps");
        assert!(!batch.is_resolved_at(1));
        assert_eq!(batch.result_at(3).unwrap().unwrap().offset, 51);
        assert!(batch.ack_part((0, 2), 1, None));
        assert_eq!(batch.result_at(0).unwrap().unwrap().offset, -1);
        assert_eq!(batch.result_at(1).unwrap().unwrap().offset, -1);
        assert!(!batch.ack(1, 0), "every record already has an outcome");
        assert_eq!(batch.result_at(5), None);
    }

    #[tokio::test]
    async fn a_future_waiting_across_a_partial_resolution_is_still_woken() {
        let batch = BatchCompletion::new();
        let late = tokio::spawn(DeliveryFuture::new(batch.clone(), 3));
        let early = tokio::spawn(DeliveryFuture::new(batch.clone(), 0));
        tokio::task::yield_now().await;
        batch.ack_part((0, 2), 0, Some(10));
        assert_eq!(early.await.unwrap().unwrap().offset, 10);
        tokio::task::yield_now().await;
        batch.ack_part((2, 2), 0, Some(20));
        assert_eq!(late.await.unwrap().unwrap().offset, 21);
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
