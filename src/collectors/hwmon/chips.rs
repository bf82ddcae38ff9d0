//! Finding the chips under `sys/class/hwmon` and naming them (the `chip` label).

use std::collections::HashMap;
use std::io;
use std::path::Path;
use std::time::Duration;

use super::kinds::parse_attr_name;
use super::{BASE, HINT};
use crate::collectors::{CollectError, Fault};
use crate::host::root::Root;

/// The `chip` label of a chip with driver name `name`, resolved device `device`, found at
/// `sys/class/hwmon/<entry>`. See the module header for the rule.
pub fn chip_label(name: Option<&str>, device: Option<&str>, entry: &str) -> String {
    match (name, device) {
        (Some(name), Some(device)) => {
            let instance = device
                .strip_prefix(name)
                .map(|rest| rest.strip_prefix('.').unwrap_or(rest))
                .filter(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()));
            if instance.is_some() {
                device.to_owned()
            } else {
                format!("{name}-{device}")
            }
        }
        (Some(name), None) => name.to_owned(),
        (None, Some(device)) => device.to_owned(),
        (None, None) => entry.to_owned(),
    }
}

/// A chip found in `sys/class/hwmon`, before its sensors are read.
#[derive(Debug)]
pub(super) struct ChipDir {
    /// Entry name under `sys/class/hwmon` (`hwmon3`).
    pub(super) entry: String,
    /// Root-relative directory holding the attributes.
    pub(super) attr_dir: String,
    /// Attribute file names in `attr_dir`.
    pub(super) files: Vec<String>,
    pub(super) name: Option<String>,
    pub(super) device: Option<String>,
    pub(super) update_interval: Option<Duration>,
    pub(super) label: String,
}

/// What a walk found under `sys/class/hwmon`.
#[derive(Debug)]
pub(super) struct Discovery {
    /// The listing, every entry (excluded and faulty ones too): a round compares it with a new
    /// listing to see a chip come or go.
    pub(super) entries: Vec<String>,
    /// The chips that could be listed, labels unique.
    pub(super) chips: Vec<ChipDir>,
    /// A fault for each entry that could not be listed, with the entry name as item.
    pub(super) faults: Vec<Fault>,
}

/// Lists the chips, reading only `name`, the `device` link and `update_interval`.
pub(super) fn discover(root: &Root) -> Result<Discovery, CollectError> {
    let entries = root.list(BASE).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => {
            CollectError::Unavailable(format!("{BASE} does not exist (no hwmon support)"))
        }
        _ => CollectError::from_read(e, HINT),
    })?;
    let mut chips = Vec::new();
    let mut faults = Vec::new();
    for entry in &entries {
        match discover_chip(root, entry) {
            Ok(chip) => chips.push(chip),
            Err(error) => faults.push(Fault {
                item: entry.clone(),
                error,
            }),
        }
    }
    // two chips with one label (same driver, no or same device) both get their entry appended
    let mut seen: HashMap<String, usize> = HashMap::new();
    for c in &chips {
        *seen.entry(c.label.clone()).or_default() += 1;
    }
    for c in &mut chips {
        if seen[&c.label] > 1 {
            c.label = format!("{}-{}", c.label, c.entry);
        }
    }
    Ok(Discovery {
        entries,
        chips,
        faults,
    })
}

fn discover_chip(root: &Root, entry: &str) -> Result<ChipDir, CollectError> {
    let dir = format!("{BASE}/{entry}");
    let mut attr_dir = dir.clone();
    let mut files = root
        .list(&dir)
        .map_err(|e| CollectError::from_read(e, HINT))?;
    let parent = format!("{dir}/device");
    // old-style drivers: nothing of the chip in the hwmon directory, all of it on the device
    let own = files
        .iter()
        .any(|f| f == "name" || parse_attr_name(f).is_some());
    if !own && root.exists(format!("{parent}/name")) {
        files = root
            .list(&parent)
            .map_err(|e| CollectError::from_read(e, HINT))?;
        attr_dir = parent.clone();
    }
    let name = if files.iter().any(|f| f == "name") {
        let name = root
            .read_trimmed(format!("{attr_dir}/name"))
            .map_err(|e| CollectError::from_read(e, HINT))?;
        Some(name).filter(|n| !n.is_empty())
    } else {
        None
    };
    let device = root
        .canonical_rel(&parent)
        .and_then(|p| Some(Path::new(&p).file_name()?.to_string_lossy().into_owned()))
        .or_else(|| root.link_name(&parent));
    let update_interval = files
        .iter()
        .any(|f| f == "update_interval")
        .then(|| root.read_u64(format!("{attr_dir}/update_interval")).ok())
        .flatten()
        .map(Duration::from_millis);
    Ok(ChipDir {
        label: chip_label(name.as_deref(), device.as_deref(), entry),
        entry: entry.to_owned(),
        attr_dir,
        files,
        name,
        device,
        update_interval,
    })
}
