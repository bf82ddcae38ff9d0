//! The prefix rule of metric names: every family a collector exports is
//! `hostwatt_<collector>_…`, `<collector>` being its name in `collectors::list!` (its
//! `[collectors.NAME]` section and `collector` label), so a series names the section that
//! configures it and the `collector` whose health (`hostwatt_collector_*`) covers it. The
//! daemon's own metrics belong to no collector and use the prefixes of `DAEMON_PREFIXES`.

/// The prefixes of the daemon's own families, each with the part that exports it and why it is
/// not a collector's. No collector may be named after one of them (a test checks it).
pub const DAEMON_PREFIXES: &[(&str, &str)] = &[
    (
        "hostwatt_collector_",
        "selfmon: the health of every collector, labelled by `collector`",
    ),
    (
        "hostwatt_command_",
        "selfmon, host::command: runs of external programs, labelled by `program`; one program (smartctl, zpool) can serve several collectors",
    ),
    ("hostwatt_build_info", "selfmon: the running version"),
    (
        "hostwatt_alerts_",
        "alerts::engine: the alert engine, which reads every collector",
    ),
    (
        "hostwatt_notify_",
        "notify: delivery of alert notifications to the receivers",
    ),
    (
        "hostwatt_history_",
        "history::record: the status page's history store",
    ),
];

/// The collector of `names` that `metric` belongs to by its prefix (`hostwatt_<name>_…`).
pub fn collector_of<'a>(metric: &str, names: &[&'a str]) -> Option<&'a str> {
    let rest = metric.strip_prefix("hostwatt_")?;
    names
        .iter()
        .copied()
        .filter(|n| rest.strip_prefix(n).is_some_and(|r| r.starts_with('_')))
        .max_by_key(|n| n.len())
}

/// Checks `metric` against the rule: exported by `collector` (`None`: by the daemon itself),
/// with `names` every collector's name. The error says what the name should start with.
pub fn check(metric: &str, collector: Option<&str>, names: &[&str]) -> Result<(), String> {
    match collector {
        Some(c) => {
            let prefix = format!("hostwatt_{c}_");
            if metric.starts_with(&prefix) {
                Ok(())
            } else {
                Err(format!(
                    "{metric} is exported by the {c} collector: it must start with {prefix}"
                ))
            }
        }
        None => match collector_of(metric, names) {
            Some(c) => Err(format!(
                "{metric} is the daemon's but has the prefix of the {c} collector"
            )),
            None if DAEMON_PREFIXES.iter().any(|(p, _)| metric.starts_with(p)) => Ok(()),
            None => Err(format!(
                "{metric} is the daemon's: it must start with one of metrics::names::DAEMON_PREFIXES"
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::{FAMILIES, NAMES};
    use crate::metrics::Family;

    /// The families the daemon exports beside its collectors'.
    fn daemon_families() -> Vec<&'static Family> {
        use crate::metrics::Render;
        let mut out = crate::metrics::selfmon::FAMILIES.to_vec();
        out.extend(crate::notify::FAMILIES);
        out.extend(<crate::alerts::engine::Snapshot as Render>::FAMILIES);
        out.extend(<crate::history::record::Snapshot as Render>::FAMILIES);
        out
    }

    #[test]
    fn every_collector_family_starts_with_its_collector_name() {
        let bad: Vec<String> = FAMILIES
            .iter()
            .flat_map(|(c, fams)| fams.iter().map(move |f| check(f.name, Some(c), NAMES)))
            .filter_map(Result::err)
            .collect();
        assert!(bad.is_empty(), "{bad:#?}");
        assert_eq!(
            FAMILIES.iter().map(|(c, _)| *c).collect::<Vec<_>>(),
            NAMES,
            "one entry per collector of list!"
        );
    }

    #[test]
    fn every_daemon_family_has_a_daemon_prefix() {
        let bad: Vec<String> = daemon_families()
            .iter()
            .map(|f| check(f.name, None, NAMES))
            .filter_map(Result::err)
            .collect();
        assert!(bad.is_empty(), "{bad:#?}");
    }

    #[test]
    fn no_collector_is_named_after_a_daemon_prefix() {
        for c in NAMES {
            let own = format!("hostwatt_{c}_");
            for (p, _) in DAEMON_PREFIXES {
                assert!(
                    !own.starts_with(p) && !p.starts_with(&own),
                    "collector {c} clashes with the daemon prefix {p}"
                );
            }
        }
    }

    #[test]
    fn the_rule_rejects_names_that_break_it() {
        // the names edac, meters and advisor exported before the rule
        assert_eq!(
            check("hostwatt_memory_ecc_present", Some("edac"), NAMES),
            Err(
                "hostwatt_memory_ecc_present is exported by the edac collector: it must start with hostwatt_edac_"
                    .into()
            )
        );
        assert!(check("hostwatt_meter_up", Some("meters"), NAMES).is_err());
        assert!(check("hostwatt_advice_active", Some("advisor"), NAMES).is_err());
        assert!(check("hostwatt_smart_power_mode", Some("smart"), NAMES).is_ok());
        // a daemon metric may not look like a collector's, nor go without a listed prefix
        assert!(check("hostwatt_smart_runs_total", None, NAMES).is_err());
        assert!(check("hostwatt_scrape_seconds", None, NAMES).is_err());
        assert!(check("hostwatt_command_runs_total", None, NAMES).is_ok());
    }

    #[test]
    fn collector_of_needs_the_whole_name_and_an_underscore() {
        assert_eq!(
            collector_of("hostwatt_cpuidle_state_time_seconds_total", NAMES),
            Some("cpuidle")
        );
        assert_eq!(collector_of("hostwatt_smartx_y", NAMES), None);
        assert_eq!(collector_of("hostwatt_meter_up", NAMES), None);
        assert_eq!(collector_of("node_smart_x", NAMES), None);
    }

    /// Every family in the golden expositions is a known one and keeps the rule: a name a
    /// collector pushes without declaring it, or an old name left in a golden, fails here.
    #[test]
    fn golden_expositions_keep_the_rule() {
        let cases = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
        let daemon: Vec<&str> = daemon_families().iter().map(|f| f.name).collect();
        let mut seen = 0;
        let mut bad = Vec::new();
        for entry in std::fs::read_dir(&cases).expect("tests/cases") {
            let path = entry.expect("case dir").path().join("expected.prom");
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            for name in text
                .lines()
                .filter_map(|l| l.strip_prefix("# TYPE "))
                .filter_map(|l| l.split_whitespace().next())
            {
                seen += 1;
                let owner = collector_of(name, NAMES);
                let declared = match owner {
                    Some(c) => FAMILIES
                        .iter()
                        .any(|(n, fams)| *n == c && fams.iter().any(|f| f.name == name)),
                    None => daemon.contains(&name),
                };
                if !declared || check(name, owner, NAMES).is_err() {
                    bad.push(format!("{}: {name}", path.display()));
                }
            }
        }
        assert!(seen > 100, "only {seen} families in the goldens");
        assert!(bad.is_empty(), "{bad:#?}");
    }
}
