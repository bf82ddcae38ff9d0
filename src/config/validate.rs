//! Values that parse but cannot be right: a ratio written as a percent, negative watts or
//! prices, a RAPL interval longer than its energy counter takes to wrap. Checked per key on the
//! TOML text itself (after serde accepted the types), so each error names the line the user
//! wrote, and says the fix.
//!
//! And type errors in the config's words: serde's `invalid type: integer `15`, expected a
//! string` becomes `interval must be a duration such as "15s", not integer 15`.

use std::time::Duration;

use toml::{Table, Value};

use crate::alerts::rules::{Expr, Rule};

/// The longest RAPL interval accepted. `energy_uj` wraps at `max_energy_range_uj`, typically
/// 262 143 J: at 300 W (a desktop package at full load) that is 14.5 minutes, and a sample
/// must land within half of that to tell one wrap from two.
pub const RAPL_MAX_INTERVAL: Duration = Duration::from_secs(7 * 60);

/// What a numeric key holds.
#[derive(Debug, Clone, Copy)]
enum Unit {
    /// A fraction 0..=1.
    Ratio,
    /// Watts, at least 0.
    Watts,
    /// Watts, above 0 (a rating).
    RatedWatts,
    /// Money per kWh, at least 0.
    Price,
    /// A count or rate, at least 0.
    Count,
}

/// The numeric keys of the file, by table (`*`: any name or any `[[array]]` entry).
const KEYS: &[(&str, &str, Unit)] = &[
    ("collectors.wall", "baseline_watts", Unit::Watts),
    ("collectors.wall", "fan_watts", Unit::Watts),
    ("collectors.wall", "price_per_kwh", Unit::Price),
    ("collectors.wall", "idle_cpu_busy_below", Unit::Ratio),
    ("collectors.wall", "idle_disk_iops_below", Unit::Count),
    ("collectors.wall.psu", "rated_watts", Unit::RatedWatts),
    ("collectors.wall.brick", "rated_watts", Unit::RatedWatts),
    ("collectors.wall.disk_models.*", "active_watts", Unit::Watts),
    ("collectors.wall.disk_models.*", "idle_watts", Unit::Watts),
    (
        "collectors.wall.disk_models.*",
        "standby_watts",
        Unit::Watts,
    ),
];

/// A wrong value: (dotted key, nth `[[array]]` entry of its table, message).
pub type Problem = (String, usize, String);

/// Every range and unit check over the parsed text; the first problem found.
pub fn check(table: &Table, rules: &[Rule]) -> Result<(), Problem> {
    for (path, key, unit) in KEYS {
        for (nth, t) in tables(table, path) {
            if let Some(v) = t.get(*key).and_then(number) {
                in_range(v, *unit).map_err(|m| (format!("{path}.{key}"), nth, m))?;
            }
        }
    }
    rapl_interval(table)?;
    alert_thresholds(table, rules)
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Integer(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        _ => None,
    }
}

/// The tables at a dotted path with `*` segments (any entry of an `[[array]]` or of a table),
/// each with its index in its `[[array]]` (0 elsewhere).
fn tables<'a>(root: &'a Table, path: &str) -> Vec<(usize, &'a Table)> {
    let mut segs = path.split('.');
    let first = segs.next().unwrap_or_default();
    let mut found: Vec<(usize, &Value)> = root.get(first).map(|v| (0, v)).into_iter().collect();
    for seg in segs {
        found = found
            .into_iter()
            .flat_map(|(nth, v)| -> Vec<(usize, &Value)> {
                match (seg, v) {
                    ("*", Value::Array(a)) => a.iter().enumerate().collect(),
                    ("*", Value::Table(t)) => t.values().map(|v| (nth, v)).collect(),
                    (_, Value::Table(t)) => t.get(seg).map(|v| (nth, v)).into_iter().collect(),
                    _ => Vec::new(),
                }
            })
            .collect();
    }
    found
        .into_iter()
        .filter_map(|(nth, v)| v.as_table().map(|t| (nth, t)))
        .collect()
}

fn in_range(v: f64, unit: Unit) -> Result<(), String> {
    match unit {
        Unit::Ratio if v > 1.0 && v <= 100.0 => Err(format!(
            "{v} looks like a percent: write {} (a ratio from 0 to 1)",
            v / 100.0
        )),
        Unit::Ratio if !(0.0..=1.0).contains(&v) => {
            Err(format!("{v} is not a ratio: write a value from 0 to 1"))
        }
        Unit::Watts if v < 0.0 => Err(format!("{v} W is negative: write 0 or more watts")),
        Unit::RatedWatts if v <= 0.0 => Err(format!(
            "{v} W: a rating is more than 0 watts (the label's \"500W\" is 500)"
        )),
        Unit::Price if v < 0.0 => Err(format!("a price of {v} is negative: write 0 or more")),
        Unit::Count if v < 0.0 => Err(format!("{v} is negative: write 0 or more")),
        _ => Ok(()),
    }
}

fn rapl_interval(table: &Table) -> Result<(), Problem> {
    let Some(Value::String(s)) = tables(table, "collectors.rapl")
        .first()
        .and_then(|(_, t)| t.get("interval"))
    else {
        return Ok(());
    };
    // serde accepted it, so it parses
    let Ok(d) = humantime::parse_duration(s) else {
        return Ok(());
    };
    if d > RAPL_MAX_INTERVAL {
        return Err((
            "collectors.rapl.interval".into(),
            0,
            format!(
                "{s:?} is longer than RAPL's energy counter may take to wrap at full power \
                 (262 kJ at 300 W: about 14 minutes): write at most \"{}\"",
                humantime::format_duration(RAPL_MAX_INTERVAL)
            ),
        ));
    }
    Ok(())
}

/// `threshold` and `clear` of `[alerts.rules.<Name>]` in the unit of the rule's metric: a
/// `_ratio` is 0..=1, `_watts` and growth counts are at least 0.
fn alert_thresholds(table: &Table, rules: &[Rule]) -> Result<(), Problem> {
    let Some(overrides) = tables(table, "alerts.rules").first().map(|(_, t)| *t) else {
        return Ok(());
    };
    for (name, o) in overrides {
        let (Value::Table(o), Some(rule)) = (o, rules.iter().find(|r| r.name == name)) else {
            continue;
        };
        threshold_form(name, o, matches!(rule.expr, Expr::Age(_)))?;
        let unit = match &rule.expr {
            Expr::Increased(_) => Unit::Count,
            Expr::Compare(s, _) if s.metric.ends_with("_ratio") => Unit::Ratio,
            Expr::Compare(s, _) if s.metric.ends_with("_watts") => Unit::Watts,
            _ => continue,
        };
        for key in ["threshold", "clear"] {
            if let Some(v) = o.get(key).and_then(number) {
                in_range(v, unit).map_err(|m| (format!("alerts.rules.{name}.{key}"), 0, m))?;
            }
        }
    }
    Ok(())
}

/// An age rule (`ZfsScrubOverdue`) compares seconds, so a bare number there is seconds where a
/// user means days (`35` fires at once); any other rule compares a number, where a duration
/// string would be taken as seconds. A number of at least a day stays valid for an age rule:
/// `check-config` prints the resolved threshold in seconds, and its output must load again.
fn threshold_form(name: &str, o: &Table, age: bool) -> Result<(), Problem> {
    const DAY: f64 = 86_400.0;
    for key in ["threshold", "clear"] {
        let problem = match (o.get(key), age) {
            (Some(v), true) if number(v).is_some_and(|n| n < DAY) => format!(
                "{v} is {v} seconds; {name} compares an age: write a duration such as \"35d\""
            ),
            (Some(Value::String(s)), false) => {
                format!("{s:?} is a duration; {name} compares a number: write it without quotes")
            }
            _ => continue,
        };
        return Err((format!("alerts.rules.{name}.{key}"), 0, problem));
    }
    Ok(())
}

/// serde's type error in the config's words, for the value at `key`: `invalid type: integer
/// `15`, expected a string` at `collectors.rapl.interval` becomes `interval must be a duration
/// such as "15s", not integer 15`. Other messages are returned as they are.
pub fn reword(key: &str, message: &str) -> String {
    let Some((got, expected)) = message
        .strip_prefix("invalid type: ")
        .and_then(|m| m.split_once(", expected "))
    else {
        return message.to_owned();
    };
    let leaf = key.rsplit('.').next().unwrap_or(key);
    let duration = matches!(
        leaf,
        "interval"
            | "timeout"
            | "window"
            | "for"
            | "idle_window"
            | "persist_interval"
            | "evaluation_interval"
            | "repeat_interval"
            | "keep_resolved"
    ) || leaf.ends_with("_interval");
    let want = match expected.trim() {
        "a string" if duration => "a duration such as \"15s\" (in quotes)",
        "a string" => "a string (in quotes)",
        "a boolean" => "true or false (no quotes)",
        "f64" | "f32" | "a number" => "a number such as 0.5",
        "u64" | "u32" | "u16" | "u8" | "usize" | "i64" | "i32" => "a whole number such as 5",
        "a sequence" => "a list such as [\"a\", \"b\"]",
        e if e.starts_with("struct ") || e.starts_with("a map") => "a table",
        _ => return message.to_owned(),
    };
    format!("{leaf} must be {want}, not {}", got.replace('`', ""))
}

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;
