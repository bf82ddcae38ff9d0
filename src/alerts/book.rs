//! The alert state machine: pure `advance` over (book, observations, now).
//!
//! inactive → pending (the firing condition holds) → firing (it held for `for`) → resolved (the
//! hysteresis condition no longer holds). A pending alert whose condition stops holding is
//! dropped silently, as in Prometheus. Notifications: on firing, every `repeat_interval` while
//! firing, and on resolving. The book is what `alerts.json` persists: after a restart a firing
//! alert is still firing and its last notification time is known, so nothing is re-sent.
//!
//! Missing data is not a cleared condition: the alerts of a *held* rule (one whose collectors
//! have not reported since start, or whose last round failed) keep their state, so a restart
//! does not resolve and re-fire everything before the first SMART or ZFS round is in.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::eval::Observation;
use super::rules::{Rule, expand_template};
use super::{Alert, Notification, Reason, State};

/// One alert the engine tracks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tracked {
    /// The alert as of the last evaluation.
    pub alert: Alert,
    /// Unix time of the last Firing/Repeat notification.
    pub last_notified: Option<f64>,
}

/// Every pending, firing and recently resolved alert, by fingerprint.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Book {
    /// Alerts by `Alert::fingerprint`.
    pub alerts: BTreeMap<String, Tracked>,
}

/// Timing settings of the engine.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Seconds between repeat notifications of a firing alert.
    pub repeat_interval: f64,
    /// Seconds a resolved alert stays in the book.
    pub keep_resolved: f64,
}

/// What one `advance` did.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Notifications to send, in rule order.
    pub notifications: Vec<Notification>,
    /// Whether any alert changed state (the book is then worth saving).
    pub changed: bool,
}

/// Fills a rule template: `{label}`, `{value}`, `{value:percent}`, `{value:duration}`,
/// `{threshold}`. An unknown placeholder is left as written.
pub fn fill(template: &str, labels: &BTreeMap<String, String>, value: f64, rule: &Rule) -> String {
    expand_template(template, |key| match key {
        "value" => Some(number(value)),
        "value:percent" => Some(format!("{} %", number(value * 100.0))),
        "value:duration" => Some(span_text(value)),
        "threshold" => Some(number(rule.threshold.unwrap_or(0.0))),
        label => labels.get(label).cloned(),
    })
}

/// A duration in seconds for people: `40 days`, `3h 5m`, `12m`, `30s`.
pub fn span_text(secs: f64) -> String {
    let s = secs.max(0.0) as u64;
    match s {
        s if s >= 2 * 86_400 => format!("{} days", s / 86_400),
        s if s >= 3600 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        s if s >= 60 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// At most 4 significant digits, no trailing zeros.
fn number(x: f64) -> String {
    if x == x.trunc() && x.abs() < 1e15 {
        return format!("{x:.0}");
    }
    let digits = (3 - x.abs().log10().floor() as i32).clamp(0, 6) as usize;
    let s = format!("{x:.digits$}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

fn alert_of(rule: &Rule, obs: &Observation, now: f64) -> Alert {
    Alert {
        name: rule.name.to_owned(),
        severity: rule.severity,
        labels: obs.labels.clone(),
        summary: fill(rule.summary, &obs.labels, obs.value, rule),
        description: fill(rule.description, &obs.labels, obs.value, rule),
        state: State::Pending,
        value: obs.value,
        active_since: now,
        resolved_at: None,
    }
}

/// Advances `book` by one evaluation at unix time `now`. `results` holds every evaluated
/// (enabled) rule with its observations; alerts of rules not in it resolve.
pub fn advance(
    book: &mut Book,
    results: &[(&Rule, Vec<Observation>)],
    now: f64,
    timing: Timing,
) -> Outcome {
    advance_holding(book, results, &[], now, timing)
}

/// [`advance`], where the alerts of the rules named in `held` (whose input data is not known)
/// that have no observation keep their state: nothing resolves or is dropped for lack of data.
/// An observation of a held rule still counts (it can make an alert pending or firing).
pub fn advance_holding(
    book: &mut Book,
    results: &[(&Rule, Vec<Observation>)],
    held: &[&str],
    now: f64,
    timing: Timing,
) -> Outcome {
    let mut out = Outcome::default();
    let mut seen = Vec::new();
    for (rule, observations) in results {
        for obs in observations {
            let fresh = alert_of(rule, obs, now);
            let key = fresh.fingerprint();
            let state = book.alerts.get(&key).map(|t| t.alert.state);
            // hysteresis applies to firing alerts only: pending needs the threshold itself
            let holds = if state == Some(State::Firing) {
                obs.holds
            } else {
                obs.fires
            };
            if !holds {
                continue;
            }
            seen.push(key.clone());
            let t = match book.alerts.get_mut(&key) {
                Some(t) if t.alert.state != State::Resolved => t,
                _ => {
                    out.changed = true;
                    book.alerts.insert(
                        key.clone(),
                        Tracked {
                            alert: fresh.clone(),
                            last_notified: None,
                        },
                    );
                    book.alerts.get_mut(&key).expect("just inserted")
                }
            };
            // summary and value follow the series; state and times are the engine's
            t.alert.value = fresh.value;
            t.alert.summary = fresh.summary;
            t.alert.description = fresh.description;
            t.alert.severity = fresh.severity;
            match t.alert.state {
                State::Pending if now - t.alert.active_since >= rule.for_.as_secs_f64() => {
                    t.alert.state = State::Firing;
                    t.last_notified = Some(now);
                    out.changed = true;
                    out.notifications.push(Notification {
                        alert: t.alert.clone(),
                        reason: Reason::Firing,
                    });
                }
                State::Firing
                    if t.last_notified
                        .is_none_or(|n| now - n >= timing.repeat_interval) =>
                {
                    t.last_notified = Some(now);
                    out.changed = true;
                    out.notifications.push(Notification {
                        alert: t.alert.clone(),
                        reason: Reason::Repeat,
                    });
                }
                _ => {}
            }
        }
    }
    book.alerts.retain(|key, t| {
        if seen.contains(key) || held.contains(&t.alert.name.as_str()) {
            return true;
        }
        match t.alert.state {
            State::Pending => {
                out.changed = true;
                false
            }
            State::Firing => {
                t.alert.state = State::Resolved;
                t.alert.resolved_at = Some(now);
                out.changed = true;
                out.notifications.push(Notification {
                    alert: t.alert.clone(),
                    reason: Reason::Resolved,
                });
                true
            }
            State::Resolved => {
                let keep = t
                    .alert
                    .resolved_at
                    .is_some_and(|r| now - r < timing.keep_resolved);
                out.changed |= !keep;
                keep
            }
        }
    });
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::alerts::eval::tests::{CAP, families, rule};
    use crate::alerts::eval::{History, evaluate};

    const TIMING: Timing = Timing {
        repeat_interval: 4.0 * 3600.0,
        keep_resolved: 86_400.0,
    };

    /// Feeds `(minute, capacity of tank)` to ZfsPoolCapacityHigh (for 15m, 0.80 / clear 0.78)
    /// and returns (minute, reason) of every notification.
    fn run(book: &mut Book, seq: &[(u32, f64)]) -> Vec<(u32, Reason)> {
        let r = rule("ZfsPoolCapacityHigh");
        let mut h = History::default();
        let mut sent = Vec::new();
        for &(min, cap) in seq {
            let now = 1_700_000_000.0 + f64::from(min) * 60.0;
            let fams = families(|f| f.push(&CAP, &["tank"], cap));
            let obs = evaluate(&r, &fams, now, &mut h);
            let o = advance(book, &[(&r, obs)], now, TIMING);
            sent.extend(o.notifications.into_iter().map(|n| (min, n.reason)));
        }
        sent
    }

    fn state(book: &Book) -> Option<State> {
        book.alerts.values().next().map(|t| t.alert.state)
    }

    #[test]
    fn fires_only_after_for() {
        let mut book = Book::default();
        assert_eq!(run(&mut book, &[(0, 0.85), (10, 0.85)]), []);
        assert_eq!(state(&book), Some(State::Pending));
        assert_eq!(run(&mut book, &[(15, 0.86)]), [(15, Reason::Firing)]);
        let t = book.alerts.values().next().unwrap();
        assert_eq!(t.alert.summary, "pool tank is 86 % full");
        assert_eq!(t.alert.labels["pool"], "tank");
        assert_eq!(t.alert.active_since, 1_700_000_000.0);
    }

    #[test]
    fn a_pending_alert_that_clears_is_dropped_silently() {
        let mut book = Book::default();
        assert_eq!(
            run(&mut book, &[(0, 0.85), (5, 0.79), (10, 0.85), (20, 0.85)]),
            []
        );
        assert_eq!(
            state(&book),
            Some(State::Pending),
            "for restarted at minute 10"
        );
        assert_eq!(run(&mut book, &[(25, 0.85)]), [(25, Reason::Firing)]);
    }

    #[test]
    fn does_not_flap_at_the_threshold_then_resolves_past_clear() {
        let mut book = Book::default();
        let mut seq = vec![(0, 0.85), (15, 0.85)];
        // hovering around 0.80: below the threshold, above clear
        seq.extend((16..60).map(|m| (m, if m % 2 == 0 { 0.79 } else { 0.81 })));
        assert_eq!(run(&mut book, &seq), [(15, Reason::Firing)]);
        assert_eq!(run(&mut book, &[(61, 0.775)]), [(61, Reason::Resolved)]);
        assert_eq!(state(&book), Some(State::Resolved));
        assert_eq!(
            book.alerts.values().next().unwrap().alert.resolved_at,
            Some(1_700_000_000.0 + 61.0 * 60.0)
        );
        // a resolved alert needs the full threshold and `for` again
        assert_eq!(
            run(&mut book, &[(62, 0.79), (63, 0.81), (78, 0.81)]),
            [(78, Reason::Firing)]
        );
        assert_eq!(
            book.alerts.values().next().unwrap().alert.active_since,
            1_700_000_000.0 + 63.0 * 60.0
        );
    }

    #[test]
    fn repeats_while_firing() {
        let mut book = Book::default();
        let seq: Vec<(u32, f64)> = (0..=15 + 8 * 60).step_by(5).map(|m| (m, 0.9)).collect();
        assert_eq!(
            run(&mut book, &seq),
            [
                (15, Reason::Firing),
                (255, Reason::Repeat),
                (495, Reason::Repeat)
            ]
        );
    }

    #[test]
    fn survives_a_restart_without_renotifying() {
        let mut book = Book::default();
        assert_eq!(
            run(&mut book, &[(0, 0.9), (15, 0.9)]),
            [(15, Reason::Firing)]
        );
        let saved = serde_json::to_string(&book).unwrap();
        let mut restored: Book = serde_json::from_str(&saved).unwrap();
        assert_eq!(restored, book);
        assert_eq!(run(&mut restored, &[(20, 0.9), (30, 0.9)]), []);
        assert_eq!(run(&mut restored, &[(40, 0.5)]), [(40, Reason::Resolved)]);
        // it resolved while the daemon was down: the first evaluation after the restart says so
        let mut down: Book = serde_json::from_str(&saved).unwrap();
        assert_eq!(run(&mut down, &[(300, 0.5)]), [(300, Reason::Resolved)]);
    }

    #[test]
    fn for_zero_fires_at_once_and_resolved_alerts_expire() {
        let mut book = Book::default();
        let mut r = rule("ZfsPoolCapacityHigh");
        r.for_ = Duration::ZERO;
        let obs = |v: f64| {
            let fams = families(|f| f.push(&CAP, &["tank"], v));
            evaluate(&r, &fams, 0.0, &mut History::default())
        };
        let o = advance(&mut book, &[(&r, obs(0.9))], 0.0, TIMING);
        assert_eq!(o.notifications.len(), 1);
        assert!(o.changed);
        let o = advance(&mut book, &[(&r, obs(0.9))], 60.0, TIMING);
        assert!(
            !o.changed && o.notifications.is_empty(),
            "nothing to save on a steady state"
        );
        advance(&mut book, &[(&r, obs(0.1))], 120.0, TIMING);
        advance(&mut book, &[(&r, obs(0.1))], 120.0 + 86_000.0, TIMING);
        assert_eq!(book.alerts.len(), 1);
        let o = advance(&mut book, &[(&r, obs(0.1))], 120.0 + 86_400.0, TIMING);
        assert!(book.alerts.is_empty() && o.changed);
    }

    #[test]
    fn a_rule_that_is_gone_resolves_its_alerts() {
        let mut book = Book::default();
        run(&mut book, &[(0, 0.9), (15, 0.9)]);
        let o = advance(&mut book, &[], 1_700_000_000.0 + 20.0 * 60.0, TIMING);
        assert_eq!(o.notifications.len(), 1);
        assert_eq!(o.notifications[0].reason, Reason::Resolved);
    }

    #[test]
    fn fills_templates() {
        let r = rule("ZfsScrubOverdue");
        let labels = [("pool".to_owned(), "tank".to_owned())].into();
        assert_eq!(
            fill(r.summary, &labels, 40.0 * 86_400.0, &r),
            "pool tank was last scrubbed 40 days ago"
        );
        assert_eq!(
            fill("{nope} {value} {threshold}", &labels, 0.123456, &r),
            "{nope} 0.1235 3024000"
        );
        assert_eq!(number(52.0), "52");
        assert_eq!(number(85.999), "86");
        assert_eq!(number(1.5), "1.5");
    }

    #[test]
    fn a_held_rule_keeps_its_alerts_until_its_data_is_known() {
        let mut book = Book::default();
        assert_eq!(
            run(&mut book, &[(0, 0.9), (15, 0.9)]),
            [(15, Reason::Firing)]
        );
        let r = rule("ZfsPoolCapacityHigh");
        let now = 1_700_000_000.0 + 16.0 * 60.0;
        // no observation (the zfs collector has not reported yet): held, nothing changes
        let o = advance_holding(&mut book, &[(&r, Vec::new())], &[r.name], now, TIMING);
        assert!(o.notifications.is_empty() && !o.changed);
        assert_eq!(state(&book), Some(State::Firing));
        // known and absent: the pool is gone, the alert resolves
        let o = advance_holding(&mut book, &[(&r, Vec::new())], &[], now + 60.0, TIMING);
        let reasons: Vec<Reason> = o.notifications.iter().map(|n| n.reason).collect();
        assert_eq!(reasons, [Reason::Resolved]);
    }
}
