//! Per-broker protocol state: connecting, negotiating API versions (the
//! handshake), ready (negotiated versions, requests in flight with their
//! correlation ids and deadlines) or backing off.
//!
//! No sockets here: the driver owns the connection tasks and their write
//! channels, keyed by broker and generation. A generation number tells the news
//! of a connection the sender has already replaced from the current one.

use super::batches::SentBatch;
use crate::clock::Instant;
use crate::wire::frame::OutFrame;
use crate::wire::requests::Versions;
use std::collections::{BTreeMap, VecDeque};

/// What an unanswered request was, so its answer (or its loss) can be handled.
#[derive(Debug)]
pub(crate) enum RequestKind {
    /// Produce, with the batches inside (their bytes stay alive until the
    /// answer: the charge for their memory ends then).
    Produce {
        /// Version it was encoded at.
        version: i16,
        /// Its batches, in request order.
        batches: Vec<SentBatch>,
    },
    /// Metadata.
    Metadata {
        /// Version it was encoded at.
        version: i16,
    },
    /// InitProducerId.
    InitProducerId {
        /// Version it was encoded at.
        version: i16,
    },
}

/// One request written to a broker and not answered yet.
#[derive(Debug)]
pub(crate) struct InFlight {
    /// Responses come back in request order; this one must carry this id.
    pub correlation_id: i32,
    /// When the connection is given up if no answer came.
    pub deadline: Instant,
    /// What it was.
    pub kind: RequestKind,
}

/// The state of the connection to one broker.
#[derive(Debug)]
pub(crate) enum ConnState {
    /// The driver is dialling.
    Connecting {
        /// Which attempt this is.
        generation: u64,
        /// Connecting and the handshake must be done by then.
        deadline: Instant,
    },
    /// Connected; the ApiVersions request is written and its answer awaited.
    Handshaking {
        /// Which attempt this is.
        generation: u64,
        /// The answer must come by then (the dial's deadline still).
        deadline: Instant,
    },
    /// Connected: requests can be written.
    Ready {
        /// Which attempt this is.
        generation: u64,
        /// The API versions agreed with this broker.
        versions: Versions,
        /// Requests written and not answered, oldest first.
        in_flight: VecDeque<InFlight>,
        /// The correlation id of the next request.
        next_correlation: i32,
    },
    /// The last connection failed or was dropped: wait before dialling again.
    Backoff {
        /// Not before this.
        until: Instant,
    },
}

impl ConnState {
    /// When the connection is given up unless something arrives, and whether
    /// that is the dial and handshake (`true`) or the oldest request.
    fn deadline(&self) -> Option<(Instant, bool)> {
        match self {
            ConnState::Connecting { deadline, .. } | ConnState::Handshaking { deadline, .. } => {
                Some((*deadline, true))
            }
            ConnState::Ready { in_flight, .. } => in_flight.front().map(|r| (r.deadline, false)),
            ConnState::Backoff { .. } => None,
        }
    }

    /// The generation, unless backing off.
    fn generation(&self) -> Option<u64> {
        match self {
            ConnState::Connecting { generation, .. }
            | ConnState::Handshaking { generation, .. }
            | ConnState::Ready { generation, .. } => Some(*generation),
            ConnState::Backoff { .. } => None,
        }
    }
}

/// Every broker connection the sender knows of (negative ids are bootstrap
/// addresses, before metadata names the brokers).
#[derive(Debug, Default)]
pub(crate) struct Conns {
    /// Broker id to its state.
    map: BTreeMap<i32, ConnState>,
    /// The generation of the next dial (never reused).
    next_generation: u64,
    /// Round-robin position among candidates when any broker will do.
    pub dial_cursor: usize,
}

impl Conns {
    /// Brokers with any state, in order.
    pub fn brokers(&self) -> impl Iterator<Item = i32> + '_ {
        self.map.keys().copied()
    }

    /// Requests in flight on `broker` if it is ready.
    pub fn in_flight_len(&self, broker: i32) -> Option<usize> {
        match self.map.get(&broker)? {
            ConnState::Ready { in_flight, .. } => Some(in_flight.len()),
            _ => None,
        }
    }

    /// The ready broker with the fewest requests in flight, below `max`.
    pub fn least_loaded_ready(&self, max: usize) -> Option<i32> {
        self.map
            .iter()
            .filter_map(|(id, c)| match c {
                ConnState::Ready { in_flight, .. } if in_flight.len() < max => {
                    Some((in_flight.len(), *id))
                }
                _ => None,
            })
            .min()
            .map(|(_, id)| id)
    }

    /// Some connection is ready or being made.
    pub fn any_active(&self) -> bool {
        self.map.values().any(|c| c.generation().is_some())
    }

    /// True while `broker` waits out a backoff at `now`.
    pub fn backing_off(&self, broker: i32, now: Instant) -> bool {
        matches!(self.map.get(&broker), Some(ConnState::Backoff { until }) if now < *until)
    }

    /// May `broker` be dialled now (not connected, connecting or backing off)?
    pub fn can_dial(&self, broker: i32, now: Instant) -> bool {
        match self.map.get(&broker) {
            Some(ConnState::Backoff { until }) => now >= *until,
            Some(_) => false,
            None => true,
        }
    }

    /// Records a dial of `broker` that must be connected and negotiated by
    /// `deadline`, and returns its generation.
    pub fn start_dial(&mut self, broker: i32, deadline: Instant) -> u64 {
        self.next_generation += 1;
        let generation = self.next_generation;
        self.map.insert(
            broker,
            ConnState::Connecting {
                generation,
                deadline,
            },
        );
        generation
    }

    /// The dial `generation` of `broker` connected: the handshake starts. False
    /// when the dial is stale.
    pub fn connected(&mut self, broker: i32, generation: u64) -> bool {
        let Some(ConnState::Connecting {
            generation: g,
            deadline,
        }) = self.map.get(&broker)
        else {
            return false;
        };
        if *g != generation {
            return false;
        }
        let deadline = *deadline;
        self.map.insert(
            broker,
            ConnState::Handshaking {
                generation,
                deadline,
            },
        );
        true
    }

    /// True while `broker`'s connection `generation` awaits its ApiVersions
    /// answer.
    pub fn is_handshaking(&self, broker: i32, generation: u64) -> bool {
        matches!(self.map.get(&broker), Some(ConnState::Handshaking { generation: g, .. }) if *g == generation)
    }

    /// The handshake of `broker`'s connection `generation` agreed on
    /// `versions`: requests may be written.
    pub fn negotiated(&mut self, broker: i32, generation: u64, versions: Versions) {
        if !self.is_handshaking(broker, generation) {
            return;
        }
        self.map.insert(
            broker,
            ConnState::Ready {
                generation,
                versions,
                in_flight: VecDeque::new(),
                next_correlation: 1,
            },
        );
    }

    /// True when `generation` is `broker`'s connection (connecting or ready).
    pub fn is_current(&self, broker: i32, generation: u64) -> bool {
        self.map.get(&broker).and_then(ConnState::generation) == Some(generation)
    }

    /// Ends `broker`'s connection: it backs off until `until`. Returns the
    /// generation that ended (if one was connecting or ready) and its
    /// unanswered requests.
    pub fn close(&mut self, broker: i32, until: Instant) -> (Option<u64>, VecDeque<InFlight>) {
        let Some(old) = self.map.insert(broker, ConnState::Backoff { until }) else {
            self.map.remove(&broker);
            return (None, VecDeque::new());
        };
        let generation = old.generation();
        match old {
            ConnState::Ready { in_flight, .. } => (generation, in_flight),
            _ => (generation, VecDeque::new()),
        }
    }

    /// Writes a request to ready `broker`: `build` gets the versions and the
    /// correlation id. Returns the generation and the frame for the driver.
    pub fn push(
        &mut self,
        broker: i32,
        deadline: Instant,
        build: impl FnOnce(&Versions, i32) -> (OutFrame, RequestKind),
    ) -> Option<(u64, OutFrame)> {
        let Some(ConnState::Ready {
            generation,
            versions,
            in_flight,
            next_correlation,
        }) = self.map.get_mut(&broker)
        else {
            return None;
        };
        let correlation_id = *next_correlation;
        *next_correlation = next_correlation.wrapping_add(1);
        let (frame, kind) = build(versions, correlation_id);
        in_flight.push_back(InFlight {
            correlation_id,
            deadline,
            kind,
        });
        Some((*generation, frame))
    }

    /// The request a response of `broker`'s connection `generation` answers.
    /// `Ok(None)`: news of a replaced connection, ignore it. `Err`: the
    /// response does not answer the oldest request; the connection must go.
    pub fn take_response(
        &mut self,
        broker: i32,
        generation: u64,
        correlation_id: Option<i32>,
    ) -> Result<Option<InFlight>, String> {
        let Some(ConnState::Ready {
            generation: g,
            in_flight,
            ..
        }) = self.map.get_mut(&broker)
        else {
            return Ok(None);
        };
        if *g != generation {
            return Ok(None);
        }
        let expected = in_flight.front().map(|r| r.correlation_id);
        if expected.is_none() || correlation_id != expected {
            return Err(format!(
                "response correlation id {correlation_id:?}, expected {expected:?}"
            ));
        }
        Ok(in_flight.pop_front())
    }

    /// Brokers whose connection passed its deadline at `now`: the oldest
    /// request of a ready one, or the dial and handshake of a new one (`true`).
    pub fn late(&self, now: Instant) -> Vec<(i32, bool)> {
        self.map
            .iter()
            .filter_map(|(id, c)| match c.deadline() {
                Some((deadline, handshake)) if deadline <= now => Some((*id, handshake)),
                _ => None,
            })
            .collect()
    }

    /// The earliest deadline of any connection: an oldest unanswered request,
    /// or a dial and its handshake.
    pub fn next_request_deadline(&self) -> Option<Instant> {
        self.map
            .values()
            .filter_map(|c| c.deadline().map(|(d, _)| d))
            .min()
    }

    /// When each backoff ends (ended ones included: see
    /// `SenderState::refresh_timers` for why the caller drops those first).
    pub fn backoff_ends(&self) -> impl Iterator<Item = Instant> + '_ {
        self.map.values().filter_map(|c| match c {
            ConnState::Backoff { until } => Some(*until),
            _ => None,
        })
    }

    /// A batch still inside an unanswered produce request.
    pub fn in_flight_batch_mut(&mut self, first_send_id: u64) -> Option<&mut SentBatch> {
        self.map
            .values_mut()
            .filter_map(|c| match c {
                ConnState::Ready { in_flight, .. } => Some(in_flight),
                _ => None,
            })
            .flat_map(|q| q.iter_mut())
            .filter_map(|r| match &mut r.kind {
                RequestKind::Produce { batches, .. } => Some(batches),
                _ => None,
            })
            .flat_map(|b| b.iter_mut())
            .find(|b| b.first_send_id() == first_send_id)
    }

    /// Ends every connection: (broker, generation, unanswered requests).
    pub fn drain(&mut self) -> Vec<(i32, u64, VecDeque<InFlight>)> {
        std::mem::take(&mut self.map)
            .into_iter()
            .filter_map(|(id, c)| match c {
                ConnState::Ready {
                    generation,
                    in_flight,
                    ..
                } => Some((id, generation, in_flight)),
                ConnState::Connecting { generation, .. }
                | ConnState::Handshaking { generation, .. } => {
                    Some((id, generation, VecDeque::new()))
                }
                ConnState::Backoff { .. } => None,
            })
            .collect()
    }
}
