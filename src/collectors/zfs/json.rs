//! `zpool list -j --json-int` and `zpool status -j --json-int` (OpenZFS ≥ 2.3).
//!
//! Read as untyped JSON: fields come and go between versions (`rep_dev_size`, `self_healed`,
//! `slow_ios` appear only where they apply), and `--json-int` is only honoured by some values
//! (`dedupratio` stays `"1.00"`, absent values are `"-"`), so every number is read as either a
//! JSON number or a numeric string. `pool_guid` exceeds 2^53 and is never read.
//! The scan's ETA is not in the JSON; `Zfs` estimates it from the issue rate between rounds.

use serde_json::Value;

use super::status::text_kind;
use super::units::{parse_percent, parse_ratio, parse_size};
use super::{Pool, PoolStatus, RowError, Scan, ScanFunction, ScanState, Vdev};
use crate::parse::ParseError;

fn num(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn root(what: &'static str, text: &str) -> Result<serde_json::Map<String, Value>, ParseError> {
    let v: Value =
        serde_json::from_str(text).map_err(|e| ParseError::at(what, e.line(), e.to_string()))?;
    match v.get("pools") {
        Some(Value::Object(p)) => Ok(p.clone()),
        None | Some(Value::Null) => Ok(serde_json::Map::new()),
        Some(_) => Err(ParseError::at(what, 1, "\"pools\" is not an object")),
    }
}

/// Parses `zpool list -j --json-int`. Output that is not JSON is an error; a pool that cannot be
/// read is reported in `errors` (by name) and skipped.
pub fn parse_list_json(input: &str, errors: &mut Vec<RowError>) -> Result<Vec<Pool>, ParseError> {
    const WHAT: &str = "zpool list -j";
    let pools = root(WHAT, input)?;
    let mut out = Vec::new();
    for (name, p) in &pools {
        match list_pool(name, p) {
            Ok(pool) => out.push(pool),
            Err(error) => errors.push(RowError {
                item: name.clone(),
                error,
            }),
        }
    }
    Ok(out)
}

fn list_pool(name: &str, p: &Value) -> Result<Pool, ParseError> {
    const WHAT: &str = "zpool list -j";
    let prop = |k: &str| {
        p.get("properties")
            .and_then(|ps| ps.get(k))
            .and_then(|x| x.get("value"))
    };
    let prop_text = |k: &str| text(prop(k)).unwrap_or_else(|| "-".into());
    Ok(Pool {
        name: name.to_owned(),
        size: parse_size(WHAT, 1, &prop_text("size"))?,
        allocated: parse_size(WHAT, 1, &prop_text("allocated"))?,
        free: parse_size(WHAT, 1, &prop_text("free"))?,
        fragmentation: parse_percent(WHAT, 1, &prop_text("fragmentation"))?,
        capacity: parse_percent(WHAT, 1, &prop_text("capacity"))?,
        dedup: parse_ratio(WHAT, 1, &prop_text("dedupratio"))?,
        health: text(prop("health"))
            .or_else(|| text(p.get("state")))
            .ok_or_else(|| ParseError::at(WHAT, 1, format!("pool {name:?} has no health")))?,
    })
}

/// Parses `zpool status -j --json-int`. Output that is not JSON is an error; a pool or vdev
/// that cannot be read is reported in `errors` (`pool`, `pool/vdev`) and skipped.
pub fn parse_status_json(
    input: &str,
    errors: &mut Vec<RowError>,
) -> Result<Vec<PoolStatus>, ParseError> {
    const WHAT: &str = "zpool status -j";
    let pools = root(WHAT, input)?;
    let mut out = Vec::new();
    for (name, p) in &pools {
        if !p.is_object() {
            errors.push(RowError {
                item: name.clone(),
                error: ParseError::at(WHAT, 1, format!("pool {name:?} is not an object")),
            });
            continue;
        }
        let mut vdevs = Vec::new();
        let mut walk = |v: &Value, section| walk(name, v, section, 0, &mut vdevs, errors);
        if let Some(Value::Object(tree)) = p.get("vdevs") {
            for v in tree.values() {
                walk(v, None);
            }
        }
        // OpenZFS prints these beside the root vdev, not under it
        for (key, section) in [
            ("logs", "logs"),
            ("l2cache", "cache"),
            ("spares", "spares"),
            ("special", "special"),
            ("dedup", "dedup"),
        ] {
            if let Some(Value::Object(tree)) = p.get(key) {
                for v in tree.values() {
                    walk(v, Some(section));
                }
            }
        }
        out.push(PoolStatus {
            name: name.clone(),
            state: text(p.get("state")).unwrap_or_else(|| "UNKNOWN".into()),
            vdevs,
            scans: p.get("scan_stats").and_then(scan).into_iter().collect(),
            data_errors: num(p.get("error_count")),
        });
    }
    Ok(out)
}

/// The vdev state as zpool prints it in its text (`zpool_state_to_name` in libzfs): the JSON
/// gives the kernel's raw `vdev_state_t` name (`CANT_OPEN`) and its `aux` reason, and leaves
/// `state` out for a leaf the kernel faulted (`aux: ERR_EXCEEDED`).
pub fn state_name(state: Option<&str>, aux: Option<&str>) -> String {
    let cant_open = |aux| match aux {
        Some("CORRUPT_DATA" | "BAD_LOG") => "FAULTED",
        Some("SPLIT_POOL") => "SPLIT",
        _ => "UNAVAIL",
    };
    match (state, aux) {
        (Some("CLOSED" | "OFFLINE"), _) => "OFFLINE".into(),
        (Some("CANT_OPEN"), aux) => cant_open(aux).into(),
        (Some("HEALTHY"), _) => "ONLINE".into(),
        (Some(s), _) if !s.is_empty() => s.to_owned(), // ONLINE, DEGRADED, AVAIL, INUSE, …
        // no state: the reason tells which state the kernel set with it (vdev_fault,
        // zio error accounting: FAULTED; a device that could not be opened: CANT_OPEN)
        (_, Some("ERR_EXCEEDED" | "EXTERNAL" | "EXTERNAL_PERSIST")) => "FAULTED".into(),
        (_, Some(aux)) if aux != "NONE" => cant_open(Some(aux)).into(),
        _ => "UNKNOWN".into(),
    }
}

fn walk(
    pool: &str,
    v: &Value,
    section: Option<&'static str>,
    depth: usize,
    out: &mut Vec<Vdev>,
    errors: &mut Vec<RowError>,
) {
    let Some(name) = text(v.get("name")) else {
        errors.push(RowError {
            item: pool.to_owned(),
            error: ParseError::at("zpool status -j", 1, "a vdev without a name"),
        });
        return;
    };
    let children = match v.get("vdevs") {
        Some(Value::Object(c)) if !c.is_empty() => Some(c),
        _ => None,
    };
    let section = section.unwrap_or(match v.get("class").and_then(Value::as_str) {
        Some("log") => "logs",
        Some("special") => "special",
        Some("dedup") => "dedup",
        _ => "data",
    });
    let leaf = children.is_none();
    let kind = text(v.get("vdev_type"))
        .unwrap_or_else(|| text_kind(&name, depth == 0 && section == "data", leaf));
    out.push(Vdev {
        state: state_name(
            v.get("state").and_then(Value::as_str),
            v.get("aux").and_then(Value::as_str),
        ),
        name,
        kind,
        section: section.to_owned(),
        read: num(v.get("read_errors")),
        write: num(v.get("write_errors")),
        checksum: num(v.get("checksum_errors")),
        leaf,
        path: text(v.get("path")),
    });
    for c in children.into_iter().flat_map(|c| c.values()) {
        // a root vdev's log/special children carry their own class
        walk(
            pool,
            c,
            (section != "data").then_some(section),
            depth + 1,
            out,
            errors,
        );
    }
}

fn scan(s: &Value) -> Option<Scan> {
    let function = match s.get("function").and_then(Value::as_str)? {
        "SCRUB" => ScanFunction::Scrub,
        "RESILVER" => ScanFunction::Resilver,
        _ => return None,
    };
    let paused = num(s.get("scrub_pause")).is_some_and(|p| p > 0);
    let state = match s.get("state").and_then(Value::as_str)? {
        "SCANNING" if paused => ScanState::Paused,
        "SCANNING" => ScanState::Running,
        "FINISHED" => ScanState::Finished,
        "CANCELED" => ScanState::Canceled,
        _ => return None,
    };
    let ts = |k| num(s.get(k)).filter(|&t| t > 0).map(|t| t as i64);
    let mut scan = Scan::new(function, state);
    scan.start = ts("start_time");
    scan.end = if state == ScanState::Running {
        None
    } else {
        ts("end_time")
    };
    scan.duration = match (scan.start, scan.end) {
        (Some(a), Some(b)) if b >= a && state == ScanState::Finished => Some((b - a) as u64),
        _ => None,
    };
    scan.scanned = num(s.get("examined"));
    scan.issued = num(s.get("issued"));
    scan.total = num(s.get("to_examine"));
    scan.repaired = num(s.get("processed"));
    scan.errors = num(s.get("errors"));
    if matches!(state, ScanState::Running | ScanState::Paused) {
        // as zpool computes "% done" since 2.2: issued / (to_examine - skipped)
        let total = scan
            .total
            .unwrap_or(0)
            .saturating_sub(num(s.get("skipped")).unwrap_or(0));
        scan.progress = scan
            .issued
            .filter(|_| total > 0)
            .map(|i| (i as f64 / total as f64).min(1.0));
    } else {
        scan.scanned = None;
        scan.issued = None;
        scan.total = None;
    }
    Some(scan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::zfs::{list::parse_list, status::parse_status};
    use crate::testutil::shared_text;

    const LAB: &str = "zfs/lab-openzfs-2.3.2";

    /// The pools, or the first part that could not be read.
    fn strict<T>(
        parse: impl FnOnce(&str, &mut Vec<RowError>) -> Result<Vec<T>, ParseError>,
        text: &str,
    ) -> Result<Vec<T>, ParseError> {
        let mut errors = Vec::new();
        let out = parse(text, &mut errors)?;
        errors.into_iter().next().map_or(Ok(out), |e| Err(e.error))
    }

    #[test]
    fn parses_scrub_in_progress_json() {
        let pools = strict(
            super::parse_status_json,
            &shared_text(&format!("{LAB}/zpool_status_jp_scrubbing.json")),
        )
        .unwrap();
        let tank = pools.iter().find(|p| p.name == "tank").unwrap();
        let s = tank.scans.first().unwrap();
        assert_eq!(
            (s.function, s.state),
            (ScanFunction::Scrub, ScanState::Running)
        );
        assert_eq!(
            (s.start, s.issued, s.total, s.scanned),
            (
                Some(1_795_464_306),
                Some(691_298_304),
                Some(2_420_547_584),
                Some(2_420_539_392)
            )
        );
        let want = 691_298_304.0 / (2_420_547_584.0 - 393_216.0);
        assert!((s.progress.unwrap() - want).abs() < 1e-12);
        let disk = tank.vdevs.iter().find(|v| v.name == "/dev/vdc1").unwrap();
        assert_eq!(
            (disk.kind.as_str(), disk.leaf, disk.path.as_deref()),
            ("disk", true, Some("/dev/vdc1"))
        );
    }

    /// The same pool state printed as text and as JSON yields the same numbers.
    #[test]
    fn json_and_text_of_the_same_state_agree() {
        for state in ["fresh", "full", "degraded", "resilvered", "scrubbing"] {
            let jl = strict(
                super::parse_list_json,
                &shared_text(&format!("{LAB}/zpool_list_j_{state}.json")),
            )
            .unwrap();
            let tl = parse_list(
                &shared_text(&format!("{LAB}/zpool_list_Hp_{state}.txt")),
                None,
                &mut Vec::new(),
            );
            // allocation moves by a few KiB between the two captures; the rest is identical
            for (j, t) in jl.iter().zip(&tl) {
                assert_eq!(
                    (&j.name, j.size, &j.health, j.capacity, j.dedup),
                    (&t.name, t.size, &t.health, t.capacity, t.dedup),
                    "{state}"
                );
                assert!(
                    j.allocated.unwrap().abs_diff(t.allocated.unwrap()) < 1 << 20,
                    "{state}"
                );
            }
            let js = strict(
                super::parse_status_json,
                &shared_text(&format!("{LAB}/zpool_status_jp_{state}.json")),
            )
            .unwrap();
            let ts = parse_status(
                &shared_text(&format!("{LAB}/zpool_status_PLp_{state}.txt")),
                &mut Vec::new(),
            );
            assert_eq!(js.len(), ts.len());
            for (j, t) in js.iter().zip(&ts) {
                assert_eq!(
                    (&j.name, &j.state, j.data_errors),
                    (&t.name, &t.state, t.data_errors),
                    "{state}"
                );
                let shape = |p: &PoolStatus| {
                    p.vdevs
                        .iter()
                        .map(|v| {
                            (
                                v.name.clone(),
                                v.kind.clone(),
                                v.section.clone(),
                                v.state.clone(),
                                v.leaf,
                                v.read,
                                v.write,
                            )
                        })
                        .collect::<Vec<_>>()
                };
                assert_eq!(shape(j), shape(t), "{state}");
                match (j.scans.first(), t.scans.first()) {
                    (None, None) => {}
                    (Some(a), Some(b)) => {
                        assert_eq!(
                            (a.function, a.state, a.start),
                            (b.function, b.state, b.start),
                            "{state}"
                        );
                        if a.state == ScanState::Finished {
                            assert_eq!(
                                (a.end, a.duration, a.errors),
                                (b.end, b.duration, b.errors),
                                "{state}"
                            );
                            // text rounds to 3 significant digits
                            let (x, y) = (a.repaired.unwrap() as f64, b.repaired.unwrap() as f64);
                            assert!((x - y).abs() / x < 0.005, "{state}: {x} vs {y}");
                        }
                    }
                    other => panic!("{state}: {other:?}"),
                }
            }
        }
    }

    #[test]
    fn rejects_garbage() {
        assert!(strict(super::parse_status_json, "not json").is_err());
        assert!(strict(super::parse_list_json, "{\"pools\": 3}").is_err());
        assert_eq!(strict(super::parse_status_json, "{}").unwrap(), vec![]);
        assert_eq!(
            strict(
                super::parse_list_json,
                r#"{"pools":{"a":{"properties":{}}}}"#
            )
            .unwrap_err()
            .to_string(),
            "zpool list -j, line 1: pool \"a\" has no health"
        );
    }

    /// Parts never seen (a pool that is not an object, a vdev without a name, unknown keys, a
    /// size that is not a number) each cost only that part; the other pools and vdevs are kept.
    #[test]
    fn a_part_it_cannot_read_costs_only_that_part() {
        let status = r#"{"output_version":{"vers_major":9},"pools":{
            "broken": "what is this",
            "odd": {"name":"odd","state":"DEGRADED","future_key":{"x":1},"error_count":"4",
              "vdevs":{"odd":{"name":"odd","vdev_type":"root","state":"DEGRADED","vdevs":{
                "mirror-0":{"name":"mirror-0","vdev_type":"mirror","state":"DEGRADED","vdevs":{
                  "/dev/sda1":{"name":"/dev/sda1","vdev_type":"disk","state":"ONLINE",
                    "read_errors":"0","write_errors":0,"checksum_errors":0,"new_counter":7},
                  "nameless":{"vdev_type":"disk","state":"ONLINE"},
                  "/dev/sdb1":{"name":"/dev/sdb1","state":"CANT_OPEN","aux":"CORRUPT_DATA"},
                  "/dev/sdc1":{"name":"/dev/sdc1","vdev_type":"disk","state":"CANT_OPEN","aux":"OPEN_FAILED"},
                  "/dev/sdd1":{"name":"/dev/sdd1","vdev_type":"disk","state":"CLOSED"}}}}}},
              "spares":{"/dev/sde1":{"name":"/dev/sde1","vdev_type":"disk","state":"AVAIL"}}},
            "fine": {"name":"fine","state":"ONLINE","vdevs":{"fine":{"name":"fine",
              "vdev_type":"root","state":"ONLINE","vdevs":{"/tmp/f":{"name":"/tmp/f","state":"ONLINE"}}}}}
        }}"#;
        let mut errors = Vec::new();
        let pools = parse_status_json(status, &mut errors).unwrap();
        let bad: Vec<&str> = errors.iter().map(|e| e.item.as_str()).collect();
        assert_eq!(bad, ["broken", "odd"], "{errors:?}");
        let names: Vec<&str> = pools.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["fine", "odd"]); // serde_json keeps keys sorted
        let odd = &pools[1];
        let row = |n: &str| {
            let v = odd.vdevs.iter().find(|v| v.name == n).unwrap();
            (
                v.kind.as_str(),
                v.state.as_str(),
                v.section.as_str(),
                v.read,
            )
        };
        assert_eq!(row("/dev/sda1"), ("disk", "ONLINE", "data", Some(0)));
        assert_eq!(row("/dev/sdb1"), ("disk", "FAULTED", "data", None));
        assert_eq!(row("/dev/sdc1"), ("disk", "UNAVAIL", "data", None));
        assert_eq!(row("/dev/sdd1"), ("disk", "OFFLINE", "data", None));
        assert_eq!(row("/dev/sde1"), ("disk", "AVAIL", "spares", None));
        assert_eq!((odd.vdevs.len(), odd.data_errors), (7, Some(4)));
        let f = &pools[0].vdevs[1];
        assert_eq!((f.kind.as_str(), f.state.as_str()), ("file", "ONLINE"));

        let list = r#"{"pools":{
            "a":{"properties":{"size":{"value":100},"health":{"value":"ONLINE"}}},
            "b":{"properties":{"size":{"value":"lots"},"health":{"value":"ONLINE"}}},
            "c":{"state":"ONLINE","properties":{"size":{"value":"300"},"shiny":{"value":1}}}}}"#;
        let mut errors = Vec::new();
        let pools = parse_list_json(list, &mut errors).unwrap();
        let got: Vec<_> = pools.iter().map(|p| (p.name.as_str(), p.size)).collect();
        assert_eq!(got, [("a", Some(100)), ("c", Some(300))]);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].item, "b");
    }

    /// `zpool_state_to_name` of libzfs, and a leaf the kernel faulted without a `state` key.
    #[test]
    fn names_states_as_zpool_prints_them() {
        let n = |s, a| state_name(s, a);
        assert_eq!(n(Some("CANT_OPEN"), Some("NO_REPLICAS")), "UNAVAIL");
        assert_eq!(n(Some("CANT_OPEN"), Some("BAD_LOG")), "FAULTED");
        assert_eq!(n(Some("CANT_OPEN"), Some("SPLIT_POOL")), "SPLIT");
        assert_eq!(n(Some("CLOSED"), None), "OFFLINE");
        assert_eq!(n(Some("HEALTHY"), None), "ONLINE");
        assert_eq!(n(Some("DEGRADED"), Some("NONE")), "DEGRADED");
        assert_eq!(n(None, Some("ERR_EXCEEDED")), "FAULTED");
        assert_eq!(n(None, Some("OPEN_FAILED")), "UNAVAIL");
        assert_eq!(n(None, None), "UNKNOWN");
        assert_eq!(n(Some(""), None), "UNKNOWN");
    }
}
