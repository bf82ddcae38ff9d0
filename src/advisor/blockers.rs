//! Check 9, known C-state blockers: PCI devices known to keep the package out of deep C-states,
//! matched by vendor:device ID against the sourced list in `facts.toml`.

use super::pci::Device;
use super::{Evidence, Facts, Inputs, Outcome, finding};

pub(super) fn check(pci: &[Device], inputs: &Inputs, facts: &Facts) -> Outcome {
    let mut out = Outcome::default();
    for b in &facts.blockers {
        let found: Vec<&Device> = pci
            .iter()
            .filter(|d| d.vendor == b.vendor && d.device == b.device)
            .collect();
        if found.is_empty() {
            continue;
        }
        let mut f = finding(
            &format!("cstate-blocker-{:04x}-{:04x}", b.vendor, b.device),
            "blockers",
            format!("{} ({} found): {}", b.name, found.len(), b.why),
        )
        .with_figure(facts, inputs, &b.figure, found.len());
        f.evidence = found
            .iter()
            .flat_map(|d| {
                [
                    Evidence::new(format!("{}/vendor", d.dir()), format!("0x{:04x}", d.vendor)),
                    Evidence::new(format!("{}/device", d.dir()), format!("0x{:04x}", d.device)),
                ]
            })
            .collect();
        f.devices = found.iter().map(|d| d.label()).collect();
        f.command = Some(format!(
            "none at runtime: check the link state: {}",
            found
                .iter()
                .map(|d| format!("`lspci -vv -s {} | grep -E 'LnkCap|LnkCtl'`", d.address))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        f.persist = Some("replace the device or move it to a slot of the CPU's own root port; a firmware or kernel update may fix it".to_owned());
        f.risk = Some(
            "forcing ASPM on a device known to misbehave with it can drop the link".to_owned(),
        );
        out.findings.push(f);
    }
    out
}
