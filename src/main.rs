//! The hostwatt binary: parse flags, set up logging, load the config, dispatch.

use std::time::Duration;

use clap::Parser;
use hostwatt::cli::{self, Cli, Command};
use tracing_subscriber::EnvFilter;

fn init_logging(level: &str) {
    let filter = EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // journald stamps every line itself
    if std::env::var_os("JOURNAL_STREAM").is_some() {
        builder.without_time().init();
    } else {
        builder.init();
    }
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
    init_logging(&cli.log_level);
    let command = cli.command.clone().unwrap_or(Command::Run);
    if command == Command::ListMetrics {
        print!("{}", cli::list_metrics(&cli::all_families()?));
        return Ok(());
    }
    let cfg = match cli.load_config() {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("hostwatt: {e}");
            std::process::exit(2);
        }
    };
    match command {
        Command::CheckConfig => {
            println!("# config OK: {}", cfg.source);
            if let Some(note) = cfg.collectors.wall.assumption_note(cfg.meters.len()) {
                println!("# note: {note}");
            }
            print!("{}", toml::to_string(&cfg)?);
        }
        Command::Once => print!("{}", cli::once(&cfg, cli.runner()?).await?),
        Command::Rules => print!(
            "{}",
            hostwatt::alerts::promql::rules_file(&cfg.alert_rules, &cfg.source)
        ),
        Command::Alerts { url } => {
            let url = url.unwrap_or_else(|| cli::local_url(&cfg));
            print!("{}", cli::alerts(&url).await?);
        }
        Command::Run | Command::ListMetrics => cli::run_daemon(&cli, cfg).await?,
    }
    Ok(())
}
