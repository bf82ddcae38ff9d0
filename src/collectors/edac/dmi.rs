//! SMBIOS type 16 (Physical Memory Array) from `sys/firmware/dmi/entries/16-*/raw`: whether the
//! firmware says the RAM corrects errors (DSP0134 §7.17). A pure decoder plus the one walk over the
//! DMI entries; the EDAC side is in `mod.rs`.

use std::io;

use super::HINT;
use crate::collectors::{CollectError, Fault};
use crate::host::root::{ReadError, Root};
use crate::parse::ParseError;

const DMI_BASE: &str = "sys/firmware/dmi/entries";

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

/// Folds one type 16 entry's read into `dmi`. EACCES (root-only `raw`) marks the DMI unreadable
/// and is not a fault; other failures are.
pub(super) fn fold_dmi_entry(
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
pub(super) fn read_dmi(root: &Root) -> (Dmi, Vec<Fault>) {
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
