//! Wall-power estimation: the PSU efficiency curve (`psu`) and, on top of it, the DC component
//! breakdown and the AC (wall) estimate.

pub mod align;
pub mod calibrate;
pub mod disks;
pub mod energy;
pub mod psu;
pub mod wall;
