//! `Basic`: the section of a collector that has nothing to set but whether it runs and how
//! often, and the default intervals its type names.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::parse::interval::Interval;

/// The config of a collector that has nothing to set but whether it runs and how often:
/// `[collectors.<name>] enabled, interval`, with its default interval from `D`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default, bound = "")]
pub struct Basic<D: DefaultInterval> {
    /// Run the collector at all.
    pub enabled: bool,
    /// Sampling interval.
    pub interval: Interval,
    #[serde(skip)]
    default: std::marker::PhantomData<D>,
}

impl<D: DefaultInterval> Default for Basic<D> {
    fn default() -> Self {
        Self {
            enabled: true,
            interval: Interval::secs(D::SECS),
            default: std::marker::PhantomData,
        }
    }
}

/// A collector's default interval, as a type (serde cannot derive over const generics).
pub trait DefaultInterval: fmt::Debug + Clone + Send + Sync + 'static {
    /// Seconds.
    const SECS: u64;
}

/// Every 15 s: power and temperatures, which change quickly.
#[derive(Debug, Clone)]
pub struct Every15s;
impl DefaultInterval for Every15s {
    const SECS: u64 = 15;
}

/// Every 60 s: counters that move rarely, and joins of other collectors.
#[derive(Debug, Clone)]
pub struct Every60s;
impl DefaultInterval for Every60s {
    const SECS: u64 = 60;
}
