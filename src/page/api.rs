//! The JSON API under `/api/v1/` (docs/api.md): views of the latest snapshots in base units
//! (watts, joules, seconds, bytes, ratios 0–1, Unix seconds), built by pure functions that the
//! HTML page renders too, so both always show the same numbers.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::Sources;
use crate::collectors::zfs::{ScanFunction, ScanState};
use crate::history::record::{self, energy_today, unix_now};

/// Hours in a (non-leap) year, for the yearly cost of idle power.
const HOURS_PER_YEAR: f64 = 8760.0;

/// `GET /api/v1/summary`.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Summary {
    /// Unix time of this view.
    pub time: i64,
    /// The headline wall power, when any source gives one.
    pub wall: Option<Wall>,
    /// Sum of the DC consumers, watts.
    pub dc_watts: Option<f64>,
    /// PSU conversion loss, watts (with a PSU configured).
    pub psu_loss_watts: Option<f64>,
    /// Wall power while idle (smoothed), watts.
    pub idle_watts: Option<f64>,
    /// Energy of the best source since local midnight, joules.
    pub energy_today_joules: Option<f64>,
    /// Energy of the best source since the first of the month, joules.
    pub energy_month_joules: Option<f64>,
    /// Price and costs, when `price_per_kwh` is set.
    pub cost: Option<Cost>,
    /// The DC breakdown.
    pub components: Vec<Component>,
    /// C-state residency over the last cpuidle interval.
    pub cpuidle: Vec<CState>,
    /// The history store.
    pub history: HistoryInfo,
}

/// The headline wall power.
#[derive(Debug, Clone, Serialize)]
pub struct Wall {
    /// Watts.
    pub watts: f64,
    /// The meter's name, `estimate` or `calibrated`.
    pub source: String,
    /// `modelled`, `calibrated` or `measured` (as `hostwatt_wall_best_power_watts`).
    pub basis: String,
    /// For people: `estimated`, `calibrated` or `measured`.
    pub mark: &'static str,
    /// For people, after the mark: the meter's name when measured, else what the estimate
    /// stands on (an assumed PSU says so, and where to set the real one).
    pub detail: String,
}

/// Costs in `currency`.
#[derive(Debug, Clone, Serialize)]
pub struct Cost {
    /// ISO currency code as configured.
    pub currency: String,
    /// Price per kWh.
    pub price_per_kwh: f64,
    /// Cost of today's energy.
    pub today: Option<f64>,
    /// Cost of this month's energy.
    pub month: Option<f64>,
    /// Idle power for a year at this price.
    pub idle_per_year: Option<f64>,
}

/// One DC consumer.
#[derive(Debug, Clone, Serialize)]
pub struct Component {
    /// `cpu`, `disk:<id>`, `fans`, `baseline`, `hwmon:<chip>/<sensor>`.
    pub component: String,
    /// `cpu`, `disk`, `hwmon`, `fans`, `baseline`.
    pub kind: &'static str,
    /// How it is known.
    pub basis: &'static str,
    /// Watts.
    pub watts: f64,
}

/// One C-state.
#[derive(Debug, Clone, Serialize)]
pub struct CState {
    /// State name (`C1E`, `C6`, `POLL`).
    pub name: String,
    /// Share of time in it, 0–1.
    pub residency_ratio: Option<f64>,
}

/// The history store's state.
#[derive(Debug, Clone, Serialize, Default)]
pub struct HistoryInfo {
    /// Whether history is recorded.
    pub enabled: bool,
    /// Size of the store file, bytes.
    pub size_bytes: Option<u64>,
    /// Unix time of the last flush.
    pub last_flush: Option<f64>,
}

/// One disk, `GET /api/v1/disks`.
#[derive(Debug, Clone, Serialize)]
pub struct Disk {
    /// The `disk` label of the SMART metrics.
    pub id: String,
    /// Device node.
    pub device: String,
    /// Model, when SMART data was ever read.
    pub model: Option<String>,
    /// `desktop`, `nas`, `enterprise`, `ssd`, `unknown`.
    pub class: Option<&'static str>,
    /// Known to be SMR.
    pub smr: bool,
    /// The ZFS pool it is a member of.
    pub pool: Option<String>,
    /// Temperature, °C.
    pub temperature_celsius: Option<f64>,
    /// SMART overall health.
    pub health_passed: Option<bool>,
    /// `active`, `idle`, `standby`, `unknown`.
    pub power_mode: &'static str,
    /// Spin-ups seen since hostwatt started.
    pub spin_ups: u64,
    /// Time in standby since hostwatt started, seconds.
    pub standby_seconds: f64,
}

/// One pool, `GET /api/v1/pools`.
#[derive(Debug, Clone, Serialize)]
pub struct Pool {
    /// Name.
    pub name: String,
    /// `ONLINE`, `DEGRADED`, …
    pub health: String,
    /// Size, bytes.
    pub size_bytes: Option<u64>,
    /// Allocated, bytes.
    pub allocated_bytes: Option<u64>,
    /// Allocated / size, 0–1.
    pub capacity_ratio: Option<f64>,
    /// Fragmentation of free space, 0–1.
    pub fragmentation_ratio: Option<f64>,
    /// Read errors summed over the vdevs.
    pub read_errors: u64,
    /// Write errors summed over the vdevs.
    pub write_errors: u64,
    /// Checksum errors summed over the vdevs.
    pub checksum_errors: u64,
    /// Permanent data errors.
    pub data_errors: Option<u64>,
    /// The last or current scrub.
    pub scrub: Option<Scan>,
    /// The last or current resilver.
    pub resilver: Option<Scan>,
}

/// A scan.
#[derive(Debug, Clone, Serialize)]
pub struct Scan {
    /// `running`, `paused`, `finished`, `canceled`.
    pub state: &'static str,
    /// Start, Unix seconds.
    pub start: Option<i64>,
    /// End, Unix seconds.
    pub end: Option<i64>,
    /// Seconds since it ended.
    pub age_seconds: Option<i64>,
    /// Fraction done, 0–1.
    pub progress_ratio: Option<f64>,
    /// Seconds to go.
    pub eta_seconds: Option<u64>,
    /// Errors found.
    pub errors: Option<u64>,
}

pub(super) fn detail(source: &str, basis: &str) -> String {
    match basis {
        "measured" => source.to_owned(),
        "calibrated" => "against a meter".to_owned(),
        "assumed_psu" => "with an assumed PSU: set [collectors.wall.psu]".to_owned(),
        _ => "through the PSU curve".to_owned(),
    }
}

fn mark(basis: &str) -> &'static str {
    match basis {
        "measured" => "measured",
        "calibrated" => "calibrated",
        _ => "estimated",
    }
}

/// The summary at Unix time `now`.
pub fn summary(src: &Sources, now: i64) -> Summary {
    let mut s = Summary {
        time: now,
        ..Default::default()
    };
    if let Some(w) = src.latest.wall() {
        s.wall = w.best.as_ref().map(|(watts, source, basis)| Wall {
            watts: *watts,
            source: source.clone(),
            basis: (*basis).to_owned(),
            mark: mark(basis),
            detail: detail(source, basis),
        });
        if !w.components.is_empty() {
            s.dc_watts = Some(w.components.iter().map(|c| c.watts).sum());
        }
        s.psu_loss_watts = w.estimate.as_ref().map(|e| e.loss_watts);
        s.idle_watts = w.idle_watts;
        s.energy_today_joules = energy_today(&w);
        s.energy_month_joules = w.best.as_ref().and_then(|(_, source, _)| {
            w.energy
                .iter()
                .find(|(src, _)| src == source)
                .map(|(_, a)| a.joules_month)
        });
        s.cost = w.price.as_ref().map(|(price, currency)| Cost {
            currency: currency.clone(),
            price_per_kwh: *price,
            today: s.energy_today_joules.map(|j| j / 3.6e6 * price),
            month: s.energy_month_joules.map(|j| j / 3.6e6 * price),
            idle_per_year: s.idle_watts.map(|w| w * HOURS_PER_YEAR / 1000.0 * price),
        });
        s.components = w
            .components
            .iter()
            .map(|c| Component {
                component: c.component.clone(),
                kind: c.kind,
                basis: c.basis.as_str(),
                watts: c.watts,
            })
            .collect();
    }
    if let Some(c) = src.latest.cpuidle() {
        s.cpuidle = c
            .states
            .iter()
            .map(|st| CState {
                name: st.name.clone(),
                residency_ratio: st.residency_ratio,
            })
            .collect();
    }
    if let Some(h) = &src.history {
        let st = h.stats();
        s.history = HistoryInfo {
            enabled: true,
            size_bytes: Some(st.size_bytes),
            last_flush: st.last_flush,
        };
    }
    s
}

/// The disks, in the SMART collector's order.
pub fn disks(src: &Sources) -> Vec<Disk> {
    let mut pool_of: BTreeMap<String, String> = BTreeMap::new();
    if let Some(z) = src.latest.zfs() {
        for p in &z.pools {
            let name = p
                .list
                .as_ref()
                .map(|l| l.name.clone())
                .or_else(|| p.status.as_ref().map(|s| s.name.clone()));
            if let Some(name) = name {
                for (_, disk) in &p.disks {
                    pool_of.insert(disk.clone(), name.clone());
                }
            }
        }
    }
    let Some(s) = src.latest.smart() else {
        return Vec::new();
    };
    s.disks
        .iter()
        .map(|d| Disk {
            id: d.id.clone(),
            device: d.device.clone(),
            model: d.data.as_ref().and_then(|x| x.model.clone()),
            class: d.advice.as_ref().map(|a| a.class.label()),
            smr: d.advice.as_ref().is_some_and(|a| a.smr_source.is_some()),
            // zpool names whole disks by kernel name (`sda`)
            pool: pool_of
                .get(d.device.trim_start_matches("/dev/"))
                .or_else(|| pool_of.get(&d.id))
                .cloned(),
            temperature_celsius: d.data.as_ref().and_then(|x| x.temperature_celsius),
            health_passed: d.data.as_ref().and_then(|x| x.passed),
            power_mode: d.state.label(),
            spin_ups: d.spin_ups,
            standby_seconds: d.standby_seconds,
        })
        .collect()
}

fn scan_view(s: &crate::collectors::zfs::Scan, now: i64) -> Scan {
    let state = match s.state {
        ScanState::Running => "running",
        ScanState::Paused => "paused",
        ScanState::Finished => "finished",
        ScanState::Canceled => "canceled",
    };
    Scan {
        state,
        start: s.start,
        end: s.end,
        age_seconds: s.end.map(|e| (now - e).max(0)),
        progress_ratio: s.progress,
        eta_seconds: s.eta,
        errors: s.errors,
    }
}

/// The pools at Unix time `now`.
pub fn pools(src: &Sources, now: i64) -> Vec<Pool> {
    let Some(z) = src.latest.zfs() else {
        return Vec::new();
    };
    z.pools
        .iter()
        .filter_map(|p| {
            let name = p
                .list
                .as_ref()
                .map(|l| l.name.clone())
                .or_else(|| p.status.as_ref().map(|s| s.name.clone()))?;
            let vdevs = p
                .status
                .as_ref()
                .map(|s| s.vdevs.as_slice())
                .unwrap_or_default();
            let sum = |f: fn(&crate::collectors::zfs::Vdev) -> Option<u64>| {
                vdevs.iter().filter(|v| v.leaf).filter_map(f).sum()
            };
            let scan = |function| {
                p.status
                    .as_ref()
                    .and_then(|s| s.scans.iter().find(|x| x.function == function))
                    .map(|x| scan_view(x, now))
            };
            Some(Pool {
                health: p
                    .list
                    .as_ref()
                    .map(|l| l.health.clone())
                    .or_else(|| p.status.as_ref().map(|s| s.state.clone()))
                    .unwrap_or_default(),
                size_bytes: p.list.as_ref().and_then(|l| l.size),
                allocated_bytes: p.list.as_ref().and_then(|l| l.allocated),
                capacity_ratio: p.list.as_ref().and_then(|l| l.capacity),
                fragmentation_ratio: p.list.as_ref().and_then(|l| l.fragmentation),
                read_errors: sum(|v| v.read),
                write_errors: sum(|v| v.write),
                checksum_errors: sum(|v| v.checksum),
                data_errors: p.status.as_ref().and_then(|s| s.data_errors),
                scrub: scan(ScanFunction::Scrub),
                resilver: scan(ScanFunction::Resilver),
                name,
            })
        })
        .collect()
}

pub(super) async fn get_summary(State(src): State<Sources>) -> Json<Summary> {
    Json(summary(&src, unix_now()))
}

pub(super) async fn get_disks(State(src): State<Sources>) -> Json<Vec<Disk>> {
    Json(disks(&src))
}

pub(super) async fn get_pools(State(src): State<Sources>) -> Json<Vec<Pool>> {
    Json(pools(&src, unix_now()))
}

/// `GET /api/v1/series`.
#[derive(Debug, Serialize)]
pub struct SeriesList {
    /// Whether history is recorded.
    pub enabled: bool,
    /// Every series name stored or buffered, sorted.
    pub series: Vec<String>,
}

pub(super) async fn get_series(State(src): State<Sources>) -> Json<SeriesList> {
    let h = src.history;
    let series = match &h {
        Some(h) => h.series().await,
        None => Vec::new(),
    };
    Json(SeriesList {
        enabled: h.is_some(),
        series,
    })
}

/// Query of `GET /api/v1/history`.
#[derive(Debug, Deserialize)]
pub struct HistoryQuery {
    /// Comma-separated series names.
    pub series: String,
    /// `hour`, `day`, `week`, `month` or `year` back from now (default `day`).
    pub range: Option<String>,
    /// Start, Unix seconds (with `to`, instead of `range`).
    pub from: Option<i64>,
    /// End, Unix seconds.
    pub to: Option<i64>,
}

/// The answer of `GET /api/v1/history`.
#[derive(Debug, Serialize)]
pub struct HistoryBody {
    /// Start, Unix seconds.
    pub from: i64,
    /// End, Unix seconds.
    pub to: i64,
    /// One answer per series asked for, in the order asked.
    pub series: Vec<crate::history::writer::Answer>,
}

/// The seconds a range name covers.
pub fn range_seconds(name: &str) -> Option<i64> {
    Some(match name {
        "hour" => 3600,
        "day" => 86_400,
        "week" => 7 * 86_400,
        "month" => 30 * 86_400,
        "year" => 365 * 86_400,
        _ => return None,
    })
}

/// The latest Unix second a query may name (the year 9999): beyond it, arithmetic on it
/// could overflow, and no bucket is there.
const MAX_TIME: i64 = 253_402_300_799;

/// A history query's `(from, to, series)`, or the 400 message: `range` or `from`/`to` within
/// 0..=year 9999, and 1 to 200 series of the kinds the recorder writes.
pub fn window(q: &HistoryQuery, now: i64) -> Result<(i64, i64, Vec<&str>), String> {
    let (from, to) = match (q.from, q.to, q.range.as_deref()) {
        (Some(f), Some(t), None) if (0..=t).contains(&f) && t <= MAX_TIME => (f, t),
        (None, None, r) => match range_seconds(r.unwrap_or("day")) {
            Some(s) => (now - s, now),
            None => {
                return Err(format!(
                    "range must be hour, day, week, month or year, not {:?}\n",
                    r.unwrap_or_default()
                ));
            }
        },
        _ => {
            return Err(format!(
                "give either range, or from and to in Unix seconds (0 <= from <= to <= {MAX_TIME})\n"
            ));
        }
    };
    let names: Vec<&str> = q.series.split(',').filter(|s| !s.is_empty()).collect();
    if names.is_empty() || names.len() > 200 {
        return Err(format!("give 1 to 200 series, not {}\n", names.len()));
    }
    if let Some(bad) = names.iter().find(|n| !record::known_series(n)) {
        return Err(format!(
            "unknown series {bad:?}: names are {} or kind:<key> for kind in {} (GET /api/v1/series lists them)\n",
            record::PLAIN_SERIES.join(", "),
            record::KEYED_SERIES.join(", ")
        ));
    }
    Ok((from, to, names))
}

fn bad_request(msg: String) -> Response {
    (StatusCode::BAD_REQUEST, msg).into_response()
}

pub(super) async fn get_history(
    State(src): State<Sources>,
    Query(q): Query<HistoryQuery>,
) -> Response {
    let Some(h) = src.history else {
        return (
            StatusCode::NOT_FOUND,
            "history is off ([history] enabled = false)\n",
        )
            .into_response();
    };
    let now = unix_now();
    let (from, to, names) = match window(&q, now) {
        Ok(w) => w,
        Err(msg) => return bad_request(msg),
    };
    let mut series = Vec::with_capacity(names.len());
    for n in names {
        series.push(h.query(n, from, to, now).await);
    }
    Json(HistoryBody { from, to, series }).into_response()
}
