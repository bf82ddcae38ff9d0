//! The scheduler with real threads, a real FIFO and a collector that panics: what a stuck or
//! crashing collector looks like in the self-metrics, and that it never stops the others.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use prometheus::Registry;
use tokio::sync::watch;

use super::*;
use crate::collectors::{CollectError, Collector, Context, Sample};
use crate::host::command::Runner;
use crate::host::root::Root;
use crate::metrics::selfmon::SelfMetrics;
use crate::metrics::{Families, Family, Render};

struct Nothing;

impl Render for Nothing {
    const FAMILIES: &'static [&'static Family] = &[];
    fn render(&self, _: &mut Families) {}
}

/// Counts its rounds; panics in round `panic_on`; reads `read` (under the root) each round.
struct Probe {
    rounds: Arc<AtomicUsize>,
    finished: Arc<AtomicBool>,
    panic_on: Option<usize>,
    read: Option<&'static str>,
}

impl Collector for Probe {
    type Snapshot = Nothing;
    const NAME: &'static str = "probe";

    fn interval(&self) -> Duration {
        Duration::from_millis(50)
    }

    async fn sample(&mut self, cx: &Context, _: Instant) -> Result<Sample<Nothing>, CollectError> {
        let n = self.rounds.fetch_add(1, Ordering::SeqCst) + 1;
        if self.panic_on == Some(n) {
            panic!("injected panic in round {n}");
        }
        if let Some(rel) = self.read {
            cx.root.read_trimmed(rel)?;
        }
        Ok(Sample::clean(Nothing))
    }

    fn finish(&mut self) {
        self.finished.store(true, Ordering::SeqCst);
    }
}

struct Running {
    selfm: SelfMetrics,
    rounds: Arc<AtomicUsize>,
    finished: Arc<AtomicBool>,
    stop: watch::Sender<bool>,
    tasks: Vec<Task>,
}

fn start(root: &Path, panic_on: Option<usize>, read: Option<&'static str>) -> Running {
    let selfm = SelfMetrics::register(&Registry::new()).unwrap();
    let rounds = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicBool::new(false));
    let probe = Probe {
        rounds: rounds.clone(),
        finished: finished.clone(),
        panic_on,
        read,
    };
    let (tx, _rx) = watch::channel(None);
    let driver: Box<dyn Sampler> = Box::new(Driver::new(String::new(), probe, tx, selfm.clone()));
    let cx = Context {
        root: Root::new(root),
        runner: Runner::system(),
    };
    let (stop, shutdown) = watch::channel(false);
    let tasks = spawn(vec![driver], cx, shutdown, Keep::default());
    Running {
        selfm,
        rounds,
        finished,
        stop,
        tasks,
    }
}

impl Running {
    fn errors(&self, kind: &str) -> u64 {
        self.selfm.errors.with_label_values(&["probe", kind]).get()
    }

    fn success(&self) -> i64 {
        self.selfm.success.with_label_values(&["probe"]).get()
    }

    fn failing(&self, item: &str) -> Option<i64> {
        let families = {
            let r = Registry::new();
            r.register(Box::new(self.selfm.item_failing.clone()))
                .unwrap();
            r.gather()
        };
        families.iter().flat_map(|f| f.get_metric()).find_map(|m| {
            let labels: Vec<_> = m.get_label().iter().map(|l| l.value()).collect();
            (labels == ["probe", item, "timeout"]).then(|| m.get_gauge().value() as i64)
        })
    }

    /// Stops the tasks; fails (does not hang) if they do not end.
    async fn stop(self) -> Arc<AtomicBool> {
        self.stop.send(true).unwrap();
        for t in self.tasks {
            tokio::time::timeout(Duration::from_secs(30), t)
                .await
                .expect("the collector's task ends on stop")
                .unwrap();
        }
        self.finished
    }
}

/// Polls `cond` every 10 ms, at most 3,000 times, without blocking the runtime.
async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..3000 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("gave up waiting for {what}");
}

#[tokio::test]
async fn a_panicking_round_fails_the_collector_which_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let r = start(dir.path(), Some(1), None);
    until("the panic to be reported", || r.errors("panic") == 1).await;
    assert_eq!(r.success(), 0, "the panicking round failed");
    until("a round after the panic", || {
        r.rounds.load(Ordering::SeqCst) >= 3
    })
    .await;
    until("success again", || r.success() == 1).await;
    assert_eq!(r.errors("panic"), 1, "one panic, one error");
    let finished = r.stop().await;
    assert!(finished.load(Ordering::SeqCst), "state saved on stop");
}

/// A FIFO with no writer: `open` blocks until one comes, like a sysfs attribute whose driver
/// hangs.
fn fifo(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("sys/fifo");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    nix::unistd::mkfifo(&path, nix::sys::stat::Mode::S_IRWXU).unwrap();
    path
}

/// Releases a reader blocked on `path` by opening it for writing and writing `text`.
fn release(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

/// A probe reading a FIFO, once its first round has timed out.
async fn stuck() -> (tempfile::TempDir, std::path::PathBuf, Running) {
    let dir = tempfile::tempdir().unwrap();
    let path = fifo(dir.path());
    let r = start(dir.path(), None, Some("sys/fifo"));
    until("the timeout on sys/fifo", || {
        r.failing("sys/fifo") == Some(1)
    })
    .await;
    (dir, path, r)
}

#[tokio::test]
async fn a_round_stuck_on_a_fifo_times_out_and_is_never_joined_by_a_second_reader() {
    let (_dir, path, r) = stuck().await;
    assert_eq!(r.success(), 0);
    until("a skipped round", || r.errors("timeout") >= 3).await;
    assert_eq!(
        r.rounds.load(Ordering::SeqCst),
        1,
        "no second reader while the first is stuck"
    );
    // the writer comes: the stuck round returns, and the item is no longer failing
    let writer = std::thread::spawn(move || release(&path, "1\n"));
    until("the stuck round to return", || {
        r.failing("sys/fifo").is_none()
    })
    .await;
    writer.join().unwrap();
    let finished = r.stop().await;
    assert!(finished.load(Ordering::SeqCst), "state saved on stop");
}

#[tokio::test]
async fn stop_does_not_wait_for_a_read_that_never_returns() {
    let (_dir, path, r) = stuck().await;
    let finished = r.stop().await;
    assert!(
        !finished.load(Ordering::SeqCst),
        "a stuck collector cannot save"
    );
    // let the thread go, so the test process does not keep it blocked
    std::thread::spawn(move || release(&path, "1\n"))
        .join()
        .unwrap();
}

#[test]
fn a_flapping_item_logs_its_first_change_then_one_per_quiet_period() {
    let mut log = ItemLog::default();
    let t0 = Instant::now();
    // fails and recovers every 15 s round for 40 minutes: 160 changes
    let logged: Vec<(u64, u32)> = (0..160u64)
        .filter_map(|i| {
            let at = t0 + Duration::from_secs(15 * i);
            log.note("coretemp/temp1", at).map(|n| (15 * i, n))
        })
        .collect();
    assert_eq!(
        logged,
        [(0, 0), (600, 39), (1200, 39), (1800, 39)],
        "(seconds, changes not logged before it)"
    );
    // another item is not held back by the first one
    assert_eq!(
        log.note("coretemp/temp2", t0 + Duration::from_secs(30)),
        Some(0)
    );
}
