//! CreateTopics: topics created as a scenario's are (leaders spread
//! round-robin), answered by the controller only; `validate_only` checks
//! without creating. -1 partitions or replicas take the defaults
//! ([`crate::cluster::DEFAULT_PARTITIONS`], [`crate::cluster::default_replication`]).
//! Explicit replica assignments are refused (INVALID_REQUEST).

use super::{answer, decode, Answer, Request};
use crate::cluster::{default_replication, Cluster, TopicConfig, DEFAULT_PARTITIONS};
use bytes::Bytes;
use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::{ApiKey, CreateTopicsRequest, CreateTopicsResponse};
use kafka_protocol::protocol::{Decodable, StrBytes};
use producer_core::error::code;

pub(super) fn handle(cluster: &mut Cluster, req: &Request<'_>, buf: &mut Bytes) -> Answer {
    let version = req.version;
    let request = crate::validate::create_topics_request(buf, version)
        .and_then(|_| decode("CreateTopics", || CreateTopicsRequest::decode(buf, version)))?;
    let controller = cluster.controller();
    let mut first_error = code::NONE;
    let topics = request
        .topics
        .iter()
        .map(|t| {
            let name = t.name.0.to_string();
            let mut config = TopicConfig::new(&name, cluster.topics.len());
            let configured = t
                .configs
                .iter()
                .try_for_each(|c| config.set(c.name.as_str(), c.value.as_deref()));
            let result = if controller != req.broker {
                Err(code::NOT_CONTROLLER)
            } else if !t.assignments.is_empty() {
                Err(code::INVALID_REQUEST)
            } else if configured.is_err() {
                Err(code::INVALID_CONFIG)
            } else {
                create(
                    cluster,
                    &name,
                    (t.num_partitions, t.replication_factor),
                    config,
                    request.validate_only,
                )
            };
            let out = CreatableTopicResult::default().with_name(t.name.clone());
            match result {
                Ok(()) => out,
                Err(e) => {
                    if first_error == code::NONE {
                        first_error = e;
                    }
                    let why = match configured {
                        Err(why) if e == code::INVALID_CONFIG => why,
                        _ => message(e).to_string(),
                    };
                    out.with_error_code(e)
                        .with_error_message(Some(StrBytes::from_string(why)))
                }
            }
        })
        .collect();
    let resp = CreateTopicsResponse::default().with_topics(topics);
    answer(ApiKey::CreateTopics, req, first_error, &resp)
}

fn create(
    cluster: &mut Cluster,
    name: &str,
    (partitions, replication): (i32, i16),
    config: TopicConfig,
    validate_only: bool,
) -> Result<(), i16> {
    let brokers = cluster.brokers.len() as u32;
    let partitions = match partitions {
        -1 => DEFAULT_PARTITIONS,
        n if n > 0 => n as u32,
        _ => return Err(code::INVALID_PARTITIONS),
    };
    let replication = match replication {
        -1 => default_replication(brokers),
        n if n > 0 => n as u32,
        _ => return Err(code::INVALID_REPLICATION_FACTOR),
    };
    if validate_only {
        return cluster.check_new_topic(name, partitions, replication);
    }
    cluster.create_topic_with(name, partitions, replication, config)
}

fn message(code: i16) -> &'static str {
    match code {
        17 => "invalid topic name: 1 to 249 of [a-zA-Z0-9._-]",
        36 => "topic already exists",
        37 => "number of partitions must be positive (or -1)",
        38 => "replication factor must be between 1 and the number of brokers (or -1)",
        code::NOT_CONTROLLER => "this broker is not the controller",
        code::INVALID_REQUEST => "replica assignments are not supported by the simulated cluster",
        _ => "refused",
    }
}
