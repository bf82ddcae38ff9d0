//! The HTTP meters against loopback servers answering in each API's documented format, plus
//! servers that never answer, answer 500, or answer garbage.

use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::RawQuery;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest as _, Sha256};
use tokio::net::TcpListener;

use super::http::{Endpoint, auth_params};
use super::shelly::tests::{GEN1_PLUG_S, GEN2_SWITCH};
use super::tasmota::tests::PLUG;
use super::{Meter, MeterError, Secret, Source, read, shelly, tasmota};
use crate::collectors::meters::{Config as CollectorConfig, Meters};
use crate::collectors::{Collector, Context};
use crate::host::command::Runner;
use crate::host::root::Root;

const GEN1_INFO: &str = r#"{"type":"SHPLG-S","mac":"A4CF12F3D4E5","auth":true,"fw":"20230913-112003/v1.14.0-gcb84623"}"#;
const GEN2_INFO: &str =
    r#"{"id":"shellyplusplugs-d4d4da7c1234","model":"SNPL-00112EU","gen":2,"auth_en":true}"#;
const REALM: &str = "shellyplusplugs-d4d4da7c1234";
const NONCE: &str = "6fdd5f59";
const LIMIT: Duration = Duration::from_secs(5);

async fn serve(router: Router) -> Endpoint {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, router).await });
    Endpoint::local("127.0.0.1", port)
}

fn json(body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Gen1: `/status` behind Basic auth admin:hunter2.
async fn gen1_server() -> Endpoint {
    serve(
        Router::new()
            .route("/shelly", get(|| async { json(GEN1_INFO) }))
            .route(
                "/status",
                get(|headers: HeaderMap| async move {
                    // base64("admin:hunter2")
                    match headers
                        .get(header::AUTHORIZATION)
                        .map(|v| v.to_str().unwrap())
                    {
                        Some("Basic YWRtaW46aHVudGVyMg==") => json(GEN1_PLUG_S),
                        _ => StatusCode::UNAUTHORIZED.into_response(),
                    }
                }),
            ),
    )
    .await
}

/// Checks a Digest answer as a Shelly Gen2 does (RFC 7616, SHA-256, user admin).
fn digest_ok(authorization: &str, password: &str) -> bool {
    let Some(params) = authorization.strip_prefix("Digest ") else {
        return false;
    };
    let p: std::collections::HashMap<_, _> = auth_params(params).into_iter().collect();
    let hex = |s: String| -> String {
        Sha256::digest(s.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    let ha1 = hex(format!("admin:{REALM}:{password}"));
    let ha2 = hex(format!("GET:{}", p["uri"]));
    let want = hex(format!(
        "{ha1}:{NONCE}:{}:{}:{}:{ha2}",
        p["nc"], p["cnonce"], p["qop"]
    ));
    p["username"] == "admin"
        && p["realm"] == REALM
        && p["nonce"] == NONCE
        && p["uri"] == "/rpc/Switch.GetStatus?id=0"
        && p["response"] == want
}

/// Gen2: `/rpc/Switch.GetStatus?id=0` behind Digest auth with password hunter2.
async fn gen2_server() -> Endpoint {
    serve(
        Router::new()
            .route("/shelly", get(|| async { json(GEN2_INFO) }))
            .route(
                "/rpc/Switch.GetStatus",
                get(|headers: HeaderMap, RawQuery(q): RawQuery| async move {
                    if q.as_deref() != Some("id=0") {
                        return (StatusCode::BAD_REQUEST, "wrong id").into_response();
                    }
                    match headers.get(header::AUTHORIZATION).map(|v| v.to_str().unwrap()) {
                        Some(a) if digest_ok(a, "hunter2") => json(GEN2_SWITCH),
                        _ => (
                            StatusCode::UNAUTHORIZED,
                            [(
                                header::WWW_AUTHENTICATE,
                                format!(
                                    "Digest qop=\"auth\", realm=\"{REALM}\", nonce=\"{NONCE}\", algorithm=SHA-256"
                                ),
                            )],
                        )
                            .into_response(),
                    }
                }),
            ),
    )
    .await
}

/// Tasmota: `/cm?cmnd=Status%2010` with query credentials admin / p&ss.
async fn tasmota_server() -> Endpoint {
    serve(Router::new().route(
        "/cm",
        get(|RawQuery(q): RawQuery| async move {
            match q.as_deref() {
                Some("cmnd=Status%2010&user=admin&password=p%26ss") => json(PLUG),
                _ => json(r#"{"WARNING":"Need user=<username>&password=<password>"}"#),
            }
        }),
    ))
    .await
}

fn shelly(url: Endpoint, generation: shelly::Generation, password: Option<&str>) -> Source {
    Source::Shelly(shelly::Config {
        url,
        generation,
        channel: 0,
        component: shelly::Component::Switch,
        username: "admin".into(),
        password: password.map(Secret::new),
    })
}

async fn read_source(source: &Source) -> Result<super::Reading, MeterError> {
    read(source, &Runner::replay(Vec::new()), LIMIT).await
}

async fn read_shelly(
    url: &Endpoint,
    generation: shelly::Generation,
    password: Option<&str>,
) -> Result<super::Reading, MeterError> {
    read_source(&shelly(url.clone(), generation, password)).await
}

#[tokio::test]
async fn reads_shelly_gen1_with_basic_auth() {
    let url = gen1_server().await;
    let r = read_shelly(&url, shelly::Generation::Auto, Some("hunter2"))
        .await
        .unwrap();
    assert_eq!((r.watts, r.energy_joules), (42.17, Some(439237.0 * 60.0)));
    let e = read_shelly(&url, shelly::Generation::Gen1, Some("wrong"))
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "authentication failed: HTTP 401; wrong username or password"
    );
    let e = read_shelly(&url, shelly::Generation::Gen1, None)
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "authentication failed: HTTP 401; the device wants a password"
    );
}

#[tokio::test]
async fn reads_shelly_gen2_with_digest_auth() {
    let url = gen2_server().await;
    let r = read_shelly(&url, shelly::Generation::Auto, Some("hunter2"))
        .await
        .unwrap();
    assert_eq!(
        (r.watts, r.energy_joules, r.method),
        (8.9, Some(6532.25 * 3600.0), "apower")
    );
    let e = read_shelly(&url, shelly::Generation::Gen2, Some("s3cr3t-bad"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), "auth");
    assert!(!format!("{e} {e:?}").contains("s3cr3t"), "{e}");
}

#[tokio::test]
async fn reads_tasmota_with_query_credentials() {
    let url = tasmota_server().await;
    let cfg = |password: &str| {
        Source::Tasmota(tasmota::Config {
            url: url.clone(),
            channel: 1,
            username: "admin".into(),
            password: Some(Secret::new(password)),
        })
    };
    let r = read_source(&cfg("p&ss")).await.unwrap();
    assert_eq!(r.watts, 23.0);
    let e = read_source(&cfg("nope")).await.unwrap_err();
    assert_eq!(e.kind(), "auth");
    assert!(!format!("{e} {e:?}").contains("nope"), "{e}");
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket); // accept, read nothing, answer nothing
        }
    });
    let source = shelly(
        Endpoint::local("127.0.0.1", port),
        shelly::Generation::Gen2,
        None,
    );
    let limit = Duration::from_millis(200);
    let e = read(&source, &Runner::replay(Vec::new()), limit)
        .await
        .unwrap_err();
    assert!(
        matches!(e, MeterError::Timeout { after } if after == limit),
        "{e}"
    );
    assert_eq!(e.kind(), "timeout");
}

#[tokio::test]
async fn a_500_is_an_http_error() {
    let url = serve(Router::new().route(
        "/rpc/Switch.GetStatus",
        get(|| async {
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                r#"{"code":-105,"message":"Argument 'id', value 0 not found!"}"#,
            )
        }),
    ))
    .await;
    let e = read_shelly(&url, shelly::Generation::Gen2, None)
        .await
        .unwrap_err();
    assert!(matches!(e, MeterError::Http { status: 500 }), "{e}");
}

#[tokio::test]
async fn garbage_json_is_a_parse_error() {
    let url = serve(Router::new().route(
        "/status",
        get(|| async { json("{\"meters\":[{\"power\":") }),
    ))
    .await;
    let e = read_shelly(&url, shelly::Generation::Gen1, None)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), "parse");
    assert!(
        e.to_string().starts_with("shelly gen1 /status, line 1: "),
        "{e}"
    );
}

#[tokio::test]
async fn negative_power_is_a_device_error_and_noise_near_zero_is_zero() {
    // a Gen1 Shelly EM with its clamp the wrong way round reads negative
    let body =
        |w: &str| format!("{{\"meters\":[{{\"power\":{w},\"is_valid\":true,\"total\":-5}}]}}");
    let reversed =
        serve(Router::new().route("/status", get(move || async move { body("-61.5") }))).await;
    let e = read_shelly(&reversed, shelly::Generation::Gen1, None)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), "device", "{e}");
    assert!(e.to_string().contains("impossible power -61.5 W"), "{e}");
    let idle =
        serve(Router::new().route("/status", get(move || async move { body("-0.4") }))).await;
    let r = read_shelly(&idle, shelly::Generation::Gen1, None)
        .await
        .unwrap();
    assert_eq!(
        (r.watts, r.energy_joules),
        (0.0, None),
        "a negative total is dropped"
    );
}

#[tokio::test]
async fn a_closed_port_is_a_connect_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let e = read_source(&shelly(
        Endpoint::local("127.0.0.1", port),
        shelly::Generation::Gen1,
        None,
    ))
    .await
    .unwrap_err();
    assert_eq!(e.kind(), "connect");
}

#[tokio::test]
async fn collector_reads_every_meter_and_isolates_a_dead_one() {
    let good = gen2_server().await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_port = listener.local_addr().unwrap().port();
    drop(listener);
    let meters = vec![
        Meter {
            name: "wall".into(),
            source: shelly(good, shelly::Generation::Auto, Some("hunter2")),
        },
        Meter {
            name: "gone".into(),
            source: shelly(
                Endpoint::local("127.0.0.1", dead_port),
                shelly::Generation::Gen1,
                None,
            ),
        },
    ];
    let mut c = Meters::new(CollectorConfig::default(), meters);
    let cx = Context {
        root: Root::new("/"),
        runner: Runner::replay(Vec::new()),
    };
    for _ in 0..2 {
        let sample = c.sample(&cx, Instant::now()).await.unwrap();
        let items: Vec<_> = sample
            .faults
            .iter()
            .map(|f| (f.item.as_str(), f.error.kind().as_str()))
            .collect();
        assert_eq!(items, [("gone", "io")]);
        let reg = prometheus::Registry::new();
        let (tx, rx) = tokio::sync::watch::channel(None);
        reg.register(Box::new(crate::metrics::SnapshotCollector::<
            crate::collectors::meters::Snapshot,
        >::new(rx)))
            .unwrap();
        tx.send_replace(Some(std::sync::Arc::new(sample.snapshot)));
        let text = crate::metrics::exposition(&reg);
        assert!(
            text.contains("hostwatt_meters_power_watts{meter=\"wall\",kind=\"shelly\"} 8.9\n"),
            "{text}"
        );
        assert!(text.contains("hostwatt_meters_device_energy_joules_total{meter=\"wall\",kind=\"shelly\"} 23516100\n"), "{text}");
        assert!(
            text.contains("hostwatt_meters_up{meter=\"gone\",kind=\"shelly\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains("hostwatt_meters_up{meter=\"wall\",kind=\"shelly\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "hostwatt_meters_info{meter=\"wall\",kind=\"shelly\",method=\"apower\"} 1\n"
            ),
            "{text}"
        );
        assert!(
            !text.contains("hostwatt_meters_power_watts{meter=\"gone\""),
            "unknown is no series: {text}"
        );
    }
    // three rounds, three failures counted; the detected generation stuck
    let sample = c.sample(&cx, Instant::now()).await.unwrap();
    let gone = &sample.snapshot.meters[1];
    assert_eq!(
        (gone.error, gone.errors.get("connect")),
        (Some("connect"), Some(&3))
    );
    let Some(Source::Shelly(wall)) = c.meters().next().map(|m| &m.source) else {
        panic!("not shelly")
    };
    assert_eq!(wall.generation, shelly::Generation::Gen2);
}

#[tokio::test]
async fn no_meters_is_unavailable() {
    let mut c = Meters::new(CollectorConfig::default(), Vec::new());
    let cx = Context {
        root: Root::new("/"),
        runner: Runner::replay(Vec::new()),
    };
    let e = c.sample(&cx, Instant::now()).await.unwrap_err();
    assert_eq!(e.kind(), "unavailable");
}
