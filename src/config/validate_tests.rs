use super::*;
use crate::config::{Overrides, resolve};

fn err(text: &str) -> String {
    resolve("/etc/hostwatt/hostwatt.toml", text, &Overrides::default())
        .unwrap_err()
        .to_string()
}

#[test]
fn a_ratio_written_as_a_percent_says_the_fix() {
    assert_eq!(
        err("[alerts.rules.ZfsPoolCapacityHigh]\nthreshold = 80\n"),
        "/etc/hostwatt/hostwatt.toml:2: alerts.rules.ZfsPoolCapacityHigh.threshold: 80 looks like a percent: write 0.8 (a ratio from 0 to 1)"
    );
    assert_eq!(
        err("[collectors.wall]\nidle_cpu_busy_below = 10\n"),
        "/etc/hostwatt/hostwatt.toml:2: collectors.wall.idle_cpu_busy_below: 10 looks like a percent: write 0.1 (a ratio from 0 to 1)"
    );
    assert_eq!(
        err("[collectors.wall]\nidle_cpu_busy_below = -0.1\n"),
        "/etc/hostwatt/hostwatt.toml:2: collectors.wall.idle_cpu_busy_below: -0.1 is not a ratio: write a value from 0 to 1"
    );
}

#[test]
fn negative_watts_and_prices_are_errors() {
    assert_eq!(
        err("[collectors.wall]\n\nbaseline_watts = -8\n"),
        "/etc/hostwatt/hostwatt.toml:3: collectors.wall.baseline_watts: -8 W is negative: write 0 or more watts"
    );
    assert_eq!(
        err("[collectors.wall]\nprice_per_kwh = -0.3\n"),
        "/etc/hostwatt/hostwatt.toml:2: collectors.wall.price_per_kwh: a price of -0.3 is negative: write 0 or more"
    );
    assert_eq!(
        err("[alerts.rules.HostIdlePowerHigh]\nthreshold = -5\nclear = -6\n"),
        "/etc/hostwatt/hostwatt.toml:2: alerts.rules.HostIdlePowerHigh.threshold: -5 W is negative: write 0 or more watts"
    );
}

#[test]
fn the_nth_array_entry_is_named_with_its_line() {
    let text = "[[collectors.wall.disk_models]]\nmodel = \"A\"\nactive_watts = 3.7\nidle_watts = 2.6\nstandby_watts = 0.5\n\n[[collectors.wall.disk_models]]\nmodel = \"B\"\nactive_watts = 3.7\nidle_watts = -2.6\nstandby_watts = 0.5\n";
    assert_eq!(
        err(text),
        "/etc/hostwatt/hostwatt.toml:10: collectors.wall.disk_models[1].idle_watts: -2.6 W is negative: write 0 or more watts"
    );
}

#[test]
fn a_rapl_interval_past_the_counter_wrap_is_an_error() {
    assert_eq!(
        err("[collectors.rapl]\ninterval = \"1d\"\n"),
        "/etc/hostwatt/hostwatt.toml:2: collectors.rapl.interval: \"1d\" is longer than RAPL's energy counter may take to wrap at full power (262 kJ at 300 W: about 14 minutes): write at most \"7m\""
    );
    resolve(
        "x",
        "[collectors.rapl]\ninterval = \"7m\"\n",
        &Overrides::default(),
    )
    .unwrap();
}

#[test]
fn type_errors_read_in_the_configs_words() {
    assert_eq!(
        err("[collectors.rapl]\ninterval = 15\n"),
        "/etc/hostwatt/hostwatt.toml:2: collectors.rapl.interval: interval must be a duration such as \"15s\" (in quotes), not integer 15"
    );
    assert_eq!(
        err("[collectors.wall]\nbaseline_watts = \"8W\"\n"),
        "/etc/hostwatt/hostwatt.toml:2: collectors.wall.baseline_watts: baseline_watts must be a number such as 0.5, not string \"8W\""
    );
    assert_eq!(
        reword(
            "collectors.rapl.enabled",
            "invalid type: string \"yes\", expected a boolean"
        ),
        "enabled must be true or false (no quotes), not string \"yes\""
    );
    assert_eq!(reword("a.b", "unknown field `x`"), "unknown field `x`");
}

#[test]
fn the_resolved_config_round_trips() {
    let cfg = resolve(
        crate::config::EMBEDDED_NAME,
        crate::config::EMBEDDED,
        &Overrides::default(),
    )
    .unwrap();
    let printed = toml::to_string(&cfg).unwrap();
    let again = resolve("printed", &printed, &Overrides::default())
        .unwrap_or_else(|e| panic!("{e}\n{printed}"));
    assert_eq!(toml::to_string(&again).unwrap(), printed);
    assert!(
        printed.starts_with("[daemon]\nlisten = \"0.0.0.0:9891\"\n"),
        "{printed}"
    );
}

#[test]
fn a_threshold_must_have_the_form_its_rule_compares() {
    // 35 meant days; taken as seconds, ZfsScrubOverdue fired on every pool at once
    assert_eq!(
        err("[alerts.rules.ZfsScrubOverdue]\nthreshold = 35\n"),
        "/etc/hostwatt/hostwatt.toml:2: alerts.rules.ZfsScrubOverdue.threshold: 35 is 35 seconds; ZfsScrubOverdue compares an age: write a duration such as \"35d\""
    );
    assert_eq!(
        err("[alerts.rules.DiskTemperatureHigh]\nthreshold = \"55s\"\n"),
        "/etc/hostwatt/hostwatt.toml:2: alerts.rules.DiskTemperatureHigh.threshold: \"55s\" is a duration; DiskTemperatureHigh compares a number: write it without quotes"
    );
    // 3024000.0 is "35d" as check-config prints it resolved: its output loads again
    for ok in ["threshold = \"35d\"", "threshold = 3024000.0"] {
        let text = format!(
            "[alerts.rules.ZfsScrubOverdue]\n{ok}\n[alerts.rules.DiskTemperatureHigh]\nthreshold = 55\n"
        );
        resolve("x", &text, &Overrides::default()).unwrap();
    }
}

#[test]
fn a_missing_key_is_blamed_on_its_table_line() {
    // was "/etc/hostwatt/hostwatt.toml:collectors.wall.psu.profile: …", with no line at all
    assert_eq!(
        err("[daemon]\n\n[collectors.wall.psu]  # the box's PSU\nrated_watts = 300\n"),
        "/etc/hostwatt/hostwatt.toml:3: collectors.wall.psu.profile: give a profile (e.g. \"gold\") or measured points"
    );
}

/// Every setting a user writes survives `check-config`'s print: `[history]` and
/// `max_connections` were once left out, so a printed config silently fell back to defaults.
#[test]
fn the_resolved_config_keeps_history_and_max_connections() {
    let text = "[daemon]\nmax_connections = 7\n\n[history]\nenabled = false\ninterval = \"30s\"\nflush_interval = \"5m\"\nmax_size_mb = 9\n";
    let cfg = resolve("mine.toml", text, &Overrides::default()).unwrap();
    let printed = toml::to_string(&cfg).unwrap();
    let again = resolve("printed", &printed, &Overrides::default())
        .unwrap_or_else(|e| panic!("{e}\n{printed}"));
    assert_eq!(again.max_connections, 7, "{printed}");
    assert_eq!(again.history, cfg.history, "{printed}");
    assert!(!again.history.enabled);
    assert_eq!(again.history.max_size_mb, 9);
}

#[test]
fn a_zero_history_size_cap_is_refused() {
    assert_eq!(
        err("[history]\nmax_size_mb = 0\n"),
        "/etc/hostwatt/hostwatt.toml:2: history.max_size_mb: must be at least 1 (to keep no history, set enabled = false)"
    );
}
