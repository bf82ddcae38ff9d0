//! `smartctl --json` output: serde types and the pure parser `parse_report` (`parse_scan` is in
//! `scan.rs`).
//!
//! Units are converted here, once: power-on hours × 3600 → seconds, NVMe percentages ÷ 100 →
//! ratios, NVMe data units × 512,000 → bytes (NVMe 1.4 §5.14.1.2: a data unit is 1000 sectors of
//! 512 bytes). Every field is optional: smartctl prints only what the device answered, and an
//! absent value means no series (never 0).
//!
//! The exit status is a bitmask (smartctl(8) EXIT STATUS): bits 0–1 mean no data (command line
//! did not parse, device open failed); bits 2–7 are findings that come with valid JSON. With
//! `-n standby,STANDBY_EXIT` a disk in SLEEP or STANDBY makes smartctl stop after the CHECK
//! POWER MODE command and exit with exactly `STANDBY_EXIT`.

use serde::Deserialize;

use crate::parse::ParseError;

/// The STATUS of `-n standby,STATUS`: the exit code of a query that found the disk asleep.
/// 3 (bits 0 and 1) cannot happen otherwise: a command line that does not parse (bit 0) stops
/// smartctl before it opens the device (bit 1). smartctl's default, 2, is also "open failed".
pub const STANDBY_EXIT: i32 = 3;

/// Names of the eight exit-status bits, in bit order (smartctl(8) EXIT STATUS).
pub const EXIT_BITS: [&str; 8] = [
    "command_line",
    "open_failed",
    "command_failed",
    "disk_failing",
    "prefail_below_threshold",
    "usage_below_threshold_in_past",
    "error_log_has_errors",
    "self_test_log_has_errors",
];

pub use super::scan::{Scan, ScanDevice, parse_scan};

pub(super) fn json_error(what: &'static str, e: serde_json::Error) -> ParseError {
    ParseError::at(what, e.line().max(1), e.to_string())
}

/// What one per-device smartctl run told us.
#[derive(Debug, Clone, PartialEq)]
pub enum Report {
    /// The disk is in a low-power mode and was left alone. `mode` is smartctl's word for it
    /// (`STANDBY`, `SLEEP`, `STANDBY (OS)`) when it printed one.
    Standby {
        /// The power mode smartctl named.
        mode: Option<String>,
    },
    /// Exit bit 0 or 1: no data (open failed, unknown device type, bad command line).
    NoData {
        /// The exit status.
        exit: u8,
        /// smartctl's error messages, joined.
        message: String,
    },
    /// Data, possibly with findings in exit bits 2–7.
    Data {
        /// The exit status.
        exit: u8,
        /// The device's values.
        data: Box<Data>,
    },
}

/// One ATA SMART attribute.
#[derive(Debug, Clone, PartialEq)]
pub struct Attribute {
    /// Attribute id (1–255).
    pub id: u8,
    /// smartctl's name for it (`Reallocated_Sector_Ct`), from the drive database.
    pub name: String,
    /// Normalised value.
    pub value: u64,
    /// Worst normalised value seen.
    pub worst: u64,
    /// Failure threshold.
    pub thresh: u64,
    /// Raw value as a 48-bit integer; vendor-specific for some ids (194 packs min/max).
    pub raw: u64,
}

/// The NVMe SMART / health information log (log page 02h).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Nvme {
    /// Critical warning bitmask (bit 0 spare, 1 temperature, 2 reliability, 3 read-only,
    /// 4 volatile memory backup, 5 persistent memory region read-only).
    pub critical_warning: Option<u64>,
    /// Percentage used as a ratio; may exceed 1.
    pub percentage_used_ratio: Option<f64>,
    /// Available spare as a ratio.
    pub available_spare_ratio: Option<f64>,
    /// Available spare threshold as a ratio.
    pub available_spare_threshold_ratio: Option<f64>,
    /// Media and data integrity errors.
    pub media_errors: Option<u64>,
    /// Unsafe shutdowns.
    pub unsafe_shutdowns: Option<u64>,
    /// Bytes read (data units × 512,000).
    pub read_bytes: Option<f64>,
    /// Bytes written (data units × 512,000).
    pub written_bytes: Option<f64>,
    /// Error information log entries.
    pub error_log_entries: Option<u64>,
}

/// Everything a data-bearing run yields. `None` means the device did not report it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Data {
    /// `ATA`, `NVMe`, `SCSI`.
    pub protocol: String,
    /// The `-d` type.
    pub dev_type: String,
    /// Model (`model_name`, or `scsi_model_name` / vendor + product for SCSI).
    pub model: Option<String>,
    /// smartctl drive database family (`Seagate BarraCuda 3.5 (SMR)`).
    pub family: Option<String>,
    /// Serial number.
    pub serial: Option<String>,
    /// Firmware (`firmware_version`, SCSI `scsi_revision`, which smartctl 7.1 calls `revision`).
    pub firmware: Option<String>,
    /// World Wide Name as `0x` + 16 hex digits.
    pub wwn: Option<String>,
    /// Rotation rate in rpm; 0 for solid state.
    pub rotation_rpm: Option<u64>,
    /// User capacity in bytes.
    pub capacity_bytes: Option<u64>,
    /// Overall health self-assessment.
    pub passed: Option<bool>,
    /// Current temperature, °C.
    pub temperature_celsius: Option<f64>,
    /// Power-on time in seconds (hours × 3600 + minutes × 60).
    pub power_on_seconds: Option<f64>,
    /// Power cycles.
    pub power_cycles: Option<u64>,
    /// Start/stop cycles (ATA attribute 4, SCSI accumulated start-stop cycles).
    pub start_stop_cycles: Option<u64>,
    /// Head load/unload cycles (ATA attribute 193, SCSI accumulated load-unload cycles).
    pub load_cycles: Option<u64>,
    /// ATA attributes in table order.
    pub attributes: Vec<Attribute>,
    /// NVMe health log.
    pub nvme: Option<Nvme>,
    /// SCSI grown defect list length.
    pub scsi_grown_defects: Option<u64>,
    /// SCSI uncorrected errors per operation (`read`, `write`, `verify`).
    pub scsi_uncorrected: Vec<(&'static str, u64)>,
    /// Whether the most recent self-test completed without error; `None` when there is no
    /// completed test in the log (or no log in the output).
    pub self_test_passed: Option<bool>,
}

impl Data {
    /// The raw value of ATA attribute `id`.
    pub fn raw(&self, id: u8) -> Option<u64> {
        self.attributes.iter().find(|a| a.id == id).map(|a| a.raw)
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Raw {
    smartctl: Option<RawSmartctl>,
    device: Option<RawDevice>,
    #[serde(deserialize_with = "lenient")]
    model_name: Option<String>,
    #[serde(deserialize_with = "lenient")]
    model_family: Option<String>,
    #[serde(deserialize_with = "lenient")]
    scsi_model_name: Option<String>,
    #[serde(deserialize_with = "lenient")]
    scsi_vendor: Option<String>,
    #[serde(deserialize_with = "lenient")]
    scsi_product: Option<String>,
    #[serde(deserialize_with = "lenient")]
    scsi_revision: Option<String>,
    /// smartctl 7.1's name of `scsi_revision`.
    #[serde(deserialize_with = "lenient")]
    revision: Option<String>,
    #[serde(deserialize_with = "lenient")]
    serial_number: Option<String>,
    #[serde(deserialize_with = "lenient")]
    firmware_version: Option<String>,
    #[serde(deserialize_with = "lenient")]
    wwn: Option<RawWwn>,
    #[serde(deserialize_with = "lenient")]
    rotation_rate: Option<u64>,
    #[serde(deserialize_with = "lenient")]
    user_capacity: Option<RawCapacity>,
    #[serde(deserialize_with = "lenient")]
    nvme_total_capacity: Option<u64>,
    #[serde(deserialize_with = "lenient")]
    smart_status: Option<RawStatus>,
    #[serde(deserialize_with = "lenient")]
    temperature: Option<RawTemperature>,
    #[serde(deserialize_with = "lenient")]
    power_on_time: Option<RawPowerOn>,
    #[serde(deserialize_with = "lenient")]
    power_cycle_count: Option<u64>,
    #[serde(deserialize_with = "lenient")]
    ata_smart_attributes: Option<RawAttributes>,
    #[serde(deserialize_with = "lenient")]
    nvme_smart_health_information_log: Option<RawNvme>,
    #[serde(deserialize_with = "lenient")]
    scsi_grown_defect_list: Option<u64>,
    #[serde(deserialize_with = "lenient")]
    scsi_error_counter_log: Option<RawScsiErrors>,
    #[serde(deserialize_with = "lenient")]
    scsi_start_stop_cycle_counter: Option<RawStartStop>,
    #[serde(deserialize_with = "lenient")]
    ata_smart_self_test_log: Option<RawAtaSelfTestLog>,
    #[serde(deserialize_with = "lenient")]
    nvme_self_test_log: Option<RawNvmeSelfTestLog>,
    #[serde(deserialize_with = "lenient")]
    scsi_self_test_0: Option<RawScsiSelfTest>,
}

/// A field whose value does not have the expected shape (a string where smartctl printed a
/// number before, a 128-bit counter) reads as absent, so one odd field never loses the disk's
/// other values; only its own series is missing.
fn lenient<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    let value = serde_json::Value::deserialize(d)?;
    Ok(serde_json::from_value(value).ok())
}

/// The entries of a table that read; one odd row never hides the others.
fn each_that_reads<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    let rows = Vec::<serde_json::Value>::deserialize(d)?;
    Ok(rows
        .into_iter()
        .filter_map(|r| serde_json::from_value(r).ok())
        .collect())
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawSmartctl {
    messages: Vec<RawMessage>,
    exit_status: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawMessage {
    string: String,
    severity: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawDevice {
    #[serde(rename = "type")]
    dev_type: String,
    protocol: String,
}

#[derive(Deserialize)]
struct RawWwn {
    naa: u64,
    oui: u64,
    id: u64,
}

#[derive(Deserialize)]
struct RawCapacity {
    bytes: u64,
}

#[derive(Deserialize)]
struct RawStatus {
    passed: Option<bool>,
}

#[derive(Deserialize)]
struct RawTemperature {
    current: Option<i64>,
}

#[derive(Deserialize)]
struct RawPowerOn {
    hours: Option<u64>,
    minutes: Option<u64>,
}

#[derive(Deserialize)]
struct RawAttributes {
    #[serde(default, deserialize_with = "each_that_reads")]
    table: Vec<RawAttribute>,
}

#[derive(Deserialize)]
struct RawAttribute {
    id: u8,
    #[serde(default)]
    name: String,
    value: u64,
    worst: u64,
    thresh: u64,
    raw: RawAttrRaw,
}

#[derive(Deserialize)]
struct RawAttrRaw {
    value: u64,
}

#[derive(Deserialize)]
struct RawNvme {
    #[serde(default, deserialize_with = "lenient")]
    critical_warning: Option<u64>,
    #[serde(default, deserialize_with = "lenient")]
    percentage_used: Option<u64>,
    #[serde(default, deserialize_with = "lenient")]
    available_spare: Option<u64>,
    #[serde(default, deserialize_with = "lenient")]
    available_spare_threshold: Option<u64>,
    #[serde(default, deserialize_with = "lenient")]
    media_errors: Option<u64>,
    #[serde(default, deserialize_with = "lenient")]
    unsafe_shutdowns: Option<u64>,
    #[serde(default, deserialize_with = "lenient")]
    data_units_read: Option<u64>,
    #[serde(default, deserialize_with = "lenient")]
    data_units_written: Option<u64>,
    #[serde(default, deserialize_with = "lenient")]
    num_err_log_entries: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawScsiErrors {
    read: Option<RawScsiErrorOp>,
    write: Option<RawScsiErrorOp>,
    verify: Option<RawScsiErrorOp>,
}

#[derive(Deserialize)]
struct RawScsiErrorOp {
    total_uncorrected_errors: Option<u64>,
}

#[derive(Deserialize)]
struct RawStartStop {
    accumulated_start_stop_cycles: Option<u64>,
    accumulated_load_unload_cycles: Option<u64>,
}

#[derive(Deserialize)]
struct RawAtaSelfTestLog {
    standard: Option<RawAtaSelfTestTable>,
    extended: Option<RawAtaSelfTestTable>,
}

#[derive(Deserialize)]
struct RawAtaSelfTestTable {
    #[serde(default)]
    table: Vec<RawAtaSelfTest>,
}

#[derive(Deserialize)]
struct RawAtaSelfTest {
    status: RawAtaSelfTestStatus,
}

#[derive(Deserialize)]
struct RawAtaSelfTestStatus {
    // absent while a test is in progress
    passed: Option<bool>,
}

#[derive(Deserialize)]
struct RawNvmeSelfTestLog {
    #[serde(default)]
    table: Vec<RawNvmeSelfTest>,
}

#[derive(Deserialize)]
struct RawNvmeSelfTest {
    self_test_result: RawValue,
}

#[derive(Deserialize)]
struct RawScsiSelfTest {
    result: RawValue,
}

#[derive(Deserialize)]
struct RawValue {
    value: u64,
}

/// The first message of severity `error`, or all messages joined, for a no-data report.
fn messages_text(messages: &[RawMessage]) -> String {
    let errors: Vec<&str> = messages
        .iter()
        .filter(|m| m.severity == "error")
        .map(|m| m.string.as_str())
        .collect();
    if errors.is_empty() {
        messages
            .iter()
            .map(|m| m.string.as_str())
            .collect::<Vec<_>>()
            .join("; ")
    } else {
        errors.join("; ")
    }
}

/// The power mode in `Device is in STANDBY mode, exit(3)`.
fn standby_mode(messages: &[RawMessage]) -> Option<String> {
    messages.iter().find_map(|m| {
        let rest = m.string.split("Device is in ").nth(1)?;
        let (mode, _) = rest.split_once(" mode")?;
        Some(mode.to_owned())
    })
}

/// Parses one per-device run: its stdout and its exit code. The exit code decides first
/// (standby, no data), so a sleeping disk or a failed open never needs valid JSON; a data run
/// with output that is not JSON is a `ParseError`.
pub fn parse_report(text: &str, exit: i32) -> Result<Report, ParseError> {
    let raw: Option<Raw> = serde_json::from_str(text).ok();
    let messages = raw
        .as_ref()
        .and_then(|r| r.smartctl.as_ref())
        .map(|s| s.messages.as_slice())
        .unwrap_or(&[]);
    if exit == STANDBY_EXIT {
        return Ok(Report::Standby {
            mode: standby_mode(messages),
        });
    }
    let code = u8::try_from(exit).map_err(|_| {
        ParseError::at(
            "smartctl report",
            1,
            format!("exit status {exit} out of range"),
        )
    })?;
    if code & 0b11 != 0 {
        let message = match messages_text(messages) {
            m if m.is_empty() => format!("smartctl exit status {code} and no message"),
            // a message can span lines; it becomes a log line
            m => crate::parse::one_line(&m, crate::host::command::STDERR_MAX),
        };
        return Ok(Report::NoData {
            exit: code,
            message,
        });
    }
    let raw: Raw = serde_json::from_str(text).map_err(|e| json_error("smartctl report", e))?;
    if let Some(reported) = raw.smartctl.as_ref().and_then(|s| s.exit_status) {
        // smartctl's own record of its status must agree with the process's: a mismatch means
        // the output is not from this run (a wrapper script, a stale file).
        if reported != i64::from(code) {
            return Err(ParseError::at(
                "smartctl report",
                1,
                format!("exit status {code} but the JSON says {reported}"),
            ));
        }
    }
    if raw.device.is_none() {
        return Err(ParseError::at(
            "smartctl report",
            1,
            "no device block in a run that reported success",
        ));
    }
    Ok(Report::Data {
        exit: code,
        data: Box::new(convert(raw)),
    })
}

fn convert(raw: Raw) -> Data {
    let device = raw.device.unwrap_or_default();
    let scsi_model = raw.scsi_model_name.clone().or_else(|| {
        match (raw.scsi_vendor.as_deref(), raw.scsi_product.as_deref()) {
            (Some(v), Some(p)) => Some(format!("{v} {p}")),
            _ => None,
        }
    });
    let attributes: Vec<Attribute> = raw
        .ata_smart_attributes
        .map(|a| a.table)
        .unwrap_or_default()
        .into_iter()
        .map(|a| Attribute {
            id: a.id,
            name: a.name,
            value: a.value,
            worst: a.worst,
            thresh: a.thresh,
            raw: a.raw.value,
        })
        .collect();
    let attr = |id: u8| attributes.iter().find(|a| a.id == id).map(|a| a.raw);
    let start_stop = raw.scsi_start_stop_cycle_counter.as_ref();
    let nvme = raw.nvme_smart_health_information_log.map(|n| Nvme {
        critical_warning: n.critical_warning,
        percentage_used_ratio: n.percentage_used.map(|p| p as f64 / 100.0),
        available_spare_ratio: n.available_spare.map(|p| p as f64 / 100.0),
        available_spare_threshold_ratio: n.available_spare_threshold.map(|p| p as f64 / 100.0),
        media_errors: n.media_errors,
        unsafe_shutdowns: n.unsafe_shutdowns,
        read_bytes: n.data_units_read.map(|u| u as f64 * 512_000.0),
        written_bytes: n.data_units_written.map(|u| u as f64 * 512_000.0),
        error_log_entries: n.num_err_log_entries,
    });
    let mut scsi_uncorrected = Vec::new();
    if let Some(log) = &raw.scsi_error_counter_log {
        for (op, entry) in [
            ("read", &log.read),
            ("write", &log.write),
            ("verify", &log.verify),
        ] {
            if let Some(n) = entry.as_ref().and_then(|e| e.total_uncorrected_errors) {
                scsi_uncorrected.push((op, n));
            }
        }
    }
    Data {
        protocol: device.protocol,
        dev_type: device.dev_type,
        model: raw.model_name.or(scsi_model),
        family: raw.model_family,
        serial: raw.serial_number,
        firmware: raw.firmware_version.or(raw.scsi_revision).or(raw.revision),
        wwn: raw
            .wwn
            .map(|w| format!("0x{:x}{:06x}{:09x}", w.naa, w.oui, w.id)),
        rotation_rpm: raw.rotation_rate,
        capacity_bytes: raw
            .user_capacity
            .map(|c| c.bytes)
            .or(raw.nvme_total_capacity),
        passed: raw.smart_status.and_then(|s| s.passed),
        temperature_celsius: raw.temperature.and_then(|t| t.current).map(|c| c as f64),
        power_on_seconds: raw.power_on_time.and_then(|p| {
            p.hours
                .map(|h| (h * 3600 + p.minutes.unwrap_or(0) * 60) as f64)
        }),
        power_cycles: raw.power_cycle_count,
        start_stop_cycles: attr(4).or(start_stop.and_then(|s| s.accumulated_start_stop_cycles)),
        load_cycles: attr(193).or(start_stop.and_then(|s| s.accumulated_load_unload_cycles)),
        nvme,
        scsi_grown_defects: raw.scsi_grown_defect_list,
        scsi_uncorrected,
        self_test_passed: self_test(
            raw.ata_smart_self_test_log,
            raw.nvme_self_test_log,
            raw.scsi_self_test_0,
        ),
        attributes,
    }
}

/// The newest completed self-test's verdict. ATA lists newest first (extended log preferred:
/// `-x` prints it, `-a` the standard one); NVMe result 0 and SCSI result 0 mean "completed
/// without error", and NVMe 0xf is an unused entry.
fn self_test(
    ata: Option<RawAtaSelfTestLog>,
    nvme: Option<RawNvmeSelfTestLog>,
    scsi: Option<RawScsiSelfTest>,
) -> Option<bool> {
    if let Some(log) = ata {
        let table = log.extended.or(log.standard)?.table;
        return table.iter().find_map(|t| t.status.passed);
    }
    if let Some(log) = nvme {
        return log
            .table
            .iter()
            .map(|t| t.self_test_result.value)
            .find(|&v| v != 0xf)
            .map(|v| v == 0);
    }
    scsi.map(|s| s.result.value == 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::shared_text;

    fn data(rel: &str, exit: i32) -> Data {
        match parse_report(&shared_text(rel), exit).unwrap() {
            Report::Data { data, .. } => *data,
            other => panic!("{rel}: expected data, got {other:?}"),
        }
    }

    #[test]
    fn parses_literals() {
        assert!(parse_scan("").is_err());
        assert!(parse_scan("garbage").is_err());
        assert_eq!(parse_scan("{}").unwrap(), Scan::default());
        assert!(parse_report("", 0).is_err());
        assert!(parse_report("not json", 4).is_err());
        assert_eq!(
            parse_report("", 2).unwrap(),
            Report::NoData {
                exit: 2,
                message: "smartctl exit status 2 and no message".into()
            }
        );
        assert_eq!(parse_report("", 3).unwrap(), Report::Standby { mode: None });
        assert!(parse_report("{}", 999).is_err());
        let e = parse_report(r#"{"smartctl":{"exit_status":0}}"#, 0).unwrap_err();
        assert_eq!(
            e.to_string(),
            "smartctl report, line 1: no device block in a run that reported success"
        );
        let e = parse_report(r#"{"smartctl":{"exit_status":4},"device":{}}"#, 0).unwrap_err();
        assert!(e.reason.contains("JSON says 4"), "{e}");
    }

    #[test]
    fn parses_scans() {
        let scan = parse_scan(&shared_text("smartctl/lab-qemu/smart_scan_open.json")).unwrap();
        assert_eq!(scan.skipped, []);
        let devs = scan.devices;
        let got: Vec<_> = devs
            .iter()
            .map(|d| (d.name.as_str(), d.dev_type.as_str(), d.protocol.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("/dev/sda", "sat", "ATA"),
                ("/dev/sdb", "sat", "ATA"),
                ("/dev/nvme0", "nvme", "NVMe")
            ]
        );
        let err = parse_scan(&shared_text(
            "smartctl/smart-prom-next/nvme_scan_open_error.json",
        ))
        .unwrap()
        .devices;
        assert_eq!(err[0].open_error.as_deref(), Some("Permission denied"));
    }

    #[test]
    fn parses_healthy_ata() {
        let d = data("smartctl/smartctl_exporter/WDC_WD20EFRX-68EUZN0_17.json", 0);
        assert_eq!(d.model.as_deref(), Some("WDC WD20EFRX-68EUZN0"));
        assert_eq!(d.family.as_deref(), Some("Western Digital Red"));
        assert_eq!((d.protocol.as_str(), d.dev_type.as_str()), ("ATA", "sat"));
        assert_eq!(d.passed, Some(true));
        assert_eq!(d.rotation_rpm, Some(5400));
        assert_eq!(d.raw(5), Some(0));
        assert!(d.attributes.len() > 10);
        assert!(d.power_on_seconds.is_some() && d.temperature_celsius.is_some());
    }

    /// One odd field or attribute row reads as absent; the disk's other values are kept.
    #[test]
    fn an_odd_field_loses_only_itself() {
        let text = shared_text("smartctl/scrutiny/smart-fail2.json");
        let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
        v["temperature"]["current"] = "25 C".into();
        v["serial_number"] = 42.into();
        let table = v["ata_smart_attributes"]["table"].as_array_mut().unwrap();
        let i = table.iter().position(|a| a["id"] == 197).unwrap();
        table[i]["raw"]["value"] = "eight".into();
        let rows = table.len();
        v["nvme_smart_health_information_log"] =
            serde_json::json!({"media_errors": 3, "data_units_read": 1e30});
        let Report::Data { data: d, .. } = parse_report(&v.to_string(), 216).unwrap() else {
            panic!("data expected")
        };
        assert_eq!((d.temperature_celsius, d.serial.as_deref()), (None, None));
        assert_eq!(d.attributes.len(), rows - 1);
        assert_eq!(
            (d.raw(5), d.raw(197), d.raw(198)),
            (Some(1975), None, Some(0))
        );
        assert_eq!(d.power_on_seconds, Some(65592.0 * 3600.0));
        assert_eq!(d.passed, Some(false));
        let n = d.nvme.unwrap();
        assert_eq!((n.media_errors, n.read_bytes), (Some(3), None));
    }

    #[test]
    fn parses_failing_ata() {
        let text = shared_text("smartctl/scrutiny/smart-fail2.json");
        let Report::Data { exit, data: d } = parse_report(&text, 216).unwrap() else {
            panic!("data expected")
        };
        assert_eq!(exit, 216);
        assert_eq!(d.passed, Some(false));
        assert_eq!(
            (d.raw(5), d.raw(197), d.raw(198)),
            (Some(1975), Some(8), Some(0))
        );
        let realloc = d.attributes.iter().find(|a| a.id == 5).unwrap();
        assert_eq!((realloc.value, realloc.worst, realloc.thresh), (1, 1, 5));
        assert_eq!(d.power_on_seconds, Some(65592.0 * 3600.0));
        assert_eq!(d.temperature_celsius, Some(25.0));
    }

    #[test]
    fn parses_nvme_health_log() {
        let d = data(
            "smartctl/smartctl_exporter/nvme-null-SAMSUNG_MZWLL3T2HAJQ-00005-nvme0.json",
            8,
        );
        let n = d.nvme.unwrap();
        assert_eq!(n.critical_warning, Some(0x10));
        assert_eq!(d.passed, Some(false));
        let t = data("smartctl/telegraf/testcases_device/nvme/response.json", 0);
        let n = t.nvme.unwrap();
        assert_eq!(n.percentage_used_ratio, Some(0.04));
        assert_eq!(n.available_spare_threshold_ratio, Some(0.05));
        assert_eq!(n.written_bytes, Some(76_471_882.0 * 512_000.0));
        assert_eq!(
            (n.error_log_entries, n.unsafe_shutdowns),
            (Some(4871), Some(39))
        );
        assert_eq!(t.power_on_seconds, Some(8733.0 * 3600.0));
    }

    #[test]
    fn parses_scsi() {
        let d = data("smartctl/smartctl_exporter/SEAGATE_ST373453LC_26.json", 0);
        assert_eq!(d.scsi_grown_defects, Some(260));
        assert_eq!(d.scsi_uncorrected, [("read", 1), ("write", 535)]);
        assert_eq!(d.model.as_deref(), Some("SEAGATE ST373453LC"));
        assert_eq!(d.power_on_seconds, Some(102_880.0 * 3600.0 + 59.0 * 60.0));
        let t = data(
            "smartctl/telegraf/testcases_device/scsi_extended/response.json",
            0,
        );
        assert_eq!(
            (t.start_stop_cycles, t.load_cycles),
            (Some(220), Some(1606))
        );
        assert_eq!(t.self_test_passed, Some(true));
    }

    #[test]
    fn parses_open_failures_as_no_data() {
        for rel in [
            "smartctl/scrutiny/smart-fail.json",
            "smartctl/smart-prom-next/nvme_xall_error.json",
        ] {
            let Report::NoData { exit, message } = parse_report(&shared_text(rel), 2).unwrap()
            else {
                panic!("{rel}: no-data expected")
            };
            assert_eq!(exit, 2);
            assert!(message.starts_with("Smartctl open device: "), "{message}");
        }
    }

    #[test]
    fn parses_standby_message() {
        let text = r#"{"smartctl":{"messages":[{"string":"Device is in STANDBY mode, exit(3)","severity":"information"}],"exit_status":3}}"#;
        assert_eq!(
            parse_report(text, 3).unwrap(),
            Report::Standby {
                mode: Some("STANDBY".into())
            }
        );
    }

    #[test]
    fn parses_smr_and_self_test() {
        let d = data("smartctl/lab-qemu/smart_sda.json", 4);
        assert_eq!(d.family.as_deref(), Some("Seagate BarraCuda 3.5 (SMR)"));
        assert_eq!(d.model.as_deref(), Some("ST4000DM004-2CV104"));
        let a = data("smartctl/scrutiny/smart-ata.json", 0);
        assert_eq!(a.self_test_passed, Some(true));
        assert_eq!(a.wwn.as_deref(), Some("0x5000cca264eb01d7"));
    }
}
