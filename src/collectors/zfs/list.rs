//! `zpool list -H` text: one pool a line, tab-separated, no header.
//!
//! `-H` prints the default columns, which depend on the version, so the layout is chosen by the
//! field count: 11 on OpenZFS ≥ 0.8 (`name size alloc free ckpoint expandsz frag cap dedup
//! health altroot`), 10 on ZoL 0.6.4–0.7 (no ckpoint), 8 on zfs-fuse and Solaris-era zpool
//! (`name size alloc free cap dedup health altroot`), 7 before dedup (`name size used avail cap
//! health altroot`). With `-p` sizes are exact integers; without it they are human units. Even
//! with `-p`, FreeBSD prints frag as `8%` and dedup as `1.83x`; `-` (an UNAVAIL pool) is unknown.

use super::units::{parse_percent, parse_ratio, parse_size};
use super::{Pool, RowError};
use crate::parse::ParseError;

/// A column of `zpool list` output that we read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    /// Pool name.
    Name,
    /// `size`.
    Size,
    /// `allocated`.
    Alloc,
    /// `free`.
    Free,
    /// `fragmentation`.
    Frag,
    /// `capacity`.
    Cap,
    /// `dedupratio`.
    Dedup,
    /// `health`.
    Health,
    /// A column we don't export (`ckpoint`, `expandsz`, `altroot`).
    Skip,
}

use Column::*;

/// The default columns of `zpool list -H` for a line of `fields` fields.
pub fn default_layout(fields: usize) -> Option<&'static [Column]> {
    Some(match fields {
        11 => &[
            Name, Size, Alloc, Free, Skip, Skip, Frag, Cap, Dedup, Health, Skip,
        ],
        10 => &[
            Name, Size, Alloc, Free, Skip, Frag, Cap, Dedup, Health, Skip,
        ],
        8 => &[Name, Size, Alloc, Free, Cap, Dedup, Health, Skip],
        7 => &[Name, Size, Alloc, Free, Cap, Health, Skip],
        _ => return None,
    })
}

/// Parses `zpool list -H[p]` output. `layout` gives the columns (as asked with `-o`); `None`
/// means the default columns, recognised by their count. A line that cannot be read is
/// reported in `errors` (by pool name) and skipped; the other pools are kept.
pub fn parse_list(text: &str, layout: Option<&[Column]>, errors: &mut Vec<RowError>) -> Vec<Pool> {
    let mut pools = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        if raw.trim().is_empty() || raw.starts_with(['\t', ' ']) {
            continue; // -v prints vdevs indented under their pool
        }
        match parse_line(i + 1, raw, layout) {
            Ok(pool) => pools.push(pool),
            Err(error) => errors.push(RowError {
                item: raw.split_whitespace().next().unwrap_or_default().to_owned(),
                error,
            }),
        }
    }
    pools
}

fn parse_line(line: usize, raw: &str, layout: Option<&[Column]>) -> Result<Pool, ParseError> {
    const WHAT: &str = "zpool list";
    let fields: Vec<&str> = if raw.contains('\t') {
        raw.split('\t').collect()
    } else {
        raw.split_whitespace().collect()
    };
    let cols = match layout {
        Some(l) => l,
        None => default_layout(fields.len()).ok_or_else(|| {
            ParseError::at(
                WHAT,
                line,
                format!("unexpected number of columns: {}", fields.len()),
            )
        })?,
    };
    if fields.len() != cols.len() {
        return Err(ParseError::at(
            WHAT,
            line,
            format!("expected {} columns, got {}", cols.len(), fields.len()),
        ));
    }
    let mut pool = Pool::default();
    for (col, f) in cols.iter().zip(&fields) {
        match col {
            Name => pool.name = (*f).to_owned(),
            Size => pool.size = parse_size(WHAT, line, f)?,
            Alloc => pool.allocated = parse_size(WHAT, line, f)?,
            Free => pool.free = parse_size(WHAT, line, f)?,
            Frag => pool.fragmentation = parse_percent(WHAT, line, f)?,
            Cap => pool.capacity = parse_percent(WHAT, line, f)?,
            Dedup => pool.dedup = parse_ratio(WHAT, line, f)?,
            Health => pool.health = (*f).to_owned(),
            Skip => {}
        }
    }
    if pool.name.is_empty() || pool.health.is_empty() {
        return Err(ParseError::at(WHAT, line, "empty pool name or health"));
    }
    Ok(pool)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::shared_text;

    /// The pools, or the first line that could not be read.
    fn parse_list(text: &str, layout: Option<&[Column]>) -> Result<Vec<Pool>, ParseError> {
        let mut errors = Vec::new();
        let pools = super::parse_list(text, layout, &mut errors);
        errors
            .into_iter()
            .next()
            .map_or(Ok(pools), |e| Err(e.error))
    }

    /// `-o name,health,size,alloc,free,fragmentation,capacity,dedupratio`, as telegraf runs it.
    const FREEBSD: &[Column] = &[Name, Health, Size, Alloc, Free, Frag, Cap, Dedup];

    #[test]
    fn parses_full_pool_capacity() {
        let pools = parse_list(
            &shared_text("zfs/lab-openzfs-2.1.11/zpool_list_Hp_full.txt"),
            None,
        )
        .unwrap();
        let tank = &pools[1];
        assert_eq!(
            (tank.name.as_str(), tank.size, tank.allocated, tank.free),
            (
                "tank",
                Some(2_952_790_016),
                Some(2_420_629_504),
                Some(532_160_512)
            )
        );
        assert_eq!(
            (tank.capacity, tank.fragmentation, tank.dedup),
            (Some(0.81), Some(0.05), Some(1.0))
        );
        assert_eq!(tank.health, "ONLINE");
        let degraded = parse_list(
            &shared_text("zfs/lab-openzfs-2.1.11/zpool_list_Hp_degraded.txt"),
            None,
        )
        .unwrap();
        assert_eq!(degraded[1].health, "DEGRADED");
    }

    #[test]
    fn parses_freebsd_percent_and_x_suffixes() {
        let pools = parse_list(
            &shared_text("zfs/telegraf/freebsd/freenas/zpool.txt"),
            Some(FREEBSD),
        )
        .unwrap();
        assert_eq!(pools.len(), 4);
        let red = &pools[1];
        assert_eq!(
            (
                red.name.as_str(),
                red.size,
                red.fragmentation,
                red.capacity,
                red.dedup
            ),
            (
                "red1",
                Some(8_933_531_975_680),
                Some(0.08),
                Some(0.12),
                Some(1.83)
            )
        );
        assert_eq!(pools[0].fragmentation, None, "boot pool prints '-' frag");
    }

    #[test]
    fn parses_unavailable_pool_as_unknown() {
        let pools = parse_list(
            &shared_text("zfs/telegraf/freebsd/unavailable/zpool.txt"),
            Some(FREEBSD),
        )
        .unwrap();
        let p = &pools[0];
        assert_eq!((p.name.as_str(), p.health.as_str()), ("temp2", "UNAVAIL"));
        assert_eq!(
            (p.size, p.allocated, p.free, p.capacity, p.dedup),
            (None, None, None, None, None)
        );
    }

    #[test]
    fn parses_zfs_fuse_human_units() {
        let pools = parse_list("tst\t370M\t1.11M\t369M\t0%\t1.00x\tONLINE\t-\n", None).unwrap();
        assert_eq!(pools[0].size, Some(370 * 1024 * 1024));
        assert_eq!(pools[0].allocated, Some(1_163_919));
        assert_eq!((pools[0].capacity, pools[0].dedup), (Some(0.0), Some(1.0)));
        assert_eq!(pools[0].fragmentation, None);
    }

    #[test]
    fn skips_vdev_lines_of_verbose_output() {
        let pools = parse_list(
            &shared_text("zfs/lab-openzfs-2.1.11/zpool_list_Hpv_resilvering.txt"),
            None,
        )
        .unwrap();
        let names: Vec<_> = pools.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["backup", "tank"]);
    }

    #[test]
    fn rejects_garbage() {
        assert_eq!(parse_list("", None).unwrap(), vec![]);
        assert_eq!(
            parse_list("tank\t1\n", None).unwrap_err().to_string(),
            "zpool list, line 1: unexpected number of columns: 2"
        );
        assert!(parse_list("a b c d e f g h i j k\n", None).is_err());
    }

    #[test]
    fn a_line_it_cannot_read_costs_only_that_pool() {
        let mut errors = Vec::new();
        let pools = super::parse_list(
            "a\t100\t50\t50\t-\t-\t5\t50\t1.00\tONLINE\t-\n\
             b\t1\n\
             c\tlots\t50\t50\t-\t-\t5\t50\t1.00\tONLINE\t-\n\
             d\t200\t50\t150\t-\t-\t5\t25\t1.00\tDEGRADED\t-\t-\n\
             e\t300\t30\t270\t-\t-\t1\t10\t1.00\tONLINE\t-\n",
            None,
            &mut errors,
        );
        let got: Vec<_> = pools.iter().map(|p| (p.name.as_str(), p.size)).collect();
        assert_eq!(got, [("a", Some(100)), ("e", Some(300))]);
        let bad: Vec<_> = errors
            .iter()
            .map(|e| (e.item.as_str(), e.error.line))
            .collect();
        assert_eq!(bad, [("b", 2), ("c", 3), ("d", 4)]);
    }
}
