//! `zpool status` text, from Solaris-era and zfs-fuse output (`scrub:` lines, human units) to
//! OpenZFS 2.x with `-P -L -p` (full resolved device paths, exact error counts).
//!
//! Each pool is a block of `key: value` lines (`pool`, `state`, `status`, `action`, `see`,
//! `scan`/`scrub`, `config`, `errors`) whose continuation lines are indented. The `config:` table
//! nests vdevs by indentation (two spaces a level) under the pool's root vdev and the section
//! headers `logs`, `cache`, `spares`, `special` and `dedup`. Scan lines differ by version:
//! 2.0/2.1 print `X scanned at R, Y issued at R, Z total`, 2.2+ `X / Z scanned, Y / Z issued at
//! R`, 0.7 `X scanned out of Z at R`; all print `N repaired|resilvered, P% done, ETA to go`.

use super::units::{parse_ctime, parse_duration, parse_size};
use super::{PoolStatus, Scan, ScanFunction, ScanState, Vdev};
use crate::parse::ParseError;

const WHAT: &str = "zpool status";

const KEYS: &[&str] = &[
    "pool",
    "state",
    "status",
    "action",
    "see",
    "scan",
    "scrub",
    "config",
    "errors",
    "remove",
    "checkpoint",
    "id",
];

/// Section headers in the config table and the `section` label each maps to.
const SECTIONS: &[(&str, &str)] = &[
    ("logs", "logs"),
    ("cache", "cache"),
    ("spares", "spares"),
    ("special", "special"),
    ("dedup", "dedup"),
];

/// `key:` at the start of a line (after indentation), and the rest.
fn key_of(line: &str) -> Option<(&str, &str)> {
    let t = line.trim_start();
    let (k, rest) = t.split_once(':')?;
    KEYS.contains(&k).then_some((k, rest.trim()))
}

/// Parses the whole output: one `PoolStatus` per `pool:` block.
pub fn parse_status(text: &str) -> Result<Vec<PoolStatus>, ParseError> {
    let mut pools: Vec<PoolStatus> = Vec::new();
    let mut key = "";
    let mut scan_text = String::new();
    let mut table: Vec<(usize, &str)> = Vec::new();
    let flush = |pools: &mut Vec<PoolStatus>,
                 scan_text: &mut String,
                 table: &mut Vec<(usize, &str)>|
     -> Result<(), ParseError> {
        if let Some(p) = pools.last_mut() {
            p.scan = parse_scan(scan_text);
            p.vdevs = parse_config(table)?;
        }
        scan_text.clear();
        table.clear();
        Ok(())
    };
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if key == "config" {
            if line.trim().is_empty() {
                if !table.is_empty() {
                    key = "";
                }
                continue;
            }
            if key_of(line).is_none() {
                table.push((n, line));
                continue;
            }
        }
        match key_of(line) {
            Some(("pool", name)) => {
                flush(&mut pools, &mut scan_text, &mut table)?;
                pools.push(PoolStatus {
                    name: name.to_owned(),
                    ..PoolStatus::default()
                });
                key = "pool";
            }
            Some((k, rest)) => {
                let Some(p) = pools.last_mut() else {
                    // "no pools available" and other chatter before any pool
                    continue;
                };
                key = k;
                match k {
                    "state" => p.state = rest.to_owned(),
                    "scan" | "scrub" => scan_text = rest.to_owned(),
                    "errors" => p.data_errors = parse_data_errors(rest),
                    _ => {}
                }
            }
            None if key == "scan" || key == "scrub" => {
                scan_text.push('\n');
                scan_text.push_str(line.trim());
            }
            None if line.trim().is_empty() => {}
            None if pools.is_empty() => {}
            None if line.starts_with([' ', '\t']) => {} // continuation of status:/action:
            None => {
                return Err(ParseError::at(
                    WHAT,
                    n,
                    format!("unexpected line {:?}", line.trim()),
                ));
            }
        }
    }
    flush(&mut pools, &mut scan_text, &mut table)?;
    Ok(pools)
}

/// `No known data errors` is 0; `2258 data errors, use '-v' for a list` is 2258.
fn parse_data_errors(rest: &str) -> Option<u64> {
    if rest.starts_with("No known data errors") {
        return Some(0);
    }
    let (n, tail) = rest.split_once(' ')?;
    tail.starts_with("data error")
        .then(|| n.parse().ok())
        .flatten()
}

fn indent(line: &str) -> usize {
    line.chars().take_while(|c| c.is_whitespace()).count()
}

/// The `config:` table: a header line, then one vdev a line, nested by two spaces a level.
fn parse_config(table: &[(usize, &str)]) -> Result<Vec<Vdev>, ParseError> {
    let Some(((_, header), rows)) = table.split_first() else {
        return Ok(Vec::new());
    };
    if !header.trim_start().starts_with("NAME") {
        return Ok(Vec::new()); // "The pool is suspended" and similar: no table
    }
    let base = indent(header);
    let mut vdevs: Vec<Vdev> = Vec::new();
    let mut depths: Vec<usize> = Vec::new();
    let mut section = "data";
    for &(n, row) in rows {
        let depth = indent(row).saturating_sub(base) / 2;
        let f: Vec<&str> = row.split_whitespace().collect();
        let Some(&name) = f.first() else { continue };
        if depth == 0
            && f.len() == 1
            && let Some((_, s)) = SECTIONS.iter().find(|(h, _)| *h == name)
        {
            section = s;
            continue;
        }
        if depth == 0 && vdevs.is_empty() {
            section = "data";
        }
        let Some(&state) = f.get(1) else {
            return Err(ParseError::at(
                WHAT,
                n,
                format!("vdev {name:?} has no state"),
            ));
        };
        let count = |i: usize| -> Result<Option<u64>, ParseError> {
            match f.get(i) {
                Some(s) => parse_size(WHAT, n, s),
                None => Ok(None),
            }
        };
        let (read, write, checksum) = if f.len() >= 5 {
            (count(2)?, count(3)?, count(4)?)
        } else {
            (None, None, None) // spares: "sdf AVAIL"
        };
        // a row one level deeper than the previous one makes that one an interior vdev
        if let (Some(prev), Some(&pd)) = (vdevs.last_mut(), depths.last())
            && depth > pd
        {
            prev.leaf = false;
        }
        vdevs.push(Vdev {
            name: name.to_owned(),
            kind: String::new(),
            section: section.to_owned(),
            state: state.to_owned(),
            read,
            write,
            checksum,
            leaf: true,
            path: None,
        });
        depths.push(depth);
    }
    for (v, &d) in vdevs.iter_mut().zip(&depths) {
        v.kind = text_kind(&v.name, d == 0 && v.section == "data", v.leaf);
    }
    Ok(vdevs)
}

/// The vdev type as JSON names it (`root`, `mirror`, `raidz`, `replacing`, `disk`, `file`, …),
/// from the text name: interior vdevs are named `<type>-<n>` (`raidz1-0`, `mirror-1`).
fn text_kind(name: &str, root: bool, leaf: bool) -> String {
    if root {
        return "root".into();
    }
    if !leaf {
        let prefix = name.rsplit_once('-').map_or(name, |(p, _)| p);
        let prefix = prefix.split(':').next().unwrap_or(prefix);
        let prefix = prefix.trim_end_matches(|c: char| c.is_ascii_digit());
        return match prefix {
            "mirror" | "raidz" | "draid" | "replacing" | "spare" | "indirect" => prefix.into(),
            _ => "interior".into(),
        };
    }
    if name.starts_with('/') && !name.starts_with("/dev/") {
        "file".into()
    } else {
        "disk".into()
    }
}

/// The scan description: `scan:`'s value and its continuation lines joined by `\n`.
pub fn parse_scan(text: &str) -> Option<Scan> {
    let mut lines = text.lines();
    let first = lines.next()?.trim();
    let (function, rest) = if let Some(r) = first.strip_prefix("scrub ") {
        (ScanFunction::Scrub, r)
    } else if let Some(r) = first.strip_prefix("resilver ") {
        (ScanFunction::Resilver, r)
    } else if let Some(r) = first.strip_prefix("resilvered ") {
        (ScanFunction::Resilver, r)
    } else {
        return None; // "none requested"
    };
    let mut scan = Scan::new(function, ScanState::Finished);
    let with_errors_on = |scan: &mut Scan, tail: &str| {
        // "... with N errors on DATE"
        if let Some((_, t)) = tail.split_once(" with ") {
            let (n, date) = t.split_once(" errors on ").unwrap_or((t, ""));
            scan.errors = n.trim().parse().ok();
            scan.end = parse_ctime(date);
        }
    };
    if let Some(t) = rest.strip_prefix("repaired ").or_else(|| {
        // "resilvered 629M in ..." arrives here as rest = "629M in ..."
        (first.starts_with("resilvered ")).then_some(rest)
    }) {
        let (amount, tail) = t.split_once(" in ").unwrap_or((t, ""));
        scan.repaired = parse_size(WHAT, 1, amount).ok().flatten();
        let dur = tail.split(" with ").next().unwrap_or("");
        scan.duration = parse_duration(dur);
        with_errors_on(&mut scan, tail);
    } else if let Some(t) = rest.strip_prefix("completed after ") {
        // Solaris: "scrub completed after 0h2m with 0 errors on DATE"
        scan.duration = parse_duration(t.split(" with ").next().unwrap_or(""));
        with_errors_on(&mut scan, t);
    } else if let Some(t) = rest.strip_prefix("canceled on ") {
        scan.state = ScanState::Canceled;
        scan.end = parse_ctime(t);
    } else if let Some(t) = rest.strip_prefix("paused since ") {
        scan.state = ScanState::Paused;
        scan.start = None;
        let _ = t;
        let body: Vec<&str> = lines.collect();
        for l in &body {
            if let Some(d) = l.strip_prefix("scrub started on ") {
                scan.start = parse_ctime(d);
            }
        }
        progress_fields(&mut scan, &body.join(", "));
    } else if let Some(t) = rest
        .strip_prefix("in progress since ")
        .or_else(|| rest.strip_prefix("in progress for "))
    {
        scan.state = ScanState::Running;
        scan.start = parse_ctime(t);
        let mut body: Vec<&str> = lines.collect();
        if scan.start.is_none() {
            // Solaris: "scrub in progress for 0h1m, 50.00% done, 0h1m to go" on one line
            body.push(t);
        }
        progress_fields(&mut scan, &body.join(", "));
    } else {
        return None;
    }
    if let (None, Some(end), Some(d)) = (scan.start, scan.end, scan.duration) {
        // a finished scan prints only its end and duration
        scan.start = Some(end - d as i64);
    }
    Some(scan)
}

/// The comma-separated progress fields of a running or paused scan.
fn progress_fields(scan: &mut Scan, body: &str) {
    let size = |s: &str| parse_size(WHAT, 1, s).ok().flatten();
    for seg in body.split(',').map(str::trim) {
        let words: Vec<&str> = seg.split_whitespace().collect();
        match words[..] {
            [a, "/", b, "scanned"] => (scan.scanned, scan.total) = (size(a), size(b)),
            [a, "/", b, "issued", ..] => (scan.issued, scan.total) = (size(a), size(b)),
            [a, "scanned", "out", "of", b, ..] => (scan.scanned, scan.total) = (size(a), size(b)),
            [a, "scanned", ..] => scan.scanned = size(a),
            [a, "issued", ..] => scan.issued = size(a),
            [a, "total"] => scan.total = size(a),
            [a, "repaired"] | [a, "resilvered"] => scan.repaired = size(a),
            [p, "done"] => {
                scan.progress = p
                    .strip_suffix('%')
                    .and_then(|p| p.parse::<f64>().ok())
                    .map(|p| p / 100.0)
            }
            _ if seg.ends_with(" to go") => {
                scan.eta = parse_duration(seg.trim_end_matches(" to go"));
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::shared_text;

    fn vdev<'a>(p: &'a PoolStatus, name: &str) -> &'a Vdev {
        p.vdevs
            .iter()
            .find(|v| v.name == name)
            .unwrap_or_else(|| panic!("no vdev {name}: {p:#?}"))
    }

    #[test]
    fn parses_degraded_pool_with_offline_vdev() {
        let pools = parse_status(&shared_text(
            "zfs/lab-openzfs-2.1.11/zpool_status_PLp_degraded.txt",
        ))
        .unwrap();
        let tank = &pools[1];
        assert_eq!(
            (tank.name.as_str(), tank.state.as_str()),
            ("tank", "DEGRADED")
        );
        let v = vdev(tank, "/dev/vde1");
        assert_eq!(
            (v.state.as_str(), v.kind.as_str(), v.leaf),
            ("OFFLINE", "disk", true)
        );
        let raidz = vdev(tank, "raidz1-0");
        assert_eq!(
            (raidz.kind.as_str(), raidz.state.as_str(), raidz.leaf),
            ("raidz", "DEGRADED", false)
        );
        assert_eq!(vdev(tank, "tank").kind, "root");
        assert_eq!(vdev(tank, "/dev/vdd1").checksum, Some(675));
        let scan = tank.scan.as_ref().unwrap();
        assert_eq!(
            (scan.function, scan.state),
            (ScanFunction::Scrub, ScanState::Finished)
        );
        assert_eq!(
            (scan.duration, scan.errors, scan.end),
            (Some(9), Some(0), parse_ctime("Mon Nov 23 20:10:24 2026"))
        );
        assert_eq!(
            scan.repaired,
            Some((42.1f64 * 1024.0 * 1024.0).round() as u64)
        );
        assert_eq!(tank.data_errors, Some(0));
    }

    #[test]
    fn parses_resilver_in_progress() {
        let pools = parse_status(&shared_text(
            "zfs/lab-openzfs-2.1.11/zpool_status_PLp_resilvering.txt",
        ))
        .unwrap();
        let tank = &pools[1];
        let scan = tank.scan.as_ref().unwrap();
        assert_eq!(
            (scan.function, scan.state),
            (ScanFunction::Resilver, ScanState::Running)
        );
        assert_eq!(scan.start, parse_ctime("Mon Nov 23 20:10:28 2026"));
        assert_eq!(scan.progress, Some(19.85 / 100.0));
        assert_eq!(scan.eta, Some(12));
        assert_eq!(
            scan.scanned,
            Some((2.25f64 * 1024f64.powi(3)).round() as u64)
        );
        assert_eq!(scan.issued, Some(458 * 1024 * 1024));
        assert_eq!(scan.repaired, Some(153 * 1024 * 1024));
        let r = vdev(tank, "replacing-2");
        assert_eq!(
            (r.kind.as_str(), r.state.as_str()),
            ("replacing", "DEGRADED")
        );
        assert_eq!(vdev(tank, "/dev/vdf1").state, "ONLINE");
    }

    #[test]
    fn parses_resilver_finished_with_data_errors() {
        let pools = parse_status(&shared_text(
            "zfs/lab-openzfs-2.1.11/zpool_status_PLp_resilvered.txt",
        ))
        .unwrap();
        let tank = &pools[1];
        let scan = tank.scan.as_ref().unwrap();
        assert_eq!(
            (scan.function, scan.state),
            (ScanFunction::Resilver, ScanState::Finished)
        );
        assert_eq!((scan.duration, scan.errors), (Some(19), Some(2258)));
        assert_eq!(scan.repaired, Some(629 * 1024 * 1024));
        assert_eq!(tank.data_errors, Some(2258));
    }

    #[test]
    fn parses_scrub_in_progress() {
        let pools = parse_status(&shared_text(
            "zfs/lab-openzfs-2.3.2/zpool_status_PLp_scrubbing.txt",
        ))
        .unwrap();
        let scan = pools[1].scan.as_ref().unwrap();
        assert_eq!(
            (scan.function, scan.state),
            (ScanFunction::Scrub, ScanState::Running)
        );
        assert_eq!((scan.progress, scan.eta), (Some(23.07 / 100.0), Some(10)));
        assert_eq!(scan.issued, Some(532 * 1024 * 1024));
        assert_eq!(scan.total, Some((2.25f64 * 1024f64.powi(3)).round() as u64));
        assert_eq!(scan.repaired, Some(0));
        assert_eq!(pools[0].scan, None);
    }

    #[test]
    fn parses_sections_and_solaris_text() {
        let pools = parse_status(&shared_text("zfs/jc/zpool-status-spares.out")).unwrap();
        let sdf = vdev(&pools[0], "sdf");
        assert_eq!(
            (sdf.section.as_str(), sdf.state.as_str(), sdf.read),
            ("spares", "AVAIL", None)
        );
        assert_eq!(vdev(&pools[0], "sdh").section, "data");
        let logs = parse_status(&shared_text(
            "zfs/node-exporter-textfile-collector-scripts/zpool_status_-p_logs",
        ))
        .unwrap();
        let log = vdev(&logs[0], "c0t55CD2E404B73663Dd0");
        assert_eq!((log.section.as_str(), log.kind.as_str()), ("logs", "disk"));
        assert_eq!(vdev(&logs[0], "9669136929555758172").state, "UNAVAIL");
        let scan = logs[0].scan.as_ref().unwrap();
        assert_eq!(
            (scan.duration, scan.repaired),
            (Some(29 * 3600 + 37 * 60), Some(0))
        );
        let v2 = parse_status(&shared_text("zfs/jc/zpool-status-v2.out")).unwrap();
        assert_eq!(
            (v2[0].state.as_str(), v2[0].scan.as_ref()),
            ("DEGRADED", None)
        );
        assert_eq!(vdev(&v2[0], "c1t1d0").state, "UNAVAIL");
    }

    #[test]
    fn parses_zfs_fuse_and_legacy_scan_lines() {
        let s = parse_scan("scrub completed after 0h0m with 0 errors on Mon Nov 23 20:40:01 2026")
            .unwrap();
        assert_eq!(
            (s.state, s.duration, s.errors),
            (ScanState::Finished, Some(0), Some(0))
        );
        let s = parse_scan("scrub in progress for 0h1m, 50.00% done, 0h1m to go").unwrap();
        assert_eq!(
            (s.state, s.progress, s.eta),
            (ScanState::Running, Some(0.5), Some(60))
        );
        let s = parse_scan("scrub canceled on Mon Nov 23 20:40:01 2026").unwrap();
        assert_eq!(s.state, ScanState::Canceled);
        let s = parse_scan(
            "scrub in progress since Sun Jul 25 2021\n1.2G scanned out of 2.25G at 10M/s, 0h1m to go\n0B repaired, 50.00% done",
        );
        assert_eq!(
            s.unwrap().total,
            Some((2.25f64 * 1024f64.powi(3)).round() as u64)
        );
        assert_eq!(parse_scan("none requested"), None);
    }

    #[test]
    fn rejects_garbage_and_accepts_empty() {
        assert_eq!(parse_status("").unwrap(), vec![]);
        assert_eq!(parse_status("no pools available\n").unwrap(), vec![]);
        let err =
            parse_status("  pool: a\n state: ONLINE\nconfig:\n\n\tNAME STATE\n\ta\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "zpool status, line 6: vdev \"a\" has no state"
        );
        assert!(parse_status("  pool: a\nwhat is this\n").is_err());
    }
}
