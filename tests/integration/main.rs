//! hostwatt's end-to-end tests, one integration binary: golden `/metrics` per case folder,
//! promtool on every golden, the HTTP server on loopback, the real binary (daemon
//! signals, EACCES on RAPL).
//!
//! Tests here run programs (the hostwatt binary, promtool, setpriv) directly: the Runner seam is
//! for the daemon's own code.
#![allow(clippy::disallowed_methods)]

mod daemon;
mod golden;
mod permission;
mod promtool;
mod server;
mod support;
