//! The OpenMetrics 1.0.0 text format that `/metrics` negotiates; the encoder lives beside the
//! families it encodes (`metrics::openmetrics`).

pub use crate::metrics::openmetrics::{encode, encode_family};
