//! Shared pieces of the end-to-end tests: golden cases (`tests/cases/<case>/`), building a fixture
//! root in a tempdir, the exposition lint, a readable line diff, external tools, the real binary
//! and a minimal HTTP/1.1 client.

use std::collections::BTreeSet;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use hostwatt::app::App;
use hostwatt::collectors::Context;
use hostwatt::config::{self, Config, Overrides};
use hostwatt::host::command::Runner;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tempfile::TempDir;

/// The sampling interval between a case's two rounds.
pub const INTERVAL: Duration = Duration::from_secs(15);

/// Families whose values depend on the wall clock or the build: asserted present, then left out of
/// the golden comparison.
pub const WALL_CLOCK: &[&str] = &[
    "hostwatt_collector_duration_seconds",
    "hostwatt_collector_last_success_timestamp_seconds",
    "hostwatt_build_info",
];

/// The crate directory.
pub fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `../shared/fixtures`. A missing fixture directory is a failure, not a skip.
pub fn shared_dir() -> PathBuf {
    let dir = manifest_dir().join("../shared/fixtures");
    assert!(
        dir.is_dir(),
        "missing shared fixtures at {} (is ../shared beside the checkout?)",
        dir.display()
    );
    dir
}

/// `tests/cases`.
pub fn cases_dir() -> PathBuf {
    manifest_dir().join("tests/cases")
}

/// Every folder under `tests/cases`, sorted.
pub fn case_names() -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(cases_dir())
        .expect("tests/cases")
        .map(|e| e.expect("tests/cases entry"))
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// `case.toml`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseFile {
    /// A tree under ../shared/fixtures copied into the root first.
    tree: Option<String>,
}

/// One golden case folder.
#[derive(Debug)]
pub struct Case {
    /// Folder name (`node-exporter`).
    pub name: String,
    /// `tests/cases/<name>`.
    pub dir: PathBuf,
    tree: Option<PathBuf>,
}

impl Case {
    /// Loads `tests/cases/<name>`; `_` in `name` stands for `-` (test names are identifiers).
    pub fn load(name: &str) -> Self {
        let name = name.replace('_', "-");
        let dir = cases_dir().join(&name);
        assert!(dir.is_dir(), "no case folder {}", dir.display());
        let case_toml = dir.join("case.toml");
        let file: CaseFile = match fs::read_to_string(&case_toml) {
            Ok(text) => {
                toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", case_toml.display()))
            }
            Err(_) => CaseFile::default(),
        };
        let tree = file.tree.map(|rel| {
            let path = shared_dir().join(&rel);
            assert!(
                path.is_dir(),
                "{}: tree {rel:?} is not under {}",
                case_toml.display(),
                shared_dir().display()
            );
            path
        });
        Self { name, dir, tree }
    }

    /// A tempdir holding the shared tree (if any) with `root/` on top.
    pub fn build_root(&self) -> TempDir {
        let tmp = tempfile::tempdir().expect("tempdir");
        if let Some(tree) = &self.tree {
            copy_tree(tree, tmp.path());
        }
        let overlay = self.dir.join("root");
        if overlay.is_dir() {
            copy_tree(&overlay, tmp.path());
        }
        tmp
    }

    /// Applies `rounds/<n>/` onto `root`, when the case has it.
    pub fn apply_round(&self, n: u32, root: &Path) {
        let overlay = self.dir.join(format!("rounds/{n}"));
        if overlay.is_dir() {
            copy_tree(&overlay, root);
        }
    }

    /// `config.toml`, resolved with the root overridden to `root`.
    pub fn config(&self, root: &Path) -> Config {
        let path = self.dir.join("config.toml");
        let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        // state (energy counters) lives inside the case's root, never in /var/lib/hostwatt
        let overrides = Overrides {
            root: Some(root.to_path_buf()),
            state_dir: Some(root.join("var/lib/hostwatt")),
            ..Default::default()
        };
        let cfg = config::resolve(&path.display().to_string(), &text, &overrides)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            !cfg.collectors.system.enabled,
            "{}: disable [collectors.system]: it reads the live host",
            path.display()
        );
        cfg
    }

    /// Replays `commands.toml`; without one, a replay with no recordings (nothing really runs).
    pub fn runner(&self) -> Runner {
        let path = self.dir.join("commands.toml");
        if path.exists() {
            Runner::load_replay(&path, Some(&shared_dir())).unwrap_or_else(|e| panic!("{e}"))
        } else {
            Runner::replay(Vec::new())
        }
    }

    /// Builds the root and runs both rounds: `t0`, then `rounds/1` and `t0 + INTERVAL`.
    pub async fn run(&self) -> (App, TempDir) {
        let root = self.build_root();
        let cfg = self.config(root.path());
        let cx = Context {
            root: cfg.root.clone(),
            runner: self.runner(),
        };
        let mut app = App::new(&cfg, cx).expect("registering collectors");
        let t0 = Instant::now();
        app.sample_all(t0).await;
        self.apply_round(1, root.path());
        app.sample_all(t0 + INTERVAL).await;
        (app, root)
    }
}

/// Copies `src` onto `dst` with `hostwatt::fixture::copy_tree`: real symlinks stay symlinks,
/// flattened ones (as in ../shared/fixtures) are restored, existing files are overwritten.
pub fn copy_tree(src: &Path, dst: &Path) {
    hostwatt::fixture::copy_tree(src, dst)
        .unwrap_or_else(|e| panic!("{} -> {}: {e}", src.display(), dst.display()));
}

/// The metric name of a sample line (`name{...} v` or `name v`).
fn sample_name(line: &str) -> &str {
    line.split(['{', ' ']).next().unwrap_or(line)
}

/// The family a line of the exposition belongs to: `# HELP name`, `# TYPE name` or a sample.
fn line_family(line: &str) -> &str {
    match line.strip_prefix("# ") {
        Some(rest) => rest.split(' ').nth(1).unwrap_or(""),
        None => sample_name(line),
    }
}

/// The exposition without the `WALL_CLOCK` families.
pub fn strip_wall_clock(text: &str) -> String {
    text.lines()
        .filter(|l| !WALL_CLOCK.contains(&line_family(l)))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// The value of the series written exactly as `series` (`name{a="b"}`), if present.
pub fn value(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        let (s, v) = l.rsplit_once(' ')?;
        (s == series).then(|| v.parse().expect("sample value"))
    })
}

/// Checks the exposition against the conventions: `hostwatt_` prefix, counters end `_total`,
/// HELP and TYPE on every family before its samples, no duplicate series, no NaN, and the root
/// path (when given: `None` for the live `/`) never leaks into a label.
pub fn lint(text: &str, root: Option<&Path>) {
    let mut problems = Vec::new();
    let mut helped = BTreeSet::new();
    let mut typed = BTreeSet::new();
    let mut series = BTreeSet::new();
    let mut leaks = Vec::new();
    if let Some(root) = root {
        leaks.push(root.display().to_string());
        if let Ok(canon) = root.canonicalize() {
            leaks.push(canon.display().to_string());
        }
        if let Some(base) = root.file_name() {
            leaks.push(base.to_string_lossy().into_owned());
        }
    }
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if let Some(leak) = leaks.iter().find(|p| line.contains(p.as_str())) {
            problems.push(format!("line {n}: contains the root path {leak}: {line}"));
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap_or("");
            if !helped.insert(name.to_owned()) {
                problems.push(format!("line {n}: second HELP for {name}"));
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split(' ');
            let name = parts.next().unwrap_or("");
            let kind = parts.next().unwrap_or("");
            if !helped.contains(name) {
                problems.push(format!("line {n}: TYPE before HELP for {name}"));
            }
            if kind == "counter" && !name.ends_with("_total") {
                problems.push(format!("line {n}: counter {name} does not end in _total"));
            }
            if !typed.insert(name.to_owned()) {
                problems.push(format!("line {n}: second TYPE for {name}"));
            }
            continue;
        }
        if line.is_empty() || line.starts_with('#') {
            problems.push(format!("line {n}: unexpected line {line:?}"));
            continue;
        }
        let name = sample_name(line);
        if !name.starts_with("hostwatt_") {
            problems.push(format!("line {n}: {name} lacks the hostwatt_ prefix"));
        }
        if !typed.contains(name) {
            problems.push(format!("line {n}: sample of {name} without HELP/TYPE"));
        }
        let (key, v) = line.rsplit_once(' ').unwrap_or((line, ""));
        if !series.insert(key.to_owned()) {
            problems.push(format!("line {n}: duplicate series {key}"));
        }
        match v.parse::<f64>() {
            Ok(x) if x.is_nan() => problems.push(format!("line {n}: NaN in {key}")),
            Ok(_) => {}
            Err(_) => problems.push(format!("line {n}: bad value {v:?}")),
        }
    }
    assert!(
        problems.is_empty(),
        "exposition lint:\n  {}\n--- exposition ---\n{text}",
        problems.join("\n  ")
    );
}

/// A line diff of `want` → `got` (`-` only in want, `+` only in got), with 3 lines of context
/// around each change.
pub fn diff(want: &str, got: &str) -> String {
    let a: Vec<&str> = want.lines().collect();
    let b: Vec<&str> = got.lines().collect();
    // longest common subsequence table, from the end
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut ops = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            ops.push((' ', a[i]));
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            ops.push(('-', a[i])); // removals before additions, as in `diff -u`
            i += 1;
        } else {
            ops.push(('+', b[j]));
            j += 1;
        }
    }
    let near_change = |k: usize| {
        let lo = k.saturating_sub(3);
        let hi = (k + 3).min(ops.len() - 1);
        ops[lo..=hi].iter().any(|(c, _)| *c != ' ')
    };
    let mut out = String::new();
    let mut skipped = false;
    for (k, (c, line)) in ops.iter().enumerate() {
        if near_change(k) {
            if skipped {
                out.push_str("   ...\n");
                skipped = false;
            }
            out.push_str(&format!("{c}  {line}\n"));
        } else {
            skipped = true;
        }
    }
    out
}

/// Whether `HOSTWATT_REQUIRE_TOOLS=1` (CI): a missing tool then fails instead of skipping.
pub fn tools_required() -> bool {
    std::env::var("HOSTWATT_REQUIRE_TOOLS").is_ok_and(|v| v == "1")
}

/// Records that the calling test did not run: prints `SKIPPED: {what}: {reason}` and appends it
/// to `$HOSTWATT_SKIP_LOG` (scripts/test prints that file in its summary). Under
/// `HOSTWATT_REQUIRE_TOOLS=1` it panics instead, with `fix` (what to do so the test runs).
pub fn skipped(what: &str, reason: &str, fix: &str) {
    assert!(
        !tools_required(),
        "{what} cannot run (HOSTWATT_REQUIRE_TOOLS=1): {reason}; {fix}"
    );
    let line = format!("{what}: {reason}");
    eprintln!("SKIPPED: {line}");
    if let Some(log) = std::env::var_os("HOSTWATT_SKIP_LOG") {
        use std::io::Write;
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(log)
        {
            let _ = writeln!(f, "{line}");
        }
    }
}

/// The path of `tool` on PATH. When missing, records why the calling test is skipped
/// ([`skipped`]) and returns `None`, or panics under `HOSTWATT_REQUIRE_TOOLS=1`.
pub fn require_tool(tool: &str, why: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|d| d.join(tool))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        skipped(
            why,
            &format!("{tool} not found on PATH"),
            "run scripts/install-test-deps (as root) to install it",
        );
    }
    found
}

/// Runs `promtool check metrics` on `text`: everything it prints (stdout and stderr), which
/// must be nothing for a clean exposition.
pub fn promtool_check(promtool: &Path, text: &str) -> (bool, String) {
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn promtool");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write to promtool");
    let out = child.wait_with_output().expect("promtool");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), printed)
}

/// The real `hostwatt` binary, with colours off so logs can be matched.
pub fn hostwatt() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hostwatt"));
    cmd.env("NO_COLOR", "1").current_dir(manifest_dir());
    cmd
}

/// Output of a finished run, as text.
pub fn texts(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Config lines turning off the collectors that read the live host (`system`, through sysinfo)
/// or run programs (`smart`, `zfs`), for a daemon that should see only its fixture root.
pub const FIXTURE_ONLY: &str = "
[collectors.system]
enabled = false
[collectors.smart]
enabled = false
[collectors.zfs]
enabled = false
";

/// A config with every collector off except `only`: built from the serialised default file, so
/// a collector added later is turned off here without editing this helper.
pub fn config_enabling_only(only: &[&str]) -> String {
    let default = toml::to_string(&hostwatt::config::file::File::default()).expect("toml");
    let mut section = String::new();
    let mut out = String::new();
    for line in default.lines() {
        if line.starts_with('[') {
            section = line.trim_matches(|c| c == '[' || c == ']').to_owned();
        }
        let keep_on = section
            .strip_prefix("collectors.")
            .is_some_and(|name| only.contains(&name));
        if line.trim() == "enabled = true" && !keep_on {
            out.push_str("enabled = false\n");
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// Whether this process runs as root (uid 0), from `/proc/self/status`.
pub fn is_root() -> bool {
    let status = fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        == Some("0")
}

/// An HTTP response.
#[derive(Debug)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: String,
}

impl Response {
    /// The first header called `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// `GET path` over a fresh HTTP/1.1 connection with `Connection: close`. Blocking, with a read
/// timeout so a hung server fails the test instead of hanging it.
pub fn http_get(addr: &str, path: &str) -> std::io::Result<Response> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    parse_response(&raw)
}

/// A raw HTTP/1.1 response, read to the end of the connection.
pub fn parse_response(raw: &[u8]) -> std::io::Result<Response> {
    let raw = String::from_utf8_lossy(raw).into_owned();
    let bad = |what: &str| std::io::Error::other(format!("{what}: {raw:?}"));
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .ok_or_else(|| bad("no header end"))?;
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("bad status line"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked {
        dechunk(body).ok_or_else(|| bad("bad chunked body"))?
    } else {
        body.to_owned()
    };
    Ok(Response {
        status,
        headers,
        body,
    })
}

fn dechunk(mut rest: &str) -> Option<String> {
    let mut out = String::new();
    loop {
        let (size, tail) = rest.split_once("\r\n")?;
        let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        if size == 0 {
            return Some(out);
        }
        out.push_str(tail.get(..size)?);
        rest = tail.get(size + 2..)?;
    }
}

/// Retries `attempt` every 50 ms until it yields, at most `tries` times: readiness polling with a
/// bound, so a daemon that never comes up fails the test instead of hanging it. Never a timing
/// assertion: a slow machine only takes more attempts.
pub fn poll_until<T>(what: &str, tries: u32, mut attempt: impl FnMut() -> Option<T>) -> T {
    for _ in 0..tries {
        if let Some(v) = attempt() {
            return v;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("gave up waiting for {what} after {tries} attempts");
}

/// Kills the daemon if the test fails midway, so no stray process outlives the test.
pub struct Daemon(pub Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

impl Daemon {
    /// Starts `hostwatt run` on `root` with `config` and `state_dir`, on a free loopback port.
    /// Returns the daemon, its address and its stderr lines.
    pub fn start(
        root: &Path,
        config: &Path,
        state_dir: &Path,
    ) -> (Self, String, mpsc::Receiver<String>) {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let addr = format!("127.0.0.1:{port}");
        let child = hostwatt()
            .arg("run")
            .arg("--root")
            .arg(root)
            .args(["--listen", &addr])
            .arg("--config")
            .arg(config)
            .arg("--state-dir")
            .arg(state_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start hostwatt run");
        let mut daemon = Self(child);
        let stderr = daemon.0.stderr.take().expect("stderr");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            // keeps draining after the receiver is dropped, so the daemon's stderr stays open
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        poll_until("/healthz", 600, || {
            daemon.assert_running();
            http_get(&addr, "/healthz").ok().filter(|r| r.status == 200)
        });
        (daemon, addr, lines)
    }

    /// SIGTERM, then waits (bounded) for the exit status.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        self.signal(Signal::SIGTERM);
        poll_until("exit after SIGTERM", 600, || {
            self.0.try_wait().expect("try_wait")
        })
    }

    /// Sends `sig` to the daemon.
    pub fn signal(&self, sig: Signal) {
        let pid = i32::try_from(self.0.id()).expect("pid fits i32");
        kill(Pid::from_raw(pid), sig).expect("signal the daemon");
    }

    /// Panics if the daemon has exited.
    pub fn assert_running(&mut self) {
        let status = self.0.try_wait().expect("try_wait");
        assert!(status.is_none(), "daemon exited early: {status:?}");
    }
}

/// Waits (bounded) for a stderr line containing `needle`, returning it.
pub fn wait_for_log(
    lines: &mpsc::Receiver<String>,
    needle: &str,
    seen: &mut Vec<String>,
) -> String {
    loop {
        match lines.recv_timeout(Duration::from_secs(30)) {
            Ok(line) => {
                seen.push(line.clone());
                if line.contains(needle) {
                    return line;
                }
            }
            Err(e) => panic!(
                "no log line with {needle:?} ({e}); stderr so far:\n{}",
                seen.join("\n")
            ),
        }
    }
}

/// The output of `hostwatt list-metrics`: a Markdown table of every family.
pub fn list_metrics_table() -> String {
    let out = hostwatt()
        .arg("list-metrics")
        .output()
        .expect("run hostwatt list-metrics");
    let (table, stderr) = texts(&out);
    assert!(out.status.success(), "{stderr}");
    table
}

/// Runs `hostwatt once --root <root> --config <config>` plus `extra` arguments, with a fresh
/// state dir, and returns its stdout (the exposition). Panics with stderr if it does not exit 0.
pub fn once(root: &Path, config: &Path, extra: &[&std::ffi::OsStr]) -> String {
    let state = tempfile::tempdir().expect("tempdir");
    let out = hostwatt()
        .arg("once")
        .arg("--root")
        .arg(root)
        .arg("--config")
        .arg(config)
        .args(extra)
        .arg("--state-dir")
        .arg(state.path())
        .output()
        .expect("run hostwatt once");
    let (stdout, stderr) = texts(&out);
    assert!(out.status.success(), "exit {:?}\n{stderr}", out.status);
    stdout
}
