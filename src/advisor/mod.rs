//! The power advisor: read-only checks that say what keeps this box from idling lower, what
//! each fix is worth in watts at the wall, the command that applies it now, how to persist it,
//! and the risk.
//!
//! Each check (one file each) reads through `Root` and returns `Finding`s; the watt figures
//! come from the sourced `facts.toml` (DC watts per unit) and are carried to the wall through the
//! PSU curve, because a DC watt saved is more than a watt at the wall. hostwatt never changes a
//! setting itself. `audit` runs every check; `Report::text` is the terminal form, the JSON form
//! is `Report` serialized (`hostwatt audit --json`, `GET /api/v1/advice`).

pub mod api;
mod aspm;
mod blockers;
mod cpu_policy;
mod disks;
pub mod facts;
mod hw_class;
mod kernel_knobs;
pub mod pci;
mod pkg_cstates;
mod psu;
mod runtime_pm;
mod sata_alpm;
pub mod standby;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

use crate::estimate::psu::Curve;
use crate::host::root::Root;
pub use disks::activity_since_boot as disks_since_boot;
pub use facts::{Facts, Figure, Source};

/// How much a figure can be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    /// Secondary guide or unverified claim.
    Low,
    /// Vendor spec, descriptor values or one user report.
    Medium,
    /// Measured at the wall by a named source with method.
    High,
}

/// How much a finding matters; the `severity` label of `hostwatt_advisor_finding_active`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; no setting to change (hardware class) or no sourced figure.
    Info,
    /// A setting that costs power and can be changed.
    Warning,
}

impl Severity {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
        }
    }
}

/// One value a check read: root-relative path and its content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// Root-relative path (never the root itself).
    pub path: String,
    /// What it contained (trimmed), or what was derived from it.
    pub value: String,
}

impl Evidence {
    /// Evidence `path` = `value`.
    pub fn new(path: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            value: value.into(),
        }
    }
}

/// A range of watts, low ≤ high.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Watts {
    /// Lower end.
    pub low: f64,
    /// Upper end.
    pub high: f64,
}

impl Watts {
    fn round(self) -> Self {
        let r = |w: f64| (w * 100.0).round() / 100.0;
        Self {
            low: r(self.low),
            high: r(self.high),
        }
    }

    /// Each end at most `limit` watts, when there is one.
    fn capped(self, limit: Option<f64>) -> Self {
        let cap = |w: f64| limit.map_or(w, |l| w.min(l));
        Self {
            low: cap(self.low),
            high: cap(self.high),
        }
    }
}

/// One thing that keeps the box from idling lower.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable identity (`pcie-aspm-off`); a metric label, so never a device name.
    pub id: String,
    /// The check that produced it (`aspm`, `sata_alpm`, ...).
    pub check: String,
    /// One line for humans.
    pub title: String,
    /// Warning (a setting) or info.
    pub severity: Severity,
    /// The values read.
    pub evidence: Vec<Evidence>,
    /// Devices concerned (PCI names, hosts, disks); in the report and API only.
    pub devices: Vec<String>,
    /// Estimated saving at the wall; absent when no source gives a figure.
    pub watts: Option<Watts>,
    /// The same at the DC side, before the PSU, when the figure is a DC one.
    pub watts_dc: Option<Watts>,
    /// Confidence of the watt figure (low when there is none).
    pub confidence: Confidence,
    /// The command that applies the fix now (as root), when there is one.
    pub command: Option<String>,
    /// How to make it survive a reboot (kernel command line, udev rule, tmpfiles, BIOS).
    pub persist: Option<String>,
    /// What can go wrong.
    pub risk: Option<String>,
    /// Where the watt figure comes from.
    pub sources: Vec<Source>,
    /// The saving it shares with other findings (the figure's `overlaps`): the total counts
    /// findings of one group once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overlaps: Option<String>,
}

/// Something a check could not decide from here, said plainly instead of guessed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Note {
    /// The check.
    pub check: String,
    /// What could not be measured, and what would measure it.
    pub text: String,
}

/// A rotational disk's I/O over a window (from `sys/block/<dev>/stat`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiskActivity {
    /// Kernel name (`sda`).
    pub name: String,
    /// Completed reads + writes in the window.
    pub ios: u64,
    /// Length of the window, seconds.
    pub window_secs: f64,
    /// Whether the window is since boot (one-shot audit) rather than the daemon's history.
    pub since_boot: bool,
}

/// Package C-state residency as the `cstate_pkg` collector counted it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PackageCstates {
    /// Why it is not counted (no counter on this CPU, perf_event_paranoid, ...); `None` when it is.
    pub unmeasurable: Option<String>,
    /// Seconds the shares cover (0 before two rounds).
    pub observed_secs: f64,
    /// (state, share of the observed time 0..1), the mean over packages, deepest last (`pc2`..`pc10`).
    pub shares: Vec<(String, f64)>,
    /// Whether the observed time is the time the host was idle (the daemon, with the wall
    /// collector's idle detector), rather than all of it.
    pub while_idle: bool,
}

/// What the checks need besides the filesystem: measurements and configuration.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// Measured (meter) or estimated idle power at the wall, watts.
    pub idle_wall_watts: Option<f64>,
    /// What `idle_wall_watts` is: the daemon's smoothed idle, or one sample.
    pub idle_basis: String,
    /// Whether `idle_wall_watts` comes from a meter; otherwise it is the wall estimate
    /// (modelled or calibrated), and the report says "estimated", not "measured".
    pub idle_measured: bool,
    /// DC load at idle (the wall estimate's component sum), watts.
    pub idle_dc_watts: Option<f64>,
    /// The PSU curve: configured, or the assumed default.
    pub psu: Option<Curve>,
    /// I/O per rotational disk; empty when not sampled.
    pub disk_activity: Vec<DiskActivity>,
    /// hostwatt's own SMART query interval when the smart collector is on, seconds.
    pub smart_query_secs: Option<f64>,
    /// The spinning disks the SMART collector cannot gate on their I/O (no `sys/block` entry:
    /// RAID pass-through such as `/dev/bus/0 -d megaraid,1`), which it reads every query
    /// interval whatever they do; `None` when not known (a one-shot audit runs no SMART).
    pub smart_ungated: Option<Vec<String>>,
    /// Measured CPU package power, watts: the RAPL `package-*` zones counted once, summed
    /// (the daemon's latest RAPL round, or the one-shot audit's sample).
    pub package_watts: Option<f64>,
    /// Package C-state residency; `None` when the `cstate_pkg` collector is off or has not run.
    pub package_cstates: Option<PackageCstates>,
    /// How long each spinning disk went without standby, from the SMART power-mode history the
    /// daemon keeps; `None` without one (SMART off, or a one-shot audit).
    pub standby: Option<standby::Watch>,
}

impl Inputs {
    /// A DC saving carried to the wall: the input power at idle minus the input power at idle
    /// minus the saving. Without a curve or a DC load, wall = DC (said in the report).
    pub fn at_wall(&self, dc: Watts) -> Watts {
        match (&self.psu, self.idle_dc_watts) {
            (Some(curve), Some(load)) => {
                let wall =
                    |s: f64| curve.input_watts(load) - curve.input_watts((load - s).max(0.0));
                Watts {
                    low: wall(dc.low),
                    high: wall(dc.high),
                }
            }
            _ => dc,
        }
    }
}

/// A finding's (DC, wall) watts from figure `fig` times `units`: a DC figure goes through the
/// PSU; a wall figure is used as it is and has no DC side.
pub(crate) fn priced(inputs: &Inputs, fig: &Figure, units: usize) -> (Option<Watts>, Watts) {
    let n = units as f64;
    let w = Watts {
        low: fig.low * n,
        high: fig.high * n,
    };
    match fig.at {
        facts::At::Dc => (Some(w.round()), inputs.at_wall(w).round()),
        facts::At::Wall => (None, w.round()),
    }
}

/// A finding with no devices, no watts and no sources; checks fill in the rest.
pub(crate) fn finding(id: &str, check: &str, title: String) -> Finding {
    Finding {
        id: id.to_owned(),
        check: check.to_owned(),
        title,
        severity: Severity::Warning,
        evidence: Vec::new(),
        devices: Vec::new(),
        watts: None,
        watts_dc: None,
        confidence: Confidence::Low,
        command: None,
        persist: None,
        risk: None,
        sources: Vec::new(),
        overlaps: None,
    }
}

impl Finding {
    /// Attaches figure `key` times `units`.
    pub(crate) fn with_figure(
        mut self,
        facts: &Facts,
        inputs: &Inputs,
        key: &str,
        units: usize,
    ) -> Self {
        let fig = facts.figure(key);
        let (dc, wall) = priced(inputs, fig, units);
        self.watts_dc = dc;
        self.watts = Some(wall);
        self.confidence = fig.confidence;
        self.sources = fig.sources.clone();
        self.overlaps = fig.overlaps.clone();
        self
    }
}

/// The result of all checks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Idle power at the wall the findings are measured against, when known.
    pub idle_wall_watts: Option<f64>,
    /// What that figure is (smoothed idle from the daemon, or one sample).
    pub idle_basis: String,
    /// Whether that figure comes from a meter (else the wall estimate).
    #[serde(default)]
    pub idle_measured: bool,
    /// Whether watts went through a PSU curve (false: wall = DC).
    pub through_psu: bool,
    /// What the warnings are worth together at the wall: their watts summed, a group of
    /// findings that share one saving (`overlaps`) counted once at its largest range, and
    /// informational findings (hardware class, a whole-box comparison) left out; each end at
    /// most `idle_wall_watts`, as no set of fixes saves more than the box draws.
    pub total: Watts,
    /// Findings, most watts first.
    pub findings: Vec<Finding>,
    /// What could not be measured here.
    pub notes: Vec<Note>,
}

/// What one check returns.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub findings: Vec<Finding>,
    pub notes: Vec<Note>,
}

impl Outcome {
    pub(crate) fn note(&mut self, check: &str, text: impl Into<String>) {
        self.notes.push(Note {
            check: check.to_owned(),
            text: text.into(),
        });
    }
}

/// Whether `proc/cpuinfo` has the `hypervisor` flag: a virtual machine, whose device settings do
/// not reach the wall.
pub fn is_virtual_machine(root: &Root) -> bool {
    root.read_trimmed("proc/cpuinfo").is_ok_and(|c| {
        c.lines()
            .filter(|l| l.starts_with("flags"))
            .any(|l| l.split_whitespace().any(|w| w == "hypervisor"))
    })
}

/// Runs every check against `root`. Blocking file I/O: call it off the async runtime. In a
/// virtual machine there are no findings, only a note: the power is spent by the host.
pub fn audit(root: &Root, inputs: &Inputs, facts: &Facts) -> Report {
    if is_virtual_machine(root) {
        let mut vm = Outcome::default();
        vm.note(
            "hw_class",
            "virtual machine (proc/cpuinfo flag hypervisor): its device settings do not reach the wall; run hostwatt audit on the host",
        );
        return report(inputs, vm);
    }
    let pci = pci::devices(root);
    let checks: [Outcome; 10] = [
        aspm::check(root, &pci, inputs, facts),
        sata_alpm::check(root, inputs, facts),
        runtime_pm::check(root, &pci, inputs, facts),
        cpu_policy::check(root, inputs, facts),
        pkg_cstates::check(root, inputs, facts),
        disks::check(root, inputs, facts),
        psu::check(inputs, facts),
        kernel_knobs::check(root),
        blockers::check(&pci, inputs, facts),
        hw_class::check(root, inputs, facts),
    ];
    let mut all = Outcome::default();
    for o in checks {
        all.findings.extend(o.findings);
        all.notes.extend(o.notes);
    }
    report(inputs, all)
}

/// Sorts the findings (most watts first) and adds the totals.
fn report(inputs: &Inputs, all: Outcome) -> Report {
    let Outcome {
        mut findings,
        notes,
    } = all;
    findings.sort_by(|a, b| {
        let w = |f: &Finding| f.watts.map_or(0.0, |w| w.high);
        w(b).total_cmp(&w(a)).then_with(|| a.id.cmp(&b.id))
    });
    let idle_wall_watts = inputs.idle_wall_watts.map(|w| (w * 10.0).round() / 10.0);
    let total = total(&findings).capped(idle_wall_watts).round();
    Report {
        idle_wall_watts,
        idle_basis: inputs.idle_basis.clone(),
        idle_measured: inputs.idle_measured,
        through_psu: inputs.psu.is_some() && inputs.idle_dc_watts.is_some(),
        total,
        findings,
        notes,
    }
}

/// The findings' worth together (`Report::total`, before the cap): warnings summed, each
/// `overlaps` group once at the largest low and the largest high of its members.
fn total(findings: &[Finding]) -> Watts {
    let zero = Watts {
        low: 0.0,
        high: 0.0,
    };
    let mut groups: std::collections::BTreeMap<&str, Watts> = std::collections::BTreeMap::new();
    let mut sum = zero;
    for f in findings.iter().filter(|f| f.severity == Severity::Warning) {
        let Some(w) = f.watts else { continue };
        let (into, add): (&mut Watts, fn(f64, f64) -> f64) = match f.overlaps.as_deref() {
            Some(g) => (groups.entry(g).or_insert(zero), f64::max),
            None => (&mut sum, |a, b| a + b),
        };
        *into = Watts {
            low: add(into.low, w.low),
            high: add(into.high, w.high),
        };
    }
    groups.values().fold(sum, |acc, w| Watts {
        low: acc.low + w.low,
        high: acc.high + w.high,
    })
}

impl Report {
    /// How the total counted the findings, for the text: each `overlaps` group of two or more
    /// ids counted once, and the informational ids with watts left out.
    fn total_basis(&self) -> Vec<String> {
        let mut groups: std::collections::BTreeMap<&str, Vec<&str>> =
            std::collections::BTreeMap::new();
        let mut info = Vec::new();
        for f in self.findings.iter().filter(|f| f.watts.is_some()) {
            match (f.severity, f.overlaps.as_deref()) {
                (Severity::Info, _) => info.push(f.id.as_str()),
                (Severity::Warning, Some(g)) => groups.entry(g).or_default().push(&f.id),
                (Severity::Warning, None) => {}
            }
        }
        let mut out: Vec<String> = groups
            .values()
            .filter(|ids| ids.len() > 1)
            .map(|ids| {
                format!(
                    "counted once, the largest of them (one saving reached several ways): {}",
                    ids.join(", ")
                )
            })
            .collect();
        if !info.is_empty() {
            out.push(format!(
                "not counted (informational, a whole-box comparison): {}",
                info.join(", ")
            ));
        }
        out
    }

    /// The terminal report: totals, then each finding with watts, evidence, command, persistence,
    /// risk and sources.
    pub fn text(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let idle = self
            .idle_wall_watts
            .map_or("idle power not measured".to_owned(), |w| {
                let how = if self.idle_measured {
                    "measured"
                } else {
                    "estimated"
                };
                format!("{how} idle {w:.1} W ({})", self.idle_basis)
            });
        if self.findings.is_empty() {
            // a total of 0.0-0.0 W would read as "findings worth nothing", not "none"
            let _ = writeln!(out, "{idle}, no findings");
        } else {
            let _ = writeln!(
                out,
                "{idle}, findings worth {:.1}-{:.1} W at the wall{}{}",
                self.total.low,
                self.total.high,
                // the sum of overlapping findings reached what the box draws
                if self
                    .idle_wall_watts
                    .is_some_and(|w| self.total.high >= w - 0.05)
                {
                    " (at most the idle power: the findings overlap)"
                } else {
                    ""
                },
                if self.through_psu {
                    ""
                } else {
                    " (no PSU curve or DC load: DC watts shown)"
                }
            );
        }
        for line in self.total_basis() {
            let _ = writeln!(out, "  {line}");
        }
        if self.findings.is_empty() {
            out.push_str(
                "\nno findings: nothing this audit checks keeps the box from idling lower\n",
            );
        }
        for f in &self.findings {
            let watts = f.watts.map_or("no sourced figure".to_owned(), |w| {
                format!("{:.1}-{:.1} W", w.low, w.high)
            });
            let _ = writeln!(
                out,
                "\n[{}] {} ({watts}, {} confidence)\n  {}",
                f.severity.as_str(),
                f.id,
                confidence_str(f.confidence),
                f.title
            );
            if !f.devices.is_empty() {
                let _ = writeln!(out, "  devices: {}", f.devices.join("; "));
            }
            for e in &f.evidence {
                let _ = writeln!(out, "  read:    {} = {}", e.path, e.value);
            }
            if let Some(c) = &f.command {
                let _ = writeln!(out, "  fix now: {c}");
            }
            if let Some(p) = &f.persist {
                let _ = writeln!(out, "  persist: {p}");
            }
            if let Some(r) = &f.risk {
                let _ = writeln!(out, "  risk:    {r}");
            }
            for s in &f.sources {
                let _ = writeln!(out, "  source:  {} ({})", s.url, s.says);
            }
        }
        if !self.notes.is_empty() {
            out.push_str("\nnot measurable here:\n");
            for n in &self.notes {
                let _ = writeln!(out, "  {}: {}", n.check, n.text);
            }
        }
        out
    }
}

fn confidence_str(c: Confidence) -> &'static str {
    match c {
        Confidence::Low => "low",
        Confidence::Medium => "medium",
        Confidence::High => "high",
    }
}

/// Reads `rel` if present, recording it as evidence; `None` when absent or unreadable.
pub(crate) fn read_evidence(root: &Root, rel: &str) -> Option<(String, Evidence)> {
    let v = root.read_optional(rel).ok().flatten()?;
    Some((v.clone(), Evidence::new(rel, v)))
}

/// The family `advice_summary` reads: what the alert engine gathers for `{advice}`.
pub const POTENTIAL_FAMILY: &str = "hostwatt_advisor_finding_potential_watts";

/// What `{advice}` in an alert description becomes: the findings with watts, most first, from
/// gathered `POTENTIAL_FAMILY` series (`pcie-aspm-off up to 4 W; ...`).
pub fn advice_summary(families: &[prometheus::proto::MetricFamily]) -> String {
    let mut items: Vec<(String, f64)> = families
        .iter()
        .filter(|f| f.name() == POTENTIAL_FAMILY)
        .flat_map(|f| f.get_metric())
        .filter_map(|m| {
            let id = m.get_label().iter().find(|l| l.name() == "id")?.value();
            Some((id.to_owned(), m.get_gauge().value()))
        })
        .collect();
    if items.is_empty() {
        return "none known (is [collectors.advisor] on?)".to_owned();
    }
    items.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    items
        .iter()
        .map(|(id, w)| format!("{id} up to {w:.1} W"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Values of `key=` on the kernel command line (`proc/cmdline`).
pub(crate) fn cmdline_values(cmdline: &str, key: &str) -> Vec<String> {
    cmdline
        .split_whitespace()
        .filter_map(|w| w.strip_prefix(key)?.strip_prefix('='))
        .map(str::to_owned)
        .collect()
}
