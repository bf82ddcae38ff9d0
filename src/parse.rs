//! `ParseError`, the error of every pure `parse_*` function. It carries no path: the caller,
//! who knows where the text came from, adds it. And `interval`, the one duration type, parsed from
//! humantime text: it sits here, below every part, so the parts that take durations (collectors,
//! alerts, notify, history) need not import `config`, which composes their sections.

pub mod interval;

pub use interval::Interval;

/// Text that did not have the expected shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}, line {line}: {reason}")]
pub struct ParseError {
    /// What was being parsed (`"zpool list"`, `"hwmon value"`).
    pub what: &'static str,
    /// 1-based line number in the parsed text (1 for single-value files).
    pub line: usize,
    /// What was wrong.
    pub reason: String,
}

impl ParseError {
    /// An error at `line` of `what`. A reason longer than [`REASON_MAX`] bytes is cut there (at a
    /// character boundary) and says how long it was: reasons quote the offending text, and a
    /// garbage file must not become a 156 KB log line.
    pub fn at(what: &'static str, line: usize, reason: impl Into<String>) -> Self {
        Self {
            what,
            line,
            reason: cut(reason.into()),
        }
    }
}

/// The longest reason kept whole, in bytes.
pub const REASON_MAX: usize = 160;

fn cut(text: String) -> String {
    one_line(&text, REASON_MAX)
}

/// `text` as one log line: line breaks and other control characters escaped as Rust does
/// (`\n`, `\u{1b}`), so a journal never splits a program's multi-line message; then cut after
/// `max` bytes at a character boundary, saying how long the text was. Leading and trailing
/// whitespace is dropped.
pub fn one_line(text: &str, max: usize) -> String {
    let total = text.len();
    let text = text.trim();
    let mut out = String::with_capacity(text.len().min(max) + 24);
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
        if out.len() > max {
            let mut end = max;
            while !out.is_char_boundary(end) {
                end -= 1;
            }
            out.truncate(end);
            out.push_str(&format!("... ({total} bytes)"));
            break;
        }
    }
    out
}

/// Parses a trimmed decimal integer that may be negative (hwmon temperatures are).
pub fn parse_i64(what: &'static str, text: &str) -> Result<i64, ParseError> {
    let t = text.trim();
    t.parse::<i64>()
        .map_err(|_| ParseError::at(what, 1, format!("not an integer: {t:?}")))
}

/// Parses a trimmed unsigned decimal integer.
pub fn parse_u64(what: &'static str, text: &str) -> Result<u64, ParseError> {
    let t = text.trim();
    t.parse::<u64>()
        .map_err(|_| ParseError::at(what, 1, format!("not an unsigned integer: {t:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_garbage_with_line_and_reason() {
        assert_eq!(
            parse_u64("energy_uj", "12x").unwrap_err().to_string(),
            "energy_uj, line 1: not an unsigned integer: \"12x\""
        );
        assert_eq!(parse_i64("temp", " -5000\n"), Ok(-5000));
        assert!(parse_u64("x", "").is_err());
    }

    #[test]
    fn a_multi_line_message_is_one_line() {
        let zpool =
            "connect: Connection refused\nPlease make sure the zfs-fuse daemon is running.\n";
        assert_eq!(
            one_line(zpool, 160),
            "connect: Connection refused\\nPlease make sure the zfs-fuse daemon is running."
        );
        assert_eq!(one_line("a\r\n\tb\u{1b}[0m", 160), "a\\r\\n\\tb\\u{1b}[0m");
        let e = ParseError::at("zpool list", 2, "not a size: \"x\ny\"");
        assert_eq!(e.to_string(), "zpool list, line 2: not a size: \"x\\ny\"");
        assert_eq!(one_line("abcdef\n", 3), "abc... (7 bytes)");
    }

    #[test]
    fn cuts_echoed_garbage_to_a_short_prefix() {
        let garbage = "é".repeat(80_000);
        let e = parse_u64("hwmon value", &garbage).unwrap_err();
        let shown = format!("not an unsigned integer: \"{}", "é".repeat(67));
        // 26 bytes of prefix, 160,000 of text, the closing quote
        assert_eq!(e.reason, format!("{shown}... (160027 bytes)"));
        assert!(e.to_string().len() < 200, "{}", e.to_string().len());
    }
}
