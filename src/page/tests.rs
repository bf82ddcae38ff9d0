use super::api::{Pool, Summary, Wall};
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
fn now_shows_the_wall_watts_and_their_mark() {
    let s = Summary {
        wall: Some(Wall {
            watts: 87.349,
            source: "shelly-plug".into(),
            basis: "measured".into(),
            mark: "measured",
        }),
        ..Default::default()
    };
    let page = html::page(&s, &[], &[], None);
    assert!(
        page.contains("<span id=\"wall-watts\">87.3</span> W"),
        "{page}"
    );
    assert!(page.contains("class=\"mark measured\">measured</span>"));
    assert!(page.contains("<span id=\"wall-source\">shelly-plug</span>"));
    assert!(page.contains("Alert rules are off."));
}

#[test]
fn pools_draw_capacity_against_the_80_percent_line_escaped() {
    let mut out = html::page(&Summary::default(), &[], &[pool(Some(0.85))], Some(&[]));
    assert!(
        out.contains("data-pool=\"tank&lt;1&gt;\""),
        "names are escaped"
    );
    assert!(out.contains("<span class=\"cap\">85 %</span> used of 4.0 TiB"));
    assert!(out.contains("class=\"capbar full\"><span style=\"width:85.0%\">"));
    assert!(out.contains("errors read 1 write 0 checksum 3"));
    assert!(out.contains("<span class=\"bad\">DEGRADED</span>"));
    out = html::page(&Summary::default(), &[], &[pool(None)], Some(&[]));
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
