//! The built-in alert rules: the table of defaults that `[alerts.rules.<name>]` overrides
//! (`alerts::rules`), in documentation order.

use std::time::Duration;

use super::Severity;
use super::rules::{Expr, Match, Op, Rule, Selector};

pub(super) const fn mins(m: u64) -> Duration {
    Duration::from_secs(m * 60)
}

/// Names of the CPU temperature chips of hwmon.
const CPU_CHIPS: &[&str] = &["coretemp", "k10temp", "zenpower"];

/// The `outcome`s of `hostwatt_command_runs_total` that say a program hung: killed at its
/// timeout, or refused because the killed one has not exited.
const HUNG: &[&str] = &["timeout", "still_running"];

#[allow(clippy::too_many_arguments)]
const fn rule(
    name: &'static str,
    expr: Expr,
    severity: Severity,
    threshold: Option<f64>,
    clear: Option<f64>,
    for_: Duration,
    window: Option<Duration>,
    summary: &'static str,
    description: &'static str,
) -> Rule {
    Rule {
        name,
        expr,
        severity,
        threshold,
        clear,
        for_,
        window,
        summary,
        description,
        enabled: true,
    }
}

/// The built-in rules with their defaults, in documentation order.
pub fn builtin() -> Vec<Rule> {
    use Expr::*;
    use Op::*;
    use Severity::*;
    const DAY: u64 = 86_400;
    let s = Selector::metric;
    vec![
        rule(
            "HostIdlePowerHigh",
            Compare(s("hostwatt_wall_idle_power_watts"), Above),
            Warning,
            Some(50.0),
            Some(47.0),
            mins(60),
            None,
            "idle wall power is {value} W (threshold {threshold} W)",
            "The host draws more than the threshold at the wall while idle. The advisor's findings that explain it: {advice}. Commands and risks: hostwatt audit. Also check C-state residency (hostwatt_cpuidle_*) and the wall breakdown (hostwatt_wall_component_watts).",
        ),
        rule(
            "ZfsPoolCapacityHigh",
            Compare(s("hostwatt_zfs_pool_capacity_ratio"), Above),
            Warning,
            Some(0.80),
            Some(0.78),
            mins(15),
            None,
            "pool {pool} is {value:percent} full",
            "ZFS allocation slows down and fragments past about 80 %. Free space or add a vdev.",
        ),
        rule(
            "ZfsPoolCapacityCritical",
            Compare(s("hostwatt_zfs_pool_capacity_ratio"), Above),
            Critical,
            Some(0.90),
            Some(0.88),
            mins(5),
            None,
            "pool {pool} is {value:percent} full",
            "The pool is nearly full: writes will slow down sharply and may fail. Free space now.",
        ),
        rule(
            "ZfsPoolNotOnline",
            Compare(
                Selector {
                    metric: "hostwatt_zfs_pool_state",
                    matchers: &[("state", Match::Ne("ONLINE"))],
                },
                Equals(1.0),
            ),
            Critical,
            None,
            None,
            mins(1),
            None,
            "pool {pool} is {state}",
            "The pool has lost redundancy or is unavailable. Run zpool status -x and replace or reattach the failed device.",
        ),
        rule(
            "ZfsVdevErrorsIncreased",
            Increased(s("hostwatt_zfs_vdev_errors")),
            Warning,
            Some(0.0),
            None,
            Duration::ZERO,
            Some(mins(60)),
            "vdev {vdev} of pool {pool} has new {kind} errors",
            "A device of the pool returned read, write or checksum errors in the last window. Check its SMART data and cabling; zpool clear resets the counts.",
        ),
        rule(
            "ZfsPoolDataErrors",
            Compare(s("hostwatt_zfs_pool_data_errors"), Above),
            Critical,
            Some(0.0),
            None,
            Duration::ZERO,
            None,
            "pool {pool} has {value} files or blocks with permanent errors",
            "ZFS could not repair some data. zpool status -v lists the affected files; restore them from backup.",
        ),
        rule(
            "ZfsScrubOverdue",
            // a finished resilver or rebuild is not a scrub
            Age(Selector {
                metric: "hostwatt_zfs_scan_end_timestamp_seconds",
                matchers: &[("function", Match::Eq("scrub"))],
            }),
            Warning,
            Some((35 * DAY) as f64),
            None,
            mins(60),
            None,
            "pool {pool} was last scrubbed {value:duration} ago",
            "Regular scrubs find silent corruption while redundancy can still repair it. Schedule zpool scrub at least monthly.",
        ),
        rule(
            "ZfsResilverRunning",
            Compare(
                Selector {
                    metric: "hostwatt_zfs_scan_state",
                    matchers: &[
                        ("function", Match::Eq("resilver")),
                        ("state", Match::Eq("running")),
                    ],
                },
                Equals(1.0),
            ),
            Warning,
            None,
            None,
            Duration::ZERO,
            None,
            "pool {pool} is resilvering",
            "The pool is rebuilding a device; redundancy is reduced until it finishes. Avoid heavy load and do not remove other devices.",
        ),
        rule(
            "SmartHealthFailed",
            Compare(s("hostwatt_smart_health_passed"), Equals(0.0)),
            Critical,
            None,
            None,
            Duration::ZERO,
            None,
            "disk {disk} failed its SMART health self-assessment",
            "The drive predicts its own failure. Back up and replace it.",
        ),
        rule(
            "SmartReallocatedSectorsIncreased",
            Increased(s("hostwatt_smart_reallocated_sectors")),
            Warning,
            Some(0.0),
            None,
            Duration::ZERO,
            Some(mins(24 * 60)),
            "disk {disk} reallocated sectors",
            "The drive remapped failing sectors in the last window. A growing count predicts failure.",
        ),
        rule(
            "SmartPendingSectorsIncreased",
            Increased(s("hostwatt_smart_pending_sectors")),
            Warning,
            Some(0.0),
            None,
            Duration::ZERO,
            Some(mins(24 * 60)),
            "disk {disk} has new pending sectors",
            "Sectors could not be read and wait to be remapped. Run a scrub or long self-test; replace the drive if the count keeps rising.",
        ),
        rule(
            "SmartUncorrectableSectorsIncreased",
            Increased(s("hostwatt_smart_offline_uncorrectable_sectors")),
            Warning,
            Some(0.0),
            None,
            Duration::ZERO,
            Some(mins(24 * 60)),
            "disk {disk} has new uncorrectable sectors",
            "An offline scan found sectors the drive cannot correct. Data on them is lost unless redundancy repairs it.",
        ),
        rule(
            "SmartCrcErrorsIncreased",
            Increased(s("hostwatt_smart_udma_crc_errors_total")),
            Warning,
            Some(0.0),
            None,
            Duration::ZERO,
            Some(mins(24 * 60)),
            "disk {disk} has new interface CRC errors",
            "Transfers between the drive and the controller were corrupted: usually a loose or bad cable or backplane, not the drive.",
        ),
        rule(
            "SmartNvmeMediaErrorsIncreased",
            Increased(s("hostwatt_smart_nvme_media_errors_total")),
            Warning,
            Some(0.0),
            None,
            Duration::ZERO,
            Some(mins(24 * 60)),
            "NVMe disk {disk} has new media errors",
            "The controller hit unrecovered data integrity errors.",
        ),
        rule(
            "SmartNvmeCriticalWarning",
            Compare(s("hostwatt_smart_nvme_critical_warning"), Equals(1.0)),
            Critical,
            None,
            None,
            Duration::ZERO,
            None,
            "NVMe disk {disk} raises critical warning bit {bit}",
            "The controller reports spare below threshold, temperature out of range, degraded reliability, read-only media or a failed backup device.",
        ),
        rule(
            "SmartNvmeSpareLow",
            Compare(s("hostwatt_smart_nvme_available_spare_ratio"), Below),
            Warning,
            Some(0.20),
            Some(0.22),
            Duration::ZERO,
            None,
            "NVMe disk {disk} has {value:percent} spare left",
            "The drive is using up its spare blocks; plan its replacement.",
        ),
        rule(
            "DiskTemperatureHigh",
            Compare(s("hostwatt_smart_temperature_celsius"), Above),
            Warning,
            Some(55.0),
            Some(52.0),
            mins(10),
            None,
            "disk {disk} is at {value} °C",
            "Drives wear faster above about 50 °C. Check airflow and fans.",
        ),
        rule(
            "SmrDiskInZfsPool",
            Compare(s("hostwatt_storage_smr_in_pool"), Equals(1.0)),
            Warning,
            None,
            None,
            Duration::ZERO,
            None,
            "SMR disk {disk} is in pool {pool}",
            "Shingled drives can take so long to resilver that ZFS faults them. Replace it with a CMR drive before a resilver is needed.",
        ),
        rule(
            "DiskBeyondRatedDuty",
            Compare(s("hostwatt_smart_beyond_rated_duty"), Equals(1.0)),
            Info,
            None,
            None,
            Duration::ZERO,
            None,
            "disk {disk} has run far beyond its rated duty",
            "A desktop-class drive has exceeded its rated power-on hours over five years. Expect failures; plan a replacement.",
        ),
        rule(
            "CpuTemperatureHigh",
            Compare(
                Selector {
                    metric: "hostwatt_hwmon_temperature_celsius",
                    matchers: &[("chip", Match::Prefix(CPU_CHIPS))],
                },
                Above,
            ),
            Warning,
            Some(85.0),
            Some(80.0),
            mins(5),
            None,
            "CPU sensor {chip} {label} is at {value} °C",
            "The CPU runs hot for a sustained time. Check the cooler, fans and dust.",
        ),
        rule(
            "SystemTemperatureHigh",
            Compare(s("hostwatt_thermal_zone_temperature_celsius"), Above),
            Warning,
            Some(90.0),
            Some(85.0),
            mins(5),
            None,
            "thermal zone {zone} ({type}) is at {value} °C",
            "A thermal zone is close to its trip points. Check cooling.",
        ),
        rule(
            "EdacUncorrectedErrors",
            Compare(s("hostwatt_edac_uncorrectable_errors_total"), Above),
            Critical,
            Some(0.0),
            None,
            Duration::ZERO,
            None,
            "memory controller {controller} reported {value} uncorrected errors",
            "Memory returned data ECC could not correct since boot. Find the DIMM (hostwatt_edac_dimm_*) and replace it.",
        ),
        rule(
            "EdacCorrectedErrorsIncreasing",
            Increased(s("hostwatt_edac_correctable_errors_total")),
            Warning,
            Some(0.0),
            None,
            Duration::ZERO,
            Some(mins(60)),
            "memory controller {controller} corrected {value} errors recently",
            "ECC is correcting memory errors. An occasional one is harmless; a steady stream announces a failing DIMM.",
        ),
        rule(
            "EccReportingInactive",
            Both(
                Selector::metric("hostwatt_edac_memory_ecc_present"),
                1.0,
                Selector::metric("hostwatt_edac_reporting_active"),
                0.0,
            ),
            Warning,
            None,
            None,
            mins(15),
            None,
            "ECC memory is present but no EDAC driver reports its errors",
            "The firmware declares ECC, but no EDAC memory controller is registered, so corrected and uncorrected errors go unseen. Load the EDAC driver of the platform (e.g. ie31200_edac, amd64_edac).",
        ),
        rule(
            "CollectorFailing",
            Compare(s("hostwatt_collector_success"), Equals(0.0)),
            Warning,
            None,
            None,
            mins(15),
            None,
            "collector {collector} is failing",
            "A hostwatt collector has failed every round for a while; its metrics are stale. See the daemon log.",
        ),
        rule(
            "CommandHung",
            Increased(Selector {
                metric: "hostwatt_command_runs_total",
                matchers: &[("outcome", Match::Prefix(HUNG))],
            }),
            Warning,
            Some(0.0),
            None,
            Duration::ZERO,
            Some(mins(60)),
            "{program} did not finish in time recently ({outcome})",
            "An external program hostwatt runs (smartctl, zpool) was killed at its timeout, or a killed run has still not exited, which is what a disk, controller or pool hung in I/O looks like. Its collector serves the last good data meanwhile (hostwatt_smart_data_age_seconds, hostwatt_zfs_zpool_data_age_seconds grow). Check dmesg and the daemon log.",
        ),
        rule(
            "RaplUnreadable",
            Compare(s("hostwatt_rapl_zone_readable"), Equals(0.0)),
            Warning,
            None,
            None,
            mins(5),
            None,
            "RAPL zone {zone} is not readable",
            "energy_uj is root-only since Linux 5.10 (CVE-2020-8694): hostwatt needs CAP_DAC_READ_SEARCH, which the packaged systemd unit grants (docs/systemd.md), or root. Outside the unit: setpriv --ambient-caps +dac_read_search, or a container's cap_add. CPU power is missing from the wall estimate meanwhile.",
        ),
    ]
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::alerts::eval::{History, evaluate};
    use crate::alerts::rules::builtin;
    use crate::host::command::{Program, Recording, Runner};
    use crate::metrics::selfmon::SelfMetrics;

    fn recording(arg: &str, timeout: bool) -> Recording {
        toml::from_str(&format!(
            "argv = [\"zpool\", \"{arg}\"]\ntimeout = {timeout}"
        ))
        .unwrap()
    }

    /// `CommandHung` over the runs the `Runner` counts: a zpool that hangs for the first time
    /// fires, runs that finish do not.
    #[tokio::test]
    async fn command_hung_fires_on_the_first_timeout_of_a_program() {
        let registry = prometheus::Registry::new();
        let selfm = SelfMetrics::register(&registry).unwrap();
        let runner = Runner::replay(vec![recording("list", false), recording("status", true)])
            .with_counter(selfm.command_runs);
        let zpool = Program::new("zpool", "zpool");
        let rule = builtin()
            .into_iter()
            .find(|r| r.name == "CommandHung")
            .unwrap();
        let mut h = History::default();
        let (list, status) = (["list".to_owned()], ["status".to_owned()]);
        let limit = Duration::from_secs(1);
        let hung = |h: &mut History, now: f64| -> Vec<(String, f64, bool)> {
            evaluate(&rule, &registry.gather(), now, h)
                .into_iter()
                .map(|o| (o.labels["outcome"].clone(), o.value, o.fires))
                .collect()
        };
        runner.run(&zpool, &list, limit).await.unwrap();
        assert_eq!(hung(&mut h, 0.0), [], "one point: unknown");
        runner.run(&zpool, &list, limit).await.unwrap();
        assert_eq!(
            hung(&mut h, 60.0),
            [
                ("still_running".into(), 0.0, false),
                ("timeout".into(), 0.0, false)
            ]
        );
        assert!(runner.run(&zpool, &status, limit).await.is_err());
        assert_eq!(
            hung(&mut h, 120.0),
            [
                ("still_running".into(), 0.0, false),
                ("timeout".into(), 1.0, true)
            ]
        );
    }
}
