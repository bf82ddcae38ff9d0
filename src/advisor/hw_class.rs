//! Check 10, hardware class (informational): a chiplet desktop Ryzen idles several watts above
//! an APU of the same generation because its I/O die cannot idle; the part is read from the
//! first `model name` in `proc/cpuinfo`. With the measured package power (RAPL) the finding is
//! checked against it: a package that draws less than the figure's low end cannot hold that
//! much I/O-die overhead, so there is no finding; one that draws it is the evidence (medium
//! confidence). Without a measurement the model name alone gives it, at low confidence.

use super::{Confidence, Evidence, Facts, Inputs, Outcome, Severity, finding};
use crate::host::root::Root;

/// Whether a `model name` is a chiplet desktop Ryzen (CPU dies beside a separate I/O die): a
/// Ryzen 3/5/7/9 of the 3000 (Matisse), 5000 (Vermeer), 7000 (Raphael) or 9000 (Granite Ridge)
/// series whose model number has no APU (`G`, `GE`) or mobile (`U`, `H`, `HS`, `HX`) suffix,
/// e.g. `AMD Ryzen 9 5900X 12-Core`. Not chiplet although they lack an iGPU suffix: the
/// 1000/2000 series (one Zeppelin die), 4000 desktop parts (Renoir: 4100, 4500), the 5500 and
/// 5700 (Cezanne) and the 8000 F parts (Phoenix: 8400F, 8700F), all single-die like the APUs.
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
    let digits = &number[..number.len() - suffix.len()];
    let chiplet_series = matches!(digits.chars().next(), Some('3' | '5' | '7' | '9'));
    let single_die = matches!(digits, "5500" | "5700") && suffix.is_empty();
    digits.len() == 4
        && chiplet_series
        && !single_die
        && matches!(suffix, "" | "X" | "XT" | "X3D" | "F")
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
    let figure = facts.figure("chiplet_cpu");
    if inputs.package_watts.is_some_and(|w| w < figure.low) {
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
    match inputs.package_watts {
        Some(w) => {
            f.evidence.push(Evidence::new(
                "sys/class/powercap",
                format!(
                    "measured package power {w:.1} W (RAPL package zones; {}), at least the {:.0}-{:.0} W an APU of the same generation idles lower",
                    basis(inputs),
                    figure.low,
                    figure.high
                ),
            ));
            f.confidence = Confidence::Medium;
        }
        None => {
            f.evidence.push(Evidence::new(
                "sys/class/powercap",
                "no RAPL package power measured: from the model name alone, low confidence",
            ));
            f.confidence = Confidence::Low;
        }
    }
    f.persist = Some("hardware: an APU of the same generation (e.g. 5600G/5700G, 8600G) or a monolithic Intel part; nothing to set".to_owned());
    f.risk = Some("informational: the figure compares whole boxes from forum reports".to_owned());
    out.findings.push(f);
    out
}

fn basis(inputs: &Inputs) -> &str {
    if inputs.idle_basis.is_empty() {
        "latest reading"
    } else {
        &inputs.idle_basis
    }
}
