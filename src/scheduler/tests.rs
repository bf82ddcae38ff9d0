//! The scheduler with real threads, a real FIFO and a collector that panics: what a stuck or
//! crashing collector looks like in the self-metrics, and that it never stops the others.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use prometheus::Registry;
use tokio::sync::watch;

use super::*;
use crate::collectors::{CollectError, Collector, Context, Sample, Schedule};
use crate::host::command::Runner;
use crate::host::root::Root;
use crate::metrics::selfmon::SelfMetrics;
use crate::metrics::{Families, Family, Render};

struct Nothing;

impl Render for Nothing {
    const FAMILIES: &'static [&'static Family] = &[];
    fn render(&self, _: &mut Families) {}
}

/// Counts its rounds; panics in round `panic_on`; reads `read` (under the root) each round;
/// notes the name of the thread each round ran on. `ID` 0 is named "probe", 1 "other" (both
/// every 50 ms), 2 "slow" (every 60 s).
struct Probe<const ID: usize = 0> {
    rounds: Arc<AtomicUsize>,
    finished: Arc<AtomicBool>,
    panic_on: Option<usize>,
    read: Option<&'static str>,
    ran_on: Arc<std::sync::Mutex<Vec<String>>>,
}

impl<const ID: usize> Probe<ID> {
    fn new(read: Option<&'static str>) -> Self {
        Self {
            rounds: Arc::default(),
            finished: Arc::default(),
            panic_on: None,
            read,
            ran_on: Arc::default(),
        }
    }
}

impl<const ID: usize> Probe<ID> {
    const SCHEDULE: Schedule = Schedule {
        name: ["probe", "other", "slow"][ID],
        every: if ID == 2 {
            Duration::from_secs(60)
        } else {
            Duration::from_millis(50)
        },
    };
}

impl<const ID: usize> Collector for Probe<ID> {
    type Snapshot = Nothing;

    async fn sample(&mut self, cx: &Context, _: Instant) -> Result<Sample<Nothing>, CollectError> {
        let thread = std::thread::current().name().unwrap_or_default().to_owned();
        self.ran_on.lock().unwrap().push(thread);
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
    task: Task,
}

fn start(root: &Path, panic_on: Option<usize>, read: Option<&'static str>) -> Running {
    let selfm = SelfMetrics::register(&Registry::new()).unwrap();
    let rounds = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicBool::new(false));
    let probe: Probe = Probe {
        rounds: rounds.clone(),
        finished: finished.clone(),
        panic_on,
        read,
        ran_on: Arc::default(),
    };
    let (tx, _rx) = watch::channel(None);
    let driver: Box<dyn Sampler> = Box::new(Driver::new(
        String::new(),
        Probe::<0>::SCHEDULE,
        probe,
        tx,
        selfm.clone(),
    ));
    let cx = Context {
        root: Root::new(root),
        runner: Runner::system(),
    };
    let (stop, shutdown) = watch::channel(false);
    let task = spawn(vec![driver], cx, shutdown, Keep::default(), Vec::new());
    Running {
        selfm,
        rounds,
        finished,
        stop,
        task,
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
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("the scheduler's task ends on stop")
            .unwrap();
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
    let path = fifo(dir.path());
    // round 1 panics before its read; round 2 then blocks on the FIFO, so no round can succeed
    // between the panic and the check of `success`
    let r = start(dir.path(), Some(1), Some("sys/fifo"));
    until("the panic to be reported", || r.errors("panic") == 1).await;
    assert_eq!(r.success(), 0, "the panicking round failed");
    until("round 2 to start", || r.rounds.load(Ordering::SeqCst) >= 2).await;
    // a plain file takes the FIFO's place, then the blocked round gets its value
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        let mut fifo = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        let plain = path.with_extension("plain");
        std::fs::write(&plain, "1\n").unwrap();
        std::fs::rename(&plain, &path).unwrap();
        fifo.write_all(b"1\n").unwrap();
    });
    writer.join().unwrap();
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

/// Spawns the scheduler with `first` then `second` in one batch, reading under `root`.
fn spawn_two<const A: usize, const B: usize>(
    root: &Path,
    first: Probe<A>,
    second: Probe<B>,
    selfm: &SelfMetrics,
) -> (watch::Sender<bool>, Task) {
    let driver = |probe: Box<dyn Sampler>| probe;
    let samplers = vec![
        driver(Box::new(Driver::new(
            String::new(),
            Probe::<A>::SCHEDULE,
            first,
            watch::channel(None).0,
            selfm.clone(),
        ))),
        driver(Box::new(Driver::new(
            String::new(),
            Probe::<B>::SCHEDULE,
            second,
            watch::channel(None).0,
            selfm.clone(),
        ))),
    ];
    let cx = Context {
        root: Root::new(root),
        runner: Runner::system(),
    };
    let (stop, shutdown) = watch::channel(false);
    (
        stop,
        spawn(samplers, cx, shutdown, Keep::default(), Vec::new()),
    )
}

#[tokio::test]
async fn a_stuck_collector_does_not_hold_back_the_others_and_its_retired_worker_takes_no_more_work()
{
    let dir = tempfile::tempdir().unwrap();
    let path = fifo(dir.path());
    let selfm = SelfMetrics::register(&Registry::new()).unwrap();
    // "probe" is due first in every batch, "other" waits behind it on the shared worker
    let stuck: Probe<0> = Probe::new(Some("sys/fifo"));
    let other: Probe<1> = Probe::new(None);
    let (stuck_rounds, stuck_threads) = (stuck.rounds.clone(), stuck.ran_on.clone());
    let (other_rounds, other_threads) = (other.rounds.clone(), other.ran_on.clone());
    let (stop, task) = spawn_two(dir.path(), stuck, other, &selfm);
    until("\"other\" to go on while \"probe\" is stuck", || {
        other_rounds.load(Ordering::SeqCst) >= 5
    })
    .await;
    assert_eq!(
        stuck_rounds.load(Ordering::SeqCst),
        1,
        "one reader of the FIFO"
    );
    let timeouts = selfm.errors.with_label_values(&["probe", "timeout"]).get();
    assert!(
        timeouts >= 1,
        "the stuck round and its skipped ones are reported"
    );
    assert_eq!(
        selfm.errors.with_label_values(&["other", "timeout"]).get(),
        0
    );
    let retired = stuck_threads.lock().unwrap()[0].clone();
    assert!(retired.starts_with("hostwatt-collect-"), "{retired}");
    // the read returns: the stuck collector comes back on a fresh worker (and gets stuck on the
    // FIFO again there), the retired one ends
    let again = path.clone();
    let writer = std::thread::spawn(move || release(&again, "1\n"));
    until("\"probe\" to run again", || {
        stuck_rounds.load(Ordering::SeqCst) >= 2
    })
    .await;
    writer.join().unwrap();
    let seen = other_rounds.load(Ordering::SeqCst);
    until("\"other\" to go on after that", || {
        other_rounds.load(Ordering::SeqCst) >= seen + 3
    })
    .await;
    stop.send(true).unwrap();
    let stopped = tokio::time::timeout(Duration::from_secs(30), task)
        .await
        .unwrap()
        .unwrap();
    let back: Vec<_> = stopped.samplers.iter().map(|s| s.name()).collect();
    assert_eq!(back, ["other"], "handed back");
    let stuck: Vec<_> = stopped.stuck.iter().map(|s| s.name).collect();
    assert_eq!(stuck, ["probe"], "still stuck, for the next app to wait on");
    std::thread::spawn(move || release(&path, "1\n"))
        .join()
        .unwrap();
    let after_first =
        |threads: &[String]| threads.iter().skip(1).filter(|t| **t == retired).count();
    assert_eq!(
        after_first(&stuck_threads.lock().unwrap()),
        0,
        "the retired worker ran none of \"probe\"'s later rounds"
    );
    let other_threads = other_threads.lock().unwrap();
    let on_retired = other_threads.iter().filter(|t| **t == retired).count();
    // "other" may have run on that worker before "probe" got stuck there, never after
    let last_on_retired = other_threads.iter().rposition(|t| *t == retired);
    assert!(
        last_on_retired.is_none_or(|i| i < on_retired),
        "\"other\" ran on the retired worker after it retired: {other_threads:?}"
    );
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

#[tokio::test]
async fn a_collector_still_stuck_at_a_reload_is_not_read_again_until_its_read_returns() {
    let dir = tempfile::tempdir().unwrap();
    let path = fifo(dir.path());
    let selfm = SelfMetrics::register(&Registry::new()).unwrap();
    let cx = Context {
        root: Root::new(dir.path()),
        runner: Runner::system(),
    };
    let driver = |probe: Probe| -> Vec<Box<dyn Sampler>> {
        vec![Box::new(Driver::new(
            String::new(),
            Probe::<0>::SCHEDULE,
            probe,
            watch::channel(None).0,
            selfm.clone(),
        ))]
    };
    let old = Probe::new(Some("sys/fifo"));
    let old_rounds = old.rounds.clone();
    let (stop, shutdown) = watch::channel(false);
    let task = spawn(
        driver(old),
        cx.clone(),
        shutdown,
        Keep::default(),
        Vec::new(),
    );
    until("the old round to be stuck", || {
        old_rounds.load(Ordering::SeqCst) == 1
    })
    .await;
    stop.send(true).unwrap();
    let stopped = task.await.unwrap();
    assert!(
        stopped.samplers.is_empty(),
        "a stuck collector is not handed back"
    );
    assert_eq!(stopped.stuck.len(), 1);

    // the reloaded app: the same collector, rebuilt, reading the same file
    let new = Probe::new(Some("sys/fifo"));
    let new_rounds = new.rounds.clone();
    let (stop, shutdown) = watch::channel(false);
    let task = spawn(driver(new), cx, shutdown, Keep::default(), stopped.stuck);
    let skipped = |n| {
        let selfm = selfm.clone();
        move || selfm.errors.with_label_values(&["probe", "timeout"]).get() >= n
    };
    until("rounds of the new one skipped", skipped(3)).await;
    assert_eq!(
        new_rounds.load(Ordering::SeqCst),
        0,
        "no second reader of the stuck file"
    );
    // the old read returns: the new collector takes over (and blocks on the FIFO in turn)
    let again = path.clone();
    std::thread::spawn(move || release(&again, "1\n"))
        .join()
        .unwrap();
    until("the new collector's first round", || {
        new_rounds.load(Ordering::SeqCst) == 1
    })
    .await;
    assert_eq!(
        old_rounds.load(Ordering::SeqCst),
        1,
        "the old one ran no more"
    );
    stop.send(true).unwrap();
    let stopped = task.await.unwrap();
    assert_eq!(stopped.stuck.len(), 1, "the new one is stuck in its turn");
    std::thread::spawn(move || release(&path, "1\n"))
        .join()
        .unwrap();
}

#[tokio::test]
async fn a_slow_round_within_its_own_interval_moves_the_others_on_without_a_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let path = fifo(dir.path());
    let selfm = SelfMetrics::register(&Registry::new()).unwrap();
    // "slow" (every 60 s) is first in the batch and blocks until the FIFO gets a writer
    let slow: Probe<2> = Probe::new(Some("sys/fifo"));
    let other: Probe<1> = Probe::new(None);
    let other_rounds = other.rounds.clone();
    let (stop, task) = spawn_two(dir.path(), slow, other, &selfm);
    until("\"other\" to go on on a fresh worker", || {
        other_rounds.load(Ordering::SeqCst) >= 5
    })
    .await;
    let timeouts = |name| selfm.errors.with_label_values(&[name, "timeout"]).get();
    assert_eq!(timeouts("slow"), 0, "slow, but within its 60 s");
    // the read returns: a successful round, never reported as a timeout
    std::thread::spawn(move || release(&path, "1\n"))
        .join()
        .unwrap();
    until("the slow round to succeed", || {
        selfm.success.with_label_values(&["slow"]).get() == 1
    })
    .await;
    assert_eq!(timeouts("slow"), 0);
    assert_eq!(timeouts("other"), 0);
    stop.send(true).unwrap();
    let stopped = task.await.unwrap();
    let back: Vec<_> = stopped.samplers.iter().map(|s| s.name()).collect();
    assert_eq!(back, ["slow", "other"], "both handed back, in batch order");
}
