//! `[[faults]]` entries (see [`super::file`]) checked against the cluster and
//! turned into a [`Fault`] schedule.

use super::file::{Ctx, ErrorFile, FaultFile, WhenFile};
use super::kinds::{fault_kind, fault_kind_names};
use super::{Fault, Target, Trigger, TriggerApi};
use crate::cluster::ClusterSpec;
use crate::scenario::{Reporter, ScenarioError};
use std::time::Duration;
use toml::Spanned;

/// The trigger a `when` table describes.
fn trigger(w: &WhenFile, ctx: &Ctx) -> Result<Trigger, String> {
    let api = match w.after.as_deref().unwrap_or("produce") {
        "produce" => TriggerApi::Produce,
        "metadata" => TriggerApi::Metadata,
        "init_producer_id" => TriggerApi::InitProducerId,
        other => {
            return Err(format!(
                "`when.after` = \"{other}\": expected produce, metadata or init_producer_id"
            ))
        }
    };
    let partition = w
        .partition
        .as_deref()
        .map(|p| ctx.partition(p))
        .transpose()?;
    if partition.is_some() && api != TriggerApi::Produce {
        return Err("`when.partition` counts produce requests only".into());
    }
    if w.sequence.is_some() && partition.is_none() {
        return Err("`when.sequence` needs `when.partition`".into());
    }
    let broker = match w.broker.as_deref().map(|b| ctx.target(b)).transpose()? {
        None => None,
        Some(Target::Broker(b)) => Some(b as i32),
        Some(t) => return Err(format!("`when.broker` = `{t}`: expected broker-N")),
    };
    if let Some(p) = w.producer {
        if p >= ctx.producers {
            return Err(format!(
                "`when.producer` = {p}: producers are 0..{}",
                ctx.producers
            ));
        }
    }
    Ok(Trigger {
        api,
        count: w.count.unwrap_or(1).max(1),
        producer: w.producer,
        partition,
        broker,
        sequence: w.sequence,
    })
}

fn resolve_one(f: &FaultFile, ctx: &Ctx) -> Result<Fault, String> {
    if f.at_ms.is_none() && f.when.is_none() {
        return Err(
            "needs `at_ms` (when it fires) or `when` (the protocol event that fires it)".into(),
        );
    }
    let at = Duration::from_millis(f.at_ms.unwrap_or(0));
    let when = f.when.as_ref().map(|w| trigger(w, ctx)).transpose()?;
    // An injected crash after append takes `heal_after_ms` as its restart delay.
    let restart_delay = f.action == "inject"
        && matches!(&f.error, Some(ErrorFile::Name(n)) if n == "crash_after_append");
    let heal = f
        .heal_after_ms
        .filter(|_| !restart_delay)
        .map(|h| at + Duration::from_millis(h));
    let kind = fault_kind(&f.action).ok_or_else(|| {
        format!(
            "unknown fault action `{}`; expected {}",
            f.action,
            fault_kind_names()
        )
    })?;
    let action = (kind.parse)(f, ctx)?;
    if heal.is_some() && !kind.heals {
        return Err(format!(
            "`heal_after_ms` does not apply to `{}`: it has nothing to undo",
            f.action
        ));
    }
    Ok(Fault {
        at,
        action,
        heal_at: heal,
        when,
    })
}

/// Resolves every `[[faults]]` entry, checking targets and times; every bad
/// entry adds its error to `errors` and is left out.
pub fn resolve_all(
    faults: &[Spanned<FaultFile>],
    cluster: &ClusterSpec,
    producers: u32,
    duration: Duration,
    r: &Reporter<'_>,
    errors: &mut Vec<ScenarioError>,
) -> Vec<Fault> {
    let ctx = Ctx { cluster, producers };
    let mut out = Vec::new();
    for (i, f) in faults.iter().enumerate() {
        let ff = f.get_ref();
        let fault = match resolve_one(ff, &ctx) {
            Ok(fault) => fault,
            Err(m) => {
                errors.push(r.at(f, format!("fault #{} (`{}`): {m}", i + 1, ff.action)));
                continue;
            }
        };
        if fault.when.is_none() && fault.last_change() >= duration {
            errors.push(r.at(
                f,
                format!(
                    "fault #{} (`{}`) {} at {} ms, after the end of the run ({} ms): raise `duration_s` or move the fault",
                    i + 1,
                    ff.action,
                    if fault.heal_at.is_some() { "heals" } else { "fires" },
                    fault.last_change().as_millis(),
                    duration.as_millis()
                ),
            ));
            continue;
        }
        out.push(fault);
    }
    out.sort_by_key(|f| f.at);
    out
}
