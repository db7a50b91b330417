//! `sim serve` as a user runs it: the `sim` binary (built once from the
//! workspace), on ephemeral ports, with an optional scenario file; stopped
//! with Ctrl-C (SIGINT) once the client is done, so the report it prints on
//! Ctrl-C is what is judged. The black-box verdict is read from `--json`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The workspace root (interop's parent).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The `sim` binary, built once per test process with `cargo build --release`;
/// its path as cargo reports it, so `CARGO_TARGET_DIR` and build settings are
/// honoured.
pub fn sim_binary() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let out = Command::new(cargo)
                .current_dir(root())
                .args(["build", "--release", "-q", "-p", "sim", "--bin", "sim"])
                .arg("--message-format=json-render-diagnostics")
                .stderr(Stdio::inherit())
                .output()
                .expect("running cargo build for the sim binary");
            assert!(out.status.success(), "building the sim binary failed");
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "sim")
                .find_map(|m| m["executable"].as_str().map(PathBuf::from))
                .expect("cargo named the sim executable")
        })
        .clone()
}

/// A running `sim serve`.
pub struct SimServe {
    /// `bootstrap.servers` as it printed it.
    pub bootstrap: String,
    child: Child,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
    json: PathBuf,
}

/// What `sim serve` said when it stopped.
#[derive(Debug)]
pub struct Served {
    /// Its exit code (0 PASS, 1 FAIL).
    pub exit: Option<i32>,
    /// Its `verdict:` line.
    pub verdict: String,
    /// The `--json` report.
    pub report: serde_json::Value,
    /// Everything it printed on stdout.
    pub stdout: String,
    /// Its progress lines (stderr).
    pub progress: Vec<String>,
}

impl Served {
    /// Violation kinds with their counts.
    pub fn violation_kinds(&self) -> Vec<(String, usize)> {
        let mut kinds: std::collections::BTreeMap<String, usize> = Default::default();
        for v in self.report["violations"].as_array().into_iter().flatten() {
            *kinds
                .entry(v["kind"].as_str().unwrap_or("?").to_string())
                .or_default() += 1;
        }
        kinds.into_iter().collect()
    }

    /// True when the verdict is PASS (exit code and report agree).
    pub fn passed(&self) -> bool {
        let pass = self.report["verdict"] == "PASS";
        assert_eq!(
            pass,
            self.exit == Some(0),
            "exit code and report disagree:\n{}",
            self.stdout
        );
        pass
    }

    /// Records appended, over every row of the report.
    pub fn records(&self) -> u64 {
        self.report["rows"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| r["records"].as_u64().unwrap_or(0))
            .sum()
    }
}

fn collect(from: impl std::io::Read + Send + 'static, into: Arc<Mutex<Vec<String>>>) {
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines().map_while(Result::ok) {
            into.lock().unwrap().push(line);
        }
    });
}

impl SimServe {
    /// Starts `sim serve [scenario] --port 0` with progress every second.
    pub fn start(scenario: Option<&Path>, name: &str) -> SimServe {
        let json = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}.json"));
        let _ = std::fs::remove_file(&json);
        let mut command = Command::new(sim_binary());
        command.arg("serve");
        if let Some(s) = scenario {
            command.arg(s);
        }
        let mut child = command
            .args(["--port", "0", "--progress-secs", "1", "--json"])
            .arg(&json)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting sim serve");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        collect(child.stdout.take().unwrap(), Arc::clone(&stdout));
        collect(child.stderr.take().unwrap(), Arc::clone(&stderr));
        let started = Instant::now();
        let bootstrap = loop {
            let found = stdout
                .lock()
                .unwrap()
                .iter()
                .find_map(|l| l.split("bootstrap.servers = ").nth(1).map(str::to_string));
            if let Some(b) = found {
                break b;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("sim serve exited ({status}): {:?}", stderr.lock().unwrap());
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "sim serve never listened"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        SimServe {
            bootstrap,
            child,
            stdout,
            stderr,
            json,
        }
    }

    /// Stops it with Ctrl-C (SIGINT) and reads its report.
    pub fn stop(mut self) -> Served {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-INT", &pid]).status();
        assert!(sent.is_ok_and(|s| s.success()), "kill -INT {pid} failed");
        let started = Instant::now();
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if started.elapsed() > Duration::from_secs(30) {
                let _ = self.child.kill();
                panic!("sim serve did not stop within 30 s of Ctrl-C");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        std::thread::sleep(Duration::from_millis(100)); // the readers drain the pipes
        let stdout = self.stdout.lock().unwrap().join("\n");
        let verdict = stdout
            .lines()
            .find(|l| l.starts_with("verdict:"))
            .unwrap_or_else(|| panic!("no verdict line after Ctrl-C:\n{stdout}"))
            .to_string();
        let text = std::fs::read_to_string(&self.json)
            .unwrap_or_else(|e| panic!("reading {}: {e}\n{stdout}", self.json.display()));
        Served {
            exit: status.code(),
            verdict,
            report: serde_json::from_str(&text).expect("the report is JSON"),
            stdout,
            progress: self.stderr.lock().unwrap().clone(),
        }
    }
}

impl Drop for SimServe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
