//! PCI devices under `sys/bus/pci/devices`, named from the `pci.ids` database when the root has
//! one (`usr/share/misc/pci.ids`, `usr/share/hwdata/pci.ids`), else by their IDs.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};

use crate::host::root::Root;

/// Where PCI devices live.
pub const DEVICES: &str = "sys/bus/pci/devices";

/// Where distributions install pci.ids, first match wins.
pub const PCI_IDS: [&str; 3] = [
    "usr/share/misc/pci.ids",
    "usr/share/hwdata/pci.ids",
    "usr/share/pci.ids",
];

/// One PCI function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// Address (`0000:01:00.0`), the directory name.
    pub address: String,
    /// Vendor ID.
    pub vendor: u16,
    /// Device ID.
    pub device: u16,
    /// Class code (24 bits: base class, subclass, prog-if).
    pub class: u32,
    /// `Vendor Device` from pci.ids, else `vvvv:dddd`.
    pub name: String,
}

impl Device {
    /// `0000:01:00.0 Intel Corporation Ethernet Controller I226-V [8086:125c]`.
    pub fn label(&self) -> String {
        let ids = format!("{:04x}:{:04x}", self.vendor, self.device);
        if self.name == ids {
            format!("{} [{ids}]", self.address)
        } else {
            format!("{} {} [{ids}]", self.address, self.name)
        }
    }

    /// Root-relative directory of this device.
    pub fn dir(&self) -> String {
        format!("{DEVICES}/{}", self.address)
    }

    /// Base class 0x03: display controller (GPU).
    pub fn is_display(&self) -> bool {
        self.class >> 16 == 0x03
    }
}

/// Parses a sysfs hex attribute (`0x8086`).
pub fn parse_hex(text: &str) -> Option<u32> {
    u32::from_str_radix(text.trim().trim_start_matches("0x"), 16).ok()
}

/// Every PCI function under the root, sorted by address. A device whose IDs cannot be read is
/// skipped alone.
pub fn devices(root: &Root) -> Vec<Device> {
    let mut out = Vec::new();
    for address in root.list(DEVICES).unwrap_or_default() {
        let hex = |attr: &str| {
            root.read_trimmed(format!("{DEVICES}/{address}/{attr}"))
                .ok()
                .and_then(|t| parse_hex(&t))
        };
        let (Some(vendor), Some(device)) = (hex("vendor"), hex("device")) else {
            continue;
        };
        let class = hex("class").unwrap_or(0);
        out.push(Device {
            address,
            vendor: vendor as u16,
            device: device as u16,
            class,
            name: String::new(),
        });
    }
    let wanted: Vec<(u16, u16)> = out.iter().map(|d| (d.vendor, d.device)).collect();
    let names = PCI_IDS
        .iter()
        .find_map(|rel| std::fs::File::open(root.path(rel)).ok())
        .map(|f| names_from(BufReader::new(f), &wanted))
        .unwrap_or_default();
    for d in &mut out {
        d.name = names
            .get(&(d.vendor, d.device))
            .cloned()
            .unwrap_or_else(|| format!("{:04x}:{:04x}", d.vendor, d.device));
    }
    out
}

/// `Vendor Device` names for `wanted` from a pci.ids stream: vendor lines start at column 0
/// (`8086  Intel Corporation`), device lines with one tab; the class section (`C ...`) ends it.
pub fn names_from(reader: impl BufRead, wanted: &[(u16, u16)]) -> BTreeMap<(u16, u16), String> {
    let mut out = BTreeMap::new();
    let mut vendor: Option<(u16, String)> = None;
    for line in reader.lines().map_while(Result::ok) {
        if line.starts_with('#') || line.is_empty() || line.starts_with("\t\t") {
            continue;
        }
        if line.starts_with("C ") {
            break;
        }
        let split = |s: &str| -> Option<(u16, String)> {
            let (id, name) = s.split_once("  ")?;
            Some((u16::from_str_radix(id, 16).ok()?, name.trim().to_owned()))
        };
        if let Some(rest) = line.strip_prefix('\t') {
            let (Some((v, vname)), Some((d, dname))) = (&vendor, split(rest)) else {
                continue;
            };
            if wanted.contains(&(*v, d)) {
                out.insert((*v, d), format!("{vname} {dname}"));
            }
        } else {
            vendor = split(&line);
        }
    }
    out
}
