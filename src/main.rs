//! The hostwatt binary: parse flags, set up logging, load the config, dispatch.

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

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
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
