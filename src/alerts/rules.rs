//! Alert rules as data: the rule model and the `[alerts]` config that overrides the built-in
//! rules (whose table is `alerts::builtin`).
//!
//! A rule is an expression over metric families (what `/metrics` shows), a severity, a `for`
//! duration, and for threshold rules a `clear` value: a value hovering at the threshold does not
//! flap, because a firing alert only resolves once the value is past `clear`. The same rule is
//! evaluated on the box (`alerts::eval`) and rendered as a Prometheus alerting rule
//! (`alerts::promql`), so both alert alike.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::Severity;
pub use super::builtin::builtin;
use super::builtin::mins;
use crate::parse::Interval;
use crate::parse::interval::ANY;

/// How a label of a series must match.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Match {
    /// Equal to the value.
    Eq(&'static str),
    /// Not equal to the value.
    Ne(&'static str),
    /// Starting with one of the prefixes (PromQL `=~"(a|b).*"`).
    Prefix(&'static [&'static str]),
}

impl Match {
    /// Whether `value` (empty for an absent label, as in PromQL) matches.
    pub fn matches(&self, value: &str) -> bool {
        match self {
            Self::Eq(v) => value == *v,
            Self::Ne(v) => value != *v,
            Self::Prefix(ps) => ps.iter().any(|p| value.starts_with(p)),
        }
    }
}

/// A metric name and label matchers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Selector {
    /// Metric name.
    pub metric: &'static str,
    /// Label matchers.
    pub matchers: &'static [(&'static str, Match)],
}

impl Selector {
    /// A selector with no matchers.
    pub const fn metric(metric: &'static str) -> Self {
        Self {
            metric,
            matchers: &[],
        }
    }

    /// Whether the metric is a counter (by the `_total` naming convention).
    pub fn is_counter(&self) -> bool {
        self.metric.ends_with("_total")
    }
}

/// Comparison of a threshold rule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Op {
    /// Fires above `threshold`; a firing alert holds while above `clear`.
    Above,
    /// Fires below `threshold`; a firing alert holds while below `clear`.
    Below,
    /// Fires while equal to this fixed value (state sets, 0/1 flags); no threshold.
    Equals(f64),
}

/// What a rule computes per series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Expr {
    /// `selector OP value`.
    Compare(Selector, Op),
    /// Seconds since the Unix time the series holds, above `threshold` (`time() - m > t`).
    Age(Selector),
    /// Growth over `window` above `threshold`: reset-aware for counters (`increase`), the plain
    /// difference for gauges (`delta`).
    Increased(Selector),
    /// Left series equal to a value, while a label-less right series equals another
    /// (`(l == a) and on() (r == b)`); the alert carries the left labels.
    Both(Selector, f64, Selector, f64),
}

impl Expr {
    /// Every metric the expression reads.
    pub fn metrics(&self) -> Vec<&'static str> {
        match self {
            Self::Compare(s, _) | Self::Age(s) | Self::Increased(s) => vec![s.metric],
            Self::Both(l, _, r, _) => vec![l.metric, r.metric],
        }
    }
}

/// One alert rule, defaults applied and config overrides resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// `alertname`.
    pub name: &'static str,
    /// What is evaluated.
    pub expr: Expr,
    /// Severity label.
    pub severity: Severity,
    /// Threshold of `Above`/`Below`/`Age`/`Increased` rules (seconds for `Age`).
    pub threshold: Option<f64>,
    /// Hysteresis: a firing alert holds until the value is past this (defaults to `threshold`).
    pub clear: Option<f64>,
    /// How long the condition must hold before the alert fires.
    pub for_: Duration,
    /// Window of `Increased` rules.
    pub window: Option<Duration>,
    /// One-line summary; `{label}`, `{value}`, `{value:percent}`, `{value:duration}`,
    /// `{threshold}` are filled in.
    pub summary: &'static str,
    /// What it means and what to do; may also hold `{advice}`, the advisor's findings with
    /// their watts (filled by the alert engine, a template query in `hostwatt rules`).
    pub description: &'static str,
    /// Whether the rule is evaluated.
    pub enabled: bool,
}

impl Rule {
    /// The value a firing alert must pass to resolve.
    pub fn clear_value(&self) -> Option<f64> {
        self.clear.or(self.threshold)
    }
}

/// Expands the `{placeholder}`s of a rule template with `expand`; a placeholder it returns
/// `None` for stays as written. Shared by the daemon's texts and the Prometheus templates.
pub fn expand_template(text: &str, expand: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let Some(len) = rest[open..].find('}') else {
            break;
        };
        let placeholder = &rest[open..=open + len];
        match expand(&placeholder[1..len]) {
            Some(v) => out.push_str(&v),
            None => out.push_str(placeholder),
        }
        rest = &rest[open + len + 1..];
    }
    out.push_str(rest);
    out
}

/// A threshold: a number, or a duration string (`"35d"`) taken as seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Threshold(pub f64);

impl<'de> Deserialize<'de> for Threshold {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(f64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Number(x) if x.is_finite() => Ok(Self(x)),
            Raw::Number(x) => Err(serde::de::Error::custom(format!(
                "threshold {x} is not finite"
            ))),
            Raw::Text(s) => humantime::parse_duration(&s)
                .map(|d| Self(d.as_secs_f64()))
                .map_err(|e| {
                    serde::de::Error::custom(format!(
                        "expected a number or a duration, got {s:?}: {e}"
                    ))
                }),
        }
    }
}

impl Serialize for Threshold {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.0)
    }
}

/// `[alerts.rules.<Name>]`: overrides of one built-in rule; unset keys keep the default.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuleConfig {
    /// Evaluate this rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Fire past this value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<Threshold>,
    /// Resolve only once past this value (hysteresis).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clear: Option<Threshold>,
    /// How long the condition must hold before firing.
    #[serde(rename = "for", skip_serializing_if = "Option::is_none")]
    pub for_: Option<Interval<ANY>>,
    /// Window of "increased" rules.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<Interval<ANY>>,
    /// Severity label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
}

/// `[alerts]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Evaluate alert rules in the daemon.
    pub enabled: bool,
    /// How often rules are evaluated over the latest snapshots (no hardware access).
    pub evaluation_interval: Interval,
    /// A firing alert is notified again after this long.
    pub repeat_interval: Interval<ANY>,
    /// Resolved alerts stay listed on /api/alerts this long.
    pub keep_resolved: Interval<ANY>,
    /// Overrides per built-in rule, by name.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub rules: BTreeMap<String, RuleConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            enabled: true,
            evaluation_interval: Interval::secs(60),
            repeat_interval: Interval::<ANY>(mins(4 * 60)),
            keep_resolved: Interval::<ANY>(mins(24 * 60)),
            rules: BTreeMap::new(),
        }
    }
}

impl Config {
    /// The built-in rules with the overrides applied (disabled ones included, `enabled` false).
    /// The error is (key under `alerts`, message).
    pub fn rules(&self) -> Result<Vec<Rule>, (String, String)> {
        let mut rules = builtin();
        for (name, o) in &self.rules {
            let Some(rule) = rules.iter_mut().find(|r| r.name == name) else {
                let known: Vec<&str> = builtin().iter().map(|r| r.name).collect();
                return Err((
                    format!("rules.{name}"),
                    format!("unknown rule; known rules: {}", known.join(", ")),
                ));
            };
            apply(rule, o).map_err(|(key, msg)| (format!("rules.{name}.{key}"), msg))?;
        }
        Ok(rules)
    }
}

/// The commented `[alerts.rules.*]` blocks of the example config: every built-in rule with its
/// defaults (a test keeps `config/hostwatt.example.toml` equal to this).
pub fn example_doc() -> String {
    let mut out = String::new();
    for r in builtin() {
        out.push_str(&format!("# [alerts.rules.{}]\n", r.name));
        out.push_str(&format!("# {}\n", r.description));
        out.push_str(&format!("# Prometheus: {}\n", super::promql::expr(&r)));
        out.push_str("# enabled = true\n");
        out.push_str(&format!("# severity = \"{}\"\n", r.severity.as_str()));
        if let Some(t) = r.threshold {
            match r.expr {
                Expr::Age(_) => out.push_str(&format!(
                    "# threshold = \"{}\"\n",
                    Interval::<ANY>(Duration::from_secs_f64(t))
                )),
                _ => out.push_str(&format!("# threshold = {t}\n")),
            }
        }
        if let (Some(c), Some(t)) = (r.clear, r.threshold)
            && c != t
        {
            out.push_str(&format!("# clear = {c}\n"));
        }
        if let Some(w) = r.window {
            out.push_str(&format!("# window = \"{}\"\n", Interval::<ANY>(w)));
        }
        out.push_str(&format!("# for = \"{}\"\n#\n", Interval::<ANY>(r.for_)));
    }
    out
}

fn apply(rule: &mut Rule, o: &RuleConfig) -> Result<(), (&'static str, String)> {
    if let Some(e) = o.enabled {
        rule.enabled = e;
    }
    if let Some(s) = o.severity {
        rule.severity = s;
    }
    if let Some(f) = o.for_ {
        rule.for_ = f.0;
    }
    let has_threshold = rule.threshold.is_some();
    if let Some(t) = o.threshold {
        if !has_threshold {
            return Err(("threshold", "this rule has no threshold".into()));
        }
        // a moved threshold drags a default clear along, keeping the default gap
        if o.clear.is_none()
            && let (Some(old_t), Some(old_c)) = (rule.threshold, rule.clear)
        {
            // rounded so 0.7 - 0.02 prints as 0.68 in the generated rules
            rule.clear = Some(((t.0 + (old_c - old_t)) * 1e9).round() / 1e9);
        }
        rule.threshold = Some(t.0);
    }
    if let Some(c) = o.clear {
        if !matches!(rule.expr, Expr::Compare(_, Op::Above | Op::Below)) {
            return Err((
                "clear",
                "only above/below threshold rules have a clear value".into(),
            ));
        }
        rule.clear = Some(c.0);
    }
    if let Some(w) = o.window {
        if rule.window.is_none() {
            return Err(("window", "only \"increased\" rules have a window".into()));
        }
        if w.0.is_zero() {
            return Err(("window", "the window must be longer than 0s".into()));
        }
        rule.window = Some(w.0);
    }
    if let (Some(t), Some(c)) = (rule.threshold, rule.clear) {
        let bad = match rule.expr {
            Expr::Compare(_, Op::Above) => c > t,
            Expr::Compare(_, Op::Below) => c < t,
            _ => false,
        };
        if bad {
            let side = if matches!(rule.expr, Expr::Compare(_, Op::Above)) {
                "at or below"
            } else {
                "at or above"
            };
            return Err((
                "clear",
                format!("clear {c} must be {side} the threshold {t}"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(text: &str) -> Config {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn builtin_rules_are_consistent() {
        let rules = builtin();
        let mut names: Vec<&str> = rules.iter().map(|r| r.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), rules.len(), "duplicate rule names");
        for r in &rules {
            let needs_threshold = matches!(
                r.expr,
                Expr::Compare(_, Op::Above | Op::Below) | Expr::Age(_) | Expr::Increased(_)
            );
            assert_eq!(r.threshold.is_some(), needs_threshold, "{}", r.name);
            assert_eq!(
                r.window.is_some(),
                matches!(r.expr, Expr::Increased(_)),
                "{}",
                r.name
            );
            assert!(r.name.chars().all(|c| c.is_ascii_alphanumeric()));
        }
    }

    #[test]
    fn example_config_documents_every_rule_with_its_defaults() {
        let doc = example_doc();
        assert!(
            crate::config::EMBEDDED.contains(&doc),
            "config/hostwatt.example.toml lacks the current rule docs; paste this after [alerts]:\n{doc}"
        );
        // the documented values parse back to the defaults
        let uncommented: String = doc
            .lines()
            .filter_map(|l| l.strip_prefix("# "))
            .filter(|l| l.starts_with('[') || l.contains(" = "))
            .map(|l| format!("{l}\n"))
            .collect();
        let parsed: crate::config::file::File = toml::from_str(&uncommented).unwrap();
        assert_eq!(parsed.alerts.rules.len(), builtin().len());
        assert_eq!(parsed.alerts.rules().unwrap(), builtin());
    }

    #[test]
    fn overrides_apply_and_drag_the_clear_value() {
        let rules = cfg("[rules.ZfsPoolCapacityHigh]\nthreshold = 0.7\nfor = \"0s\"\nseverity = \"critical\"\n[rules.ZfsScrubOverdue]\nthreshold = \"7d\"\n[rules.RaplUnreadable]\nenabled = false\n")
            .rules()
            .unwrap();
        let get = |n: &str| rules.iter().find(|r| r.name == n).unwrap();
        let cap = get("ZfsPoolCapacityHigh");
        assert_eq!(cap.threshold, Some(0.7));
        assert_eq!(cap.clear, Some(0.68));
        assert_eq!(cap.for_, Duration::ZERO);
        assert_eq!(cap.severity, Severity::Critical);
        assert_eq!(get("ZfsScrubOverdue").threshold, Some(7.0 * 86_400.0));
        assert!(!get("RaplUnreadable").enabled);
        assert!(get("ZfsPoolCapacityCritical").enabled);
    }

    #[test]
    fn rejects_unknown_rule_and_misplaced_values() {
        let e = cfg("[rules.PoolFull]\nenabled = true\n")
            .rules()
            .unwrap_err();
        assert_eq!(e.0, "rules.PoolFull");
        assert!(e.1.starts_with("unknown rule; known rules: HostIdlePowerHigh,"));
        let e = cfg("[rules.SmartHealthFailed]\nthreshold = 1\n")
            .rules()
            .unwrap_err();
        assert_eq!(
            e,
            (
                "rules.SmartHealthFailed.threshold".into(),
                "this rule has no threshold".into()
            )
        );
        let e = cfg("[rules.ZfsPoolCapacityHigh]\nclear = 0.9\n")
            .rules()
            .unwrap_err();
        assert_eq!(
            e.1, "clear 0.9 must be at or below the threshold 0.8",
            "{e:?}"
        );
        let e = cfg("[rules.SmartNvmeSpareLow]\nclear = 0.1\n")
            .rules()
            .unwrap_err();
        assert_eq!(e.1, "clear 0.1 must be at or above the threshold 0.2");
        let e = cfg("[rules.ZfsPoolCapacityHigh]\nwindow = \"1h\"\n")
            .rules()
            .unwrap_err();
        assert_eq!(e.0, "rules.ZfsPoolCapacityHigh.window");
        assert!(toml::from_str::<Config>("[rules.X]\nthreshold = \"lots\"\n").is_err());
        assert!(toml::from_str::<Config>("[rules.X]\nfour = \"1m\"\n").is_err());
    }
}
