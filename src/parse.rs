//! `ParseError`, the error of every pure `parse_*` function. It carries no path: the caller,
//! who knows where the text came from, adds it.

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

fn cut(mut text: String) -> String {
    if text.len() <= REASON_MAX {
        return text;
    }
    let total = text.len();
    let mut end = REASON_MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push_str(&format!("... ({total} bytes)"));
    text
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
    fn cuts_echoed_garbage_to_a_short_prefix() {
        let garbage = "é".repeat(80_000);
        let e = parse_u64("hwmon value", &garbage).unwrap_err();
        let shown = format!("not an unsigned integer: \"{}", "é".repeat(67));
        // 26 bytes of prefix, 160,000 of text, the closing quote
        assert_eq!(e.reason, format!("{shown}... (160027 bytes)"));
        assert!(e.to_string().len() < 200, "{}", e.to_string().len());
    }
}
