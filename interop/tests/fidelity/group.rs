//! The classic group protocol steps of the differential suite (what Java,
//! librdkafka, Sarama and kafka-python consumers send): FindCoordinator,
//! JoinGroup, SyncGroup, Heartbeat, OffsetCommit, OffsetFetch, LeaveGroup.

use super::run::Runner;
use super::steps::{GroupStep, Topic};
use bytes::Bytes;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

fn s(v: String) -> StrBytes {
    StrBytes::from_string(v)
}

impl Runner<'_> {
    /// The symbol of a member id this case's members were given.
    fn member_name(&self, g: usize, id: &str) -> String {
        if id.is_empty() {
            return "\"\"".into();
        }
        match self
            .members
            .iter()
            .find(|((gg, _), v)| *gg == g && v.as_str() == id)
        {
            Some(((_, m), _)) => format!("M{m}"),
            None => "another member".into(),
        }
    }

    fn member_id(&self, g: usize, m: usize) -> String {
        self.members.get(&(g, m)).cloned().unwrap_or_default()
    }

    pub(super) async fn group_step(&mut self, step: &GroupStep) {
        match *step {
            GroupStep::FindCoordinator { g, version } => {
                let req = FindCoordinatorRequest::default()
                    .with_key(s(self.group(g)))
                    .with_key_type(0);
                if let Some(r) = self.group_call("find_coordinator", version, &req).await {
                    let own = self.conn_addr();
                    let addr = format!("{}:{}", r.host, r.port);
                    self.see("find_coordinator error", r.error_code);
                    self.see("find_coordinator is this broker", addr == own);
                }
            }
            GroupStep::JoinGroup { g, m, version } => self.join(g, m, version).await,
            GroupStep::SyncGroup {
                g,
                m,
                version,
                assignment,
            } => {
                let id = self.member_id(g, m);
                let generation = self.generations.get(&(g, m)).copied().unwrap_or(-1);
                let assignments = if assignment {
                    vec![sync_group_request::SyncGroupRequestAssignment::default()
                        .with_member_id(s(id.clone()))
                        .with_assignment(Bytes::from_static(b"assigned"))]
                } else {
                    Vec::new()
                };
                let mut req = SyncGroupRequest::default()
                    .with_group_id(GroupId(s(self.group(g))))
                    .with_generation_id(generation)
                    .with_member_id(s(id))
                    .with_assignments(assignments);
                if version >= 5 {
                    req = req
                        .with_protocol_type(Some(StrBytes::from_static_str("consumer")))
                        .with_protocol_name(Some(StrBytes::from_static_str("range")));
                }
                if let Some(r) = self.group_call("sync_group", version, &req).await {
                    self.see("sync_group error", r.error_code);
                    self.see(
                        "sync_group assignment",
                        String::from_utf8_lossy(&r.assignment).into_owned(),
                    );
                }
            }
            GroupStep::Heartbeat {
                g,
                m,
                version,
                generation,
            } => {
                let generation = generation
                    .unwrap_or_else(|| self.generations.get(&(g, m)).copied().unwrap_or(-1));
                let req = HeartbeatRequest::default()
                    .with_group_id(GroupId(s(self.group(g))))
                    .with_generation_id(generation)
                    .with_member_id(s(self.member_id(g, m)));
                if let Some(r) = self.group_call("heartbeat", version, &req).await {
                    self.see("heartbeat error", r.error_code);
                }
            }
            GroupStep::OffsetCommit {
                g,
                m,
                version,
                t,
                partition,
                offset,
            } => {
                let (id, generation) = match m {
                    Some(m) => (
                        self.member_id(g, m),
                        self.generations.get(&(g, m)).copied().unwrap_or(-1),
                    ),
                    None => (String::new(), -1),
                };
                let req = OffsetCommitRequest::default()
                    .with_group_id(GroupId(s(self.group(g))))
                    .with_generation_id_or_member_epoch(generation)
                    .with_member_id(s(id))
                    .with_retention_time_ms(-1)
                    .with_topics(vec![
                        offset_commit_request::OffsetCommitRequestTopic::default()
                            .with_name(TopicName(s(self.topic(&Topic::Case(t)))))
                            .with_partitions(vec![
                                offset_commit_request::OffsetCommitRequestPartition::default()
                                    .with_partition_index(partition)
                                    .with_committed_offset(offset)
                                    .with_committed_leader_epoch(-1)
                                    .with_committed_metadata(Some(StrBytes::from_static_str(
                                        "meta",
                                    ))),
                            ]),
                    ]);
                if let Some(r) = self.group_call("offset_commit", version, &req).await {
                    for tr in &r.topics {
                        for p in &tr.partitions {
                            self.see(
                                format!("offset_commit {}/{}", tr.name.0, p.partition_index),
                                p.error_code,
                            );
                        }
                    }
                }
            }
            GroupStep::OffsetFetch {
                g,
                version,
                t,
                partition,
            } => {
                let req = OffsetFetchRequest::default()
                    .with_group_id(GroupId(s(self.group(g))))
                    .with_topics(Some(vec![
                        offset_fetch_request::OffsetFetchRequestTopic::default()
                            .with_name(TopicName(s(self.topic(&Topic::Case(t)))))
                            .with_partition_indexes(vec![partition]),
                    ]));
                if let Some(r) = self.group_call("offset_fetch", version, &req).await {
                    if version >= 2 {
                        self.see("offset_fetch error", r.error_code);
                    }
                    for tr in &r.topics {
                        for p in &tr.partitions {
                            self.see(
                                format!("offset_fetch {}/{}", tr.name.0, p.partition_index),
                                format!(
                                    "error={} offset={} metadata={:?}",
                                    p.error_code,
                                    p.committed_offset,
                                    p.metadata.as_ref().map(|m| m.to_string())
                                ),
                            );
                        }
                    }
                }
            }
            GroupStep::LeaveGroup { g, m, version } => {
                let id = self.member_id(g, m);
                let mut req = LeaveGroupRequest::default().with_group_id(GroupId(s(self.group(g))));
                if version >= 3 {
                    req = req.with_members(vec![
                        leave_group_request::MemberIdentity::default().with_member_id(s(id))
                    ]);
                } else {
                    req = req.with_member_id(s(id));
                }
                if let Some(r) = self.group_call("leave_group", version, &req).await {
                    self.see("leave_group error", r.error_code);
                    for mr in &r.members {
                        let name = self.member_name(g, &mr.member_id);
                        self.see(format!("leave_group member {name}"), mr.error_code);
                    }
                }
            }
        }
    }

    async fn join(&mut self, g: usize, m: usize, version: i16) {
        let req = JoinGroupRequest::default()
            .with_group_id(GroupId(s(self.group(g))))
            .with_session_timeout_ms(10_000)
            .with_rebalance_timeout_ms(10_000)
            .with_member_id(s(self.member_id(g, m)))
            .with_protocol_type(StrBytes::from_static_str("consumer"))
            .with_protocols(vec![join_group_request::JoinGroupRequestProtocol::default(
            )
            .with_name(StrBytes::from_static_str("range"))
            .with_metadata(Bytes::from_static(b"subscription"))]);
        let Some(r) = self.group_call("join_group", version, &req).await else {
            return;
        };
        if !r.member_id.is_empty() && !self.members.contains_key(&(g, m)) {
            self.members.insert((g, m), r.member_id.to_string());
        }
        if r.error_code == 0 {
            self.generations.insert((g, m), r.generation_id);
        }
        self.see("join_group error", r.error_code);
        self.see("join_group member", self.member_name(g, &r.member_id));
        self.see("join_group generation", r.generation_id);
        self.see(
            "join_group protocol",
            format!("{:?}", r.protocol_name.as_ref().map(|p| p.to_string())),
        );
        self.see("join_group leader", self.member_name(g, &r.leader));
        let members: Vec<String> = r
            .members
            .iter()
            .map(|mm| {
                format!(
                    "{}:{}",
                    self.member_name(g, &mm.member_id),
                    String::from_utf8_lossy(&mm.metadata)
                )
            })
            .collect();
        self.see("join_group members", members.join(" "));
    }
}
