//! Metadata: which topics to ask about, when to ask again, and what an answer
//! changes (leaders, brokers that left, the snapshot `send` reads).

use super::{Accumulator, DriverCommand, SenderState};
use crate::clock::Instant;
use crate::metadata::ClusterMetadata;
use crate::observe::Event;
use crate::produce_set::TopicPartition;
use crate::wire::{requests, responses};
use bytes::Bytes;
use std::collections::BTreeSet;
use std::sync::Arc;

/// When to ask for metadata again.
#[derive(Debug)]
pub(crate) struct Refresh {
    /// What we know may be out of date (a leader moved, a connection failed, a
    /// partition has no leader): ask again.
    stale: bool,
    /// A request is out: never two at once.
    in_flight: bool,
    /// Not before this (after a failed or leaderless answer).
    retry_at: Option<Instant>,
}

impl Default for Refresh {
    /// Nothing known yet: ask as soon as there is a topic to ask about.
    fn default() -> Self {
        Refresh {
            stale: true,
            in_flight: false,
            retry_at: None,
        }
    }
}

impl Refresh {
    /// Ask again at the next chance.
    pub fn mark_stale(&mut self) {
        self.stale = true;
    }

    /// True when what we know may be out of date.
    pub fn is_stale(&self) -> bool {
        self.stale
    }

    /// No request out and no backoff at `now`.
    pub fn may_ask(&self, now: Instant) -> bool {
        !self.in_flight && self.retry_at.is_none_or(|t| now >= t)
    }

    /// A request went out.
    pub fn asked(&mut self) {
        self.in_flight = true;
        self.stale = false;
        self.retry_at = None;
    }

    /// The answer came; `retry_at` when it was not good enough (a partition
    /// without a leader): ask again then.
    pub fn answered(&mut self, retry_at: Option<Instant>) {
        self.in_flight = false;
        if retry_at.is_some() {
            self.stale = true;
            self.retry_at = retry_at;
        }
    }

    /// No usable answer: ask again at `retry_at`.
    pub fn failed(&mut self, retry_at: Instant) {
        self.answered(Some(retry_at));
    }

    /// The backoff deadline, if any.
    pub fn retry_at(&self) -> Option<Instant> {
        self.retry_at
    }
}

/// The producer's view of the cluster and how fresh it is.
#[derive(Debug, Default)]
pub(crate) struct MetadataState {
    /// Brokers and partition leaders as last answered (topics merged across
    /// answers: an answer about some topics keeps what we knew of the others).
    pub view: ClusterMetadata,
    /// When to ask again.
    pub refresh: Refresh,
}

impl SenderState {
    /// Topics a send waits for, has buffered, or has batches in the sender.
    pub(super) fn wanted_topics(&self, accum: &Accumulator) -> Vec<String> {
        let mut topics: BTreeSet<String> = accum.wanted_topics.clone();
        topics.extend(
            accum
                .produce_set
                .partitions()
                .map(|tp| tp.topic.to_string()),
        );
        topics.extend(self.partitions.keys().map(|tp| tp.topic.to_string()));
        topics.into_iter().collect()
    }

    /// Asks for metadata when it is stale or a wanted topic is unknown.
    pub(super) fn request_metadata(&mut self, now: Instant, accum: &Accumulator) {
        if !self.metadata.refresh.may_ask(now) {
            return;
        }
        let topics = self.wanted_topics(accum);
        let missing = topics
            .iter()
            .any(|t| self.metadata.view.partition_count(t).is_none());
        if !(self.metadata.refresh.is_stale() || missing) || topics.is_empty() {
            return;
        }
        let Some(broker) = self.conns.least_loaded_ready(self.config().max_in_flight) else {
            return;
        };
        let client_id = self.client_id.clone();
        self.send_request(broker, now, |versions, corr| {
            let v = versions.metadata;
            (
                requests::metadata_request(v, corr, &client_id, &topics).into(),
                super::RequestKind::Metadata { version: v },
            )
        });
        self.metadata.refresh.asked();
        self.out.emit(|| Event::ControlRequestSent {
            broker,
            api: "Metadata",
        });
    }

    /// Decodes a metadata answer; `Err`: unreadable, the connection must go.
    pub(super) fn on_metadata_response(
        &mut self,
        version: i16,
        body: Bytes,
        now: Instant,
    ) -> Result<(), String> {
        match responses::metadata(version, body) {
            Ok(fresh) => {
                self.on_metadata(fresh, now);
                Ok(())
            }
            Err(e) => {
                self.metadata_failed(now);
                Err(e)
            }
        }
    }

    /// Merges a metadata answer into the view; brokers that left lose their
    /// connections; publishes the result.
    fn on_metadata(&mut self, fresh: ClusterMetadata, now: Instant) {
        let known = &self.metadata.view;
        // Brokers that left the cluster (or moved) lose their connections.
        let gone: Vec<i32> = self
            .conns
            .brokers()
            .filter(|id| *id >= 0 && known.brokers.contains_key(id))
            .filter(|id| fresh.brokers.get(id) != known.brokers.get(id))
            .collect();
        let mut merged = fresh;
        for (t, parts) in &known.topics {
            merged
                .topics
                .entry(t.clone())
                .or_insert_with(|| parts.clone());
        }
        // A leader the answer does not list among its brokers (it was down
        // when the answer was made) cannot be reached: no leader, as the Java
        // client's `Cluster.leaderFor` has none for an unknown node. Else the
        // sender would wait on a broker it has no address for, and no timer
        // would ask again.
        for parts in merged.topics.values_mut() {
            for p in parts.iter_mut() {
                if p.leader.is_some_and(|id| !merged.brokers.contains_key(&id)) {
                    p.leader = None;
                }
            }
        }
        let leaderless = merged
            .topics
            .values()
            .any(|parts| parts.iter().any(|p| p.leader.is_none()));
        let backoff = self.config().retry_backoff;
        self.metadata
            .refresh
            .answered(leaderless.then(|| now + backoff));
        self.injected_leader_move(&merged);
        self.metadata.view = merged;
        for id in gone {
            self.drop_connection(id, "broker left the metadata".into(), now);
        }
        self.publish_metadata();
    }

    /// Hands the new view to `send` (partition counts) and to the observer.
    fn publish_metadata(&mut self) {
        let view: &ClusterMetadata = &self.metadata.view;
        self.out
            .push(DriverCommand::PublishMetadata(Arc::new(view.clone())));
        self.out.emit(|| Event::MetadataUpdated {
            leaders: view
                .topics
                .iter()
                .flat_map(|(t, parts)| {
                    parts
                        .iter()
                        .enumerate()
                        .map(move |(i, p)| (TopicPartition::new(t, i as i32), p.leader))
                })
                .collect(),
        });
    }

    /// No usable answer: ask again after the retry backoff.
    pub(super) fn metadata_failed(&mut self, now: Instant) {
        let backoff = self.config().retry_backoff;
        self.metadata.refresh.failed(now + backoff);
    }
}
