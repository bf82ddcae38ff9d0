//! hostwatt's own health: per-collector success, duration, last success, errors by kind, items
//! currently failing, command runs, and build info. Owned instruments: their cardinality is fixed.
//!
//! `hostwatt_command_runs_total{program,outcome}` is the one metric of "did the program run",
//! for every collector that runs one (counted by `host::command::Runner`); collectors say what
//! the output meant (an item fault, the age of the data they serve).

use prometheus::{GaugeVec, IntCounterVec, IntGaugeVec, Opts, Registry};

use super::Family;

/// Families of the self-metrics, for `--list-metrics` and the asset tests.
pub const FAMILIES: &[&Family] = &[
    &SUCCESS,
    &AVAILABLE,
    &DURATION,
    &LAST_SUCCESS,
    &ERRORS,
    &ITEM_FAILING,
    &COMMAND_RUNS,
    &BUILD_INFO,
];

const SUCCESS: Family = Family::gauge(
    "hostwatt_collector_success",
    "1 if the collector's last round finished without error (a source absent from this host counts as success)",
    &["collector"],
);
const AVAILABLE: Family = Family::gauge(
    "hostwatt_collector_available",
    "1 if the collector found its data source on this host (0: e.g. no RAPL on a VM, no ZFS loaded)",
    &["collector"],
);
const DURATION: Family = Family::gauge(
    "hostwatt_collector_duration_seconds",
    "Wall-clock time the collector's last round took",
    &["collector"],
);
const LAST_SUCCESS: Family = Family::gauge(
    "hostwatt_collector_last_success_timestamp_seconds",
    "Unix time of the collector's last successful round",
    &["collector"],
);
const ERRORS: Family = Family::counter(
    "hostwatt_collector_errors_total",
    "Failed collector rounds and failed items, by error kind",
    &["collector", "kind"],
);
const ITEM_FAILING: Family = Family::gauge(
    "hostwatt_collector_item_failing",
    "1 for each item (sensor, zone, disk) that failed in the collector's last round, with the error kind",
    &["collector", "item", "kind"],
);
const COMMAND_RUNS: Family = Family::counter(
    "hostwatt_command_runs_total",
    "External program runs (smartctl, zpool, ...) by outcome: ok, nonzero (smartctl also exits non-zero for a disk left in standby or with exit status bits set), timeout, still_running (the last killed run has not exited), output_limit, error",
    &["program", "outcome"],
);
const BUILD_INFO: Family = Family::gauge(
    "hostwatt_build_info",
    "Always 1; labels carry the hostwatt version",
    &["version"],
);

/// The owned self-metric instruments, registered once per registry.
#[derive(Clone)]
pub struct SelfMetrics {
    /// `hostwatt_collector_success`.
    pub success: IntGaugeVec,
    /// `hostwatt_collector_available`.
    pub available: IntGaugeVec,
    /// `hostwatt_collector_duration_seconds`.
    pub duration: GaugeVec,
    /// `hostwatt_collector_last_success_timestamp_seconds`.
    pub last_success: GaugeVec,
    /// `hostwatt_collector_errors_total`.
    pub errors: IntCounterVec,
    /// `hostwatt_collector_item_failing`.
    pub item_failing: IntGaugeVec,
    /// `hostwatt_command_runs_total`.
    pub command_runs: IntCounterVec,
}

fn opts(f: &Family) -> Opts {
    Opts::new(f.name, f.help)
}

impl SelfMetrics {
    /// Creates and registers the instruments.
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let m = Self {
            success: IntGaugeVec::new(opts(&SUCCESS), SUCCESS.labels)?,
            available: IntGaugeVec::new(opts(&AVAILABLE), AVAILABLE.labels)?,
            duration: GaugeVec::new(opts(&DURATION), DURATION.labels)?,
            last_success: GaugeVec::new(opts(&LAST_SUCCESS), LAST_SUCCESS.labels)?,
            errors: IntCounterVec::new(opts(&ERRORS), ERRORS.labels)?,
            item_failing: IntGaugeVec::new(opts(&ITEM_FAILING), ITEM_FAILING.labels)?,
            command_runs: IntCounterVec::new(opts(&COMMAND_RUNS), COMMAND_RUNS.labels)?,
        };
        registry.register(Box::new(m.success.clone()))?;
        registry.register(Box::new(m.available.clone()))?;
        registry.register(Box::new(m.duration.clone()))?;
        registry.register(Box::new(m.last_success.clone()))?;
        registry.register(Box::new(m.errors.clone()))?;
        registry.register(Box::new(m.item_failing.clone()))?;
        registry.register(Box::new(m.command_runs.clone()))?;
        let build = IntGaugeVec::new(opts(&BUILD_INFO), BUILD_INFO.labels)?;
        build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        registry.register(Box::new(build))?;
        Ok(m)
    }
}
