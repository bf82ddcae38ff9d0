//! The edges where hostwatt touches the host: the filesystem `Root`, the command `Runner`, and
//! the sysinfo wrapper (sysinfo cannot be rooted, so it lives apart from the golden tests).

pub mod command;
pub mod root;
pub mod sysinfo;
pub mod ticker;
