//! Metadata: live brokers, and each topic's partitions with their leader,
//! leader epoch, replicas and in-sync replicas, from the cluster's current view.
//! An unknown topic is created first when the cluster auto-creates topics.

use super::{answer, decode, Answer, Request};
use crate::cluster::{default_replication, valid_topic_name, Cluster, DEFAULT_PARTITIONS};
use bytes::Bytes;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{ApiKey, BrokerId, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::{Decodable, StrBytes};
use producer_core::error::code;

pub(super) fn handle(cluster: &mut Cluster, req: &Request<'_>, buf: &mut Bytes) -> Answer {
    let request = crate::validate::metadata_request(buf, req.version)
        .and_then(|_| decode("Metadata", || MetadataRequest::decode(buf, req.version)))?;
    let creating = auto_create(cluster, &request, req.version);
    // An injected stale answer names each partition's former leader, as a
    // broker whose metadata cache lags behind a leader change would.
    let stale = cluster.stale_metadata > 0;
    if stale {
        cluster.stale_metadata -= 1;
        cluster.injections_hit += 1;
    }
    let mut resp = response(cluster, &request, req.version, stale);
    // Kafka creates the topic in the background and answers this request
    // UNKNOWN_TOPIC_OR_PARTITION (4.4, measured); later requests see it.
    for t in &mut resp.topics {
        if t.name
            .as_ref()
            .is_some_and(|n| creating.contains(&n.0.to_string()))
        {
            t.error_code = code::UNKNOWN_TOPIC_OR_PARTITION;
            t.partitions.clear();
            t.topic_id = Default::default();
        }
    }
    answer(ApiKey::Metadata, req, code::NONE, &resp)
}

/// Creates the unknown topics a request names, with the default partitions
/// and replication, when the cluster auto-creates topics and the request
/// allows it (v4+ says so; before v4 the broker's setting alone decides).
fn auto_create(cluster: &mut Cluster, req: &MetadataRequest, version: i16) -> Vec<String> {
    if !cluster.auto_create_topics || (version >= 4 && !req.allow_auto_topic_creation) {
        return Vec::new();
    }
    let names: Vec<String> = req
        .topics
        .iter()
        .flatten()
        .filter_map(|t| t.name.as_ref().map(|n| n.0.to_string()))
        .filter(|n| !cluster.topics.contains_key(n))
        .collect();
    let replication = default_replication(cluster.brokers.len() as u32);
    names
        .into_iter()
        // An invalid name stays unknown: answered below as INVALID_TOPIC_EXCEPTION.
        .filter(|name| {
            cluster
                .create_topic(name, DEFAULT_PARTITIONS, replication)
                .is_ok()
        })
        .collect()
}

fn topic(cluster: &Cluster, name: String, stale: bool) -> MetadataResponseTopic {
    let topic = MetadataResponseTopic::default()
        .with_name(Some(TopicName(StrBytes::from_string(name.clone()))));
    let Some(parts) = cluster.topics.get(&name) else {
        let error = if valid_topic_name(&name) {
            code::UNKNOWN_TOPIC_OR_PARTITION
        } else {
            code::INVALID_TOPIC_EXCEPTION
        };
        return topic.with_error_code(error);
    };
    let id = cluster
        .topic_config(&name)
        .map(|c| c.id)
        .unwrap_or_default();
    topic.with_topic_id(id).with_partitions(
        parts
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let live: Vec<BrokerId> = p
                    .replicas
                    .iter()
                    .filter(|&&b| cluster.is_up(b))
                    .map(|&b| BrokerId(b))
                    .collect();
                MetadataResponsePartition::default()
                    .with_error_code(if p.leader.is_some() {
                        code::NONE
                    } else {
                        code::LEADER_NOT_AVAILABLE
                    })
                    .with_partition_index(i as i32)
                    .with_leader_id(BrokerId(
                        stale
                            .then_some(p.former_leader)
                            .flatten()
                            .or(p.leader)
                            .unwrap_or(-1),
                    ))
                    .with_leader_epoch(p.leader_epoch)
                    .with_replica_nodes(p.replicas.iter().map(|&b| BrokerId(b)).collect())
                    .with_isr_nodes(live)
            })
            .collect(),
    )
}

fn response(
    cluster: &Cluster,
    req: &MetadataRequest,
    version: i16,
    stale: bool,
) -> MetadataResponse {
    let brokers = cluster
        .brokers
        .iter()
        .enumerate()
        .filter(|(_, b)| b.up)
        .map(|(id, b)| {
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(id as i32))
                .with_host(StrBytes::from_string(b.host.clone()))
                .with_port(b.port as i32)
        })
        .collect();
    // v0: an empty list means every topic; v1+: a null list does.
    let names: Vec<String> = match &req.topics {
        Some(t) if !(t.is_empty() && version == 0) => t
            .iter()
            .filter_map(|t| t.name.as_ref().map(|n| n.0.to_string()))
            .collect(),
        _ => cluster.topics.keys().cloned().collect(),
    };
    let controller = cluster
        .brokers
        .iter()
        .position(|b| b.up)
        .map_or(-1, |i| i as i32);
    MetadataResponse::default()
        .with_brokers(brokers)
        .with_cluster_id(Some(StrBytes::from_static_str("prodsim")))
        .with_controller_id(BrokerId(controller))
        .with_topics(
            names
                .into_iter()
                .map(|n| topic(cluster, n, stale))
                .collect(),
        )
}
