//! The status page in a real headless browser (Debian's `chromium`): the real daemon on the
//! nas-smr-pool fixture root with replayed smartctl/zpool, `/` loaded with its scripts run
//! (`--dump-dom` after a virtual time budget), and the numbers a person sees (wall watts, a
//! disk's power mode, a pool's capacity) compared with `/metrics`. Screenshots at desktop and
//! phone width go to `target/browser/` (docs/screenshot.png is one of them).
//!
//! Then the history survives a restart: the buckets served before it are served after it.
//!
//! Without chromium the browser part prints a SKIPPED line (and fails under
//! HOSTWATT_REQUIRE_TOOLS=1); the no-JS page, the API and the restart are checked either way.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use crate::support::{self, Case, Daemon};

const DISK: &str = "ST4000DM004-2CV104_ZFN0ABCD";
const POOL: &str = "tank";

/// Runs chromium headless on `url` with `args`, bounded: a browser that hangs is killed.
fn chromium(bin: &Path, profile: &Path, args: &[&str], url: &str) -> String {
    let mut child = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let mut stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            assert!(status.success(), "chromium {args:?} failed: {status}");
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium {args:?} did not finish in 120 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    reader.join().expect("stdout reader")
}

/// The text after `after` (searched from `anchor`) up to the next `until`.
fn text_after<'a>(dom: &'a str, anchor: &str, after: &str, until: char) -> Option<&'a str> {
    let from = dom.find(anchor)?;
    let rest = &dom[from..];
    let start = rest.find(after)? + after.len();
    let len = rest[start..].find(until)?;
    Some(&rest[start..start + len])
}

/// What a person reads on the page: wall watts, the disk's power mode, the pool's capacity.
fn seen(dom: &str) -> (String, String, String) {
    let watts = text_after(dom, "id=\"wall-watts\"", ">", '<').expect("wall watts on the page");
    let mode = text_after(dom, &format!("data-disk=\"{DISK}\""), "class=\"pm ", '"')
        .expect("the disk's power mode on the page");
    let cap = text_after(dom, &format!("data-pool=\"{POOL}\""), "class=\"cap\">", '<')
        .expect("the pool's capacity on the page");
    (watts.to_owned(), mode.to_owned(), cap.to_owned())
}

/// The same three from `/metrics`, formatted as the page formats them.
fn expected(metrics: &str) -> Option<(String, String, String)> {
    let watts = metrics
        .lines()
        .find(|l| l.starts_with("hostwatt_wall_best_power_watts{"))?
        .rsplit_once(' ')?
        .1
        .parse::<f64>()
        .ok()?;
    let mode = ["active", "idle", "standby", "unknown"]
        .into_iter()
        .find(|s| {
            support::value(
                metrics,
                &format!("hostwatt_smart_power_mode{{disk=\"{DISK}\",state=\"{s}\"}}"),
            ) == Some(1.0)
        })?;
    let cap = support::value(
        metrics,
        &format!("hostwatt_zfs_pool_capacity_ratio{{pool=\"{POOL}\"}}"),
    )?;
    Some((
        format!("{watts:.1}"),
        mode.to_owned(),
        format!("{:.0} %", cap * 100.0),
    ))
}

fn metrics(addr: &str) -> String {
    support::http_get(addr, "/metrics")
        .expect("GET /metrics")
        .body
}

fn artifacts() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| support::manifest_dir().join("target"));
    let dir = target.join("browser");
    std::fs::create_dir_all(&dir).expect("artifact dir");
    dir
}

/// The daemon on `root` with the case's config and replayed commands.
fn start(case: &Case, root: &Path, state: &Path) -> (Daemon, String, Receiver<String>) {
    let commands = case.dir.join("commands.toml");
    let shared = support::shared_dir();
    Daemon::start_with(
        root,
        &case.dir.join("config.toml"),
        state,
        &[
            OsStr::new("--replay-commands"),
            commands.as_os_str(),
            OsStr::new("--shared-fixtures"),
            shared.as_os_str(),
        ],
    )
}

#[test]
fn page_shows_the_numbers_of_metrics_in_a_real_browser() {
    let case = Case::load("nas-smr-pool");
    let root = case.build_root();
    let state = tempfile::tempdir().expect("state dir");
    let profile = tempfile::tempdir().expect("chromium profile");
    let (mut daemon, addr, lines) = start(&case, root.path(), state.path());
    // the wall estimate includes the disks once SMART has answered and wall has run again
    support::poll_until("disks in the wall breakdown and a pool", 1200, || {
        let m = metrics(&addr);
        (m.contains("hostwatt_wall_component_watts{component=\"disk:") && expected(&m).is_some())
            .then_some(())
    });
    // the hour view: its 10 s buckets fill within seconds (a day's are 1 min)
    let url = format!("http://{addr}/#hour");

    // without scripts: the server-rendered page already shows the numbers
    let (plain, want_plain) = loop {
        let before = expected(&metrics(&addr));
        let page = support::http_get(&addr, "/").expect("GET /");
        assert_eq!(page.status, 200);
        if before == expected(&metrics(&addr)) {
            break (seen(&page.body), before.expect("metrics"));
        }
    };
    assert_eq!(plain, want_plain, "curl / shows what /metrics says");

    // the API the page polls: the tier is picked from the range, bad ranges are refused
    let h = support::http_get(
        &addr,
        "/api/v1/history?series=pool_capacity_ratio:tank&range=hour",
    )
    .expect("GET /api/v1/history");
    assert_eq!(h.status, 200, "{}", h.body);
    let body: serde_json::Value = serde_json::from_str(&h.body).expect("JSON");
    assert_eq!(body["series"][0]["step_seconds"], 10);
    let last = body["series"][0]["points"]
        .as_array()
        .and_then(|p| p.last())
        .expect("a point");
    assert_eq!(last[2], 0.81, "the last bucket's mean is tank's capacity");
    let bad =
        support::http_get(&addr, "/api/v1/history?series=wall_watts&range=decade").expect("GET");
    assert_eq!(bad.status, 400);
    let pools: serde_json::Value = serde_json::from_str(
        &support::http_get(&addr, "/api/v1/pools")
            .expect("GET /api/v1/pools")
            .body,
    )
    .expect("JSON");
    let tank = pools
        .as_array()
        .and_then(|p| p.iter().find(|p| p["name"] == POOL))
        .expect("tank");
    assert_eq!(tank["capacity_ratio"], 0.81);

    if let Some(bin) = support::require_tool("chromium", "the status page browser test") {
        // a chart needs two buckets (with one it says "No data yet" instead)
        support::poll_until("two 10 s buckets of wall power", 1200, || {
            let r =
                support::http_get(&addr, "/api/v1/history?series=wall_watts&range=hour").ok()?;
            let v: serde_json::Value = serde_json::from_str(&r.body).ok()?;
            (v["series"][0]["points"].as_array()?.len() >= 2).then_some(())
        });
        // in the browser, after page.js has run against /api/v1
        let mut tries = 0;
        let (dom, shown, want) = loop {
            tries += 1;
            let before = expected(&metrics(&addr));
            let dom = chromium(&bin, profile.path(), &["--dump-dom"], &url);
            let after = expected(&metrics(&addr));
            if before == after || tries == 5 {
                let shown = seen(&dom);
                break (dom, shown, after.expect("metrics"));
            }
        };
        assert_eq!(shown, want, "the page shows what /metrics says");
        // the replayed disk answers every query (active in a round that asked it, idle in
        // one that did not, as the query and collection intervals fall): never asleep or unknown
        assert!(
            matches!(want.1.as_str(), "active" | "idle"),
            "the replayed disk answered: {}",
            want.1
        );
        assert_eq!(
            want.2, "81 %",
            "tank is 81 % full in the replayed zpool list"
        );
        // the chart library loaded from the daemon (no network) and drew the watts chart
        assert!(
            dom.contains("class=\"uplot"),
            "uPlot did not draw: {}",
            &dom[..dom.len().min(2000)]
        );

        // screenshots, desktop and phone width, as artifacts
        let out = artifacts();
        for (name, size) in [("desktop.png", "1280,1700"), ("phone.png", "390,2600")] {
            let file = out.join(name);
            let _ = std::fs::remove_file(&file);
            chromium(
                &bin,
                profile.path(),
                &[
                    &format!("--screenshot={}", file.display()),
                    &format!("--window-size={size}"),
                ],
                &url,
            );
            let png = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{name} is a PNG");
            eprintln!("screenshot: {}", file.display());
        }
    }
    let wall_history = |addr: &str| -> Vec<serde_json::Value> {
        let r = support::http_get(addr, "/api/v1/history?series=wall_watts&range=hour")
            .expect("GET /api/v1/history");
        let v: serde_json::Value = serde_json::from_str(&r.body).expect("JSON");
        v["series"][0]["points"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    support::poll_until("three 10 s buckets of wall power", 1200, || {
        (wall_history(&addr).len() >= 3).then_some(())
    });
    let before = wall_history(&addr);
    assert!(daemon.stop().success());
    for l in lines.try_iter() {
        if l.contains("history") || l.contains("WARN") && !l.contains("item failed") {
            eprintln!("LOG {l}");
        }
    }
    // the shutdown flush wrote the history store; a new daemon serves it
    assert!(state.path().join("history.sqlite").is_file());
    let (mut again, addr, _lines) = start(&case, root.path(), state.path());
    // the same buckets, in thousandths (the store's resolution)
    let milli = |p: &[serde_json::Value]| -> Vec<Vec<i64>> {
        p.iter()
            .map(|x| {
                (0..4)
                    .map(|i| (x[i].as_f64().expect("number") * 1000.0).round() as i64)
                    .collect()
            })
            .collect()
    };
    // the last bucket may still take samples (from either daemon): compare the complete ones
    let done = &before[..before.len() - 1];
    let after = wall_history(&addr);
    assert!(after.len() >= before.len(), "{after:?}");
    assert_eq!(
        milli(&after[..done.len()]),
        milli(done),
        "the buckets from before the restart are served after it"
    );
    assert!(again.stop().success());
}

/// The daemon on the advisor-untuned case, with `extra` appended to its config.
fn start_untuned(extra: &str) -> (Case, tempfile::TempDir, tempfile::TempDir, Daemon, String) {
    let case = Case::load("advisor-untuned");
    let root = case.build_root();
    let state = tempfile::tempdir().expect("state dir");
    let config = state.path().join("config.toml");
    let base = std::fs::read_to_string(case.dir.join("config.toml")).expect("case config");
    std::fs::write(&config, format!("{base}\n{extra}")).expect("config");
    // no recordings: nothing really runs (the case reads sysfs only)
    let commands = state.path().join("commands.toml");
    std::fs::write(&commands, "").expect("empty replay");
    let (daemon, addr, _lines) = Daemon::start_with(
        root.path(),
        &config,
        state.path(),
        &[OsStr::new("--replay-commands"), commands.as_os_str()],
    );
    (case, root, state, daemon, addr)
}

/// With history off the charts say so instead of drawing empty frames.
#[test]
fn page_says_history_is_off_instead_of_empty_charts() {
    let (_case, _root, _state, mut daemon, addr) = start_untuned("[history]\nenabled = false\n");
    if let Some(bin) = support::require_tool("chromium", "the status page browser test") {
        let profile = tempfile::tempdir().expect("chromium profile");
        let dom = chromium(
            &bin,
            profile.path(),
            &["--dump-dom"],
            &format!("http://{addr}/"),
        );
        let chart = text_after(&dom, "id=\"chart-watts\"", "class=\"muted nodata\">", '<');
        assert_eq!(
            chart,
            Some("History is off ([history] enabled = false): no charts."),
            "{dom}"
        );
    }
    assert!(daemon.stop().success());
}

/// The advisor's findings on the page, in the browser, carry the watts `/metrics` exports.
#[test]
fn page_shows_the_advisor_findings_with_the_watts_of_metrics() {
    let (_case, _root, _state, mut daemon, addr) = start_untuned("");
    let profile = tempfile::tempdir().expect("chromium profile");
    const ID: &str = "disk-never-idle";
    let series = format!("hostwatt_advisor_finding_potential_watts{{id=\"{ID}\"}}");
    let want = || support::value(&metrics(&addr), &series);
    support::poll_until("the advisor's first round", 1200, want);
    let shown = |dom: &str| -> String {
        let w = text_after(
            dom,
            &format!("data-finding=\"{ID}\""),
            "class=\"watts\">",
            '<',
        )
        .unwrap_or_else(|| panic!("{ID} on the page: {dom}"));
        // the upper end of `low–high`
        w.rsplit('–').next().expect("a figure").to_owned()
    };
    // the figure depends on the idle watts the first round saw; compare with /metrics read on
    // both sides of the page, the same figure (the next round is 5 min away)
    let (plain, before) = loop {
        let before = want();
        let page = support::http_get(&addr, "/").expect("GET /").body;
        if before == want() {
            break (page, before.expect("a figure"));
        }
    };
    assert!(
        (6.0..=12.11).contains(&before),
        "the case's never-idle disks: {before}"
    );
    assert_eq!(
        shown(&plain),
        format!("{before:.1}"),
        "curl / shows /metrics"
    );
    if let Some(bin) = support::require_tool("chromium", "the status page browser test") {
        let url = format!("http://{addr}/");
        let dom = chromium(&bin, profile.path(), &["--dump-dom"], &url);
        let after = want().expect("a figure");
        assert_eq!(
            shown(&dom),
            format!("{after:.1}"),
            "the browser shows /metrics"
        );
        let file = artifacts().join("advice.png");
        chromium(
            &bin,
            profile.path(),
            &[
                &format!("--screenshot={}", file.display()),
                "--window-size=1280,2400",
            ],
            &url,
        );
    }
    assert!(daemon.stop().success());
}
