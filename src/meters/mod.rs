//! Measured wall power: meters the user configures as `[[meters]]` in the config file.
//!
//! One module per source, each a pure `parse_*` from the device's answer to a `Reading` plus a
//! small async client:
//! - `shelly`: Shelly plugs, Gen1 HTTP API (`/status`) and Gen2+ RPC (`/rpc/Switch.GetStatus`,
//!   `/rpc/PM1.GetStatus`), with the device's own energy total.
//! - `tasmota`: Tasmota plugs, `GET /cm?cmnd=Status 10` (`StatusSNS.ENERGY`).
//! - `nut`: a UPS through upsd (Network UPS Tools), its TCP protocol spoken directly.
//! - `ipmi`: a BMC's DCMI power reading, `ipmitool dcmi power reading` through the `Runner`.
//!
//! `read` takes one meter's source and returns one `Reading` or a `MeterError`, always within its
//! timeout: it is called from a collector task (`collectors::meters`), never from a scrape. Units
//! are converted once, in the parsers: watts, and joules for device energy totals.
//!
//! Credentials (`password`) are `Secret`s: their `Debug` and `Serialize` print `<redacted>`, and no
//! error message carries a URL with credentials in it, so neither logs nor `check-config` leak them.

pub mod http;
pub mod ipmi;
#[cfg(test)]
mod loopback_tests;
pub mod nut;
pub mod shelly;
pub mod tasmota;

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::host::command::{CommandError, Runner};
use crate::parse::ParseError;

/// One reading of a meter.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// Active (real) power now, in watts.
    pub watts: f64,
    /// The device's own energy total, converted to joules; `None` when the device keeps none.
    /// It is the device's counter: it may reset when the device reboots or is reset by its owner.
    pub energy_joules: Option<f64>,
    /// How `watts` was obtained, e.g. `"apower"`, `"ups.realpower"`,
    /// `"ups.load*ups.realpower.nominal"`: derived values are estimates, and say so.
    pub method: &'static str,
}

/// The kind of a meter, as written in `kind = "..."` and in the `kind` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A Shelly plug or relay with power metering.
    Shelly,
    /// A plug running Tasmota with an energy monitor.
    Tasmota,
    /// A UPS served by upsd (Network UPS Tools).
    Nut,
    /// A BMC's DCMI power reading.
    Ipmi,
}

impl Kind {
    /// The lowercase name, as in the config and the `kind` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Shelly => "shelly",
            Self::Tasmota => "tasmota",
            Self::Nut => "nut",
            Self::Ipmi => "ipmi",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One configured meter: a user-given name and where to read it.
#[derive(Debug, Clone, PartialEq)]
pub struct Meter {
    /// The `meter` label (`"wall"`, `"ups"`); unique among meters.
    pub name: String,
    /// Where and how to read it.
    pub source: Source,
}

/// Where a meter is read, with that kind's settings.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// `kind = "shelly"`.
    Shelly(shelly::Config),
    /// `kind = "tasmota"`.
    Tasmota(tasmota::Config),
    /// `kind = "nut"`.
    Nut(nut::Config),
    /// `kind = "ipmi"`.
    Ipmi(ipmi::Config),
}

impl Source {
    /// This source's kind.
    pub fn kind(&self) -> Kind {
        match self {
            Self::Shelly(_) => Kind::Shelly,
            Self::Tasmota(_) => Kind::Tasmota,
            Self::Nut(_) => Kind::Nut,
            Self::Ipmi(_) => Kind::Ipmi,
        }
    }
}

/// Why a meter gave no reading.
#[derive(Debug, thiserror::Error)]
pub enum MeterError {
    /// No complete answer within the time limit (connect, request and body together).
    #[error("no answer within {after:?}")]
    Timeout {
        /// The limit.
        after: Duration,
    },
    /// The TCP connection failed (refused, unreachable, reset).
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// `host:port`.
        addr: String,
        /// The socket error.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP server answered with a status other than 2xx (and not 401/403).
    #[error("HTTP status {status}")]
    Http {
        /// The status code.
        status: u16,
    },
    /// The device refused our credentials, or wants some and none are configured.
    #[error("authentication failed: {0}")]
    Auth(String),
    /// The exchange broke off or did not follow the protocol (HTTP framing, NUT reply lines).
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The answer did not have the documented shape.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// The device answered but does not report power this way (a Shelly without metering, a UPS
    /// without any power variable, a Tasmota without an energy monitor).
    #[error("not supported by the device: {0}")]
    Unsupported(String),
    /// The device reports that its reading is not valid right now (NUT `DATA-STALE`, a Shelly
    /// meter with `is_valid: false`).
    #[error("device has no valid reading: {0}")]
    Device(String),
    /// The program could not run or timed out.
    #[error(transparent)]
    Command(#[from] CommandError),
    /// The program ran but failed.
    #[error("{program} exited with {code:?}: {stderr}")]
    Exit {
        /// Program name.
        program: &'static str,
        /// Exit code; `None` when killed by a signal.
        code: Option<i32>,
        /// Its stderr on one line ([`Output::stderr_line`](crate::host::command::Output::stderr_line)).
        stderr: String,
    },
}

impl MeterError {
    /// Short kind for the `error` label of `hostwatt_meters_errors_total`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Timeout { .. }
            | Self::Command(CommandError::Timeout { .. } | CommandError::StillRunning { .. }) => {
                "timeout"
            }
            Self::Connect { .. } => "connect",
            Self::Http { .. } => "http",
            Self::Auth(_) => "auth",
            Self::Protocol(_) => "protocol",
            Self::Parse(_) => "parse",
            Self::Unsupported(_) => "unsupported",
            Self::Device(_) => "device",
            Self::Command(_) | Self::Exit { .. } => "command",
        }
    }
}

/// Reads one meter, within `timeout` all told. Called from a collector task, never from a scrape.
///
/// A Shelly with `generation = "auto"` costs one extra request (`GET /shelly`) per call; the
/// collector detects the generation once and reads with it afterwards (`shelly::detect`).
pub async fn read(
    source: &Source,
    runner: &Runner,
    timeout: Duration,
) -> Result<Reading, MeterError> {
    let read = async {
        match source {
            Source::Shelly(cfg) => shelly::read(cfg).await,
            Source::Tasmota(cfg) => tasmota::read(cfg).await,
            Source::Nut(cfg) => nut::read(cfg).await,
            Source::Ipmi(cfg) => ipmi::read(cfg, runner, timeout).await,
        }
    };
    tokio::time::timeout(timeout, read)
        .await
        .unwrap_or(Err(MeterError::Timeout { after: timeout }))
        .and_then(plausible)
}

/// Below this a negative reading is taken as 0 W: plugs wobble around zero.
const NEGATIVE_NOISE_WATTS: f64 = 1.0;

/// A reading a meter of this host's draw can give, or a `Device` error: power that is not a
/// number or is negative (a reversed clamp, a meter counting exported solar power) would become
/// the best wall power and run the energy counters backwards. A counter that is not a number or
/// negative is dropped, and energy comes from the power instead.
fn plausible(mut r: Reading) -> Result<Reading, MeterError> {
    if !r.watts.is_finite() || r.watts < -NEGATIVE_NOISE_WATTS {
        return Err(MeterError::Device(format!(
            "impossible power {} W (a reversed clamp, or a meter of exported power?)",
            r.watts
        )));
    }
    r.watts = r.watts.max(0.0);
    r.energy_joules = r.energy_joules.filter(|e| e.is_finite() && *e >= 0.0);
    Ok(r)
}

pub use crate::secret::Secret;

impl<'de> Deserialize<'de> for Meter {
    /// `[[meters]]` tables are tagged by `kind`, and each kind rejects keys it does not know.
    /// serde's internally tagged enums can't do that with `deny_unknown_fields`, so the table is
    /// split by hand: `name` and `kind` here, the rest to the kind's own `Config`.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut table = toml::Table::deserialize(d)?;
        let name = match table.remove("name") {
            Some(toml::Value::String(s)) if !s.trim().is_empty() => s,
            Some(_) => return Err(D::Error::custom("`name` must be a non-empty string")),
            None => return Err(D::Error::custom("missing `name` (the meter's label)")),
        };
        let kind = match table.remove("kind") {
            Some(v) => Kind::deserialize(v).map_err(|e| {
                D::Error::custom(format!(
                    "meter {name:?}: `kind` {}",
                    e.message().trim().replace("unknown variant", "is")
                ))
            })?,
            None => {
                return Err(D::Error::custom(format!(
                    "meter {name:?}: missing `kind` (one of shelly, tasmota, nut, ipmi)"
                )));
            }
        };
        let rest = toml::Value::Table(table);
        let err = |e: toml::de::Error| {
            D::Error::custom(format!(
                "meter {name:?} (kind = \"{kind}\"): {}",
                e.message().trim()
            ))
        };
        let source = match kind {
            Kind::Shelly => Source::Shelly(shelly::Config::deserialize(rest).map_err(err)?),
            Kind::Tasmota => Source::Tasmota(tasmota::Config::deserialize(rest).map_err(err)?),
            Kind::Nut => Source::Nut(nut::Config::deserialize(rest).map_err(err)?),
            Kind::Ipmi => Source::Ipmi(ipmi::Config::deserialize(rest).map_err(err)?),
        };
        Ok(Self { name, source })
    }
}

impl Serialize for Meter {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Out<'a, T: Serialize> {
            name: &'a str,
            kind: Kind,
            #[serde(flatten)]
            cfg: &'a T,
        }
        let (name, kind) = (self.name.as_str(), self.source.kind());
        match &self.source {
            Source::Shelly(cfg) => Out { name, kind, cfg }.serialize(s),
            Source::Tasmota(cfg) => Out { name, kind, cfg }.serialize(s),
            Source::Nut(cfg) => Out { name, kind, cfg }.serialize(s),
            Source::Ipmi(cfg) => Out { name, kind, cfg }.serialize(s),
        }
    }
}

/// Deserializes the `[[meters]]` array, rejecting two meters with one name (their series would
/// collide).
pub fn deserialize_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Meter>, D::Error> {
    let meters = Vec::<Meter>::deserialize(d)?;
    let mut seen = BTreeSet::new();
    for m in &meters {
        if !seen.insert(m.name.as_str()) {
            return Err(D::Error::custom(format!(
                "two meters are named {:?}; names label the series and must be unique",
                m.name
            )));
        }
    }
    Ok(meters)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        #[serde(default, deserialize_with = "deserialize_list")]
        meters: Vec<Meter>,
    }

    fn parse(text: &str) -> Result<Vec<Meter>, String> {
        toml::from_str::<File>(text)
            .map(|f| f.meters)
            .map_err(|e| e.message().to_owned())
    }

    #[test]
    fn parses_one_meter_of_each_kind() {
        let meters = parse(
            r#"
            [[meters]]
            name = "plug"
            kind = "shelly"
            url = "http://192.168.1.50"
            [[meters]]
            name = "desk"
            kind = "tasmota"
            url = "http://tasmota.lan:8080"
            [[meters]]
            name = "ups"
            kind = "nut"
            ups = "eaton"
            [[meters]]
            name = "bmc"
            kind = "ipmi"
            "#,
        )
        .unwrap();
        let kinds: Vec<_> = meters
            .iter()
            .map(|m| (m.name.as_str(), m.source.kind()))
            .collect();
        assert_eq!(
            kinds,
            [
                ("plug", Kind::Shelly),
                ("desk", Kind::Tasmota),
                ("ups", Kind::Nut),
                ("bmc", Kind::Ipmi)
            ]
        );
        let Source::Nut(nut) = &meters[2].source else {
            panic!("not nut")
        };
        assert_eq!((nut.host.as_str(), nut.port), ("127.0.0.1", 3493));
    }

    #[test]
    fn rejects_a_key_of_another_kind() {
        let e =
            parse("[[meters]]\nname = \"ups\"\nkind = \"nut\"\nups = \"x\"\nurl = \"http://a\"\n")
                .unwrap_err();
        assert!(
            e.starts_with("meter \"ups\" (kind = \"nut\"): unknown field `url`, expected one of"),
            "{e}"
        );
    }

    #[test]
    fn rejects_unknown_kind_missing_kind_and_missing_name() {
        let e = parse("[[meters]]\nname = \"a\"\nkind = \"zwave\"\n").unwrap_err();
        assert!(
            e.starts_with("meter \"a\": `kind` is `zwave`, expected one of"),
            "{e}"
        );
        let e = parse("[[meters]]\nname = \"a\"\n").unwrap_err();
        assert_eq!(
            e,
            "meter \"a\": missing `kind` (one of shelly, tasmota, nut, ipmi)"
        );
        let e = parse("[[meters]]\nkind = \"ipmi\"\n").unwrap_err();
        assert_eq!(e, "missing `name` (the meter's label)");
    }

    #[test]
    fn rejects_duplicate_names() {
        let e = parse("[[meters]]\nname = \"a\"\nkind = \"ipmi\"\n[[meters]]\nname = \"a\"\nkind = \"ipmi\"\n")
            .unwrap_err();
        assert!(e.contains("two meters are named \"a\""), "{e}");
    }

    #[test]
    fn never_prints_a_password() {
        let meters = parse(
            "[[meters]]\nname = \"p\"\nkind = \"shelly\"\nurl = \"http://p\"\npassword = \"hunter2\"\n\
             [[meters]]\nname = \"u\"\nkind = \"nut\"\nups = \"x\"\nusername = \"mon\"\npassword = \"hunter2\"\n\
             [[meters]]\nname = \"t\"\nkind = \"tasmota\"\nurl = \"http://t\"\npassword = \"hunter2\"\n",
        )
        .unwrap();
        let debug = format!("{meters:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert_eq!(debug.matches("<redacted>").count(), 3, "{debug}");
        #[derive(Serialize)]
        struct Out<'a> {
            meters: &'a [Meter],
        }
        let text = toml::to_string(&Out { meters: &meters }).unwrap();
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("password = \"<redacted>\""), "{text}");
        assert!(text.contains("kind = \"nut\""), "{text}");
        let Source::Nut(nut) = &meters[1].source else {
            panic!("not nut")
        };
        assert_eq!(nut.password.as_ref().map(Secret::expose), Some("hunter2"));
    }

    #[test]
    fn error_kinds_are_stable_labels() {
        assert_eq!(
            MeterError::Timeout {
                after: Duration::from_secs(1)
            }
            .kind(),
            "timeout"
        );
        assert_eq!(MeterError::Http { status: 500 }.kind(), "http");
        assert_eq!(MeterError::Auth("x".into()).kind(), "auth");
        assert_eq!(
            MeterError::Command(CommandError::Timeout {
                program: "ipmitool",
                after: Duration::from_secs(1)
            })
            .kind(),
            "timeout"
        );
        // a killed earlier run still alive is a hang too, as for every other program
        let stuck = || {
            MeterError::Command(CommandError::StillRunning {
                program: "ipmitool",
                pid: 4242,
            })
        };
        assert_eq!(stuck().kind(), "timeout");
        let collect = |e: MeterError| crate::collectors::CollectError::from(e).kind();
        assert_eq!(collect(stuck()), "timeout");
        assert_eq!(collect(MeterError::Auth("x".into())), "permission");
        assert_eq!(collect(MeterError::Protocol("x".into())), "parse");
        assert_eq!(collect(MeterError::Http { status: 500 }), "io");
        let exit = MeterError::Exit {
            program: "ipmitool",
            code: Some(1),
            stderr: String::new(),
        };
        assert_eq!(collect(exit), "command");
    }
}
