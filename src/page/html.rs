//! The page's HTML, rendered on the server from the same views as the API, so `curl /` shows
//! every number with no script; `page.js` then draws the charts and refreshes the numbers.
//! Elements the script and the browser test find carry `id`s and `data-*` attributes.

use std::fmt::Write;

use super::api::{Disk, Pool, Summary};
use crate::advisor::{Finding, Report, Watts};
use crate::alerts::{Alert, State as AlertState};

/// `&`, `<`, `>`, `"` and `'` escaped for text and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Watts as shown: one decimal.
pub fn watts(w: f64) -> String {
    format!("{w:.1}")
}

fn opt<T>(v: Option<T>, f: impl Fn(T) -> String) -> String {
    v.map_or_else(|| "–".to_owned(), f)
}

fn kwh(j: f64) -> String {
    format!("{:.2}", j / 3.6e6)
}

/// `3d 4h`, `5h 10m`, `12m`.
pub fn age(secs: i64) -> String {
    let (d, h, m) = (secs / 86_400, secs % 86_400 / 3600, secs % 3600 / 60);
    if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m}m")
    } else {
        format!("{m}m")
    }
}

/// Bytes in binary units, as zpool prints them.
pub fn bytes(b: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < units.len() {
        v /= 1024.0;
        i += 1;
    }
    format!("{v:.1} {}", units[i])
}

fn now_section(s: &Summary, out: &mut String) {
    out.push_str("<section id=\"now\"><h2>Now</h2><div class=\"tiles\">");
    match &s.wall {
        Some(w) => {
            let _ = write!(
                out,
                "<div class=\"tile big\"><div class=\"label\">Wall power</div>\
                 <div class=\"value\"><span id=\"wall-watts\">{}</span> W</div>\
                 <div class=\"sub\"><span id=\"wall-mark\" class=\"mark {mark}\">{mark}</span> \
                 <span id=\"wall-source\">{}</span></div></div>",
                watts(w.watts),
                esc(&w.detail),
                mark = w.mark,
            );
        }
        None => out.push_str(
            "<div class=\"tile big\"><div class=\"label\">Wall power</div>\
             <div class=\"value\"><span id=\"wall-watts\">–</span></div>\
             <div class=\"sub\">no source yet</div></div>",
        ),
    }
    let cost = s.cost.as_ref();
    let money = |v: Option<f64>| {
        cost.and_then(|c| v.map(|v| format!("{v:.2} {}", esc(&c.currency))))
            .unwrap_or_default()
    };
    let _ = write!(
        out,
        "<div class=\"tile\"><div class=\"label\">Today</div><div class=\"value\">\
         <span id=\"energy-today\">{}</span> kWh</div><div class=\"sub\" id=\"cost-today\">{}</div></div>\
         <div class=\"tile\"><div class=\"label\">This month</div><div class=\"value\">\
         <span id=\"energy-month\">{}</span> kWh</div><div class=\"sub\" id=\"cost-month\">{}</div></div>\
         <div class=\"tile\"><div class=\"label\">Idle power</div><div class=\"value\">\
         <span id=\"idle-watts\">{}</span> W</div><div class=\"sub\" id=\"idle-cost\">{}</div></div>",
        opt(s.energy_today_joules, kwh),
        money(cost.and_then(|c| c.today)),
        opt(s.energy_month_joules, kwh),
        money(cost.and_then(|c| c.month)),
        opt(s.idle_watts, watts),
        match (s.idle_watts, cost.and_then(|c| c.idle_per_year)) {
            // "– W" alone reads as a broken page
            (None, _) => "not seen idle yet".to_owned(),
            (Some(_), Some(v)) => format!(
                "{v:.0} {}/year",
                esc(cost.map(|c| c.currency.as_str()).unwrap_or_default())
            ),
            (Some(_), None) => String::new(),
        },
    );
    out.push_str("</div></section>");
}

fn watts_section(s: &Summary, out: &mut String) {
    out.push_str(
        "<section id=\"watts\"><h2>Where the watts go</h2><div class=\"bar\" id=\"breakdown-bar\">",
    );
    let total: f64 =
        s.components.iter().map(|c| c.watts).sum::<f64>() + s.psu_loss_watts.unwrap_or(0.0);
    let mut parts: Vec<(String, f64)> = s
        .components
        .iter()
        .map(|c| (c.component.clone(), c.watts))
        .collect();
    if let Some(l) = s.psu_loss_watts {
        parts.push(("psu loss".into(), l));
    }
    for (i, (name, w)) in parts.iter().enumerate() {
        if total > 0.0 {
            let _ = write!(
                out,
                "<span class=\"seg c{}\" style=\"width:{:.2}%\" title=\"{}: {} W\"></span>",
                i % 8,
                w / total * 100.0,
                esc(name),
                watts(*w)
            );
        }
    }
    out.push_str("</div><ul class=\"legend\" id=\"breakdown\">");
    for (i, (name, w)) in parts.iter().enumerate() {
        let _ = write!(
            out,
            "<li data-component=\"{n}\"><i class=\"c{}\"></i>{n} <b>{}</b> W</li>",
            i % 8,
            watts(*w),
            n = esc(name),
        );
    }
    out.push_str("</ul><div class=\"chart\" id=\"chart-watts\"></div></section>");
}

fn cpuidle_section(s: &Summary, out: &mut String) {
    out.push_str("<section id=\"cpuidle\"><h2>CPU idle</h2>");
    if s.cpuidle.is_empty() {
        out.push_str("<p class=\"muted\">No cpuidle data on this host.</p>");
    } else {
        out.push_str("<ul class=\"legend\">");
        for c in &s.cpuidle {
            let _ = write!(
                out,
                "<li data-cstate=\"{n}\">{n} <b>{}</b></li>",
                opt(c.residency_ratio, |r| format!("{:.1} %", r * 100.0)),
                n = esc(&c.name),
            );
        }
        out.push_str("</ul><div class=\"chart\" id=\"chart-cpuidle\"></div>");
    }
    out.push_str("</section>");
}

fn disks_section(disks: &[Disk], out: &mut String) {
    out.push_str("<section id=\"disks\"><h2>Disks</h2>");
    if disks.is_empty() {
        out.push_str("<p class=\"muted\">No disks seen by smartctl.</p></section>");
        return;
    }
    out.push_str(
        "<div class=\"scroll\"><table><thead><tr><th>Disk</th><th>Model</th><th>Class</th>\
         <th>Pool</th><th>Temp</th><th>Health</th><th>Mode</th><th>Spin-ups</th>\
         <th class=\"tl\">Power mode over time</th></tr></thead><tbody>",
    );
    for d in disks {
        let class = match (d.class, d.smr) {
            (Some(c), true) => format!("{c} <span class=\"warn\">SMR</span>"),
            (Some(c), false) => c.to_owned(),
            (None, _) => "–".into(),
        };
        let health = match d.health_passed {
            Some(true) => "<span class=\"ok\">PASSED</span>",
            Some(false) => "<span class=\"bad\">FAILED</span>",
            None => "–",
        };
        let _ = write!(
            out,
            "<tr data-disk=\"{id}\"><td>{id}<div class=\"muted\">{}</div></td><td data-label=\"Model\">{}</td>\
             <td data-label=\"Class\">{class}</td><td data-label=\"Pool\">{}</td>\
             <td class=\"temp\" data-label=\"Temp\">{}</td><td data-label=\"Health\">{health}</td>\
             <td class=\"mode\" data-label=\"Mode\"><span class=\"pm {m}\">{m}</span></td>\
             <td class=\"spinups\" data-label=\"Spin-ups\" title=\"since hostwatt started; below: over the range shown\">{}<div class=\"muted per-day\"></div></td><td class=\"tl\"><canvas class=\"timeline\" data-series=\"disk_power_mode:{id}\" height=\"18\"></canvas></td></tr>",
            esc(&d.device),
            opt(d.model.as_deref(), esc),
            opt(d.pool.as_deref(), esc),
            opt(d.temperature_celsius, |t| format!("{t:.0} °C")),
            d.spin_ups,
            id = esc(&d.id),
            m = d.power_mode,
        );
    }
    out.push_str("</tbody></table></div></section>");
}

fn scan_text(p: &Pool) -> String {
    let mut parts = Vec::new();
    for (what, s) in [("scrub", &p.scrub), ("resilver", &p.resilver)] {
        let Some(s) = s else { continue };
        let text = match s.state {
            "running" | "paused" => format!(
                "{what} {} {}{}",
                s.state,
                opt(s.progress_ratio, |r| format!("{:.1} %", r * 100.0)),
                s.eta_seconds
                    .map(|e| format!(", {} to go", age(e as i64)))
                    .unwrap_or_default()
            ),
            _ => format!(
                "last {what} {} {}",
                s.state,
                s.age_seconds
                    .map(|a| format!("{} ago", age(a)))
                    .unwrap_or_default()
            ),
        };
        parts.push(format!(
            "<span class=\"scan {}\">{}</span>",
            s.state,
            esc(&text)
        ));
    }
    if parts.is_empty() {
        "<span class=\"scan\">never scrubbed</span>".into()
    } else {
        parts.join(" · ")
    }
}

fn pools_section(pools: &[Pool], out: &mut String) {
    out.push_str("<section id=\"pools\"><h2>Pools</h2>");
    if pools.is_empty() {
        out.push_str("<p class=\"muted\">No ZFS pools.</p></section>");
        return;
    }
    for p in pools {
        let pct = p.capacity_ratio.map(|c| c * 100.0);
        let health_class = if p.health == "ONLINE" { "ok" } else { "bad" };
        let _ = write!(
            out,
            "<div class=\"pool\" data-pool=\"{n}\"><div class=\"row\"><b>{n}</b> \
             <span class=\"{health_class}\">{}</span> \
             <span class=\"cap\">{}</span> used of {}</div>\
             <div class=\"capbar{}\"><span style=\"width:{:.1}%\"></span><i title=\"80 %\"></i></div>\
             <div class=\"muted\">errors read {} write {} checksum {}{} · {}</div></div>",
            esc(&p.health),
            opt(pct, |v| format!("{v:.0} %")),
            opt(p.size_bytes, bytes),
            if pct.is_some_and(|v| v >= 80.0) {
                " full"
            } else {
                ""
            },
            pct.unwrap_or(0.0).clamp(0.0, 100.0),
            p.read_errors,
            p.write_errors,
            p.checksum_errors,
            p.data_errors
                .map(|d| format!(" data {d}"))
                .unwrap_or_default(),
            scan_text(p),
            n = esc(&p.name),
        );
    }
    out.push_str("</section>");
}

fn alerts_section(alerts: Option<&[Alert]>, out: &mut String) {
    out.push_str("<section id=\"alerts\"><h2>Alerts</h2>");
    match alerts {
        None => out.push_str("<p class=\"muted\">Alert rules are off.</p>"),
        Some([]) => out.push_str("<p class=\"ok\">No alerts.</p>"),
        Some(list) => {
            out.push_str("<ul class=\"alerts\">");
            for a in list {
                let state = match a.state {
                    AlertState::Firing => "firing",
                    AlertState::Pending => "pending",
                    AlertState::Resolved => "resolved",
                };
                let _ = write!(
                    out,
                    "<li class=\"{state}\"><b>{}</b> <span class=\"tag\">{state}</span> {}</li>",
                    esc(&a.name),
                    esc(&a.summary)
                );
            }
            out.push_str("</ul>");
        }
    }
    out.push_str("</section>");
}

/// `3.0–8.0` (one figure when both ends agree), watts at the wall.
pub fn watt_range(w: Watts) -> String {
    if watts(w.low) == watts(w.high) {
        watts(w.high)
    } else {
        format!("{}–{}", watts(w.low), watts(w.high))
    }
}

fn finding(f: &Finding, out: &mut String) {
    let _ = write!(
        out,
        "<li class=\"finding {sev}\" data-finding=\"{id}\"><div class=\"row\"><b class=\"saving\">{}</b> \
         <span class=\"title\">{}</span></div>",
        f.watts.map_or_else(
            || "<span class=\"muted\">no figure</span>".to_owned(),
            |w| format!("<span class=\"watts\">{}</span> W", watt_range(w))
        ),
        esc(&f.title),
        sev = f.severity.as_str(),
        id = esc(&f.id),
    );
    if let Some(c) = &f.command {
        let _ = write!(out, "<pre class=\"cmd\"><code>{}</code></pre>", esc(c));
    }
    if f.persist.is_some() || f.risk.is_some() {
        out.push_str("<details><summary>Make it stick, and the risk</summary>");
        for (what, text) in [("Persist", &f.persist), ("Risk", &f.risk)] {
            if let Some(t) = text {
                let _ = write!(out, "<p><b>{what}:</b> {}</p>", esc(t));
            }
        }
        out.push_str("</details>");
    }
    out.push_str("</li>");
}

fn advice_section(report: Option<&Report>, advisor_on: bool, out: &mut String) {
    out.push_str("<section id=\"advice\"><h2>Power advisor</h2>");
    let Some(r) = report else {
        out.push_str(if advisor_on {
            "<p class=\"muted\">The advisor has not finished its first round yet.</p>"
        } else {
            "<p class=\"muted\">The advisor is off ([collectors.advisor] enabled = false).</p>"
        });
        out.push_str("</section>");
        return;
    };
    if r.findings.is_empty() {
        out.push_str("<p class=\"ok\">Nothing to tune: no findings.</p></section>");
        return;
    }
    let _ = write!(
        out,
        "<p>{} findings worth <b id=\"advice-total\">{}</b> W at the wall{}. \
         Estimates from published figures, not measured here; a saving several findings share is counted once.</p><ul class=\"findings\">",
        r.findings.len(),
        watt_range(r.total),
        r.idle_wall_watts
            .map(|w| format!(" (idle now {} W)", watts(w)))
            .unwrap_or_default(),
    );
    // most watts first; findings with no figure last
    let mut list: Vec<&Finding> = r.findings.iter().collect();
    list.sort_by(|a, b| {
        let w = |f: &Finding| f.watts.map_or(f64::NEG_INFINITY, |w| w.high);
        w(b).total_cmp(&w(a))
    });
    for f in list {
        finding(f, out);
    }
    out.push_str("</ul></section>");
}

/// The whole page; `advice` is `None` when the advisor is off, `Some(None)` before its first
/// round.
pub fn page(
    s: &Summary,
    disks: &[Disk],
    pools: &[Pool],
    alerts: Option<&[Alert]>,
    advice: Option<Option<&Report>>,
) -> String {
    let mut out = String::with_capacity(16 * 1024);
    out.push_str(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <meta name=\"color-scheme\" content=\"light dark\">\
         <title>hostwatt</title>\
         <link rel=\"stylesheet\" href=\"assets/uPlot.min.css\">\
         <link rel=\"stylesheet\" href=\"assets/page.css\"></head><body>\
         <header><h1>hostwatt</h1><nav id=\"ranges\">",
    );
    for r in ["hour", "day", "week", "month", "year"] {
        let _ = write!(
            out,
            "<button data-range=\"{r}\"{}>{r}</button>",
            if r == "day" { " class=\"on\"" } else { "" }
        );
    }
    out.push_str("</nav></header><main>");
    now_section(s, &mut out);
    watts_section(s, &mut out);
    cpuidle_section(s, &mut out);
    disks_section(disks, &mut out);
    pools_section(pools, &mut out);
    alerts_section(alerts, &mut out);
    advice_section(advice.flatten(), advice.is_some(), &mut out);
    let _ = write!(
        out,
        "</main><footer class=\"muted\">History {}. <a href=\"metrics\">/metrics</a> · \
         <a href=\"healthz\">/healthz</a> · <a href=\"api/alerts\">/api/alerts</a> · \
         <a href=\"api/v1/summary\">/api/v1</a></footer>\
         <script src=\"assets/uPlot.iife.min.js\"></script><script src=\"assets/page.js\"></script>\
         </body></html>",
        if s.history.enabled {
            format!(
                "on, {}{}",
                opt(s.history.size_bytes, bytes),
                s.history
                    .last_flush
                    .map(|t| format!(", last written {} ago", age((s.time as f64 - t) as i64)))
                    .unwrap_or_default()
            )
        } else {
            "off".into()
        }
    );
    out
}
