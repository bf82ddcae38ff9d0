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
//! `hostwatt_edac_memory_ecc_present 1` from DMI, is the "ECC RAM present but reporting inactive" alert.
//! The DMI `raw` files are root-only: EACCES there gives `hostwatt_edac_memory_dmi_readable 0`, not a fault.
//! Firmware tables do not change while running, so a complete DMI read is cached.

use std::io;
use std::time::Instant;

use super::attrs::{Attrs, group_indexed, is_numbered, split_indexed};
use super::{CollectError, Collector, Context, Fault, Sample};
use crate::host::root::Root;
use crate::metrics::{Families, Family, Render};
use crate::parse::parse_u64;

mod dmi;

use dmi::read_dmi;
pub use dmi::{Dmi, Ecc, MemoryArray, parse_memory_array};

const MC_BASE: &str = "sys/devices/system/edac/mc";

const HINT: &str = "EDAC sysfs files are normally world-readable; check the mount options of /sys";

/// `[collectors.edac]`: `enabled`, and `interval` (default 60s). Sampling interval; memory error
/// counts move rarely.
pub type Config = crate::collectors::Basic<crate::collectors::Every60s>;

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
    "hostwatt_edac_memory_ecc_type",
    "State set: the error correction the firmware declares for a physical memory array (SMBIOS type 16, byte 0x06)",
    &["array", "state"],
);
const ARRAY_INFO: Family = Family::gauge(
    "hostwatt_edac_memory_array_info",
    "Always 1; labels give the DMI entry of a physical memory array and its use (system-memory, video-memory, ...)",
    &["array", "use"],
);
const ECC_PRESENT: Family = Family::gauge(
    "hostwatt_edac_memory_ecc_present",
    "1 if the firmware declares single-bit, multi-bit or CRC error correction for system memory, 0 if none or parity only; absent when unknown",
    &[],
);
const DMI_READABLE: Family = Family::gauge(
    "hostwatt_edac_memory_dmi_readable",
    "1 if the SMBIOS memory array entries could be read; 0 when they are root-only and hostwatt is not root",
    &[],
);

/// Bytes per MiB: EDAC's `size_mb` and `size` are MiB.
const MIB: f64 = 1024.0 * 1024.0;

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
    dmi: Option<Dmi>,
}

impl Edac {
    /// A collector of the section `_cfg`: it holds only what the registration reads (`enabled`,
    /// `interval`).
    pub fn new(_cfg: Config) -> Self {
        Self { dmi: None }
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

    async fn sample(
        &mut self,
        cx: &Context,
        _at: Instant,
    ) -> Result<Sample<Snapshot>, CollectError> {
        self.round(&cx.root)
    }
}

#[cfg(test)]
mod tests;
