//! The exposition of a SMART round: metric families, `Render for Snapshot` and each disk's
//! series. Values are smartctl's, in base units (seconds, bytes, °C); an absent field is no series.

use super::advisories::Class;
use super::json::{Data, EXIT_BITS};
use super::power::State;
use super::{Disk, Snapshot};
use crate::metrics::{Families, Family, Render};

const D: &[&str] = &["disk"];

const INFO: Family = Family::gauge(
    "hostwatt_smart_device_info",
    "Identity of a disk seen by smartctl (value 1); device is the current /dev node, which can change across boots",
    &[
        "disk",
        "device",
        "type",
        "protocol",
        "model",
        "family",
        "serial",
        "firmware",
        "rotation_rate",
    ],
);
const CAPACITY: Family = Family::gauge(
    "hostwatt_smart_capacity_bytes",
    "User capacity of the disk",
    D,
);
const PASSED: Family = Family::gauge(
    "hostwatt_smart_health_passed",
    "1 if the disk's overall SMART health self-assessment passed, 0 if it failed",
    D,
);
const TEMPERATURE: Family = Family::gauge(
    "hostwatt_smart_temperature_celsius",
    "Current disk temperature as reported by SMART",
    D,
);
const POWER_ON: Family = Family::counter(
    "hostwatt_smart_power_on_seconds_total",
    "Disk power-on time (SMART power-on hours x 3600, plus minutes where reported)",
    D,
);
const POWER_CYCLES: Family = Family::counter(
    "hostwatt_smart_power_cycles_total",
    "Disk power cycles over its lifetime",
    D,
);
const START_STOP: Family = Family::counter(
    "hostwatt_smart_start_stop_cycles_total",
    "Spindle start/stop cycles (ATA attribute 4, SCSI accumulated start-stop cycles)",
    D,
);
const LOAD_CYCLES: Family = Family::counter(
    "hostwatt_smart_load_cycles_total",
    "Head load/unload cycles (ATA attribute 193, SCSI accumulated load-unload cycles)",
    D,
);
const ATTR: &[&str] = &["disk", "id", "name"];
const ATTR_VALUE: Family = Family::gauge(
    "hostwatt_smart_attribute_value",
    "Normalised value of an ATA SMART attribute (higher is better, vendor scale)",
    ATTR,
);
const ATTR_WORST: Family = Family::gauge(
    "hostwatt_smart_attribute_worst",
    "Worst normalised value an ATA SMART attribute has had",
    ATTR,
);
const ATTR_THRESHOLD: Family = Family::gauge(
    "hostwatt_smart_attribute_threshold",
    "Failure threshold of an ATA SMART attribute; value <= threshold means failing",
    ATTR,
);
const ATTR_RAW: Family = Family::gauge(
    "hostwatt_smart_attribute_raw",
    "Raw value of an ATA SMART attribute as a 48-bit integer (vendor-specific; some ids pack several fields)",
    ATTR,
);
const REALLOCATED: Family = Family::gauge(
    "hostwatt_smart_reallocated_sectors",
    "Reallocated sectors (ATA attribute 5 raw)",
    D,
);
const PENDING: Family = Family::gauge(
    "hostwatt_smart_pending_sectors",
    "Sectors waiting to be remapped (ATA attribute 197 raw)",
    D,
);
const OFFLINE_UNCORRECTABLE: Family = Family::gauge(
    "hostwatt_smart_offline_uncorrectable_sectors",
    "Sectors found uncorrectable by offline scans (ATA attribute 198 raw)",
    D,
);
const CRC_ERRORS: Family = Family::counter(
    "hostwatt_smart_udma_crc_errors_total",
    "Interface CRC errors, usually a cable or backplane problem (ATA attribute 199 raw)",
    D,
);
const NVME_WARNING: Family = Family::gauge(
    "hostwatt_smart_nvme_critical_warning",
    "NVMe critical warning bits of the SMART / health log (1 = set)",
    &["disk", "bit"],
);
/// Names of the NVMe critical warning bits 0–5 (NVMe base spec, SMART / Health log).
const NVME_WARNING_BITS: [&str; 6] = [
    "available_spare",
    "temperature",
    "reliability",
    "read_only",
    "volatile_memory_backup",
    "persistent_memory_read_only",
];
const NVME_USED: Family = Family::gauge(
    "hostwatt_smart_nvme_percentage_used_ratio",
    "Vendor estimate of NVMe endurance used (percentage used / 100; may exceed 1)",
    D,
);
const NVME_SPARE: Family = Family::gauge(
    "hostwatt_smart_nvme_available_spare_ratio",
    "NVMe available spare capacity (percent / 100)",
    D,
);
const NVME_SPARE_THRESHOLD: Family = Family::gauge(
    "hostwatt_smart_nvme_available_spare_threshold_ratio",
    "NVMe available spare threshold below which the controller warns (percent / 100)",
    D,
);
const NVME_MEDIA_ERRORS: Family = Family::counter(
    "hostwatt_smart_nvme_media_errors_total",
    "NVMe unrecovered data integrity errors",
    D,
);
const NVME_UNSAFE: Family = Family::counter(
    "hostwatt_smart_nvme_unsafe_shutdowns_total",
    "NVMe shutdowns without a prior shutdown notification",
    D,
);
const NVME_READ: Family = Family::counter(
    "hostwatt_smart_nvme_read_bytes_total",
    "Bytes read by the host (NVMe data units read x 512000)",
    D,
);
const NVME_WRITTEN: Family = Family::counter(
    "hostwatt_smart_nvme_written_bytes_total",
    "Bytes written by the host (NVMe data units written x 512000)",
    D,
);
const NVME_ERROR_LOG: Family = Family::counter(
    "hostwatt_smart_nvme_error_log_entries_total",
    "NVMe error information log entries over the controller's life",
    D,
);
const SCSI_DEFECTS: Family = Family::gauge(
    "hostwatt_smart_scsi_grown_defects",
    "SCSI grown defect list length",
    D,
);
const SCSI_UNCORRECTED: Family = Family::counter(
    "hostwatt_smart_scsi_uncorrected_errors_total",
    "SCSI uncorrected errors by operation (error counter log)",
    &["disk", "operation"],
);
const SELF_TEST: Family = Family::gauge(
    "hostwatt_smart_self_test_last_passed",
    "1 if the newest completed self-test in the disk's log passed, 0 if it failed",
    D,
);
const EXIT_BIT: Family = Family::gauge(
    "hostwatt_smart_exit_status_bit",
    "Bits of smartctl's exit status on the last run that was not a standby check (smartctl(8) EXIT STATUS)",
    &["disk", "bit"],
);
const DATA_AGE: Family = Family::gauge(
    "hostwatt_smart_data_age_seconds",
    "Age of the disk's SMART values as of the last round (they are kept while the disk sleeps or is idle)",
    D,
);
const POWER_MODE: Family = Family::gauge(
    "hostwatt_smart_power_mode",
    "Disk power mode as known without waking it: active (I/O or answered), idle (no I/O since the last check), standby (seen asleep, no I/O since), unknown",
    &["disk", "state"],
);
const STANDBY_SECONDS: Family = Family::counter(
    "hostwatt_smart_standby_seconds_total",
    "Time the disk spent in standby since hostwatt started (from the query that saw it asleep to the first I/O after)",
    D,
);
const SPIN_UPS: Family = Family::counter(
    "hostwatt_smart_spin_ups_total",
    "Standby to active transitions observed since hostwatt started",
    D,
);
const STANDBY_SKIPS: Family = Family::counter(
    "hostwatt_smart_standby_skips_total",
    "smartctl runs that found the disk in standby or sleep and left it asleep, reading no SMART data (smartctl -n standby); runs of every outcome are hostwatt_command_runs_total{program=\"smartctl\"}",
    D,
);
const SMR: Family = Family::gauge(
    "hostwatt_smart_smr",
    "1 if the disk uses shingled magnetic recording (source: drivedb = smartctl's drive database, table = hostwatt's drives.toml)",
    &["disk", "source"],
);
const CLASS: Family = Family::gauge(
    "hostwatt_smart_drive_class",
    "Drive class from model family and model number (hostwatt's drives.toml)",
    &["disk", "class"],
);
const RATED_DUTY: Family = Family::gauge(
    "hostwatt_smart_rated_duty_ratio",
    "Rated power-on time per year as a fraction of the year (desktop 2400/8760, NAS and enterprise 1)",
    D,
);
const BEYOND_DUTY: Family = Family::gauge(
    "hostwatt_smart_beyond_rated_duty",
    "1 if power-on hours exceed the class's rated hours per year x 5 years (desktop: 12000 h)",
    D,
);

fn opt(out: &mut Families, family: &'static Family, labels: &[&str], v: Option<f64>) {
    if let Some(v) = v {
        out.push(family, labels, v);
    }
}

fn num(v: Option<u64>) -> Option<f64> {
    v.map(|v| v as f64)
}

impl Render for Snapshot {
    const FAMILIES: &'static [&'static Family] = &[
        &INFO,
        &CAPACITY,
        &PASSED,
        &TEMPERATURE,
        &POWER_ON,
        &POWER_CYCLES,
        &START_STOP,
        &LOAD_CYCLES,
        &ATTR_VALUE,
        &ATTR_WORST,
        &ATTR_THRESHOLD,
        &ATTR_RAW,
        &REALLOCATED,
        &PENDING,
        &OFFLINE_UNCORRECTABLE,
        &CRC_ERRORS,
        &NVME_WARNING,
        &NVME_USED,
        &NVME_SPARE,
        &NVME_SPARE_THRESHOLD,
        &NVME_MEDIA_ERRORS,
        &NVME_UNSAFE,
        &NVME_READ,
        &NVME_WRITTEN,
        &NVME_ERROR_LOG,
        &SCSI_DEFECTS,
        &SCSI_UNCORRECTED,
        &SELF_TEST,
        &EXIT_BIT,
        &DATA_AGE,
        &POWER_MODE,
        &STANDBY_SECONDS,
        &SPIN_UPS,
        &STANDBY_SKIPS,
        &SMR,
        &CLASS,
        &RATED_DUTY,
        &BEYOND_DUTY,
    ];

    fn render(&self, out: &mut Families) {
        for disk in &self.disks {
            disk.render(out);
        }
    }
}

impl Disk {
    fn render(&self, out: &mut Families) {
        let id = self.id.as_str();
        let l = [id];
        let data = self.data.as_deref();
        let s = |f: fn(&Data) -> Option<&String>| data.and_then(f).map_or("", String::as_str);
        let rotation = data
            .and_then(|d| d.rotation_rpm)
            .map(|r| r.to_string())
            .unwrap_or_default();
        let serial = if self.hide_serial {
            ""
        } else {
            s(|d| d.serial.as_ref())
        };
        out.push(
            &INFO,
            &[
                id,
                &self.device,
                &self.dev_type,
                &self.protocol,
                s(|d| d.model.as_ref()),
                s(|d| d.family.as_ref()),
                serial,
                s(|d| d.firmware.as_ref()),
                &rotation,
            ],
            1.0,
        );
        for st in State::ALL {
            out.push_bool(&POWER_MODE, &[id, st.label()], st == self.state);
        }
        out.push(&STANDBY_SECONDS, &l, self.standby_seconds);
        out.push(&SPIN_UPS, &l, self.spin_ups as f64);
        out.push(&STANDBY_SKIPS, &l, self.standby_skips as f64);
        if let Some(exit) = self.exit {
            for (bit, name) in EXIT_BITS.iter().enumerate() {
                out.push_bool(&EXIT_BIT, &[id, name], exit & (1 << bit) != 0);
            }
        }
        opt(out, &DATA_AGE, &l, self.age_seconds);
        if let Some(a) = &self.advice {
            out.push_bool(
                &SMR,
                &[id, a.smr_source.unwrap_or("")],
                a.smr_source.is_some(),
            );
            for c in Class::ALL {
                out.push_bool(&CLASS, &[id, c.label()], c == a.class);
            }
            opt(out, &RATED_DUTY, &l, a.rated_duty_ratio);
            if let Some(b) = a.beyond_rated_duty {
                out.push_bool(&BEYOND_DUTY, &l, b);
            }
        }
        let Some(d) = data else {
            return;
        };
        opt(out, &CAPACITY, &l, num(d.capacity_bytes));
        if let Some(p) = d.passed {
            out.push_bool(&PASSED, &l, p);
        }
        opt(out, &TEMPERATURE, &l, d.temperature_celsius);
        opt(out, &POWER_ON, &l, d.power_on_seconds);
        opt(out, &POWER_CYCLES, &l, num(d.power_cycles));
        opt(out, &START_STOP, &l, num(d.start_stop_cycles));
        opt(out, &LOAD_CYCLES, &l, num(d.load_cycles));
        for a in &d.attributes {
            let idl = a.id.to_string();
            let labels = [id, idl.as_str(), a.name.as_str()];
            out.push(&ATTR_VALUE, &labels, a.value as f64);
            out.push(&ATTR_WORST, &labels, a.worst as f64);
            out.push(&ATTR_THRESHOLD, &labels, a.thresh as f64);
            out.push(&ATTR_RAW, &labels, a.raw as f64);
        }
        opt(out, &REALLOCATED, &l, num(d.raw(5)));
        opt(out, &PENDING, &l, num(d.raw(197)));
        opt(out, &OFFLINE_UNCORRECTABLE, &l, num(d.raw(198)));
        opt(out, &CRC_ERRORS, &l, num(d.raw(199)));
        if let Some(n) = &d.nvme {
            if let Some(w) = n.critical_warning {
                for (bit, name) in NVME_WARNING_BITS.iter().enumerate() {
                    out.push_bool(&NVME_WARNING, &[id, name], w & (1 << bit) != 0);
                }
            }
            opt(out, &NVME_USED, &l, n.percentage_used_ratio);
            opt(out, &NVME_SPARE, &l, n.available_spare_ratio);
            opt(
                out,
                &NVME_SPARE_THRESHOLD,
                &l,
                n.available_spare_threshold_ratio,
            );
            opt(out, &NVME_MEDIA_ERRORS, &l, num(n.media_errors));
            opt(out, &NVME_UNSAFE, &l, num(n.unsafe_shutdowns));
            opt(out, &NVME_READ, &l, n.read_bytes);
            opt(out, &NVME_WRITTEN, &l, n.written_bytes);
            opt(out, &NVME_ERROR_LOG, &l, num(n.error_log_entries));
        }
        opt(out, &SCSI_DEFECTS, &l, num(d.scsi_grown_defects));
        for (op, n) in &d.scsi_uncorrected {
            out.push(&SCSI_UNCORRECTED, &[id, op], *n as f64);
        }
        if let Some(p) = d.self_test_passed {
            out.push_bool(&SELF_TEST, &l, p);
        }
    }
}
