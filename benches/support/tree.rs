//! A synthetic large host tree for benchmarks: a two-socket, 64-CPU server with everything
//! hostwatt's sysfs collectors read, shaped like the kernel lays it out (class entries are
//! symlinks into `sys/devices`, hwmon chips have `device` links), so both hostwatt and
//! node_exporter (`--path.sysfs`/`--path.procfs`) walk it as they would a live host.
//!
//! - 64 CPUs × 6 cpuidle states (`POLL`, `C1`, `C1E`, `C6`, `C8`, `C10`), each with every file
//!   of `cpuidle/stateN/`; `online`, `topology/` and `thermal_throttle/` per CPU;
//! - 64 cpufreq policies (`cpuN/cpufreq` links to `cpufreq/policyN`, as intel_pstate does);
//! - 12 hwmon chips: 2 coretemp, a Super-I/O (nct6798), 4 NVMe, amdgpu, acpitz, a PMBus PSU
//!   (corsairpsu), ina3221, jc42: temperatures, fans, voltages, currents, power, intrusion;
//! - 4 RAPL zones: `package-0`/`package-1` with `core`/`uncore`/`dram`, `psys`, and one
//!   `intel-rapl-mmio` package zone;
//! - 8 thermal zones with trip points and 65 cooling devices;
//! - 2 EDAC memory controllers with 8 DIMMs each;
//! - `proc/stat` (64 CPUs) for node_exporter's cpu collector.
//!
//! Values vary by index so no two series are equal, but they are fixed: benchmarks measure the
//! cost of reading and rendering, not the values.

use std::fs;
use std::io;
use std::os::unix::fs::symlink;
use std::path::Path;

/// CPUs in the tree by default.
pub const CPUS: u32 = 64;
/// cpuidle states per CPU.
pub const IDLE_STATES: &[(&str, &str, u64)] = &[
    ("POLL", "CPUIDLE CORE POLL IDLE", 0),
    ("C1", "MWAIT 0x00", 2),
    ("C1E", "MWAIT 0x01", 10),
    ("C6", "MWAIT 0x20", 133),
    ("C8", "MWAIT 0x40", 230),
    ("C10", "MWAIT 0x60", 890),
];

fn put(base: &Path, rel: &str, text: impl AsRef<str>) -> io::Result<()> {
    let path = base.join(rel);
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    fs::write(path, format!("{}\n", text.as_ref()))
}

fn link(base: &Path, rel: &str, target: &str) -> io::Result<()> {
    let path = base.join(rel);
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    symlink(target, path)
}

/// Writes the tree with `cpus` CPUs (two packages) under `base` (which should be empty).
pub fn write(base: &Path, cpus: u32) -> io::Result<()> {
    cpu_tree(base, cpus)?;
    hwmon(base)?;
    rapl(base)?;
    thermal(base, cpus)?;
    edac(base)?;
    Ok(())
}

fn cpu_tree(base: &Path, cpus: u32) -> io::Result<()> {
    let cpu_base = "sys/devices/system/cpu";
    put(
        base,
        &format!("{cpu_base}/online"),
        format!("0-{}", cpus - 1),
    )?;
    put(
        base,
        &format!("{cpu_base}/possible"),
        format!("0-{}", cpus - 1),
    )?;
    put(
        base,
        &format!("{cpu_base}/present"),
        format!("0-{}", cpus - 1),
    )?;
    put(
        base,
        &format!("{cpu_base}/cpuidle/current_driver"),
        "intel_idle",
    )?;
    put(
        base,
        &format!("{cpu_base}/cpuidle/current_governor"),
        "menu",
    )?;
    put(
        base,
        &format!("{cpu_base}/cpuidle/current_governor_ro"),
        "menu",
    )?;
    put(
        base,
        &format!("{cpu_base}/cpuidle/low_power_idle_cpu_residency_us"),
        "81234567",
    )?;
    put(
        base,
        &format!("{cpu_base}/cpuidle/low_power_idle_system_residency_us"),
        "51234567",
    )?;
    let mut stat = String::from("cpu  1000000 2000 300000 90000000 4000 0 5000 0 0 0\n");
    for cpu in 0..cpus {
        let n = u64::from(cpu);
        let dir = format!("{cpu_base}/cpu{cpu}");
        if cpu != 0 {
            put(base, &format!("{dir}/online"), "1")?;
        }
        let package = cpu * 2 / cpus;
        put(
            base,
            &format!("{dir}/topology/physical_package_id"),
            package.to_string(),
        )?;
        put(
            base,
            &format!("{dir}/topology/core_id"),
            (cpu % (cpus / 2).max(1)).to_string(),
        )?;
        put(
            base,
            &format!("{dir}/thermal_throttle/core_throttle_count"),
            (n % 3).to_string(),
        )?;
        put(
            base,
            &format!("{dir}/thermal_throttle/package_throttle_count"),
            (u64::from(package) * 7).to_string(),
        )?;
        for (i, (name, desc, latency)) in IDLE_STATES.iter().enumerate() {
            let s = format!("{dir}/cpuidle/state{i}");
            let i = i as u64;
            put(base, &format!("{s}/name"), name)?;
            put(base, &format!("{s}/desc"), desc)?;
            put(base, &format!("{s}/latency"), latency.to_string())?;
            put(base, &format!("{s}/residency"), (latency * 3).to_string())?;
            put(
                base,
                &format!("{s}/time"),
                (1_000_000_000 * (i + 1) + n * 12_345).to_string(),
            )?;
            put(
                base,
                &format!("{s}/usage"),
                (100_000 * (i + 1) + n * 17).to_string(),
            )?;
            put(base, &format!("{s}/above"), (n * 3 + i).to_string())?;
            put(base, &format!("{s}/below"), (n * 5 + i).to_string())?;
            put(base, &format!("{s}/rejected"), "0")?;
            put(base, &format!("{s}/disable"), "0")?;
        }
        let policy = format!("{cpu_base}/cpufreq/policy{cpu}");
        put(
            base,
            &format!("{policy}/scaling_cur_freq"),
            (800_000 + n * 25_000).to_string(),
        )?;
        put(base, &format!("{policy}/scaling_min_freq"), "800000")?;
        put(base, &format!("{policy}/scaling_max_freq"), "3900000")?;
        put(base, &format!("{policy}/cpuinfo_min_freq"), "800000")?;
        put(base, &format!("{policy}/cpuinfo_max_freq"), "3900000")?;
        put(base, &format!("{policy}/scaling_governor"), "powersave")?;
        put(base, &format!("{policy}/scaling_driver"), "intel_pstate")?;
        put(
            base,
            &format!("{policy}/energy_performance_preference"),
            "balance_performance",
        )?;
        put(base, &format!("{policy}/affected_cpus"), cpu.to_string())?;
        put(base, &format!("{policy}/related_cpus"), cpu.to_string())?;
        link(
            base,
            &format!("{dir}/cpufreq"),
            &format!("../cpufreq/policy{cpu}"),
        )?;
        stat.push_str(&format!(
            "cpu{cpu} {} 20 {} {} 40 0 {} 0 0 0\n",
            10_000 + n,
            3_000 + n,
            900_000 + n,
            50 + n
        ));
    }
    stat.push_str("intr 123456789 0\nctxt 987654321\nbtime 1700000000\nprocesses 123456\n");
    stat.push_str("procs_running 1\nprocs_blocked 0\nsoftirq 1234 0 0 0 0 0 0 0 0 0 0");
    put(base, "proc/stat", stat)?;
    put(base, "proc/sys/kernel/osrelease", "6.1.0-bench")
}

/// One hwmon chip: `device` is its device dir under `sys/devices`.
struct Chip {
    device: &'static str,
    name: &'static str,
    files: Vec<(String, String)>,
}

impl Chip {
    fn new(device: &'static str, name: &'static str) -> Self {
        Self {
            device,
            name,
            files: Vec::new(),
        }
    }

    fn file(mut self, name: String, value: impl ToString) -> Self {
        self.files.push((name, value.to_string()));
        self
    }

    fn temp(self, n: u32, label: &str, milli: i64) -> Self {
        self.file(format!("temp{n}_input"), milli)
            .file(format!("temp{n}_label"), label)
            .file(format!("temp{n}_max"), 85_000)
            .file(format!("temp{n}_crit"), 100_000)
            .file(format!("temp{n}_crit_alarm"), 0)
    }

    fn fan(self, n: u32, label: &str, rpm: u64) -> Self {
        self.file(format!("fan{n}_input"), rpm)
            .file(format!("fan{n}_label"), label)
            .file(format!("fan{n}_min"), 300)
            .file(format!("fan{n}_alarm"), 0)
    }

    fn volt(self, n: u32, label: &str, milli: u64) -> Self {
        self.file(format!("in{n}_input"), milli)
            .file(format!("in{n}_label"), label)
            .file(format!("in{n}_min"), milli * 9 / 10)
            .file(format!("in{n}_max"), milli * 11 / 10)
            .file(format!("in{n}_alarm"), 0)
    }

    fn curr(self, n: u32, label: &str, milli: u64) -> Self {
        self.file(format!("curr{n}_input"), milli)
            .file(format!("curr{n}_label"), label)
    }

    fn power(self, n: u32, label: &str, micro: u64) -> Self {
        self.file(format!("power{n}_input"), micro)
            .file(format!("power{n}_label"), label)
    }
}

fn chips() -> Vec<Chip> {
    let mut chips = Vec::new();
    for (socket, device) in [(0, "platform/coretemp.0"), (1, "platform/coretemp.1")] {
        let mut c = Chip::new(device, "coretemp").temp(
            1,
            &format!("Package id {socket}"),
            48_000 + socket * 1_000,
        );
        for core in 0..16 {
            c = c.temp(
                core + 2,
                &format!("Core {core}"),
                40_000 + i64::from(core) * 500,
            );
        }
        chips.push(c);
    }
    let mut sio = Chip::new("platform/nct6775.656", "nct6798").file("intrusion0_alarm".into(), 0);
    for (n, label) in [
        "Vcore", "5VCC", "AVSB", "3VCC", "1.8V", "VTT", "3VSB", "VBAT",
    ]
    .iter()
    .enumerate()
    {
        sio = sio.volt(n as u32, label, 800 + n as u64 * 400);
    }
    for n in 1..=7 {
        sio = sio.fan(n, &format!("fan{n}"), 600 + u64::from(n) * 110);
    }
    for (n, label) in [
        "SYSTIN",
        "CPUTIN",
        "AUXTIN0",
        "AUXTIN1",
        "PECI Agent 0",
        "PCH_CHIP_TEMP",
    ]
    .iter()
    .enumerate()
    {
        sio = sio.temp(n as u32 + 1, label, 30_000 + n as i64 * 1_500);
    }
    chips.push(sio);
    for (i, device) in [
        "pci0000:00/0000:00:1b.0/0000:01:00.0/nvme/nvme0",
        "pci0000:00/0000:00:1c.0/0000:02:00.0/nvme/nvme1",
        "pci0000:80/0000:80:01.0/0000:81:00.0/nvme/nvme2",
        "pci0000:80/0000:80:01.1/0000:82:00.0/nvme/nvme3",
    ]
    .into_iter()
    .enumerate()
    {
        let t = 35_850 + i as i64 * 1_000;
        chips.push(
            Chip::new(device, "nvme")
                .temp(1, "Composite", t)
                .temp(2, "Sensor 1", t + 2_000)
                .temp(3, "Sensor 2", t - 1_000),
        );
    }
    chips.push(
        Chip::new("pci0000:00/0000:00:03.1/0000:03:00.0", "amdgpu")
            .temp(1, "edge", 41_000)
            .temp(2, "junction", 43_000)
            .temp(3, "mem", 44_000)
            .fan(1, "fan1", 0)
            .volt(0, "vddgfx", 800)
            .file("power1_average".into(), 9_123_000)
            .file("power1_cap".into(), 186_000_000)
            .file("freq1_input".into(), 500_000_000)
            .file("freq1_label".into(), "sclk"),
    );
    chips.push(Chip::new("virtual/thermal/thermal_zone0", "acpitz").temp(1, "", 27_800));
    chips.push(
        Chip::new(
            "pci0000:00/0000:00:14.0/usb1/1-9/1-9:1.1/0003:1B1C:1C1E.0003",
            "corsairpsu",
        )
        .volt(0, "v_in", 230_000)
        .volt(1, "v_out +12v", 12_050)
        .volt(2, "v_out +5v", 5_020)
        .volt(3, "v_out +3.3v", 3_330)
        .curr(1, "curr in", 850)
        .curr(2, "curr +12v", 9_500)
        .curr(3, "curr +5v", 1_200)
        .curr(4, "curr +3.3v", 700)
        .power(1, "power total", 131_000_000)
        .power(2, "power +12v", 114_000_000)
        .power(3, "power +5v", 6_000_000)
        .power(4, "power +3.3v", 2_300_000)
        .temp(1, "vrm temp", 38_000)
        .temp(2, "case temp", 33_000)
        .fan(1, "psu fan", 0),
    );
    let mut ina = Chip::new("platform/i2c-1/1-0040", "ina3221");
    for n in 1..=3 {
        ina = ina
            .volt(n, &format!("rail {n}"), 5_000 + u64::from(n) * 100)
            .curr(n, &format!("rail {n}"), 300 * u64::from(n));
    }
    chips.push(ina);
    chips.push(Chip::new("platform/i2c-0/0-0018", "jc42").temp(1, "", 36_500));
    chips
}

fn hwmon(base: &Path) -> io::Result<()> {
    for (n, chip) in chips().into_iter().enumerate() {
        let dir = format!("sys/devices/{}/hwmon/hwmon{n}", chip.device);
        put(base, &format!("{dir}/name"), chip.name)?;
        for (file, value) in &chip.files {
            put(base, &format!("{dir}/{file}"), value)?;
        }
        link(base, &format!("{dir}/device"), "../..")?;
        link(
            base,
            &format!("sys/class/hwmon/hwmon{n}"),
            &format!("../../devices/{}/hwmon/hwmon{n}", chip.device),
        )?;
    }
    Ok(())
}

fn rapl_zone(base: &Path, control: &str, id: &str, name: &str, uj: u64) -> io::Result<()> {
    let parent = id.rsplit_once(':').map(|(p, _)| p).unwrap_or(control);
    // a sub-zone lives inside its zone's dir: intel-rapl/intel-rapl:0/intel-rapl:0:1
    let dir = if parent.contains(':') {
        format!("sys/devices/virtual/powercap/{control}/{parent}/{id}")
    } else {
        format!("sys/devices/virtual/powercap/{control}/{id}")
    };
    put(base, &format!("{dir}/name"), name)?;
    put(base, &format!("{dir}/energy_uj"), uj.to_string())?;
    put(base, &format!("{dir}/max_energy_range_uj"), "262143328850")?;
    put(base, &format!("{dir}/enabled"), "1")?;
    put(base, &format!("{dir}/constraint_0_name"), "long_term")?;
    put(
        base,
        &format!("{dir}/constraint_0_power_limit_uw"),
        "125000000",
    )?;
    put(
        base,
        &format!("{dir}/constraint_0_time_window_us"),
        "27983872",
    )?;
    let rel = dir.trim_start_matches("sys/");
    link(
        base,
        &format!("sys/class/powercap/{id}"),
        &format!("../../{rel}"),
    )
}

fn rapl(base: &Path) -> io::Result<()> {
    for control in ["intel-rapl", "intel-rapl-mmio"] {
        put(
            base,
            &format!("sys/devices/virtual/powercap/{control}/enabled"),
            "1",
        )?;
        link(
            base,
            &format!("sys/class/powercap/{control}"),
            &format!("../../devices/virtual/powercap/{control}"),
        )?;
    }
    for package in 0..2u64 {
        let id = format!("intel-rapl:{package}");
        rapl_zone(
            base,
            "intel-rapl",
            &id,
            &format!("package-{package}"),
            123_456_789_012 + package * 1_000_000,
        )?;
        for (sub, name) in ["core", "uncore", "dram"].into_iter().enumerate() {
            rapl_zone(
                base,
                "intel-rapl",
                &format!("{id}:{sub}"),
                name,
                23_456_789_012 + sub as u64 * 1_000,
            )?;
        }
    }
    rapl_zone(base, "intel-rapl", "intel-rapl:2", "psys", 200_000_000_000)?;
    rapl_zone(
        base,
        "intel-rapl-mmio",
        "intel-rapl-mmio:0",
        "package-0",
        123_000_000_000,
    )
}

fn thermal(base: &Path, cpus: u32) -> io::Result<()> {
    let zones = [
        "acpitz",
        "acpitz",
        "x86_pkg_temp",
        "x86_pkg_temp",
        "pch_cannonlake",
        "iwlwifi_1",
        "INT3400 Thermal",
        "SEN1",
    ];
    for (n, kind) in zones.iter().enumerate() {
        let dir = format!("sys/devices/virtual/thermal/thermal_zone{n}");
        put(base, &format!("{dir}/type"), kind)?;
        put(
            base,
            &format!("{dir}/temp"),
            (27_800 + n * 3_000).to_string(),
        )?;
        put(base, &format!("{dir}/mode"), "enabled")?;
        put(base, &format!("{dir}/policy"), "step_wise")?;
        for (t, (kind, temp)) in [("passive", 95_000), ("critical", 105_000)]
            .iter()
            .enumerate()
        {
            put(base, &format!("{dir}/trip_point_{t}_type"), kind)?;
            put(
                base,
                &format!("{dir}/trip_point_{t}_temp"),
                temp.to_string(),
            )?;
            put(base, &format!("{dir}/trip_point_{t}_hyst"), "0")?;
        }
        link(
            base,
            &format!("sys/class/thermal/thermal_zone{n}"),
            &format!("../../devices/virtual/thermal/thermal_zone{n}"),
        )?;
    }
    for n in 0..=cpus {
        let (kind, max) = if n < cpus {
            ("Processor", 3)
        } else {
            ("Fan", 10)
        };
        let dir = format!("sys/devices/virtual/thermal/cooling_device{n}");
        put(base, &format!("{dir}/type"), kind)?;
        put(base, &format!("{dir}/cur_state"), "0")?;
        put(base, &format!("{dir}/max_state"), max.to_string())?;
        link(
            base,
            &format!("sys/class/thermal/cooling_device{n}"),
            &format!("../../devices/virtual/thermal/cooling_device{n}"),
        )?;
    }
    Ok(())
}

fn edac(base: &Path) -> io::Result<()> {
    for mc in 0..2u32 {
        let dir = format!("sys/devices/system/edac/mc/mc{mc}");
        put(
            base,
            &format!("{dir}/mc_name"),
            format!("Skylake Socket#{mc} IMC#0"),
        )?;
        put(base, &format!("{dir}/size_mb"), "131072")?;
        put(base, &format!("{dir}/ce_count"), (mc * 3).to_string())?;
        put(base, &format!("{dir}/ue_count"), "0")?;
        put(base, &format!("{dir}/ce_noinfo_count"), "0")?;
        put(base, &format!("{dir}/ue_noinfo_count"), "0")?;
        for d in 0..8u32 {
            let dimm = format!("{dir}/dimm{d}");
            put(
                base,
                &format!("{dimm}/dimm_ce_count"),
                (d % 3 * mc).to_string(),
            )?;
            put(base, &format!("{dimm}/dimm_ue_count"), "0")?;
            put(
                base,
                &format!("{dimm}/dimm_label"),
                format!("CPU_SrcID#{mc}_MC#0_Chan#{}_DIMM#{}", d / 2, d % 2),
            )?;
            put(
                base,
                &format!("{dimm}/dimm_location"),
                format!("channel {} slot {}", d / 2, d % 2),
            )?;
            put(base, &format!("{dimm}/dimm_mem_type"), "Registered-DDR4")?;
            put(base, &format!("{dimm}/dimm_edac_mode"), "S4ECD4ED")?;
            put(base, &format!("{dimm}/size"), "16384")?;
        }
    }
    Ok(())
}
