//! Shelly plugs and relays with power metering, over their local HTTP APIs.
//!
//! - Gen1 (Plug S, 1PM, 2.5, EM, 3EM): `GET /status`. A metering relay reports
//!   `meters[N].power` (W) and `meters[N].total` in **watt-minutes**; the energy meters (EM, 3EM)
//!   report `emeters[N].power` (W) and `emeters[N].total` in **Wh**. `is_valid: false` means the
//!   metering chip gave no valid reading. Basic auth when a login is set.
//! - Gen2+ (Plus, Pro, Gen3, Gen4; one RPC API): `GET /rpc/Switch.GetStatus?id=N` answers
//!   `apower` (W) and `aenergy.total` (Wh); dedicated meters (PM Mini) use
//!   `GET /rpc/PM1.GetStatus?id=N` with the same fields. A Switch without metering has no
//!   `apower`. Auth is RFC 7616 Digest with SHA-256, user always `admin`.
//! - `GET /shelly` needs no auth on either generation; Gen2+ answers with `"gen": 2` (3, 4...),
//!   Gen1 has no `gen` and a `type`. `generation = "auto"` asks it.
//!
//! See <https://shelly-api-docs.shelly.cloud/gen1/> and `.../gen2/ComponentsAndServices/Switch`.
//! The device's total restarts at 0 when it reboots (Gen1) or is reset: it is its own counter.

use serde::{Deserialize, Serialize};

use super::http::{self, Auth, Endpoint};
use super::{MeterError, Reading, Secret};
use crate::parse::ParseError;

/// `[[meters]]` with `kind = "shelly"`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `http://host[:port]`.
    pub url: Endpoint,
    /// `"auto"` (ask `/shelly` once), `"gen1"` or `"gen2"` (Gen2, Gen3, Gen4).
    #[serde(default)]
    pub generation: Generation,
    /// Relay or meter index, 0-based as in the device's API.
    #[serde(default)]
    pub channel: u32,
    /// Gen2+ component that meters: `"switch"` (plugs, PM relays) or `"pm1"` (PM Mini).
    #[serde(default)]
    pub component: Component,
    /// Login user (Gen1: as set on the device; Gen2+: always `admin`).
    #[serde(default = "default_user")]
    pub username: String,
    /// Login password, when the device has one set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
}

fn default_user() -> String {
    "admin".to_owned()
}

/// Which API a Shelly speaks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Generation {
    /// Ask `GET /shelly`.
    #[default]
    Auto,
    /// The Gen1 HTTP API.
    Gen1,
    /// The Gen2+ RPC API.
    Gen2,
}

/// The Gen2+ component whose status carries the power.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Component {
    /// `Switch.GetStatus`.
    #[default]
    Switch,
    /// `PM1.GetStatus`.
    Pm1,
}

fn json_error(what: &'static str, e: &serde_json::Error) -> MeterError {
    MeterError::Parse(ParseError::at(what, e.line().max(1), e.to_string()))
}

/// The generation a `GET /shelly` body announces.
pub fn parse_device_info(body: &[u8]) -> Result<Generation, MeterError> {
    #[derive(Deserialize)]
    struct Info {
        #[serde(rename = "gen")]
        generation: Option<u32>,
        #[serde(rename = "type")]
        kind: Option<String>,
    }
    let info: Info = serde_json::from_slice(body).map_err(|e| json_error("shelly /shelly", &e))?;
    match (info.generation, info.kind) {
        (Some(g), _) if g >= 2 => Ok(Generation::Gen2),
        (None, Some(_)) | (Some(1), _) => Ok(Generation::Gen1),
        _ => Err(MeterError::Parse(ParseError::at(
            "shelly /shelly",
            1,
            "neither `gen` nor `type`: not a Shelly device info",
        ))),
    }
}

/// A Gen1 `/status` body, for relay or energy meter `channel`.
pub fn parse_gen1_status(body: &[u8], channel: u32) -> Result<Reading, MeterError> {
    #[derive(Deserialize)]
    struct Status {
        meters: Option<Vec<Meter>>,
        emeters: Option<Vec<Meter>>,
    }
    #[derive(Deserialize)]
    struct Meter {
        power: Option<f64>,
        total: Option<f64>,
        is_valid: Option<bool>,
    }
    let status: Status =
        serde_json::from_slice(body).map_err(|e| json_error("shelly gen1 /status", &e))?;
    // emeters (EM, 3EM) count Wh; meters (relays, plugs) count watt-minutes
    let (list, field, joules_per_unit) = match (status.emeters, status.meters) {
        (Some(e), _) => (e, "emeters", 3600.0),
        (None, Some(m)) => (m, "meters", 60.0),
        (None, None) => {
            return Err(MeterError::Unsupported(
                "no `meters` or `emeters` in /status: this Shelly does not meter power".into(),
            ));
        }
    };
    let count = list.len();
    let m = list.into_iter().nth(channel as usize).ok_or_else(|| {
        MeterError::Unsupported(format!("no {field}[{channel}] (the device has {count})"))
    })?;
    if m.is_valid == Some(false) {
        return Err(MeterError::Device(format!(
            "{field}[{channel}].is_valid is false"
        )));
    }
    let watts = m
        .power
        .ok_or_else(|| MeterError::Unsupported(format!("{field}[{channel}] has no `power`")))?;
    Ok(Reading {
        watts,
        energy_joules: m.total.map(|t| t * joules_per_unit),
        method: if field == "emeters" {
            "emeters.power"
        } else {
            "meters.power"
        },
    })
}

/// A Gen2+ `Switch.GetStatus` or `PM1.GetStatus` body.
pub fn parse_gen2_status(body: &[u8]) -> Result<Reading, MeterError> {
    #[derive(Deserialize)]
    struct Status {
        apower: Option<f64>,
        aenergy: Option<Energy>,
    }
    #[derive(Deserialize)]
    struct Energy {
        total: Option<f64>,
    }
    let status: Status =
        serde_json::from_slice(body).map_err(|e| json_error("shelly gen2 GetStatus", &e))?;
    let watts = status.apower.ok_or_else(|| {
        MeterError::Unsupported(
            "no `apower` in the status: this component does not meter power".into(),
        )
    })?;
    Ok(Reading {
        watts,
        energy_joules: status.aenergy.and_then(|e| e.total).map(|wh| wh * 3600.0),
        method: "apower",
    })
}

/// Asks `GET /shelly` which API the device speaks.
pub async fn detect(url: &Endpoint) -> Result<Generation, MeterError> {
    parse_device_info(&http::get(url, "/shelly", Auth::None).await?)
}

/// Reads one Shelly; `Auto` first asks `/shelly` (see `detect`).
pub async fn read(cfg: &Config) -> Result<Reading, MeterError> {
    let generation = match cfg.generation {
        Generation::Auto => detect(&cfg.url).await?,
        g => g,
    };
    let auth = |digest: bool| match (&cfg.password, digest) {
        (None, _) => Auth::None,
        (Some(password), false) => Auth::Basic {
            user: &cfg.username,
            password,
        },
        (Some(password), true) => Auth::Digest {
            user: &cfg.username,
            password,
        },
    };
    match generation {
        Generation::Gen1 => {
            let body = http::get(&cfg.url, "/status", auth(false)).await?;
            parse_gen1_status(&body, cfg.channel)
        }
        _ => {
            let method = match cfg.component {
                Component::Switch => "Switch",
                Component::Pm1 => "PM1",
            };
            let path = format!("/rpc/{method}.GetStatus?id={}", cfg.channel);
            parse_gen2_status(&http::get(&cfg.url, &path, auth(true)).await?)
        }
    }
}

/// The same config with the generation fixed to `generation` (after `detect`).
pub fn with_generation(cfg: &Config, generation: Generation) -> Config {
    Config {
        generation,
        ..cfg.clone()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Gen1 Plug S `/status`, as documented (trimmed of wifi/cloud/update sections).
    pub const GEN1_PLUG_S: &str = r#"{"relays":[{"ison":true,"has_timer":false,"overpower":false}],
        "meters":[{"power":42.17,"overpower":0.00,"is_valid":true,"timestamp":1680779310,
        "counters":[41.9,42.0,42.3],"total":439237}],"temperature":34.48,"uptime":18961214}"#;
    /// Gen1 Shelly EM `/status` (energy meters, totals in Wh).
    pub const GEN1_EM: &str = r#"{"emeters":[{"power":120.5,"reactive":10.1,"voltage":231.2,
        "is_valid":true,"total":15000.5,"total_returned":0.0},{"power":0,"reactive":0,
        "voltage":231.2,"is_valid":false,"total":0,"total_returned":0}]}"#;
    /// Gen2 Plus Plug S `Switch.GetStatus?id=0`.
    pub const GEN2_SWITCH: &str = r#"{"id":0,"source":"init","output":true,"apower":8.9,
        "voltage":237.5,"freq":50.0,"current":0.068,
        "aenergy":{"total":6532.250,"by_minute":[149.4,148.9,151.0],"minute_ts":1654511700},
        "temperature":{"tC":46.3,"tF":115.4}}"#;

    #[test]
    fn parses_gen1_plug_watt_minutes() {
        let r = parse_gen1_status(GEN1_PLUG_S.as_bytes(), 0).unwrap();
        assert_eq!(r.watts, 42.17);
        // 439237 watt-minutes = 26_354_220 J (7.32 kWh)
        assert_eq!(r.energy_joules, Some(439237.0 * 60.0));
        assert_eq!(r.method, "meters.power");
    }

    #[test]
    fn parses_gen1_em_watt_hours_and_invalid_channel() {
        let r = parse_gen1_status(GEN1_EM.as_bytes(), 0).unwrap();
        assert_eq!((r.watts, r.energy_joules), (120.5, Some(15000.5 * 3600.0)));
        let e = parse_gen1_status(GEN1_EM.as_bytes(), 1).unwrap_err();
        assert_eq!(
            e.to_string(),
            "device has no valid reading: emeters[1].is_valid is false"
        );
        let e = parse_gen1_status(GEN1_EM.as_bytes(), 2).unwrap_err();
        assert_eq!(
            e.to_string(),
            "not supported by the device: no emeters[2] (the device has 2)"
        );
    }

    #[test]
    fn parses_gen2_switch_watt_hours() {
        let r = parse_gen2_status(GEN2_SWITCH.as_bytes()).unwrap();
        assert_eq!((r.watts, r.energy_joules), (8.9, Some(6532.25 * 3600.0)));
    }

    #[test]
    fn parses_gen2_pm1() {
        let body = br#"{"id":0,"voltage":240.2,"current":0.25,"apower":53.1,"freq":50,
            "aenergy":{"total":1.5,"by_minute":[0,0,0],"minute_ts":1},"ret_aenergy":{"total":0}}"#;
        let r = parse_gen2_status(body).unwrap();
        assert_eq!((r.watts, r.energy_joules), (53.1, Some(5400.0)));
    }

    #[test]
    fn rejects_garbage_and_missing_fields() {
        let e = parse_gen2_status(b"<html>oops</html>").unwrap_err();
        assert_eq!(e.kind(), "parse");
        assert!(
            e.to_string().starts_with("shelly gen2 GetStatus, line 1: "),
            "{e}"
        );
        let e = parse_gen2_status(br#"{"id":0,"output":true}"#).unwrap_err();
        assert_eq!(e.kind(), "unsupported");
        let e = parse_gen2_status(br#"{"apower":"many"}"#).unwrap_err();
        assert_eq!(e.kind(), "parse");
        assert_eq!(parse_gen1_status(b"", 0).unwrap_err().kind(), "parse");
        let e = parse_gen1_status(br#"{"relays":[{"ison":true}]}"#, 0).unwrap_err();
        assert_eq!(e.kind(), "unsupported");
        let e = parse_gen1_status(br#"{"meters":[{"is_valid":true}]}"#, 0).unwrap_err();
        assert_eq!(
            e.to_string(),
            "not supported by the device: meters[0] has no `power`"
        );
    }

    #[test]
    fn detects_the_generation() {
        let gen1 = br#"{"type":"SHPLG-S","mac":"A4CF12F3D4E5","auth":false,"fw":"20230913-112003/v1.14.0-gcb84623","num_outputs":1,"num_meters":1}"#;
        let gen2 = br#"{"name":null,"id":"shellyplusplugs-d4d4da7c1234","mac":"D4D4DA7C1234","model":"SNPL-00112EU","gen":2,"fw_id":"20231107-162609/1.0.8-g8c7bb8d","ver":"1.0.8","app":"PlusPlugS","auth_en":false,"auth_domain":null}"#;
        assert_eq!(parse_device_info(gen1).unwrap(), Generation::Gen1);
        assert_eq!(parse_device_info(gen2).unwrap(), Generation::Gen2);
        let gen3 = br#"{"id":"shelly1pmminig3-84fce63f1234","model":"S3PM-001PCEU16","gen":3,"auth_en":true}"#;
        assert_eq!(parse_device_info(gen3).unwrap(), Generation::Gen2);
        assert_eq!(parse_device_info(b"{}").unwrap_err().kind(), "parse");
    }
}
