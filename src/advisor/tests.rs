//! Tests of the advisor: each check on small trees in real kernel formats, the sourced figures,
//! and the two fixture boxes under tests/cases/advisor-*/root.

use std::collections::BTreeSet;
use std::path::Path;

use super::*;
use crate::estimate::psu::{Curve, Level, Mains};

struct Tree {
    _dir: tempfile::TempDir,
    root: Root,
}

impl Tree {
    fn new(files: &[(&str, &str)]) -> Self {
        let (dir, root) = crate::testutil::text_tree(files);
        Self { _dir: dir, root }
    }

    fn with(self, files: &[(&str, &str)]) -> Self {
        for (rel, text) in files {
            let p = self.root.path(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, format!("{text}\n")).unwrap();
        }
        self
    }

    fn link(self, rel: &str, target: &str) -> Self {
        let p = self.root.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(target, p).unwrap();
        self
    }
}

fn fixture(name: &str) -> Root {
    Root::new(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/cases")
            .join(format!("advisor-{name}"))
            .join("root"),
    )
}

fn ids(findings: &[Finding]) -> BTreeSet<&str> {
    findings.iter().map(|f| f.id.as_str()).collect()
}

#[test]
fn a_source_is_a_page_never_a_home_page() {
    for home in [
        "https://mattgadient.com/",
        "https://mattgadient.com",
        "https://www.seagate.com/#top",
        "https://github.com/R3NE07/Futro-S740",
        "https://github.com/R3NE07/",
        "http://mattgadient.com/9w-idle/",
        "https://mindinthewater.blogspot.com/2010/01",
        "https://mindinthewater.blogspot.com/2010/01/",
    ] {
        assert!(facts::not_a_page(home).is_some(), "{home} accepted");
    }
    for page in [
        "https://mindinthewater.blogspot.com/2010/01/building-nas-part-5-minimizing-power.html",
        "https://cgit.freebsd.org/src/commit/?id=4c10f2e605",
        "https://bugzilla.kernel.org/show_bug.cgi?id=218499",
        "https://github.com/Dasharo/dasharo-issues/issues/828",
        "https://github.com/R3NE07/Futro-S740/blob/HEAD/power_consumption.md",
    ] {
        assert_eq!(facts::not_a_page(page), None, "{page} rejected");
    }
}

fn gold_500() -> Curve {
    Curve::from_profile(Level::Gold, Mains::V115, 500.0).unwrap()
}

#[test]
fn every_figure_cites_a_source_and_every_blocker_a_figure() {
    let facts = Facts::embedded();
    assert!(facts.figures.len() >= 10);
    for (key, f) in &facts.figures {
        assert!(!f.sources.is_empty(), "{key} has no source");
        assert!(
            0.0 < f.low && f.low <= f.high,
            "{key}: {} .. {}",
            f.low,
            f.high
        );
        assert!(
            ["box", "disk", "device"].contains(&f.per.as_str()),
            "{key}: per {}",
            f.per
        );
        for s in &f.sources {
            assert_eq!(facts::not_a_page(&s.url), None, "{key}: url {}", s.url);
            assert!(
                s.says.chars().any(|c| c.is_ascii_digit()),
                "{key}: source gives no number: {}",
                s.says
            );
        }
    }
    for b in &facts.blockers {
        assert!(
            facts.figures.contains_key(&b.figure),
            "blocker {} cites {}",
            b.name,
            b.figure
        );
    }
}

#[test]
fn untuned_box_lists_every_check_with_watts_from_a_source() {
    let inputs = Inputs {
        idle_dc_watts: Some(25.0),
        // 25 W DC through the 500 W Gold curve
        idle_wall_watts: Some(37.6),
        psu: Some(gold_500()),
        smart_query_secs: Some(600.0),
        ..Inputs::default()
    };
    let report = audit(&fixture("untuned"), &inputs, &Facts::embedded());
    let want: BTreeSet<&str> = [
        "audio-power-save-off",
        "cpu-chiplet-io-die",
        "cpu-deep-cstates-disabled",
        "cpu-governor-performance",
        "cstate-blocker-8086-125c",
        "dirty-writeback-short",
        "disk-never-idle",
        "gpu-runtime-pm-off",
        "nmi-watchdog-on",
        "pci-runtime-pm-off",
        "pcie-aspm-off",
        "psu-oversized",
        "sata-alpm-off",
        "smart-interval-below-spindown",
        "usb-autosuspend-off",
    ]
    .into();
    assert_eq!(ids(&report.findings), want);
    let checks: BTreeSet<&str> = report.findings.iter().map(|f| f.check.as_str()).collect();
    assert_eq!(
        checks.len(),
        9,
        "every check but pkg_cstates finds something: {checks:?}"
    );
    for f in &report.findings {
        assert_eq!(
            f.watts.is_some(),
            !f.sources.is_empty(),
            "{}: watts iff sources",
            f.id
        );
        assert!(f.persist.is_some() && f.risk.is_some(), "{}", f.id);
        assert!(!f.evidence.is_empty(), "{}: no evidence", f.id);
        assert!(
            f.evidence.iter().all(|e| !e.path.starts_with('/')),
            "{}: absolute path",
            f.id
        );
    }
    // sorted by watts, most first
    let highs: Vec<f64> = report
        .findings
        .iter()
        .map(|f| f.watts.map_or(0.0, |w| w.high))
        .collect();
    assert!(highs.windows(2).all(|w| w[0] >= w[1]), "{highs:?}");
    assert!(report.through_psu);
    // ASPM, the disabled deep C-states and the I226-V blocker are one saving (the package's deep
    // states): counted once, at the largest range (C-states 2.2-4.0 W); the chiplet CPU (info,
    // 6-8 W) is left out. disk 6.07-12.11, GPU 5.06-7.08, PSU 2.5-7.0, SATA 0.81-3.04,
    // USB 0.03-1.0, package 2.2-4.0
    let group: BTreeSet<&str> = report
        .findings
        .iter()
        .filter(|f| f.overlaps.as_deref() == Some("package_idle"))
        .map(|f| f.id.as_str())
        .collect();
    assert_eq!(
        group,
        BTreeSet::from([
            "cpu-deep-cstates-disabled",
            "cstate-blocker-8086-125c",
            "pcie-aspm-off"
        ])
    );
    assert_eq!(
        report.total,
        Watts {
            low: 16.67,
            high: 34.23
        }
    );
    assert!(report.total.high < report.idle_wall_watts.unwrap());
    // pkg C-states on a Ryzen: said plainly, never 0 %
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.check == "pkg_cstates" && n.text.starts_with("not measurable on this CPU"))
    );
    assert!(report.notes.iter().all(|n| !n.text.contains("0 %")));
}

#[test]
fn the_total_counts_one_saving_once_and_leaves_out_whole_box_comparisons() {
    let with = |id: &str, severity, low, high, overlaps: Option<&str>| Finding {
        severity,
        watts: Some(Watts { low, high }),
        overlaps: overlaps.map(str::to_owned),
        ..finding(id, "c", String::new())
    };
    let pkg = Some("package_idle");
    let findings = vec![
        with("pcie-aspm-off", Severity::Warning, 1.8, 4.0, pkg),
        with(
            "cpu-deep-cstates-disabled",
            Severity::Warning,
            2.2,
            4.0,
            pkg,
        ),
        with(
            "cstate-blocker-8086-125c",
            Severity::Warning,
            1.01,
            3.04,
            pkg,
        ),
        with("sata-alpm-off", Severity::Warning, 0.81, 3.04, None),
        with("cpu-chiplet-io-die", Severity::Info, 6.0, 8.0, None),
    ];
    let all = |idle: Option<f64>| {
        report(
            &Inputs {
                idle_wall_watts: idle,
                ..Inputs::default()
            },
            Outcome {
                findings: findings.clone(),
                notes: vec![],
            },
        )
    };
    // the group: max(1.8, 2.2, 1.01) = 2.2 and max(4.0, 4.0, 3.04) = 4.0; plus SATA
    assert_eq!(
        all(None).total,
        Watts {
            low: 3.01,
            high: 7.04
        }
    );
    // each end at most the idle power
    assert_eq!(
        all(Some(5.0)).total,
        Watts {
            low: 3.01,
            high: 5.0
        }
    );
    let text = all(None).text();
    assert!(
        text.contains("\n  counted once, the largest of them (one saving reached several ways): cpu-deep-cstates-disabled, pcie-aspm-off, cstate-blocker-8086-125c\n  not counted (informational, a whole-box comparison): cpu-chiplet-io-die\n"),
        "{text}"
    );
}

#[test]
fn the_totals_line_says_measured_only_for_a_meter() {
    let first = |measured: bool| {
        let inputs = Inputs {
            idle_wall_watts: Some(31.04),
            idle_basis: "smoothed idle".to_owned(),
            idle_measured: measured,
            ..Inputs::default()
        };
        let text = report(&inputs, Outcome::default()).text();
        text.lines().next().unwrap().to_owned()
    };
    assert_eq!(
        first(true),
        "measured idle 31.0 W (smoothed idle), no findings"
    );
    assert!(
        first(false).starts_with("estimated idle 31.0 W (smoothed idle),"),
        "{}",
        first(false)
    );
}

#[test]
fn tuned_box_has_no_findings() {
    let inputs = Inputs {
        idle_dc_watts: Some(18.0),
        psu: Some(Curve::from_profile(Level::Gold, Mains::V115, 150.0).unwrap()),
        smart_query_secs: Some(3600.0),
        ..Inputs::default()
    };
    let report = audit(&fixture("tuned"), &inputs, &Facts::embedded());
    assert_eq!(ids(&report.findings), BTreeSet::new());
    assert_eq!(
        report.total,
        Watts {
            low: 0.0,
            high: 0.0
        }
    );
    assert!(report.text().contains("no findings"));
}

#[test]
fn aspm_reads_policy_cmdline_and_links() {
    assert_eq!(
        aspm::current_choice("default [performance] powersave powersupersave"),
        "performance"
    );
    assert_eq!(
        aspm::current_choice("[default] performance powersave powersupersave"),
        "default"
    );
    let facts = Facts::embedded();
    let none = Inputs::default();
    // BIOS default policy, links on: nothing
    let t = Tree::new(&[
        (
            aspm::POLICY,
            "[default] performance powersave powersupersave",
        ),
        ("proc/cmdline", "ro quiet pcie_aspm.policy=default"),
        ("sys/bus/pci/devices/0000:01:00.0/vendor", "0x8086"),
        ("sys/bus/pci/devices/0000:01:00.0/device", "0x15f3"),
        ("sys/bus/pci/devices/0000:01:00.0/link/l1_aspm", "1"),
    ]);
    let pci = pci::devices(&t.root);
    assert_eq!(pci[0].name, "8086:15f3", "no pci.ids: IDs");
    assert_eq!(pci[0].label(), "0000:01:00.0 [8086:15f3]");
    assert!(
        aspm::check(&t.root, &pci, &none, &facts)
            .findings
            .is_empty()
    );
    // pcie_aspm=off: no runtime command works (the kernel answers EPERM), a reboot is needed,
    // also when the policy is performance and a link reads 0
    let t = Tree::new(&[
        (aspm::POLICY, "default [performance]"),
        ("proc/cmdline", "ro pcie_aspm=off"),
        ("sys/bus/pci/devices/0000:02:00.0/vendor", "0x1b21"),
        ("sys/bus/pci/devices/0000:02:00.0/device", "0x1166"),
        ("sys/bus/pci/devices/0000:02:00.0/link/l1_aspm", "0"),
    ]);
    let f = &aspm::check(&t.root, &pci::devices(&t.root), &none, &facts).findings[0];
    assert_eq!(f.id, "pcie-aspm-off");
    assert_eq!(f.command.as_deref(), Some(aspm::BOOT_OFF_COMMAND));
    assert_eq!(
        f.persist.as_deref().unwrap(),
        "remove pcie_aspm=off from the kernel command line (GRUB_CMDLINE_LINUX in /etc/default/grub, then update-grub) and reboot; add pcie_aspm.policy=powersupersave to the kernel command line; udev rule: ACTION==\"add\", SUBSYSTEM==\"pci\", KERNEL==\"0000:02:00.0\", ATTR{link/l1_aspm}=\"1\"; and set ASPM to Enabled (not Auto) in the BIOS"
    );
    assert!(
        f.persist
            .as_deref()
            .unwrap()
            .starts_with("remove pcie_aspm=off")
    );
    assert_eq!(
        f.watts,
        Some(Watts {
            low: 1.8,
            high: 4.0
        }),
        "a wall figure is not converted"
    );
    assert_eq!(f.watts_dc, None);
    // a known ASPM blocker (the I226-V in facts.toml) stays listed but out of the commands: the
    // blocker finding says forcing ASPM on it can drop the link, so this one must not do it
    let t = Tree::new(&[
        (aspm::POLICY, "default [performance] powersave"),
        ("sys/bus/pci/devices/0000:01:00.0/vendor", "0x8086"),
        ("sys/bus/pci/devices/0000:01:00.0/device", "0x125c"),
        ("sys/bus/pci/devices/0000:01:00.0/link/l1_aspm", "0"),
        ("sys/bus/pci/devices/0000:02:00.0/vendor", "0x1b21"),
        ("sys/bus/pci/devices/0000:02:00.0/device", "0x1166"),
        ("sys/bus/pci/devices/0000:02:00.0/link/l1_aspm", "0"),
    ]);
    let f = &aspm::check(&t.root, &pci::devices(&t.root), &none, &facts).findings[0];
    assert_eq!(
        f.command.as_deref(),
        Some(
            "echo powersupersave > /sys/module/pcie_aspm/parameters/policy && echo 1 > /sys/bus/pci/devices/0000:02:00.0/link/l1_aspm"
        )
    );
    assert!(!f.persist.as_deref().unwrap().contains("0000:01:00.0"));
    assert_eq!(
        f.devices,
        [
            "0000:01:00.0 [8086:125c] (off: l1_aspm; left off: a known ASPM blocker, see cstate-blocker-8086-125c)",
            "0000:02:00.0 [1b21:1166] (off: l1_aspm)"
        ]
    );
}

#[test]
fn sata_alpm_counts_disks_behind_each_host() {
    let facts = Facts::embedded();
    let dev = "devices/pci0000:00/0000:00:17.0/ata1/host0/target0:0:0/0:0:0:0";
    let t = Tree::new(&[
        (
            "sys/class/scsi_host/host0/link_power_management_policy",
            "medium_power",
        ),
        (
            "sys/class/scsi_host/host1/link_power_management_policy",
            "max_performance",
        ),
        (
            "sys/class/scsi_host/host2/link_power_management_policy",
            "med_power_with_dipm",
        ),
        // deeper than powertop's target (ahci's default on s2idle boards with Partial)
        (
            "sys/class/scsi_host/host3/link_power_management_policy",
            "min_power_with_partial",
        ),
        (&format!("sys/{dev}/model"), "WDC WD40EFRX"),
        (
            "sys/devices/pci0000:00/0000:00:17.0/ata4/host3/target3:0:0/3:0:0:0/model",
            "ST4000VN008",
        ),
        (
            "sys/devices/pci0000:00/0000:00:17.0/ata3/host2/target2:0:0/2:0:0:0/model",
            "ST8000VN004",
        ),
    ])
    .link("sys/block/sda/device", &format!("../../{dev}"))
    .link(
        "sys/block/sdb/device",
        "../../devices/pci0000:00/0000:00:17.0/ata4/host3/target3:0:0/3:0:0:0",
    )
    .link(
        "sys/block/sdc/device",
        "../../devices/pci0000:00/0000:00:17.0/ata3/host2/target2:0:0/2:0:0:0",
    );
    assert_eq!(sata_alpm::disks_behind(&t.root, "host0"), vec!["sda"]);
    let out = sata_alpm::check(&t.root, &Inputs::default(), &facts);
    // host1 has no disk: not counted; host2 and host3 save already
    assert_eq!(sata_alpm::disks_behind(&t.root, "host3"), vec!["sdb"]);
    let f = &out.findings[0];
    assert_eq!(
        f.title,
        "SATA links of 1 disk(s) never enter Slumber (link power management below med_power_with_dipm: medium_power)"
    );
    assert_eq!(f.devices, vec!["host0: sda"]);
    assert_eq!(
        f.watts_dc,
        Some(Watts {
            low: 0.4,
            high: 1.5
        })
    );
    // no curve: wall = DC
    assert_eq!(f.watts, f.watts_dc);
    // through a 500 W Gold PSU at 25 W a DC watt costs more at the wall
    let inputs = Inputs {
        idle_dc_watts: Some(25.0),
        psu: Some(gold_500()),
        ..Inputs::default()
    };
    let f = &sata_alpm::check(&t.root, &inputs, &facts).findings[0];
    let c = gold_500();
    let want = c.input_watts(25.0) - c.input_watts(25.0 - 1.5);
    assert!(want > 1.5);
    assert_eq!(f.watts.unwrap().high, (want * 100.0).round() / 100.0);
}

#[test]
fn runtime_pm_skips_suspended_gpus_usb_interfaces_and_upses() {
    let facts = Facts::embedded();
    let t = Tree::new(&[
        ("sys/bus/pci/devices/0000:03:00.0/vendor", "0x10de"),
        ("sys/bus/pci/devices/0000:03:00.0/device", "0x1c82"),
        ("sys/bus/pci/devices/0000:03:00.0/class", "0x030000"),
        ("sys/bus/pci/devices/0000:03:00.0/power/control", "on"),
        (
            "sys/bus/pci/devices/0000:03:00.0/power/runtime_status",
            "suspended",
        ),
        ("sys/bus/usb/devices/1-1/power/control", "on"),
        ("sys/bus/usb/devices/1-1/idVendor", "0764"),
        ("sys/bus/usb/devices/1-1/idProduct", "0501"),
        ("sys/bus/usb/devices/1-1:1.0/power/control", "on"),
        ("sys/bus/usb/devices/usb1/power/control", "on"),
    ]);
    let pci = pci::devices(&t.root);
    assert!(pci[0].is_display());
    let out = runtime_pm::check(&t.root, &pci, &Inputs::default(), &facts);
    assert_eq!(ids(&out.findings), BTreeSet::new());
    assert_eq!(out.notes.len(), 1, "the UPS is noted: {:?}", out.notes);
    // a keyboard beside the CyberPower UPS: the rule that persists autosuspend leaves the UPS out
    let t = t.with(&[
        ("sys/bus/usb/devices/1-2/power/control", "on"),
        ("sys/bus/usb/devices/1-2/idVendor", "046d"),
        ("sys/bus/usb/devices/1-2/idProduct", "c31c"),
    ]);
    let out = runtime_pm::check(&t.root, &pci, &Inputs::default(), &facts);
    let f = &out.findings[0];
    assert_eq!(f.id, "usb-autosuspend-off");
    assert_eq!(
        f.command.as_deref(),
        Some("echo auto > /sys/bus/usb/devices/1-2/power/control")
    );
    assert_eq!(
        f.persist.as_deref().unwrap(),
        "udev rule: ACTION==\"add\", SUBSYSTEM==\"usb\", TEST==\"power/control\", ATTR{idVendor}!=\"051d\", ATTR{idVendor}!=\"0463\", ATTR{idVendor}!=\"0764\", ATTR{idVendor}!=\"09ae\", ATTR{idVendor}!=\"06da\", ATTR{power/control}=\"auto\" (UPS makers excluded; exclude input devices you use the same way, by ATTR{idVendor}/ATTR{idProduct})"
    );
}

#[test]
fn cpu_policy_ignores_shallow_states_and_idle_halt() {
    let facts = Facts::embedded();
    let t = Tree::new(&[
        ("proc/cmdline", "ro idle=halt"),
        ("sys/devices/system/cpu/cpu0/cpuidle/state1/name", "C1E"),
        ("sys/devices/system/cpu/cpu0/cpuidle/state1/disable", "1"),
        ("sys/devices/system/cpu/cpu0/cpuidle/state2/name", "C6"),
        ("sys/devices/system/cpu/cpu0/cpuidle/state2/disable", "0"),
        (
            "sys/devices/system/cpu/cpufreq/policy0/scaling_governor",
            "schedutil",
        ),
    ]);
    assert!(
        cpu_policy::check(&t.root, &Inputs::default(), &facts)
            .findings
            .is_empty()
    );
    let t = Tree::new(&[
        ("proc/cmdline", "ro intel_idle.max_cstate=1 idle=poll"),
        ("sys/devices/system/cpu/intel_pstate/status", "passive"),
        (
            "sys/devices/system/cpu/cpufreq/policy0/scaling_governor",
            "performance",
        ),
    ]);
    let out = cpu_policy::check(&t.root, &Inputs::default(), &facts);
    assert_eq!(
        ids(&out.findings),
        ["cpu-deep-cstates-disabled", "cpu-governor-performance"].into()
    );
    assert!(
        out.findings[0]
            .title
            .contains("intel_idle.max_cstate=1 idle=poll"),
        "{}",
        out.findings[0].title
    );
    assert_eq!(
        out.findings[0].command, None,
        "a boot parameter has no runtime fix"
    );
    // intel_pstate passive offers the generic governors
    assert_eq!(
        out.findings[1].command.as_deref(),
        Some("echo schedutil > /sys/devices/system/cpu/cpufreq/policy0/scaling_governor")
    );
}

#[test]
fn pkg_cstates_says_why_it_cannot_count_never_zero() {
    let facts = Facts::embedded();
    // the PMU is there but the collector is off
    let t = Tree::new(&[(
        "sys/bus/event_source/devices/cstate_pkg/events/c6-residency",
        "event=0x02",
    )]);
    let out = pkg_cstates::check(&t.root, &Inputs::default(), &facts);
    assert!(out.findings.is_empty());
    assert!(
        out.notes[0]
            .text
            .contains("turn on [collectors.cstate_pkg]"),
        "{:?}",
        out.notes
    );
    assert_eq!(
        out.notes[1].text,
        "no ACPI LPIT: S0ix residency not measurable here"
    );
    // no PMU at all: not measurable on this CPU
    let t = Tree::new(&[(pkg_cstates::LPIT, "0")]);
    let out = pkg_cstates::check(&t.root, &Inputs::default(), &facts);
    assert!(out.notes[0].text.starts_with("not measurable on this CPU"));
    assert!(
        out.notes[1]
            .text
            .starts_with("S0ix (LPIT) residency since boot: 0.0 s")
    );
    // the collector's reason, as it gave it
    let why = crate::collectors::cstate_pkg::Unmeasurable::Paranoid(Some(2)).text();
    let inputs = Inputs {
        package_cstates: Some(PackageCstates {
            unmeasurable: Some(why.clone()),
            ..PackageCstates::default()
        }),
        ..Inputs::default()
    };
    let out = pkg_cstates::check(&t.root, &inputs, &facts);
    assert!(out.findings.is_empty(), "never 0 %: no finding");
    assert_eq!(out.notes[0].text, why);
}

fn residency(observed_secs: f64, shares: &[(&str, f64)]) -> Inputs {
    Inputs {
        idle_basis: "smoothed idle".to_owned(),
        package_cstates: Some(PackageCstates {
            unmeasurable: None,
            observed_secs,
            shares: shares.iter().map(|(s, v)| ((*s).to_owned(), *v)).collect(),
            while_idle: true,
        }),
        ..Inputs::default()
    }
}

#[test]
fn pkg_cstates_finds_a_package_that_never_reaches_pc6() {
    let facts = Facts::embedded();
    let t = Tree::new(&[]);
    // a day watched: PC2 most of the time, PC3 a little, PC6 almost never
    let inputs = residency(
        86_400.0,
        &[("pc2", 0.62), ("pc3", 0.021), ("pc6", 0.004), ("pc8", 0.0)],
    );
    let out = pkg_cstates::check(&t.root, &inputs, &facts);
    assert_eq!(
        out.notes[0].text,
        "deepest package C-state reached over 24.0 h while the host was idle: PC6 (0.4 % of the time)"
    );
    assert_eq!(ids(&out.findings), BTreeSet::from(["pkg-cstate-shallow"]));
    let f = &out.findings[0];
    assert_eq!(
        f.title,
        "the CPU package spends 0.4 % of the time in PC6 or deeper over 24.0 h while the host was idle"
    );
    assert_eq!(
        f.watts,
        Some(Watts {
            low: 2.2,
            high: 4.0
        })
    );
    assert_eq!(f.confidence, Confidence::Medium);
    assert_eq!(
        (f.evidence[1].path.as_str(), f.evidence[1].value.as_str()),
        ("perf cstate_pkg/c3-residency/ over msr/tsc/", "PC3 2.10 %")
    );
    assert!(!f.sources.is_empty());
    // one second, or a day with busy time in it: the same finding, low confidence, said so
    let mut busy = residency(86_400.0, &[("pc2", 0.9)]);
    busy.package_cstates.as_mut().unwrap().while_idle = false;
    for (inputs, over) in [
        (
            residency(1.0, &[("pc2", 0.9)]),
            "over 1 s while the host was idle",
        ),
        (busy, "over 24.0 h observed, busy time included"),
    ] {
        let out = pkg_cstates::check(&t.root, &inputs, &facts);
        assert_eq!(out.findings[0].confidence, Confidence::Low);
        assert!(out.notes[0].text.contains(over), "{}", out.notes[0].text);
    }
    // a package that sits in PC8 most of the time: a note, no finding
    let tuned = residency(7_200.0, &[("pc2", 0.05), ("pc6", 0.03), ("pc8", 0.81)]);
    let out = pkg_cstates::check(&t.root, &tuned, &facts);
    assert!(out.findings.is_empty());
    assert!(out.notes[0].text.ends_with("PC8 (81.0 % of the time)"));
    // counting started: no share yet, and no 0 %
    let started = residency(0.0, &[]);
    let out = pkg_cstates::check(&t.root, &started, &facts);
    assert!(out.findings.is_empty());
    assert!(out.notes[0].text.contains("need a second round"));
}

fn watched(disks: &[(&str, &str, f64, f64)]) -> standby::Watch {
    let mut w = standby::Watch::default();
    for (disk, block, awake_h, idle_h) in disks {
        w.disks.insert(
            (*disk).to_owned(),
            standby::DiskWatch {
                device: format!("/dev/{block}"),
                block: vec![(*block).to_owned()],
                awake_secs: awake_h * 3600.0,
                awake_idle_secs: idle_h * 3600.0,
                watched_secs: (awake_h + 2.0) * 3600.0,
                ever_standby: false,
                ..Default::default()
            },
        );
    }
    w
}

#[test]
fn disks_never_in_standby_for_a_day_of_idle_host_are_named_once() {
    let facts = Facts::embedded();
    let t = Tree::new(&[]);
    let busy = |name: &str| DiskActivity {
        name: name.into(),
        ios: 20_000,
        window_secs: 86_400.0,
        since_boot: false,
    };
    let inputs = Inputs {
        // sdb: 30 h awake, host idle 24 h of it; sdc: 30 h but the host was busy (10 h idle);
        // sdd: 20 h, not a day yet
        standby: Some(watched(&[
            ("WDC_WD40EFRX-68N32N0_WD-WCC7K1", "sdb", 30.0, 24.0),
            ("ST8000VN004-2M2101_WSD2", "sdc", 30.0, 10.0),
            ("ST4000VN008-2DR166_ZGY3", "sdd", 20.0, 20.0),
        ])),
        disk_activity: vec![busy("sdb"), busy("sde")],
        ..Inputs::default()
    };
    let out = disks::check(&t.root, &inputs, &facts);
    assert_eq!(
        ids(&out.findings),
        BTreeSet::from(["disk-never-standby", "disk-never-idle"])
    );
    let f = out
        .findings
        .iter()
        .find(|f| f.id == "disk-never-standby")
        .unwrap();
    assert_eq!(
        f.title,
        "1 spinning disk(s) never reached standby in the last 30.0 h watched, although the host was idle most of that time"
    );
    assert_eq!(f.devices, ["sdb (WDC_WD40EFRX-68N32N0_WD-WCC7K1)"]);
    assert_eq!(
        f.evidence[0].value,
        "no standby in 30.0 h watched (32.0 h watched in all), host idle 24.0 h of it"
    );
    assert_eq!(
        (f.evidence[1].path.as_str(), f.evidence[1].value.as_str()),
        (
            "sys/block/sdb/stat",
            "20000 I/Os in 86400 s: one every 4.320 s"
        )
    );
    assert_eq!(
        f.watts_dc,
        Some(Watts {
            low: 3.0,
            high: 6.0
        })
    );
    // one disk: its stat file spelled out (a shell leaves `/sys/block/{sdb}/stat` as it is)
    assert_eq!(
        f.command.as_deref().unwrap(),
        "set a spindown timer: hdparm -S 241 /dev/sdb; then find what keeps them up: `grep . /sys/block/sdb/stat` twice a minute apart, `fatrace`, or a SMART/temperature poller (hdparm -C shows the state without waking it)"
    );
    // sdb's watts are in this finding only: the I/O finding keeps sde
    let io = out
        .findings
        .iter()
        .find(|f| f.id == "disk-never-idle")
        .unwrap();
    assert_eq!(io.devices, ["sde"]);
    assert!(
        io.command
            .as_deref()
            .unwrap()
            .starts_with("find the writer: `grep . /sys/block/sde/stat` twice a minute apart,"),
        "{:?}",
        io.command
    );
    // under a day everywhere: a note says how long the history covers
    let young = Inputs {
        standby: Some(watched(&[("ST4000VN008-2DR166_ZGY3", "sdd", 20.0, 20.0)])),
        ..Inputs::default()
    };
    let out = disks::check(&t.root, &young, &facts);
    assert!(out.findings.is_empty());
    assert_eq!(
        out.notes[0].text,
        "SMART power-mode history covers 22.0 h of 1 spinning disk(s); whether each reaches standby needs a day"
    );
}

#[test]
fn disks_use_block_stat_and_skip_virtual_devices() {
    let line = "  137013    31210 17283250   151834   620433   385624 29614672  2893316        0  1136544  3106946        0        0        0        0    41690    61796";
    assert_eq!(crate::host::blockstat::parse_ios(line), Ok(137013 + 620433));
    let facts = Facts::embedded();
    let t = Tree::new(&[
        ("proc/uptime", "7200.50 14000.00"),
        ("sys/block/sda/queue/rotational", "1"),
        ("sys/block/sda/stat", "6 0 0 0 5 0 0 0 0 0 0"),
        ("sys/block/loop0/queue/rotational", "1"),
        ("sys/block/loop0/stat", "90000 0 0 0 0 0 0 0 0 0 0"),
        ("sys/block/nvme0n1/queue/rotational", "0"),
        ("sys/block/nvme0n1/stat", "90000 0 0 0 0 0 0 0 0 0 0"),
    ]);
    // stacked devices report rotational 1 over spinning disks, and repeat the I/O of the disks
    // beneath: a zvol, bcache, DRBD, an NVMe multipath path are not disks to spin down
    // (one definition with the wall estimate and SMART gating: host::blockstat)
    let t = t.with(&[
        ("sys/block/vda/queue/rotational", "1"),
        ("sys/block/vda/stat", "90000 0 0 0 0 0 0 0 0 0 0"),
        ("sys/block/zd0/queue/rotational", "1"),
        ("sys/block/zd0/stat", "90000 0 0 0 0 0 0 0 0 0 0"),
        ("sys/block/bcache0/queue/rotational", "1"),
        ("sys/block/bcache0/stat", "90000 0 0 0 0 0 0 0 0 0 0"),
        ("sys/block/drbd0/queue/rotational", "1"),
        ("sys/block/drbd0/stat", "90000 0 0 0 0 0 0 0 0 0 0"),
        ("sys/block/nvme0c0n1/queue/rotational", "1"),
        ("sys/block/nvme0c0n1/stat", "90000 0 0 0 0 0 0 0 0 0 0"),
    ]);
    let act = disks::activity_since_boot(&t.root);
    assert_eq!(act.len(), 1);
    assert_eq!((act[0].name.as_str(), act[0].ios), ("sda", 11));
    // 11 I/Os in 2 h: one every 11 min, quiet enough
    let out = disks::check(&t.root, &Inputs::default(), &facts);
    assert!(out.findings.is_empty());
    // the daemon's window overrides since-boot and keeps the figure's confidence
    let inputs = Inputs {
        disk_activity: vec![DiskActivity {
            name: "sda".into(),
            ios: 400,
            window_secs: 3600.0,
            since_boot: false,
        }],
        ..Inputs::default()
    };
    let f = &disks::check(&t.root, &inputs, &facts).findings[0];
    assert_eq!(f.id, "disk-never-idle");
    assert_eq!(f.confidence, Confidence::Medium);
    assert_eq!(
        f.watts_dc,
        Some(Watts {
            low: 3.0,
            high: 6.0
        })
    );
}

#[test]
fn psu_saving_is_capped_at_its_loss() {
    let facts = Facts::embedded();
    // 12 % load on a 150 W unit: not flagged
    let ok = Inputs {
        idle_dc_watts: Some(18.0),
        psu: Some(Curve::from_profile(Level::Gold, Mains::V115, 150.0).unwrap()),
        ..Inputs::default()
    };
    assert!(psu::check(&ok, &facts).findings.is_empty());
    // a unit with a small fixed loss loses less than the published 7 W at 20 W: capped
    let good = Curve::new(300.0, &[(30.0, 0.90), (150.0, 0.94), (300.0, 0.92)]).unwrap();
    let loss = good.loss_watts(20.0);
    assert!(loss < 7.0, "{loss}");
    let tight = Inputs {
        idle_dc_watts: Some(20.0),
        psu: Some(good),
        ..Inputs::default()
    };
    let w = psu::check(&tight, &facts).findings[0].watts.unwrap();
    assert_eq!(w.high, (loss * 100.0).round() / 100.0);
    assert_eq!(w.low, 2.5_f64.min(w.high));
    // no curve: a note, no finding
    let out = psu::check(&Inputs::default(), &facts);
    assert!(out.findings.is_empty() && out.notes.len() == 1);
}

#[test]
fn kernel_knobs_read_proc_and_module_parameters() {
    let t = Tree::new(&[
        ("proc/sys/kernel/nmi_watchdog", "0"),
        ("proc/sys/vm/dirty_writeback_centisecs", "0"),
        ("sys/module/snd_hda_intel/parameters/power_save", "10"),
    ]);
    assert!(
        kernel_knobs::check(&t.root).findings.is_empty(),
        "0 turns periodic writeback off"
    );
    let t = Tree::new(&[("proc/sys/vm/dirty_writeback_centisecs", "1499")]);
    assert_eq!(
        ids(&kernel_knobs::check(&t.root).findings),
        ["dirty-writeback-short"].into()
    );
}

#[test]
fn hw_class_tells_chiplet_ryzens_from_apus() {
    for (model, want) in [
        ("AMD Ryzen 5 5600X 6-Core Processor", true),
        ("AMD Ryzen 9 7950X3D 16-Core Processor", true),
        ("AMD Ryzen 7 5700G with Radeon Graphics", false),
        ("AMD Ryzen 5 PRO 4650GE with Radeon Graphics", false),
        ("AMD Ryzen 7 7840HS w/ Radeon 780M Graphics", false),
        ("AMD Ryzen 5 8600G w/ Radeon 760M Graphics", false),
        ("12th Gen Intel(R) Core(TM) i5-12400", false),
        ("AMD Ryzen 5 3600 6-Core Processor", true),
        ("AMD Ryzen 7 5700X3D 8-Core Processor", true),
        ("AMD Ryzen 5 7500F 6-Core Processor", true),
        ("AMD Ryzen 5 9600X 6-Core Processor", true),
        // single-die parts without an iGPU suffix: Cezanne, Renoir, Phoenix, Zeppelin
        ("AMD Ryzen 5 5500", false),
        ("AMD Ryzen 7 5700 8-Core Processor", false),
        ("AMD Ryzen 5 4500 6-Core Processor", false),
        ("AMD Ryzen 5 8400F 6-Core Processor", false),
        ("AMD Ryzen 5 1600 Six-Core Processor", false),
        ("AMD Ryzen 7 2700X Eight-Core Processor", false),
    ] {
        assert_eq!(hw_class::is_chiplet_desktop_ryzen(model), want, "{model}");
    }
}

/// Issue 13 §10: the measured package power decides. A 5600X whose package draws 3.2 W cannot
/// hold 6-8 W of I/O-die overhead (no finding); at 18.5 W it is the evidence (medium
/// confidence); without RAPL the model name alone gives it at low confidence.
#[test]
fn hw_class_uses_the_measured_package_power() {
    let t = Tree::new(&[(
        "proc/cpuinfo",
        "processor\t: 0\nmodel name\t: AMD Ryzen 5 5600X 6-Core Processor\n",
    )]);
    let facts = Facts::embedded();
    let with = |w: Option<f64>| {
        let inputs = Inputs {
            package_watts: w,
            idle_basis: "smoothed idle".to_owned(),
            ..Inputs::default()
        };
        hw_class::check(&t.root, &inputs, &facts).findings
    };
    assert!(with(Some(3.2)).is_empty());
    let measured = with(Some(18.5));
    assert_eq!(measured.len(), 1);
    assert_eq!(measured[0].confidence, Confidence::Medium);
    assert_eq!(
        measured[0].evidence[1].value,
        "measured package power 18.5 W (RAPL package zones; smoothed idle), at least the 6-8 W an APU of the same generation idles lower"
    );
    assert_eq!(
        measured[0].watts,
        Some(Watts {
            low: 6.0,
            high: 8.0
        })
    );
    let guessed = with(None);
    assert_eq!(guessed[0].confidence, Confidence::Low);
    assert!(
        guessed[0].evidence[1]
            .value
            .starts_with("no RAPL package power measured")
    );
}

#[test]
fn pci_ids_names_from_the_database_format() {
    let ids = "# comment\n8086  Intel Corporation\n\t125c  Ethernet Controller I226-V\n\t\t8086 0000  Ethernet Controller I226-V\n1b21  ASMedia Technology Inc.\n\t1166  ASM1166 Serial ATA Controller\nC 01  Mass storage controller\n\t06  SATA controller\n";
    let names = pci::names_from(
        ids.as_bytes(),
        &[(0x8086, 0x125c), (0x1b21, 0x1166), (0x10de, 0x1c82)],
    );
    assert_eq!(
        names.get(&(0x8086, 0x125c)).map(String::as_str),
        Some("Intel Corporation Ethernet Controller I226-V")
    );
    assert_eq!(
        names.get(&(0x1b21, 0x1166)).map(String::as_str),
        Some("ASMedia Technology Inc. ASM1166 Serial ATA Controller")
    );
    assert_eq!(names.len(), 2);
}

#[test]
fn a_virtual_machine_has_no_findings_only_a_note() {
    let t = Tree::new(&[
        (
            "proc/cpuinfo",
            "processor\t: 0\nflags\t\t: fpu vme de pse tsc msr pae hypervisor lahf_lm\n",
        ),
        ("proc/sys/kernel/nmi_watchdog", "1"),
        ("sys/bus/pci/devices/0000:00:01.0/vendor", "0x1af4"),
        ("sys/bus/pci/devices/0000:00:01.0/device", "0x1045"),
        ("sys/bus/pci/devices/0000:00:01.0/power/control", "on"),
    ]);
    assert!(is_virtual_machine(&t.root));
    let r = audit(&t.root, &Inputs::default(), &Facts::embedded());
    assert!(r.findings.is_empty());
    assert_eq!(r.notes.len(), 1);
    assert!(
        r.notes[0].text.starts_with("virtual machine"),
        "{:?}",
        r.notes
    );
    assert!(
        r.text().starts_with("idle power not measured, no findings"),
        "{}",
        r.text()
    );
    assert!(!is_virtual_machine(&fixture("untuned")));
}

#[test]
fn advice_summary_lists_findings_by_watts_for_alert_descriptions() {
    let snap = crate::collectors::advisor::Snapshot {
        report: audit(
            &fixture("untuned"),
            &Inputs {
                idle_dc_watts: Some(25.0),
                psu: Some(gold_500()),
                ..Inputs::default()
            },
            &Facts::embedded(),
        ),
    };
    let mut fams = crate::metrics::Families::new(
        <crate::collectors::advisor::Snapshot as crate::metrics::Render>::FAMILIES,
    );
    crate::metrics::Render::render(&snap, &mut fams);
    let text = advice_summary(&fams.into_vec());
    assert!(
        text.starts_with("disk-never-idle up to 12.1 W; cpu-chiplet-io-die up to 8.0 W; gpu-runtime-pm-off up to 7.1 W; psu-oversized up to 7.0 W;"),
        "{text}"
    );
    assert_eq!(
        text.matches(" up to ").count(),
        9,
        "only findings with watts: {text}"
    );
    assert_eq!(
        advice_summary(&[]),
        "none known (is [collectors.advisor] on?)"
    );
}

/// The SMART collector reads a disk with a sys/block entry only after that disk's own I/O, so
/// its interval keeps only the disks it cannot gate (RAID pass-through) from spinning down.
#[test]
fn the_smart_interval_matters_only_for_disks_smart_cannot_gate() {
    let facts = Facts::embedded();
    let t = Tree::new(&[]);
    let with = |ungated: Option<&[&str]>| {
        let inputs = Inputs {
            smart_query_secs: Some(600.0),
            smart_ungated: ungated.map(|u| u.iter().map(|d| (*d).to_owned()).collect()),
            ..Inputs::default()
        };
        disks::check(&t.root, &inputs, &facts)
            .findings
            .into_iter()
            .find(|f| f.id == "smart-interval-below-spindown")
    };
    // the daemon's scan: only sys/block disks, all gated
    assert_eq!(with(Some(&[])), None);
    let f = with(Some(&["/dev/bus/0"])).expect("an ungated disk");
    assert_eq!(f.devices, ["/dev/bus/0"]);
    assert!(
        f.title
            .ends_with("are read that often and can never spin down"),
        "{}",
        f.title
    );
    // a one-shot audit does not know: it says so
    let f = with(None).expect("unknown");
    assert!(f.devices.is_empty());
    assert!(
        f.title
            .ends_with("(whether there are any needs the daemon's SMART scan)"),
        "{}",
        f.title
    );
    // an hour is longer than common spindown timers: nothing
    let inputs = Inputs {
        smart_query_secs: Some(3600.0),
        smart_ungated: Some(vec!["/dev/bus/0".to_owned()]),
        ..Inputs::default()
    };
    assert!(disks::check(&t.root, &inputs, &facts).findings.is_empty());
}

#[test]
fn a_blocker_is_named_with_the_command_for_its_own_address() {
    let facts = Facts::embedded();
    let t = Tree::new(&[
        ("sys/bus/pci/devices/0000:01:00.0/vendor", "0x8086"),
        ("sys/bus/pci/devices/0000:01:00.0/device", "0x125c"),
        ("sys/bus/pci/devices/0000:05:00.0/vendor", "0x8086"),
        ("sys/bus/pci/devices/0000:05:00.0/device", "0x125c"),
        ("sys/bus/pci/devices/0000:02:00.0/vendor", "0x1b21"),
        ("sys/bus/pci/devices/0000:02:00.0/device", "0x1166"),
    ]);
    let out = blockers::check(&pci::devices(&t.root), &Inputs::default(), &facts);
    let f = &out.findings[0];
    assert_eq!(
        (f.id.as_str(), f.devices.len()),
        ("cstate-blocker-8086-125c", 2)
    );
    assert_eq!(
        f.command.as_deref(),
        Some(
            "none at runtime: check the link state: `lspci -vv -s 0000:01:00.0 | grep -E 'LnkCap|LnkCtl'`, `lspci -vv -s 0000:05:00.0 | grep -E 'LnkCap|LnkCtl'`"
        )
    );
    // two I226-V at 1-3 W DC each, no PSU curve: 2-6 W
    assert_eq!(
        f.watts_dc,
        Some(Watts {
            low: 2.0,
            high: 6.0
        })
    );
}

#[test]
fn cpu_policy_notes_the_share_of_time_in_the_deepest_enabled_idle_state() {
    let facts = Facts::embedded();
    let cpu = |n: u32, state: u32, name: &str, disable: &str, us: &str| {
        let d = format!("sys/devices/system/cpu/cpu{n}/cpuidle/state{state}");
        [
            (format!("{d}/name"), name.to_owned()),
            (format!("{d}/disable"), disable.to_owned()),
            (format!("{d}/time"), us.to_owned()),
        ]
    };
    let files: Vec<(String, String)> = [
        cpu(0, 0, "POLL", "0", "1000"),
        cpu(0, 1, "C1", "0", "2000000"),
        cpu(0, 2, "C6", "0", "50000000"),
        // cpu1's C10 is disabled: its deepest enabled state is C6 (state10 sorts after state2)
        cpu(1, 2, "C6", "0", "30000000"),
        cpu(1, 10, "C10", "1", "90000000"),
    ]
    .into_iter()
    .flatten()
    .chain([("proc/uptime".to_owned(), "100.00 180.00".to_owned())])
    .collect();
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, v)| (p.as_str(), v.as_str()))
        .collect();
    let t = Tree::new(&refs);
    let out = cpu_policy::check(&t.root, &Inputs::default(), &facts);
    // 50 s and 30 s of 100 s: 40 % on average
    assert_eq!(
        out.notes
            .iter()
            .map(|n| n.text.as_str())
            .collect::<Vec<_>>(),
        [
            "the cores spent 40.0 % of the time since boot in their deepest enabled idle state (C6), busy time included (sys/devices/system/cpu/cpu*/cpuidle/state*/time over proc/uptime)"
        ]
    );
    // C10 disabled on cpu1: that is the finding, C1-and-shallower are not
    assert_eq!(ids(&out.findings), ["cpu-deep-cstates-disabled"].into());
}
