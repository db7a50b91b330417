//! Sarama's mock broker (Go, `github.com/Shopify/sarama`) as a second,
//! independent judge of produce requests: it decodes every request completely,
//! RecordBatch CRC-32C included. Built from `interop/sarama-mock-broker/` with
//! Debian's Go toolchain and Sarama package (`.ci/run` installs both).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// Where Debian's `golang-*-dev` packages put their Go sources.
const DEBIAN_GOPATH: &str = "/usr/share/gocode";

/// A running `sarama-mock-broker` process.
pub struct SaramaBroker {
    /// Its `host:port`, usable as bootstrap address.
    pub bootstrap: String,
    child: Child,
    stdin: Option<ChildStdin>,
    rejections: Arc<Mutex<Vec<String>>>,
}

impl SaramaBroker {
    /// Builds (once per target dir) and starts a broker leading every
    /// partition of `topic`.
    pub fn start(topic: &str, partitions: u32) -> SaramaBroker {
        let binary = build();
        let mut child = Command::new(&binary)
            .args([topic, &partitions.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));
        let stdin = child.stdin.take();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines
            .next()
            .expect("sarama-mock-broker exited before it listened")
            .unwrap();
        let bootstrap = first
            .strip_prefix("LISTENING ")
            .unwrap_or_else(|| panic!("unexpected first line from sarama-mock-broker: {first}"))
            .to_string();
        let rejections = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&rejections);
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if let Some(reason) = line.strip_prefix("REJECTED: ") {
                    sink.lock().unwrap().push(reason.to_string());
                }
            }
        });
        SaramaBroker {
            bootstrap,
            child,
            stdin,
            rejections,
        }
    }

    /// Why the broker refused requests so far, one reason per request.
    pub fn rejections(&self) -> Vec<String> {
        self.rejections.lock().unwrap().clone()
    }

    /// The rejections once there are at least `count` of them, or whatever
    /// there is after a second (the broker reports before it hangs up, but its
    /// output is read on another thread).
    pub fn wait_for_rejections(&self, count: usize) -> Vec<String> {
        for _ in 0..50 {
            let seen = self.rejections();
            if seen.len() >= count {
                return seen;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.rejections()
    }
}

impl Drop for SaramaBroker {
    fn drop(&mut self) {
        drop(self.stdin.take()); // EOF on stdin: the broker closes and exits
        let _ = self.child.wait();
    }
}

/// `go build`s the broker into the test target dir (once per process) and
/// returns its path.
fn build() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(go_build).clone()
}

fn go_build() -> PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("sarama-mock-broker");
    let binary = Path::new(env!("CARGO_TARGET_TMPDIR")).join("sarama-mock-broker");
    let sarama = Path::new(DEBIAN_GOPATH).join("src/github.com/Shopify/sarama");
    assert!(
        sarama.is_dir(),
        "{} is missing: install Go and Sarama with \
         `apt-get install golang-go golang-github-shopify-sarama-dev` (.ci/run does)",
        sarama.display()
    );
    let out = Command::new("go")
        .args(["build", "-o"])
        .arg(&binary)
        .arg(".")
        .current_dir(&source)
        .env("GO111MODULE", "off")
        .env("GOPATH", DEBIAN_GOPATH)
        // Its own build cache: no dependence on $HOME being set or writable.
        .env(
            "GOCACHE",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("go-cache"),
        )
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "running `go build` in {}: {e} (is golang-go installed?)",
                source.display()
            )
        });
    assert!(
        out.status.success(),
        "`go build` of {} failed:\n{}",
        source.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    binary
}
