//! Tests of the EDAC walk, the SMBIOS decoder and the rendered series.

use super::dmi::fold_dmi_entry;
use super::*;
use crate::host::root::ReadError;
use crate::testutil::render_series as render;

/// An SMBIOS 2.7 type 16 structure (length 0x17): system board, system memory, `ecc`, 32 GiB
/// max, no error info handle (0xFFFE), 2 slots, extended capacity 0, empty string set.
fn type16(ecc: u8) -> Vec<u8> {
    vec![
        0x10, 0x17, 0x26, 0x00, // type 16, length 0x17, handle 0x0026
        0x03, 0x03, ecc, // location system board, use system memory, error correction
        0x00, 0x00, 0x00, 0x02, // max capacity 0x0200_0000 KiB = 32 GiB
        0xFE, 0xFF, // no error information handle
        0x02, 0x00, // 2 memory devices
        0, 0, 0, 0, 0, 0, 0, 0, // extended max capacity (unused)
        0x00, 0x00, // string set: none
    ]
}

#[test]
fn parses_smbios_type16_error_correction() {
    let a = parse_memory_array(&type16(0x06)).unwrap();
    assert_eq!(
        a,
        MemoryArray {
            use_: "system-memory",
            ecc: Ecc::MultiBitEcc,
            slots: Some(2)
        }
    );
    let expect = [
        (0x03, Ecc::None, Some(false)),
        (0x04, Ecc::Parity, Some(false)),
        (0x05, Ecc::SingleBitEcc, Some(true)),
        (0x07, Ecc::Crc, Some(true)),
        (0x01, Ecc::Other, None),
        (0x02, Ecc::Unknown, None),
        (0x09, Ecc::Reserved(9), None),
    ];
    for (byte, ecc, corrects) in expect {
        let a = parse_memory_array(&type16(byte)).unwrap();
        assert_eq!((a.ecc, a.ecc.corrects()), (ecc, corrects), "byte {byte:#x}");
    }
    // SMBIOS 2.0 structure, length 0x0F minus the slot word: 0x0D is too short for slots
    let mut short = type16(0x05);
    short[1] = 0x0D;
    assert_eq!(parse_memory_array(&short).unwrap().slots, None);
}

#[test]
fn rejects_malformed_smbios_structures() {
    let err = |raw: &[u8]| parse_memory_array(raw).unwrap_err().to_string();
    assert_eq!(
        err(&[]),
        "SMBIOS type 16, line 1: 0 bytes, shorter than a structure header"
    );
    let mut t17 = type16(0x06);
    t17[0] = 17;
    assert_eq!(
        err(&t17),
        "SMBIOS type 16, line 1: byte 0x00: type 17, expected 16"
    );
    assert_eq!(
        err(&[0x10, 0x06, 0, 0, 3, 3]),
        "SMBIOS type 16, line 1: byte 0x01: length 0x06 leaves no room for error correction at 0x06"
    );
    assert_eq!(
        err(&type16(0x06)[..10]),
        "SMBIOS type 16, line 1: byte 0x01: length 0x17 but only 10 bytes"
    );
}

#[test]
fn splits_channel_attribute_names() {
    assert_eq!(
        parse_channel_attr("ch0_ce_count"),
        Some((0, ChannelAttr::Ce))
    );
    assert_eq!(
        parse_channel_attr("ch12_ue_count"),
        Some((12, ChannelAttr::Ue))
    );
    assert_eq!(
        parse_channel_attr("ch1_dimm_label"),
        Some((1, ChannelAttr::Label))
    );
    for other in [
        "ce_count",
        "ch_ce_count",
        "chx_ce_count",
        "ch0_size",
        "",
        "ch0",
    ] {
        assert_eq!(parse_channel_attr(other), None, "{other}");
    }
}

#[test]
fn reads_the_captured_csrow_tree() {
    let root = crate::testutil::shared_root("sysfs/node_exporter");
    let (mcs, faults) = read_controllers(&root).unwrap();
    assert!(faults.is_empty(), "{faults:?}");
    assert_eq!(mcs.len(), 1);
    let mc = &mcs[0];
    assert_eq!(
        (
            mc.id.as_str(),
            mc.name.as_deref(),
            mc.size_mb,
            mc.ce,
            mc.ue,
            mc.ce_noinfo,
            mc.ue_noinfo
        ),
        ("mc0", None, None, Some(1), Some(5), Some(2), Some(6))
    );
    assert!(mc.dimms.is_empty());
    let rows: Vec<_> = mc
        .csrows
        .iter()
        .map(|r| (r.id.as_str(), r.ce, r.ue))
        .collect();
    assert_eq!(
        rows,
        [
            ("csrow0", Some(3), Some(4)),
            ("csrow1", Some(0), Some(4)),
            ("csrow2", Some(0), Some(5))
        ]
    );
    let ch = |r: usize, c: usize| {
        let ch = &mc.csrows[r].channels[c];
        (ch.index, ch.ce, ch.ue, ch.label.clone().unwrap())
    };
    assert_eq!(ch(0, 1), (1, Some(0), Some(2), "mc0csrow0channel1".into()));
    // csrow2 has no chN_ue_count files upstream: unknown, not 0
    assert_eq!(ch(2, 0), (0, Some(0), None, "mc0csrow2channel0".into()));
    assert_eq!(mc.csrows[2].channels.len(), 2);
}

#[test]
fn renders_the_captured_tree_exactly() {
    let root = crate::testutil::shared_root("sysfs/node_exporter");
    let sample = Edac::new(Config::default()).round(&root).unwrap();
    let lines = render(&sample.snapshot);
    let text = lines.join("\n");
    let expect = [
        "hostwatt_edac_channel_correctable_errors_total{controller=\"mc0\",csrow=\"csrow0\",channel=\"ch0\"} 0",
        "hostwatt_edac_channel_uncorrectable_errors_total{controller=\"mc0\",csrow=\"csrow1\",channel=\"ch1\"} 2",
        "hostwatt_edac_channel_info{controller=\"mc0\",csrow=\"csrow2\",channel=\"ch1\",label=\"mc0csrow2channel1\"} 1",
        "hostwatt_edac_controller_info{controller=\"mc0\",name=\"\"} 1",
        "hostwatt_edac_correctable_errors_total{controller=\"mc0\"} 1",
        "hostwatt_edac_correctable_noinfo_errors_total{controller=\"mc0\"} 2",
        "hostwatt_edac_csrow_correctable_errors_total{controller=\"mc0\",csrow=\"csrow0\"} 3",
        "hostwatt_edac_csrow_uncorrectable_errors_total{controller=\"mc0\",csrow=\"csrow2\"} 5",
        "hostwatt_edac_reporting_active 1",
        "hostwatt_edac_uncorrectable_errors_total{controller=\"mc0\"} 5",
        "hostwatt_edac_uncorrectable_noinfo_errors_total{controller=\"mc0\"} 6",
    ];
    for l in expect {
        assert!(lines.iter().any(|x| x == l), "missing {l} in\n{text}");
    }
    let count = |prefix: &str| lines.iter().filter(|l| l.starts_with(prefix)).count();
    assert_eq!(count("hostwatt_edac_channel_correctable_errors_total"), 6);
    assert_eq!(count("hostwatt_edac_channel_uncorrectable_errors_total"), 4);
    assert_eq!(count("hostwatt_edac_memory_"), 0, "no DMI in this tree");
}

#[test]
fn no_edac_dir_is_reporting_inactive_not_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let sample = Edac::new(Config::default())
        .round(&Root::new(dir.path()))
        .unwrap();
    assert!(sample.faults.is_empty());
    assert_eq!(
        render(&sample.snapshot),
        ["hostwatt_edac_reporting_active 0"]
    );
}

#[test]
fn a_garbage_count_is_a_fault_of_its_item_only() {
    let dir = tempfile::tempdir().unwrap();
    let mc = dir.path().join(MC_BASE).join("mc0");
    std::fs::create_dir_all(mc.join("dimm0")).unwrap();
    std::fs::create_dir_all(mc.join("dimm1")).unwrap();
    std::fs::write(mc.join("ce_count"), "7\n").unwrap();
    std::fs::write(mc.join("dimm0/dimm_ce_count"), "x\n").unwrap();
    std::fs::write(mc.join("dimm1/dimm_ce_count"), "4\n").unwrap();
    let (mcs, faults) = read_controllers(&Root::new(dir.path())).unwrap();
    assert_eq!(mcs[0].ce, Some(7));
    assert_eq!(
        mcs[0]
            .dimms
            .iter()
            .map(|d| (d.id.as_str(), d.ce))
            .collect::<Vec<_>>(),
        [("dimm0", None), ("dimm1", Some(4))]
    );
    assert_eq!(faults.len(), 1);
    assert_eq!(
        (faults[0].item.as_str(), faults[0].error.kind().as_str()),
        ("mc0/dimm0", "parse")
    );
    assert!(
        faults[0]
            .error
            .to_string()
            .starts_with("sys/devices/system/edac/mc/mc0/dimm0/dimm_ce_count: "),
        "{}",
        faults[0].error
    );
}

#[test]
fn root_only_dmi_is_a_metric_not_a_fault() {
    let mut dmi = Dmi::default();
    let mut faults = Vec::new();
    let denied = ReadError {
        rel_path: "sys/firmware/dmi/entries/16-0/raw".into(),
        source: io::Error::from(io::ErrorKind::PermissionDenied),
    };
    fold_dmi_entry(&mut dmi, &mut faults, "16-0", Err(denied));
    assert!(faults.is_empty());
    assert_eq!((dmi.readable, dmi.ecc_present()), (Some(false), None));
    let snap = Snapshot {
        controllers: Vec::new(),
        dmi,
    };
    assert_eq!(
        render(&snap),
        [
            "hostwatt_edac_memory_dmi_readable 0",
            "hostwatt_edac_reporting_active 0"
        ]
    );

    let mut dmi = Dmi::default();
    let eio = ReadError {
        rel_path: "sys/firmware/dmi/entries/16-1/raw".into(),
        source: io::Error::other("EIO"),
    };
    fold_dmi_entry(&mut dmi, &mut faults, "16-0", Ok(type16(0x03)));
    fold_dmi_entry(&mut dmi, &mut faults, "16-1", Err(eio));
    assert_eq!((dmi.readable, dmi.ecc_present()), (Some(true), Some(false)));
    assert_eq!(
        faults
            .iter()
            .map(|f| (f.item.as_str(), f.error.kind().as_str()))
            .collect::<Vec<_>>(),
        [("dmi/16-1", "io")]
    );
}

#[test]
fn system_memory_arrays_decide_ecc_presence() {
    let array = |use_, ecc| MemoryArray {
        use_,
        ecc,
        slots: None,
    };
    let dmi = |arrays: Vec<MemoryArray>| Dmi {
        arrays: arrays
            .into_iter()
            .enumerate()
            .map(|(i, a)| (format!("16-{i}"), a))
            .collect(),
        readable: Some(true),
    };
    let flash_ecc_system_none = dmi(vec![
        array("flash-memory", Ecc::SingleBitEcc),
        array("system-memory", Ecc::None),
    ]);
    assert_eq!(flash_ecc_system_none.ecc_present(), Some(false));
    let two_sockets = dmi(vec![
        array("system-memory", Ecc::Unknown),
        array("system-memory", Ecc::MultiBitEcc),
    ]);
    assert_eq!(two_sockets.ecc_present(), Some(true));
    assert_eq!(
        dmi(vec![array("other", Ecc::Crc)]).ecc_present(),
        Some(true)
    );
    assert_eq!(dmi(vec![]).ecc_present(), None);
}

#[test]
fn reads_the_edac_ecc_case_across_rounds() {
    let case = crate::testutil::case_dir("edac-ecc");
    let dir = tempfile::tempdir().unwrap();
    crate::testutil::overlay(&case.join("root"), dir.path());
    let root = Root::new(dir.path());
    let mut edac = Edac::new(Config::default());
    let first = edac.round(&root).unwrap();
    assert!(first.faults.is_empty(), "{:?}", first.faults);
    let series = render(&first.snapshot);
    let expect = [
        "hostwatt_edac_controller_info{controller=\"mc0\",name=\"Intel_client_SoC MC#0\"} 1",
        "hostwatt_edac_controller_size_bytes{controller=\"mc0\"} 17179869184",
        "hostwatt_edac_correctable_errors_total{controller=\"mc0\"} 3",
        "hostwatt_edac_correctable_noinfo_errors_total{controller=\"mc0\"} 0",
        "hostwatt_edac_dimm_correctable_errors_total{controller=\"mc0\",dimm=\"dimm0\"} 2",
        "hostwatt_edac_dimm_correctable_errors_total{controller=\"mc0\",dimm=\"dimm1\"} 1",
        "hostwatt_edac_dimm_info{controller=\"mc0\",dimm=\"dimm0\",label=\"MC#0_Chan#0_DIMM#0\",location=\"channel 0 slot 0\",mem_type=\"Unbuffered-DDR5\",edac_mode=\"SECDED\"} 1",
        "hostwatt_edac_dimm_info{controller=\"mc0\",dimm=\"dimm1\",label=\"MC#0_Chan#1_DIMM#0\",location=\"channel 1 slot 0\",mem_type=\"Unbuffered-DDR5\",edac_mode=\"SECDED\"} 1",
        "hostwatt_edac_dimm_size_bytes{controller=\"mc0\",dimm=\"dimm1\"} 8589934592",
        "hostwatt_edac_dimm_uncorrectable_errors_total{controller=\"mc0\",dimm=\"dimm0\"} 0",
        "hostwatt_edac_dimm_uncorrectable_errors_total{controller=\"mc0\",dimm=\"dimm1\"} 0",
        "hostwatt_edac_reporting_active 1",
        "hostwatt_edac_uncorrectable_errors_total{controller=\"mc0\"} 0",
        "hostwatt_edac_memory_array_info{array=\"16-0\",use=\"system-memory\"} 1",
        "hostwatt_edac_memory_dmi_readable 1",
        "hostwatt_edac_memory_ecc_present 1",
        "hostwatt_edac_memory_ecc_type{array=\"16-0\",state=\"multi-bit-ecc\"} 1",
        "hostwatt_edac_memory_ecc_type{array=\"16-0\",state=\"single-bit-ecc\"} 0",
    ];
    for l in expect {
        assert!(series.iter().any(|x| x == l), "missing {l} in {series:#?}");
    }
    let ecc_states = series
        .iter()
        .filter(|l| l.starts_with("hostwatt_edac_memory_ecc_type"))
        .count();
    assert_eq!(ecc_states, Ecc::STATES.len());
    assert!(
        !series.iter().any(|l| l.contains("csrow")),
        "no csrow series on the dimm layout"
    );

    crate::testutil::overlay(&case.join("rounds/1"), dir.path());
    let second = edac.round(&root).unwrap();
    let mc = &second.snapshot.controllers[0];
    let dimms: Vec<_> = mc.dimms.iter().map(|d| (d.id.as_str(), d.ce)).collect();
    assert_eq!(
        (mc.ce, dimms),
        (Some(5), vec![("dimm0", Some(4)), ("dimm1", Some(1))])
    );
    assert_eq!(second.snapshot.dmi, first.snapshot.dmi, "DMI cached");
}

#[test]
fn edac_ecc_case_config_turns_on_edac_and_thermal() {
    // the golden harness turns off every collector a case does not turn on
    let case = crate::testutil::case_dir("edac-ecc");
    let path = case.join("config.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let overrides = crate::config::Overrides {
        root: Some(case.join("root")),
        ..Default::default()
    };
    let cfg = crate::config::resolve(&path.to_string_lossy(), &text, &overrides).unwrap();
    let c = &cfg.collectors;
    assert_eq!(
        (
            c.edac.enabled,
            c.edac.interval.0.as_secs(),
            c.thermal.enabled,
            c.thermal.interval.0.as_secs()
        ),
        (true, 60, true, 15)
    );
}
