//! The edges where hostwatt touches the host: the filesystem `Root`, the command `Runner`, the
//! sysinfo wrapper (sysinfo cannot be rooted, so it lives apart from the golden tests), and
//! what collectors and the advisor both read of the host: block-device I/O counts (`blockstat`,
//! the one reader) and the package C-state PMU's terms (`cstate_pkg`).

pub mod blockstat;
pub mod command;
pub mod cstate_pkg;
pub mod root;
pub mod sysinfo;
pub mod ticker;
