//! # sim
//!
//! The simulated world for prodsim: Kafka brokers as turmoil hosts
//! ([`broker`], [`cluster`]), the producer's network over turmoil ([`net`]),
//! faults ([`faults`]), the run history ([`history`]), its specified hash
//! ([`trace_hash`]) and the checker that
//! judges it ([`checker`]). [`world::run`] plays one (scenario, seed).
//! [`serve`] puts the same brokers on real TCP, and [`outcomes`] turns what a
//! real client reported into a history the same checker judges.

pub mod broker;
pub mod checker;
mod client;
pub mod cluster;
pub mod codec;
pub mod explore;
pub mod faults;
pub mod frames;
pub mod fuzz;
pub mod guided;
pub mod history;
pub mod log_validator;
pub mod mechanisms;
pub mod net;
pub mod outcomes;
pub mod producer_state;
pub mod report;
pub mod scenario;
pub mod serve;
pub mod shrink;
pub mod sizes;
pub mod strategies;
pub mod trace;
pub mod trace_hash;
pub mod validate;
pub mod workload;
pub mod world;

pub use scenario::{Scenario, ScenarioError};
pub use world::{run, run_with, RunOptions, RunReport};
