//! The producer's identity: asking for a producer id, and bumping the epoch
//! when sequences can no longer be trusted (KIP-360).

use super::SenderState;
use crate::clock::Instant;
use crate::error::Error;
use crate::idempotence::Identity;
use crate::observe::Event;
use crate::wire::requests;
use crate::wire::responses::{self, ProducerIdAnswer};
use bytes::Bytes;
use std::collections::VecDeque;

/// The InitProducerId request.
#[derive(Debug, Default)]
pub(crate) struct IdRequest {
    /// A request is out: never two at once.
    in_flight: bool,
    /// Not before this (after a failed answer).
    retry_at: Option<Instant>,
}

impl IdRequest {
    /// No request out and no backoff at `now`.
    pub fn may_ask(&self, now: Instant) -> bool {
        !self.in_flight && self.retry_at.is_none_or(|t| now >= t)
    }

    /// The backoff deadline, if any.
    pub fn retry_at(&self) -> Option<Instant> {
        self.retry_at
    }
}

impl SenderState {
    /// True while a produce request of any partition is unanswered.
    fn produce_in_flight(&self) -> bool {
        self.partitions.values().any(|ps| ps.in_flight > 0)
    }

    /// A bump waits until no produce request is in flight, then gives up on every
    /// batch whose fate is unknown (sending it under a new epoch could duplicate
    /// it) and restarts sequences.
    pub(super) fn maybe_start_bump(&mut self) {
        if !self.idempotence.bump_needed() || self.produce_in_flight() {
            return;
        }
        let mut unknown = Vec::new();
        for ps in self.partitions.values_mut() {
            let (keep, drop): (VecDeque<_>, VecDeque<_>) = std::mem::take(&mut ps.retry)
                .into_iter()
                .partition(|b| !b.maybe_written);
            ps.retry = keep;
            ps.window_failed = false;
            ps.backoff_until = None;
            unknown.extend(drop);
        }
        for batch in unknown {
            let error = self.injected_give_up(Error::OutcomeUnknown);
            self.finish(batch, Err(error));
        }
        self.partitions.retain(|_, ps| !ps.is_idle());
        let kept = self.injected_kept_sequences();
        self.idempotence.begin_bump();
        for (tp, next) in kept {
            self.idempotence.keep_sequence(&tp, next);
        }
        self.out.emit(|| Event::EpochBumpStarted);
    }

    /// Asks for a producer id (or a bump of the last one) when none is granted.
    pub(super) fn request_producer_id(&mut self, now: Instant) {
        if self.idempotence.identity() != Identity::Pending || !self.producer_id.may_ask(now) {
            return;
        }
        let Some(broker) = self.conns.least_loaded_ready(self.config().max_in_flight) else {
            return;
        };
        let bump = self.idempotence.last_granted();
        let client_id = self.client_id.clone();
        self.send_request(broker, now, |versions, corr| {
            let v = versions.init_producer_id;
            (
                requests::init_producer_id_request(v, corr, &client_id, bump).into(),
                super::RequestKind::InitProducerId { version: v },
            )
        });
        self.producer_id.in_flight = true;
        self.out.emit(|| Event::ControlRequestSent {
            broker,
            api: "InitProducerId",
        });
    }

    /// Installs a granted identity; an error answer asks again later. `Err`:
    /// the response was unreadable and the connection must go.
    pub(super) fn on_init_producer_id_response(
        &mut self,
        version: i16,
        body: Bytes,
        now: Instant,
    ) -> Result<(), String> {
        match responses::init_producer_id(version, body) {
            Ok(ProducerIdAnswer::Granted { producer_id, epoch }) => {
                self.producer_id = IdRequest::default();
                self.idempotence.granted(producer_id, epoch);
                self.out
                    .emit(|| Event::IdentityGranted { producer_id, epoch });
                Ok(())
            }
            Ok(ProducerIdAnswer::Refused { .. }) => {
                self.producer_id_failed(now);
                Ok(())
            }
            Err(e) => {
                self.producer_id_failed(now);
                Err(e)
            }
        }
    }

    /// No producer id this time: ask again after the retry backoff.
    pub(super) fn producer_id_failed(&mut self, now: Instant) {
        self.producer_id = IdRequest {
            in_flight: false,
            retry_at: Some(now + self.config().retry_backoff),
        };
    }
}
