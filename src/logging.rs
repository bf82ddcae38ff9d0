//! Logging that can never take the daemon down: `--log-level` names, colour only on a terminal,
//! and a stderr writer that drops lines it cannot write.
//!
//! When stderr is a pipe whose reader went away (a closed terminal, `2>&1 | head`, a restarted
//! log shipper), every write fails with `EPIPE`. tracing-subscriber then reports the failure with
//! `eprintln!`, which panics on the same closed pipe: exit 101, and the shutdown state save never
//! runs. [`Stderr`] reports success for every write instead; a log line nobody can read is lost,
//! the daemon is not.

use std::io::{self, IsTerminal, Write};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// The levels `--log-level` accepts, with the usual other names for them.
const LEVELS: &[(&str, &str)] = &[
    ("off", "off"),
    ("error", "error"),
    ("err", "error"),
    ("warn", "warn"),
    ("warning", "warn"),
    ("info", "info"),
    ("debug", "debug"),
    ("verbose", "debug"),
    ("trace", "trace"),
];

/// `--log-level` → a tracing filter. A bare word must be a level name (`warning` and `verbose`
/// are accepted as `warn` and `debug`; case is ignored); anything with `=` or `,` is a tracing
/// filter (`hostwatt=debug,hyper=warn`), checked as such.
///
/// # Errors
/// An unknown level name or an invalid filter, in a sentence that lists the level names.
pub fn filter(level: &str) -> Result<EnvFilter, String> {
    let names = "off, error, warn (warning), info, debug (verbose), trace";
    let word = level.trim().to_ascii_lowercase();
    if let Some((_, canonical)) = LEVELS.iter().find(|(name, _)| *name == word) {
        return Ok(EnvFilter::new(*canonical));
    }
    if !level.contains(['=', ',']) {
        return Err(format!(
            "--log-level: unknown level {level:?} (one of {names}, or a tracing filter such as hostwatt=debug)"
        ));
    }
    EnvFilter::try_new(level)
        .map_err(|e| format!("--log-level: invalid filter {level:?}: {e} (levels: {names})"))
}

/// Whether log lines get ANSI colour: only when stderr is a terminal and `NO_COLOR` is unset or
/// empty (<https://no-color.org>). Pipes, files and the journal get plain text.
pub fn colour(stderr_is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    stderr_is_terminal && no_color.is_none_or(|v| v.is_empty())
}

/// Stderr for log lines; a failed write (closed pipe, full disk) is dropped, never reported.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stderr;

impl Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let _ = io::stderr().write_all(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        let _ = io::stderr().flush();
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Stderr {
    type Writer = Stderr;

    fn make_writer(&'a self) -> Self::Writer {
        *self
    }
}

/// Installs the global subscriber: `filter`, [`Stderr`], colour per [`colour`], no timestamps
/// under journald (it stamps every line itself).
pub fn init(filter: EnvFilter) {
    let ansi = colour(
        io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    );
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(Stderr)
        .with_ansi(ansi)
        .log_internal_errors(false);
    if std::env::var_os("JOURNAL_STREAM").is_some() {
        builder.without_time().init();
    } else {
        builder.init();
    }
}

/// Writes `text` to stdout. A reader that went away (`hostwatt once | head -2`) is not an
/// error: `Ok(false)` tells the caller to stop quietly. Other errors are returned.
///
/// # Errors
/// Any write error but a broken pipe.
pub fn print(text: &str) -> io::Result<bool> {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn accepts_usual_level_names_and_refuses_unknown_ones() {
        for (given, want) in [
            ("warning", "warn"),
            ("WARN", "warn"),
            ("verbose", "debug"),
            ("err", "error"),
            ("info", "info"),
            ("hostwatt=debug,hyper=warn", "hostwatt=debug,hyper=warn"),
        ] {
            assert_eq!(filter(given).unwrap().to_string(), want, "{given}");
        }
        let e = filter("loud").unwrap_err();
        assert!(
            e.starts_with("--log-level: unknown level \"loud\" (one of off, error, warn (warning)"),
            "{e}"
        );
        let e = filter("hostwatt=loud").unwrap_err();
        assert!(
            e.starts_with("--log-level: invalid filter \"hostwatt=loud\""),
            "{e}"
        );
    }

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(colour(true, None));
        assert!(colour(true, Some(OsStr::new(""))));
        assert!(!colour(true, Some(OsStr::new("1"))));
        assert!(!colour(false, None));
    }
}
