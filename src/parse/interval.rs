//! The one duration type of the config: collector intervals, notification delays and alert-rule
//! spans, each a humantime string with its own lower bound.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The lower bound of a rule span (`for`, `window`, `repeat_interval`): `"0s"` is allowed.
pub const ANY: u64 = 0;
/// The lower bound of a notification delay (`backoff`, `timeout`): above zero; sub-second values
/// are allowed, request timeouts and test backoffs need them.
pub const ABOVE_ZERO: u64 = 1;
/// The lower bound of a collector interval, the default: 1 s.
pub const ONE_SECOND: u64 = 1_000_000_000;

/// A duration written as a humantime string (`"500ms"`, `"15s"`, `"30m"`, `"35d"`) of at least
/// `MIN_NS` nanoseconds: `ONE_SECOND` (collector intervals), `ABOVE_ZERO` or `ANY`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval<const MIN_NS: u64 = ONE_SECOND>(pub Duration);

impl<const MIN_NS: u64> Interval<MIN_NS> {
    /// `secs` seconds.
    pub const fn secs(secs: u64) -> Self {
        Self(Duration::from_secs(secs))
    }
}

/// Whole seconds in the largest unit that divides them (`35d`, `4h`, `90s`): readable by
/// humantime and PromQL; a sub-second part in humantime's form (`500ms`).
impl<const MIN_NS: u64> fmt::Display for Interval<MIN_NS> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.subsec_nanos() != 0 {
            return write!(f, "{}", humantime::format_duration(self.0));
        }
        match self.0.as_secs() {
            s if s > 0 && s % 86_400 == 0 => write!(f, "{}d", s / 86_400),
            s if s > 0 && s % 3600 == 0 => write!(f, "{}h", s / 3600),
            s if s > 0 && s % 60 == 0 => write!(f, "{}m", s / 60),
            s => write!(f, "{s}s"),
        }
    }
}

impl<'de, const MIN_NS: u64> Deserialize<'de> for Interval<MIN_NS> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let dur = humantime::parse_duration(&s)
            .map_err(|e| serde::de::Error::custom(format!("invalid duration {s:?}: {e}")))?;
        let min = Duration::from_nanos(MIN_NS);
        if dur >= min {
            Ok(Self(dur))
        } else if MIN_NS == ABOVE_ZERO {
            Err(serde::de::Error::custom("duration must be above 0"))
        } else {
            Err(serde::de::Error::custom(format!(
                "interval {s:?} is below the {} minimum",
                humantime::format_duration(min)
            )))
        }
    }
}

impl<const MIN_NS: u64> Serialize for Interval<MIN_NS> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse<const MIN_NS: u64>(s: &str) -> Result<Interval<MIN_NS>, String> {
        serde_json::from_value(serde_json::Value::String(s.into())).map_err(|e| e.to_string())
    }

    #[test]
    fn each_bound_keeps_its_error() {
        assert_eq!(
            parse::<ONE_SECOND>("500ms").unwrap_err(),
            "interval \"500ms\" is below the 1s minimum"
        );
        assert_eq!(
            parse::<ABOVE_ZERO>("0s").unwrap_err(),
            "duration must be above 0"
        );
        assert_eq!(
            parse::<ABOVE_ZERO>("500ms").unwrap().0,
            Duration::from_millis(500)
        );
        assert_eq!(parse::<ANY>("0s").unwrap().0, Duration::ZERO);
    }

    #[test]
    fn displays_in_the_largest_whole_unit_or_humantime_below_a_second() {
        let shown = |d| Interval::<ANY>(d).to_string();
        assert_eq!(shown(Duration::from_secs(35 * 86_400)), "35d");
        assert_eq!(shown(Duration::from_secs(4 * 3600)), "4h");
        assert_eq!(shown(Duration::from_secs(90)), "90s");
        assert_eq!(shown(Duration::from_millis(1500)), "1s 500ms");
        assert_eq!(shown(Duration::ZERO), "0s");
    }
}
