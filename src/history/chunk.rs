//! A chunk: `CHUNK` consecutive buckets of one series in one tier, packed into one blob.
//!
//! One SQLite row per bucket costs about 29 bytes (measured: 136 000 rows in 3.9 MB); two years
//! of 24 disks are some 6 million buckets, far over the 50 MB budget. In a chunk, each present
//! bucket is one varint of its distance from the previous one with a "same as the previous
//! bucket" bit, then (unless the same) the changes of n, min, max and sum in thousandths of the
//! unit as zigzag varints: a steady series (a sleeping disk's power mode, a pool's capacity)
//! costs a byte a bucket, a moving power reading about 10.

use std::collections::BTreeMap;

use super::Agg;

/// Buckets per chunk: an hour of 10 s buckets, 6 h of 1 min, 15 days of 1 h.
pub const CHUNK: i64 = 360;
/// Values are kept in thousandths: 0.001 W, 0.001 °C, 0.1 % of a ratio.
const SCALE: f64 = 1000.0;

/// Buckets of a chunk by index (0..CHUNK).
pub type Buckets = BTreeMap<i64, Agg>;

fn q(v: f64) -> i64 {
    (v * SCALE).round() as i64
}

fn put(out: &mut Vec<u8>, v: i64) {
    put_u(out, ((v << 1) ^ (v >> 63)) as u64);
}

fn put_u(out: &mut Vec<u8>, mut z: u64) {
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

fn take(data: &[u8], pos: &mut usize) -> Option<i64> {
    let z = take_u(data, pos)?;
    Some(((z >> 1) as i64) ^ -((z & 1) as i64))
}

fn take_u(data: &[u8], pos: &mut usize) -> Option<u64> {
    let mut z: u64 = 0;
    for shift in (0..64).step_by(7) {
        let b = *data.get(*pos)?;
        *pos += 1;
        z |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(z);
        }
    }
    None
}

/// Packs `buckets`.
pub fn encode(buckets: &Buckets) -> Vec<u8> {
    let mut out = Vec::with_capacity(buckets.len() * 6);
    let (mut idx, mut prev) = (-1i64, [0i64; 4]);
    for (i, a) in buckets {
        let cur = [a.n as i64, q(a.min), q(a.max), q(a.sum)];
        let same = idx >= 0 && cur == prev;
        put_u(&mut out, ((i - idx - 1) as u64) << 1 | u64::from(same));
        if !same {
            for k in 0..4 {
                put(&mut out, cur[k] - prev[k]);
            }
        }
        (idx, prev) = (*i, cur);
    }
    out
}

/// Unpacks a blob of `encode`; `None` for a damaged one.
pub fn decode(data: &[u8]) -> Option<Buckets> {
    let mut buckets = Buckets::new();
    let (mut pos, mut idx, mut prev) = (0, -1i64, [0i64; 4]);
    while pos < data.len() {
        let head = take_u(data, &mut pos)?;
        idx += i64::try_from(head >> 1).ok()? + 1;
        if head & 1 == 0 {
            for p in &mut prev {
                *p += take(data, &mut pos)?;
            }
        }
        if !(0..CHUNK).contains(&idx) || prev[0] <= 0 {
            return None;
        }
        buckets.insert(
            idx,
            Agg {
                n: prev[0] as u64,
                min: prev[1] as f64 / SCALE,
                max: prev[2] as f64 / SCALE,
                sum: prev[3] as f64 / SCALE,
            },
        );
    }
    Some(buckets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_in_thousandths_and_rejects_damage() {
        let mut b = Buckets::new();
        b.insert(0, Agg::one(25.4934));
        b.insert(1, Agg::one(25.4934));
        b.insert(
            7,
            Agg {
                n: 6,
                min: -1.5,
                max: 3.25,
                sum: 4.0,
            },
        );
        b.insert(CHUNK - 1, Agg::one(1e6));
        let data = encode(&b);
        let back = decode(&data).unwrap();
        assert_eq!(back.len(), 4);
        assert_eq!(back[&0], Agg::one(25.493));
        assert_eq!(
            back[&7],
            Agg {
                n: 6,
                min: -1.5,
                max: 3.25,
                sum: 4.0
            }
        );
        assert_eq!(back[&(CHUNK - 1)], Agg::one(1e6));
        // a repeated bucket costs one byte
        let first = |n| b.iter().take(n).map(|(k, v)| (*k, *v)).collect::<Buckets>();
        assert_eq!(encode(&first(2)).len(), encode(&first(1)).len() + 1);
        assert_eq!(decode(&data[..data.len() - 1]), None, "truncated");
        assert_eq!(decode(&[0x80]), None);
    }
}
