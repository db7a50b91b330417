//! The producer's view of the cluster: brokers, and each partition's leader.

use std::collections::BTreeMap;

/// One partition as metadata describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionMeta {
    /// Broker id of the leader, `None` while there is none.
    pub leader: Option<i32>,
    /// The leader epoch.
    pub leader_epoch: i32,
}

/// What the producer knows of the cluster.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterMetadata {
    /// Broker id to `host:port`.
    pub brokers: BTreeMap<i32, String>,
    /// Topic name to its partitions, indexed by partition number.
    pub topics: BTreeMap<String, Vec<PartitionMeta>>,
}

impl ClusterMetadata {
    /// Number of partitions of `topic`, if it is known and has any.
    pub fn partition_count(&self, topic: &str) -> Option<u32> {
        self.topics
            .get(topic)
            .filter(|p| !p.is_empty())
            .map(|p| p.len() as u32)
    }

    /// The leader of a partition, if known.
    pub fn leader(&self, topic: &str, partition: i32) -> Option<i32> {
        self.topics
            .get(topic)?
            .get(usize::try_from(partition).ok()?)?
            .leader
    }

    /// The address of a broker.
    pub fn broker_addr(&self, id: i32) -> Option<&str> {
        self.brokers.get(&id).map(String::as_str)
    }
}
