//! A consumer group's state, as the group coordinator keeps it in the cluster
//! (Kafka keeps it in the replicated `__consumer_offsets`, so a coordinator
//! change loses nothing). The protocol that moves it is `broker/group/`.

use bytes::Bytes;
use producer_core::TopicPartition;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// Where a group is in its rebalance protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupState {
    /// No members.
    Empty,
    /// Waiting for the members to join, until the deadline.
    Preparing(Duration),
    /// Joined; waiting for the leader's assignments.
    Completing,
    /// Assigned.
    Stable,
}

/// One member of a group.
#[derive(Clone, Debug)]
pub struct Member {
    /// (protocol name, metadata) in the member's order of preference.
    pub protocols: Vec<(String, Bytes)>,
    /// Its session timeout.
    pub session_timeout: Duration,
    /// How long a rebalance may wait for it.
    pub rebalance_timeout: Duration,
    /// Its last request to the coordinator.
    pub last_seen: Duration,
    /// It joined the rebalance in progress.
    pub joined: bool,
    /// Its assignment in the current generation.
    pub assignment: Option<Bytes>,
}

/// One committed offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Committed {
    /// The offset.
    pub offset: i64,
    /// The leader epoch the client gave.
    pub leader_epoch: i32,
    /// The client's metadata string.
    pub metadata: String,
}

/// A join waiting for its group: (client id, correlation id, time received).
pub(crate) type Ticket = (Arc<str>, i32, Duration);

/// A consumer group.
#[derive(Clone, Debug)]
pub struct Group {
    /// Its generation, bumped at every completed rebalance.
    pub generation: i32,
    /// Its state.
    pub state: GroupState,
    /// The protocol type of its members (`consumer`).
    pub protocol_type: String,
    /// The protocol chosen in this generation.
    pub protocol: String,
    /// The leader's member id.
    pub leader: String,
    /// Members by id.
    pub members: BTreeMap<String, Member>,
    /// Committed offsets.
    pub offsets: BTreeMap<TopicPartition, Committed>,
    /// Joins in progress that came without a member id, by (client id,
    /// correlation id, time received): the id given to them.
    pub(crate) tickets: BTreeMap<Ticket, String>,
    /// Member ids handed out with MEMBER_ID_REQUIRED (JoinGroup v4+, KIP-394)
    /// that have not joined with them yet.
    pub(crate) pending: std::collections::BTreeSet<String>,
    /// Member ids handed out so far.
    pub(crate) given: u64,
}

impl Default for Group {
    fn default() -> Self {
        Group {
            generation: 0,
            state: GroupState::Empty,
            protocol_type: String::new(),
            protocol: String::new(),
            leader: String::new(),
            members: BTreeMap::new(),
            offsets: BTreeMap::new(),
            tickets: BTreeMap::new(),
            pending: Default::default(),
            given: 0,
        }
    }
}

impl Group {
    /// Starts a rebalance (if none is in progress) that waits for the members
    /// up to their longest rebalance timeout.
    pub(crate) fn prepare(&mut self, now: Duration) {
        if matches!(self.state, GroupState::Preparing(_)) {
            return;
        }
        if self.members.is_empty() {
            self.state = GroupState::Empty;
            return;
        }
        let wait = self
            .members
            .values()
            .map(|m| m.rebalance_timeout)
            .max()
            .unwrap_or_default();
        for m in self.members.values_mut() {
            m.joined = false;
            m.assignment = None;
        }
        self.state = GroupState::Preparing(now + wait);
    }

    /// Drops members whose session expired; a group that lost one rebalances.
    pub(crate) fn expire(&mut self, now: Duration) {
        let before = self.members.len();
        let waiting = matches!(self.state, GroupState::Preparing(_));
        // A member waiting in a join is alive: its join is being answered.
        self.members
            .retain(|_, m| (waiting && m.joined) || m.last_seen + m.session_timeout >= now);
        if self.members.len() != before {
            self.prepare(now);
        }
    }

    /// Completes the rebalance in progress when every member joined or its
    /// deadline passed.
    pub(crate) fn complete(&mut self, now: Duration) {
        let GroupState::Preparing(deadline) = self.state else {
            return;
        };
        let all = self.members.values().all(|m| m.joined);
        if !all && now < deadline {
            return;
        }
        self.members.retain(|_, m| m.joined);
        if self.members.is_empty() {
            self.state = GroupState::Empty;
            return;
        }
        self.generation += 1;
        if !self.members.contains_key(&self.leader) {
            self.leader = self.members.keys().next().cloned().unwrap_or_default();
        }
        // The leader's most preferred protocol every member supports.
        let leader = &self.members[&self.leader];
        self.protocol = leader
            .protocols
            .iter()
            .map(|(name, _)| name)
            .find(|name| {
                self.members
                    .values()
                    .all(|m| m.protocols.iter().any(|(n, _)| n == *name))
            })
            .cloned()
            .unwrap_or_default();
        self.state = GroupState::Completing;
    }
}
