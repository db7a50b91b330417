//! Metadata: live brokers, and each topic's partitions with their leader,
//! leader epoch, replicas and in-sync replicas, from the cluster's current view.

use super::{answer, decode, Answer, Request};
use crate::cluster::Cluster;
use bytes::Bytes;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{ApiKey, BrokerId, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::{Decodable, StrBytes};
use producer_core::error::code;

const LEADER_NOT_AVAILABLE: i16 = 5;

pub(super) fn handle(cluster: &mut Cluster, req: &Request<'_>, buf: &mut Bytes) -> Answer {
    let request = crate::validate::metadata_request(buf, req.version)
        .and_then(|_| decode("Metadata", || MetadataRequest::decode(buf, req.version)))?;
    let resp = response(cluster, &request, req.version);
    answer(ApiKey::Metadata, req, code::NONE, &resp)
}

fn topic(cluster: &Cluster, name: String) -> MetadataResponseTopic {
    let topic = MetadataResponseTopic::default()
        .with_name(Some(TopicName(StrBytes::from_string(name.clone()))));
    let Some(parts) = cluster.topics.get(&name) else {
        return topic.with_error_code(code::UNKNOWN_TOPIC_OR_PARTITION);
    };
    topic.with_partitions(
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
                        LEADER_NOT_AVAILABLE
                    })
                    .with_partition_index(i as i32)
                    .with_leader_id(BrokerId(p.leader.unwrap_or(-1)))
                    .with_leader_epoch(p.leader_epoch)
                    .with_replica_nodes(p.replicas.iter().map(|&b| BrokerId(b)).collect())
                    .with_isr_nodes(live)
            })
            .collect(),
    )
}

fn response(cluster: &Cluster, req: &MetadataRequest, version: i16) -> MetadataResponse {
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
        .with_topics(names.into_iter().map(|n| topic(cluster, n)).collect())
}
