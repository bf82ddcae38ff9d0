//! The only `use sysinfo`: CPU utilisation, load, memory and uptime of the live host. sysinfo
//! reads `/proc` directly and cannot be pointed at a fixture root (GuillaumeGomez/sysinfo#850).

use sysinfo::{CpuRefreshKind, MemoryRefreshKind, RefreshKind};

/// sysinfo's error, so callers need not name the crate.
pub type Error = sysinfo::Error;

/// One reading of the live system.
#[derive(Debug, Clone, Default)]
pub struct Reading {
    /// Busy fraction of all CPUs since the previous refresh, 0..=1.
    pub cpu_busy_ratio: f32,
    /// 1, 5 and 15 minute load averages.
    pub load: [f64; 3],
    /// Total memory, bytes.
    pub memory_total_bytes: u64,
    /// Available memory, bytes.
    pub memory_available_bytes: u64,
    /// Seconds since boot.
    pub uptime_seconds: u64,
    /// Number of logical CPUs.
    pub cpus: usize,
}

/// Holds sysinfo's state between refreshes (CPU usage is a difference of two readings).
pub struct Host {
    sys: sysinfo::System,
}

impl Host {
    /// Opens the live host's /proc through sysinfo.
    pub fn new() -> Result<Self, sysinfo::Error> {
        let kind = RefreshKind::nothing()
            .with_cpu(CpuRefreshKind::nothing().with_usage())
            .with_memory(MemoryRefreshKind::nothing().with_ram());
        Ok(Self {
            sys: sysinfo::System::new_with_specifics(kind)?,
        })
    }

    /// Refreshes and reads.
    pub fn read(&mut self) -> Result<Reading, sysinfo::Error> {
        self.sys.refresh_cpu_usage();
        self.sys
            .refresh_memory_specifics(MemoryRefreshKind::nothing().with_ram());
        let load = sysinfo::System::load_average()?;
        Ok(Reading {
            cpu_busy_ratio: self.sys.global_cpu_usage() / 100.0,
            load: [load.one, load.five, load.fifteen],
            memory_total_bytes: self.sys.total_memory(),
            memory_available_bytes: self.sys.available_memory(),
            uptime_seconds: sysinfo::System::uptime()?,
            cpus: self.sys.cpus().len(),
        })
    }
}
