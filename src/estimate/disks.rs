//! Disk power by class and power state: a documented default table that known models and the
//! config override.
//!
//! Values are typical of current datasheets (watts at the drive's 5 V and 12 V rails, i.e. DC):
//! - 3.5" 7200 rpm: Seagate IronWolf Pro / Exos X16, WD Ultrastar DC HC550 datasheets list
//!   ~7–9 W random read/write, ~5 W idle, ~0.8–1 W standby.
//! - 3.5" 5400 rpm: WD Red Plus WD40EFZX / WD Red WD20EFRX datasheets list ~4.5 W read/write,
//!   ~3.3 W idle, ~0.4 W standby/sleep.
//! - 2.5" HDD: WD Red WD10JFCX / Seagate 2.5" datasheets list ~1.7 W read/write, ~0.6 W idle,
//!   ~0.15 W standby.
//! - SATA SSD: Samsung 860/870 EVO, Crucial MX500 datasheets list ~2–3 W active, 0.03–0.3 W idle
//!   (the low end only with DIPM/ALPM enabled), ~0.005 W DEVSLP.
//! - NVMe: consumer M.2 drives list 3–6 W active; idle ~1 W at PS0, tens of mW with APST.
//!
//! They are order-of-magnitude defaults: the estimate is labelled `modelled`, and calibration
//! against a meter absorbs the error.

use serde::{Deserialize, Serialize};

/// A disk's power class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// 3.5" HDD at 7200 rpm (or faster).
    Hdd35_7200,
    /// 3.5" HDD at 5400–5900 rpm.
    Hdd35_5400,
    /// 2.5" HDD.
    Hdd25,
    /// SATA/SAS SSD.
    SataSsd,
    /// NVMe SSD.
    Nvme,
}

impl Class {
    /// Label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hdd35_7200 => "hdd35_7200",
            Self::Hdd35_5400 => "hdd35_5400",
            Self::Hdd25 => "hdd25",
            Self::SataSsd => "sata_ssd",
            Self::Nvme => "nvme",
        }
    }

    /// The class of a disk from what smartctl reports. `form_factor` is smartctl's
    /// `form_factor.name` ("3.5 inches"); an HDD of unknown size is taken as 3.5".
    pub fn infer(protocol: &str, rotation_rpm: Option<u64>, form_factor: Option<&str>) -> Self {
        if protocol.eq_ignore_ascii_case("nvme") {
            return Self::Nvme;
        }
        match rotation_rpm {
            None | Some(0) => Self::SataSsd,
            Some(_) if form_factor.is_some_and(|f| f.starts_with("2.5")) => Self::Hdd25,
            Some(rpm) if rpm >= 7000 => Self::Hdd35_7200,
            Some(_) => Self::Hdd35_5400,
        }
    }

    /// Default DC watts in `state`.
    pub fn default_watts(self, state: State) -> f64 {
        use State::*;
        match (self, state) {
            (Self::Hdd35_7200, Active) => 7.5,
            (Self::Hdd35_7200, Idle) => 5.0,
            (Self::Hdd35_7200, Standby) => 0.8,
            (Self::Hdd35_5400, Active) => 4.5,
            (Self::Hdd35_5400, Idle) => 3.3,
            (Self::Hdd35_5400, Standby) => 0.4,
            (Self::Hdd25, Active) => 1.7,
            (Self::Hdd25, Idle) => 0.6,
            (Self::Hdd25, Standby) => 0.15,
            (Self::SataSsd, Active) => 2.5,
            (Self::SataSsd, Idle) => 0.3,
            (Self::SataSsd, Standby) => 0.05,
            (Self::Nvme, Active) => 4.0,
            (Self::Nvme, Idle) => 1.0,
            (Self::Nvme, Standby) => 0.05,
        }
    }
}

/// A disk's power state, as far as hostwatt can tell without waking it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// I/O in the last interval.
    Active,
    /// Spinning (or powered) with no I/O.
    Idle,
    /// Spun down / sleeping.
    Standby,
}

impl State {
    /// Label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Idle => "idle",
            Self::Standby => "standby",
        }
    }
}

/// Per-state watts overriding the class default for one model (config `[[wall.disk_models]]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelOverride {
    /// Model string as smartctl reports it (`model_name`), matched exactly, case-insensitively.
    pub model: String,
    /// Watts while active.
    pub active_watts: f64,
    /// Watts while idle.
    pub idle_watts: f64,
    /// Watts in standby.
    pub standby_watts: f64,
}

impl ModelOverride {
    /// Watts in `state`.
    pub fn watts(&self, state: State) -> f64 {
        match state {
            State::Active => self.active_watts,
            State::Idle => self.idle_watts,
            State::Standby => self.standby_watts,
        }
    }
}

/// Watts of a disk: a model override when one matches, else the class default.
pub fn watts(model: &str, class: Class, state: State, overrides: &[ModelOverride]) -> f64 {
    overrides
        .iter()
        .find(|o| o.model.eq_ignore_ascii_case(model.trim()))
        .map_or_else(|| class.default_watts(state), |o| o.watts(state))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn infers_classes_from_smartctl_identity() {
        assert_eq!(Class::infer("NVMe", None, None), Class::Nvme);
        assert_eq!(Class::infer("ATA", Some(0), None), Class::SataSsd);
        assert_eq!(
            Class::infer("ATA", Some(5400), Some("3.5 inches")),
            Class::Hdd35_5400
        );
        assert_eq!(Class::infer("ATA", Some(7202), None), Class::Hdd35_7200);
        assert_eq!(
            Class::infer("ATA", Some(5400), Some("2.5 inches")),
            Class::Hdd25
        );
    }

    #[test]
    fn model_override_wins_over_class_default() {
        let o = [ModelOverride {
            model: "WDC WD40EFZX-68AWUN0".into(),
            active_watts: 3.7,
            idle_watts: 2.6,
            standby_watts: 0.5,
        }];
        assert_eq!(
            watts("WDC WD40EFZX-68AWUN0", Class::Hdd35_5400, State::Idle, &o),
            2.6
        );
        assert_eq!(
            watts("WDC WD20EFRX-68EUZN0", Class::Hdd35_5400, State::Idle, &o),
            3.3
        );
        assert_eq!(watts("x", Class::Hdd35_7200, State::Standby, &[]), 0.8);
    }
}
