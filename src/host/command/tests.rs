//! `Runner` against real programs: exit codes as data, timeouts, floods, process groups.
use super::*;
use std::os::unix::process::CommandExt as _;

fn sh() -> Program {
    Program::new("sh", "/bin/sh")
}

/// The pid a script wrote to `path`.
fn pid_in(path: &std::path::Path) -> u32 {
    std::fs::read_to_string(path)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn returns_nonzero_exit_as_data() {
    let out = Runner::system()
        .run(
            &sh(),
            &["-c".into(), "echo hi; exit 3".into()],
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    assert_eq!((out.code, out.stdout_text().as_str()), (Some(3), "hi\n"));
}

#[tokio::test]
async fn clears_the_environment() {
    let out = Runner::system()
        .run(
            &sh(),
            &["-c".into(), "echo \"$LC_ALL:$TZ:$HOME\"".into()],
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    assert_eq!(out.stdout_text(), "C:UTC0:\n");
}

#[tokio::test]
async fn kills_a_hung_child_after_its_timeout() {
    let runner = Runner::system();
    let prog = Program::new("sleep", "/bin/sleep");
    let err = runner
        .run(&prog, &["30".into()], Duration::from_millis(100))
        .await
        .unwrap_err();
    assert!(matches!(err, CommandError::Timeout { .. }), "{err}");
    let Mode::System { stuck } = &*runner.mode else {
        unreachable!()
    };
    let pid = *stuck.lock().unwrap().get("sleep").expect("pid remembered");
    assert!(
        crate::testutil::wait_until_gone(pid).await,
        "child {pid} still alive after kill"
    );
    // the next run is allowed again once the stuck child is gone
    let out = runner
        .run(&prog, &["0".into()], Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(out.code, Some(0));
}

#[tokio::test]
async fn kills_a_child_that_prints_without_end() {
    let runs = prometheus::IntCounterVec::new(
        prometheus::Opts::new("runs", "runs"),
        &["program", "outcome"],
    )
    .unwrap();
    let runner = Runner::system().with_counter(runs.clone());
    let yes = Program::new("yes", "/usr/bin/yes");
    let err = runner
        .run(&yes, &[], Duration::from_secs(30))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            CommandError::TooMuchOutput {
                program: "yes",
                limit: OUTPUT_LIMIT
            }
        ),
        "{err}"
    );
    assert_eq!(runs.with_label_values(&["yes", "output_limit"]).get(), 1);
    let Mode::System { stuck } = &*runner.mode else {
        unreachable!()
    };
    let pgid = *stuck.lock().unwrap().get("yes").expect("group remembered");
    assert!(crate::testutil::wait_until_gone(pgid).await);
}

#[tokio::test]
async fn kills_the_whole_group_of_a_wrapper_that_ignores_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("grandchild.pid");
    // a shim like sudo or a TrueNAS wrapper: ignores SIGTERM, runs the real program as a
    // grandchild and waits for it
    let script = format!(
        "trap '' TERM; sleep 300 & echo $! > {}; wait",
        pidfile.display()
    );
    let err = Runner::system()
        .run(&sh(), &["-c".into(), script], Duration::from_millis(300))
        .await
        .unwrap_err();
    assert!(matches!(err, CommandError::Timeout { .. }), "{err}");
    let grandchild = pid_in(&pidfile);
    assert!(
        crate::testutil::wait_until_gone(grandchild).await,
        "grandchild {grandchild} left behind"
    );
}

#[tokio::test]
async fn a_wrapper_that_leaves_a_daemon_holding_its_output_still_answers() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("daemon.pid");
    // a shim that starts a helper in its own session (outside our process group, so it
    // survives us) without closing the inherited stdout, prints its answer and exits
    let script = format!(
        "setsid sleep 60 & echo $! > {}; echo '{{\"ok\":1}}'; exit 0",
        pidfile.display()
    );
    let got = Runner::system()
        .run(&sh(), &["-c".into(), script], Duration::from_secs(20))
        .await;
    let daemon = i32::try_from(pid_in(&pidfile)).unwrap();
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(daemon), Signal::SIGKILL);
    let out = got.expect("the answer, not a timeout at the limit");
    assert_eq!(
        (out.code, out.stdout_text().as_str()),
        (Some(0), "{\"ok\":1}\n")
    );
    // the same helper left in its group (no setsid) is killed with the group
    let script = format!(
        "sleep 60 & echo $! > {}; echo done; exit 0",
        pidfile.display()
    );
    let out = Runner::system()
        .run(&sh(), &["-c".into(), script], Duration::from_secs(20))
        .await
        .expect("the answer");
    assert_eq!(out.stdout_text(), "done\n");
    let helper = pid_in(&pidfile);
    assert!(
        crate::testutil::wait_until_gone(helper).await,
        "helper {helper} left behind"
    );
}

#[tokio::test]
async fn the_liveness_guard_sees_a_group_whose_leader_exited() {
    // the leader exits at once, its background child lives on in the group
    #[allow(clippy::disallowed_methods)]
    let mut leader = std::process::Command::new("/bin/sh")
        .args(["-c", "sleep 300 >/dev/null 2>&1 & exit 0"])
        .process_group(0)
        .spawn()
        .unwrap();
    let pgid = leader.id();
    leader.wait().unwrap();
    assert!(!process_alive(pgid));
    assert!(group_alive(pgid));
    kill_group(pgid);
    for _ in 0..100 {
        if !group_alive(pgid) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!group_alive(pgid));
}

#[tokio::test]
async fn reports_missing_program_as_spawn_error() {
    let err = Runner::system()
        .run(
            &Program::new("nope", "/nonexistent/nope"),
            &[],
            Duration::from_secs(1),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            CommandError::Spawn {
                program: "nope",
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn replays_by_exact_argv() {
    let runner = Runner::replay(vec![Recording {
        argv: vec!["zpool".into(), "list".into()],
        stdout: None,
        stdout_file: None,
        stderr: String::new(),
        exit: 2,
        timeout: false,
        loaded: b"tank\n".to_vec(),
    }]);
    let zpool = Program::new("zpool", "/sbin/zpool");
    let out = runner
        .run(&zpool, &["list".into()], Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!((out.code, out.stdout.as_slice()), (Some(2), &b"tank\n"[..]));
    let err = runner
        .run(&zpool, &["status".into()], Duration::from_secs(1))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"no recording for argv ["zpool", "status"]"#
    );
}

#[test]
fn treats_missing_pid_as_dead() {
    assert!(!process_alive(u32::MAX - 1));
    assert!(process_alive(std::process::id()));
}
