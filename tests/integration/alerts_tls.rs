//! `hostwatt alerts` and `hostwatt audit` against the real daemon behind TLS and basic auth
//! (the setup docs/install.md recommends): a self-signed certificate for `localhost` made here,
//! trusted with --ca-file or skipped with --insecure, the password from the environment or a
//! file.

use std::process::{Command, Stdio};

use crate::support;

use crate::tls::PASSWORD;
/// What the daemon's /api/alerts says with every collector and alerting off: proof the JSON
/// came through TLS and auth.
const DISABLED: &str = "alerts are disabled in this daemon's config ([alerts] enabled = false)\n";

struct Served {
    _tls: crate::tls::Tls,
    ca: std::path::PathBuf,
    url: String,
    _daemon: support::Daemon,
}

fn serve() -> Served {
    serve_with(false)
}

/// The daemon with every collector off, but the advisor when `advisor`.
fn serve_with(advisor: bool) -> Served {
    // tls.rs's certificate for localhost, web config and basic-auth user `prometheus`
    let tls = crate::tls::setup("");
    let web = tls.web_file.clone();
    let ca = web.with_file_name("server.crt");
    let dir = &tls._dir;
    let conf = dir.path().join("hostwatt.toml");
    let only: &[&str] = if advisor { &["advisor"] } else { &[] };
    let config = support::config_enabling_only(only);
    assert_eq!(
        config.contains("[collectors.advisor]\nenabled = true\n"),
        advisor,
        "{config}"
    );
    std::fs::write(&conf, config).expect("write config");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let child = support::hostwatt()
        .arg("run")
        .arg("--config")
        .arg(&conf)
        .arg("--web.config.file")
        .arg(&web)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .arg("--state-dir")
        .arg(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start hostwatt run");
    let mut served = Served {
        ca,
        url: format!("https://localhost:{port}"),
        _daemon: support::Daemon(child),
        _tls: tls,
    };
    // ready once the TLS port answers at all (the client's own error until then)
    support::poll_until("the TLS port", 600, || {
        served._daemon.assert_running();
        let (code, _, _) = alerts(&served, &["--insecure"], None);
        (code == Some(0) || code == Some(1)).then_some(())
    });
    served
}

fn alerts(served: &Served, args: &[&str], password: Option<&str>) -> (Option<i32>, String, String) {
    alerts_at(&served.url, args, password)
}

fn alerts_at(url: &str, args: &[&str], password: Option<&str>) -> (Option<i32>, String, String) {
    ask("alerts", url, args, password)
}

/// `hostwatt <command> --url <url> <args>`, the password in the environment when given.
fn ask(
    command: &str,
    url: &str,
    args: &[&str],
    password: Option<&str>,
) -> (Option<i32>, String, String) {
    let mut cmd: Command = support::hostwatt();
    cmd.args([command, "--url", url])
        .args(args)
        .env_remove("HOSTWATT_ALERTS_PASSWORD");
    if let Some(p) = password {
        cmd.env("HOSTWATT_ALERTS_PASSWORD", p);
    }
    let out = cmd.output().expect("run hostwatt alerts");
    let (stdout, stderr) = support::texts(&out);
    (out.status.code(), stdout, stderr)
}

#[test]
fn alerts_reaches_a_daemon_behind_tls_and_basic_auth() {
    let served = serve();
    let ca = served.ca.to_str().expect("utf-8").to_owned();

    // trusted CA, password from the environment
    let (code, stdout, stderr) = alerts(
        &served,
        &["--ca-file", &ca, "--user", "prometheus"],
        Some(PASSWORD),
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout, DISABLED);

    // --insecure, password from a file
    let file = served._tls._dir.path().join("password");
    std::fs::write(&file, format!("{PASSWORD}\n")).expect("write");
    let (code, stdout, stderr) = alerts(
        &served,
        &[
            "--insecure",
            "--user",
            "prometheus",
            "--password-file",
            file.to_str().expect("utf-8"),
        ],
        None,
    );
    assert_eq!((code, stdout.as_str()), (Some(0), DISABLED), "{stderr}");

    // no credentials: the 401 says which flags to use
    let (code, _, stderr) = alerts(&served, &["--ca-file", &ca], None);
    assert_ne!(code, Some(0));
    assert!(
        stderr.contains("401")
            && stderr.contains("--user NAME")
            && stderr.contains("HOSTWATT_ALERTS_PASSWORD"),
        "{stderr}"
    );

    // a wrong password is refused too
    let (code, _, stderr) = alerts(
        &served,
        &["--ca-file", &ca, "--user", "prometheus"],
        Some("wrong"),
    );
    assert_ne!(code, Some(0));
    assert!(stderr.contains("401"), "{stderr}");

    // the self-signed certificate is not in the system's store: the error names the fix
    let (code, _, stderr) = alerts(&served, &["--user", "prometheus"], Some(PASSWORD));
    assert_ne!(code, Some(0));
    assert!(
        stderr.contains("certificate")
            && stderr.contains("--ca-file PATH")
            && stderr.contains("--insecure"),
        "{stderr}"
    );

    // plain http to the TLS daemon: use https
    let mut plain = served.url.replace("https://", "http://");
    let (code, _, stderr) = alerts_at(&plain, &["--user", "prometheus"], Some(PASSWORD));
    assert_ne!(code, Some(0));
    assert!(stderr.contains("use an https:// URL"), "{stderr}");
    // nothing listening: not a TLS question (it used to say "use an https:// URL")
    plain.truncate(plain.rfind(':').expect("port"));
    let (code, _, stderr) = alerts_at(&format!("{plain}:1"), &[], None);
    assert_ne!(code, Some(0));
    assert!(
        stderr.contains("; is hostwatt running there? (systemctl status hostwatt")
            && !stderr.contains("use an https:// URL"),
        "{stderr}"
    );

    // --user with no password anywhere: where to put it, never a flag
    let (code, _, stderr) = alerts(&served, &["--ca-file", &ca, "--user", "prometheus"], None);
    assert_ne!(code, Some(0));
    assert!(
        stderr.contains("--user prometheus needs a password: set HOSTWATT_ALERTS_PASSWORD or pass --password-file PATH"),
        "{stderr}"
    );
}

/// `hostwatt audit` takes the same access flags as `alerts`: it prints the report of the daemon
/// behind TLS and basic auth, and a refusal of a daemon named by --url is an error whose hint
/// names flags audit has.
#[test]
fn audit_reaches_a_daemon_behind_tls_and_basic_auth() {
    let served = serve_with(true);
    let ca = served.ca.to_str().expect("utf-8").to_owned();
    let access = ["--json", "--ca-file", &ca, "--user", "prometheus"];
    // the advisor's first round may still run: 503 until then
    let (stdout, stderr) = support::poll_until("the daemon's advice", 600, || {
        let (code, stdout, stderr) = ask("audit", &served.url, &access, Some(PASSWORD));
        (code == Some(0)).then_some((stdout, stderr))
    });
    let report: serde_json::Value = serde_json::from_str(&stdout).expect(&stderr);
    // the daemon's report: its wall collector is off, so no idle basis (a report sampled here
    // would say "one sample, not known to be idle")
    assert_eq!(report["idle_basis"], "", "{stdout}");
    let notes = report["notes"].as_array().expect("notes");
    assert!(notes.iter().all(|n| n["check"] != "daemon"), "{stdout}");

    // no credentials: an error (not a one-shot report) naming audit's own flags
    let (code, stdout, stderr) = ask("audit", &served.url, &["--ca-file", &ca], None);
    assert!(
        code.is_some_and(|c| c != 0) && stdout.is_empty(),
        "{code:?} {stderr}"
    );
    assert!(
        stderr.contains("401")
            && stderr.contains("--user NAME")
            && stderr.contains("HOSTWATT_ALERTS_PASSWORD"),
        "{stderr}"
    );
    // --insecure and a password file, as for alerts
    let file = served._tls._dir.path().join("password");
    std::fs::write(&file, format!("{PASSWORD}\n")).expect("write");
    let file = file.to_str().expect("utf-8");
    let args = [
        "--json",
        "--insecure",
        "--user",
        "prometheus",
        "--password-file",
        file,
    ];
    let (code, stdout, stderr) = ask("audit", &served.url, &args, None);
    assert_eq!(code, Some(0), "{stderr}");
    let again: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(again["idle_basis"], "");
}
