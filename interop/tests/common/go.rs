//! prodsim's Go peers (`interop/go/`: Sarama 1.61.1 and 1.22.1, franz-go,
//! kfake), built in module mode from the pinned `go.mod`/`go.sum` by
//! `interop/go/build.sh --race` into the test target dir: once, and again only
//! when a Go source or module file is newer than the binaries. Needs Go 1.26+
//! and the Go module proxy (or a module cache that holds the modules).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::SystemTime;

fn source() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("go")
}

fn out_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("go-bin")
}

/// The newest modification time under `dir` of Go sources and module files.
fn newest_source(dir: &Path) -> SystemTime {
    let mut newest = SystemTime::UNIX_EPOCH;
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        let modified = if path.is_dir() {
            newest_source(&path)
        } else if path
            .extension()
            .is_some_and(|e| e == "go" || e == "mod" || e == "sum" || e == "sh")
        {
            entry
                .metadata()
                .and_then(|m| m.modified())
                .unwrap_or(newest)
        } else {
            continue;
        };
        newest = newest.max(modified);
    }
    newest
}

/// The path of Go peer `name` (see `interop/go/build.sh` for the names).
pub fn binary(name: &str) -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    let dir = BUILT.get_or_init(|| {
        let out = out_dir();
        let stamp = out.join(".built");
        let fresh = std::fs::metadata(&stamp)
            .and_then(|m| m.modified())
            .is_ok_and(|built| built > newest_source(&source()));
        if !fresh {
            let started = std::time::Instant::now();
            let result = Command::new("bash")
                .arg(source().join("build.sh"))
                .arg("--race")
                .arg(&out)
                // Its own build cache: no dependence on $HOME being writable.
                .env(
                    "GOCACHE",
                    Path::new(env!("CARGO_TARGET_TMPDIR")).join("go-cache"),
                )
                .output()
                .unwrap_or_else(|e| {
                    panic!("running interop/go/build.sh: {e} (is Go 1.26+ installed?)")
                });
            assert!(
                result.status.success(),
                "interop/go/build.sh failed (Go 1.26+ and the Go module proxy are needed):\n{}",
                String::from_utf8_lossy(&result.stderr)
            );
            std::fs::write(&stamp, b"").unwrap();
            println!("Go peers built in {:.1} s", started.elapsed().as_secs_f64());
        }
        out
    });
    dir.join(name)
}
