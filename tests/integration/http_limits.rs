//! The HTTP endpoint under attack and in negotiation, on loopback: slowloris at the connection
//! cap, half-sent and oversized headers, gzip and OpenMetrics as Prometheus asks for them, `/`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use hostwatt::server::conn::Limits;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};

use crate::support::{self, Case};

/// A server on an ephemeral port with `limits` over the `rapl-wrap` case (keep the returned
/// tree alive); stops when the sender is dropped or fired.
async fn start(limits: Limits) -> (String, oneshot::Sender<()>, hostwatt::app::App, impl Drop) {
    let (app, root) = Case::load("rapl-wrap").run().await;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr").to_string();
    let (served_tx, served) = watch::channel(app.served());
    let (_web_tx, web) = watch::channel(std::sync::Arc::new(hostwatt::web::WebConfig::default()));
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let _keep = (served_tx, _web_tx);
        hostwatt::server::serve_with(listener, served, web, limits, async move {
            let _ = stop_rx.await;
        })
        .await
    });
    (addr, stop_tx, app, root)
}

/// Sends `request` on a fresh connection and reads to the end: (head, body bytes).
fn raw(addr: &str, request: &str) -> std::io::Result<(String, Vec<u8>)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    s.write_all(request.as_bytes())?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    let end = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other(format!("no head: {out:?}")))?;
    let head = String::from_utf8_lossy(&out[..end]).into_owned();
    Ok((head, out[end + 4..].to_vec()))
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("client thread")
}

/// Whether the server closed `s` (EOF or reset) before `within`; false if it is still open.
fn closed_by_server(s: &mut TcpStream, within: Duration) -> bool {
    s.set_read_timeout(Some(within)).expect("timeout");
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue, // a 408 or 431 before the close
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

#[tokio::test]
async fn a_scrape_gets_through_a_slowloris_flood_at_the_connection_cap() {
    let limits = Limits {
        max_connections: 8,
        ..Limits::default()
    };
    let (addr, _stop, _app, _root) = start(limits).await;
    let a = addr.clone();
    let (scrape, mut slow) = blocking(move || {
        // twice the cap in half-sent headers: each takes the slot of an older one
        let mut slow: Vec<TcpStream> = (0..16)
            .map(|_| {
                let mut s = TcpStream::connect(&a).expect("connect");
                s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                    .expect("write");
                s
            })
            .collect();
        // let the server take them all in before the scrape
        for s in &mut slow {
            let _ = s.write_all(b"a");
        }
        std::thread::sleep(Duration::from_millis(200));
        (support::http_get(&a, "/metrics"), slow)
    })
    .await;
    let scrape = scrape.expect("scrape during the flood");
    assert_eq!(scrape.status, 200);
    assert!(
        support::value(
            &scrape.body,
            "hostwatt_collector_success{collector=\"rapl\"}"
        ) == Some(1.0),
        "{}",
        scrape.body
    );
    // the oldest slow connections were closed to make room
    let first = blocking(move || closed_by_server(&mut slow[0], Duration::from_secs(10))).await;
    assert!(first, "the oldest half-sent header still holds its slot");
}

#[tokio::test]
async fn half_sent_and_oversized_headers_are_cut_off() {
    let limits = Limits {
        header_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let (addr, _stop, _app, _root) = start(limits).await;
    let a = addr.clone();
    let (half_closed, big) = blocking(move || {
        let mut half = TcpStream::connect(&a).expect("connect");
        half.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
            .expect("write");
        let closed = closed_by_server(&mut half, Duration::from_secs(20));
        let big = raw(
            &a,
            &format!(
                "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
                "a".repeat(400 << 10)
            ),
        );
        (closed, big)
    })
    .await;
    assert!(half_closed, "a header never finished keeps its connection");
    // hyper answers 431 when it can; a reset while the client still writes is as good
    if let Ok((head, _)) = big {
        assert!(head.starts_with("HTTP/1.1 431"), "{head}");
    }
    let ok = blocking(move || support::http_get(&addr, "/healthz")).await;
    assert_eq!(ok.expect("healthz").status, 200);
}

#[tokio::test]
async fn an_idle_keep_alive_outlives_the_header_timeout() {
    let limits = Limits {
        header_timeout: Duration::from_millis(200),
        idle_timeout: Duration::from_secs(60),
        ..Limits::default()
    };
    let (addr, _stop, _app, _root) = start(limits).await;
    let answers = blocking(move || {
        let mut s = TcpStream::connect(&addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        let mut answers = Vec::new();
        for _ in 0..2 {
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                .expect("write");
            let mut buf = [0u8; 1024];
            let n = s.read(&mut buf).expect("read");
            answers.push(String::from_utf8_lossy(&buf[..n]).into_owned());
            // idle for three header timeouts: Prometheus between two scrapes
            std::thread::sleep(Duration::from_millis(600));
        }
        answers
    })
    .await;
    assert_eq!(answers.len(), 2);
    for a in &answers {
        assert!(
            a.starts_with("HTTP/1.1 200 OK") && a.ends_with("ok\n"),
            "{a}"
        );
    }
}

#[tokio::test]
async fn answers_gzip_and_openmetrics_as_prometheus_asks() {
    let (addr, _stop, app, _root) = start(Limits::default()).await;
    let a = addr.clone();
    let (head, body) = blocking(move || {
        raw(
            &a,
            "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
             Accept: application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1\r\n\
             Accept-Encoding: gzip\r\n\r\n",
        )
    })
    .await
    .expect("scrape");
    let head = head.to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("content-encoding: gzip"), "{head}");
    assert!(
        head.contains("content-type: application/openmetrics-text; version=1.0.0; charset=utf-8"),
        "{head}"
    );
    let mut text = String::new();
    flate2::read::GzDecoder::new(body.as_slice())
        .read_to_string(&mut text)
        .expect("gzip body");
    assert!(text.ends_with("\n# EOF\n"), "{text}");
    assert!(
        text.contains(
            "# TYPE hostwatt_rapl_energy_joules counter\n# UNIT hostwatt_rapl_energy_joules joules\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("\nhostwatt_rapl_energy_joules_total{"),
        "{text}"
    );
    assert!(!text.contains("# TYPE hostwatt_rapl_energy_joules_total"));
    let rendered = hostwatt::metrics::exposition(&app.registry);
    // the same samples as the text format: every counter sample keeps its _total name
    let samples = |t: &str| t.lines().filter(|l| !l.starts_with('#')).count();
    assert_eq!(samples(&text), samples(&rendered));

    // plain text, uncompressed, for a client that asks for nothing
    let a = addr.clone();
    let (head, body) = blocking(move || {
        raw(
            &a,
            "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
    })
    .await
    .expect("scrape");
    assert!(
        !head.to_ascii_lowercase().contains("content-encoding"),
        "{head}"
    );
    assert!(!String::from_utf8_lossy(&body).contains("# EOF"));
}

#[tokio::test]
async fn the_root_page_links_the_endpoints() {
    let (addr, _stop, _app, _root) = start(Limits::default()).await;
    let page = blocking(move || support::http_get(&addr, "/"))
        .await
        .expect("GET /");
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    for link in [
        "href=\"metrics\"",
        "href=\"healthz\"",
        "href=\"api/alerts\"",
    ] {
        assert!(page.body.contains(link), "{link} in {}", page.body);
    }
}

#[test]
fn the_daemon_raises_its_soft_open_files_limit_to_the_hard_one() {
    let Some(prlimit) = support::require_tool("prlimit", "starting the daemon at a low soft limit")
    else {
        return;
    };
    let root = Case::load("rapl-wrap").build_root();
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = dir.path().join("hostwatt.toml");
    std::fs::write(&conf, support::config_enabling_only(&["rapl"])).expect("config");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let addr = format!("127.0.0.1:{port}");
    // prlimit execs the daemon: the child's pid is the daemon's
    let child = std::process::Command::new(prlimit)
        .arg("--nofile=512:4096")
        .arg("--")
        .arg(env!("CARGO_BIN_EXE_hostwatt"))
        .arg("run")
        .arg("--root")
        .arg(root.path())
        .args(["--listen", &addr])
        .arg("--config")
        .arg(&conf)
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start hostwatt under prlimit");
    let mut daemon = support::Daemon(child);
    support::poll_until("/healthz", 600, || {
        daemon.assert_running();
        support::http_get(&addr, "/healthz")
            .ok()
            .filter(|r| r.status == 200)
    });
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", daemon.0.id()))
        .expect("/proc/PID/limits");
    let open_files = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .map(|l| l.split_whitespace().skip(3).take(2).collect::<Vec<_>>());
    assert_eq!(open_files, Some(vec!["4096", "4096"]), "{limits}");
    assert_eq!(daemon.stop().code(), Some(0));
}

#[test]
fn zero_max_connections_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = dir.path().join("hostwatt.toml");
    std::fs::write(&conf, "[daemon]\nmax_connections = 0\n").expect("config");
    let out = support::hostwatt()
        .arg("check-config")
        .arg("--config")
        .arg(&conf)
        .output()
        .expect("run");
    let (_, stderr) = support::texts(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("daemon.max_connections: must be at least 1"),
        "{stderr}"
    );
}
