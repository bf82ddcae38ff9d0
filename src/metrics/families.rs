//! `Families`: the series a snapshot renders, kept as text pieces in one arena per family, and
//! their encodings (text 0.0.4, OpenMetrics 1.0.0, the prometheus crate's protobuf model).
//!
//! A snapshot is rendered once per change and served many times, so the labels of each series
//! are escaped and joined as they are pushed: encoding a family is then one pass of copies and
//! number formatting, with no allocation per series.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use prometheus::proto::{self, LabelPair, Metric, MetricFamily, MetricType};

use super::{Family, Kind};

/// One series: ranges into its family's arena.
#[derive(Debug, Clone, Copy)]
struct Series {
    /// Label values joined by NUL: compared to sort series as `Registry::gather` does.
    values: (u32, u32),
    /// Label names joined by NUL (for the protobuf model).
    names: (u32, u32),
    /// `{a="x",b="y"}`, escaped; empty without labels.
    labels: (u32, u32),
    count: u32,
    value: f64,
}

/// The series of one family.
#[derive(Debug)]
pub(crate) struct FamilySeries {
    pub(crate) family: &'static Family,
    arena: String,
    series: Vec<Series>,
}

fn span(arena: &str, (a, b): (u32, u32)) -> &str {
    &arena[a as usize..b as usize]
}

/// `\`, newline and (in label values) `"` escaped, as both text formats want.
pub(crate) fn escape_into(out: &mut String, text: &str, quote: bool) {
    if !text.contains(['\\', '\n', '"']) {
        out.push_str(text);
        return;
    }
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quote => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

/// OpenMetrics spells the special values `+Inf`, `-Inf` and `NaN`.
pub(crate) fn om_number(out: &mut String, value: f64) {
    if value.is_nan() {
        out.push_str("NaN");
    } else if value == f64::INFINITY {
        out.push_str("+Inf");
    } else if value == f64::NEG_INFINITY {
        out.push_str("-Inf");
    } else {
        let _ = write!(out, "{value}");
    }
}

/// Units a family name may end in, declared with `# UNIT` (OpenMetrics: the unit must be the
/// name's suffix).
const UNITS: &[&str] = &[
    "seconds", "joules", "watts", "bytes", "celsius", "volts", "amperes", "hertz", "ratio", "rpm",
];

/// The OpenMetrics family name of a metric (a counter's loses `_total`) and its metadata lines.
pub(crate) fn om_header<'a>(
    out: &mut String,
    name: &'a str,
    type_name: &str,
    help: &str,
) -> &'a str {
    let family = match type_name {
        "counter" => name.strip_suffix("_total").unwrap_or(name),
        _ => name,
    };
    let _ = writeln!(out, "# TYPE {family} {type_name}");
    if let Some(unit) = UNITS.iter().find(|u| {
        family
            .strip_suffix(*u)
            .is_some_and(|rest| rest.ends_with('_'))
    }) {
        let _ = writeln!(out, "# UNIT {family} {unit}");
    }
    if !help.is_empty() {
        out.push_str("# HELP ");
        out.push_str(family);
        out.push(' ');
        escape_into(out, help, true);
        out.push('\n');
    }
    family
}

impl FamilySeries {
    fn new(family: &'static Family) -> Self {
        Self {
            family,
            arena: String::new(),
            series: Vec::new(),
        }
    }

    fn push<'a, I>(&mut self, labels: I, value: f64)
    where
        I: Iterator<Item = (&'a str, &'a str)> + Clone,
    {
        let a = &mut self.arena;
        let mark = |a: &String| a.len() as u32;
        let v0 = mark(a);
        let mut count = 0;
        for (i, (_, v)) in labels.clone().enumerate() {
            if i > 0 {
                a.push('\0');
            }
            a.push_str(v);
            count += 1;
        }
        let n0 = mark(a);
        for (i, (n, _)) in labels.clone().enumerate() {
            if i > 0 {
                a.push('\0');
            }
            a.push_str(n);
        }
        let l0 = mark(a);
        let mut sep = '{';
        for (n, v) in labels {
            a.push(sep);
            a.push_str(n);
            a.push_str("=\"");
            escape_into(a, v, true);
            a.push('"');
            sep = ',';
        }
        if count > 0 {
            a.push('}');
        }
        self.series.push(Series {
            values: (v0, n0),
            names: (n0, l0),
            labels: (l0, mark(a)),
            count,
            value,
        });
    }

    /// Sorts the series as `Registry::gather` does: by label count, then by label values in
    /// order; the sort is stable, so equal label sets keep their push order.
    fn sort(&mut self) {
        let arena = &self.arena;
        self.series.sort_by(|x, y| {
            x.count
                .cmp(&y.count)
                .then_with(|| span(arena, x.values).cmp(span(arena, y.values)))
        });
    }

    /// The family in text format 0.0.4, exactly as the prometheus crate's `TextEncoder` writes
    /// it.
    pub(crate) fn text(&self, out: &mut String) {
        let f = self.family;
        if !f.help.is_empty() {
            out.push_str("# HELP ");
            out.push_str(f.name);
            out.push(' ');
            escape_into(out, f.help, false);
            out.push('\n');
        }
        out.push_str("# TYPE ");
        out.push_str(f.name);
        out.push_str(match f.kind {
            Kind::Counter => " counter\n",
            Kind::Gauge => " gauge\n",
        });
        for s in &self.series {
            out.push_str(f.name);
            out.push_str(span(&self.arena, s.labels));
            let _ = writeln!(out, " {}", s.value);
        }
    }

    /// The family in OpenMetrics 1.0.0 text (without the closing `# EOF`).
    pub(crate) fn openmetrics(&self, out: &mut String) {
        let f = self.family;
        let type_name = match f.kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        };
        let family = om_header(out, f.name, type_name, f.help);
        for s in &self.series {
            out.push_str(family);
            if f.kind == Kind::Counter {
                out.push_str("_total");
            }
            out.push_str(span(&self.arena, s.labels));
            out.push(' ');
            om_number(out, s.value);
            out.push('\n');
        }
    }

    fn proto(&self) -> MetricFamily {
        let f = self.family;
        let mut mf = MetricFamily::default();
        mf.set_name(f.name.to_owned());
        mf.set_help(f.help.to_owned());
        mf.set_field_type(match f.kind {
            Kind::Counter => MetricType::COUNTER,
            Kind::Gauge => MetricType::GAUGE,
        });
        for s in &self.series {
            let mut m = Metric::default();
            if s.count > 0 {
                let names = span(&self.arena, s.names).split('\0');
                let values = span(&self.arena, s.values).split('\0');
                m.set_label(
                    names
                        .zip(values)
                        .map(|(n, v)| {
                            let mut lp = LabelPair::default();
                            lp.set_name(n.to_owned());
                            lp.set_value(v.to_owned());
                            lp
                        })
                        .collect(),
                );
            }
            match f.kind {
                Kind::Counter => {
                    let mut c = proto::Counter::default();
                    c.set_value(s.value);
                    m.set_counter(c);
                }
                Kind::Gauge => {
                    let mut g = proto::Gauge::default();
                    g.set_value(s.value);
                    m.set_gauge(g);
                }
            }
            mf.mut_metric().push(m);
        }
        mf
    }
}

/// The output of one render: metric families keyed by name.
#[derive(Default)]
pub struct Families {
    allowed: &'static [&'static Family],
    map: BTreeMap<&'static str, FamilySeries>,
    /// When set, pushes to other families are dropped unrendered (`metrics::gather_only`).
    only: Option<Vec<&'static str>>,
}

impl Families {
    /// An empty set that accepts only `allowed` families (checked in debug builds).
    pub fn new(allowed: &'static [&'static Family]) -> Self {
        Self {
            allowed,
            map: BTreeMap::new(),
            only: None,
        }
    }

    /// As `new`, keeping only the families named in `names`: the rest are not rendered.
    pub(crate) fn only(allowed: &'static [&'static Family], names: Vec<&'static str>) -> Self {
        Self {
            only: Some(names),
            ..Self::new(allowed)
        }
    }

    /// The family's series, or `None` when it is not kept.
    fn entry(&mut self, family: &'static Family) -> Option<&mut FamilySeries> {
        debug_assert!(
            self.allowed.iter().any(|f| f.name == family.name),
            "{} is not listed in FAMILIES",
            family.name
        );
        if let Some(only) = &self.only
            && !only.contains(&family.name)
        {
            return None;
        }
        Some(
            self.map
                .entry(family.name)
                .or_insert_with(|| FamilySeries::new(family)),
        )
    }

    /// Adds one series. Label values are given in the family's label order.
    pub fn push(&mut self, family: &'static Family, labels: &[&str], value: f64) {
        debug_assert_eq!(
            labels.len(),
            family.labels.len(),
            "{}: label count",
            family.name
        );
        let pairs = family.labels.iter().copied().zip(labels.iter().copied());
        if let Some(f) = self.entry(family) {
            f.push(pairs, value);
        }
    }

    /// Adds one series with named labels: for families whose label set varies per series
    /// (`hostwatt_alerts_firing` carries the labels of the alert), as Prometheus' own `ALERTS`.
    pub fn push_pairs(&mut self, family: &'static Family, labels: &[(&str, &str)], value: f64) {
        if let Some(f) = self.entry(family) {
            f.push(labels.iter().copied(), value);
        }
    }

    /// Adds a 0/1 gauge.
    pub fn push_bool(&mut self, family: &'static Family, labels: &[&str], value: bool) {
        self.push(family, labels, if value { 1.0 } else { 0.0 });
    }

    /// The families in name order, their series sorted as `Registry::gather` sorts them.
    pub(crate) fn into_sorted(self) -> Vec<FamilySeries> {
        let mut v: Vec<FamilySeries> = self.map.into_values().collect();
        for f in &mut v {
            f.sort();
        }
        v
    }

    /// The rendered families in the prometheus crate's model, for `Registry::gather`.
    pub fn into_vec(self) -> Vec<MetricFamily> {
        self.map.into_values().map(|f| f.proto()).collect()
    }
}
