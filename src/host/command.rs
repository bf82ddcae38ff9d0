//! `Runner`: the one way hostwatt runs an external program (smartctl, zpool, ipmitool).
//!
//! `System` runs the real program with a timeout, a cleared environment (`LC_ALL=C`, `TZ=UTC0`,
//! fixed `PATH`) and `kill_on_drop`, so a hung child is SIGKILLed when its timeout fires. A child that
//! survives SIGKILL (a `zpool` in D state holding the namespace lock) is remembered, and the next
//! run of that program is refused until it is gone: a second run would only queue behind it.
//! `Replay` answers by exact argv from a recorded `commands.toml`, for tests and bug reports;
//! commands are not rooted.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus::IntCounterVec;
use serde::Deserialize;

const SAFE_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A program and how to find it: `name` keys replays, logs and metrics; `path` is what runs.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Program {
    /// Short name (`smartctl`), used in labels and as `argv[0]` in recordings.
    pub name: &'static str,
    /// Path or bare name looked up in the fixed `PATH`.
    pub path: PathBuf,
}

impl Program {
    /// A program run from `path` and known as `name`.
    pub fn new(name: &'static str, path: impl Into<PathBuf>) -> Self {
        Self {
            name,
            path: path.into(),
        }
    }
}

/// What a finished program left behind. A non-zero exit is data, not an error: smartctl's exit
/// status is a bitmask of findings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// Exit code; `None` when killed by a signal.
    pub code: Option<i32>,
    /// Everything it wrote to stdout.
    pub stdout: Vec<u8>,
    /// Everything it wrote to stderr.
    pub stderr: Vec<u8>,
}

impl Output {
    /// Stdout as text (lossy).
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

/// Why a program produced no `Output`.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// It could not be started (not installed, not executable).
    #[error("{program}: cannot start: {source}")]
    Spawn {
        /// Program name.
        program: &'static str,
        /// The spawn error.
        #[source]
        source: std::io::Error,
    },
    /// Waiting for it failed.
    #[error("{program}: wait failed: {source}")]
    Wait {
        /// Program name.
        program: &'static str,
        /// The wait error.
        #[source]
        source: std::io::Error,
    },
    /// It ran past its time limit and was killed.
    #[error("{program}: timed out after {after:?}, killed")]
    Timeout {
        /// Program name.
        program: &'static str,
        /// The limit it exceeded.
        after: Duration,
    },
    /// An earlier run was killed but has not exited yet; refusing to start another.
    #[error("{program}: earlier run (pid {pid}) is still alive after being killed")]
    StillRunning {
        /// Program name.
        program: &'static str,
        /// The stuck child's pid.
        pid: u32,
    },
    /// Replay mode has no recording for this argv.
    #[error("no recording for argv {argv:?}")]
    NotRecorded {
        /// The argv that was asked for.
        argv: Vec<String>,
    },
}

/// How commands are run.
#[derive(Clone)]
pub struct Runner {
    mode: Arc<Mode>,
    runs: Option<IntCounterVec>,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &*self.mode {
            Mode::System { .. } => f.write_str("Runner::System"),
            Mode::Replay { recordings } => {
                write!(f, "Runner::Replay({} recordings)", recordings.len())
            }
        }
    }
}

enum Mode {
    System {
        stuck: Mutex<HashMap<&'static str, u32>>,
    },
    Replay {
        recordings: HashMap<Vec<String>, Recording>,
    },
}

/// One recorded command, as written in `commands.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recording {
    /// `argv[0]` is the program's short name, not its path.
    pub argv: Vec<String>,
    /// Literal stdout.
    #[serde(default)]
    pub stdout: Option<String>,
    /// Stdout from a file, relative to the `commands.toml`, or `shared:<path>` under the shared
    /// fixtures directory.
    #[serde(default)]
    pub stdout_file: Option<String>,
    /// Literal stderr.
    #[serde(default)]
    pub stderr: String,
    /// Exit code (default 0).
    #[serde(default)]
    pub exit: i32,
    /// The recorded run hung: replay answers `Timeout`.
    #[serde(default)]
    pub timeout: bool,
    #[serde(skip)]
    loaded: Vec<u8>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordingFile {
    #[serde(default)]
    command: Vec<Recording>,
}

/// Why a `commands.toml` could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The file or a referenced stdout file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// Path that failed.
        path: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The TOML is malformed.
    #[error("{path}: {message}")]
    Parse {
        /// The recordings file.
        path: String,
        /// The parser's message.
        message: String,
    },
}

impl Runner {
    /// Runs real programs.
    pub fn system() -> Self {
        Self {
            mode: Arc::new(Mode::System {
                stuck: Mutex::new(HashMap::new()),
            }),
            runs: None,
        }
    }

    /// Answers from recordings (see `Recording`).
    pub fn replay(recordings: Vec<Recording>) -> Self {
        let recordings = recordings
            .into_iter()
            .map(|r| (r.argv.clone(), r))
            .collect();
        Self {
            mode: Arc::new(Mode::Replay { recordings }),
            runs: None,
        }
    }

    /// Loads a `commands.toml`; `shared` resolves `shared:` stdout files.
    pub fn load_replay(path: &Path, shared: Option<&Path>) -> Result<Self, ReplayError> {
        let read = |p: &Path| {
            std::fs::read(p).map_err(|source| ReplayError::Read {
                path: p.display().to_string(),
                source,
            })
        };
        let text = String::from_utf8_lossy(&read(path)?).into_owned();
        let file: RecordingFile = toml::from_str(&text).map_err(|e| ReplayError::Parse {
            path: path.display().to_string(),
            message: e.message().to_owned(),
        })?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let mut out = Vec::with_capacity(file.command.len());
        for mut rec in file.command {
            rec.loaded = match (&rec.stdout, &rec.stdout_file) {
                (Some(s), _) => s.clone().into_bytes(),
                (None, Some(f)) => match (f.strip_prefix("shared:"), shared) {
                    (Some(rest), Some(shared)) => read(&shared.join(rest))?,
                    (Some(_), None) => {
                        return Err(ReplayError::Parse {
                            path: path.display().to_string(),
                            message: format!("{f}: no shared fixtures directory given"),
                        });
                    }
                    (None, _) => read(&dir.join(f))?,
                },
                (None, None) => Vec::new(),
            };
            out.push(rec);
        }
        Ok(Self::replay(out))
    }

    /// Counts runs in `hostwatt_command_runs_total{program,outcome}`.
    pub fn with_counter(mut self, runs: IntCounterVec) -> Self {
        self.runs = Some(runs);
        self
    }

    /// Runs `program args…` with a time limit. Call it from a collector task, never from the
    /// `/metrics` handler.
    pub async fn run(
        &self,
        program: &Program,
        args: &[String],
        limit: Duration,
    ) -> Result<Output, CommandError> {
        let result = match &*self.mode {
            Mode::System { stuck } => run_system(stuck, program, args, limit).await,
            Mode::Replay { recordings } => {
                let mut argv = vec![program.name.to_owned()];
                argv.extend(args.iter().cloned());
                match recordings.get(&argv) {
                    Some(rec) if rec.timeout => Err(CommandError::Timeout {
                        program: program.name,
                        after: limit,
                    }),
                    Some(rec) => Ok(Output {
                        code: Some(rec.exit),
                        stdout: rec.loaded.clone(),
                        stderr: rec.stderr.clone().into_bytes(),
                    }),
                    None => Err(CommandError::NotRecorded { argv }),
                }
            }
        };
        if let Some(runs) = &self.runs {
            let outcome = match &result {
                Ok(o) if o.code == Some(0) => "ok",
                Ok(_) => "nonzero",
                Err(CommandError::Timeout { .. }) => "timeout",
                Err(CommandError::StillRunning { .. }) => "still_running",
                Err(_) => "error",
            };
            runs.with_label_values(&[program.name, outcome]).inc();
        }
        result
    }
}

async fn run_system(
    stuck: &Mutex<HashMap<&'static str, u32>>,
    program: &Program,
    args: &[String],
    limit: Duration,
) -> Result<Output, CommandError> {
    let name = program.name;
    {
        let mut stuck = stuck.lock().expect("stuck map is never poisoned");
        match stuck.get(name).copied() {
            Some(pid) if process_alive(pid) => {
                return Err(CommandError::StillRunning { program: name, pid });
            }
            Some(_) => {
                stuck.remove(name);
            }
            None => {}
        }
    }
    #[allow(clippy::disallowed_methods)] // the one place hostwatt starts a process
    let mut cmd = tokio::process::Command::new(&program.path);
    cmd.args(args)
        .env_clear()
        .env("PATH", SAFE_PATH)
        .env("LC_ALL", "C")
        // dates printed with ctime() (zpool <= 2.2 scan lines) come out in UTC, whatever the
        // host's zone; "UTC0" is a POSIX zone, so it needs no tzdata
        .env("TZ", "UTC0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true); // when the timeout drops the future, the child gets SIGKILL
    let child = cmd.spawn().map_err(|source| CommandError::Spawn {
        program: name,
        source,
    })?;
    let pid = child.id();
    match tokio::time::timeout(limit, child.wait_with_output()).await {
        Ok(out) => out
            .map(|o| Output {
                code: o.status.code(),
                stdout: o.stdout,
                stderr: o.stderr,
            })
            .map_err(|source| CommandError::Wait {
                program: name,
                source,
            }),
        Err(_) => {
            if let Some(pid) = pid {
                stuck
                    .lock()
                    .expect("stuck map is never poisoned")
                    .insert(name, pid);
            }
            Err(CommandError::Timeout {
                program: name,
                after: limit,
            })
        }
    }
}

/// Whether `pid` is a live process. A zombie counts as gone: it holds no lock and a signal-0
/// probe would wrongly succeed on it.
pub fn process_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next())
            .is_some_and(|state| state != 'Z' && state != 'X'),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh() -> Program {
        Program::new("sh", "/bin/sh")
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
}
