//! The edges where hostwatt touches the host: the filesystem `Root`, the command `Runner`, the
//! sysinfo wrapper (sysinfo cannot be rooted, so it lives apart from the golden tests), and the
//! one reader of block-device I/O counts (`blockstat`), shared by collectors and the advisor.

pub mod blockstat;
pub mod command;
pub mod root;
pub mod sysinfo;
pub mod ticker;
