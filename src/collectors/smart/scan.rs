//! `smartctl --scan-open --json`: the devices to query, read entry by entry.

use serde::Deserialize;

use super::json::json_error;
use crate::parse::ParseError;

/// One device from `smartctl --scan-open --json`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ScanDevice {
    /// Device node, `/dev/sda`, `/dev/nvme0`, `/dev/bus/0`.
    pub name: String,
    /// The `-d` type smartctl settled on (`sat`, `nvme`, `scsi`, `sat+megaraid,14`).
    #[serde(rename = "type")]
    pub dev_type: String,
    /// `ATA`, `NVMe`, `SCSI`.
    #[serde(default)]
    pub protocol: String,
    /// Set when `--scan-open` could not open the device.
    #[serde(default)]
    pub open_error: Option<String>,
}

#[derive(Deserialize)]
struct ScanFile {
    // entries one by one: one odd entry must not lose every other disk
    #[serde(default)]
    devices: Vec<serde_json::Value>,
}

/// What `smartctl --scan-open --json` listed: the devices that read, and one error per entry
/// that did not (its 0-based index in `devices` in the reason).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Scan {
    /// The entries that read, in smartctl's order.
    pub devices: Vec<ScanDevice>,
    /// One per entry that did not read (no `name`, a `type` that is not a string, …).
    pub skipped: Vec<ParseError>,
}

/// Parses `smartctl --scan-open --json` (or `--scan`). No `devices` key means no devices, as
/// smartctl 7.3 prints on a host without disks. Text that is not a JSON object is an error; an
/// entry that does not read is skipped into [`Scan::skipped`] and the others are kept.
pub fn parse_scan(text: &str) -> Result<Scan, ParseError> {
    let file: ScanFile = serde_json::from_str(text).map_err(|e| json_error("smartctl scan", e))?;
    let mut scan = Scan::default();
    for (i, entry) in file.devices.into_iter().enumerate() {
        let name = entry
            .get("name")
            .and_then(|n| n.as_str())
            .map(str::to_owned);
        match serde_json::from_value::<ScanDevice>(entry) {
            Ok(d) => scan.devices.push(d),
            Err(e) => scan.skipped.push(ParseError::at(
                "smartctl scan",
                1,
                match name {
                    Some(n) => format!("devices[{i}] ({n}): {e}"),
                    None => format!("devices[{i}]: {e}"),
                },
            )),
        }
    }
    Ok(scan)
}
