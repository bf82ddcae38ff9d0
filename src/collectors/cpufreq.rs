//! cpufreq: current and allowed frequency, governor, driver and energy/performance preference of
//! every cpufreq policy, plus x86 thermal throttle counts.
//!
//! Reads, through `Root`:
//! - `sys/devices/system/cpu/cpufreq/policy*/{scaling_cur_freq,scaling_min_freq,scaling_max_freq,
//!   cpuinfo_min_freq,cpuinfo_max_freq,scaling_governor,scaling_driver,
//!   energy_performance_preference,affected_cpus,related_cpus}`; when no `policy*` dir exists
//!   (old kernels, some captures), the same files under `cpu*/cpufreq/`, labelled `policy="cpuN"`.
//!   Frequencies are kHz, converted to Hz. `cpuinfo_cur_freq` is not read: it is root-only and
//!   asks the hardware. A policy whose CPUs are all offline answers EBUSY and is skipped.
//! - `sys/devices/system/cpu/cpu*/thermal_throttle/{core,package}_throttle_count` (x86
//!   therm_throt) with `topology/{physical_package_id,core_id}`: SMT siblings and the CPUs of a
//!   package report the same events, so counts are exported once per core and per package (the
//!   largest of the CPUs' counts).
//!
//! See Documentation/admin-guide/pm/cpufreq.rst, intel_pstate.rst (EPP) and
//! Documentation/ABI/testing/sysfs-devices-system-cpu. A VM usually has no cpufreq at all: the
//! collector is then `Unavailable`. `scaling_cur_freq` is the kernel's last estimate (on x86 from
//! APERF/MPERF at the scheduler tick), not an instantaneous reading of an idle CPU.

use std::collections::BTreeMap;
use std::io;
use std::time::Instant;

use super::attrs::parse_numbered;
use super::cpuidle::{CpuSet, is_offline};
use super::rewalk::Rewalk;
use super::{CollectError, Collector, Context, Fault, Sample};
use crate::host::root::{Attr, ReadError, Root};
use crate::metrics::{Families, Family, Render};
use crate::parse::{ParseError, parse_u64};

const CPU_BASE: &str = "sys/devices/system/cpu";
const POLICY_BASE: &str = "sys/devices/system/cpu/cpufreq";

const HINT: &str = "cpufreq sysfs files are normally world-readable: check the mount of sys \
                    (or /host/sys in a container) and any LSM policy";

/// EBUSY: what every attribute of an inactive policy (all its CPUs offline) returns.
const EBUSY: i32 = 16;

/// `[collectors.cpufreq]`: `enabled`, and `interval` (default 15s). Sampling interval.
pub type Config = super::Basic<super::Every15s>;

const POLICY: &[&str] = &["policy"];

const CUR: Family = Family::gauge(
    "hostwatt_cpufreq_frequency_hertz",
    "Current frequency of the policy's CPUs as last estimated by the kernel (scaling_cur_freq)",
    POLICY,
);
const SCALING_MIN: Family = Family::gauge(
    "hostwatt_cpufreq_scaling_min_hertz",
    "Lowest frequency the governor may pick (scaling_min_freq)",
    POLICY,
);
const SCALING_MAX: Family = Family::gauge(
    "hostwatt_cpufreq_scaling_max_hertz",
    "Highest frequency the governor may pick (scaling_max_freq)",
    POLICY,
);
const HW_MIN: Family = Family::gauge(
    "hostwatt_cpufreq_hardware_min_hertz",
    "Lowest frequency the hardware supports (cpuinfo_min_freq)",
    POLICY,
);
const HW_MAX: Family = Family::gauge(
    "hostwatt_cpufreq_hardware_max_hertz",
    "Highest frequency the hardware supports, turbo included where the driver reports it (cpuinfo_max_freq)",
    POLICY,
);
const INFO: Family = Family::gauge(
    "hostwatt_cpufreq_policy_info",
    "A cpufreq policy: its CPUs, scaling driver, governor and energy_performance_preference (empty when absent) (value 1)",
    &["policy", "cpus", "driver", "governor", "epp"],
);
const CORE_THROTTLES: Family = Family::counter(
    "hostwatt_cpufreq_core_thermal_throttles_total",
    "Times a core's thermal throttling was asserted since boot (x86 core_throttle_count)",
    &["package", "core"],
);
const PACKAGE_THROTTLES: Family = Family::counter(
    "hostwatt_cpufreq_package_thermal_throttles_total",
    "Times a package's thermal throttling was asserted since boot (x86 package_throttle_count)",
    &["package"],
);

/// kHz text → Hz. The placeholders `<unknown>` / `<unsupported>` some drivers print are `None`.
pub fn parse_khz(what: &'static str, text: &str) -> Result<Option<u64>, ParseError> {
    let t = text.trim();
    if t.starts_with('<') {
        return Ok(None);
    }
    let khz = parse_u64(what, t)?;
    khz.checked_mul(1000)
        .map(Some)
        .ok_or_else(|| ParseError::at(what, 1, format!("frequency out of range: {t:?}")))
}

/// One policy (or, in the per-CPU layout, one CPU's cpufreq dir).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// `policy0`, or `cpu0` in the per-CPU layout.
    pub id: String,
    /// `affected_cpus` (else `related_cpus`), e.g. `0 1`; empty when absent.
    pub cpus: String,
    /// `scaling_driver`.
    pub driver: String,
    /// `scaling_governor`.
    pub governor: String,
    /// `energy_performance_preference`.
    pub epp: String,
    /// `scaling_cur_freq`, Hz.
    pub cur_hz: Option<u64>,
    /// `scaling_min_freq`, Hz.
    pub scaling_min_hz: Option<u64>,
    /// `scaling_max_freq`, Hz.
    pub scaling_max_hz: Option<u64>,
    /// `cpuinfo_min_freq`, Hz.
    pub hw_min_hz: Option<u64>,
    /// `cpuinfo_max_freq`, Hz.
    pub hw_max_hz: Option<u64>,
}

/// Why a policy was not read.
enum PolicyError {
    /// All its CPUs are offline (EBUSY): not a fault.
    Inactive,
    Failed(CollectError),
}

fn map_read(e: ReadError) -> PolicyError {
    if e.source.raw_os_error() == Some(EBUSY) {
        PolicyError::Inactive
    } else {
        PolicyError::Failed(CollectError::from_read(e, HINT))
    }
}

fn read_policy(root: &Root, id: &str, dir: &str) -> Result<Policy, PolicyError> {
    let text = |file: &str| -> Result<Option<String>, PolicyError> {
        root.read_optional(format!("{dir}/{file}"))
            .map_err(map_read)
    };
    let khz = |what: &'static str, file: &str| -> Result<Option<u64>, PolicyError> {
        match text(file)? {
            None => Ok(None),
            Some(t) => parse_khz(what, &t)
                .map_err(|e| PolicyError::Failed(CollectError::parse(format!("{dir}/{file}"), e))),
        }
    };
    Ok(Policy {
        id: id.to_owned(),
        cpus: match text("affected_cpus")? {
            Some(c) => c,
            None => text("related_cpus")?.unwrap_or_default(),
        },
        driver: text("scaling_driver")?.unwrap_or_default(),
        governor: text("scaling_governor")?.unwrap_or_default(),
        epp: text("energy_performance_preference")?.unwrap_or_default(),
        cur_hz: khz("scaling_cur_freq", "scaling_cur_freq")?,
        scaling_min_hz: khz("scaling_min_freq", "scaling_min_freq")?,
        scaling_max_hz: khz("scaling_max_freq", "scaling_max_freq")?,
        hw_min_hz: khz("cpuinfo_min_freq", "cpuinfo_min_freq")?,
        hw_max_hz: khz("cpuinfo_max_freq", "cpuinfo_max_freq")?,
    })
}

/// What one round reads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// Active policies, in natural order.
    pub policies: Vec<Policy>,
    /// (package, core) → core throttle count.
    pub core_throttles: BTreeMap<(u32, u32), u64>,
    /// package → package throttle count.
    pub package_throttles: BTreeMap<u32, u64>,
}

impl Render for Snapshot {
    const FAMILIES: &'static [&'static Family] = &[
        &CUR,
        &SCALING_MIN,
        &SCALING_MAX,
        &HW_MIN,
        &HW_MAX,
        &INFO,
        &CORE_THROTTLES,
        &PACKAGE_THROTTLES,
    ];

    fn render(&self, out: &mut Families) {
        for p in &self.policies {
            let labels = [p.id.as_str()];
            for (family, hz) in [
                (&CUR, p.cur_hz),
                (&SCALING_MIN, p.scaling_min_hz),
                (&SCALING_MAX, p.scaling_max_hz),
                (&HW_MIN, p.hw_min_hz),
                (&HW_MAX, p.hw_max_hz),
            ] {
                if let Some(hz) = hz {
                    out.push(family, &labels, hz as f64);
                }
            }
            out.push(
                &INFO,
                &[&p.id, &p.cpus, &p.driver, &p.governor, &p.epp],
                1.0,
            );
        }
        for ((package, core), n) in &self.core_throttles {
            let (package, core) = (package.to_string(), core.to_string());
            out.push(&CORE_THROTTLES, &[&package, &core], *n as f64);
        }
        for (package, n) in &self.package_throttles {
            out.push(&PACKAGE_THROTTLES, &[&package.to_string()], *n as f64);
        }
    }
}

fn read_u64_at(root: &Root, rel: &str) -> Result<Option<u64>, CollectError> {
    match root.read_optional(rel) {
        Ok(None) => Ok(None),
        Ok(Some(t)) => parse_u64("integer", &t)
            .map(Some)
            .map_err(|e| CollectError::parse(rel, e)),
        Err(e) => Err(CollectError::from_read(e, HINT)),
    }
}

/// Walks policies (or per-CPU dirs) and throttle counts.
fn read_all(root: &Root) -> Result<(Snapshot, Vec<Fault>), CollectError> {
    let cpus = root.list(CPU_BASE).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => CollectError::Unavailable(format!("{CPU_BASE} does not exist")),
        _ => CollectError::from_read(e, HINT),
    })?;
    let cpus: Vec<(u32, String)> = cpus
        .into_iter()
        .filter_map(|name| parse_numbered(&name, "cpu").map(|n| (n, name)))
        .collect();
    let mut snap = Snapshot::default();
    let mut faults = Vec::new();

    // a missing or empty cpufreq dir (VMs have the dir with nothing in it) means no policies
    let policies: Vec<String> = root
        .list(POLICY_BASE)
        .unwrap_or_default()
        .into_iter()
        .filter(|name| parse_numbered(name, "policy").is_some())
        .collect();
    let dirs: Vec<(String, String)> = if policies.is_empty() {
        cpus.iter()
            .filter(|(_, name)| !is_offline(root, name))
            .map(|(_, name)| (name.clone(), format!("{CPU_BASE}/{name}/cpufreq")))
            .filter(|(_, dir)| root.exists(dir))
            .collect()
    } else {
        policies
            .into_iter()
            .map(|p| {
                let dir = format!("{POLICY_BASE}/{p}");
                (p, dir)
            })
            .collect()
    };
    for (id, dir) in dirs {
        match read_policy(root, &id, &dir) {
            Ok(p) => snap.policies.push(p),
            Err(PolicyError::Inactive) => {}
            Err(PolicyError::Failed(error)) => faults.push(Fault { item: id, error }),
        }
    }

    for (_, name) in &cpus {
        let dir = format!("{CPU_BASE}/{name}");
        let throttle = format!("{dir}/thermal_throttle");
        if !root.exists(&throttle) || is_offline(root, name) {
            continue;
        }
        let read = || -> Result<_, CollectError> {
            let core = read_u64_at(root, &format!("{throttle}/core_throttle_count"))?;
            let package = read_u64_at(root, &format!("{throttle}/package_throttle_count"))?;
            let pkg_id = read_u64_at(root, &format!("{dir}/topology/physical_package_id"))?;
            let core_id = read_u64_at(root, &format!("{dir}/topology/core_id"))?;
            Ok((core, package, pkg_id, core_id))
        };
        match read() {
            Ok((core, package, Some(pkg_id), Some(core_id))) => {
                let (Ok(pkg_id), Ok(core_id)) = (u32::try_from(pkg_id), u32::try_from(core_id))
                else {
                    continue;
                };
                if let Some(n) = core {
                    let e = snap.core_throttles.entry((pkg_id, core_id)).or_default();
                    *e = (*e).max(n);
                }
                if let Some(n) = package {
                    let e = snap.package_throttles.entry(pkg_id).or_default();
                    *e = (*e).max(n);
                }
            }
            // no topology: we cannot tell which core or package the count belongs to
            Ok(_) => faults.push(Fault {
                item: format!("{name}/thermal_throttle"),
                error: CollectError::Unavailable(format!("{dir}/topology is missing")),
            }),
            Err(error) => faults.push(Fault {
                item: format!("{name}/thermal_throttle"),
                error,
            }),
        }
    }

    let empty = snap.policies.is_empty()
        && snap.core_throttles.is_empty()
        && snap.package_throttles.is_empty();
    if empty {
        if let Some(f) = (!faults.is_empty()).then(|| faults.swap_remove(0)) {
            return Err(f.error);
        }
        return Err(CollectError::Unavailable(
            "no cpufreq policy and no thermal_throttle (a VM, or no cpufreq driver)".to_owned(),
        ));
    }
    Ok((snap, faults))
}

/// A CPU's throttle counters, kept open, with its (package, core) from `topology/`.
#[derive(Debug)]
struct ThrottleFiles {
    pkg: u32,
    core_id: u32,
    core: Option<Attr>,
    package: Option<Attr>,
}

/// The last full walk with the files that change kept open: a round reads those with pread at
/// offset 0 instead of opening ~13 files per CPU. The user's settings (`scaling_min_freq`,
/// `scaling_max_freq`, `scaling_governor`, `energy_performance_preference`) are not readings:
/// like cpuidle's `disable` they come from walks, so a change shows within `WALK_EVERY` rounds.
/// Walked again when the CPU set or the policy
/// listing changed, a kept read failed (EBUSY once a policy's CPUs are all offline, ENODEV), or
/// `Rewalk` says so.
#[derive(Debug)]
struct Kept {
    snap: Snapshot,
    cpus: CpuSet,
    policies: Vec<String>,
    /// `scaling_cur_freq` of each policy in `snap`, `None` where the walk found none.
    cur: Vec<Option<Attr>>,
    throttles: Vec<ThrottleFiles>,
    rewalk: Rewalk,
}

fn policy_listing(root: &Root) -> Vec<String> {
    root.list(POLICY_BASE).unwrap_or_default()
}

impl Kept {
    /// Opens the files of a fault-free walk.
    fn open(root: &Root, snap: Snapshot, cpus: CpuSet) -> Result<Self, ReadError> {
        let policies = policy_listing(root);
        let mut cur = Vec::with_capacity(snap.policies.len());
        for p in &snap.policies {
            let dir = if policies.is_empty() {
                format!("{CPU_BASE}/{}/cpufreq", p.id)
            } else {
                format!("{POLICY_BASE}/{}", p.id)
            };
            let file = format!("{dir}/scaling_cur_freq");
            cur.push(p.cur_hz.is_some().then(|| root.open_attr(file)).transpose()?);
        }
        let mut throttles = Vec::new();
        for name in root
            .list(CPU_BASE)?
            .iter()
            .filter(|n| parse_numbered(n, "cpu").is_some())
        {
            let dir = format!("{CPU_BASE}/{name}");
            let throttle = format!("{dir}/thermal_throttle");
            if !root.exists(&throttle) || is_offline(root, name) {
                continue;
            }
            let id = |f: &str| root.read_u64(format!("{dir}/topology/{f}"));
            let (Ok(pkg), Ok(core_id)) = (id("physical_package_id"), id("core_id")) else {
                continue;
            };
            let open = |f: &str| match root.open_attr(format!("{throttle}/{f}")) {
                Ok(a) => Ok(Some(a)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e),
            };
            throttles.push(ThrottleFiles {
                pkg: u32::try_from(pkg).unwrap_or(u32::MAX),
                core_id: u32::try_from(core_id).unwrap_or(u32::MAX),
                core: open("core_throttle_count")?,
                package: open("package_throttle_count")?,
            });
        }
        Ok(Self {
            snap,
            cpus,
            policies,
            cur,
            throttles,
            rewalk: Rewalk::default(),
        })
    }

    /// Reads the kept files into `snap`; `false` when the tree must be walked again.
    fn refresh(&mut self, root: &Root) -> bool {
        if self.rewalk.due()
            || !self.cpus.unchanged(root)
            || policy_listing(root) != self.policies
        {
            return false;
        }
        self.read().is_ok()
    }

    fn read(&mut self) -> Result<(), PolicyError> {
        for (p, attr) in self.snap.policies.iter_mut().zip(&self.cur) {
            if let Some(a) = attr {
                p.cur_hz = a
                    .read_str(|t| parse_khz("scaling_cur_freq", t))
                    .map_err(map_read)?
                    .map_err(|e| PolicyError::Failed(CollectError::parse(a.rel(), e)))?;
            }
        }
        let (mut cores, mut packages) = (BTreeMap::new(), BTreeMap::new());
        for t in &self.throttles {
            let count = |a: &Option<Attr>| a.as_ref().map(Attr::read_u64).transpose();
            let fail = |e| PolicyError::Failed(CollectError::from_read(e, HINT));
            if let Some(n) = count(&t.core).map_err(fail)? {
                let e = cores.entry((t.pkg, t.core_id)).or_default();
                *e = n.max(*e);
            }
            if let Some(n) = count(&t.package).map_err(fail)? {
                let e = packages.entry(t.pkg).or_default();
                *e = n.max(*e);
            }
        }
        self.snap.core_throttles = cores;
        self.snap.package_throttles = packages;
        Ok(())
    }
}

/// The cpufreq collector: every value is a gauge or a kernel counter; the files are kept open
/// between rounds (`Kept`).
#[derive(Debug)]
pub struct Cpufreq {
    kept: Option<Kept>,
}

impl Cpufreq {
    /// A collector of the section `_cfg`: it holds only what the registration reads (`enabled`,
    /// `interval`).
    pub fn new(_cfg: Config) -> Self {
        Self { kept: None }
    }
}

impl Collector for Cpufreq {
    type Snapshot = Snapshot;

    async fn sample(
        &mut self,
        cx: &Context,
        _at: Instant,
    ) -> Result<Sample<Snapshot>, CollectError> {
        if let Some(k) = self.kept.as_mut()
            && k.refresh(&cx.root)
        {
            return Ok(Sample::clean(k.snap.clone()));
        }
        self.kept = None;
        // listed first: a CPU that comes between the listing and the walk shows as a change
        let cpus = CpuSet::open(&cx.root);
        let (snapshot, faults) = read_all(&cx.root)?;
        if faults.is_empty()
            && let Ok(cpus) = cpus
        {
            // a file that cannot be opened now is read, and reported, by the next walk
            self.kept = Kept::open(&cx.root, snapshot.clone(), cpus).ok();
        }
        Ok(Sample { snapshot, faults })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::rewalk::WALK_EVERY;
    use crate::testutil::shared_root;

    #[test]
    fn parses_khz_to_hertz() {
        assert_eq!(parse_khz("f", "1699981\n"), Ok(Some(1_699_981_000)));
        assert_eq!(parse_khz("f", "<unknown>"), Ok(None));
        assert_eq!(parse_khz("f", "<unsupported>"), Ok(None));
        assert_eq!(
            parse_khz("scaling_cur_freq", "").unwrap_err().to_string(),
            "scaling_cur_freq, line 1: not an unsigned integer: \"\""
        );
        assert!(parse_khz("f", "1.5GHz").is_err());
        assert!(parse_khz("f", &u64::MAX.to_string()).is_err(), "overflow");
    }

    #[test]
    fn reads_the_node_exporter_per_cpu_layout() {
        let (snap, faults) = read_all(&shared_root("sysfs/node_exporter")).unwrap();
        assert!(faults.is_empty(), "{faults:?}");
        let ids: Vec<_> = snap.policies.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, ["cpu0", "cpu1", "cpu2", "cpu3"]);
        assert_eq!(
            snap.policies[0],
            Policy {
                id: "cpu0".into(),
                cpus: "0".into(),
                driver: "intel_pstate".into(),
                governor: "powersave".into(),
                epp: String::new(),
                cur_hz: Some(1_699_981_000),
                scaling_min_hz: Some(800_000_000),
                scaling_max_hz: Some(3_700_000_000),
                hw_min_hz: None,
                hw_max_hz: None,
            }
        );
        let p3 = &snap.policies[3];
        assert_eq!(
            (p3.cur_hz, p3.scaling_min_hz, p3.scaling_max_hz),
            (Some(8_000_000), Some(1_000_000), Some(4_200_000_000))
        );
        // cpu0: pkg 0 core 0; cpu1: pkg 0 core 1; cpu2: pkg 1 core 0; cpu3: pkg 1 core 1
        let cores: Vec<_> = snap.core_throttles.iter().map(|(k, v)| (*k, *v)).collect();
        assert_eq!(cores, [((0, 0), 5), ((0, 1), 0), ((1, 0), 0), ((1, 1), 9)]);
        let pkgs: Vec<_> = snap
            .package_throttles
            .iter()
            .map(|(k, v)| (*k, *v))
            .collect();
        assert_eq!(pkgs, [(0, 30), (1, 6)]);
    }

    fn case_root() -> Root {
        Root::new(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases/cpuidle-deep/root"),
        )
    }

    #[test]
    fn prefers_policies_and_reads_epp() {
        let (snap, faults) = read_all(&case_root()).unwrap();
        assert!(faults.is_empty(), "{faults:?}");
        assert!(snap.core_throttles.is_empty() && snap.package_throttles.is_empty());
        let got: Vec<_> = snap
            .policies
            .iter()
            .map(|p| {
                (
                    p.id.as_str(),
                    p.cpus.as_str(),
                    p.epp.as_str(),
                    p.cur_hz,
                    p.hw_max_hz,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (
                    "policy0",
                    "0",
                    "balance_power",
                    Some(1_100_000_000),
                    Some(4_700_000_000)
                ),
                (
                    "policy1",
                    "1",
                    "balance_power",
                    Some(799_998_000),
                    Some(4_700_000_000)
                ),
                (
                    "policy2",
                    "2",
                    "power",
                    Some(2_400_123_000),
                    Some(3_400_000_000)
                ),
            ]
        );
        assert_eq!(snap.policies[2].hw_min_hz, Some(400_000_000));

        let text = crate::testutil::render_series(&snap).join("\n") + "\n";
        for line in [
            "hostwatt_cpufreq_frequency_hertz{policy=\"policy2\"} 2400123000\n",
            "hostwatt_cpufreq_policy_info{policy=\"policy0\",cpus=\"0\",driver=\"intel_pstate\",governor=\"powersave\",epp=\"balance_power\"} 1\n",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
    }

    #[test]
    fn a_garbage_policy_is_a_fault_and_the_others_stay() {
        let dir = tempfile::tempdir().unwrap();
        for (p, cur) in [("policy0", "2000000"), ("policy1", "fast")] {
            let d = dir.path().join(POLICY_BASE).join(p);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("scaling_cur_freq"), cur).unwrap();
        }
        let (snap, faults) = read_all(&Root::new(dir.path())).unwrap();
        assert_eq!(snap.policies.len(), 1);
        assert_eq!(snap.policies[0].cur_hz, Some(2_000_000_000));
        assert_eq!(
            (faults[0].item.as_str(), faults[0].error.kind().as_str()),
            ("policy1", "parse")
        );
    }

    #[test]
    fn no_cpufreq_is_unavailable() {
        // the firecracker VM has cpu0/cpu1 and cpuidle, but no cpufreq
        let err = read_all(&shared_root("sysfs/firecracker-epyc")).unwrap_err();
        assert_eq!(err.kind(), "unavailable", "{err}");
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(POLICY_BASE)).unwrap();
        let err = read_all(&Root::new(dir.path())).unwrap_err();
        assert_eq!(err.kind(), "unavailable", "{err}");
    }

    #[test]
    fn inactive_policy_ebusy_is_skipped_not_a_fault() {
        let busy = ReadError {
            rel_path: "sys/devices/system/cpu/cpufreq/policy3/scaling_cur_freq".into(),
            source: io::Error::from_raw_os_error(EBUSY),
        };
        assert!(matches!(map_read(busy), PolicyError::Inactive));
        let denied = ReadError {
            rel_path: "x".into(),
            source: io::Error::from(io::ErrorKind::PermissionDenied),
        };
        assert!(matches!(map_read(denied), PolicyError::Failed(e) if e.kind() == "permission"));
    }

    #[tokio::test]
    async fn samples_the_live_host_without_parse_errors() {
        let cx = Context {
            root: Root::new("/"),
            runner: crate::host::command::Runner::replay(Vec::new()),
        };
        match Cpufreq::new(Config::default())
            .sample(&cx, Instant::now())
            .await
        {
            Ok(s) => assert!(s.faults.iter().all(|f| f.error.kind() != "parse")),
            Err(e) => assert!(matches!(e.kind().as_str(), "unavailable" | "permission"), "{e}"),
        }
    }

    #[tokio::test]
    async fn kept_files_follow_the_values_and_a_changed_cpu_set() {
        let tree = tempfile::tempdir().unwrap();
        crate::testutil::overlay(&case_root().path(""), tree.path());
        let cx = Context {
            root: Root::new(tree.path()),
            runner: crate::host::command::Runner::replay(Vec::new()),
        };
        let policy = tree.path().join("sys/devices/system/cpu/cpufreq/policy0");
        let mut c = Cpufreq::new(Config::default());
        let t0 = Instant::now();
        let first = c.sample(&cx, t0).await.unwrap().snapshot;
        assert_eq!(
            (
                first.policies[0].cur_hz,
                first.policies[0].governor.as_str()
            ),
            (Some(1_100_000_000), "powersave")
        );
        // a reading through the kept descriptor the next round; the user's settings by the walk
        std::fs::write(policy.join("scaling_cur_freq"), "2400000\n").unwrap();
        std::fs::write(policy.join("scaling_governor"), "performance\n").unwrap();
        std::fs::write(policy.join("scaling_max_freq"), "3000000\n").unwrap();
        let mut seen = Vec::new();
        for _ in 1..=WALK_EVERY {
            let s = c.sample(&cx, t0).await.unwrap().snapshot;
            let p = &s.policies[0];
            seen.push((p.cur_hz, p.governor.clone(), p.scaling_max_hz));
        }
        let old = (Some(2_400_000_000), "powersave".to_owned(), Some(4_700_000_000));
        let mut want = vec![old; WALK_EVERY as usize - 1];
        want.push((Some(2_400_000_000), "performance".into(), Some(3_000_000_000)));
        assert_eq!(seen, want);
        // garbage: walked again, and the policy reported as a fault
        std::fs::write(policy.join("scaling_cur_freq"), "fast\n").unwrap();
        let third = c.sample(&cx, t0).await;
        let err = third.map(|s| s.faults).unwrap_or_else(|e| {
            vec![Fault {
                item: "round".into(),
                error: e,
            }]
        });
        assert_eq!(err.len(), 1);
        assert_eq!(err[0].error.kind(), "parse");
    }
}
