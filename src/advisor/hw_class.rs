//! Check 10, hardware class (informational, low confidence): a chiplet desktop Ryzen idles
//! several watts above an APU of the same generation because its I/O die cannot idle; read from
//! the first `model name` in `proc/cpuinfo`.

use super::{Evidence, Facts, Inputs, Outcome, Severity, finding};
use crate::host::root::Root;

/// Whether a `model name` is a chiplet desktop Ryzen: a Ryzen 3/5/7/9 whose model number has no
/// APU (`G`, `GE`) or mobile (`U`, `H`, `HS`, `HX`) suffix, e.g. `AMD Ryzen 9 5900X 12-Core`.
pub fn is_chiplet_desktop_ryzen(model: &str) -> bool {
    if model.contains("with Radeon Graphics") {
        return false;
    }
    let mut words = model
        .split_whitespace()
        .skip_while(|w| *w != "Ryzen")
        .skip(1);
    let (Some(tier), Some(number)) = (words.next(), words.next()) else {
        return false;
    };
    if !matches!(tier, "3" | "5" | "7" | "9") {
        return false;
    }
    let suffix = number.trim_start_matches(|c: char| c.is_ascii_digit());
    number.len() > suffix.len() && matches!(suffix, "" | "X" | "XT" | "X3D" | "F")
}

pub(super) fn check(root: &Root, inputs: &Inputs, facts: &Facts) -> Outcome {
    let mut out = Outcome::default();
    let Ok(cpuinfo) = root.read_trimmed("proc/cpuinfo") else {
        return out;
    };
    let Some(model) = cpuinfo.lines().find_map(|l| {
        l.strip_prefix("model name")?
            .split_once(':')
            .map(|(_, v)| v.trim().to_owned())
    }) else {
        return out;
    };
    if !is_chiplet_desktop_ryzen(&model) {
        return out;
    }
    let mut f = finding(
        "cpu-chiplet-io-die",
        "hw_class",
        format!("{model} is a chiplet desktop part: its I/O die keeps idle power several watts above an APU of the same generation"),
    )
    .with_figure(facts, inputs, "chiplet_cpu", 1);
    f.severity = Severity::Info;
    f.evidence = vec![Evidence::new(
        "proc/cpuinfo",
        format!("model name: {model}"),
    )];
    f.persist = Some("hardware: an APU of the same generation (e.g. 5600G/5700G, 8600G) or a monolithic Intel part; nothing to set".to_owned());
    f.risk = Some("informational: the figure compares whole boxes from forum reports".to_owned());
    out.findings.push(f);
    out
}
