use super::api::{self, HistoryQuery, Pool, Summary, Wall};
use super::html;

fn pool(cap: Option<f64>) -> Pool {
    Pool {
        name: "tank<1>".into(),
        health: "DEGRADED".into(),
        size_bytes: Some(4 * 1024 * 1024 * 1024 * 1024),
        allocated_bytes: None,
        capacity_ratio: cap,
        fragmentation_ratio: None,
        read_errors: 1,
        write_errors: 0,
        checksum_errors: 3,
        data_errors: None,
        scrub: None,
        resilver: None,
    }
}

#[test]
fn an_estimate_says_what_it_stands_on_and_an_assumed_psu_where_to_set_the_real_one() {
    use super::api::detail;
    assert_eq!(detail("shelly-plug", "measured"), "shelly-plug");
    assert_eq!(detail("calibrated", "calibrated"), "against a meter");
    assert_eq!(detail("estimate", "modelled"), "through the PSU curve");
    assert!(detail("estimate", "assumed_psu").contains("[collectors.wall.psu]"));
}

#[test]
fn now_shows_the_wall_watts_and_their_mark() {
    let s = Summary {
        wall: Some(Wall {
            watts: 87.349,
            source: "shelly-plug".into(),
            basis: "measured".into(),
            mark: "measured",
            detail: super::api::detail("shelly-plug", "measured"),
        }),
        ..Default::default()
    };
    let page = html::page(&s, &[], &[], None, None);
    assert!(
        page.contains("<span id=\"wall-watts\">87.3</span> W"),
        "{page}"
    );
    assert!(page.contains("class=\"mark measured\">measured</span>"));
    assert!(page.contains("<span id=\"wall-source\">shelly-plug</span>"));
    assert!(page.contains("Alert rules are off."));
    assert!(page.contains("<div class=\"sub\" id=\"idle-cost\">not seen idle yet</div>"));
}

#[test]
fn pools_draw_capacity_against_the_80_percent_line_escaped() {
    let mut out = html::page(
        &Summary::default(),
        &[],
        &[pool(Some(0.85))],
        Some(&[]),
        None,
    );
    assert!(
        out.contains("data-pool=\"tank&lt;1&gt;\""),
        "names are escaped"
    );
    assert!(out.contains("<span class=\"cap\">85 %</span> used of 4.0 TiB"));
    assert!(out.contains("class=\"capbar full\"><span style=\"width:85.0%\">"));
    assert!(out.contains("errors read 1 write 0 checksum 3"));
    assert!(out.contains("<span class=\"bad\">DEGRADED</span>"));
    out = html::page(&Summary::default(), &[], &[pool(None)], Some(&[]), None);
    assert!(out.contains("<span class=\"cap\">–</span>"));
    assert!(out.contains("class=\"capbar\"><span style=\"width:0.0%\">"));
}

#[test]
fn ages_and_sizes_read_like_zpool() {
    assert_eq!(html::age(59), "0m");
    assert_eq!(html::age(3 * 3600 + 600), "3h 10m");
    assert_eq!(html::age(9 * 86_400 + 7200), "9d 2h");
    assert_eq!(html::bytes(2_952_790_016), "2.8 GiB");
    assert_eq!(html::esc("a&b\"<'>"), "a&amp;b&quot;&lt;&#39;&gt;");
}

fn report() -> crate::advisor::Report {
    use crate::advisor::{Report, Watts, finding};
    let mut aspm = finding("pcie-aspm-off", "aspm", "PCIe ASPM is off".into());
    aspm.watts = Some(Watts {
        low: 2.0,
        high: 4.0,
    });
    aspm.command = Some("echo powersave > /sys/module/pcie_aspm/parameters/policy".into());
    aspm.persist = Some("pcie_aspm.policy=powersave on the kernel command line".into());
    aspm.risk = Some("some NICs <drop> links".into());
    let mut disk = finding("disk-never-idle", "disks", "A disk never idles".into());
    disk.watts = Some(Watts {
        low: 6.0,
        high: 12.11,
    });
    let chiplet = finding("cpu-chiplet-io-die", "hw_class", "Chiplet CPU".into());
    Report {
        idle_wall_watts: Some(40.0),
        idle_basis: "smoothed".into(),
        idle_measured: false,
        through_psu: true,
        total: Watts {
            low: 8.0,
            high: 16.11,
        },
        // the page sorts them itself: no figure last
        findings: vec![chiplet, aspm, disk],
        notes: Vec::new(),
    }
}

#[test]
fn advice_lists_findings_by_watts_with_command_persistence_and_risk() {
    let r = report();
    let out = html::page(&Summary::default(), &[], &[], None, Some(Some(&r)));
    assert!(
        out.contains(
            "3 findings worth <b id=\"advice-total\">8.0–16.1</b> W at the wall (idle now 40.0 W)"
        ),
        "{out}"
    );
    let at = |id: &str| out.find(&format!("data-finding=\"{id}\"")).expect(id);
    assert!(at("disk-never-idle") < at("pcie-aspm-off"));
    assert!(at("pcie-aspm-off") < at("cpu-chiplet-io-die"));
    assert!(out.contains("<span class=\"watts\">6.0–12.1</span> W"));
    assert!(
        out.contains("<code>echo powersave &gt; /sys/module/pcie_aspm/parameters/policy</code>")
    );
    assert!(out.contains("<details><summary>Make it stick, and the risk</summary><p><b>Persist:</b> pcie_aspm.policy=powersave"));
    assert!(out.contains("<b>Risk:</b> some NICs &lt;drop&gt; links"));
    assert!(out.contains("data-finding=\"cpu-chiplet-io-die\"><div class=\"row\"><b class=\"saving\"><span class=\"muted\">no figure</span>"));
    let off = html::page(&Summary::default(), &[], &[], None, None);
    assert!(off.contains("The advisor is off"));
    let first = html::page(&Summary::default(), &[], &[], None, Some(None));
    assert!(first.contains("has not finished its first round"));
    let one = crate::advisor::Watts {
        low: 3.04,
        high: 3.04,
    };
    assert_eq!(html::watt_range(one), "3.0");
}

fn query(series: &str, range: Option<&str>, from: Option<i64>, to: Option<i64>) -> HistoryQuery {
    HistoryQuery {
        series: series.into(),
        range: range.map(Into::into),
        from,
        to,
    }
}

#[test]
fn history_queries_outside_the_store_or_of_unknown_series_are_refused() {
    let now = 1_795_969_315;
    let ok = query(
        "wall_watts,pool_capacity_ratio:tank",
        Some("hour"),
        None,
        None,
    );
    assert_eq!(
        api::window(&ok, now),
        Ok((
            now - 3600,
            now,
            vec!["wall_watts", "pool_capacity_ratio:tank"]
        ))
    );
    // i64::MIN..i64::MAX overflowed the tier pick (a panic in the handler, no answer)
    let huge = query("wall_watts", None, Some(i64::MIN), Some(i64::MAX));
    assert!(
        api::window(&huge, now)
            .unwrap_err()
            .contains("0 <= from <= to")
    );
    let far = query("wall_watts", None, Some(0), Some(i64::MAX));
    assert!(api::window(&far, now).is_err());
    let unknown = query("wall_watts,x", None, None, None);
    let msg = api::window(&unknown, now).unwrap_err();
    assert!(
        msg.starts_with("unknown series \"x\": names are wall_watts,"),
        "{msg}"
    );
    assert!(api::window(&query("disk_power_mode:", None, None, None), now).is_err());
    let many = vec!["wall_watts"; 201].join(",");
    assert_eq!(
        api::window(&query(&many, None, None, None), now).unwrap_err(),
        "give 1 to 200 series, not 201\n"
    );
    assert_eq!(
        crate::history::pick_tier(i64::MIN, i64::MAX, now),
        crate::history::TIERS.len() - 1
    );
}
