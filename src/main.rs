//! The hostwatt binary: parse flags, set up logging, load the config, dispatch.

use std::time::Duration;

use clap::Parser;
use hostwatt::cli::{self, Cli, Command};
use hostwatt::logging;

/// Prints to stdout; a closed stdout (`hostwatt once | head -2`) ends the command quietly.
fn print(text: &str) -> anyhow::Result<()> {
    if !logging::print(text)? {
        std::process::exit(0);
    }
    Ok(())
}

/// Raises the soft limit on open files to the hard one: the default soft limit of 1,024 is what
/// `[daemon] max_connections` and the collectors' files share. Skipped when the two are equal
/// (the unit's `LimitNOFILE=` sets both), so it needs no `setrlimit` under systemd.
fn raise_nofile() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => tracing::debug!(from = soft, to = hard, "raised the open-files limit"),
            Err(e) => tracing::warn!(soft, hard, error = %e, "cannot raise the open-files limit"),
        },
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "cannot read the open-files limit"),
    }
}

/// A message on stderr, then exit status 2; stderr may be closed too.
fn fail(message: &str) -> ! {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "hostwatt: {message}");
    std::process::exit(2);
}

/// How long an idle blocking-pool thread is kept. Collectors read sysfs on the blocking pool
/// every 15-60 s; with tokio's default of 10 s each round started and ended threads anew.
const BLOCKING_KEEP_ALIVE: Duration = Duration::from_secs(3600);

/// Enough blocking threads that one stuck sysfs read (a hwmon chip on a hung I2C bus) does not
/// hold up the other collectors, few enough that a round does not fan out over many threads.
const MAX_BLOCKING_THREADS: usize = 4;

// One runtime thread: a round is file reads on the blocking pool plus a little rendering, and a
// scrape renders in about a millisecond, so a second worker only added wake-ups (measured in
// docs/BENCHMARKS.md: 1.38 -> 0.98 context switches/s idle on the synthetic 64-CPU tree).
fn main() -> anyhow::Result<()> {
    tokio::runtime::Builder::new_current_thread()
        .thread_keep_alive(BLOCKING_KEEP_ALIVE)
        .max_blocking_threads(MAX_BLOCKING_THREADS)
        .enable_all()
        .build()?
        .block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    logging::init(logging::filter(&cli.log_level).unwrap_or_else(|e| fail(&e)));
    raise_nofile();
    let command = cli.command.clone().unwrap_or(Command::Run);
    if command == Command::ListMetrics {
        return print(&cli::list_metrics(&cli::all_families()?));
    }
    let cfg = cli.load_config().unwrap_or_else(|e| fail(&e.to_string()));
    match command {
        Command::CheckConfig => {
            let note = cfg.collectors.wall.assumption_note(cfg.meters.len());
            let note = note.map(|n| format!("# note: {n}\n")).unwrap_or_default();
            print(&format!(
                "# config OK: {}\n{note}{}",
                cfg.source,
                toml::to_string(&cfg)?
            ))?
        }
        Command::Once => print(&hostwatt::app::once::once(&cfg, cli.runner()?).await?)?,
        Command::Rules => print(&hostwatt::alerts::promql::rules_file(
            &cfg.alert_rules,
            &cfg.source,
        ))?,
        Command::Alerts { daemon } => {
            let url = daemon.url.unwrap_or_else(|| cli::local_url(&cfg));
            print(&cli::alerts(&url, &daemon.access).await?)?;
        }
        Command::Audit { json, ref daemon } => print(&cli::audit(&cli, &cfg, json, daemon).await?)?,
        Command::Run | Command::ListMetrics => cli::run_daemon(&cli, cfg).await?,
    }
    Ok(())
}
