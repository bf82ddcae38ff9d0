//! The OpenMetrics 1.0.0 text format, for Prometheus servers that negotiate it (the prometheus
//! crate encodes only text 0.0.4).
//!
//! Differences from text 0.0.4 that matter here, from the OpenMetrics 1.0 specification: a
//! counter family's name has no `_total` (its sample has); `unknown` replaces `untyped`; HELP
//! escapes `"` like label values do; `+Inf`, `-Inf` and `NaN` are spelled so; a family whose
//! name ends in a base unit declares it with `# UNIT`; the exposition ends with `# EOF`.

use std::fmt::Write as _;

use prometheus::proto::{Metric, MetricFamily, MetricType};

/// Units a family name may end in, declared with `# UNIT` (OpenMetrics: the unit must be the
/// name's suffix).
const UNITS: &[&str] = &[
    "seconds", "joules", "watts", "bytes", "celsius", "volts", "amperes", "hertz", "ratio", "rpm",
];

/// `\`, newline and `"` escaped, as OpenMetrics wants in HELP text and label values.
fn escape(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains(['\\', '\n', '"']) {
        return text.into();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' => out.push_str("\\\""),
            c => out.push(c),
        }
    }
    out.into()
}

fn number(value: f64) -> String {
    if value.is_nan() {
        "NaN".into()
    } else if value == f64::INFINITY {
        "+Inf".into()
    } else if value == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        value.to_string()
    }
}

/// A number as an `le` or `quantile` label value, in the specification's canonical form (Go's
/// `%g` with `.0` added to integers: `0.0`, `0.005`, `1.0`, `100000.0`, `1e+06`, `1e-05`),
/// which it requires there so that one bucket bound is always one label value.
fn canonical(value: f64) -> String {
    if !value.is_finite() {
        return number(value);
    }
    let sci = format!("{value:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if value != 0.0 && !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exp.abs());
    }
    let fixed = value.to_string();
    if fixed.contains('.') {
        fixed
    } else {
        fixed + ".0"
    }
}

fn sample(out: &mut String, name: &str, m: &Metric, extra: Option<(&str, String)>, value: f64) {
    out.push_str(name);
    let labels = m.get_label();
    if !labels.is_empty() || extra.is_some() {
        out.push('{');
        let mut sep = "";
        for lp in labels {
            let _ = write!(out, "{sep}{}=\"{}\"", lp.name(), escape(lp.value()));
            sep = ",";
        }
        if let Some((k, v)) = extra {
            let _ = write!(out, "{sep}{k}=\"{}\"", escape(&v));
        }
        out.push('}');
    }
    let _ = writeln!(out, " {}", number(value));
}

/// Encodes gathered families (`Registry::gather`) as OpenMetrics text, `# EOF` included.
pub fn encode(families: &[MetricFamily]) -> String {
    let mut out = String::new();
    for mf in families {
        let kind = mf.get_field_type();
        let name = mf.name();
        let family = match kind {
            MetricType::COUNTER => name.strip_suffix("_total").unwrap_or(name),
            _ => name,
        };
        let type_name = match kind {
            MetricType::COUNTER => "counter",
            MetricType::GAUGE => "gauge",
            MetricType::HISTOGRAM => "histogram",
            MetricType::SUMMARY => "summary",
            MetricType::UNTYPED => "unknown",
        };
        let _ = writeln!(out, "# TYPE {family} {type_name}");
        if let Some(unit) = UNITS.iter().find(|u| {
            family
                .strip_suffix(*u)
                .is_some_and(|rest| rest.ends_with('_'))
        }) {
            let _ = writeln!(out, "# UNIT {family} {unit}");
        }
        if !mf.help().is_empty() {
            let _ = writeln!(out, "# HELP {family} {}", escape(mf.help()));
        }
        for m in mf.get_metric() {
            match kind {
                MetricType::COUNTER => sample(
                    &mut out,
                    &format!("{family}_total"),
                    m,
                    None,
                    m.get_counter().value(),
                ),
                MetricType::GAUGE => sample(&mut out, family, m, None, m.get_gauge().value()),
                MetricType::UNTYPED => {
                    sample(&mut out, family, m, None, m.untyped.value());
                }
                MetricType::HISTOGRAM => {
                    let h = m.get_histogram();
                    let bucket = format!("{family}_bucket");
                    let mut inf = false;
                    for b in h.get_bucket() {
                        let le = b.upper_bound();
                        inf |= le == f64::INFINITY;
                        let count = b.cumulative_count() as f64;
                        sample(&mut out, &bucket, m, Some(("le", canonical(le))), count);
                    }
                    let count = h.get_sample_count() as f64;
                    if !inf {
                        sample(&mut out, &bucket, m, Some(("le", "+Inf".into())), count);
                    }
                    sample(&mut out, &format!("{family}_count"), m, None, count);
                    sample(
                        &mut out,
                        &format!("{family}_sum"),
                        m,
                        None,
                        h.get_sample_sum(),
                    );
                }
                MetricType::SUMMARY => {
                    let s = m.get_summary();
                    for q in s.get_quantile() {
                        let quantile = Some(("quantile", canonical(q.quantile())));
                        sample(&mut out, family, m, quantile, q.value());
                    }
                    let count = s.sample_count() as f64;
                    sample(&mut out, &format!("{family}_count"), m, None, count);
                    sample(&mut out, &format!("{family}_sum"), m, None, s.sample_sum());
                }
            }
        }
    }
    out.push_str("# EOF\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus::{CounterVec, Gauge, Opts, Registry};

    #[test]
    fn counters_lose_total_in_the_family_and_units_are_declared() {
        let r = Registry::new();
        let c = CounterVec::new(
            Opts::new(
                "hostwatt_wall_energy_joules_total",
                "Energy \"at the wall\"\nin joules",
            ),
            &["source"],
        )
        .unwrap();
        c.with_label_values(&["est\"imate"]).inc_by(12.5);
        r.register(Box::new(c)).unwrap();
        let g = Gauge::new("hostwatt_up", "1 when up").unwrap();
        g.set(f64::INFINITY);
        r.register(Box::new(g)).unwrap();
        assert_eq!(
            encode(&r.gather()),
            "# TYPE hostwatt_up gauge\n\
             # HELP hostwatt_up 1 when up\n\
             hostwatt_up +Inf\n\
             # TYPE hostwatt_wall_energy_joules counter\n\
             # UNIT hostwatt_wall_energy_joules joules\n\
             # HELP hostwatt_wall_energy_joules Energy \\\"at the wall\\\"\\nin joules\n\
             hostwatt_wall_energy_joules_total{source=\"est\\\"imate\"} 12.5\n\
             # EOF\n"
        );
    }

    #[test]
    fn bucket_bounds_and_quantiles_are_canonical_numbers() {
        // the specification's own examples (section "Canonical Numbers")
        let want = [
            (0.0, "0.0"),
            (0.001, "0.001"),
            (0.95, "0.95"),
            (1.0, "1.0"),
            (1.7, "1.7"),
            (10.0, "10.0"),
            (1e-10, "1e-10"),
            (1e-9, "1e-09"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (100000.0, "100000.0"),
            (1e6, "1e+06"),
            (1.1e23, "1.1e+23"),
            (f64::INFINITY, "+Inf"),
        ];
        for (v, text) in want {
            assert_eq!(canonical(v), text, "{v}");
        }
        let r = Registry::new();
        let h = prometheus::Histogram::with_opts(
            prometheus::HistogramOpts::new("hostwatt_scrape_seconds", "Scrape time")
                .buckets(vec![0.5, 1.0, 10.0]),
        )
        .unwrap();
        h.observe(0.7);
        r.register(Box::new(h)).unwrap();
        assert_eq!(
            encode(&r.gather()),
            "# TYPE hostwatt_scrape_seconds histogram\n\
             # UNIT hostwatt_scrape_seconds seconds\n\
             # HELP hostwatt_scrape_seconds Scrape time\n\
             hostwatt_scrape_seconds_bucket{le=\"0.5\"} 0\n\
             hostwatt_scrape_seconds_bucket{le=\"1.0\"} 1\n\
             hostwatt_scrape_seconds_bucket{le=\"10.0\"} 1\n\
             hostwatt_scrape_seconds_bucket{le=\"+Inf\"} 1\n\
             hostwatt_scrape_seconds_count 1\n\
             hostwatt_scrape_seconds_sum 0.7\n\
             # EOF\n"
        );
    }

    #[test]
    fn an_empty_registry_is_just_eof() {
        assert_eq!(encode(&Registry::new().gather()), "# EOF\n");
    }
}
