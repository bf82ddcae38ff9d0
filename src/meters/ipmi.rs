//! A BMC's DCMI power reading: `ipmitool [args...] dcmi power reading`, through the `Runner`.
//!
//! ipmitool prints (ipmitool `lib/ipmi_dcmi.c`):
//! ```text
//!     Instantaneous power reading:                    45 Watts
//!     Minimum during sampling period:                  2 Watts
//!     Maximum during sampling period:                300 Watts
//!     Average power reading over sample period:       48 Watts
//!     IPMI timestamp:                           Mon Mar 27 18:40:05 2023
//!     Sampling period:                          00000001 Seconds.
//!     Power reading state is:                   activated
//! ```
//! The instantaneous reading is the board's input (AC) power as the BMC measures it, in whole
//! watts. Some BMCs say `deactivated` yet report real values (power management off, metering
//! on), so `deactivated` is an error only when the reading is 0. No energy total.
//!
//! For a remote BMC, `args` such as `["-I", "lanplus", "-H", "bmc.lan", "-U", "admin",
//! "-f", "/etc/hostwatt/ipmi.pass"]`: give the password with `-f <file>`, never `-P`, which puts it
//! in the process list and in hostwatt's command logs.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{MeterError, Reading};
use crate::host::command::{Program, Runner};
use crate::parse::ParseError;

/// `[[meters]]` with `kind = "ipmi"`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// ipmitool's path (a bare name is looked up in a fixed PATH).
    #[serde(default = "default_ipmitool")]
    pub ipmitool: PathBuf,
    /// Arguments before `dcmi power reading` (interface, host, user, `-f` password file).
    #[serde(default)]
    pub args: Vec<String>,
}

fn default_ipmitool() -> PathBuf {
    PathBuf::from("ipmitool")
}

const WHAT: &str = "ipmitool dcmi power reading";

/// Parses `ipmitool dcmi power reading` output.
pub fn parse_power_reading(text: &str) -> Result<Reading, MeterError> {
    let mut watts = None;
    let mut deactivated = false;
    for (i, line) in text.lines().enumerate() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        match key.trim() {
            "Instantaneous power reading" => {
                let number = value
                    .trim()
                    .strip_suffix("Watts")
                    .map(str::trim)
                    .and_then(|n| n.parse::<f64>().ok())
                    .ok_or_else(|| {
                        ParseError::at(
                            WHAT,
                            i + 1,
                            format!("expected \"<n> Watts\", got {:?}", value.trim()),
                        )
                    })?;
                watts = Some(number);
            }
            "Power reading state is" => deactivated = value.trim() == "deactivated",
            _ => {}
        }
    }
    let watts =
        watts.ok_or_else(|| ParseError::at(WHAT, 1, "no \"Instantaneous power reading\" line"))?;
    if deactivated && watts == 0.0 {
        return Err(MeterError::Device(
            "the BMC's power reading is deactivated and reads 0 W".into(),
        ));
    }
    Ok(Reading {
        watts,
        energy_joules: None,
        method: "dcmi",
    })
}

/// The argv after the program name.
fn argv(cfg: &Config) -> Vec<String> {
    let mut args = cfg.args.clone();
    args.extend(["dcmi", "power", "reading"].map(String::from));
    args
}

/// Runs ipmitool once, within `timeout`.
pub async fn read(cfg: &Config, runner: &Runner, timeout: Duration) -> Result<Reading, MeterError> {
    let program = Program::new("ipmitool", &cfg.ipmitool);
    let out = runner.run(&program, &argv(cfg), timeout).await?;
    if out.code != Some(0) {
        return Err(MeterError::Exit {
            program: "ipmitool",
            code: out.code,
            stderr: out.stderr_line(),
        });
    }
    parse_power_reading(&out.stdout_text())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ipmitool dcmi power reading` in the exact layout of ipmitool's `ipmi_dcmi.c` (leading blank
    /// line, 4-space indent, trailing blank lines); the values are illustrative, not from a real BMC.
    const RECORDED: &str = "\n    Instantaneous power reading:                    45 Watts\n    \
        Minimum during sampling period:                  2 Watts\n    \
        Maximum during sampling period:                300 Watts\n    \
        Average power reading over sample period:       48 Watts\n    \
        IPMI timestamp:                           Mon Mar 27 18:40:05 2023\n    \
        Sampling period:                          00000001 Seconds.\n    \
        Power reading state is:                   activated\n\n\n";

    #[test]
    fn parses_the_recorded_output() {
        let r = parse_power_reading(RECORDED).unwrap();
        assert_eq!((r.watts, r.energy_joules, r.method), (45.0, None, "dcmi"));
    }

    #[test]
    fn deactivated_is_an_error_only_at_zero() {
        let off = RECORDED.replace("activated", "deactivated");
        assert_eq!(parse_power_reading(&off).unwrap().watts, 45.0);
        let zero = off.replace("   45 Watts", "    0 Watts");
        assert_eq!(parse_power_reading(&zero).unwrap_err().kind(), "device");
    }

    #[test]
    fn rejects_garbage() {
        assert_eq!(parse_power_reading("").unwrap_err().kind(), "parse");
        let e = parse_power_reading("    Instantaneous power reading: lots\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "ipmitool dcmi power reading, line 1: expected \"<n> Watts\", got \"lots\""
        );
    }

    fn replay(stdout: &str, exit: i32) -> Runner {
        let toml = format!(
            "[[command]]\nargv = [\"ipmitool\", \"-I\", \"open\", \"dcmi\", \"power\", \"reading\"]\n\
             stdout = {stdout:?}\nstderr = \"Could not open device\"\nexit = {exit}\n"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("commands.toml");
        std::fs::write(&path, toml).unwrap();
        Runner::load_replay(&path, None).unwrap()
    }

    #[tokio::test]
    async fn reads_through_the_runner() {
        let cfg = Config {
            ipmitool: "/usr/bin/ipmitool".into(),
            args: vec!["-I".into(), "open".into()],
        };
        let r = read(&cfg, &replay(RECORDED, 0), Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(r.watts, 45.0);
        let e = read(&cfg, &replay("", 1), Duration::from_secs(5))
            .await
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "ipmitool exited with Some(1): Could not open device"
        );
    }
}
