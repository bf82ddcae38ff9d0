//! Storage advisories that need both SMART and ZFS: which disk sits in which pool, and whether an
//! SMR or desktop-class disk is in a ZFS pool.
//!
//! Derived from the two collectors' latest snapshots, no I/O of its own. The join key is the
//! kernel disk name: ZFS maps each leaf vdev to a whole disk (`sda`, `nvme0n1`); a SMART disk,
//! known by its (device, type), reaches the `sys/block` entries of its node (`/dev/sda` → `sda`,
//! `/dev/nvme0` → `nvme0n1`…). Disks behind a RAID controller that smartctl reaches through a
//! controller node (`/dev/bus/0 -d megaraid,N`) have no kernel disk of their own and join
//! nothing; reached through a logical drive (`/dev/sda -d megaraid,N`) each of them backs what
//! the logical drive backs. A DM-SMR disk in a pool is the advisory users most need:
//! a resilver onto or from one can take days or time out, because its cache fills under the
//! sustained writes ZFS issues.

use std::time::Instant;

use super::smart::{self, advisories::Class};
use super::{CollectError, Collector, Context, Sample, zfs};
use crate::metrics::Latest;
use crate::metrics::{Families, Family, Render};

/// `[collectors.storage]`: `enabled`, and `interval` (default 60s). How often to recompute the
/// join; it only reads the other collectors' snapshots.
pub type Config = super::Basic<super::Every60s>;

const IN_POOL: Family = Family::gauge(
    "hostwatt_storage_disk_pool_info",
    "A SMART disk that backs a ZFS pool (joined on the kernel disk name); value 1",
    &["disk", "device", "pool"],
);
const SMR_IN_POOL: Family = Family::gauge(
    "hostwatt_storage_smr_in_pool",
    "1 for an SMR disk in a ZFS pool: resilvers involving it can take days or time out",
    &["disk", "pool"],
);
const DESKTOP_IN_POOL: Family = Family::gauge(
    "hostwatt_storage_desktop_in_pool",
    "1 for a desktop-class disk (rated for about 2,400 power-on hours a year) in an always-on ZFS pool",
    &["disk", "pool"],
);

/// One disk in one pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// SMART disk id.
    pub disk: String,
    /// Kernel disk name.
    pub device: String,
    /// Pool name.
    pub pool: String,
    /// SMR, when SMART data says so.
    pub smr: bool,
    /// Desktop class, when SMART data says so.
    pub desktop: bool,
}

/// The join.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Disks found in pools.
    pub members: Vec<Member>,
}

impl Render for Snapshot {
    const FAMILIES: &'static [&'static Family] = &[&IN_POOL, &SMR_IN_POOL, &DESKTOP_IN_POOL];
    fn render(&self, out: &mut Families) {
        for m in &self.members {
            out.push(&IN_POOL, &[&m.disk, &m.device, &m.pool], 1.0);
            out.push_bool(&SMR_IN_POOL, &[&m.disk, &m.pool], m.smr);
            out.push_bool(&DESKTOP_IN_POOL, &[&m.disk, &m.pool], m.desktop);
        }
    }
}

/// Joins SMART disks and ZFS pool members on the kernel disk name.
pub fn join(disks: &smart::Snapshot, pools: &zfs::Snapshot) -> Vec<Member> {
    let mut out = Vec::new();
    for pool in &pools.pools {
        for (_, kernel) in &pool.disks {
            for d in disks.disks.iter().filter(|d| d.block.contains(kernel)) {
                let advice = d.advice.as_ref();
                let m = Member {
                    disk: d.id.clone(),
                    device: kernel.clone(),
                    pool: pool.name().to_owned(),
                    smr: advice.is_some_and(|a| a.smr_source.is_some()),
                    desktop: advice.is_some_and(|a| a.class == Class::Desktop),
                };
                if !out.contains(&m) {
                    out.push(m);
                }
            }
        }
    }
    out
}

/// The storage join collector.
pub struct Storage {
    smart: Option<Latest<smart::Snapshot>>,
    zfs: Option<Latest<zfs::Snapshot>>,
}

impl super::Build for Storage {
    type Inputs = (
        Option<Latest<smart::Snapshot>>,
        Option<Latest<zfs::Snapshot>>,
    );

    fn build(_: &super::Setup<'_>, (smart, zfs): Self::Inputs) -> Self {
        Self {
            smart,
            zfs,
        }
    }
}

impl Collector for Storage {
    type Snapshot = Snapshot;

    async fn sample(
        &mut self,
        _cx: &Context,
        _at: Instant,
    ) -> Result<Sample<Snapshot>, CollectError> {
        let (Some(smart), Some(zfs)) = (&self.smart, &self.zfs) else {
            return Err(CollectError::Unavailable(
                "needs both the smart and zfs collectors".into(),
            ));
        };
        let (disks, pools) = (smart.borrow().clone(), zfs.borrow().clone());
        let members = match (disks, pools) {
            (Some(d), Some(p)) => join(&d, &p),
            _ => Vec::new(),
        };
        Ok(Sample::clean(Snapshot { members }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disk(id: &str, device: &str, dev_type: &str, block: &[&str]) -> smart::Disk {
        smart::Disk {
            id: id.into(),
            device: device.into(),
            dev_type: dev_type.into(),
            block: block.iter().map(|b| (*b).to_owned()).collect(),
            protocol: "SCSI".into(),
            hide_serial: false,
            data: None,
            age_seconds: None,
            exit: None,
            state: smart::power::State::Unknown,
            standby_seconds: 0.0,
            spin_ups: 0,
            standby_skips: 0,
            advice: None,
        }
    }

    #[test]
    fn joins_on_kernel_disks_of_each_device_and_type() {
        let disks = smart::Snapshot {
            disks: vec![
                disk("nvme-a", "/dev/nvme0", "nvme", &["nvme0n1"]),
                disk("sas-1", "/dev/bus/0", "megaraid,1", &[]),
                disk("sas-2", "/dev/bus/0", "megaraid,2", &[]),
                disk("ld-1", "/dev/sdb", "megaraid,4", &["sdb"]),
                disk("ld-2", "/dev/sdb", "megaraid,5", &["sdb"]),
            ],
        };
        let pool = zfs::PoolData {
            list: Some(zfs::Pool {
                name: "tank".into(),
                ..Default::default()
            }),
            status: None,
            disks: vec![
                ("nvme0n1p2".into(), "nvme0n1".into()),
                ("sdb".into(), "sdb".into()),
            ],
        };
        let pools = zfs::Snapshot {
            pools: vec![pool],
            ..Default::default()
        };
        let got: Vec<(String, String)> = join(&disks, &pools)
            .into_iter()
            .map(|m| (m.disk, m.device))
            .collect();
        // the NVMe namespace joins its controller; /dev/bus/0 members have no kernel disk;
        // both members behind the logical drive sdb back the pool
        let want = [("nvme-a", "nvme0n1"), ("ld-1", "sdb"), ("ld-2", "sdb")]
            .map(|(d, k)| (d.to_owned(), k.to_owned()));
        assert_eq!(got, want);
    }
}
