//! How the client matrix's programs are started: one command builder per
//! language, shared by `clients_to_serve.rs` (against `sim serve`) and
//! `clients_to_kafka.rs` (against a real Kafka), so both run the same program
//! with the same arguments.

use super::serve::root;
use std::path::PathBuf;
use std::process::Command;

/// `interop/clients/<name>`.
pub fn client_dir(name: &str) -> PathBuf {
    root().join("interop/clients").join(name)
}

/// A Python client's `produce_consume.py` (`script` names its folder).
pub fn python(script: &str, bootstrap: &str, args: &[&str]) -> Command {
    let mut c = Command::new("python3");
    c.arg(client_dir(script).join("produce_consume.py"))
        .args(["--bootstrap", bootstrap])
        .args(args);
    c
}

/// A Go client's binary, built from `interop/go` (see `go.rs`).
pub fn go(name: &str, bootstrap: &str, args: &[&str]) -> Command {
    let mut c = Command::new(super::go::binary(name));
    c.args(["--bootstrap", bootstrap]).args(args);
    c
}

/// kafkajs's `produce_consume.js`; says how to install it when it is missing.
pub fn kafkajs(bootstrap: &str, args: &[&str]) -> Command {
    let dir = client_dir("kafkajs");
    assert!(
        dir.join("node_modules/kafkajs").exists(),
        "kafkajs is not installed: run `npm ci --prefix {}`",
        dir.display()
    );
    let mut c = Command::new("node");
    c.arg(dir.join("produce_consume.js"))
        .args(["--bootstrap", bootstrap])
        .args(args);
    c
}
