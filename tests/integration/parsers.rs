//! Every text parser returns `Ok` or `Err` on arbitrary input and never panics: proptest feeds
//! random strings, and mutations of real captures, to each `parse_*`.

use hostwatt::collectors::hwmon::{self, SensorKind};
use hostwatt::collectors::smart::json as smart_json;
use hostwatt::collectors::zfs::{json as zfs_json, kstat, list, status, units};
use hostwatt::collectors::{cpufreq, edac, rapl, thermal};
use hostwatt::host::blockstat;
use proptest::prelude::*;

fn all_text_parsers(s: &str) {
    let _ = rapl::parse_zone_id(s);
    let _ = hwmon::parse_attr_name(s);
    let _ = hwmon::parse_value(SensorKind::Temp, s);
    let _ = hwmon::parse_flag(s);
    let _ = thermal::parse_millicelsius(s);
    let _ = thermal::parse_trip_attr(s);
    let _ = cpufreq::parse_khz("x", s);
    let _ = edac::parse_channel_attr(s);
    let _ = edac::parse_memory_array(s.as_bytes());
    let _ = blockstat::parse_ios(s);
    let _ = smart_json::parse_scan(s);
    let _ = smart_json::parse_report(s, 0);
    let _ = kstat::parse_kstat(s);
    let _ = kstat::parse_arcstats(s);
    let _ = kstat::parse_objset("p", s);
    let _ = list::parse_list(s, None, &mut Vec::new());
    let _ = status::parse_status(s, &mut Vec::new());
    let _ = status::parse_scan(s);
    let _ = zfs_json::parse_list_json(s, &mut Vec::new());
    let _ = zfs_json::parse_status_json(s, &mut Vec::new());
    let _ = units::parse_size("x", 1, s);
    let _ = units::parse_duration(s);
    let _ = units::parse_ctime(s);
}

/// Real captures to mutate: a zpool status, a kstat file, a smartctl report.
fn captures() -> Vec<String> {
    [
        "zfs/lab-openzfs-2.3.2/zpool_status_scrubbing.txt",
        "zfs/lab-openzfs-2.3.2/zpool_status_j_degraded.json",
        "zfs/lab-openzfs-2.1.11/arcstats.txt",
        "smartctl/lab-qemu/smart_sda.json",
    ]
    .iter()
    .map(|rel| {
        let p = crate::support::shared_dir().join(rel);
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    })
    .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parsers_never_panic_on_arbitrary_text(s in "\\PC{0,300}") {
        all_text_parsers(&s);
    }

    #[test]
    fn parsers_never_panic_on_mutated_captures(which in 0usize..4, cut in 0.0f64..1.0, byte in any::<u8>(), at in 0.0f64..1.0) {
        let text = &captures()[which];
        let mut bytes = text.as_bytes()[..(text.len() as f64 * cut) as usize].to_vec();
        if !bytes.is_empty() {
            let i = ((bytes.len() - 1) as f64 * at) as usize;
            bytes[i] = byte;
        }
        all_text_parsers(&String::from_utf8_lossy(&bytes));
    }
}
