//! Where batches end: answers applied through the policy, retries queued,
//! splits, delivery expiry (in flight included), and resolution, the one place
//! records leave the pipeline.

use super::batches::{Held, SentBatch};
use super::outbox::{DriverCommand, Outbox};
use super::policy::{self, Answer, Attempt, Budget, Outcome};
use super::{split, Accumulator, SenderState};
use crate::clock::Instant;
use crate::error::Error;
use crate::observe::{AttemptOutcome, Event};
use crate::produce_set::{OpenBatch, TopicPartition};
use crate::wire::responses;
use crate::wire::ErrorCode;
use bytes::Bytes;

impl SenderState {
    /// Resolves a batch the sender still holds and drops it.
    pub(super) fn finish(&mut self, mut batch: SentBatch, result: Result<Option<i64>, Error>) {
        resolve(&mut self.out, &mut self.held, &mut batch, result);
        self.release(batch);
    }

    /// The sender lets go of a resolved batch's bytes: its memory goes back.
    pub(super) fn release(&mut self, batch: SentBatch) {
        debug_assert!(batch.resolved, "only resolved batches are released");
        let first_send_id = batch.first_send_id();
        self.give_back(&batch.tp, first_send_id, batch.memory, Some(batch.bytes));
    }

    /// Returns a batch's buffer memory (and its bytes, for reuse) to the pool,
    /// and says so.
    fn give_back(
        &mut self,
        tp: &TopicPartition,
        first_send_id: u64,
        bytes: usize,
        buffer: Option<Bytes>,
    ) {
        self.out
            .push(DriverCommand::ReleaseMemory { bytes, buffer });
        self.out.emit(|| Event::MemoryReleased {
            tp: tp.clone(),
            first_send_id,
            bytes,
        });
    }

    /// Fails a batch that never left the produce set.
    fn fail_unsent(&mut self, tp: TopicPartition, batch: OpenBatch, error: Error) {
        let records = batch.send_ids.len();
        batch.completion.fail(error.clone());
        self.give_back(&tp, batch.send_ids[0], batch.memory, None);
        self.out.push(DriverCommand::Resolved(records));
        self.out.emit(|| Event::BatchResolved {
            tp,
            first_send_id: batch.send_ids[0],
            records,
            result: Err(error),
        });
    }

    /// Fails every batch whose `delivery_timeout` has passed: buffered ones
    /// (never written), those waiting to retry, and those in flight, which
    /// resolve now as maybe written instead of waiting for an answer.
    pub(super) fn expire(&mut self, now: Instant, accum: &mut Accumulator) {
        let Some(cutoff) = now.checked_sub(self.config().delivery_timeout) else {
            return;
        };
        let bugs = self.config().bugs;
        for (tp, batch) in accum.produce_set.take_expired(cutoff) {
            let error = Error::DeliveryTimeout {
                maybe_written: false,
            };
            self.fail_unsent(tp, batch, error);
        }
        for (id, tp) in self.held.created_by(cutoff) {
            let waiting = self.partitions.get_mut(&tp).and_then(|ps| {
                let at = ps.retry.iter().position(|b| b.first_send_id() == id)?;
                ps.retry.remove(at)
            });
            if let Some(batch) = waiting {
                let maybe_written = batch.maybe_written;
                self.idempotence.request_bump();
                self.finish(batch, Err(Error::DeliveryTimeout { maybe_written }));
                self.forget_if_idle(&tp);
            } else if let Some(batch) = self.conns.in_flight_batch_mut(id) {
                // The attempt in flight may be written whatever the earlier
                // ones did: its outcome is unknown until its answer.
                let maybe_written = !bugs.expiry_trusts_earlier_attempts() || batch.maybe_written;
                let error = Error::DeliveryTimeout { maybe_written };
                resolve(&mut self.out, &mut self.held, batch, Err(error));
            }
        }
    }

    /// Applies a produce response to each of its batches; `Err`: unreadable
    /// (every batch then counts as unanswered), the connection must go.
    pub(super) fn on_produce_response(
        &mut self,
        version: i16,
        batches: Vec<SentBatch>,
        body: Bytes,
        now: Instant,
    ) -> Result<(), String> {
        // Every batch's answer is read before any is applied: one that makes
        // no sense makes the whole response unusable.
        let answers = responses::produce(version, body).and_then(|answers| {
            batches
                .iter()
                .map(|b| answers.for_batch(&b.tp.topic, b.tp.partition, b.send_ids.len()))
                .collect::<Result<Vec<_>, _>>()
        });
        let answers = match answers {
            Ok(a) => a,
            Err(e) => {
                for batch in batches {
                    self.on_answer(batch, Answer::Missing, now);
                }
                return Err(e);
            }
        };
        for (batch, answer) in batches.into_iter().zip(answers) {
            let answer = answer.map_or(Answer::Missing, |p| Answer::Answered {
                code: p.code,
                base_offset: p.base_offset,
            });
            self.on_answer(batch, answer, now);
        }
        Ok(())
    }

    /// One attempt of a batch ended with `answer`.
    pub(super) fn on_answer(&mut self, mut batch: SentBatch, answer: Answer, now: Instant) {
        let answer = self.injected_answer(&batch, answer);
        let tp = batch.tp.clone();
        let ps = self.partitions.entry(tp.clone()).or_default();
        ps.in_flight -= 1;
        if batch.must_travel_alone() {
            ps.solo_in_flight = false;
        }
        let window_had_failed = ps.window_failed;
        self.out.emit(|| Event::AttemptEnded {
            tp: tp.clone(),
            first_send_id: batch.first_send_id(),
            outcome: attempt_outcome(answer),
        });
        let config = self.config();
        let attempt = Attempt {
            idempotent: self.idempotence.enabled(),
            records: batch.send_ids.len(),
            maybe_written: batch.maybe_written,
            budget: if batch.attempts > config.retries {
                Budget::Exhausted
            } else if now >= batch.created + config.delivery_timeout {
                Budget::Expired
            } else {
                Budget::Left
            },
            window_had_failed,
            bugs: config.bugs,
        };
        let decision = self.injected_decision(&batch, answer, policy::decide(answer, &attempt));
        if batch.resolved {
            // Expired while in flight: only the sequence bookkeeping is left.
            // Unless it was written, its sequence range is now a hole.
            if !matches!(decision.outcome, Outcome::Ack { .. }) {
                self.idempotence.request_bump();
            }
            self.release(batch);
        } else {
            batch.maybe_written = decision.maybe_written;
            if decision.refresh_metadata {
                self.metadata.refresh.mark_stale();
            }
            if decision.bump {
                self.idempotence.request_bump();
            }
            match decision.outcome {
                Outcome::Ack { base_offset } => self.finish(batch, Ok(base_offset)),
                Outcome::Retry => self.retry(batch, now, true),
                Outcome::Split => self.split(batch, now),
                Outcome::Fail(e) => self.finish(batch, Err(e)),
            }
        }
        let ps = self.partitions.get_mut(&tp).expect("entry made above");
        if ps.in_flight == 0 {
            ps.in_flight_broker = None;
            ps.window_failed = false;
        }
        self.forget_if_idle(&tp);
    }

    /// Drops the ordering state of a partition with nothing left.
    fn forget_if_idle(&mut self, tp: &TopicPartition) {
        if self.partitions.get(tp).is_some_and(|ps| ps.is_idle()) {
            self.partitions.remove(tp);
        }
    }

    /// Queues `batch` to go again before newer batches of its partition, after
    /// the retry backoff when `backoff`.
    fn retry(&mut self, batch: SentBatch, now: Instant, backoff: bool) {
        let hold_partition = !self.config().bugs.retry_behind_newer();
        let until = now + self.config().retry_backoff;
        let ps = self.partitions.entry(batch.tp.clone()).or_default();
        ps.window_failed = hold_partition;
        if hold_partition && backoff {
            ps.backoff_until = Some(until);
        }
        ps.push_retry(batch);
    }

    /// Splits a batch the broker found too large (MESSAGE_TOO_LARGE) into
    /// two, re-encoded (compressed again), with the sequence range of the
    /// original; both go out again at once (a half the broker still refuses
    /// is split again). A single record fails with MESSAGE_TOO_LARGE once.
    pub(super) fn split(&mut self, batch: SentBatch, now: Instant) {
        let limit = crate::produce_set::Limits::from_config(self.config())
            .batch_limit(&batch.tp.topic)
            .0;
        let Some(parts) = self.halve(&batch, limit) else {
            let code = ErrorCode::MessageTooLarge.code();
            return self.finish(batch, Err(Error::Broker { code }));
        };
        for part in parts {
            self.retry(part, now, false);
        }
    }
}

impl SenderState {
    /// Splits a sealed, not yet stamped batch until every part fits `limit`;
    /// a record alone still over it fails with MESSAGE_TOO_LARGE. Returns the
    /// parts in record order.
    pub(super) fn split_to_fit(&mut self, batch: SentBatch, limit: usize) -> Vec<SentBatch> {
        if batch.bytes.len() <= limit {
            return vec![batch];
        }
        let Some(parts) = self.halve(&batch, limit) else {
            let size = batch.bytes.len();
            self.finish(batch, Err(Error::MessageTooLarge { size, limit }));
            return Vec::new();
        };
        parts
            .into_iter()
            .flat_map(|part| self.split_to_fit(part, limit))
            .collect::<Vec<_>>()
    }

    /// Replaces `batch` by its two halves: the held index, the observer
    /// (`BatchSplit`, then `BatchSealed` per part, against `limit`) and the
    /// memory charge (shared between the halves) follow. `None` when the
    /// batch cannot be halved (a single record); `batch` is then untouched.
    fn halve(&mut self, batch: &SentBatch, limit: usize) -> Option<Vec<SentBatch>> {
        let bugs = self.config().bugs;
        let (first, second) = (batch.send_ids.len() > 1)
            .then(|| split::halves(batch, bugs, self.config().compression))
            .flatten()?;
        self.held.remove(batch.first_send_id());
        self.out.emit(|| Event::BatchSplit {
            tp: batch.tp.clone(),
            first_send_id: batch.first_send_id(),
            parts: vec![first.first_send_id(), second.first_send_id()],
        });
        if bugs.split_double_release() {
            // The original's charge goes back now, and again with its halves.
            self.give_back(&batch.tp, batch.first_send_id(), batch.memory, None);
        }
        let parts = if bugs.split_drops_tail() {
            vec![first]
        } else {
            vec![first, second]
        };
        for part in &parts {
            self.out.emit(|| Event::BatchSealed {
                tp: part.tp.clone(),
                first_send_id: part.first_send_id(),
                records: part.send_ids.len(),
                accounted: part.uncompressed,
                uncompressed: part.uncompressed,
                encoded: part.bytes.len(),
                limit,
                memory: part.memory,
            });
            self.held.insert(part);
        }
        Some(parts)
    }
}

/// What the observer hears about one attempt.
fn attempt_outcome(answer: Answer) -> AttemptOutcome {
    match answer {
        Answer::Answered {
            code: ErrorCode::None | ErrorCode::DuplicateSequenceNumber,
            base_offset,
        } => AttemptOutcome::Written { base_offset },
        Answer::Answered { code, .. } => AttemptOutcome::Rejected { code: code.code() },
        Answer::Missing => AttemptOutcome::NoAnswer,
    }
}

/// Resolves every record of `batch`: its futures, the unresolved counter, the
/// held index, the observer. Its memory is returned by `release` (an expired
/// batch still in flight keeps its bytes until the answer).
fn resolve(
    out: &mut Outbox,
    held: &mut Held,
    batch: &mut SentBatch,
    result: Result<Option<i64>, Error>,
) {
    let range = batch.range();
    match &result {
        Ok(base) => batch.completion.ack_part(range, batch.tp.partition, *base),
        Err(e) => batch.completion.fail_part(range, e.clone()),
    };
    batch.resolved = true;
    held.remove(batch.first_send_id());
    out.push(DriverCommand::Resolved(batch.send_ids.len()));
    out.emit(|| Event::BatchResolved {
        tp: batch.tp.clone(),
        first_send_id: batch.first_send_id(),
        records: batch.send_ids.len(),
        result: result.map(|base| base.unwrap_or(-1)),
    });
}
