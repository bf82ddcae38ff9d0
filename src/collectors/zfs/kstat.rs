//! `proc/spl/kstat/zfs`: the ARC (`arcstats`), each pool's `state` file and its datasets'
//! `objset-0x*` counters, read through `Root`. None of this runs zpool or touches a disk, so
//! it stays fresh while a zpool command hangs on a suspended pool.
//!
//! A named kstat is a header line (`18 1 0x01 147 39984 ...`), a `name type data` line, then
//! one `name type value` line per field; type 7 is a string (`dataset_name`), the others are
//! numbers. The per-pool `io` kstat was removed in OpenZFS 2.1 and is not read.

use std::collections::BTreeMap;
use std::io;

use crate::collectors::{CollectError, Fault};
use crate::host::root::Root;
use crate::parse::ParseError;

/// Where ZFS publishes its kstats.
pub const BASE: &str = "proc/spl/kstat/zfs";

/// The fields of a named kstat, by name; values kept as text (type 7 is a string).
pub fn parse_kstat(text: &str) -> Result<BTreeMap<String, String>, ParseError> {
    const WHAT: &str = "kstat";
    let mut lines = text.lines().enumerate();
    let mut out = BTreeMap::new();
    let mut seen_header = false;
    for (i, line) in lines.by_ref() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() >= 3 && f[0] == "name" && f[1] == "type" && f[2] == "data" {
            seen_header = true;
            break;
        }
        if i > 1 {
            break;
        }
    }
    if !seen_header {
        return Err(ParseError::at(WHAT, 1, "no \"name type data\" header"));
    }
    for (i, line) in lines {
        let mut f = line.split_whitespace();
        let (Some(name), Some(_ty)) = (f.next(), f.next()) else {
            if line.trim().is_empty() {
                continue;
            }
            return Err(ParseError::at(WHAT, i + 1, format!("short line {line:?}")));
        };
        out.insert(name.to_owned(), f.collect::<Vec<_>>().join(" "));
    }
    Ok(out)
}

/// ARC sizes and counters from `arcstats`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Arc {
    /// `size`: bytes in the ARC now.
    pub size: Option<u64>,
    /// `c`: the ARC's target size.
    pub target: Option<u64>,
    /// `c_min`.
    pub min: Option<u64>,
    /// `c_max`.
    pub max: Option<u64>,
    /// `hits`.
    pub hits: Option<u64>,
    /// `misses`.
    pub misses: Option<u64>,
    /// `l2_size`, only when an L2ARC device has ever been seen (`l2_asize` > 0 or hits/misses).
    pub l2_size: Option<u64>,
    /// `l2_hits`.
    pub l2_hits: Option<u64>,
    /// `l2_misses`.
    pub l2_misses: Option<u64>,
}

/// Parses `arcstats`.
pub fn parse_arcstats(text: &str) -> Result<Arc, ParseError> {
    let k = parse_kstat(text)?;
    let n = |key: &str| k.get(key).and_then(|v| v.parse::<u64>().ok());
    // l2_* fields exist (as 0) without an L2ARC; export them only when one is or was attached
    let has_l2 = [n("l2_size"), n("l2_asize"), n("l2_hits"), n("l2_misses")]
        .iter()
        .any(|v| v.is_some_and(|v| v > 0));
    Ok(Arc {
        size: n("size"),
        target: n("c"),
        min: n("c_min"),
        max: n("c_max"),
        hits: n("hits"),
        misses: n("misses"),
        l2_size: n("l2_size").filter(|_| has_l2),
        l2_hits: n("l2_hits").filter(|_| has_l2),
        l2_misses: n("l2_misses").filter(|_| has_l2),
    })
}

/// One dataset's counters from an `objset-0x*` kstat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Objset {
    /// Pool (the kstat directory).
    pub pool: String,
    /// `dataset_name`, e.g. `tank/media`.
    pub dataset: String,
    /// `reads`.
    pub reads: Option<u64>,
    /// `writes`.
    pub writes: Option<u64>,
    /// `nread`: bytes read.
    pub nread: Option<u64>,
    /// `nwritten`: bytes written.
    pub nwritten: Option<u64>,
}

/// Parses an `objset-0x*` kstat of `pool`.
pub fn parse_objset(pool: &str, text: &str) -> Result<Objset, ParseError> {
    let k = parse_kstat(text)?;
    let n = |key: &str| k.get(key).and_then(|v| v.parse::<u64>().ok());
    let dataset = k
        .get("dataset_name")
        .cloned()
        .ok_or_else(|| ParseError::at("objset kstat", 1, "no dataset_name"))?;
    Ok(Objset {
        pool: pool.to_owned(),
        dataset,
        reads: n("reads"),
        writes: n("writes"),
        nread: n("nread"),
        nwritten: n("nwritten"),
    })
}

/// Everything read from the kstat tree in one round.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Kstats {
    /// ARC, when `arcstats` was readable.
    pub arc: Option<Arc>,
    /// Pool name → content of its `state` file (`ONLINE`, `SUSPENDED`, …).
    pub states: BTreeMap<String, String>,
    /// Dataset counters.
    pub objsets: Vec<Objset>,
}

/// Reads the kstat tree; `Ok(None)` when `proc/spl/kstat/zfs` does not exist (no ZFS module, or
/// zfs-fuse). Unreadable files are faults; the rest is returned.
pub fn read_kstats(root: &Root, faults: &mut Vec<Fault>) -> Result<Option<Kstats>, CollectError> {
    let entries = match root.list(BASE) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(CollectError::from_read(e, "run hostwatt as root")),
    };
    let mut k = Kstats::default();
    let mut fault = |item: String, error| faults.push(Fault { item, error });
    let parse_err = |path: &str, e| CollectError::parse(path.to_owned(), e);
    if entries.iter().any(|e| e == "arcstats") {
        let path = format!("{BASE}/arcstats");
        match root.read_trimmed(&path) {
            Ok(t) => match parse_arcstats(&t) {
                Ok(a) => k.arc = Some(a),
                Err(e) => fault("arcstats".into(), parse_err(&path, e)),
            },
            Err(e) => fault("arcstats".into(), CollectError::Read(e)),
        }
    }
    for pool in entries {
        let dir = format!("{BASE}/{pool}");
        match root.read_optional(format!("{dir}/state")) {
            Ok(Some(s)) => {
                k.states.insert(pool.clone(), s);
            }
            Ok(None) => continue, // a file such as arcstats, or a dir that is not a pool
            Err(e) if e.kind() == io::ErrorKind::NotADirectory => continue,
            Err(e) => {
                fault(format!("{pool}/state"), CollectError::Read(e));
                continue;
            }
        }
        let Ok(files) = root.list(&dir) else { continue };
        for f in files.iter().filter(|f| f.starts_with("objset-")) {
            let path = format!("{dir}/{f}");
            match root
                .read_trimmed(&path)
                .map_err(CollectError::Read)
                .and_then(|t| parse_objset(&pool, &t).map_err(|e| parse_err(&path, e)))
            {
                Ok(o) => k.objsets.push(o),
                Err(e) => fault(format!("{pool}/{f}"), e),
            }
        }
    }
    Ok(Some(k))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{shared_root, shared_text};

    #[test]
    fn parses_lab_arcstats() {
        let a = parse_arcstats(&shared_text("zfs/lab-openzfs-2.3.2/arcstats.txt")).unwrap();
        assert_eq!(
            (a.size, a.target, a.min, a.max, a.hits, a.misses),
            (
                Some(6_113_296),
                Some(128_224_512),
                Some(128_224_512),
                Some(3_029_442_560),
                Some(3336),
                Some(0)
            )
        );
        assert_eq!(a.l2_size, None, "no L2ARC in the lab");
    }

    #[test]
    fn reads_the_telegraf_kstat_tree() {
        let mut faults = Vec::new();
        let k = read_kstats(&shared_root("zfs/telegraf"), &mut faults)
            .unwrap()
            .unwrap();
        assert!(faults.is_empty(), "{faults:?}");
        assert_eq!(k.arc.as_ref().unwrap().size, Some(14_960_038_920));
        assert_eq!(k.states.get("store").map(String::as_str), Some("ONLINE"));
        assert_eq!(k.states.len(), 2);
        let o = k
            .objsets
            .iter()
            .find(|o| o.dataset == "store/010101")
            .unwrap();
        assert_eq!(o.pool, "store");
        assert!(o.reads.is_some() && o.nwritten.is_some());
    }

    #[test]
    fn reads_the_node_exporter_pool_kstats() {
        let mut faults = Vec::new();
        let k = read_kstats(&shared_root("zfs/node_exporter"), &mut faults)
            .unwrap()
            .unwrap();
        assert_eq!(k.states.get("poolz1").map(String::as_str), Some("DEGRADED"));
        assert_eq!(k.arc, None);
        let o = &k.objsets[0];
        assert_eq!(
            (o.dataset.as_str(), o.reads, o.nread),
            ("poolz1", Some(0), Some(0))
        );
    }

    #[test]
    fn missing_kstat_dir_is_none() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            read_kstats(&Root::new(dir.path()), &mut Vec::new()).unwrap(),
            None
        );
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse_kstat("").is_err());
        assert!(parse_kstat("hello\nworld\nfoo\n").is_err());
        assert!(parse_objset("p", "1 1 0x01\nname type data\nreads 4 1\n").is_err());
        assert_eq!(
            parse_kstat("1 1 0x01 1 1 1 1\nname type data\nhits 4 7\n").unwrap()["hits"],
            "7"
        );
    }
}
