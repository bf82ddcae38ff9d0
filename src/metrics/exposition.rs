//! The `/metrics` body, assembled from bytes rendered once per snapshot.
//!
//! Each collector's snapshot is encoded (text 0.0.4 or OpenMetrics, and the gzip of either) on
//! the first scrape after it changes and kept until the next snapshot; a scrape sorts the
//! families by name and concatenates. Only the owned instruments of the registry (self-metrics,
//! notification counters: a few dozen series) go through the prometheus crate on every scrape.
//!
//! `Registry::gather` visits every registered collector, so the snapshot collectors are found
//! through it: while `encode` runs `gather`, a snapshot collector hands its cached rendering over
//! a thread-local instead of building protobuf families (which is what the alert engine's
//! `gather` still gets).
//!
//! Gzip: deflate lets independently compressed, byte-aligned (sync-flushed) segments follow each
//! other in one stream, and CRC-32s combine, so a scrape writes the gzip header, the cached
//! segments of the unchanged collectors, a fresh segment for the self-metrics, an empty final
//! block and the trailer: one valid single-member gzip file, compressed once per change.

use std::cell::{Cell, RefCell};
use std::ops::Range;
use std::sync::{Arc, Mutex, OnceLock};

use flate2::{Compress, Compression, FlushCompress};
use prometheus::proto::MetricFamily;

use super::families::FamilySeries;

/// An exposition format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text 0.0.4.
    Text,
    /// OpenMetrics text 1.0.0.
    OpenMetrics,
}

impl Format {
    fn index(self) -> usize {
        match self {
            Self::Text => 0,
            Self::OpenMetrics => 1,
        }
    }
}

/// A deflate segment: raw deflate blocks ending byte-aligned and not final, with the CRC-32 and
/// length of what they inflate to.
struct Segment {
    deflated: Vec<u8>,
    crc: crc32fast::Hasher,
}

thread_local! {
    /// One compressor per thread that serves scrapes: its state is ~300 KB, so it is reset and
    /// reused rather than built per segment.
    static COMPRESSOR: RefCell<Option<Compress>> = const { RefCell::new(None) };
    /// Set while `encode` gathers: snapshot collectors deposit their renderings here.
    static DEPOSIT: Cell<Option<Vec<Arc<Rendered>>>> = const { Cell::new(None) };
}

fn deflate(data: &[u8]) -> Segment {
    let mut crc = crc32fast::Hasher::new();
    crc.update(data);
    let deflated = COMPRESSOR.with_borrow_mut(|c| {
        let c = c.get_or_insert_with(|| Compress::new(Compression::fast(), false));
        c.reset();
        let mut out = Vec::with_capacity(data.len() / 6 + 64);
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(out.capacity());
            }
            let done = c.total_in() as usize;
            // a raw deflate stream in memory fails only on a bug in the compressor
            c.compress_vec(&data[done..], &mut out, FlushCompress::Sync)
                .expect("deflate into memory");
            if c.total_in() as usize == data.len() && out.len() < out.capacity() {
                break;
            }
        }
        out
    });
    Segment { deflated, crc }
}

/// One snapshot's families, and their encodings once asked for.
pub(crate) struct Rendered {
    families: Vec<FamilySeries>,
    encoded: [OnceLock<Vec<String>>; 2],
    /// Gzip segments of runs of consecutive families, by format and family range: the runs
    /// depend on which families the other collectors have, so they are keyed, not fixed.
    segments: Mutex<Vec<RunSegment>>,
}

/// A gzip segment of the families `.1` in format `.0`.
type RunSegment = (Format, Range<usize>, Arc<Segment>);

impl Rendered {
    pub(crate) fn new(families: Vec<FamilySeries>) -> Self {
        Self {
            families,
            encoded: Default::default(),
            segments: Mutex::new(Vec::new()),
        }
    }

    fn encoded(&self, format: Format) -> &[String] {
        self.encoded[format.index()].get_or_init(|| {
            self.families
                .iter()
                .map(|f| {
                    let mut s = String::new();
                    match format {
                        Format::Text => f.text(&mut s),
                        Format::OpenMetrics => f.openmetrics(&mut s),
                    }
                    s
                })
                .collect()
        })
    }

    fn segment(&self, format: Format, run: Range<usize>) -> Arc<Segment> {
        let mut segments = self.segments.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, _, s)) = segments.iter().find(|(f, r, _)| *f == format && *r == run) {
            return s.clone();
        }
        let text = self.encoded(format)[run.clone()].concat();
        let s = Arc::new(deflate(text.as_bytes()));
        segments.push((format, run, s.clone()));
        s
    }
}

/// Whether `encode` is gathering on this thread; if so, `rendered` is deposited for it.
pub(crate) fn deposit(rendered: impl FnOnce() -> Arc<Rendered>) -> bool {
    DEPOSIT.with(|d| match d.take() {
        Some(mut v) => {
            v.push(rendered());
            d.set(Some(v));
            true
        }
        None => false,
    })
}

/// Gathers `registry`: the owned instruments' families, and the snapshot collectors' renderings.
fn gather(registry: &prometheus::Registry) -> (Vec<MetricFamily>, Vec<Arc<Rendered>>) {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            DEPOSIT.with(|d| d.set(None));
        }
    }
    DEPOSIT.with(|d| d.set(Some(Vec::new())));
    let reset = Reset;
    let owned = registry.gather();
    let rendered = DEPOSIT.with(|d| d.take()).unwrap_or_default();
    drop(reset);
    (owned, rendered)
}

/// Where a family's bytes are: the owned encodings of this scrape, or a snapshot's cache.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    Owned,
    Snapshot(usize),
}

/// The exposition of `registry` in `format`, gzip-compressed when `gzip`.
pub fn encode(registry: &prometheus::Registry, format: Format, gzip: bool) -> Vec<u8> {
    let (owned_families, rendered) = gather(registry);
    let mut owned: Vec<String> = owned_families
        .iter()
        .map(|mf| match format {
            Format::Text => {
                let mut s = String::new();
                prometheus::TextEncoder::new()
                    .encode_utf8(std::slice::from_ref(mf), &mut s)
                    // the encoder rejects only nameless or empty families, which gather drops
                    .expect("encoding a gathered family into a String cannot fail");
                s
            }
            Format::OpenMetrics => {
                let mut s = String::new();
                super::openmetrics::encode_family(&mut s, mf);
                s
            }
        })
        .collect();
    let mut names: Vec<&str> = owned_families.iter().map(|mf| mf.name()).collect();
    if format == Format::OpenMetrics {
        // sorts after every metric name
        owned.push("# EOF\n".into());
        names.push("\u{10FFFF}");
    }
    // (name, source, index within the source)
    let mut pieces: Vec<(&str, Source, usize)> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (*n, Source::Owned, i))
        .collect();
    for (s, r) in rendered.iter().enumerate() {
        pieces.extend(
            r.families
                .iter()
                .enumerate()
                .map(|(i, f)| (f.family.name, Source::Snapshot(s), i)),
        );
    }
    pieces.sort_unstable_by_key(|p| p.0);
    let bytes = |source: Source, i: usize| -> &[u8] {
        match source {
            Source::Owned => owned[i].as_bytes(),
            Source::Snapshot(s) => rendered[s].encoded(format)[i].as_bytes(),
        }
    };
    if !gzip {
        let len = pieces.iter().map(|&(_, s, i)| bytes(s, i).len()).sum();
        let mut out = Vec::with_capacity(len);
        for &(_, s, i) in &pieces {
            out.extend_from_slice(bytes(s, i));
        }
        return out;
    }
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    let mut crc = crc32fast::Hasher::new();
    let mut start = 0;
    while start < pieces.len() {
        let source = pieces[start].1;
        let end = start + pieces[start..].iter().take_while(|p| p.1 == source).count();
        let run = &pieces[start..end];
        let segment = match source {
            Source::Owned => {
                let text: Vec<u8> = run
                    .iter()
                    .flat_map(|&(_, _, i)| owned[i].as_bytes())
                    .copied()
                    .collect();
                Arc::new(deflate(&text))
            }
            // a snapshot's families are sorted by name, so a run is a contiguous range of them
            Source::Snapshot(s) => rendered[s].segment(format, run[0].2..run[run.len() - 1].2 + 1),
        };
        out.extend_from_slice(&segment.deflated);
        crc.combine(&segment.crc);
        start = end;
    }
    // an empty final block with fixed codes, then CRC-32 and length mod 2^32
    out.extend_from_slice(&[0x03, 0x00]);
    let len = crc.total_len();
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    out.extend_from_slice(&(len as u32).to_le_bytes());
    out
}

#[cfg(test)]
#[path = "exposition_tests.rs"]
mod tests;
