//! `[collectors.wall]`: the wall collector's settings, and the PSU chain they describe (or the
//! assumed one).

use serde::{Deserialize, Serialize};

use crate::parse::Interval;
use crate::estimate::disks::ModelOverride;
use crate::estimate::wall::{self, Chain, CurveBasis, PsuConfig};

/// `[collectors.wall]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Estimate wall power at all.
    pub enabled: bool,
    /// How often to recompute and integrate energy.
    pub interval: Interval,
    /// Board, RAM, chipset, NICs: DC watts no sensor sees (calibration refines it).
    pub baseline_watts: f64,
    /// DC watts per spinning fan.
    pub fan_watts: f64,
    /// hwmon chips whose power sensors are separate DC consumers (discrete GPUs).
    pub hwmon_chips: Vec<String>,
    /// The PSU; without it the estimate assumes an ATX 80 PLUS Bronze 450 W unit and says so
    /// (`basis="assumed_psu"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub psu: Option<PsuConfig>,
    /// An external AC brick in front of a picoPSU (`psu` is then the picoPSU).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub brick: Option<PsuConfig>,
    /// Per-model disk watts overriding the class defaults.
    pub disk_models: Vec<ModelOverride>,
    /// Electricity price per kWh; cost series appear when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price_per_kwh: Option<f64>,
    /// Currency label of the cost series.
    pub currency: String,
    /// The host counts as idle below this CPU busy ratio...
    pub idle_cpu_busy_below: f64,
    /// ...and below this many disk operations per second...
    pub idle_disk_iops_below: f64,
    /// ...held for this long.
    pub idle_window: Interval,
    /// How often energy counters and calibration are saved.
    pub persist_interval: Interval,
    /// Learn a correction of the estimate from a wall meter.
    pub calibrate: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            enabled: true,
            interval: Interval::secs(30),
            baseline_watts: 8.0,
            fan_watts: 0.5,
            hwmon_chips: vec!["amdgpu".into(), "nouveau".into(), "radeon".into()],
            psu: None,
            brick: None,
            disk_models: Vec::new(),
            price_per_kwh: None,
            currency: "EUR".into(),
            idle_cpu_busy_below: 0.10,
            idle_disk_iops_below: 5.0,
            idle_window: Interval::secs(300),
            persist_interval: Interval::secs(300),
            calibrate: true,
        }
    }
}

impl Config {
    /// The conversion chain; the error is (key under `collectors.wall`, message).
    pub fn chain(&self) -> Result<Option<Chain>, (String, String)> {
        let Some(psu) = &self.psu else {
            return Ok(None);
        };
        let basis = if psu.points.is_empty() {
            CurveBasis::Profile
        } else {
            CurveBasis::Points
        };
        let psu = psu.curve().map_err(|(k, m)| (format!("psu.{k}"), m))?;
        let brick = match &self.brick {
            Some(b) => Some(b.curve().map_err(|(k, m)| (format!("brick.{k}"), m))?),
            None => None,
        };
        Ok(Some(Chain { psu, brick, basis }))
    }

    /// The configured chain, else `wall::assumed_chain` (an ATX 80 PLUS Bronze 450 W PSU).
    pub fn chain_or_assumed(&self) -> Chain {
        self.chain()
            .ok()
            .flatten()
            .unwrap_or_else(wall::assumed_chain)
    }

    /// What to tell the user when the wall estimate rests on the assumed PSU (`None` when a PSU
    /// is configured or the collector is off): one line naming the section to fill in.
    pub fn assumption_note(&self, meters: usize) -> Option<String> {
        if !self.enabled || self.psu.is_some() {
            return None;
        }
        let meter = if meters > 0 {
            "the [[meters]] reading is the best wall power and calibrates it"
        } else {
            "no [[meters]] entry measures it either"
        };
        Some(format!(
            "wall power is estimated with an assumed PSU (ATX 80 PLUS Bronze, {} W, 115 V label minimums; series labelled basis=\"assumed_psu\") because [collectors.wall.psu] is not set; {meter}. Fill in [collectors.wall.psu] (rating and 80 PLUS level or measured points) for a figure about your PSU",
            wall::ASSUMED_RATED_WATTS
        ))
    }
}
