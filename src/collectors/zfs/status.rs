//! `zpool status` text, from Solaris-era and zfs-fuse output (`scrub:` lines, human units) to
//! OpenZFS 2.x with `-P -L -p` (full resolved device paths, exact error counts).
//!
//! Each pool is a block of `key: value` lines (`pool`, `state`, `status`, `action`, `see`,
//! `scan`/`scrub`, `config`, `errors`) whose continuation lines are indented. The `config:` table
//! nests vdevs by indentation (two spaces a level) under the pool's root vdev and the section
//! headers `logs`, `cache`, `spares`, `special` and `dedup`. Scan lines differ by version:
//! 2.0/2.1 print `X scanned at R, Y issued at R, Z total`, 2.2+ `X / Z scanned, Y / Z issued at
//! R`, 0.7 `X scanned out of Z at R`; all print `N repaired|resilvered, P% done, ETA to go`.
//! OpenZFS ≥ 2.1 can print two `scan:` lines: the last scrub, then a resilver, or a sequential
//! (dRAID) rebuild named by its top-level vdev: `resilver (draid2:4d:8c:1s-0) in progress …`.
//!
//! A table row is `NAME STATE [READ WRITE CKSUM] [note…]`: spares (`AVAIL`, `INUSE  currently
//! in use`) and some unopened devices print no counts, and whatever follows the counts is a
//! note (`(resilvering)`, `too many errors`). A row or line that still cannot be read costs
//! only itself: it is reported as a `RowError` and the rest of the output is kept.

use super::units::{parse_ctime, parse_duration, parse_size};
use super::{PoolStatus, RowError, Scan, ScanFunction, ScanState, Vdev};
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

/// A `key:` line of a kind this parser does not know (`expand:`, `prefetch:` of later
/// versions): a lowercase word and a colon, outside the config table.
fn unknown_key(line: &str) -> bool {
    let t = line.trim_start();
    t.split_once(':').is_some_and(|(k, _)| {
        !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '_')
    })
}

/// One pool's lines while it is being read.
#[derive(Default)]
struct Block<'a> {
    scans: Vec<String>,
    table: Vec<(usize, &'a str)>,
}

fn flush(pools: &mut [PoolStatus], block: &mut Block, errors: &mut Vec<RowError>) {
    if let Some(p) = pools.last_mut() {
        for text in block.scans.drain(..) {
            if let Some(scan) = parse_scan(&text) {
                keep_latest(&mut p.scans, scan);
            }
        }
        p.vdevs = parse_config(&p.name, &block.table, errors);
    }
    block.table.clear();
}

/// Adds `scan` to `scans`, which keep one scan per function: zpool prints the last scrub and
/// then the current or last resilver (or one sequential rebuild per dRAID vdev), so a later
/// line replaces an earlier one of the same function, unless the earlier one is still running.
pub fn keep_latest(scans: &mut Vec<Scan>, scan: Scan) {
    match scans.iter_mut().find(|s| s.function == scan.function) {
        Some(old) if old.state == ScanState::Running && scan.state != ScanState::Running => {}
        Some(old) => *old = scan,
        None => scans.push(scan),
    }
}

/// Parses the whole output: one `PoolStatus` per `pool:` block. A line or table row that cannot
/// be read is skipped and reported in `errors` (by pool and vdev); every other row and pool is
/// kept.
pub fn parse_status(text: &str, errors: &mut Vec<RowError>) -> Vec<PoolStatus> {
    let mut pools: Vec<PoolStatus> = Vec::new();
    let mut key = "";
    let mut block = Block::default();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if key == "config" {
            if line.trim().is_empty() {
                if !block.table.is_empty() {
                    key = "";
                }
                continue;
            }
            if key_of(line).is_none() {
                block.table.push((n, line));
                continue;
            }
        }
        match key_of(line) {
            Some(("pool", name)) => {
                flush(&mut pools, &mut block, errors);
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
                    "scan" | "scrub" => block.scans.push(rest.to_owned()),
                    "errors" => p.data_errors = parse_data_errors(rest),
                    _ => {}
                }
            }
            None if key == "scan" || key == "scrub" => {
                if let Some(s) = block.scans.last_mut() {
                    s.push('\n');
                    s.push_str(line.trim());
                }
            }
            None if line.trim().is_empty() => {}
            None if pools.is_empty() => {}
            None if line.starts_with([' ', '\t']) => {} // continuation of status:/action:
            None if unknown_key(line) => key = "",      // its continuation lines are skipped too
            None => {
                let pool = pools.last().map_or("", |p| p.name.as_str());
                errors.push(RowError {
                    item: pool.to_owned(),
                    error: ParseError::at(WHAT, n, format!("unexpected line {:?}", line.trim())),
                });
            }
        }
    }
    flush(&mut pools, &mut block, errors);
    pools
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

/// A vdev state word as zpool prints it (`ONLINE`, `AVAIL`, `INUSE`, `UNAVAIL`).
fn is_state(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_uppercase() || c == '_')
}

/// The READ/WRITE/CKSUM columns of a row's fields after the state. A spare or an unopened
/// device prints none (`AVAIL`, `INUSE  currently in use`); whatever follows the counts is a
/// note (`(resilvering)`, `too many errors`, `was /dev/sdc1`), not a column.
fn counts(n: usize, rest: &[&str]) -> Result<[Option<u64>; 3], ParseError> {
    let count = |s: &str| parse_size(WHAT, n, s);
    match rest {
        [] => Ok([None; 3]),
        [a, b, c, ..] if count(a).is_ok() => Ok([count(a)?, count(b)?, count(c)?]),
        [a, ..] if count(a).is_ok() => Err(ParseError::at(
            WHAT,
            n,
            format!("truncated error counts {:?}", rest.join(" ")),
        )),
        _ => Ok([None; 3]), // a note without counts
    }
}

/// The `config:` table: a header line, then one vdev a line, nested by two spaces a level.
/// A row that cannot be read is reported in `errors` under `pool/vdev` and skipped.
fn parse_config(pool: &str, table: &[(usize, &str)], errors: &mut Vec<RowError>) -> Vec<Vdev> {
    let Some(((_, header), rows)) = table.split_first() else {
        return Vec::new();
    };
    if !header.trim_start().starts_with("NAME") {
        return Vec::new(); // "The pool is suspended" and similar: no table
    }
    let base = indent(header);
    let mut vdevs: Vec<Vdev> = Vec::new();
    let mut depths: Vec<usize> = Vec::new();
    let mut section = "data";
    for &(n, row) in rows {
        let depth = indent(row).saturating_sub(base) / 2;
        let f: Vec<&str> = row.split_whitespace().collect();
        let Some(&name) = f.first() else { continue };
        if depth == 0 && f.len() == 1 && !vdevs.is_empty() {
            // a section header; one this parser does not know keeps its own name
            section = SECTIONS
                .iter()
                .find(|(h, _)| *h == name)
                .map_or(name, |(_, s)| s);
            continue;
        }
        if depth == 0 && vdevs.is_empty() {
            section = "data";
        }
        let fail = |errors: &mut Vec<RowError>, why: String| {
            errors.push(RowError {
                item: format!("{pool}/{name}"),
                error: ParseError::at(WHAT, n, why),
            });
        };
        let state = match f.get(1) {
            Some(s) if is_state(s) => *s,
            Some(s) => {
                fail(errors, format!("vdev {name:?}: not a state: {s:?}"));
                continue;
            }
            None => {
                fail(errors, format!("vdev {name:?} has no state"));
                continue;
            }
        };
        let [read, write, checksum] = match counts(n, &f[2..]) {
            Ok(c) => c,
            Err(e) => {
                // the state is still right: keep the vdev, without counts
                errors.push(RowError {
                    item: format!("{pool}/{name}"),
                    error: e,
                });
                [None; 3]
            }
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
    vdevs
}

/// The vdev type as JSON names it (`root`, `mirror`, `raidz`, `replacing`, `disk`, `file`, …),
/// from the text name: interior vdevs are named `<type>-<n>` (`raidz1-0`, `mirror-1`).
pub(super) fn text_kind(name: &str, root: bool, leaf: bool) -> String {
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
    let (word, rest) = first.split_once(' ')?;
    let function = match word {
        "scrub" => ScanFunction::Scrub,
        "resilver" | "resilvered" => ScanFunction::Resilver,
        _ => return None, // "none requested"
    };
    // a sequential rebuild names its top-level vdev: "resilver (draid2:…-0) in progress since"
    let rest = match rest.strip_prefix('(').and_then(|r| r.split_once(") ")) {
        Some((_vdev, r)) => r,
        None => rest,
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
        // "resilvered 629M in ..." arrives here as rest = "629M in ..."; a finished
        // rebuild prints no amount: "resilvered (draid1:…) in 00:01:02 with 0 errors on …"
        (word == "resilvered").then_some(rest)
    }) {
        let (amount, tail) = match t.strip_prefix("in ") {
            Some(tail) => ("-", tail),
            None => t.split_once(" in ").unwrap_or((t, "")),
        };
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

    /// Parses output that must read without a row error.
    fn clean(text: &str) -> Vec<PoolStatus> {
        let mut errors = Vec::new();
        let pools = parse_status(text, &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        pools
    }

    fn vdev<'a>(p: &'a PoolStatus, name: &str) -> &'a Vdev {
        p.vdevs
            .iter()
            .find(|v| v.name == name)
            .unwrap_or_else(|| panic!("no vdev {name}: {p:#?}"))
    }

    #[test]
    fn parses_degraded_pool_with_offline_vdev() {
        let pools = clean(&shared_text(
            "zfs/lab-openzfs-2.1.11/zpool_status_PLp_degraded.txt",
        ));
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
        let scan = tank.scans.first().unwrap();
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
        let pools = clean(&shared_text(
            "zfs/lab-openzfs-2.1.11/zpool_status_PLp_resilvering.txt",
        ));
        let tank = &pools[1];
        let scan = tank.scans.first().unwrap();
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
        let pools = clean(&shared_text(
            "zfs/lab-openzfs-2.1.11/zpool_status_PLp_resilvered.txt",
        ));
        let tank = &pools[1];
        let scan = tank.scans.first().unwrap();
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
        let pools = clean(&shared_text(
            "zfs/lab-openzfs-2.3.2/zpool_status_PLp_scrubbing.txt",
        ));
        let scan = pools[1].scans.first().unwrap();
        assert_eq!(
            (scan.function, scan.state),
            (ScanFunction::Scrub, ScanState::Running)
        );
        assert_eq!((scan.progress, scan.eta), (Some(23.07 / 100.0), Some(10)));
        assert_eq!(scan.issued, Some(532 * 1024 * 1024));
        assert_eq!(scan.total, Some((2.25f64 * 1024f64.powi(3)).round() as u64));
        assert_eq!(scan.repaired, Some(0));
        assert_eq!(pools[0].scans.first(), None);
    }

    #[test]
    fn parses_sections_and_solaris_text() {
        let pools = clean(&shared_text("zfs/jc/zpool-status-spares.out"));
        let sdf = vdev(&pools[0], "sdf");
        assert_eq!(
            (sdf.section.as_str(), sdf.state.as_str(), sdf.read),
            ("spares", "AVAIL", None)
        );
        assert_eq!(vdev(&pools[0], "sdh").section, "data");
        let logs = clean(&shared_text(
            "zfs/node-exporter-textfile-collector-scripts/zpool_status_-p_logs",
        ));
        let log = vdev(&logs[0], "c0t55CD2E404B73663Dd0");
        assert_eq!((log.section.as_str(), log.kind.as_str()), ("logs", "disk"));
        assert_eq!(vdev(&logs[0], "9669136929555758172").state, "UNAVAIL");
        let scan = logs[0].scans.first().unwrap();
        assert_eq!(
            (scan.duration, scan.repaired),
            (Some(29 * 3600 + 37 * 60), Some(0))
        );
        let v2 = clean(&shared_text("zfs/jc/zpool-status-v2.out"));
        assert_eq!(
            (v2[0].state.as_str(), v2[0].scans.first()),
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

    /// dRAID sequential rebuilds as print_rebuild_status prints them, and which of two scans
    /// of one function is kept.
    #[test]
    fn reads_rebuild_lines_and_keeps_the_latest_scan_of_each_function() {
        let done = parse_scan(
            "resilvered (draid1:3d:5c:1s-0) in 00:01:02 with 0 errors on Mon Nov 23 20:05:55 2026",
        )
        .unwrap();
        assert_eq!(
            (done.function, done.state, done.duration, done.errors),
            (
                ScanFunction::Resilver,
                ScanState::Finished,
                Some(62),
                Some(0)
            )
        );
        assert_eq!(
            (done.end, done.start, done.repaired),
            (Some(1_795_464_355), Some(1_795_464_293), None)
        );
        let canceled =
            parse_scan("resilver (draid1:3d:5c:1s-0) canceled on Mon Nov 23 20:05:55 2026")
                .unwrap();
        assert_eq!(canceled.state, ScanState::Canceled);

        let mut running = Scan::new(ScanFunction::Resilver, ScanState::Running);
        running.start = Some(5);
        let mut scans = vec![Scan::new(ScanFunction::Scrub, ScanState::Finished)];
        keep_latest(&mut scans, done.clone());
        keep_latest(&mut scans, running.clone());
        keep_latest(&mut scans, done); // a second top-level vdev's finished rebuild
        let got: Vec<_> = scans.iter().map(|s| (s.function, s.state)).collect();
        assert_eq!(
            got,
            [
                (ScanFunction::Scrub, ScanState::Finished),
                (ScanFunction::Resilver, ScanState::Running)
            ]
        );
    }

    #[test]
    fn empty_output_is_no_pools() {
        assert_eq!(clean(""), vec![]);
        assert_eq!(clean("no pools available\n"), vec![]);
    }

    /// Rows of kinds never seen (an unknown note, an unknown section, a truncated row, extra
    /// columns, a shifted row, a stray line, an unknown key) each cost at most that row: the
    /// other rows of the pool, the other pool, the scan and the data errors are all kept.
    #[test]
    fn a_row_it_cannot_read_costs_only_that_row() {
        let text = "  pool: odd\n state: DEGRADED\n\
  scan: scrub repaired 0B in 00:00:09 with 0 errors on Mon Nov 23 20:10:24 2026\n\
expand: expanded raidz1-0 copied 1.2T in 01:02:03, on Mon Nov 23 20:10:24 2026\n\
\tsomething continues here\n\
config:\n\n\
\tNAME          STATE     READ WRITE CKSUM\n\
\todd           DEGRADED     0     0     0\n\
\t  raidz1-0    DEGRADED     0     0     0\n\
\t    sda       ONLINE       0     0     0  (some future note)\n\
\t    sdb       FAULTED      7     0     0  too many errors\n\
\t    sdc       ONLINE       1     2\n\
\t    sdd       ONLINE       0     0     0     5   slow\n\
\t    sde       0     0     0\n\
\t    sdf\n\
\thybrid\n\
\t  sdg         ONLINE       0     0     0\n\
\tspares\n\
\t  sdh         INUSE     currently in use\n\
\t  sdi         AVAIL   \n\n\
what is this\n\
errors: 3 data errors, use '-v' for a list\n\n\
  pool: fine\n state: ONLINE\nconfig:\n\n\
\tNAME        STATE     READ WRITE CKSUM\n\
\tfine        ONLINE       0     0     0\n\
\t  sdz       ONLINE       0     0     4\n\n\
errors: No known data errors\n";
        let mut errors = Vec::new();
        let pools = parse_status(text, &mut errors);
        let items: Vec<(&str, usize)> = errors
            .iter()
            .map(|e| (e.item.as_str(), e.error.line))
            .collect();
        assert_eq!(
            items,
            [
                ("odd", 23),
                ("odd/sdc", 13),
                ("odd/sde", 15),
                ("odd/sdf", 16)
            ],
            "{errors:?}"
        );
        assert_eq!(
            errors[1].error.to_string(),
            "zpool status, line 13: truncated error counts \"1 2\""
        );
        let odd = &pools[0];
        let row = |n: &str| {
            let v = vdev(odd, n);
            (v.state.as_str(), v.section.as_str(), v.read, v.checksum)
        };
        assert_eq!(row("sda"), ("ONLINE", "data", Some(0), Some(0)));
        assert_eq!(row("sdb"), ("FAULTED", "data", Some(7), Some(0)));
        assert_eq!(row("sdc"), ("ONLINE", "data", None, None));
        assert_eq!(row("sdd"), ("ONLINE", "data", Some(0), Some(0)));
        assert_eq!(row("sdg"), ("ONLINE", "hybrid", Some(0), Some(0)));
        assert_eq!(row("sdh"), ("INUSE", "spares", None, None));
        assert_eq!(row("sdi"), ("AVAIL", "spares", None, None));
        assert_eq!(odd.vdevs.len(), 9);
        assert_eq!((odd.data_errors, odd.scans.len()), (Some(3), 1));
        assert_eq!(odd.scans[0].duration, Some(9));
        assert_eq!(
            (pools[1].name.as_str(), vdev(&pools[1], "sdz").checksum),
            ("fine", Some(4))
        );
    }
}
