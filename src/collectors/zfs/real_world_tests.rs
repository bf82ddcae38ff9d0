//! The ZFS cases of `../shared/fixtures/real-world` (outputs from bug reports and a real
//! OpenZFS 2.3.2 failure), read in place and replayed through the case's own `commands.toml`,
//! each checked against the right values of its `EXPECTED.md`.

use super::tests::{has, sample_clean};
use super::*;
use crate::collectors::Context;
use crate::host::command::Runner;
use crate::host::root::Root;
use crate::testutil::shared_fixture;

/// One round of the ZFS collector on case `name`, with its replayed zpool runs and its `root/`:
/// no fault, the snapshot and its series.
async fn sample_case(name: &str) -> (Snapshot, Vec<String>) {
    let dir = shared_fixture(&format!("real-world/{name}"));
    let cx = Context {
        root: Root::new(dir.join("root")),
        runner: Runner::load_replay(&dir.join("commands.toml"), None).unwrap(),
    };
    sample_clean(&cx, Config::default()).await
}

/// Asserts `family{pool="<pool>",function="<function>"} <value>` for each (family, value).
fn has_scan(lines: &[String], pool: &str, function: &str, want: &[(&str, &str)]) {
    for (family, value) in want {
        has(
            lines,
            &format!(
                r#"hostwatt_zfs_scan_{family}{{pool="{pool}",function="{function}"}} {value}"#
            ),
        );
    }
}

/// The value of each series of `family` whose labels contain all of `with`.
fn values<'a>(lines: &'a [String], family: &str, with: &[&str]) -> Vec<&'a str> {
    lines
        .iter()
        .filter(|l| l.starts_with(&format!("{family}{{")))
        .filter(|l| with.iter().all(|w| l.contains(w)))
        .filter_map(|l| l.rsplit_once(' ').map(|(_, v)| v))
        .collect()
}

/// A hot spare in use prints `INUSE  currently in use`: the spare row has no counts, and
/// every row, the capacity and the data errors are there.
#[tokio::test]
async fn zfs_spares_inuse() {
    let (s, l) = sample_case("zfs-spares-inuse").await;
    let pool = s.pools[0].status.as_ref().unwrap();
    let uuid = |n: u8| format!("00000000-0000-4000-8000-00000000000{n:x}");
    assert_eq!(
        (pool.name.as_str(), pool.state.as_str()),
        ("testspare", "ONLINE")
    );
    let (rows, spares): (Vec<&Vdev>, Vec<&Vdev>) =
        pool.vdevs.iter().partition(|v| v.section != "spares");
    assert_eq!((pool.vdevs.len(), rows.len()), (17, 12));
    for v in &rows {
        assert_eq!(
            (v.state.as_str(), v.read, v.write, v.checksum),
            ("ONLINE", Some(0), Some(0), Some(0)),
            "{v:?}"
        );
    }
    let kinds: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|v| (v.name.as_str(), v.kind.as_str(), v.section.as_str()))
        .collect();
    assert_eq!(
        kinds[..3],
        [
            ("testspare", "root", "data"),
            ("mirror-0", "mirror", "data"),
            ("spare-0", "spare", "data"),
        ]
    );
    let section_of = |n: u8| {
        rows.iter()
            .find(|v| v.name == uuid(n))
            .unwrap()
            .section
            .as_str()
    };
    assert_eq!(
        [section_of(6), section_of(7), section_of(8)],
        ["special", "logs", "cache"]
    );
    let sp: Vec<(String, &str, Option<u64>)> = spares
        .iter()
        .map(|v| (v.name.clone(), v.state.as_str(), v.read))
        .collect();
    assert_eq!(
        sp,
        [
            (uuid(2), "INUSE", None),
            (uuid(9), "AVAIL", None),
            (uuid(10), "AVAIL", None),
            (uuid(11), "AVAIL", None),
            (uuid(12), "AVAIL", None),
        ]
    );
    has(&l, r#"hostwatt_zfs_pool_data_errors{pool="testspare"} 0"#);
    has(
        &l,
        r#"hostwatt_zfs_pool_state{pool="testspare",state="ONLINE"} 1"#,
    );
    assert_eq!(
        values(&l, "hostwatt_zfs_pool_size_bytes", &[r#"pool="testspare""#]).len(),
        1
    );
    has(&l, r#"hostwatt_zfs_zpool_data_age_seconds{} 0"#);
    has(
        &l,
        &format!(
            r#"hostwatt_zfs_vdev_state{{pool="testspare",vdev="{}",type="disk",section="spares",state="INUSE"}} 1"#,
            uuid(2)
        ),
    );
}

/// dRAID: the last scrub, then a sequential rebuild `resilver (draid3:19d:24c:2s-0) in
/// progress since …`; both are kept, each under its function.
#[tokio::test]
async fn zfs_draid_rebuild_running() {
    let (s, l) = sample_case("zfs-draid-rebuild-running").await;
    let pool = s.pools[0].status.as_ref().unwrap();
    assert_eq!(pool.state, "DEGRADED");
    let draid = pool
        .vdevs
        .iter()
        .find(|v| v.name == "draid3:19d:24c:2s-0")
        .unwrap();
    assert_eq!(
        (draid.kind.as_str(), draid.state.as_str()),
        ("draid", "DEGRADED")
    );
    for leaf in pool.vdevs.iter().filter(|v| v.leaf) {
        assert_eq!(
            (leaf.state.as_str(), leaf.read, leaf.checksum),
            ("ONLINE", Some(0), Some(0))
        );
    }
    has(
        &l,
        r#"hostwatt_zfs_scan_state{pool="aggr0",function="resilver",state="running"} 1"#,
    );
    has_scan(
        &l,
        "aggr0",
        "resilver",
        &[
            ("progress_ratio", "0.9297"),
            ("start_timestamp_seconds", "1690227655"),
            ("scanned_bytes", "367236883677184"),
            ("issued_bytes", "336450558099456"),
            ("total_bytes", "394724674371584"),
            ("repaired_bytes", "15283211626086"),
            ("eta_seconds", "12155"),
        ],
    );
    // the scrub printed before it is still known: the scrub-age alert reads its end
    has(
        &l,
        r#"hostwatt_zfs_scan_state{pool="aggr0",function="scrub",state="finished"} 1"#,
    );
    has_scan(
        &l,
        "aggr0",
        "scrub",
        &[
            ("end_timestamp_seconds", "1689071362"),
            ("duration_seconds", "209120"),
            ("repaired_bytes", "0"),
            ("errors", "0"),
        ],
    );
}

/// OpenZFS 2.3.2 JSON of a suspended pool: the raw `CANT_OPEN`/`NO_REPLICAS` root and the
/// stateless `ERR_EXCEEDED` leaf are named as zpool's text of the same moment names them.
#[tokio::test]
async fn zfs_json_suspended_faulted() {
    let (_, l) = sample_case("zfs-json-suspended-faulted").await;
    has(
        &l,
        r#"hostwatt_zfs_pool_state{pool="frail",state="SUSPENDED"} 1"#,
    );
    has(&l, r#"hostwatt_zfs_pool_data_errors{pool="frail"} 52"#);
    has(
        &l,
        r#"hostwatt_zfs_vdev_state{pool="frail",vdev="frail",type="root",section="data",state="UNAVAIL"} 1"#,
    );
    has(
        &l,
        r#"hostwatt_zfs_vdev_state{pool="frail",vdev="/dev/dm-0",type="disk",section="data",state="FAULTED"} 1"#,
    );
    has(
        &l,
        r#"hostwatt_zfs_vdev_errors{pool="frail",vdev="/dev/dm-0",section="data",kind="read"} 3"#,
    );
    has(
        &l,
        r#"hostwatt_zfs_vdev_disk_info{pool="frail",vdev="/dev/dm-0",disk="dm-0"} 1"#,
    );
    // never an empty or raw kernel state
    for bad in [r#"state="""#, r#"state="CANT_OPEN""#] {
        assert!(
            !l.iter()
                .any(|x| x.starts_with("hostwatt_zfs_vdev_state") && x.contains(bad)),
            "{bad}"
        );
    }
}
