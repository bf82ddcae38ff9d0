//! The OpenMetrics 1.0.0 text format, for Prometheus servers that negotiate it (the prometheus
//! crate encodes only text 0.0.4).
//!
//! Differences from text 0.0.4 that matter here, from the OpenMetrics 1.0 specification: a
//! counter family's name has no `_total` (its sample has); `unknown` replaces `untyped`; HELP
//! escapes `"` like label values do; `+Inf`, `-Inf` and `NaN` are spelled so; a family whose
//! name ends in a base unit declares it with `# UNIT`; the exposition ends with `# EOF`.

use std::fmt::Write as _;

use prometheus::proto::{Metric, MetricFamily, MetricType};

use crate::metrics::families::{escape_into, om_header, om_number};

/// A number as an `le` or `quantile` label value, in the specification's canonical form (Go's
/// `%g` with `.0` added to integers: `0.0`, `0.005`, `1.0`, `100000.0`, `1e+06`, `1e-05`),
/// which it requires there so that one bucket bound is always one label value.
fn canonical(value: f64) -> String {
    if !value.is_finite() {
        let mut out = String::new();
        om_number(&mut out, value);
        return out;
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

fn sample(out: &mut String, name: &str, m: &Metric, extra: Option<(&str, f64)>, value: f64) {
    out.push_str(name);
    let labels = m.get_label();
    if !labels.is_empty() || extra.is_some() {
        let mut sep = '{';
        for lp in labels {
            out.push(sep);
            let _ = write!(out, "{}=\"", lp.name());
            escape_into(out, lp.value(), true);
            out.push('"');
            sep = ',';
        }
        if let Some((k, v)) = extra {
            out.push(sep);
            let _ = write!(out, "{k}=\"{}\"", canonical(v));
        }
        out.push('}');
    }
    out.push(' ');
    om_number(out, value);
    out.push('\n');
}

/// Appends one gathered family as OpenMetrics text (no `# EOF`).
pub fn encode_family(out: &mut String, mf: &MetricFamily) {
    let kind = mf.get_field_type();
    let type_name = match kind {
        MetricType::COUNTER => "counter",
        MetricType::GAUGE => "gauge",
        MetricType::HISTOGRAM => "histogram",
        MetricType::SUMMARY => "summary",
        MetricType::UNTYPED => "unknown",
    };
    let family = om_header(out, mf.name(), type_name, mf.help());
    for m in mf.get_metric() {
        match kind {
            MetricType::COUNTER => sample(
                out,
                &format!("{family}_total"),
                m,
                None,
                m.get_counter().value(),
            ),
            MetricType::GAUGE => sample(out, family, m, None, m.get_gauge().value()),
            MetricType::UNTYPED => sample(out, family, m, None, m.untyped.value()),
            MetricType::HISTOGRAM => {
                let h = m.get_histogram();
                let bucket = format!("{family}_bucket");
                let mut inf = false;
                for b in h.get_bucket() {
                    let le = b.upper_bound();
                    inf |= le == f64::INFINITY;
                    let count = b.cumulative_count() as f64;
                    sample(out, &bucket, m, Some(("le", le)), count);
                }
                let count = h.get_sample_count() as f64;
                if !inf {
                    sample(out, &bucket, m, Some(("le", f64::INFINITY)), count);
                }
                sample(out, &format!("{family}_count"), m, None, count);
                sample(out, &format!("{family}_sum"), m, None, h.get_sample_sum());
            }
            MetricType::SUMMARY => {
                let s = m.get_summary();
                for q in s.get_quantile() {
                    sample(out, family, m, Some(("quantile", q.quantile())), q.value());
                }
                let count = s.sample_count() as f64;
                sample(out, &format!("{family}_count"), m, None, count);
                sample(out, &format!("{family}_sum"), m, None, s.sample_sum());
            }
        }
    }
}

/// Encodes gathered families (`Registry::gather`) as OpenMetrics text, `# EOF` included.
pub fn encode(families: &[MetricFamily]) -> String {
    let mut out = String::new();
    for mf in families {
        encode_family(&mut out, mf);
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
        let text = encode(&r.gather());
        for line in [
            "hostwatt_scrape_seconds_bucket{le=\"0.5\"} 0\n",
            "hostwatt_scrape_seconds_bucket{le=\"1.0\"} 1\n",
            "hostwatt_scrape_seconds_bucket{le=\"10.0\"} 1\n",
            "hostwatt_scrape_seconds_bucket{le=\"+Inf\"} 1\n",
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
    }

    #[test]
    fn an_empty_registry_is_just_eof() {
        assert_eq!(encode(&Registry::new().gather()), "# EOF\n");
    }
}
