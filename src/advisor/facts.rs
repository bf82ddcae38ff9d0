//! The sourced figures (`facts.toml`, embedded): DC watts saved per unit, with where each
//! figure comes from, and the PCI devices known to block deep package C-states.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Confidence;

/// The embedded data file.
pub const FACTS_TOML: &str = include_str!("facts.toml");

/// One citation: where a figure comes from and what that source says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// URL of the source.
    pub url: String,
    /// What it says, in one sentence with its numbers.
    pub says: String,
}

/// Where a figure was measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum At {
    /// At the wall (AC input): used as it is.
    Wall,
    /// At the components (DC): carried to the wall through the PSU curve.
    Dc,
}

/// A saving per unit (`per`: box, disk, device), watts, with its sources.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Figure {
    /// Where it was measured.
    pub at: At,
    /// What one unit is: `box`, `disk` or `device`.
    pub per: String,
    /// Lower end, watts per unit.
    pub low: f64,
    /// Upper end, watts per unit.
    pub high: f64,
    /// How much the sources can be trusted.
    pub confidence: Confidence,
    /// At least one citation.
    pub sources: Vec<Source>,
    /// The saving this figure shares with others of the same name (`package_idle`: ASPM,
    /// enabled deep C-states and a blocker device are each a way for the package to reach its
    /// deep states, and the sources measured them together): the total counts the group once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overlaps: Option<String>,
}

/// A PCI device known to keep the package out of deep C-states.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Blocker {
    /// PCI vendor ID.
    pub vendor: u16,
    /// PCI device ID.
    pub device: u16,
    /// Marketing name, used when pci.ids is absent.
    pub name: String,
    /// Key of the figure in `figures`.
    pub figure: String,
    /// Why it blocks.
    pub why: String,
}

/// The whole data file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Facts {
    /// Figures by key (`aspm`, `sata_alpm`, ...).
    pub figures: BTreeMap<String, Figure>,
    /// Known blockers.
    #[serde(default)]
    pub blockers: Vec<Blocker>,
}

impl Facts {
    /// The embedded facts. Panics only if `facts.toml` is malformed, which a unit test catches.
    pub fn embedded() -> Self {
        toml::from_str(FACTS_TOML).expect("src/advisor/facts.toml parses")
    }

    /// The figure `key`. Panics on an unknown key: keys are compile-time names in the checks,
    /// and a test runs every check.
    pub fn figure(&self, key: &str) -> &Figure {
        self.figures
            .get(key)
            .unwrap_or_else(|| panic!("facts.toml has no figure {key:?}"))
    }
}

/// Why `url` does not cite a page that states a figure, or `None` when it may: it must be
/// `https://`, and name a page rather than a site. A bare domain or home page (`https://example.com/`)
/// a blog's date archive (`https://blog.example/2010/01`) and a repository's front page
/// (`https://github.com/owner/name`) state no figure; a path or a
/// query (`?id=...`, as cgit, bugzilla and wikis name their pages) is needed.
pub fn not_a_page(url: &str) -> Option<String> {
    let Some(rest) = url.strip_prefix("https://") else {
        return Some("not an https URL".to_owned());
    };
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let path = path.split('#').next().unwrap_or_default();
    let segments = path.split('/').filter(|s| !s.is_empty()).count();
    if host.is_empty() {
        return Some("no host".to_owned());
    }
    if segments == 0 && query.is_empty() {
        return Some(format!(
            "{host}'s home page, not a page that states the figure"
        ));
    }
    // a blog's date archive (`/2010/01`) lists whatever was posted that month, and a later
    // post moves the article off it
    if query.is_empty()
        && path
            .split('/')
            .all(|s| s.chars().all(|c| c.is_ascii_digit()))
    {
        return Some(format!(
            "a date archive on {host}, not the article: cite the post's own URL"
        ));
    }
    let forge = ["github.com", "gitlab.com", "codeberg.org"].contains(&host);
    if forge && segments <= 2 && query.is_empty() {
        return Some(format!(
            "a repository's front page on {host}: cite the file, issue or commit"
        ));
    }
    None
}
