//! Scrape and collection cost on a synthetic 64-CPU host (`support/tree.rs`), with
//! `benches/hostwatt-bench.toml` (every root-reading collector; `system`, `smart`, `wall` off).
//!
//! ```text
//! cargo bench --bench scrape                        # default config, then per_cpu = true
//! cargo bench --bench scrape -- --scrapes 1000 --rounds 50 --cpus 64
//! cargo bench --bench scrape -- --write-tree DIR    # only write the tree (for the scripts)
//! ```
//!
//! CPU is user + system time from `getrusage`, not wall time. Per scrape it is the CPU of
//! `metrics::exposition` (text 0.0.4) of unchanged snapshots, which reuses their rendering;
//! "after a round" is the first scrape after new snapshots, which renders them (text; then
//! OpenMetrics + gzip, what Prometheus asks for). Over HTTP it is the process CPU minus the client
//! thread's own (`RUSAGE_THREAD`), so it counts the server side only. A
//! round is `App::sample_all`: every collector reads the tree once, whatever its interval (the
//! advisor's 5 min, EDAC's 60 s, the alert engine's 1 min included). The last table is each
//! collector's CPU per round alone, weighted by its interval into the CPU of a 15 s tick of the
//! daemon's schedule. Latencies are wall time per
//! request over a kept-alive loopback connection, as Prometheus scrapes. RSS is this process's
//! `VmRSS` after the scrapes; the bench process holds little besides the app, and the real
//! daemon's RSS is measured by `benches/compare-node-exporter.sh`.

#[path = "support/tree.rs"]
mod tree;

use std::error::Error;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use hostwatt::app::App;
use hostwatt::config::{self, Config, Overrides};
use hostwatt::host::command::Runner;
use nix::sys::resource::{UsageWho, getrusage};

type Result<T> = std::result::Result<T, Box<dyn Error + Send + Sync>>;

const CONFIG: &str = include_str!("hostwatt-bench.toml");

/// User + system CPU time of `who` so far.
fn cpu(who: UsageWho) -> Result<Duration> {
    let u = getrusage(who)?;
    let d = |t: nix::sys::time::TimeVal| {
        Duration::from_secs(t.tv_sec() as u64) + Duration::from_micros(t.tv_usec() as u64)
    };
    Ok(d(u.user_time()) + d(u.system_time()))
}

fn status_kib(field: &str) -> Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .ok_or_else(|| format!("no {field} in /proc/self/status"))?;
    Ok(line
        .trim_start_matches(field)
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()?)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

struct Args {
    scrapes: usize,
    rounds: usize,
    write_tree: Option<PathBuf>,
    cpus: u32,
}

fn args() -> Result<Args> {
    let mut a = Args {
        scrapes: 1000,
        rounds: 50,
        write_tree: None,
        cpus: tree::CPUS,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--scrapes" => a.scrapes = it.next().ok_or("--scrapes N")?.parse()?,
            "--rounds" => a.rounds = it.next().ok_or("--rounds N")?.parse()?,
            "--cpus" => a.cpus = it.next().ok_or("--cpus N")?.parse()?,
            "--write-tree" => a.write_tree = Some(it.next().ok_or("--write-tree DIR")?.into()),
            // cargo bench passes --bench; libtest-style filters are not used here
            _ => {}
        }
    }
    Ok(a)
}

/// One kept-alive HTTP/1.1 connection to `/metrics`.
struct Client {
    stream: BufReader<TcpStream>,
    request: &'static [u8],
}

/// What Prometheus sends: OpenMetrics preferred, gzip accepted.
const PROMETHEUS_GET: &[u8] = b"GET /metrics HTTP/1.1\r\nHost: bench\r\nAccept: application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1\r\nAccept-Encoding: gzip\r\n\r\n";
/// A plain GET: text 0.0.4, uncompressed.
const PLAIN_GET: &[u8] = b"GET /metrics HTTP/1.1\r\nHost: bench\r\n\r\n";

impl Client {
    fn connect(addr: std::net::SocketAddr, request: &'static [u8]) -> Result<Self> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream: BufReader::new(stream),
            request,
        })
    }

    /// Sends one GET and reads the whole response; returns the body length.
    fn get(&mut self, body: &mut Vec<u8>) -> Result<usize> {
        self.stream.get_mut().write_all(self.request)?;
        let mut line = String::new();
        let mut length = None;
        let mut status = None;
        loop {
            line.clear();
            self.stream.read_line(&mut line)?;
            let l = line.trim_end();
            if status.is_none() {
                status = Some(l.to_owned());
                continue;
            }
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                length = Some(v.trim().parse::<usize>()?);
            }
        }
        let status = status.unwrap_or_default();
        if !status.contains(" 200 ") {
            return Err(format!("GET /metrics: {status}").into());
        }
        let length = length.ok_or("GET /metrics: no content-length")?;
        body.resize(length, 0);
        self.stream.read_exact(body)?;
        Ok(length)
    }
}

struct Report {
    series: usize,
    bytes: usize,
    round_cpu: Duration,
    round_p50: Duration,
    render_cpu: Duration,
    changed_cpu: Duration,
    changed_gz_cpu: Duration,
    render_p50: Duration,
    render_p99: Duration,
    http_cpu: Duration,
    prom_cpu: Duration,
    prom_bytes: usize,
    http_p50: Duration,
    http_p99: Duration,
    http_max: Duration,
    rss_kib: u64,
    hwm_kib: u64,
}

fn bench(rt: &tokio::runtime::Runtime, cfg: &Config, a: &Args) -> Result<Report> {
    let mut app = App::new(cfg, hostwatt::cli::context(cfg, Runner::system()))?;
    let t0 = Instant::now();
    let step = Duration::from_secs(15);
    // two rounds first, so rates (watts, residency ratios) exist as they do in a running daemon
    rt.block_on(app.sample_all(t0));
    rt.block_on(app.sample_all(t0 + step));

    let mut rounds = Vec::with_capacity(a.rounds);
    let before = cpu(UsageWho::RUSAGE_SELF)?;
    for i in 0..a.rounds {
        let started = Instant::now();
        rt.block_on(app.sample_all(t0 + step * (i as u32 + 2)));
        rounds.push(started.elapsed());
    }
    let round_cpu = (cpu(UsageWho::RUSAGE_SELF)? - before) / a.rounds as u32;
    rounds.sort();

    let text = hostwatt::metrics::exposition(&app.registry);
    let series = text.lines().filter(|l| !l.starts_with('#')).count();
    let bytes = text.len();
    drop(text);

    let mut renders = Vec::with_capacity(a.scrapes);
    let before = cpu(UsageWho::RUSAGE_SELF)?;
    for _ in 0..a.scrapes {
        let started = Instant::now();
        let text = hostwatt::metrics::exposition(&app.registry);
        renders.push(started.elapsed());
        std::hint::black_box(text);
    }
    let render_cpu = (cpu(UsageWho::RUSAGE_SELF)? - before) / a.scrapes as u32;
    renders.sort();

    // the first scrape after a round renders the new snapshots: text, and what Prometheus asks
    let (mut changed, mut changed_gz) = (Duration::ZERO, Duration::ZERO);
    let changes = 20;
    for i in 0..changes {
        rt.block_on(app.sample_all(t0 + step * (a.rounds + 2 + 2 * i) as u32));
        let before = cpu(UsageWho::RUSAGE_THREAD)?;
        std::hint::black_box(hostwatt::metrics::exposition(&app.registry));
        changed += cpu(UsageWho::RUSAGE_THREAD)? - before;
        rt.block_on(app.sample_all(t0 + step * (a.rounds + 3 + 2 * i) as u32));
        let before = cpu(UsageWho::RUSAGE_THREAD)?;
        let format = hostwatt::metrics::Format::OpenMetrics;
        std::hint::black_box(hostwatt::metrics::encode(&app.registry, format, true));
        changed_gz += cpu(UsageWho::RUSAGE_THREAD)? - before;
    }

    let registry = app.registry.clone();
    let ((http, http_cpu), (prom_cpu, prom_bytes)) = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (_keep, rx) = tokio::sync::watch::channel(hostwatt::server::Served::from(registry));
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(hostwatt::server::run(listener, rx, async move {
            let _ = stop_rx.await;
        }));
        let scrapes = a.scrapes;
        let client = tokio::task::spawn_blocking(move || -> Result<_> {
            let mut p = Client::connect(addr, PROMETHEUS_GET)?;
            let mut body = Vec::new();
            for _ in 0..10 {
                p.get(&mut body)?;
            }
            let self_before = cpu(UsageWho::RUSAGE_SELF)?;
            let me_before = cpu(UsageWho::RUSAGE_THREAD)?;
            for _ in 0..scrapes {
                p.get(&mut body)?;
            }
            let me = cpu(UsageWho::RUSAGE_THREAD)? - me_before;
            let all = cpu(UsageWho::RUSAGE_SELF)? - self_before;
            let prom = (all.saturating_sub(me) / scrapes as u32, body.len());
            let mut c = Client::connect(addr, PLAIN_GET)?;
            let mut body = Vec::new();
            for _ in 0..10 {
                c.get(&mut body)?;
            }
            let mut lat = Vec::with_capacity(scrapes);
            let self_before = cpu(UsageWho::RUSAGE_SELF)?;
            let me_before = cpu(UsageWho::RUSAGE_THREAD)?;
            for _ in 0..scrapes {
                let started = Instant::now();
                c.get(&mut body)?;
                lat.push(started.elapsed());
            }
            let me = cpu(UsageWho::RUSAGE_THREAD)? - me_before;
            let all = cpu(UsageWho::RUSAGE_SELF)? - self_before;
            Ok(((lat, all.saturating_sub(me) / scrapes as u32), prom))
        });
        let result = client.await.map_err(|e| e.to_string())?;
        let _ = stop_tx.send(());
        server.await.map_err(|e| e.to_string())??;
        result
    })?;
    let mut http = http;
    http.sort();

    Ok(Report {
        series,
        bytes,
        round_cpu,
        round_p50: percentile(&rounds, 0.5),
        render_cpu,
        changed_cpu: changed / changes as u32,
        changed_gz_cpu: changed_gz / changes as u32,
        render_p50: percentile(&renders, 0.5),
        render_p99: percentile(&renders, 0.99),
        http_cpu,
        prom_cpu,
        prom_bytes,
        http_p50: percentile(&http, 0.5),
        http_p99: percentile(&http, 0.99),
        http_max: percentile(&http, 1.0),
        rss_kib: status_kib("VmRSS:")?,
        hwm_kib: status_kib("VmHWM:")?,
    })
}

/// CPU per round of each collector alone (`rounds` rounds, 15 s apart on the simulated clock),
/// and what the daemon's schedule makes of it: each collector runs once per its interval, so a
/// 15 s tick costs the sum of CPU/round × 15 s / interval.
fn breakdown(rt: &tokio::runtime::Runtime, cfg: &Config, rounds: usize) -> Result<()> {
    let mut app = App::new(cfg, hostwatt::cli::context(cfg, Runner::system()))?;
    let t0 = Instant::now();
    let step = Duration::from_secs(15);
    rt.block_on(app.sample_all(t0));
    println!("\n| collector | interval | CPU/round | CPU per 15 s of the daemon's schedule |");
    println!("|---|---|---|---|");
    let mut tick = Duration::ZERO;
    for (i, (name, interval)) in app.collectors().into_iter().enumerate() {
        let before = cpu(UsageWho::RUSAGE_SELF)?;
        for r in 1..=rounds {
            rt.block_on(app.sample_one(i, t0 + step * r as u32));
        }
        let round = (cpu(UsageWho::RUSAGE_SELF)? - before) / rounds as u32;
        let share = round.mul_f64(step.as_secs_f64() / interval.as_secs_f64().max(15.0));
        tick += share;
        println!(
            "| {name} | {} s | {} | {} |",
            interval.as_secs(),
            ms(round),
            ms(share)
        );
    }
    println!("| **all, per 15 s tick** | | | **{}** |", ms(tick));
    Ok(())
}

fn main() -> Result<()> {
    let a = args()?;
    if let Some(dir) = &a.write_tree {
        std::fs::create_dir_all(dir)?;
        tree::write(dir, a.cpus)?;
        println!("wrote the synthetic tree to {}", dir.display());
        return Ok(());
    }
    // on tmpfs when there is one, as sysfs is in memory: reading thousands of small files from a
    // disk filesystem costs more, and sleeps where no sysfs read would
    let shm = std::path::Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        tempfile::Builder::new()
            .prefix("hostwatt-bench")
            .tempdir_in(shm)?
    } else {
        tempfile::tempdir()?
    };
    let root = dir.path().join("root");
    tree::write(&root, a.cpus)?;
    let overrides = Overrides {
        listen: None,
        root: Some(root),
        state_dir: Some(dir.path().join("state")),
        ..Default::default()
    };
    let cfg = config::resolve("benches/hostwatt-bench.toml", CONFIG, &overrides)?;
    // the daemon's runtime (src/main.rs)
    let rt = tokio::runtime::Builder::new_current_thread()
        .thread_keep_alive(std::time::Duration::from_secs(3600))
        .max_blocking_threads(4)
        .enable_all()
        .build()?;

    println!(
        "synthetic host: {} CPUs x {} C-states, 12 hwmon chips, 4 RAPL zones + 6 sub-zones, \
         8 thermal zones, {} cooling devices, 2 EDAC controllers; {} scrapes, {} rounds\n",
        a.cpus,
        tree::IDLE_STATES.len(),
        a.cpus + 1,
        a.scrapes,
        a.rounds
    );
    println!(
        "| config | series | bytes | CPU/round | round p50 | CPU/scrape (render) | render p50 | render p99 | \
         CPU/scrape (HTTP, server) | HTTP p50 | HTTP p99 | HTTP max | \
         CPU/scrape after a round (text; OpenMetrics + gzip) | CPU/scrape (HTTP, Prometheus headers) | gzip bytes | \
         VmRSS | VmHWM |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    let mut per_cpu = cfg.clone();
    per_cpu.collectors.cpuidle.per_cpu = true;
    for (name, cfg) in [("default", &cfg), ("per_cpu = true", &per_cpu)] {
        let r = bench(&rt, cfg, &a)?;
        println!(
            "| {name} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {}; {} | {} | {} | {:.1} MiB | {:.1} MiB |",
            r.series,
            r.bytes,
            ms(r.round_cpu),
            ms(r.round_p50),
            ms(r.render_cpu),
            ms(r.render_p50),
            ms(r.render_p99),
            ms(r.http_cpu),
            ms(r.http_p50),
            ms(r.http_p99),
            ms(r.http_max),
            ms(r.changed_cpu),
            ms(r.changed_gz_cpu),
            ms(r.prom_cpu),
            r.prom_bytes,
            r.rss_kib as f64 / 1024.0,
            r.hwm_kib as f64 / 1024.0,
        );
    }
    breakdown(&rt, &cfg, a.rounds)?;
    Ok(())
}
