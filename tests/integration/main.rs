//! hostwatt's end-to-end tests, one integration binary: golden `/metrics` per case folder,
//! promtool on every golden, the HTTP server on loopback, the real binary (CLI, daemon
//! signals, EACCES on RAPL), the config corpus and the README metrics table.
//!
//! Tests here run programs (the hostwatt binary, promtool, setpriv) directly: the Runner seam is
//! for the daemon's own code.
#![allow(clippy::disallowed_methods)]

mod advisor;
mod alert_restart;
mod alertmanager;
mod alerts_tls;
mod cli;
mod daemon;
mod golden;
mod grafana;
mod http_limits;
mod install_deps;
mod logging;
mod package;
mod parsers;
mod permission;
mod prometheus;
mod promtool;
mod rapl_interfaces;
mod readme;
mod reload;
mod restart;
mod rules;
mod server;
mod smart_raid;
mod structure;
mod stuck;
mod support;
mod systemd;
mod tls;
mod wall_meter;
mod zfs_fuse;
