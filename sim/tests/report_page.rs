//! `sim explore --guided` prints the one command that replays each failure
//! (writing the scenario file of a mutated schedule), and `sim explore --html`
//! writes a self-contained page that a real browser (Debian's headless
//! `chromium`) loads without console messages, its chart holding one point per
//! run of both searches. Without chromium the browser half says so and skips.

mod support;

use std::path::PathBuf;
use std::process::Command;
use support::cli::sim;

const BROKEN: &str = "sim/tests/data/all-acked-short-timeout.toml";

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("prodsim-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn a_guided_failure_prints_the_command_that_replays_it() {
    let dir = temp_dir("guided-cli");
    // A save directory that does not exist yet is made.
    let save = dir.join("not-yet/made");
    let (code, out, err) = sim(&[
        "explore",
        BROKEN,
        "--guided",
        "--seeds",
        "200",
        "--quiet",
        "--save-dir",
        save.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "a failure exits 1\n{out}{err}");
    let replay = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("replay: "))
        .unwrap_or_else(|| panic!("no replay command\n{out}"));
    // `cargo run --release -p sim -- replay FILE --seed N`: run it with this binary.
    let args: Vec<&str> = replay
        .split_once(" -- ")
        .expect("a cargo run command")
        .1
        .split(' ')
        .collect();
    assert!(args[0] == "replay" || args[0] == "run", "{replay}");
    if args[1].ends_with(".toml") && !args[1].starts_with("sim/") {
        assert!(args[1].starts_with(save.to_str().unwrap()), "{replay}");
    }
    let (code, again, err) = sim(&args);
    assert_eq!(code, 1, "the replay fails too\n{again}{err}");
    assert!(again.contains("[not_acked]"), "{again}");
    assert!(again.contains("verdict: FAIL"), "{again}");
    std::fs::remove_dir_all(&dir).ok();
}

fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser"].iter().find_map(|name| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(name))
                .find(|p| p.is_file())
        })
    })
}

#[test]
fn the_html_report_loads_in_a_browser_with_every_point_of_both_searches() {
    let dir = temp_dir("html");
    let page = dir.join("report.html");
    let (code, out, err) = sim(&[
        "explore",
        BROKEN,
        "--html",
        page.to_str().unwrap(),
        "--seeds",
        "100",
        "--quiet",
        "--save-dir",
        dir.to_str().unwrap(),
    ]);
    assert!(code == 0 || code == 1, "{out}{err}");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        !html.contains("src=\"http") && !html.contains("href=\"http"),
        "no network"
    );
    assert!(
        !html.contains("<script src") && !html.contains("<link"),
        "self-contained"
    );
    let points = html.matches("<circle class=\"point\"").count();
    let runs: usize = out
        .lines()
        .filter(|l| l.contains(" search (seed "))
        .map(|l| {
            l.split(": ")
                .nth(1)
                .unwrap()
                .split(' ')
                .next()
                .unwrap()
                .parse::<usize>()
                .unwrap()
        })
        .sum();
    assert!(runs > 100, "both searches ran\n{out}");
    assert_eq!(points, runs, "one point per run");
    for mode in ["random", "guided"] {
        assert!(
            html.contains(&format!("data-mode=\"{mode}\"")),
            "{mode} series"
        );
    }
    let Some(chromium) = chromium() else {
        eprintln!(
            "SKIPPED the browser check: chromium is not installed (apt-get install chromium)"
        );
        return;
    };
    let browser = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
        ])
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs");
    let dom = String::from_utf8_lossy(&browser.stdout);
    let log = String::from_utf8_lossy(&browser.stderr);
    let console: Vec<&str> = log.lines().filter(|l| l.contains(":CONSOLE")).collect();
    assert!(console.is_empty(), "console messages: {console:?}");
    // The page's script counted the chart's points in the browser.
    assert!(
        dom.contains(&format!("data-rendered-points=\"{points}\"")),
        "the script did not see {points} points:\n{}",
        dom.lines().find(|l| l.contains("<body")).unwrap_or("")
    );
    assert!(
        dom.contains(&format!("{points} points: random")),
        "chart status"
    );
    std::fs::remove_dir_all(&dir).ok();
}
