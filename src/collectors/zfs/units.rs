//! Number formats zpool prints: exact integers (`-p`), human sizes (`1.81T`, `42.1M`, `0B`;
//! powers of 1024, as `zfs_nicenum` prints them), percentages (`8%`), dedup ratios (`1.83x`),
//! `-` for unknown, durations (`00:00:19`, `1 days 02:03:04`, `7h7m`) and ctime dates
//! (`Mon Nov 23 20:10:47 2026`).

use crate::parse::ParseError;

/// A size or count: an integer, or a number with a K/M/G/T/P/E suffix (optionally followed by
/// `B`), in powers of 1024. `-` is unknown (`None`).
pub fn parse_size(what: &'static str, line: usize, s: &str) -> Result<Option<u64>, ParseError> {
    let s = s.trim();
    if s == "-" || s.is_empty() {
        return Ok(None);
    }
    if let Ok(v) = s.parse::<u64>() {
        return Ok(Some(v));
    }
    let bad = || ParseError::at(what, line, format!("not a size: {s:?}"));
    let body = s
        .strip_suffix("iB")
        .or_else(|| s.strip_suffix('B'))
        .unwrap_or(s);
    let (num, exp) = match body.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let exp = match c.to_ascii_uppercase() {
                'K' => 1,
                'M' => 2,
                'G' => 3,
                'T' => 4,
                'P' => 5,
                'E' => 6,
                _ => return Err(bad()),
            };
            (&body[..i], exp)
        }
        _ => (body, 0),
    };
    let v: f64 = num.parse().map_err(|_| bad())?;
    if !v.is_finite() || v < 0.0 {
        return Err(bad());
    }
    Ok(Some((v * 1024f64.powi(exp)).round() as u64))
}

/// A non-negative number with an optional `suffix`, divided by `scale`; `-` is unknown.
fn parse_suffixed(
    what: &'static str,
    line: usize,
    s: &str,
    suffix: char,
    scale: f64,
    kind: &str,
) -> Result<Option<f64>, ParseError> {
    let s = s.trim();
    if s == "-" || s.is_empty() {
        return Ok(None);
    }
    let num = s.strip_suffix(suffix).unwrap_or(s);
    num.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)
        .map(|v| Some(v / scale))
        .ok_or_else(|| ParseError::at(what, line, format!("not a {kind}: {s:?}")))
}

/// A percentage (`8%` or, with `-p`, `8`) as a 0-1 ratio; `-` is unknown.
pub fn parse_percent(what: &'static str, line: usize, s: &str) -> Result<Option<f64>, ParseError> {
    parse_suffixed(what, line, s, '%', 100.0, "percentage")
}

/// A dedup ratio (`1.83x`, or `1.00` with `-p`); `-` is unknown.
pub fn parse_ratio(what: &'static str, line: usize, s: &str) -> Result<Option<f64>, ParseError> {
    parse_suffixed(what, line, s, 'x', 1.0, "ratio")
}

/// A duration as zpool prints it: `HH:MM:SS`, `N days HH:MM:SS`, or the old `7h7m` / `29h37m`
/// / `0h2m`.
pub fn parse_duration(s: &str) -> Option<u64> {
    let s = s.trim();
    let (days, clock) = match s.split_once(" days ") {
        Some((d, rest)) => (d.trim().parse::<u64>().ok()?, rest.trim()),
        None => (0, s),
    };
    let secs = if clock.contains(':') {
        let parts: Vec<u64> = clock
            .split(':')
            .map(|p| p.parse::<u64>().ok())
            .collect::<Option<_>>()?;
        match parts[..] {
            [h, m, s] => h * 3600 + m * 60 + s,
            [m, s] => m * 60 + s,
            _ => return None,
        }
    } else {
        let mut total = 0;
        let mut num = String::new();
        for c in clock.chars() {
            if c.is_ascii_digit() {
                num.push(c);
                continue;
            }
            let n: u64 = num.parse().ok()?;
            num.clear();
            total += n * match c {
                'd' => 86400,
                'h' => 3600,
                'm' => 60,
                's' => 1,
                _ => return None,
            };
        }
        if !num.is_empty() {
            return None;
        }
        total
    };
    Some(days * 86400 + secs)
}

/// A ctime date (`Mon Nov 23 20:10:47 2026`, `Sun Jan  8 07:07:22 2017`) as a Unix timestamp.
/// zpool prints local time (ctime()); it is read as UTC, which is right because hostwatt runs
/// every program with `TZ=UTC0` (`host::command`). A capture from a host outside UTC, replayed,
/// is off by that host's offset.
pub fn parse_ctime(s: &str) -> Option<i64> {
    let f: Vec<&str> = s.split_whitespace().collect();
    let [_dow, mon, day, hms, year] = f[..] else {
        return None;
    };
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| *m == mon)? as i64
        + 1;
    let day: i64 = day.parse().ok()?;
    let year: i64 = year.parse().ok()?;
    let hms: Vec<i64> = hms
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let [h, m, sec] = hms[..] else { return None };
    if !(1..=31).contains(&day) || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86400 + h * 3600 + m * 60 + sec)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_human_units() {
        let p = |s| parse_size("t", 1, s).unwrap();
        assert_eq!(p("1.81T"), Some((1.81 * 1024f64.powi(4)).round() as u64));
        assert_eq!(p("370M"), Some(370 * 1024 * 1024));
        assert_eq!(p("1.11M"), Some(1_163_919));
        assert_eq!(p("0B"), Some(0));
        assert_eq!(p("0"), Some(0));
        assert_eq!(p("12K"), Some(12_288));
        assert_eq!(p("2952790016"), Some(2_952_790_016));
        assert_eq!(p("-"), None);
        assert!(parse_size("t", 3, "1.2Q").is_err());
        assert!(parse_size("t", 3, "abc").is_err());
        assert_eq!(
            parse_size("zpool list", 3, "x").unwrap_err().to_string(),
            "zpool list, line 3: not a size: \"x\""
        );
        assert_eq!(parse_percent("t", 1, "8%").unwrap(), Some(0.08));
        assert_eq!(parse_percent("t", 1, "81").unwrap(), Some(0.81));
        assert_eq!(parse_percent("t", 1, "-").unwrap(), None);
        assert!(parse_percent("t", 1, "x%").is_err());
        assert_eq!(parse_ratio("t", 1, "1.83x").unwrap(), Some(1.83));
        assert_eq!(parse_ratio("t", 1, "1.00").unwrap(), Some(1.0));
    }

    #[test]
    fn parses_durations_and_dates() {
        assert_eq!(parse_duration("00:00:19"), Some(19));
        assert_eq!(parse_duration("11:16:03"), Some(40_563));
        assert_eq!(parse_duration("1 days 02:00:00"), Some(93_600));
        assert_eq!(parse_duration("7h7m"), Some(25_620));
        assert_eq!(parse_duration("0h2m"), Some(120));
        assert_eq!(parse_duration("<snip>"), None);
        assert_eq!(parse_ctime("Thu Jan  1 00:00:00 1970"), Some(0));
        // the lab's JSON end_time of the same resilver
        assert_eq!(parse_ctime("Mon Nov 23 20:05:55 2026"), Some(1_795_464_355));
        assert_eq!(parse_ctime("Sun Jan  8 07:07:22 2017"), Some(1_483_859_242));
        assert_eq!(parse_ctime("garbage"), None);
    }
}
