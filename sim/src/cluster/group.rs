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
    /// No members: the next join starts a rebalance at once (`Group::prepare`).
    Empty,
    /// Waiting for the members to join, until the deadline: Heartbeat and
    /// OffsetCommit answer REBALANCE_IN_PROGRESS, joins wait for it.
    Preparing(Duration),
    /// Joined; waiting for the leader's SyncGroup, which the other members'
    /// SyncGroups wait for.
    Completing,
    /// Assigned: SyncGroup answers each member its assignment at once.
    Stable,
}

/// One member of a group.
#[derive(Clone, Debug)]
pub struct Member {
    /// (protocol name, metadata) in the member's order of preference: the
    /// rebalance picks the leader's first one every member supports, and the
    /// leader's JoinGroup answer carries each member's metadata for it.
    pub protocols: Vec<(String, Bytes)>,
    /// Its session timeout: `Group::expire` drops the member when it has sent
    /// nothing for this long.
    pub session_timeout: Duration,
    /// How long a rebalance may wait for it: the longest of the members' is
    /// the rebalance deadline, and a SyncGroup waits this long for the leader.
    pub rebalance_timeout: Duration,
    /// Its last request to the coordinator: what `Group::expire` measures the
    /// session timeout from.
    pub last_seen: Duration,
    /// It joined the rebalance in progress: the rebalance completes when all
    /// have, and drops those that have not by the deadline.
    pub joined: bool,
    /// Its assignment in the current generation, set by the leader's
    /// SyncGroup and answered to the member's own.
    pub assignment: Option<Bytes>,
}

/// One committed offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Committed {
    /// The offset, answered by OffsetFetch: where the group's consumers resume.
    pub offset: i64,
    /// The leader epoch the client gave, answered back by OffsetFetch v5+
    /// (clients use it to detect log truncation).
    pub leader_epoch: i32,
    /// The client's metadata string, answered back by OffsetFetch as Kafka does.
    pub metadata: String,
}

/// A join waiting for its group: (client id, correlation id, time received).
pub(crate) type Ticket = (Arc<str>, i32, Duration);

/// A consumer group.
#[derive(Clone, Debug)]
pub struct Group {
    /// Its generation, bumped at every completed rebalance: requests of an
    /// older generation are refused (ILLEGAL_GENERATION).
    pub generation: i32,
    /// Where the rebalance protocol is: decides whether Heartbeat, SyncGroup
    /// and OffsetCommit are answered or told to rejoin, and whether joins wait.
    pub state: GroupState,
    /// The protocol type of its members (`consumer`): a join of another type
    /// is refused (INCONSISTENT_GROUP_PROTOCOL).
    pub protocol_type: String,
    /// The protocol chosen in this generation, answered in JoinGroup; the
    /// leader gets every member's metadata for it.
    pub protocol: String,
    /// The leader's member id: its JoinGroup answer lists the members and its
    /// SyncGroup sets the assignments.
    pub leader: String,
    /// Members by id: who must join a rebalance, and who may heartbeat, sync
    /// and commit.
    pub members: BTreeMap<String, Member>,
    /// Committed offsets by partition: written by OffsetCommit, read by
    /// OffsetFetch (they outlive coordinator changes, as `__consumer_offsets` does).
    pub offsets: BTreeMap<TopicPartition, Committed>,
    /// Joins in progress that came without a member id, by (client id,
    /// correlation id, time received): the id given to them, so a join handled
    /// again after its wait gets the same id.
    pub(crate) tickets: BTreeMap<Ticket, String>,
    /// Member ids handed out with MEMBER_ID_REQUIRED (JoinGroup v4+, KIP-394)
    /// that have not joined with them yet: a join with an id neither here nor
    /// among the members is refused (UNKNOWN_MEMBER_ID).
    pub(crate) pending: std::collections::BTreeSet<String>,
    /// Member ids handed out so far: the suffix of the next one, so ids are
    /// unique and the same in every run.
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
