//! `Runner`: the one way hostwatt runs an external program (smartctl, zpool, ipmitool).
//!
//! `System` runs the real program with a timeout and a cleared environment (`LC_ALL=C`,
//! `TZ=UTC0`, fixed `PATH`), in a process group of its own. When the timeout fires, the output passes
//! [`OUTPUT_LIMIT`], or the run is dropped, the whole group gets SIGKILL: a wrapper script
//! (sudo, a TrueNAS shim) that ignores SIGTERM takes its smartctl with it. A group that survives
//! SIGKILL (a `zpool` in D state holding the namespace lock) is remembered, and the next run of
//! that program is refused while any member is alive: a second run would only queue behind it.
//! `Replay` answers by exact argv from a recorded `commands.toml`, for tests and bug reports;
//! commands are not rooted.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use prometheus::IntCounterVec;
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncReadExt};

/// The most bytes kept from one of a child's streams (stdout, stderr): 4 MiB is far above any
/// real output (`smartctl -x` of a large SAS disk is ~60 KB, `zpool status` of 100 vdevs ~20 KB)
/// and bounds what `exec yes` can cost (it printed 2 GB in 5 s).
pub const OUTPUT_LIMIT: usize = 4 << 20;

/// How long a child's output may stay open after the child exited (see `run_system`).
const EXIT_GRACE: Duration = Duration::from_millis(500);

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

    /// Stderr as one log line: line breaks escaped, cut after [`STDERR_MAX`] bytes. Every
    /// error that quotes a program's stderr uses this, so the journal never splits it.
    pub fn stderr_line(&self) -> String {
        crate::parse::one_line(&String::from_utf8_lossy(&self.stderr), STDERR_MAX)
    }

    /// The error of a run that had to exit 0 to give data but did not: a `command` fault, with
    /// its stderr on one line.
    pub fn exited(&self, program: &Program, args: &[impl AsRef<str>]) -> CommandError {
        let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
        CommandError::Exited {
            program: program.name,
            args: args.join(" "),
            code: self.code,
            stderr: self.stderr_line(),
        }
    }
}

/// The most of a program's stderr an error quotes, in bytes.
pub const STDERR_MAX: usize = 240;

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
    /// It wrote more than [`OUTPUT_LIMIT`] bytes to stdout or stderr and was killed.
    #[error("{program}: wrote more than {limit} bytes, killed")]
    TooMuchOutput {
        /// Program name.
        program: &'static str,
        /// The limit in bytes.
        limit: usize,
    },
    /// An earlier run was killed but a process of its group has not exited yet; refusing to
    /// start another.
    #[error("{program}: earlier run (process group {pid}) is still alive after being killed")]
    StillRunning {
        /// Program name.
        program: &'static str,
        /// The stuck run's process group id (the pid of the program started).
        pid: u32,
    },
    /// It ran and exited non-zero (`code`), or was killed by a signal (`None`), where only
    /// success gives data. `stderr` is one line ([`Output::stderr_line`]).
    #[error("{program} {args} exited {code:?}: {stderr}")]
    Exited {
        /// Program name.
        program: &'static str,
        /// Its arguments, space-separated.
        args: String,
        /// Exit code; `None` when killed by a signal.
        code: Option<i32>,
        /// Its stderr on one line.
        stderr: String,
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

/// The `outcome` label values of `hostwatt_command_runs_total`: exit 0, another exit status,
/// killed at its time limit, refused while a killed run has not exited, killed for printing too
/// much, failed to start.
pub const OUTCOMES: [&str; 6] = [
    "ok",
    "nonzero",
    "timeout",
    "still_running",
    "output_limit",
    "error",
];

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

    /// Counts runs in `hostwatt_command_runs_total{program,outcome}`, `outcome` one of
    /// `OUTCOMES`.
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
            // every outcome of the program exists from its first run, at 0, so that its first
            // timeout is an increase (PromQL `increase` and the alert engine need a point before)
            for o in OUTCOMES {
                runs.with_label_values(&[program.name, o]);
            }
            let outcome = match &result {
                Ok(o) if o.code == Some(0) => "ok",
                Ok(_) => "nonzero",
                Err(CommandError::Timeout { .. }) => "timeout",
                Err(CommandError::StillRunning { .. }) => "still_running",
                Err(CommandError::TooMuchOutput { .. }) => "output_limit",
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
            Some(pgid) if group_alive(pgid) => {
                return Err(CommandError::StillRunning {
                    program: name,
                    pid: pgid,
                });
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
        .process_group(0)
        .kill_on_drop(true);
    let mut child = cmd.spawn().map_err(|source| CommandError::Spawn {
        program: name,
        source,
    })?;
    // the group id is the child's pid; from here on, leaving this function any way but a
    // finished run kills the group (a dropped future included)
    let group = Group(child.id());
    let leader = child.id();
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let finished = async {
        let reading = async {
            let (o, e) = tokio::join!(read_capped(stdout, &mut out), read_capped(stderr, &mut err));
            o && e
        };
        tokio::pin!(reading);
        let wait = child.wait();
        tokio::pin!(wait);
        let first = tokio::select! {
            within = &mut reading => Ok(within),
            status = &mut wait => Err(status),
        };
        let (within, status) = match first {
            Ok(within) => (within, wait.await),
            // it exited, but its pipes may still be open in a process it left running outside
            // its group (a wrapper that daemonizes a helper with setsid): what is buffered
            // arrives at once, so wait a moment, not until the time limit
            Err(status) => match tokio::time::timeout(EXIT_GRACE, &mut reading).await {
                Ok(within) => (within, status),
                Err(_) => {
                    tracing::warn!(
                        program = name,
                        "exited, but a process it left running holds its output open; using the \
                         output written so far (what is left in its process group is killed)"
                    );
                    if let Some(pgid) = leader {
                        kill_group(pgid);
                    }
                    (true, status)
                }
            },
        };
        if !within {
            return Err(CommandError::TooMuchOutput {
                program: name,
                limit: OUTPUT_LIMIT,
            });
        }
        status.map_err(|source| CommandError::Wait {
            program: name,
            source,
        })
    };
    let result = match tokio::time::timeout(limit, finished).await {
        Ok(status) => status.map(|status| Output {
            code: status.code(),
            stdout: out,
            stderr: err,
        }),
        Err(_) => Err(CommandError::Timeout {
            program: name,
            after: limit,
        }),
    };
    match result {
        Ok(out) => {
            group.disarm();
            Ok(out)
        }
        Err(e) => {
            if let Some(pgid) = group.kill() {
                stuck
                    .lock()
                    .expect("stuck map is never poisoned")
                    .insert(name, pgid);
            }
            Err(e)
        }
    }
}

/// Reads a child's stream to its end into `buf` (what was read stays there if the read is
/// dropped); false past [`OUTPUT_LIMIT`] bytes.
async fn read_capped(stream: Option<impl AsyncRead + Unpin>, buf: &mut Vec<u8>) -> bool {
    if let Some(stream) = stream {
        let mut capped = stream.take(OUTPUT_LIMIT as u64 + 1);
        // a read error (the child closed its end oddly) keeps what was read
        let _ = capped.read_to_end(buf).await;
    }
    buf.len() <= OUTPUT_LIMIT
}

/// A child's process group, killed (SIGKILL to every member) when dropped unless disarmed.
struct Group(Option<u32>);

impl Group {
    /// Kills the group now; its id, for the liveness guard.
    fn kill(mut self) -> Option<u32> {
        let pgid = self.0.take()?;
        kill_group(pgid);
        Some(pgid)
    }

    /// The run finished: leave the group alone.
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        if let Some(pgid) = self.0.take() {
            kill_group(pgid);
        }
    }
}

fn kill_group(pgid: u32) {
    if let Ok(pgid) = i32::try_from(pgid) {
        // ESRCH: every member has exited already
        let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
    }
}

/// Whether any process of group `pgid` is alive (zombies do not count), from `/proc/*/stat`.
pub fn group_alive(pgid: u32) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return process_alive(pgid);
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .any(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| {
                    let (_, rest) = stat.rsplit_once(')')?;
                    // after the command: state, ppid, pgrp
                    let mut fields = rest.split_whitespace();
                    let state = fields.next()?;
                    let group = fields.nth(1)?.parse::<u32>().ok()?;
                    Some(group == pgid && state != "Z" && state != "X")
                })
                .unwrap_or(false)
        })
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
mod tests;
