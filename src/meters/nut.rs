//! A UPS through upsd (Network UPS Tools), speaking its line protocol over TCP (port 3493)
//! directly: no `upsc` process. See <https://networkupstools.org/docs/developer-guide.chunked/net-protocol.html>.
//!
//! Exchange: `USERNAME <u>` / `PASSWORD <p>` (each answered `OK`) when configured, then
//! `GET VAR <ups> <var>`, answered `VAR <ups> <var> "<value>"` or `ERR <CODE>`, then `LOGOUT`
//! (`OK Goodbye`). Arguments are sent quoted, with `\"` and `\\` escaped.
//!
//! Watts, in order of preference (the first whose variables the driver has):
//! 1. `ups.realpower` (W), measured;
//! 2. `ups.load` (% of rated) × `ups.realpower.nominal` (W);
//! 3. `ups.power` (VA) × `power_factor` from the config;
//! 4. `ups.load` × `ups.power.nominal` (VA) × `power_factor`.
//!
//! 3 and 4 are tried only when `power_factor` is configured: a UPS that only knows VA can't tell
//! us watts, and a silent guess would bias everything built on it. `method` names which was used.
//! NUT keeps no energy total, so `energy_joules` is `None`. `ups.load` on many units is coarse
//! (whole percent of a rating of several hundred W), so 2 and 4 are coarse too.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::{MeterError, Reading, Secret};
use crate::parse::ParseError;

/// Longest reply line we accept.
const MAX_LINE: u64 = 4096;

/// `[[meters]]` with `kind = "nut"`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// upsd host.
    #[serde(default = "default_host")]
    pub host: String,
    /// upsd port.
    #[serde(default = "default_port")]
    pub port: u16,
    /// UPS name as upsd knows it (`upsc -l` lists them).
    pub ups: String,
    /// upsd user, when upsd requires a login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Its password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    /// Power factor (0-1] to turn VA into W when the UPS reports only apparent power.
    #[serde(
        default,
        deserialize_with = "power_factor",
        skip_serializing_if = "Option::is_none"
    )]
    pub power_factor: Option<f64>,
}

fn default_host() -> String {
    "127.0.0.1".to_owned()
}

fn default_port() -> u16 {
    3493
}

fn power_factor<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    let pf = f64::deserialize(d)?;
    if pf > 0.0 && pf <= 1.0 {
        Ok(Some(pf))
    } else {
        Err(serde::de::Error::custom(format!(
            "power_factor {pf} is outside (0, 1]"
        )))
    }
}

/// One reply to `GET VAR`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `VAR <ups> <var> "<value>"`: the unquoted value.
    Value(String),
    /// `ERR <CODE> ...`: the code.
    Error(String),
}

/// Parses the reply line to `GET VAR <ups> <var>`.
pub fn parse_reply(line: &str, ups: &str, var: &str) -> Result<Reply, ParseError> {
    let bad = |reason: String| ParseError::at("upsd reply", 1, reason);
    let line = line.trim_end_matches(['\r', '\n']);
    if let Some(rest) = line.strip_prefix("ERR ") {
        let code = rest.split_whitespace().next().unwrap_or_default();
        return Ok(Reply::Error(code.to_owned()));
    }
    let prefix = format!("VAR {ups} {var} ");
    let quoted = line
        .strip_prefix(&prefix)
        .ok_or_else(|| bad(format!("expected `{prefix}\"...\"`, got {line:?}")))?;
    let inner = quoted
        .strip_prefix('"')
        .and_then(|q| q.strip_suffix('"'))
        .ok_or_else(|| bad(format!("value not quoted: {quoted:?}")))?;
    let mut value = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => value.push(
                chars
                    .next()
                    .ok_or_else(|| bad("dangling backslash".into()))?,
            ),
            c => value.push(c),
        }
    }
    Ok(Reply::Value(value))
}

/// Watts from the variables the driver has (absent ones are missing from `vars`), in the order
/// of the module docs.
pub fn derive(
    vars: &BTreeMap<&str, f64>,
    power_factor: Option<f64>,
) -> Result<Reading, MeterError> {
    let v = |name: &str| vars.get(name).copied();
    let reading = |watts, method| Reading {
        watts,
        energy_joules: None,
        method,
    };
    if let Some(w) = v("ups.realpower") {
        return Ok(reading(w, "ups.realpower"));
    }
    if let (Some(load), Some(nominal)) = (v("ups.load"), v("ups.realpower.nominal")) {
        return Ok(reading(
            load / 100.0 * nominal,
            "ups.load*ups.realpower.nominal",
        ));
    }
    let va = v("ups.power")
        .map(|va| (va, "ups.power*power_factor"))
        .or_else(|| {
            let (load, nominal) = (v("ups.load")?, v("ups.power.nominal")?);
            Some((
                load / 100.0 * nominal,
                "ups.load*ups.power.nominal*power_factor",
            ))
        });
    match (va, power_factor) {
        (Some((va, method)), Some(pf)) => Ok(reading(va * pf, method)),
        (Some(_), None) => Err(MeterError::Unsupported(
            "the UPS reports only apparent power (VA); set `power_factor` to turn it into watts"
                .into(),
        )),
        (None, _) => Err(MeterError::Unsupported(
            "the UPS reports none of ups.realpower, ups.load with ups.realpower.nominal, \
             ups.power, ups.power.nominal"
                .into(),
        )),
    }
}

/// Quotes a protocol argument.
fn quote(arg: &str) -> String {
    format!("\"{}\"", arg.replace('\\', "\\\\").replace('"', "\\\""))
}

struct Conn {
    reader: BufReader<tokio::net::tcp::OwnedReadHalf>,
    writer: tokio::net::tcp::OwnedWriteHalf,
}

impl Conn {
    async fn connect(host: &str, port: u16) -> Result<Self, MeterError> {
        let stream =
            TcpStream::connect((host, port))
                .await
                .map_err(|source| MeterError::Connect {
                    addr: format!("{host}:{port}"),
                    source,
                })?;
        let (r, w) = stream.into_split();
        Ok(Self {
            reader: BufReader::new(r),
            writer: w,
        })
    }

    /// Sends one line, reads one reply line. The line may hold a password: never put it in an error.
    async fn exchange(&mut self, line: &str) -> Result<String, MeterError> {
        let io = |e: std::io::Error| MeterError::Protocol(format!("upsd connection: {e}"));
        self.writer
            .write_all(format!("{line}\n").as_bytes())
            .await
            .map_err(io)?;
        let mut reply = String::new();
        let n = (&mut self.reader)
            .take(MAX_LINE)
            .read_line(&mut reply)
            .await
            .map_err(io)?;
        if n == 0 || !reply.ends_with('\n') {
            return Err(MeterError::Protocol(
                "upsd closed the connection or sent an overlong line".into(),
            ));
        }
        Ok(reply.trim_end().to_owned())
    }

    async fn login_step(&mut self, command: &str, arg: &str) -> Result<(), MeterError> {
        let reply = self.exchange(&format!("{command} {}", quote(arg))).await?;
        match reply.strip_prefix("ERR ") {
            None if reply.starts_with("OK") => Ok(()),
            Some(code) => Err(MeterError::Auth(format!("upsd refused {command}: {code}"))),
            None => Err(MeterError::Protocol(format!(
                "unexpected reply to {command}: {reply:?}"
            ))),
        }
    }

    /// One variable; `None` when the driver does not have it.
    async fn get(&mut self, ups: &str, var: &str) -> Result<Option<f64>, MeterError> {
        let line = self
            .exchange(&format!("GET VAR {} {var}", quote(ups)))
            .await?;
        match parse_reply(&line, ups, var)? {
            Reply::Value(v) => v.trim().parse::<f64>().map(Some).map_err(|_| {
                MeterError::Parse(ParseError::at(
                    "upsd reply",
                    1,
                    format!("{var} is not a number: {v:?}"),
                ))
            }),
            Reply::Error(code) => match code.as_str() {
                "VAR-NOT-SUPPORTED" => Ok(None),
                "UNKNOWN-UPS" => Err(MeterError::Unsupported(format!(
                    "upsd knows no UPS named {ups:?}"
                ))),
                "DATA-STALE" | "DRIVER-NOT-CONNECTED" => {
                    Err(MeterError::Device(format!("upsd: {code}")))
                }
                "ACCESS-DENIED" | "USERNAME-REQUIRED" | "PASSWORD-REQUIRED" => {
                    Err(MeterError::Auth(format!("upsd: {code}")))
                }
                _ => Err(MeterError::Protocol(format!(
                    "upsd answered ERR {code} to GET VAR {var}"
                ))),
            },
        }
    }
}

/// Reads one UPS: login when configured, the variables `derive` needs, logout.
pub async fn read(cfg: &Config) -> Result<Reading, MeterError> {
    let mut conn = Conn::connect(&cfg.host, cfg.port).await?;
    if let Some(user) = &cfg.username {
        conn.login_step("USERNAME", user).await?;
    }
    if let Some(password) = &cfg.password {
        conn.login_step("PASSWORD", password.expose()).await?;
    }
    let mut vars = BTreeMap::new();
    // realpower alone is the common case: one round trip
    for var in [
        "ups.realpower",
        "ups.load",
        "ups.realpower.nominal",
        "ups.power",
        "ups.power.nominal",
    ] {
        if let Some(v) = conn.get(&cfg.ups, var).await? {
            vars.insert(var, v);
        }
        if vars.contains_key("ups.realpower") {
            break;
        }
    }
    // best effort: upsd drops the session anyway when the socket closes
    let _ = conn.exchange("LOGOUT").await;
    derive(&vars, cfg.power_factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_replies() {
        assert_eq!(
            parse_reply("VAR ups ups.realpower \"23\"\n", "ups", "ups.realpower"),
            Ok(Reply::Value("23".into()))
        );
        assert_eq!(
            parse_reply(
                r#"VAR ups ups.mfr "A \"quoted\" \\ name""#,
                "ups",
                "ups.mfr"
            ),
            Ok(Reply::Value(r#"A "quoted" \ name"#.into()))
        );
        assert_eq!(
            parse_reply("ERR VAR-NOT-SUPPORTED", "ups", "ups.realpower"),
            Ok(Reply::Error("VAR-NOT-SUPPORTED".into()))
        );
        assert_eq!(
            parse_reply("VAR other ups.realpower \"1\"", "ups", "ups.realpower")
                .unwrap_err()
                .to_string(),
            "upsd reply, line 1: expected `VAR ups ups.realpower \"...\"`, got \"VAR other ups.realpower \\\"1\\\"\""
        );
        assert!(parse_reply("VAR ups ups.load 12", "ups", "ups.load").is_err());
        assert!(parse_reply("", "ups", "ups.load").is_err());
    }

    #[test]
    fn derives_watts_in_order_of_preference() {
        let vars = |list: &[(&'static str, f64)]| list.iter().copied().collect::<BTreeMap<_, _>>();
        let r = derive(&vars(&[("ups.realpower", 23.0), ("ups.load", 50.0)]), None).unwrap();
        assert_eq!(
            (r.watts, r.method, r.energy_joules),
            (23.0, "ups.realpower", None)
        );
        let r = derive(
            &vars(&[("ups.load", 12.0), ("ups.realpower.nominal", 900.0)]),
            None,
        )
        .unwrap();
        assert_eq!(
            (r.watts, r.method),
            (108.0, "ups.load*ups.realpower.nominal")
        );
        let va = vars(&[("ups.power", 100.0)]);
        assert_eq!(derive(&va, None).unwrap_err().kind(), "unsupported");
        let r = derive(&va, Some(0.9)).unwrap();
        assert_eq!((r.watts, r.method), (90.0, "ups.power*power_factor"));
        let r = derive(
            &vars(&[("ups.load", 10.0), ("ups.power.nominal", 1500.0)]),
            Some(0.6),
        )
        .unwrap();
        assert!((r.watts - 90.0).abs() < 1e-9);
        assert_eq!(r.method, "ups.load*ups.power.nominal*power_factor");
        let e = derive(&vars(&[("ups.load", 10.0)]), Some(0.6)).unwrap_err();
        assert!(e.to_string().contains("none of ups.realpower"), "{e}");
    }

    #[test]
    fn quotes_arguments() {
        assert_eq!(quote(r#"pa"ss\word"#), r#""pa\"ss\\word""#);
    }
}

/// The real thing: Debian's `nut-server` (`upsd` and the `dummy-ups` driver serving values from a
/// `.dev` file) started in a tempdir on a free loopback port.
#[cfg(test)]
mod upsd_tests {
    use std::path::{Path, PathBuf};
    use std::process::{Child, Stdio};
    use std::time::{Duration, SystemTime};

    use super::*;

    const UPS: &str = "dummy";

    /// Where Debian (and others) put the NUT daemons; `/sbin/upsd` is only a wrapper that refuses
    /// to start unless /etc/nut/nut.conf enables it.
    fn nut_binary(name: &str) -> Option<PathBuf> {
        [
            "/lib/nut",
            "/usr/lib/nut",
            "/usr/libexec/nut",
            "/usr/lib/x86_64-linux-gnu/nut",
        ]
        .iter()
        .map(|dir| Path::new(dir).join(name))
        .find(|p| p.is_file())
    }

    fn is_root() -> bool {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("Uid:"))
                    .and_then(|l| l.split_whitespace().nth(2).map(|euid| euid == "0"))
            })
            .unwrap_or(false)
    }

    /// The driver and upsd; killed and reaped on drop, so a failing test leaves nothing behind.
    struct Daemons {
        children: Vec<Child>,
        dir: tempfile::TempDir,
    }

    impl Drop for Daemons {
        fn drop(&mut self) {
            for child in self.children.iter_mut().rev() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }

    impl Daemons {
        fn start(driver: &Path, upsd: &Path, port: u16, dev: &str) -> Self {
            // a second UPS whose driver has no ups.realpower: the load x nominal fallback
            const LOAD_ONLY: &str = "ups.status: OL\nups.load: 12\nups.realpower.nominal: 500\n";
            let dir = tempfile::tempdir().unwrap();
            let d = dir.path();
            std::fs::create_dir(d.join("state")).unwrap();
            std::fs::write(d.join("dummy.dev"), dev).unwrap();
            std::fs::write(d.join("loadonly.dev"), LOAD_ONLY).unwrap();
            std::fs::write(
                d.join("ups.conf"),
                format!(
                    "[{UPS}]\n  driver = dummy-ups\n  port = {}\n\
                     [loadonly]\n  driver = dummy-ups\n  port = {}\n",
                    d.join("dummy.dev").display(),
                    d.join("loadonly.dev").display()
                ),
            )
            .unwrap();
            std::fs::write(d.join("upsd.conf"), format!("LISTEN 127.0.0.1 {port}\n")).unwrap();
            std::fs::write(
                d.join("upsd.users"),
                "[monitor]\n  password = \"pa ss\"\n  upsmon secondary\n",
            )
            .unwrap();
            let mut daemons = Self {
                children: Vec::new(),
                dir,
            };
            // as root the daemons would drop to the `nut` user, which can't read the tempdir
            let user: &[&str] = if is_root() { &["-u", "root"] } else { &[] };
            for (program, args) in [
                (driver, vec!["-a", UPS, "-F"]),
                (driver, vec!["-a", "loadonly", "-F"]),
                (upsd, vec!["-F"]),
            ] {
                #[allow(clippy::disallowed_methods)]
                // test fixture daemons, not a command hostwatt runs
                let child = std::process::Command::new(program)
                    .args(args)
                    .args(user)
                    .env("NUT_CONFPATH", daemons.dir.path())
                    .env("NUT_STATEPATH", daemons.dir.path().join("state"))
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap_or_else(|e| panic!("{}: {e}", program.display()));
                daemons.children.push(child);
                // upsd connects to the driver's socket at start; give the driver a head start
                std::thread::sleep(Duration::from_millis(300));
            }
            daemons
        }

        /// Rewrites the `.dev` file. dummy-ups re-reads a `.dev` file when its mtime changes, which
        /// it may compare in whole seconds: move the mtime forward so the change is always seen.
        fn set_values(&self, dev: &str) {
            let path = self.dir.path().join("dummy.dev");
            std::fs::write(&path, dev).unwrap();
            let file = std::fs::File::options().write(true).open(&path).unwrap();
            let bump = SystemTime::now() + Duration::from_secs(2 + self.children.len() as u64);
            file.set_modified(bump).unwrap();
        }
    }

    /// Reads until `want` (the driver polls every 2 s, and reads its file after start-up), at most
    /// ~20 s; returns the last result.
    async fn read_until(cfg: &Config, want: f64) -> Result<Reading, MeterError> {
        let mut last = Err(MeterError::Protocol("never read".into()));
        for _ in 0..100 {
            last = tokio::time::timeout(Duration::from_secs(2), read(cfg))
                .await
                .unwrap_or(Err(MeterError::Timeout {
                    after: Duration::from_secs(2),
                }));
            if matches!(&last, Ok(r) if r.watts == want) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        last
    }

    #[tokio::test]
    async fn reads_a_dummy_ups_through_real_upsd() {
        let (Some(driver), Some(upsd)) = (nut_binary("dummy-ups"), nut_binary("upsd")) else {
            assert!(
                std::env::var_os("HOSTWATT_REQUIRE_TOOLS").is_none_or(|v| v != "1"),
                "nut-server (upsd, dummy-ups) is not installed and HOSTWATT_REQUIRE_TOOLS=1"
            );
            eprintln!("skipped: nut-server (upsd, dummy-ups) is not installed");
            return;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let daemons = Daemons::start(
            &driver,
            &upsd,
            port,
            "ups.status: OL\nups.realpower: 23\nups.load: 10\nups.realpower.nominal: 500\n",
        );
        let mut cfg = Config {
            host: "127.0.0.1".into(),
            port,
            ups: UPS.into(),
            username: Some("monitor".into()),
            password: Some(Secret::new("pa ss")),
            power_factor: None,
        };
        let r = read_until(&cfg, 23.0).await.unwrap();
        assert_eq!((r.watts, r.method), (23.0, "ups.realpower"));

        daemons.set_values(
            "ups.status: OL\nups.realpower: 42.5\nups.load: 10\nups.realpower.nominal: 500\n",
        );
        let r = read_until(&cfg, 42.5).await.unwrap();
        assert_eq!(r.watts, 42.5, "the value follows the file");

        cfg.ups = "loadonly".into();
        let r = read_until(&cfg, 60.0).await.unwrap();
        assert_eq!(
            (r.watts, r.method),
            (60.0, "ups.load*ups.realpower.nominal")
        );

        cfg.ups = "nosuch".into();
        let e = read(&cfg).await.unwrap_err();
        assert_eq!(
            e.to_string(),
            "not supported by the device: upsd knows no UPS named \"nosuch\""
        );
        drop(daemons);
        let e = read(&cfg).await.unwrap_err();
        assert_eq!(e.kind(), "connect", "upsd is gone with the guard: {e}");
    }
}
