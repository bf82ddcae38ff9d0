//! One definition of a disk's I/O: `sys/block/<dev>/stat` of whole physical disks, read through
//! `Root`. Used by SMART activity gating and the wall estimate alike.
//!
//! `stat` is the kernel's per-device I/O accounting (Documentation/block/stat.rst); reading it
//! never touches the disk. Fields 1 and 5 are completed read and write requests. SMART
//! pass-through commands (SG_IO, NVMe admin) are not accounted there.
//!
//! `sys/block` lists whole block devices only (partitions are below them). Of those, the ones
//! stacked on other disks or on memory are not physical disks, and their I/O is already counted
//! on the disks beneath (or on none): ZFS zvols (`zd*`), device-mapper (`dm-*`), md RAID
//! (`md*`), loop, ram/zram, network block devices (`nbd*`, `rbd*`, `drbd*`), bcache, optical
//! and floppy drives, and the hidden per-path devices of NVMe multipath (`nvme0c0n1`, whose I/O
//! is also on `nvme0n1`).

use crate::host::root::{ReadError, Root};
use crate::parse::{ParseError, parse_u64};

/// `sys/block` name prefixes of devices that are not whole physical disks.
const NOT_DISKS: [&str; 13] = [
    "loop", "ram", "zram", "dm-", "md", "nbd", "rbd", "drbd", "bcache", "zd", "sr", "fd", "pktcdvd",
];

/// Whether `sys/block/<name>` is a whole physical disk (`sda`, `nvme0n1`, `vda`, `mmcblk0`).
pub fn is_whole_disk(name: &str) -> bool {
    !NOT_DISKS.iter().any(|p| name.starts_with(p)) && !is_nvme_path(name)
}

/// `nvme<ctrl>c<path>n<ns>`: one path of a multipath NVMe namespace.
fn is_nvme_path(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("nvme") else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    rest.split_once('c').is_some_and(|(ctrl, tail)| {
        digits(ctrl)
            && tail
                .split_once('n')
                .is_some_and(|(path, ns)| digits(path) && digits(ns))
    })
}

/// Completed reads + completed writes (fields 1 and 5) of a `sys/block/<dev>/stat` line.
/// Errors: fewer than the 11 fields every kernel since 2.6 prints, or a field that is not an
/// unsigned integer.
pub fn parse_ios(text: &str) -> Result<u64, ParseError> {
    let fields: Vec<&str> = text.split_whitespace().collect();
    if fields.len() < 11 {
        return Err(ParseError::at(
            "block stat",
            1,
            format!("expected at least 11 fields, got {}", fields.len()),
        ));
    }
    Ok(parse_u64("block stat", fields[0])? + parse_u64("block stat", fields[4])?)
}

/// The whole physical disks in `sys/block`, or `None` when there is no such directory.
pub fn list_disks(root: &Root) -> Option<Vec<String>> {
    root.list("sys/block")
        .ok()
        .map(|v| v.into_iter().filter(|n| is_whole_disk(n)).collect())
}

/// Sum of completed requests over `entries` (`sys/block` names); `Ok(None)` when there are
/// none. The first unreadable or malformed `stat` is the error.
pub fn read_ios(root: &Root, entries: &[String]) -> Result<Option<u64>, ReadError> {
    let mut total = None;
    for e in entries {
        let rel = format!("sys/block/{e}/stat");
        let text = root.read_trimmed(&rel)?;
        let n = parse_ios(&text).map_err(|p| ReadError {
            rel_path: rel.clone(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, p.to_string()),
        })?;
        total = Some(total.unwrap_or(0) + n);
    }
    Ok(total)
}

/// Completed requests of every whole physical disk; `None` without `sys/block`. A disk whose
/// `stat` cannot be read adds nothing, and the others still count.
pub fn read_disk_ios(root: &Root) -> Option<u64> {
    let disks = list_disks(root)?;
    Some(
        disks
            .iter()
            .filter_map(|d| read_ios(root, std::slice::from_ref(d)).ok().flatten())
            .sum(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_block_stat() {
        let line = "  194553     1254 11376014   179504   181432   150765  7287522  1097704        0   406380  1305288";
        assert_eq!(parse_ios(line), Ok(194_553 + 181_432));
        let v5_5 = "  1234  5  678  9  100  0  0  0  0  10  20  0  0  0  0  0  0";
        assert_eq!(parse_ios(v5_5), Ok(1334));
        assert!(parse_ios("").is_err());
        assert!(parse_ios("1 2 3 4 5").is_err());
        assert!(parse_ios("a 0 0 0 0 0 0 0 0 0 0").is_err());
    }

    #[test]
    fn whole_physical_disks_only() {
        for disk in [
            "sda", "sdaa", "nvme0n1", "nvme10n2", "vda", "mmcblk0", "xvda", "pmem0",
        ] {
            assert!(is_whole_disk(disk), "{disk}");
        }
        for virt in [
            "zd0",
            "zd16",
            "dm-0",
            "md127",
            "loop3",
            "ram0",
            "zram0",
            "nbd0",
            "rbd0",
            "drbd1",
            "bcache0",
            "sr0",
            "fd0",
            "nvme0c0n1",
            "nvme1c12n3",
        ] {
            assert!(!is_whole_disk(virt), "{virt}");
        }
    }

    fn stat(reads: u64, writes: u64) -> String {
        format!("{reads} 0 0 0 {writes} 0 0 0 0 0 0 0 0 0 0 0 0\n")
    }

    /// A ZFS host: the pool's disks carry the I/O; the zvol on top (and a dm device, a loop,
    /// an md array) repeat it. Only the disks count.
    #[test]
    fn zvol_and_stacked_device_io_is_not_counted() {
        let dir = tempfile::tempdir().unwrap();
        for (dev, r, w) in [
            ("sda", 1000, 500),
            ("nvme0n1", 40, 2),
            ("nvme0c0n1", 40, 2),
            ("zd0", 900, 450),
            ("zd16", 7, 7),
            ("dm-0", 300, 300),
            ("loop0", 55, 0),
            ("md0", 11, 11),
        ] {
            let d = dir.path().join("sys/block").join(dev);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("stat"), stat(r, w)).unwrap();
        }
        let bad = dir.path().join("sys/block/sdb");
        std::fs::create_dir_all(&bad).unwrap();
        std::fs::write(bad.join("stat"), "garbage").unwrap();
        let root = Root::new(dir.path());
        let mut disks = list_disks(&root).unwrap();
        disks.sort();
        assert_eq!(disks, ["nvme0n1", "sda", "sdb"]);
        assert_eq!(read_disk_ios(&root), Some(1500 + 42));
        assert!(read_ios(&root, &["sdb".into()]).is_err());
        assert_eq!(read_ios(&root, &[]).unwrap(), None);
        assert_eq!(read_disk_ios(&Root::new(dir.path().join("none"))), None);
    }
}
