//! Plugs running Tasmota with an energy monitor (HLW8012, BL0937, CSE7766...).
//!
//! `GET /cm?cmnd=Status%2010` (the `Status 10` command: sensors) answers
//! `{"StatusSNS":{"Time":...,"ENERGY":{"Total":12.345,"Yesterday":..,"Today":..,"Power":23,...}}}`:
//! `Power` in W and `Total` in **kWh** (persisted across reboots; `TotalStartTime` says since
//! when). A multi-channel device reports `Power` as an array, one per relay; `Total` is an array
//! too only with `SetOption129 1`, else one sum for all channels, which is then not this channel's
//! and is left out. With a web password set, `user` and `password` go in the query string; a
//! wrong or missing one is answered with `{"WARNING":"Need user=<username>&password=<password>"}`.
//! See <https://tasmota.github.io/docs/Commands/#management> and `.../JSON-Status-Responses/`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::http::{self, Auth, Endpoint};
use super::{MeterError, Reading, Secret};
use crate::parse::ParseError;

/// `[[meters]]` with `kind = "tasmota"`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `http://host[:port]`.
    pub url: Endpoint,
    /// Relay channel, 1-based as Tasmota numbers them (`POWER1`); matters only when `Power` is an
    /// array.
    #[serde(default = "first_channel")]
    pub channel: u32,
    /// Web user (Tasmota's is `admin`).
    #[serde(default = "default_user")]
    pub username: String,
    /// Web password, when one is set (`WebPassword`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
}

fn first_channel() -> u32 {
    1
}

fn default_user() -> String {
    "admin".to_owned()
}

const WHAT: &str = "tasmota Status 10";

/// A `Status 10` body, for 1-based `channel`.
pub fn parse_status10(body: &[u8], channel: u32) -> Result<Reading, MeterError> {
    let doc: Value = serde_json::from_slice(body)
        .map_err(|e| MeterError::Parse(ParseError::at(WHAT, e.line().max(1), e.to_string())))?;
    if let Some(warning) = doc.get("WARNING").and_then(Value::as_str) {
        return Err(MeterError::Auth(format!("Tasmota says {warning:?}")));
    }
    let sns = doc
        .get("StatusSNS")
        .ok_or_else(|| MeterError::Parse(ParseError::at(WHAT, 1, "no `StatusSNS` object")))?;
    let energy = sns.get("ENERGY").ok_or_else(|| {
        MeterError::Unsupported("no `StatusSNS.ENERGY`: this Tasmota has no energy monitor".into())
    })?;
    let index = (channel as usize).checked_sub(1).ok_or_else(|| {
        MeterError::Unsupported("channel 0: Tasmota channels count from 1".into())
    })?;
    let number = |field: &str, v: &Value| {
        v.as_f64().ok_or_else(|| {
            MeterError::Parse(ParseError::at(
                WHAT,
                1,
                format!("ENERGY.{field} is not a number: {v}"),
            ))
        })
    };
    let watts = match energy.get("Power") {
        Some(Value::Array(list)) => {
            let v = list.get(index).ok_or_else(|| {
                MeterError::Unsupported(format!(
                    "no ENERGY.Power[{index}] (the device has {})",
                    list.len()
                ))
            })?;
            number("Power", v)?
        }
        Some(v) => number("Power", v)?,
        None => return Err(MeterError::Unsupported("ENERGY has no `Power`".into())),
    };
    let power_is_array = matches!(energy.get("Power"), Some(Value::Array(_)));
    let kwh = match energy.get("Total") {
        Some(Value::Array(list)) => list.get(index).map(|v| number("Total", v)).transpose()?,
        // one total across channels is not this channel's energy
        Some(v) if !power_is_array => Some(number("Total", v)?),
        _ => None,
    };
    Ok(Reading {
        watts,
        energy_joules: kwh.map(|k| k * 3.6e6),
        method: "ENERGY.Power",
    })
}

/// The request path, with credentials in the query when configured. Never logged.
fn path(cfg: &Config) -> String {
    let mut path = "/cm?cmnd=Status%2010".to_owned();
    if let Some(password) = &cfg.password {
        path.push_str(&format!(
            "&user={}&password={}",
            http::encode_query_value(&cfg.username),
            http::encode_query_value(password.expose())
        ));
    }
    path
}

/// Reads one Tasmota plug.
pub async fn read(cfg: &Config) -> Result<Reading, MeterError> {
    let body = http::get(&cfg.url, &path(cfg), Auth::None).await?;
    parse_status10(&body, cfg.channel)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// `Status 10` of a single-relay plug (Sonoff POW R2 / Gosund SP111 style).
    pub const PLUG: &str = r#"{"StatusSNS":{"Time":"2024-03-01T12:00:00","ENERGY":{
        "TotalStartTime":"2023-01-15T10:11:12","Total":12.345,"Yesterday":0.512,"Today":0.231,
        "Power":23,"ApparentPower":30,"ReactivePower":19,"Factor":0.77,"Voltage":231,"Current":0.130}}}"#;

    #[test]
    fn parses_a_single_channel_plug() {
        let r = parse_status10(PLUG.as_bytes(), 1).unwrap();
        assert_eq!(r.watts, 23.0);
        let j = r.energy_joules.unwrap();
        assert!((j - 12.345 * 3.6e6).abs() < 1e-6, "{j}");
    }

    #[test]
    fn parses_power_arrays_per_channel() {
        let body = br#"{"StatusSNS":{"ENERGY":{"Total":3.5,"Power":[10.5,20],"Voltage":230}}}"#;
        let r = parse_status10(body, 2).unwrap();
        assert_eq!(
            (r.watts, r.energy_joules),
            (20.0, None),
            "the shared total is not channel 2's"
        );
        let body = br#"{"StatusSNS":{"ENERGY":{"Total":[1.0,2.0],"Power":[10.5,20]}}}"#;
        let r = parse_status10(body, 1).unwrap();
        assert_eq!((r.watts, r.energy_joules), (10.5, Some(3.6e6)));
        assert_eq!(parse_status10(body, 3).unwrap_err().kind(), "unsupported");
    }

    #[test]
    fn reports_auth_garbage_and_missing_energy() {
        let e = parse_status10(
            br#"{"WARNING":"Need user=<username>&password=<password>"}"#,
            1,
        )
        .unwrap_err();
        assert_eq!(e.kind(), "auth");
        let e = parse_status10(br#"{"StatusSNS":{"Time":"x","Switch1":"OFF"}}"#, 1).unwrap_err();
        assert_eq!(
            e.to_string(),
            "not supported by the device: no `StatusSNS.ENERGY`: this Tasmota has no energy monitor"
        );
        assert_eq!(parse_status10(b"{\"Stat", 1).unwrap_err().kind(), "parse");
        assert_eq!(parse_status10(b"[]", 1).unwrap_err().kind(), "parse");
        let e = parse_status10(br#"{"StatusSNS":{"ENERGY":{"Power":"x"}}}"#, 1).unwrap_err();
        assert_eq!(e.kind(), "parse");
    }

    #[test]
    fn puts_encoded_credentials_in_the_query_only_when_set() {
        let mut cfg = Config {
            url: Endpoint::local("127.0.0.1", 80),
            channel: 1,
            username: "admin".into(),
            password: None,
        };
        assert_eq!(path(&cfg), "/cm?cmnd=Status%2010");
        cfg.password = Some(Secret::new("a&b c"));
        assert_eq!(
            path(&cfg),
            "/cm?cmnd=Status%2010&user=admin&password=a%26b%20c"
        );
    }
}
