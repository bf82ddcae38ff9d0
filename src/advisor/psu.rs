//! Check 7, PSU: the load fraction at idle and the efficiency there, from the configured or
//! assumed curve (`estimate::psu`), and what a PSU sized for the idle load (or a picoPSU with its
//! brick) would save. The published swap figures are at the wall; the saving is capped at the
//! loss the curve gives, since no PSU saves more than it loses.

use super::{Evidence, Facts, Inputs, Outcome, Watts, finding};

/// Below this share of its rating a PSU runs far down its efficiency curve.
pub const LOW_LOAD: f64 = 0.10;

pub(super) fn check(inputs: &Inputs, facts: &Facts) -> Outcome {
    let mut out = Outcome::default();
    let (Some(curve), Some(dc)) = (&inputs.psu, inputs.idle_dc_watts) else {
        out.note("psu", "no PSU curve or no DC idle load: PSU loss not estimated (configure [collectors.wall.psu])");
        return out;
    };
    let rated = curve.rated_watts();
    let load = dc / rated;
    if load >= LOW_LOAD {
        return out;
    }
    let loss = curve.loss_watts(dc);
    let fig = facts.figure("psu_swap");
    let cap = |w: f64| (w.min(loss) * 100.0).round() / 100.0;
    let watts = Watts {
        low: cap(fig.low),
        high: cap(fig.high),
    };
    let mut f = finding(
        "psu-oversized",
        "psu",
        format!(
            "the {rated:.0} W PSU runs at {:.1} % load at idle, {:.0} % efficient: it loses {loss:.1} W",
            load * 100.0,
            curve.efficiency(dc) * 100.0
        ),
    );
    f.evidence = vec![Evidence::new(
        "hostwatt config: collectors.wall.psu",
        format!(
            "rated {rated:.0} W; DC idle load {dc:.1} W ({:.1} %); input {:.1} W",
            load * 100.0,
            curve.input_watts(dc)
        ),
    )];
    // the swap figures are measured at the wall
    f.watts = Some(watts);
    f.confidence = fig.confidence;
    f.sources = fig.sources.clone();
    f.command = Some("none at runtime: replace the PSU".to_owned());
    f.persist = Some(format!(
        "a PSU rated near {:.0}-{:.0} W with good low-load efficiency (Cybenetics 10-20 % load figures), or a picoPSU with an efficient brick if peak load allows",
        (dc * 4.0).max(60.0),
        (dc * 8.0).max(150.0)
    ));
    f.risk = Some("size for the spin-up peak of all disks at once (about 2 A at 12 V per 3.5-inch disk) or stagger spin-up; a picoPSU limits 12 V current".to_owned());
    out.findings.push(f);
    out
}
