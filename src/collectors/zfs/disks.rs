//! Leaf vdev → physical disk, so pool data can be joined with SMART data keyed by disk.
//!
//! A vdev path is resolved through `Root`: `/dev/disk/by-id/wwn-…-part1` (or by-partuuid,
//! by-path, by-vdev) is a symlink such as `../../sda1`; a bare name as zpool prints it without
//! `-P` is looked up in those directories; `sys/class/block/<dev>/partition` exists for a
//! partition, whose sysfs directory sits inside its disk's. When the root has no such tree
//! (a fixture, a container without /dev), the kernel name is taken from the path and a
//! partition suffix stripped by the kernel's naming rules (`sda1` → `sda`, `nvme0n1p2` →
//! `nvme0n1`). FreeBSD `gptid/…` and Solaris `c0t…d0` names do not resolve on Linux.

use crate::host::root::Root;

const LINK_DIRS: &[&str] = &[
    "dev/disk/by-id",
    "dev/disk/by-partuuid",
    "dev/disk/by-path",
    "dev/disk/by-vdev",
    "dev/disk/by-uuid",
];

/// The whole-disk kernel name (`sda`, `nvme0n1`) behind a vdev path or name, if it can be known.
pub fn disk_of(root: &Root, vdev: &str) -> Option<String> {
    let dev = block_name(root, vdev)?;
    Some(whole_disk(root, &dev))
}

/// The kernel block device name (`sda1`) a vdev path or name refers to.
fn block_name(root: &Root, vdev: &str) -> Option<String> {
    let candidates: Vec<String> = match vdev.strip_prefix('/') {
        Some(rel) if rel.starts_with("dev/") => vec![rel.to_owned()],
        Some(_) => return None,                    // a file vdev
        None if vdev.contains('/') => return None, // gptid/…
        None => LINK_DIRS
            .iter()
            .map(|d| format!("{d}/{vdev}"))
            .chain([format!("dev/{vdev}")])
            .collect(),
    };
    for rel in &candidates {
        if let Some(target) = root.link_name(rel) {
            return Some(target);
        }
    }
    // no symlink under the root: a kernel name (/dev/sda1, or "sda" as zpool prints it)
    let name = vdev.rsplit('/').next()?;
    let parent_is_dev = vdev.strip_prefix("/dev/").is_some_and(|r| !r.contains('/'));
    (looks_like_kernel_name(name) && (parent_is_dev || !vdev.contains('/')))
        .then(|| name.to_owned())
}

fn looks_like_kernel_name(name: &str) -> bool {
    [
        "sd", "vd", "hd", "xvd", "nvme", "mmcblk", "dm-", "nbd", "loop",
    ]
    .iter()
    .any(|p| name.starts_with(p))
}

/// The disk a block device belongs to: itself unless it is a partition.
fn whole_disk(root: &Root, dev: &str) -> String {
    let sys = format!("sys/class/block/{dev}");
    if root.exists(format!("{sys}/partition")) {
        // sys/class/block/sda1 -> ../../devices/…/block/sda/sda1: the parent directory is the disk
        if let Some(rel) = root.canonical_rel(&sys)
            && let Some(parent) = std::path::Path::new(&rel)
                .parent()
                .and_then(|p| p.file_name())
        {
            return parent.to_string_lossy().into_owned();
        }
    } else if root.exists(&sys) {
        return dev.to_owned();
    }
    strip_partition(dev).to_owned()
}

/// `sda1` → `sda`, `nvme0n1p2` → `nvme0n1`, `mmcblk0p1` → `mmcblk0`; other names unchanged.
fn strip_partition(dev: &str) -> &str {
    let digits = dev.len() - dev.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    if digits == 0 {
        return dev;
    }
    let head = &dev[..dev.len() - digits];
    if let Some(h) = head.strip_suffix('p')
        && h.ends_with(|c: char| c.is_ascii_digit())
        && ["nvme", "mmcblk", "nbd", "loop"]
            .iter()
            .any(|p| h.starts_with(p))
    {
        return h;
    }
    if ["sd", "vd", "hd", "xvd"]
        .iter()
        .any(|p| head.starts_with(p))
        && head.len() > 2
    {
        return head;
    }
    dev
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn strips_partitions_by_kernel_naming() {
        assert_eq!(strip_partition("sda1"), "sda");
        assert_eq!(strip_partition("vdc1"), "vdc");
        assert_eq!(strip_partition("sda"), "sda");
        assert_eq!(strip_partition("nvme0n1p2"), "nvme0n1");
        assert_eq!(strip_partition("nvme0n1"), "nvme0n1");
        assert_eq!(strip_partition("mmcblk0p1"), "mmcblk0");
    }

    #[test]
    fn resolves_by_id_links_and_partitions_through_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        std::fs::create_dir_all(p.join("dev/disk/by-id")).unwrap();
        std::fs::create_dir_all(p.join("sys/devices/pci0/ata1/block/sdq/sdq1")).unwrap();
        std::fs::write(
            p.join("sys/devices/pci0/ata1/block/sdq/sdq1/partition"),
            "1\n",
        )
        .unwrap();
        std::fs::create_dir_all(p.join("sys/class/block")).unwrap();
        symlink(
            "../../devices/pci0/ata1/block/sdq/sdq1",
            p.join("sys/class/block/sdq1"),
        )
        .unwrap();
        symlink(
            "../../devices/pci0/ata1/block/sdq",
            p.join("sys/class/block/sdq"),
        )
        .unwrap();
        symlink(
            "../../sdq1",
            p.join("dev/disk/by-id/wwn-0x5000c500a1b2c3d4-part1"),
        )
        .unwrap();
        symlink(
            "../../sdq",
            p.join("dev/disk/by-id/ata-ST4000DM004-2CV104_ZFN0ABCD"),
        )
        .unwrap();
        let root = Root::new(p);
        assert_eq!(
            disk_of(&root, "/dev/disk/by-id/wwn-0x5000c500a1b2c3d4-part1").as_deref(),
            Some("sdq")
        );
        assert_eq!(
            disk_of(&root, "wwn-0x5000c500a1b2c3d4-part1").as_deref(),
            Some("sdq")
        );
        assert_eq!(
            disk_of(&root, "ata-ST4000DM004-2CV104_ZFN0ABCD").as_deref(),
            Some("sdq")
        );
        assert_eq!(disk_of(&root, "/dev/sdq1").as_deref(), Some("sdq"));
        // not under the root: kernel names still map, others do not
        assert_eq!(disk_of(&root, "/dev/vdc1").as_deref(), Some("vdc"));
        assert_eq!(disk_of(&root, "sdh").as_deref(), Some("sdh"));
        assert_eq!(
            disk_of(&root, "gptid/a855d0c8-5218-11e3-9e38-10604b926998"),
            None
        );
        assert_eq!(disk_of(&root, "/tmp/zf/a"), None);
        assert_eq!(disk_of(&root, "c1t0d0"), None);
    }
}
