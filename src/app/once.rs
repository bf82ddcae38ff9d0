//! `hostwatt once`: one app, two collection rounds about a second apart, then the exposition;
//! bounded, so a stuck file cannot hang it.

use std::time::{Duration, Instant};

use crate::app::App;
use crate::config::Config;
use crate::host::command::Runner;

/// `hostwatt once`: two rounds about a second apart, then the exposition.
pub async fn once(cfg: &Config, runner: Runner) -> anyhow::Result<String> {
    // a one-off run neither reads nor writes the daemon's state (energy, alerts)
    let cfg = &Config {
        persist: false,
        ..cfg.clone()
    };
    let mut app = App::new(cfg, cfg.context(runner))?;
    let registry = app.registry.clone();
    let limit = once_limit(&app.intervals());
    // the rounds run on a thread of their own, so a stuck file bounds `once` instead of hanging
    // it; what the collectors published by then is printed
    let watch = crate::host::root::ReadWatch::default();
    let reads = watch.clone();
    let handle = tokio::runtime::Handle::current();
    let (done, rounds) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("hostwatt-once".into())
        .spawn(move || {
            reads.install();
            handle.block_on(async {
                app.sample_all(Instant::now()).await;
                tokio::time::sleep(Duration::from_secs(1)).await;
                app.sample_all(Instant::now()).await;
            });
            let _ = done.send(());
        })?;
    if tokio::time::timeout(limit, rounds).await.is_err() {
        let stuck_on = watch.current().unwrap_or_else(|| "no file".to_owned());
        tracing::error!(stuck_on = %stuck_on, limit = ?limit, "collector rounds did not finish in time; printing what they published");
    }
    Ok(crate::metrics::exposition(&registry))
}

/// How long `once` waits for its two rounds: the pause between them plus, for each, the longest
/// of the collectors' `intervals` (a round's deadline in the daemon), at most 30 s in all.
fn once_limit(intervals: &[Duration]) -> Duration {
    let longest = intervals.iter().max().copied().unwrap_or_default();
    (Duration::from_secs(1) + 2 * longest).min(Duration::from_secs(30))
}
