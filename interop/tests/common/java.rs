//! The Java client's produce-then-consume check (`interop/clients/java/`,
//! kafka-clients pinned in its pom.xml), built once per test process with
//! Maven into one runnable jar.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

fn project() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("clients/java")
}

/// `java -jar produce-consume.jar --bootstrap BOOTSTRAP`, the jar built first.
pub fn check(bootstrap: &str) -> Command {
    static JAR: OnceLock<PathBuf> = OnceLock::new();
    let jar = JAR.get_or_init(|| {
        let out = Command::new("mvn")
            .args(["-q", "-B", "-f"])
            .arg(project().join("pom.xml"))
            .arg("package")
            .output()
            .unwrap_or_else(|e| panic!("running mvn: {e} (are Java 17+ and Maven installed?)"));
        assert!(
            out.status.success(),
            "building interop/clients/java failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        project().join("target/produce-consume.jar")
    });
    let mut c = Command::new("java");
    c.arg("-jar").arg(jar).args(["--bootstrap", bootstrap]);
    c
}
