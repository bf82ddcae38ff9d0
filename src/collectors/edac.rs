//! EDAC: corrected and uncorrected memory errors, whether ECC error reporting works at all, and
//! whether the firmware says the RAM is ECC.
//!
//! Reads, through `Root`:
//! - `sys/devices/system/edac/mc/mc*/{mc_name,size_mb,ce_count,ue_count,ce_noinfo_count,ue_noinfo_count}`;
//! - the legacy per-chip-select layout `mc*/csrow*/{ce_count,ue_count,chN_ce_count,chN_ue_count,chN_dimm_label}`;
//! - the newer per-DIMM layout `mc*/{dimm*,rank*}/{dimm_ce_count,dimm_ue_count,dimm_label,dimm_location,
//!   dimm_mem_type,dimm_edac_mode,size}` (`rank*` when the driver works per chip select, e.g. amd64_edac);
//! - `sys/firmware/dmi/entries/16-*/raw`: SMBIOS type 16 (Physical Memory Array), whose byte 0x06 is the
//!   firmware's "Memory Error Correction" (DSP0134 §7.17). Parsed by `parse_memory_array`.
//!
//! Sizes are MiB in sysfs and bytes here. Counts are the kernel's since the driver loaded (or since
//! someone wrote `reset_counters`), so they are counters that may reset. See
//! Documentation/admin-guide/ras.rst and Documentation/ABI/testing/sysfs-devices-edac.
//!
//! Quirks: on consumer boards ECC often "works" (the DIMMs are ECC, the firmware says so) while no
//! EDAC driver binds, so errors are corrected silently and never reported. A missing `edac/mc` dir is
//! therefore a finding, not an absent source: `hostwatt_edac_reporting_active 0`, together with
//! `hostwatt_memory_ecc_present 1` from DMI, is the "ECC RAM present but reporting inactive" alert.
//! The DMI `raw` files are root-only: EACCES there gives `hostwatt_memory_dmi_readable 0`, not a fault.
//! Firmware tables do not change while running, so a complete DMI read is cached.

use std::io;
use std::time::{Duration, Instant};

use super::attrs::{Attrs, group_indexed, is_numbered, split_indexed};
use super::{CollectError, Collector, Context, Fault, Sample};
use crate::host::root::{ReadError, Root};
use crate::metrics::{Families, Family, Render};
use crate::parse::{ParseError, parse_u64};

const MC_BASE: &str = "sys/devices/system/edac/mc";
const DMI_BASE: &str = "sys/firmware/dmi/entries";

const HINT: &str = "EDAC sysfs files are normally world-readable; check the mount options of /sys";

/// `[collectors.edac]`: `enabled`, and `interval` (default 60s). Sampling interval; memory error
/// counts move rarely.
pub type Config = crate::config::Basic<crate::config::Every60s>;

const REPORTING_ACTIVE: Family = Family::gauge(
    "hostwatt_edac_reporting_active",
    "1 if at least one EDAC memory controller is registered, so memory errors are reported; 0 if none is (ECC errors, if any, go unreported)",
    &[],
);
const MC_INFO: Family = Family::gauge(
    "hostwatt_edac_controller_info",
    "Always 1; labels name an EDAC memory controller and its driver's mc_name",
    &["controller", "name"],
);
const MC_SIZE: Family = Family::gauge(
    "hostwatt_edac_controller_size_bytes",
    "Memory managed by the controller (size_mb, MiB converted to bytes)",
    &["controller"],
);
const MC_CE: Family = Family::counter(
    "hostwatt_edac_correctable_errors_total",
    "Corrected memory errors reported by the controller (ce_count)",
    &["controller"],
);
const MC_UE: Family = Family::counter(
    "hostwatt_edac_uncorrectable_errors_total",
    "Uncorrected memory errors reported by the controller (ue_count)",
    &["controller"],
);
const MC_CE_NOINFO: Family = Family::counter(
    "hostwatt_edac_correctable_noinfo_errors_total",
    "Corrected memory errors the controller could not attribute to a chip select or DIMM (ce_noinfo_count)",
    &["controller"],
);
const MC_UE_NOINFO: Family = Family::counter(
    "hostwatt_edac_uncorrectable_noinfo_errors_total",
    "Uncorrected memory errors the controller could not attribute to a chip select or DIMM (ue_noinfo_count)",
    &["controller"],
);
const CSROW_CE: Family = Family::counter(
    "hostwatt_edac_csrow_correctable_errors_total",
    "Corrected memory errors of a chip-select row (csrow*/ce_count)",
    &["controller", "csrow"],
);
const CSROW_UE: Family = Family::counter(
    "hostwatt_edac_csrow_uncorrectable_errors_total",
    "Uncorrected memory errors of a chip-select row (csrow*/ue_count)",
    &["controller", "csrow"],
);
const CHANNEL_CE: Family = Family::counter(
    "hostwatt_edac_channel_correctable_errors_total",
    "Corrected memory errors of one channel of a chip-select row (csrow*/chN_ce_count)",
    &["controller", "csrow", "channel"],
);
const CHANNEL_UE: Family = Family::counter(
    "hostwatt_edac_channel_uncorrectable_errors_total",
    "Uncorrected memory errors of one channel of a chip-select row (csrow*/chN_ue_count)",
    &["controller", "csrow", "channel"],
);
const CHANNEL_INFO: Family = Family::gauge(
    "hostwatt_edac_channel_info",
    "Always 1; label is the DIMM label of a chip-select row's channel (chN_dimm_label)",
    &["controller", "csrow", "channel", "label"],
);
const DIMM_CE: Family = Family::counter(
    "hostwatt_edac_dimm_correctable_errors_total",
    "Corrected memory errors of one DIMM or rank (dimm*/dimm_ce_count, rank*/dimm_ce_count)",
    &["controller", "dimm"],
);
const DIMM_UE: Family = Family::counter(
    "hostwatt_edac_dimm_uncorrectable_errors_total",
    "Uncorrected memory errors of one DIMM or rank (dimm*/dimm_ue_count, rank*/dimm_ue_count)",
    &["controller", "dimm"],
);
const DIMM_INFO: Family = Family::gauge(
    "hostwatt_edac_dimm_info",
    "Always 1; labels describe a DIMM or rank (dimm_label, dimm_location, dimm_mem_type, dimm_edac_mode)",
    &[
        "controller",
        "dimm",
        "label",
        "location",
        "mem_type",
        "edac_mode",
    ],
);
const DIMM_SIZE: Family = Family::gauge(
    "hostwatt_edac_dimm_size_bytes",
    "Size of a DIMM or rank (size, MiB converted to bytes)",
    &["controller", "dimm"],
);
const ECC_TYPE: Family = Family::gauge(
    "hostwatt_memory_ecc_type",
    "State set: the error correction the firmware declares for a physical memory array (SMBIOS type 16, byte 0x06)",
    &["array", "state"],
);
const ARRAY_INFO: Family = Family::gauge(
    "hostwatt_memory_array_info",
    "Always 1; labels give the DMI entry of a physical memory array and its use (system-memory, video-memory, ...)",
    &["array", "use"],
);
const ECC_PRESENT: Family = Family::gauge(
    "hostwatt_memory_ecc_present",
    "1 if the firmware declares single-bit, multi-bit or CRC error correction for system memory, 0 if none or parity only; absent when unknown",
    &[],
);
const DMI_READABLE: Family = Family::gauge(
    "hostwatt_memory_dmi_readable",
    "1 if the SMBIOS memory array entries could be read; 0 when they are root-only and hostwatt is not root",
    &[],
);

/// Bytes per MiB: EDAC's `size_mb` and `size` are MiB.
const MIB: f64 = 1024.0 * 1024.0;

/// "Memory Error Correction" of an SMBIOS physical memory array (DSP0134 §7.17.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ecc {
    /// 0x01.
    Other,
    /// 0x02.
    Unknown,
    /// 0x03: no error correction or detection.
    None,
    /// 0x04: detection only.
    Parity,
    /// 0x05.
    SingleBitEcc,
    /// 0x06.
    MultiBitEcc,
    /// 0x07.
    Crc,
    /// A value the spec reserves; kept so the state set shows no known state.
    Reserved(u8),
}

impl Ecc {
    /// Every defined state, in state-set order.
    pub const STATES: [Ecc; 7] = [
        Ecc::Other,
        Ecc::Unknown,
        Ecc::None,
        Ecc::Parity,
        Ecc::SingleBitEcc,
        Ecc::MultiBitEcc,
        Ecc::Crc,
    ];

    fn from_byte(b: u8) -> Self {
        match b {
            0x01 => Self::Other,
            0x02 => Self::Unknown,
            0x03 => Self::None,
            0x04 => Self::Parity,
            0x05 => Self::SingleBitEcc,
            0x06 => Self::MultiBitEcc,
            0x07 => Self::Crc,
            other => Self::Reserved(other),
        }
    }

    /// The `state` label value, e.g. `multi-bit-ecc`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Other => "other",
            Self::Unknown => "unknown",
            Self::None => "none",
            Self::Parity => "parity",
            Self::SingleBitEcc => "single-bit-ecc",
            Self::MultiBitEcc => "multi-bit-ecc",
            Self::Crc => "crc",
            Self::Reserved(_) => "reserved",
        }
    }

    /// Whether this corrects errors: `None` when the firmware does not say.
    pub fn corrects(self) -> Option<bool> {
        match self {
            Self::SingleBitEcc | Self::MultiBitEcc | Self::Crc => Some(true),
            Self::None | Self::Parity => Some(false),
            Self::Other | Self::Unknown | Self::Reserved(_) => None,
        }
    }
}

/// One SMBIOS type 16 structure: the fields hostwatt uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryArray {
    /// "Use" (byte 0x05): `system-memory`, `video-memory`, ...
    pub use_: &'static str,
    /// "Memory Error Correction" (byte 0x06).
    pub ecc: Ecc,
    /// "Number of Memory Devices" (word at 0x0D), slots populated or not; SMBIOS ≥ 2.1.
    pub slots: Option<u16>,
}

fn array_use(b: u8) -> &'static str {
    match b {
        0x01 => "other",
        0x02 => "unknown",
        0x03 => "system-memory",
        0x04 => "video-memory",
        0x05 => "flash-memory",
        0x06 => "non-volatile-ram",
        0x07 => "cache-memory",
        _ => "reserved",
    }
}

/// Parses the bytes of `sys/firmware/dmi/entries/16-N/raw`: one SMBIOS structure as the firmware
/// laid it out (DSP0134 §7.17), formatted area then string set.
///
/// | offset | size  | field |
/// |--------|-------|-------|
/// | 0x00   | BYTE  | type, 16 |
/// | 0x01   | BYTE  | length of the formatted area: 0x0F (SMBIOS 2.1), 0x17 (2.7, adds extended capacity) |
/// | 0x02   | WORD  | handle |
/// | 0x04   | BYTE  | location (0x03 system board, ...) |
/// | 0x05   | BYTE  | use (0x03 system memory, 0x04 video, 0x05 flash, 0x06 NVRAM, 0x07 cache) |
/// | 0x06   | BYTE  | memory error correction (0x01 other, 0x02 unknown, 0x03 none, 0x04 parity, 0x05 single-bit ECC, 0x06 multi-bit ECC, 0x07 CRC) |
/// | 0x07   | DWORD | maximum capacity, KiB (0x8000_0000: see the extended field) |
/// | 0x0B   | WORD  | memory error information handle |
/// | 0x0D   | WORD  | number of memory devices (slots), little-endian |
/// | 0x0F   | QWORD | extended maximum capacity, bytes (2.7+) |
///
/// Errors name the byte offset; a structure of another type or one too short to hold byte 0x06 is
/// rejected rather than guessed at.
pub fn parse_memory_array(raw: &[u8]) -> Result<MemoryArray, ParseError> {
    let bad = |reason: String| ParseError::at("SMBIOS type 16", 1, reason);
    let [kind, length, ..] = raw[..] else {
        return Err(bad(format!(
            "{} bytes, shorter than a structure header",
            raw.len()
        )));
    };
    if kind != 16 {
        return Err(bad(format!("byte 0x00: type {kind}, expected 16")));
    }
    let length = usize::from(length);
    if length < 0x07 {
        return Err(bad(format!(
            "byte 0x01: length {length:#04x} leaves no room for error correction at 0x06"
        )));
    }
    if raw.len() < length {
        return Err(bad(format!(
            "byte 0x01: length {length:#04x} but only {} bytes",
            raw.len()
        )));
    }
    let slots = (length >= 0x0F).then(|| u16::from_le_bytes([raw[0x0D], raw[0x0E]]));
    Ok(MemoryArray {
        use_: array_use(raw[0x05]),
        ecc: Ecc::from_byte(raw[0x06]),
        slots,
    })
}

/// What a channel file of a csrow holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelAttr {
    /// `chN_ce_count`.
    Ce,
    /// `chN_ue_count`.
    Ue,
    /// `chN_dimm_label`.
    Label,
}

/// Splits a csrow entry name such as `ch1_ue_count` into (1, `Ue`); `None` for other entries.
pub fn parse_channel_attr(name: &str) -> Option<(u32, ChannelAttr)> {
    let (n, attr) = split_indexed(name, "ch")?;
    let attr = match attr {
        "ce_count" => ChannelAttr::Ce,
        "ue_count" => ChannelAttr::Ue,
        "dimm_label" => ChannelAttr::Label,
        _ => return None,
    };
    Some((n, attr))
}

/// One channel of a csrow.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Channel {
    /// Channel number (`N` of `chN_*`).
    pub index: u32,
    /// `chN_ce_count`.
    pub ce: Option<u64>,
    /// `chN_ue_count`.
    pub ue: Option<u64>,
    /// `chN_dimm_label`.
    pub label: Option<String>,
}

/// One chip-select row (legacy layout).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Csrow {
    /// Directory name, `csrow0`.
    pub id: String,
    /// `ce_count`.
    pub ce: Option<u64>,
    /// `ue_count`.
    pub ue: Option<u64>,
    /// Channels that have any `chN_*` file, by number.
    pub channels: Vec<Channel>,
}

/// One DIMM or rank (newer layout).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dimm {
    /// Directory name, `dimm0` or `rank0`.
    pub id: String,
    /// `dimm_ce_count`.
    pub ce: Option<u64>,
    /// `dimm_ue_count`.
    pub ue: Option<u64>,
    /// `dimm_label`.
    pub label: Option<String>,
    /// `dimm_location`, e.g. `channel 0 slot 0`.
    pub location: Option<String>,
    /// `dimm_mem_type`, e.g. `Unbuffered-DDR4`.
    pub mem_type: Option<String>,
    /// `dimm_edac_mode`, e.g. `SECDED`.
    pub edac_mode: Option<String>,
    /// `size`, MiB.
    pub size_mb: Option<u64>,
}

/// One memory controller.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Controller {
    /// Directory name, `mc0`.
    pub id: String,
    /// `mc_name`, the driver's name for it.
    pub name: Option<String>,
    /// `size_mb`.
    pub size_mb: Option<u64>,
    /// `ce_count`.
    pub ce: Option<u64>,
    /// `ue_count`.
    pub ue: Option<u64>,
    /// `ce_noinfo_count`.
    pub ce_noinfo: Option<u64>,
    /// `ue_noinfo_count`.
    pub ue_noinfo: Option<u64>,
    /// Legacy `csrow*` directories.
    pub csrows: Vec<Csrow>,
    /// Newer `dimm*`/`rank*` directories.
    pub dimms: Vec<Dimm>,
}

/// The DMI side: the firmware's memory arrays.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dmi {
    /// Arrays read and parsed, by DMI entry name (`16-0`).
    pub arrays: Vec<(String, MemoryArray)>,
    /// `Some(false)` when a type 16 entry exists but is root-only; `None` when there is none.
    pub readable: Option<bool>,
}

impl Dmi {
    /// Whether the firmware declares correcting memory: system-memory arrays decide when there are
    /// any (a flash array is never ECC), else every array; any correcting array wins.
    pub fn ecc_present(&self) -> Option<bool> {
        let system: Vec<_> = self
            .arrays
            .iter()
            .filter(|(_, a)| a.use_ == "system-memory")
            .collect();
        let arrays: Vec<_> = if system.is_empty() {
            self.arrays.iter().collect()
        } else {
            system
        };
        let votes: Vec<bool> = arrays
            .iter()
            .filter_map(|(_, a)| a.ecc.corrects())
            .collect();
        if votes.is_empty() {
            None
        } else {
            Some(votes.contains(&true))
        }
    }
}

/// What an EDAC round publishes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Registered memory controllers; empty means reporting is inactive.
    pub controllers: Vec<Controller>,
    /// Firmware memory arrays.
    pub dmi: Dmi,
}

/// One walk of the EDAC tree.
struct Walk<'a> {
    attrs: Attrs<'a>,
}

impl Walk<'_> {
    fn text(&mut self, rel: &str, item: &str) -> Option<String> {
        self.attrs.text(rel, item)
    }

    fn count(&mut self, rel: &str, item: &str) -> Option<u64> {
        self.attrs.value(rel, item, |t| parse_u64("edac count", t))
    }

    fn controller(&mut self, id: &str) -> Controller {
        let dir = format!("{MC_BASE}/{id}");
        let Some(entries) = self.attrs.list(&dir, id) else {
            // still registered, so still counts toward reporting being active
            return Controller {
                id: id.to_owned(),
                ..Controller::default()
            };
        };
        let mut mc = Controller {
            id: id.to_owned(),
            name: self.text(&format!("{dir}/mc_name"), id),
            size_mb: self.count(&format!("{dir}/size_mb"), id),
            ce: self.count(&format!("{dir}/ce_count"), id),
            ue: self.count(&format!("{dir}/ue_count"), id),
            ce_noinfo: self.count(&format!("{dir}/ce_noinfo_count"), id),
            ue_noinfo: self.count(&format!("{dir}/ue_noinfo_count"), id),
            ..Controller::default()
        };
        for entry in entries {
            if is_numbered(&entry, "csrow") {
                let csrow = self.csrow(&dir, &format!("{id}/{entry}"), entry);
                mc.csrows.push(csrow);
            } else if is_numbered(&entry, "dimm") || is_numbered(&entry, "rank") {
                let dimm = self.dimm(&dir, &format!("{id}/{entry}"), entry);
                mc.dimms.push(dimm);
            }
        }
        mc
    }

    fn csrow(&mut self, mc_dir: &str, item: &str, id: String) -> Csrow {
        let dir = format!("{mc_dir}/{id}");
        let Some(entries) = self.attrs.list(&dir, item) else {
            return Csrow {
                id,
                ..Csrow::default()
            };
        };
        let mut csrow = Csrow {
            ce: self.count(&format!("{dir}/ce_count"), item),
            ue: self.count(&format!("{dir}/ue_count"), item),
            id,
            channels: Vec::new(),
        };
        for (index, files) in group_indexed(entries, parse_channel_attr) {
            let mut ch = Channel {
                index,
                ..Channel::default()
            };
            for (attr, name) in files {
                let rel = format!("{dir}/{name}");
                match attr {
                    ChannelAttr::Ce => ch.ce = self.count(&rel, item),
                    ChannelAttr::Ue => ch.ue = self.count(&rel, item),
                    ChannelAttr::Label => ch.label = self.text(&rel, item),
                }
            }
            csrow.channels.push(ch);
        }
        csrow
    }

    fn dimm(&mut self, mc_dir: &str, item: &str, id: String) -> Dimm {
        let dir = format!("{mc_dir}/{id}");
        Dimm {
            ce: self.count(&format!("{dir}/dimm_ce_count"), item),
            ue: self.count(&format!("{dir}/dimm_ue_count"), item),
            label: self.text(&format!("{dir}/dimm_label"), item),
            location: self.text(&format!("{dir}/dimm_location"), item),
            mem_type: self.text(&format!("{dir}/dimm_mem_type"), item),
            edac_mode: self.text(&format!("{dir}/dimm_edac_mode"), item),
            size_mb: self.count(&format!("{dir}/size"), item),
            id,
        }
    }
}

/// Reads every memory controller. No `edac/mc` directory is an empty list (reporting inactive),
/// never `Unavailable`: on a host with ECC RAM that absence is the finding.
fn read_controllers(root: &Root) -> Result<(Vec<Controller>, Vec<Fault>), CollectError> {
    let entries = match root.list(MC_BASE) {
        Ok(v) => v,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((Vec::new(), Vec::new())),
        Err(e) => return Err(CollectError::from_read(e, HINT)),
    };
    let mut walk = Walk {
        attrs: Attrs::new(root, HINT),
    };
    let controllers = entries
        .iter()
        .filter(|e| is_numbered(e, "mc"))
        .map(|id| walk.controller(id))
        .collect();
    Ok((controllers, walk.attrs.faults))
}

/// Folds one type 16 entry's read into `dmi`. EACCES (root-only `raw`) marks the DMI unreadable
/// and is not a fault; other failures are.
fn fold_dmi_entry(
    dmi: &mut Dmi,
    faults: &mut Vec<Fault>,
    entry: &str,
    read: Result<Vec<u8>, ReadError>,
) {
    let rel = format!("{DMI_BASE}/{entry}/raw");
    let bytes = match read {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            dmi.readable = Some(false);
            return;
        }
        Err(e) => {
            faults.push(Fault {
                item: format!("dmi/{entry}"),
                error: CollectError::Read(e),
            });
            return;
        }
    };
    dmi.readable.get_or_insert(true);
    match parse_memory_array(&bytes) {
        Ok(a) => dmi.arrays.push((entry.to_owned(), a)),
        Err(e) => faults.push(Fault {
            item: format!("dmi/{entry}"),
            error: CollectError::parse(rel, e),
        }),
    }
}

/// Reads every SMBIOS type 16 entry. No DMI tables (most ARM boards, some VMs) is an empty `Dmi`.
fn read_dmi(root: &Root) -> (Dmi, Vec<Fault>) {
    let mut dmi = Dmi::default();
    let mut faults = Vec::new();
    let entries = match root.list(DMI_BASE) {
        Ok(v) => v,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return (dmi, faults),
        Err(e) => {
            faults.push(Fault {
                item: "dmi".to_owned(),
                error: CollectError::from_read(e, HINT),
            });
            return (dmi, faults);
        }
    };
    for entry in entries.iter().filter(|e| e.starts_with("16-")) {
        let read = root.read_bytes(format!("{DMI_BASE}/{entry}/raw"));
        fold_dmi_entry(&mut dmi, &mut faults, entry, read);
    }
    (dmi, faults)
}

impl Render for Snapshot {
    const FAMILIES: &'static [&'static Family] = &[
        &REPORTING_ACTIVE,
        &MC_INFO,
        &MC_SIZE,
        &MC_CE,
        &MC_UE,
        &MC_CE_NOINFO,
        &MC_UE_NOINFO,
        &CSROW_CE,
        &CSROW_UE,
        &CHANNEL_CE,
        &CHANNEL_UE,
        &CHANNEL_INFO,
        &DIMM_CE,
        &DIMM_UE,
        &DIMM_INFO,
        &DIMM_SIZE,
        &ECC_TYPE,
        &ARRAY_INFO,
        &ECC_PRESENT,
        &DMI_READABLE,
    ];

    fn render(&self, out: &mut Families) {
        out.push_bool(&REPORTING_ACTIVE, &[], !self.controllers.is_empty());
        for mc in &self.controllers {
            let id = mc.id.as_str();
            out.push(&MC_INFO, &[id, mc.name.as_deref().unwrap_or("")], 1.0);
            let per_mc = [
                (&MC_CE, mc.ce),
                (&MC_UE, mc.ue),
                (&MC_CE_NOINFO, mc.ce_noinfo),
                (&MC_UE_NOINFO, mc.ue_noinfo),
            ];
            for (family, v) in per_mc {
                if let Some(v) = v {
                    out.push(family, &[id], v as f64);
                }
            }
            if let Some(mb) = mc.size_mb {
                out.push(&MC_SIZE, &[id], mb as f64 * MIB);
            }
            for row in &mc.csrows {
                let labels = [id, row.id.as_str()];
                if let Some(v) = row.ce {
                    out.push(&CSROW_CE, &labels, v as f64);
                }
                if let Some(v) = row.ue {
                    out.push(&CSROW_UE, &labels, v as f64);
                }
                for ch in &row.channels {
                    let channel = format!("ch{}", ch.index);
                    let labels = [id, row.id.as_str(), channel.as_str()];
                    if let Some(v) = ch.ce {
                        out.push(&CHANNEL_CE, &labels, v as f64);
                    }
                    if let Some(v) = ch.ue {
                        out.push(&CHANNEL_UE, &labels, v as f64);
                    }
                    if let Some(label) = &ch.label {
                        out.push(&CHANNEL_INFO, &[id, &row.id, &channel, label], 1.0);
                    }
                }
            }
            for d in &mc.dimms {
                let labels = [id, d.id.as_str()];
                if let Some(v) = d.ce {
                    out.push(&DIMM_CE, &labels, v as f64);
                }
                if let Some(v) = d.ue {
                    out.push(&DIMM_UE, &labels, v as f64);
                }
                if let Some(mb) = d.size_mb {
                    out.push(&DIMM_SIZE, &labels, mb as f64 * MIB);
                }
                let text = |v: &Option<String>| v.clone().unwrap_or_default();
                let info = [
                    id.to_owned(),
                    d.id.clone(),
                    text(&d.label),
                    text(&d.location),
                    text(&d.mem_type),
                    text(&d.edac_mode),
                ];
                let info: Vec<&str> = info.iter().map(String::as_str).collect();
                out.push(&DIMM_INFO, &info, 1.0);
            }
        }
        for (entry, array) in &self.dmi.arrays {
            out.push(&ARRAY_INFO, &[entry, array.use_], 1.0);
            for state in Ecc::STATES {
                out.push_bool(&ECC_TYPE, &[entry, state.name()], array.ecc == state);
            }
        }
        if let Some(present) = self.dmi.ecc_present() {
            out.push_bool(&ECC_PRESENT, &[], present);
        }
        if let Some(readable) = self.dmi.readable {
            out.push_bool(&DMI_READABLE, &[], readable);
        }
    }
}

/// The EDAC collector; caches the DMI tables once fully read.
#[derive(Debug)]
pub struct Edac {
    cfg: Config,
    dmi: Option<Dmi>,
}

impl Edac {
    /// A collector with `cfg`.
    pub fn new(cfg: Config) -> Self {
        Self { cfg, dmi: None }
    }

    fn round(&mut self, root: &Root) -> Result<Sample<Snapshot>, CollectError> {
        let (controllers, mut faults) = read_controllers(root)?;
        let dmi = match &self.dmi {
            Some(cached) => cached.clone(),
            None => {
                let (dmi, dmi_faults) = read_dmi(root);
                // only a complete, readable read is final; EACCES or EIO may change with a restart
                // under other privileges or a transient error, so those are retried next round
                if dmi_faults.is_empty() && dmi.readable != Some(false) {
                    self.dmi = Some(dmi.clone());
                }
                faults.extend(dmi_faults);
                dmi
            }
        };
        Ok(Sample {
            snapshot: Snapshot { controllers, dmi },
            faults,
        })
    }
}

impl Collector for Edac {
    type Snapshot = Snapshot;
    const NAME: &'static str = "edac";

    fn interval(&self) -> Duration {
        self.cfg.interval.0
    }

    async fn sample(
        &mut self,
        cx: &Context,
        _at: Instant,
    ) -> Result<Sample<Snapshot>, CollectError> {
        self.round(&cx.root)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::render_series as render;

    /// An SMBIOS 2.7 type 16 structure (length 0x17): system board, system memory, `ecc`, 32 GiB
    /// max, no error info handle (0xFFFE), 2 slots, extended capacity 0, empty string set.
    fn type16(ecc: u8) -> Vec<u8> {
        vec![
            0x10, 0x17, 0x26, 0x00, // type 16, length 0x17, handle 0x0026
            0x03, 0x03, ecc, // location system board, use system memory, error correction
            0x00, 0x00, 0x00, 0x02, // max capacity 0x0200_0000 KiB = 32 GiB
            0xFE, 0xFF, // no error information handle
            0x02, 0x00, // 2 memory devices
            0, 0, 0, 0, 0, 0, 0, 0, // extended max capacity (unused)
            0x00, 0x00, // string set: none
        ]
    }

    #[test]
    fn parses_smbios_type16_error_correction() {
        let a = parse_memory_array(&type16(0x06)).unwrap();
        assert_eq!(
            a,
            MemoryArray {
                use_: "system-memory",
                ecc: Ecc::MultiBitEcc,
                slots: Some(2)
            }
        );
        let expect = [
            (0x03, Ecc::None, Some(false)),
            (0x04, Ecc::Parity, Some(false)),
            (0x05, Ecc::SingleBitEcc, Some(true)),
            (0x07, Ecc::Crc, Some(true)),
            (0x01, Ecc::Other, None),
            (0x02, Ecc::Unknown, None),
            (0x09, Ecc::Reserved(9), None),
        ];
        for (byte, ecc, corrects) in expect {
            let a = parse_memory_array(&type16(byte)).unwrap();
            assert_eq!((a.ecc, a.ecc.corrects()), (ecc, corrects), "byte {byte:#x}");
        }
        // SMBIOS 2.0 structure, length 0x0F minus the slot word: 0x0D is too short for slots
        let mut short = type16(0x05);
        short[1] = 0x0D;
        assert_eq!(parse_memory_array(&short).unwrap().slots, None);
    }

    #[test]
    fn rejects_malformed_smbios_structures() {
        let err = |raw: &[u8]| parse_memory_array(raw).unwrap_err().to_string();
        assert_eq!(
            err(&[]),
            "SMBIOS type 16, line 1: 0 bytes, shorter than a structure header"
        );
        let mut t17 = type16(0x06);
        t17[0] = 17;
        assert_eq!(
            err(&t17),
            "SMBIOS type 16, line 1: byte 0x00: type 17, expected 16"
        );
        assert_eq!(
            err(&[0x10, 0x06, 0, 0, 3, 3]),
            "SMBIOS type 16, line 1: byte 0x01: length 0x06 leaves no room for error correction at 0x06"
        );
        assert_eq!(
            err(&type16(0x06)[..10]),
            "SMBIOS type 16, line 1: byte 0x01: length 0x17 but only 10 bytes"
        );
    }

    #[test]
    fn splits_channel_attribute_names() {
        assert_eq!(
            parse_channel_attr("ch0_ce_count"),
            Some((0, ChannelAttr::Ce))
        );
        assert_eq!(
            parse_channel_attr("ch12_ue_count"),
            Some((12, ChannelAttr::Ue))
        );
        assert_eq!(
            parse_channel_attr("ch1_dimm_label"),
            Some((1, ChannelAttr::Label))
        );
        for other in [
            "ce_count",
            "ch_ce_count",
            "chx_ce_count",
            "ch0_size",
            "",
            "ch0",
        ] {
            assert_eq!(parse_channel_attr(other), None, "{other}");
        }
    }

    #[test]
    fn reads_the_captured_csrow_tree() {
        let root = crate::testutil::shared_root("sysfs/node_exporter");
        let (mcs, faults) = read_controllers(&root).unwrap();
        assert!(faults.is_empty(), "{faults:?}");
        assert_eq!(mcs.len(), 1);
        let mc = &mcs[0];
        assert_eq!(
            (
                mc.id.as_str(),
                mc.name.as_deref(),
                mc.size_mb,
                mc.ce,
                mc.ue,
                mc.ce_noinfo,
                mc.ue_noinfo
            ),
            ("mc0", None, None, Some(1), Some(5), Some(2), Some(6))
        );
        assert!(mc.dimms.is_empty());
        let rows: Vec<_> = mc
            .csrows
            .iter()
            .map(|r| (r.id.as_str(), r.ce, r.ue))
            .collect();
        assert_eq!(
            rows,
            [
                ("csrow0", Some(3), Some(4)),
                ("csrow1", Some(0), Some(4)),
                ("csrow2", Some(0), Some(5))
            ]
        );
        let ch = |r: usize, c: usize| {
            let ch = &mc.csrows[r].channels[c];
            (ch.index, ch.ce, ch.ue, ch.label.clone().unwrap())
        };
        assert_eq!(ch(0, 1), (1, Some(0), Some(2), "mc0csrow0channel1".into()));
        // csrow2 has no chN_ue_count files upstream: unknown, not 0
        assert_eq!(ch(2, 0), (0, Some(0), None, "mc0csrow2channel0".into()));
        assert_eq!(mc.csrows[2].channels.len(), 2);
    }

    #[test]
    fn renders_the_captured_tree_exactly() {
        let root = crate::testutil::shared_root("sysfs/node_exporter");
        let sample = Edac::new(Config::default()).round(&root).unwrap();
        let lines = render(&sample.snapshot);
        let text = lines.join("\n");
        let expect = [
            "hostwatt_edac_channel_correctable_errors_total{controller=\"mc0\",csrow=\"csrow0\",channel=\"ch0\"} 0",
            "hostwatt_edac_channel_uncorrectable_errors_total{controller=\"mc0\",csrow=\"csrow1\",channel=\"ch1\"} 2",
            "hostwatt_edac_channel_info{controller=\"mc0\",csrow=\"csrow2\",channel=\"ch1\",label=\"mc0csrow2channel1\"} 1",
            "hostwatt_edac_controller_info{controller=\"mc0\",name=\"\"} 1",
            "hostwatt_edac_correctable_errors_total{controller=\"mc0\"} 1",
            "hostwatt_edac_correctable_noinfo_errors_total{controller=\"mc0\"} 2",
            "hostwatt_edac_csrow_correctable_errors_total{controller=\"mc0\",csrow=\"csrow0\"} 3",
            "hostwatt_edac_csrow_uncorrectable_errors_total{controller=\"mc0\",csrow=\"csrow2\"} 5",
            "hostwatt_edac_reporting_active 1",
            "hostwatt_edac_uncorrectable_errors_total{controller=\"mc0\"} 5",
            "hostwatt_edac_uncorrectable_noinfo_errors_total{controller=\"mc0\"} 6",
        ];
        for l in expect {
            assert!(lines.iter().any(|x| x == l), "missing {l} in\n{text}");
        }
        let count = |prefix: &str| lines.iter().filter(|l| l.starts_with(prefix)).count();
        assert_eq!(count("hostwatt_edac_channel_correctable_errors_total"), 6);
        assert_eq!(count("hostwatt_edac_channel_uncorrectable_errors_total"), 4);
        assert_eq!(count("hostwatt_memory_"), 0, "no DMI in this tree");
    }

    #[test]
    fn no_edac_dir_is_reporting_inactive_not_unavailable() {
        let dir = tempfile::tempdir().unwrap();
        let sample = Edac::new(Config::default())
            .round(&Root::new(dir.path()))
            .unwrap();
        assert!(sample.faults.is_empty());
        assert_eq!(
            render(&sample.snapshot),
            ["hostwatt_edac_reporting_active 0"]
        );
    }

    #[test]
    fn a_garbage_count_is_a_fault_of_its_item_only() {
        let dir = tempfile::tempdir().unwrap();
        let mc = dir.path().join(MC_BASE).join("mc0");
        std::fs::create_dir_all(mc.join("dimm0")).unwrap();
        std::fs::create_dir_all(mc.join("dimm1")).unwrap();
        std::fs::write(mc.join("ce_count"), "7\n").unwrap();
        std::fs::write(mc.join("dimm0/dimm_ce_count"), "x\n").unwrap();
        std::fs::write(mc.join("dimm1/dimm_ce_count"), "4\n").unwrap();
        let (mcs, faults) = read_controllers(&Root::new(dir.path())).unwrap();
        assert_eq!(mcs[0].ce, Some(7));
        assert_eq!(
            mcs[0]
                .dimms
                .iter()
                .map(|d| (d.id.as_str(), d.ce))
                .collect::<Vec<_>>(),
            [("dimm0", None), ("dimm1", Some(4))]
        );
        assert_eq!(faults.len(), 1);
        assert_eq!(
            (faults[0].item.as_str(), faults[0].error.kind()),
            ("mc0/dimm0", "parse")
        );
        assert!(
            faults[0]
                .error
                .to_string()
                .starts_with("sys/devices/system/edac/mc/mc0/dimm0/dimm_ce_count: "),
            "{}",
            faults[0].error
        );
    }

    #[test]
    fn root_only_dmi_is_a_metric_not_a_fault() {
        let mut dmi = Dmi::default();
        let mut faults = Vec::new();
        let denied = ReadError {
            rel_path: "sys/firmware/dmi/entries/16-0/raw".into(),
            source: io::Error::from(io::ErrorKind::PermissionDenied),
        };
        fold_dmi_entry(&mut dmi, &mut faults, "16-0", Err(denied));
        assert!(faults.is_empty());
        assert_eq!((dmi.readable, dmi.ecc_present()), (Some(false), None));
        let snap = Snapshot {
            controllers: Vec::new(),
            dmi,
        };
        assert_eq!(
            render(&snap),
            [
                "hostwatt_edac_reporting_active 0",
                "hostwatt_memory_dmi_readable 0"
            ]
        );

        let mut dmi = Dmi::default();
        let eio = ReadError {
            rel_path: "sys/firmware/dmi/entries/16-1/raw".into(),
            source: io::Error::other("EIO"),
        };
        fold_dmi_entry(&mut dmi, &mut faults, "16-0", Ok(type16(0x03)));
        fold_dmi_entry(&mut dmi, &mut faults, "16-1", Err(eio));
        assert_eq!((dmi.readable, dmi.ecc_present()), (Some(true), Some(false)));
        assert_eq!(
            faults
                .iter()
                .map(|f| (f.item.as_str(), f.error.kind()))
                .collect::<Vec<_>>(),
            [("dmi/16-1", "io")]
        );
    }

    #[test]
    fn system_memory_arrays_decide_ecc_presence() {
        let array = |use_, ecc| MemoryArray {
            use_,
            ecc,
            slots: None,
        };
        let dmi = |arrays: Vec<MemoryArray>| Dmi {
            arrays: arrays
                .into_iter()
                .enumerate()
                .map(|(i, a)| (format!("16-{i}"), a))
                .collect(),
            readable: Some(true),
        };
        let flash_ecc_system_none = dmi(vec![
            array("flash-memory", Ecc::SingleBitEcc),
            array("system-memory", Ecc::None),
        ]);
        assert_eq!(flash_ecc_system_none.ecc_present(), Some(false));
        let two_sockets = dmi(vec![
            array("system-memory", Ecc::Unknown),
            array("system-memory", Ecc::MultiBitEcc),
        ]);
        assert_eq!(two_sockets.ecc_present(), Some(true));
        assert_eq!(
            dmi(vec![array("other", Ecc::Crc)]).ecc_present(),
            Some(true)
        );
        assert_eq!(dmi(vec![]).ecc_present(), None);
    }

    #[test]
    fn reads_the_edac_ecc_case_across_rounds() {
        let case = crate::testutil::case_dir("edac-ecc");
        let dir = tempfile::tempdir().unwrap();
        crate::testutil::overlay(&case.join("root"), dir.path());
        let root = Root::new(dir.path());
        let mut edac = Edac::new(Config::default());
        let first = edac.round(&root).unwrap();
        assert!(first.faults.is_empty(), "{:?}", first.faults);
        let series = render(&first.snapshot);
        let expect = [
            "hostwatt_edac_controller_info{controller=\"mc0\",name=\"Intel_client_SoC MC#0\"} 1",
            "hostwatt_edac_controller_size_bytes{controller=\"mc0\"} 17179869184",
            "hostwatt_edac_correctable_errors_total{controller=\"mc0\"} 3",
            "hostwatt_edac_correctable_noinfo_errors_total{controller=\"mc0\"} 0",
            "hostwatt_edac_dimm_correctable_errors_total{controller=\"mc0\",dimm=\"dimm0\"} 2",
            "hostwatt_edac_dimm_correctable_errors_total{controller=\"mc0\",dimm=\"dimm1\"} 1",
            "hostwatt_edac_dimm_info{controller=\"mc0\",dimm=\"dimm0\",label=\"MC#0_Chan#0_DIMM#0\",location=\"channel 0 slot 0\",mem_type=\"Unbuffered-DDR5\",edac_mode=\"SECDED\"} 1",
            "hostwatt_edac_dimm_info{controller=\"mc0\",dimm=\"dimm1\",label=\"MC#0_Chan#1_DIMM#0\",location=\"channel 1 slot 0\",mem_type=\"Unbuffered-DDR5\",edac_mode=\"SECDED\"} 1",
            "hostwatt_edac_dimm_size_bytes{controller=\"mc0\",dimm=\"dimm1\"} 8589934592",
            "hostwatt_edac_dimm_uncorrectable_errors_total{controller=\"mc0\",dimm=\"dimm0\"} 0",
            "hostwatt_edac_dimm_uncorrectable_errors_total{controller=\"mc0\",dimm=\"dimm1\"} 0",
            "hostwatt_edac_reporting_active 1",
            "hostwatt_edac_uncorrectable_errors_total{controller=\"mc0\"} 0",
            "hostwatt_memory_array_info{array=\"16-0\",use=\"system-memory\"} 1",
            "hostwatt_memory_dmi_readable 1",
            "hostwatt_memory_ecc_present 1",
            "hostwatt_memory_ecc_type{array=\"16-0\",state=\"multi-bit-ecc\"} 1",
            "hostwatt_memory_ecc_type{array=\"16-0\",state=\"single-bit-ecc\"} 0",
        ];
        for l in expect {
            assert!(series.iter().any(|x| x == l), "missing {l} in {series:#?}");
        }
        let ecc_states = series
            .iter()
            .filter(|l| l.starts_with("hostwatt_memory_ecc_type"))
            .count();
        assert_eq!(ecc_states, Ecc::STATES.len());
        assert!(
            !series.iter().any(|l| l.contains("csrow")),
            "no csrow series on the dimm layout"
        );

        crate::testutil::overlay(&case.join("rounds/1"), dir.path());
        let second = edac.round(&root).unwrap();
        let mc = &second.snapshot.controllers[0];
        let dimms: Vec<_> = mc.dimms.iter().map(|d| (d.id.as_str(), d.ce)).collect();
        assert_eq!(
            (mc.ce, dimms),
            (Some(5), vec![("dimm0", Some(4)), ("dimm1", Some(1))])
        );
        assert_eq!(second.snapshot.dmi, first.snapshot.dmi, "DMI cached");
    }

    #[test]
    fn edac_ecc_case_config_enables_only_edac_and_thermal() {
        let case = crate::testutil::case_dir("edac-ecc");
        let path = case.join("config.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let overrides = crate::config::Overrides {
            root: Some(case.join("root")),
            ..Default::default()
        };
        let cfg = crate::config::resolve(&path.to_string_lossy(), &text, &overrides).unwrap();
        let c = &cfg.collectors;
        assert_eq!(
            (
                c.edac.enabled,
                c.thermal.enabled,
                c.rapl.enabled,
                c.system.enabled
            ),
            (true, true, false, false)
        );
    }
}
