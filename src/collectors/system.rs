//! System load of the live host, through sysinfo: CPU utilisation, load averages, memory and
//! uptime, enough to tell "idle" from "busy". Live host only: with `--root` pointing elsewhere
//! it reports itself unavailable rather than mix the live host into a fixture.

use std::time::Instant;

use super::{CollectError, Collector, Context, Sample};
pub use crate::host::sysinfo::Reading;
use crate::host::sysinfo::{Error as SysinfoError, Host};
use crate::metrics::{Families, Family, Render};

/// `[collectors.system]`: `enabled`, and `interval` (default 15s). Sampling interval; CPU
/// utilisation is averaged over it.
pub type Config = super::Basic<super::Every15s>;

const CPU_BUSY: Family = Family::gauge(
    "hostwatt_system_cpu_busy_ratio",
    "Fraction of CPU time not idle across all CPUs over the last sampling interval (0-1)",
    &[],
);
const LOAD: Family = Family::gauge(
    "hostwatt_system_load_average",
    "Load average over the window",
    &["window"],
);
const MEM_TOTAL: Family = Family::gauge(
    "hostwatt_system_memory_total_bytes",
    "Total physical memory",
    &[],
);
const MEM_AVAIL: Family = Family::gauge(
    "hostwatt_system_memory_available_bytes",
    "Memory available for new work without swapping (MemAvailable)",
    &[],
);
const UPTIME: Family = Family::gauge(
    "hostwatt_system_uptime_seconds",
    "Seconds since the host booted",
    &[],
);
const CPUS: Family = Family::gauge("hostwatt_system_cpus", "Number of logical CPUs", &[]);

impl Render for Reading {
    const FAMILIES: &'static [&'static Family] =
        &[&CPU_BUSY, &LOAD, &MEM_TOTAL, &MEM_AVAIL, &UPTIME, &CPUS];
    fn render(&self, out: &mut Families) {
        out.push(&CPU_BUSY, &[], f64::from(self.cpu_busy_ratio));
        for (w, v) in ["1m", "5m", "15m"].iter().zip(self.load) {
            out.push(&LOAD, &[w], v);
        }
        out.push(&MEM_TOTAL, &[], self.memory_total_bytes as f64);
        out.push(&MEM_AVAIL, &[], self.memory_available_bytes as f64);
        out.push(&UPTIME, &[], self.uptime_seconds as f64);
        out.push(&CPUS, &[], self.cpus as f64);
    }
}

/// The system collector.
pub struct System {
    host: Option<Host>,
}

impl System {
    /// A collector of the section `_cfg`: it holds only what the registration reads (`enabled`,
    /// `interval`).
    pub fn new(_cfg: Config) -> Self {
        Self { host: None }
    }
}

impl Collector for System {
    type Snapshot = Reading;

    async fn sample(
        &mut self,
        cx: &Context,
        _at: Instant,
    ) -> Result<Sample<Reading>, CollectError> {
        if cx.root.base() != std::path::Path::new("/") {
            return Err(CollectError::Unavailable(
                "system load is read from the live host only (root is not /)".into(),
            ));
        }
        let unavailable = |e: SysinfoError| CollectError::Unavailable(format!("sysinfo: {e}"));
        let host = match &mut self.host {
            Some(h) => h,
            None => self.host.insert(Host::new().map_err(unavailable)?),
        };
        Ok(Sample::clean(host.read().map_err(unavailable)?))
    }
}
