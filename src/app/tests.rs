//! The registration of `collectors::list!`: what the scheduler runs each collector as.

use std::time::Duration;

use super::App;
use crate::collectors::NAMES;
use crate::config::{self, Overrides};
use crate::host::command::Runner;

/// Each collector runs under its list entry's name at its section's `interval` (the two lines
/// every collector used to repeat), in list order; the alert engine at `evaluation_interval`.
#[test]
fn each_collector_runs_under_its_list_name_at_its_section_interval() {
    let dir = tempfile::tempdir().unwrap();
    let text = "[collectors.smart]\ninterval = \"7m\"\n\
                [collectors.zfs]\nenabled = false\n\
                [collectors.edac]\ninterval = \"45s\"\n\
                [alerts]\nevaluation_interval = \"2m\"\n";
    let overrides = Overrides {
        state_dir: Some(dir.path().to_owned()),
        root: Some(dir.path().to_owned()),
        ..Overrides::default()
    };
    let cfg = config::resolve("test.toml", text, &overrides).unwrap();
    let app = App::new(&cfg, cfg.context(Runner::replay(Vec::new()))).unwrap();
    let runs: Vec<(&str, Duration)> = app
        .collector_names()
        .into_iter()
        .zip(app.intervals())
        .collect();
    let listed: Vec<&str> = runs
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| NAMES.contains(n))
        .collect();
    let expected: Vec<&str> = NAMES.iter().copied().filter(|n| *n != "zfs").collect();
    assert_eq!(listed, expected);
    let every = |name: &str| runs.iter().find(|(n, _)| *n == name).map(|(_, d)| *d);
    assert_eq!(every("smart"), Some(Duration::from_secs(420)));
    assert_eq!(every("edac"), Some(Duration::from_secs(45)));
    assert_eq!(every("rapl"), Some(cfg.collectors.rapl.interval.0));
    assert_eq!(every("zfs"), None);
    assert_eq!(every("alerts"), Some(Duration::from_secs(120)));
}
