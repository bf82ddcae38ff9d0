//! Real-world case `smart-megaraid-three-disks` through the real binary: `hostwatt once` with
//! the case's recorded smartctl runs (`--replay-commands`), read in place.

use crate::support;

#[test]
fn once_sees_three_disks_behind_one_megaraid_node() {
    let case = support::shared_dir().join("real-world/smart-megaraid-three-disks");
    let stdout = support::once(
        &case,
        &case.join("config.toml"),
        &[
            "--replay-commands".as_ref(),
            case.join("commands.toml").as_os_str(),
        ],
    );
    for (n, celsius) in [(1, 31.0), (2, 30.0), (3, 29.0)] {
        let disk = format!("TOSHIBA_MG08SCA16TEY_FAKESERIAL000{n}");
        let v = |name: &str| {
            let series = format!("hostwatt_smart_{name}{{disk=\"{disk}\"}}");
            support::value(&stdout, &series).unwrap_or_else(|| panic!("no {series}\n{stdout}"))
        };
        assert_eq!(v("temperature_celsius"), celsius);
        assert_eq!(v("health_passed"), 1.0);
        assert_eq!(v("scsi_grown_defects"), 0.0);
        let info = format!(
            "hostwatt_smart_device_info{{disk=\"{disk}\",device=\"/dev/bus/0\",type=\"megaraid,{n}\",protocol=\"SCSI\",model=\"TOSHIBA MG08SCA16TEY\",family=\"\",serial=\"FAKESERIAL000{n}\",firmware=\"EJ08\",rotation_rate=\"7200\"}}"
        );
        assert_eq!(
            support::value(&stdout, &info),
            Some(1.0),
            "{info}\n{stdout}"
        );
    }
    assert!(
        !stdout.contains("hostwatt_collector_item_failing{collector=\"smart\""),
        "{stdout}"
    );
}
