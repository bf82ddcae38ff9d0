//! Check 3, runtime PM: PCI devices whose `power/control` is `on` (never runtime-suspended; the
//! other value is `auto`), and USB devices without autosuspend, with their `power/runtime_status`
//! (`active`, `suspended`, `suspending`, `resuming`, `error`, `unsupported`;
//! Documentation/ABI/testing/sysfs-devices-power).

use super::pci::Device;
use super::{Evidence, Facts, Finding, Inputs, Outcome, finding};
use crate::host::root::Root;

/// Where USB devices live.
pub const USB_DEVICES: &str = "sys/bus/usb/devices";

/// USB vendor IDs of UPS makers (APC, Eaton/MGE, CyberPower, Tripp Lite, Phoenixtec): a UPS
/// link that autosuspends can drop, so those are left at `on` and only noted.
pub const UPS_VENDORS: [&str; 5] = ["051d", "0463", "0764", "09ae", "06da"];

/// The udev rule that turns autosuspend on for USB devices, the UPS makers' devices excluded
/// in the rule itself: a blanket rule would suspend the UPS link the fix-now command leaves alone.
pub fn usb_rule() -> String {
    let keep: String = UPS_VENDORS
        .iter()
        .map(|v| format!("ATTR{{idVendor}}!=\"{v}\", "))
        .collect();
    format!(
        "udev rule: ACTION==\"add\", SUBSYSTEM==\"usb\", TEST==\"power/control\", {keep}ATTR{{power/control}}=\"auto\" (UPS makers excluded; exclude input devices you use the same way, by ATTR{{idVendor}}/ATTR{{idProduct}})"
    )
}

struct Held {
    label: String,
    control_rel: String,
    status: String,
}

fn held(root: &Root, dir: &str, label: String) -> Option<Held> {
    let control_rel = format!("{dir}/power/control");
    if root.read_trimmed(&control_rel).ok()? != "on" {
        return None;
    }
    let status = root
        .read_trimmed(format!("{dir}/power/runtime_status"))
        .unwrap_or_else(|_| "unknown".to_owned());
    Some(Held {
        label,
        control_rel,
        status,
    })
}

fn fill(mut f: Finding, items: &[Held], persist: &str, risk: &str) -> Finding {
    f.evidence = items
        .iter()
        .map(|h| Evidence::new(&h.control_rel, "on"))
        .collect();
    f.devices = items
        .iter()
        .map(|h| format!("{} (runtime_status {})", h.label, h.status))
        .collect();
    f.command = Some(
        items
            .iter()
            .map(|h| format!("echo auto > /{}", h.control_rel))
            .collect::<Vec<_>>()
            .join(" && "),
    );
    f.persist = Some(persist.to_owned());
    f.risk = Some(risk.to_owned());
    f
}

pub(super) fn check(root: &Root, pci: &[Device], inputs: &Inputs, facts: &Facts) -> Outcome {
    let mut out = Outcome::default();
    let (mut gpus, mut others) = (Vec::new(), Vec::new());
    for d in pci {
        let Some(h) = held(root, &d.dir(), d.label()) else {
            continue;
        };
        // a GPU that is suspended anyway costs nothing extra
        if d.is_display() && h.status == "active" {
            gpus.push(h);
        } else if !d.is_display() {
            others.push(h);
        }
    }
    let pci_persist =
        "udev rule: ACTION==\"add\", SUBSYSTEM==\"pci\", ATTR{power/control}=\"auto\"";
    if !gpus.is_empty() {
        let f = finding(
            "gpu-runtime-pm-off",
            "runtime_pm",
            format!(
                "{} GPU(s) kept in D0 (runtime PM off), never in D3cold/RTD3",
                gpus.len()
            ),
        )
        .with_figure(facts, inputs, "gpu_runtime_pm", gpus.len());
        out.findings.push(fill(f, &gpus, pci_persist, "a GPU driving a display or used by a compute job wakes on use; D3cold needs the platform's power resources (notebooks and some boards; many desktop slots only reach D3hot, saving less than the figure), and NVIDIA's driver supports RTD3 on notebook Turing or later GPUs, with NVreg_DynamicPowerManagement=0x02"));
    }
    if !others.is_empty() {
        let mut f = finding(
            "pci-runtime-pm-off",
            "runtime_pm",
            format!(
                "{} PCI device(s) with runtime PM off (power/control = on)",
                others.len()
            ),
        );
        f.confidence = super::Confidence::Low;
        out.findings.push(fill(f, &others, pci_persist, "a few devices (some NICs, older SATA and USB controllers) misbehave after runtime suspend: enable per device and watch dmesg; no published per-device figure, so no watts are claimed"));
    }
    let mut usb = Vec::new();
    for name in root.list(USB_DEVICES).unwrap_or_default() {
        // interfaces (1-1:1.0) have no autosuspend of their own; root hubs follow their controller
        if name.contains(':') || name.starts_with("usb") {
            continue;
        }
        let dir = format!("{USB_DEVICES}/{name}");
        let product = root
            .read_trimmed(format!("{dir}/product"))
            .unwrap_or_default();
        let ids = format!(
            "{}:{}",
            root.read_trimmed(format!("{dir}/idVendor"))
                .unwrap_or_default(),
            root.read_trimmed(format!("{dir}/idProduct"))
                .unwrap_or_default()
        );
        let Some(h) = held(root, &dir, format!("{name} {product} [{ids}]")) else {
            continue;
        };
        if UPS_VENDORS.iter().any(|v| ids.starts_with(v)) {
            out.note(
                "runtime_pm",
                format!(
                    "{} stays without autosuspend on purpose: a UPS link must not drop",
                    h.label
                ),
            );
        } else {
            usb.push(h);
        }
    }
    if !usb.is_empty() {
        let f = finding(
            "usb-autosuspend-off",
            "runtime_pm",
            format!("{} USB device(s) without autosuspend", usb.len()),
        )
        .with_figure(facts, inputs, "usb_autosuspend", usb.len());
        out.findings.push(fill(f, &usb, &usb_rule(), "a suspended keyboard or mouse may drop the first key press: leave input devices you use at `on`"));
    }
    out
}
