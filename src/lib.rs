//! hostwatt: an on-host power and health monitoring daemon.
//!
//! - `host`: the edges (`Root` for sysfs/procfs, `Runner` for external programs, sysinfo).
//! - `collectors`: one file per data source, each `read_*` → pure `parse_*` → `Snapshot`.
//! - `meters`: measured wall power (Shelly, Tasmota, NUT, IPMI), read by `collectors::meters`.
//! - `metrics`: `Family` declarations and rendering of snapshots on scrape; self-metrics.
//! - `scheduler`, `app`: background sampling loops and wiring; `server`: `/metrics`, `/healthz`.
//! - `config`: the TOML file and its resolution; `cli`: the command line; `web`: TLS and basic auth.

pub mod advisor;
pub mod alerts;
pub mod app;
pub mod cli;
pub mod collectors;
pub mod config;
pub mod estimate;
pub mod fixture;
pub mod host;
pub mod logging;
pub mod meters;
pub mod metrics;
pub mod notify;
pub mod parse;
pub mod scheduler;
pub mod secret;
pub mod server;
pub mod shutdown;
pub mod state;
#[cfg(test)]
pub mod testutil;
pub mod web;
