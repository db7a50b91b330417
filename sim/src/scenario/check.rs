//! Validation of a parsed scenario file, section by section. Every mistake is
//! collected (file:line:column and field each); a section whose mistakes make
//! the checks that depend on it meaningless (no usable cluster, no producer
//! count) stops those checks, not the others.

use super::file::*;
use super::{Reporter, ScenarioError};
use crate::checker::Kind;
use crate::cluster::{ClusterSpec, TopicSpec};
use crate::faults::Fault;
use crate::mechanisms::{Bound, MechanismExpect};
use crate::producer_state::BrokerVersion;
use std::time::Duration;
use toml::Spanned;

/// What a valid file resolves to.
pub(super) struct Checked {
    pub cluster: ClusterSpec,
    pub faults: Vec<Fault>,
    pub allowed: Vec<Kind>,
    pub required: Vec<Kind>,
    pub mechanisms: MechanismExpect,
}

/// Checks every section; `None` when a mistake left nothing to resolve.
pub(super) fn check(
    f: &ScenarioFile,
    r: &Reporter<'_>,
    errors: &mut Vec<ScenarioError>,
) -> Option<Checked> {
    run(f, r, errors);
    let cluster = cluster(&f.cluster, r, errors);
    let topics_ok = cluster.as_ref().is_some_and(|c| {
        let ok = c.topics.iter().any(|t| t.name == f.workload.topic);
        if !ok {
            errors.push(r.at_key(
                "topic",
                format!(
                    "`workload.topic` = `{}` is not a topic of the cluster",
                    f.workload.topic
                ),
            ));
        }
        ok
    });
    workload(&f.workload, r, errors);
    let producers_ok = producers(&f.producers, f.workload.records, r, errors);
    let (allowed, required, mechanisms) = expect(&f.expect, r, errors);
    if let Some(s) = &f.swarm {
        if let Err(e) = crate::faults::check_swarm(s, r) {
            errors.push(e);
        }
    }
    let cluster = cluster?;
    let faults = if producers_ok && topics_ok {
        let duration = Duration::from_secs(f.duration_s);
        crate::faults::resolve_all(&f.faults, &cluster, f.producers.count, duration, r, errors)
    } else {
        Vec::new()
    };
    Some(Checked {
        cluster,
        faults,
        allowed,
        required,
        mechanisms,
    })
}

/// Run-wide settings: duration, tick, seeds, network.
fn run(f: &ScenarioFile, r: &Reporter<'_>, errors: &mut Vec<ScenarioError>) {
    if f.duration_s == 0 {
        errors.push(r.at_key("duration_s", "`duration_s` must be at least 1"));
    }
    if f.tick_ms == 0 || f.tick_ms > 100 {
        errors.push(r.at_key("tick_ms", "`tick_ms` must be in 1..=100"));
    }
    match &f.seeds {
        Seeds::Count(0) => errors.push(r.at_key("seeds", "`seeds` must name at least one seed")),
        Seeds::List(l) if l.is_empty() => {
            errors.push(r.at_key("seeds", "`seeds` must name at least one seed"))
        }
        Seeds::Count(n) if *n > MAX_FILE_SEEDS => errors.push(r.at_key(
            "seeds",
            format!(
                "`seeds` = {n}: a file runs at most {MAX_FILE_SEEDS} seeds; explore more with `sim explore FILE --seeds N`"
            ),
        )),
        _ => {}
    }
    if f.network.min_latency_ms > f.network.max_latency_ms {
        errors.push(r.at_key(
            "min_latency_ms",
            "`network.min_latency_ms` is above `max_latency_ms`",
        ));
    }
}

/// The cluster section; `None` when it cannot be built.
fn cluster(
    c: &ClusterFile,
    r: &Reporter<'_>,
    errors: &mut Vec<ScenarioError>,
) -> Option<ClusterSpec> {
    let before = errors.len();
    if c.brokers == 0 || c.brokers > 64 {
        errors.push(r.at_key(
            "brokers",
            format!("`cluster.brokers` is {}, expected 1..=64", c.brokers),
        ));
    }
    let mut topics: Vec<TopicSpec> = Vec::new();
    for t in &c.topics {
        if let Some(spec) = topic(t, &topics, r, errors) {
            topics.push(spec);
        }
    }
    if c.topics.is_empty() {
        topics.push(TopicSpec {
            name: "events".into(),
            partitions: default_partitions(),
            replication: default_replication(),
        });
    }
    if c.max_message_bytes < producer_core::config::MIN_BATCH_BYTES {
        errors.push(r.at_key(
            "max_message_bytes",
            "`cluster.max_message_bytes` is below the smallest batch (68)",
        ));
    }
    let usable = errors.len() == before;
    if c.lose_producer_state_on_restart.is_some() {
        errors.push(r.at_key(
            "lose_producer_state_on_restart",
            "`cluster.lose_producer_state_on_restart` was removed: Kafka rebuilds producer state from its log when a broker restarts; use a fault with `action = \"expire_producers\"` and `partition = \"topic/p\"` to make a partition forget its producers",
        ));
    }
    let broker_version = match &c.broker_version {
        None => BrokerVersion::default(),
        Some(v) => BrokerVersion::parse(v.get_ref()).unwrap_or_else(|| {
            errors.push(r.at(
                v,
                format!(
                    "`cluster.broker_version` = \"{}\" is not a modelled version; expected one of {} (2.5 and later answer as 3.8)",
                    v.get_ref(),
                    BrokerVersion::NAMES.join(", ")
                ),
            ));
            BrokerVersion::default()
        }),
    };
    usable.then(|| ClusterSpec {
        brokers: c.brokers,
        topics,
        max_message_bytes: c.max_message_bytes,
        failover_delay: Duration::from_millis(c.failover_delay_ms),
        broker_version,
    })
}

fn topic(
    t: &Spanned<TopicFile>,
    earlier: &[TopicSpec],
    r: &Reporter<'_>,
    errors: &mut Vec<ScenarioError>,
) -> Option<TopicSpec> {
    let tf = t.get_ref();
    let valid_name = !tf.name.is_empty()
        && tf
            .name
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "._-".contains(ch));
    let problem = if !valid_name {
        Some(format!(
            "topic name `{}` must be non-empty [a-zA-Z0-9._-]",
            tf.name
        ))
    } else if tf.partitions == 0 || tf.partitions > 1024 {
        Some(format!(
            "topic `{}`: `partitions` is {}, expected 1..=1024",
            tf.name, tf.partitions
        ))
    } else if tf.replication == 0 {
        Some(format!(
            "topic `{}`: `replication` must be at least 1",
            tf.name
        ))
    } else if earlier.iter().any(|x| x.name == tf.name) {
        Some(format!("topic `{}` is defined twice", tf.name))
    } else {
        None
    };
    match problem {
        Some(m) => {
            errors.push(r.at(t, m));
            None
        }
        None => Some(TopicSpec {
            name: tf.name.clone(),
            partitions: tf.partitions,
            replication: tf.replication,
        }),
    }
}

fn workload(w: &WorkloadSpec, r: &Reporter<'_>, errors: &mut Vec<ScenarioError>) {
    let (lo, hi) = w.value_size.bounds();
    if lo > hi {
        errors.push(r.at_key(
            "value_size",
            format!("`workload.value_size` = [{lo}, {hi}]: min is above max"),
        ));
    }
    if hi > 64 * 1024 * 1024 || w.oversize_bytes > 64 * 1024 * 1024 {
        errors.push(r.at_key("value_size", "record sizes are limited to 64 MiB"));
    }
    if w.key == KeyMode::Space && w.keys == 0 {
        errors.push(r.at_key(
            "keys",
            "`workload.keys` must be at least 1 with `key = \"space\"`",
        ));
    }
    if w.burst == 0 {
        errors.push(r.at_key("burst", "`workload.burst` must be at least 1"));
    }
    if w.oversize_every > 0 && w.oversize_bytes == 0 {
        errors.push(r.at_key("oversize_every", "`oversize_every` needs `oversize_bytes`"));
    }
}

/// The producers section; false when the producer count itself is unusable.
fn producers(
    p: &ProducersSpec,
    records: usize,
    r: &Reporter<'_>,
    errors: &mut Vec<ScenarioError>,
) -> bool {
    if p.count == 0 || p.count > 64 {
        errors.push(r.at_key(
            "count",
            format!("`producers.count` is {}, expected 1..=64", p.count),
        ));
        return false;
    }
    for o in &p.overrides {
        if o.get_ref().index >= p.count {
            errors.push(r.at(
                o,
                format!(
                    "`producers.override.index` = {} but there are only {} producers",
                    o.get_ref().index,
                    p.count
                ),
            ));
        }
    }
    // One report per distinct mistake: producers sharing a setting share it.
    let mut seen = std::collections::BTreeSet::new();
    for i in 0..p.count {
        let lc = p.settings(i).lifecycle();
        if lc.send_tasks == 0 || lc.send_tasks > 16 {
            errors.push(r.at_key(
                "send_tasks",
                format!(
                    "producer {i}: `send_tasks` is {}, expected 1..=16",
                    lc.send_tasks
                ),
            ));
        }
        if lc.sends_after_close > records {
            errors.push(r.at_key(
                "sends_after_close",
                format!(
                    "producer {i}: `sends_after_close` is {}, but each producer has only {records} records",
                    lc.sends_after_close
                ),
            ));
        }
        if let Some(c) = &p.settings(i).compression {
            if let Err(why) = producer_core::compression::Compression::parse(c) {
                if seen.insert(("compression", why.clone())) {
                    errors.push(r.at_key(
                        "compression",
                        format!("producer {i}: `compression` = {c:?}: {why}"),
                    ));
                }
            }
        }
        let config = p.settings(i).to_config(i, 0, vec!["broker-0:9092".into()]);
        if let Err(e) = config.validate().map_err(|e| (e.field, e.message)) {
            if !seen.insert(e.clone()) {
                continue;
            }
            let e = producer_core::ConfigError {
                field: e.0,
                message: e.1,
            };
            errors.push(r.at_key(
                e.field,
                format!("producer {i}: `{}` {}", e.field, e.message),
            ));
        }
    }
    true
}

/// The expect section: allowed and required kinds, mechanism bounds.
fn expect(
    e: &ExpectFile,
    r: &Reporter<'_>,
    errors: &mut Vec<ScenarioError>,
) -> (Vec<Kind>, Vec<Kind>, MechanismExpect) {
    let mut kinds = |list: &[Spanned<String>]| -> Vec<Kind> {
        list.iter()
            .filter_map(|s| {
                let kind = Kind::parse(s.get_ref());
                if kind.is_none() {
                    errors.push(r.at(
                        s,
                        format!(
                            "unknown violation kind `{}`; expected one of {}",
                            s.get_ref(),
                            Kind::NAMES.join(", ")
                        ),
                    ));
                }
                kind
            })
            .collect()
    };
    let allowed = kinds(&e.allow);
    let required = kinds(&e.require);
    let mut mechanisms = MechanismExpect {
        faults_healed: e.faults_healed,
        ..MechanismExpect::default()
    };
    for (key, count) in e.counts() {
        if let Some(c) = count {
            match Bound::parse(c.get_ref()) {
                Ok(bound) => mechanisms.counts.push((key, bound)),
                Err(m) => errors.push(r.at(c, format!("`expect.{}`: {m}", key.key()))),
            }
        }
    }
    (allowed, required, mechanisms)
}
