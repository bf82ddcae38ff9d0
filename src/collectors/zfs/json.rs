//! `zpool list -j --json-int` and `zpool status -j --json-int` (OpenZFS ≥ 2.3).
//!
//! Read as untyped JSON: fields come and go between versions (`rep_dev_size`, `self_healed`,
//! `slow_ios` appear only where they apply), and `--json-int` is only honoured by some values
//! (`dedupratio` stays `"1.00"`, absent values are `"-"`), so every number is read as either a
//! JSON number or a numeric string. `pool_guid` exceeds 2^53 and is never read.
//! The scan's ETA is not in the JSON; `Zfs` estimates it from the issue rate between rounds.

use serde_json::Value;

use super::units::{parse_percent, parse_ratio, parse_size};
use super::{Pool, PoolStatus, Scan, ScanFunction, ScanState, Vdev};
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

/// Parses `zpool list -j --json-int`.
pub fn parse_list_json(input: &str) -> Result<Vec<Pool>, ParseError> {
    const WHAT: &str = "zpool list -j";
    let pools = root(WHAT, input)?;
    let mut out = Vec::new();
    for (name, p) in &pools {
        let prop = |k: &str| {
            p.get("properties")
                .and_then(|ps| ps.get(k))
                .and_then(|x| x.get("value"))
        };
        let prop_text = |k: &str| text(prop(k)).unwrap_or_else(|| "-".into());
        out.push(Pool {
            name: name.clone(),
            size: parse_size(WHAT, 1, &prop_text("size"))?,
            allocated: parse_size(WHAT, 1, &prop_text("allocated"))?,
            free: parse_size(WHAT, 1, &prop_text("free"))?,
            fragmentation: parse_percent(WHAT, 1, &prop_text("fragmentation"))?,
            capacity: parse_percent(WHAT, 1, &prop_text("capacity"))?,
            dedup: parse_ratio(WHAT, 1, &prop_text("dedupratio"))?,
            health: text(prop("health"))
                .or_else(|| text(p.get("state")))
                .ok_or_else(|| ParseError::at(WHAT, 1, format!("pool {name:?} has no health")))?,
        });
    }
    Ok(out)
}

/// Parses `zpool status -j --json-int`.
pub fn parse_status_json(input: &str) -> Result<Vec<PoolStatus>, ParseError> {
    const WHAT: &str = "zpool status -j";
    let pools = root(WHAT, input)?;
    let mut out = Vec::new();
    for (name, p) in &pools {
        let mut vdevs = Vec::new();
        if let Some(Value::Object(tree)) = p.get("vdevs") {
            for v in tree.values() {
                walk(v, None, &mut vdevs);
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
                    walk(v, Some(section), &mut vdevs);
                }
            }
        }
        out.push(PoolStatus {
            name: name.clone(),
            state: text(p.get("state")).unwrap_or_default(),
            vdevs,
            scan: p.get("scan_stats").and_then(scan),
            data_errors: num(p.get("error_count")),
        });
    }
    Ok(out)
}

fn walk(v: &Value, section: Option<&'static str>, out: &mut Vec<Vdev>) {
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
    out.push(Vdev {
        name: text(v.get("name")).unwrap_or_default(),
        kind: text(v.get("vdev_type")).unwrap_or_default(),
        section: section.to_owned(),
        state: text(v.get("state")).unwrap_or_default(),
        read: num(v.get("read_errors")),
        write: num(v.get("write_errors")),
        checksum: num(v.get("checksum_errors")),
        leaf: children.is_none(),
        path: text(v.get("path")),
    });
    for c in children.into_iter().flat_map(|c| c.values()) {
        // a root vdev's log/special children carry their own class
        walk(c, (section != "data").then_some(section), out);
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

    #[test]
    fn parses_scrub_in_progress_json() {
        let pools = parse_status_json(&shared_text(&format!(
            "{LAB}/zpool_status_jp_scrubbing.json"
        )))
        .unwrap();
        let tank = pools.iter().find(|p| p.name == "tank").unwrap();
        let s = tank.scan.as_ref().unwrap();
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
            let jl =
                parse_list_json(&shared_text(&format!("{LAB}/zpool_list_j_{state}.json"))).unwrap();
            let tl = parse_list(
                &shared_text(&format!("{LAB}/zpool_list_Hp_{state}.txt")),
                None,
            )
            .unwrap();
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
            let js =
                parse_status_json(&shared_text(&format!("{LAB}/zpool_status_jp_{state}.json")))
                    .unwrap();
            let ts =
                parse_status(&shared_text(&format!("{LAB}/zpool_status_PLp_{state}.txt"))).unwrap();
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
                match (&j.scan, &t.scan) {
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
        assert!(parse_status_json("not json").is_err());
        assert!(parse_list_json("{\"pools\": 3}").is_err());
        assert_eq!(parse_status_json("{}").unwrap(), vec![]);
        assert_eq!(
            parse_list_json(r#"{"pools":{"a":{"properties":{}}}}"#)
                .unwrap_err()
                .to_string(),
            "zpool list -j, line 1: pool \"a\" has no health"
        );
    }
}
