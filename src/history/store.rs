//! The SQLite file: `history.sqlite` in the state directory. Synchronous; `writer` runs it on
//! its own thread, never on the runtime thread.
//!
//! Tables: `series(id, name)` and `chunks(tier, series, start, data)` without rowid, keyed by
//! (tier, series, start): `CHUNK` buckets per row, packed by `chunk`. A file that is not a
//! hostwatt history (or not SQLite at all) is renamed to `history.sqlite.bad-<unix time>` and a
//! new one created, like the JSON state files (`crate::state`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};

use super::chunk::{self, CHUNK};
use super::{Agg, Point, Row, TIERS};

/// The store's file name in the state directory.
pub const FILE: &str = "history.sqlite";

/// `PRAGMA application_id`: "hwat", so a foreign SQLite file is recognised.
const APP_ID: i64 = 0x6877_6174;
const SCHEMA: i64 = 1;

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite said no.
    #[error("{path}: {source}")]
    Sqlite {
        /// The file.
        path: String,
        /// The error.
        #[source]
        source: rusqlite::Error,
    },
}

/// An open store.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    ids: HashMap<String, i64>,
    /// Transactions written since open.
    pub writes: u64,
}

/// Seconds a chunk of `tier` spans.
fn span(tier: usize) -> i64 {
    TIERS[tier].step * CHUNK
}

impl Store {
    /// Opens (or creates) `<dir>/history.sqlite`. A corrupt or foreign file is set aside and a
    /// new one started; the returned string says why, for the one log line.
    pub fn open(dir: &Path) -> Result<(Self, Option<String>), StoreError> {
        let path = dir.join(FILE);
        let err = |source| StoreError::Sqlite {
            path: path.display().to_string(),
            source,
        };
        std::fs::create_dir_all(dir)
            .map_err(|e| err(rusqlite::Error::InvalidPath(e.to_string().into())))?;
        match Self::open_checked(&path) {
            Ok(s) => Ok((s, None)),
            Err(reason) => {
                let unix = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_secs();
                let aside = dir.join(format!("{FILE}.bad-{unix}"));
                let moved = std::fs::rename(&path, &aside).is_ok();
                for suffix in ["-journal", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(dir.join(format!("{FILE}{suffix}")));
                }
                let note = if moved {
                    format!("{reason}; moved to {}", aside.display())
                } else {
                    reason
                };
                let s = Self::open_checked(&path).map_err(|e| {
                    err(rusqlite::Error::InvalidPath(
                        format!("{note}; then {e}").into(),
                    ))
                })?;
                Ok((s, Some(note)))
            }
        }
    }

    fn open_checked(path: &Path) -> Result<Self, String> {
        let conn = Connection::open(path).map_err(|e| e.to_string())?;
        // a reload opens the file anew while the old thread may still be writing its last flush
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(|e| e.to_string())?;
        // SQLite's default page cache is up to 2 MiB per connection; the RSS budget of the
        // whole history is 2 MiB, and a flush or a query touches few pages
        conn.execute_batch("PRAGMA cache_size = -256")
            .map_err(|e| e.to_string())?;
        let app: i64 = conn
            .query_row("PRAGMA application_id", [], |r| r.get(0))
            .map_err(|e| format!("not an SQLite file: {e}"))?;
        let tables: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .map_err(|e| format!("unreadable: {e}"))?;
        if tables == 0 {
            // auto_vacuum must be chosen before the first table exists
            conn.execute_batch(&format!(
                "PRAGMA auto_vacuum = INCREMENTAL;
                 PRAGMA application_id = {APP_ID};
                 PRAGMA user_version = {SCHEMA};
                 CREATE TABLE series (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
                 CREATE TABLE chunks (
                   tier INTEGER NOT NULL, series INTEGER NOT NULL, start INTEGER NOT NULL,
                   data BLOB NOT NULL,
                   PRIMARY KEY (tier, series, start)) WITHOUT ROWID;"
            ))
            .map_err(|e| e.to_string())?;
        } else {
            let version: i64 = conn
                .query_row("PRAGMA user_version", [], |r| r.get(0))
                .map_err(|e| e.to_string())?;
            if app != APP_ID || version != SCHEMA {
                return Err(format!(
                    "foreign history store: application_id {app:#x} schema {version}"
                ));
            }
            let check: String = conn
                .query_row("PRAGMA quick_check", [], |r| r.get(0))
                .map_err(|e| format!("corrupt history store: {e}"))?;
            if check != "ok" {
                return Err(format!("corrupt history store: {check}"));
            }
        }
        let mut ids = HashMap::new();
        {
            let mut st = conn
                .prepare("SELECT id, name FROM series")
                .map_err(|e| e.to_string())?;
            let rows = st
                .query_map([], |r| Ok((r.get::<_, String>(1)?, r.get::<_, i64>(0)?)))
                .map_err(|e| e.to_string())?;
            for r in rows {
                let (name, id) = r.map_err(|e| format!("corrupt history store: {e}"))?;
                ids.insert(name, id);
            }
        }
        Ok(Self {
            conn,
            path: path.to_owned(),
            ids,
            writes: 0,
        })
    }

    fn err(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.path.display().to_string(),
            source,
        }
    }

    /// Writes `rows` in one transaction, merging with stored buckets, then prunes by age (as of
    /// Unix time `now`) and to `max_bytes`. Nothing is written for no rows.
    pub fn write(&mut self, rows: &[Row], now: i64, max_bytes: u64) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let tx = self.conn.transaction().map_err(|e| StoreError::Sqlite {
            path: self.path.display().to_string(),
            source: e,
        })?;
        // the rows by chunk, merged with what each chunk holds
        let mut by_chunk: std::collections::BTreeMap<(usize, String, i64), Vec<(i64, Agg)>> =
            std::collections::BTreeMap::new();
        for r in rows {
            let tier = usize::from(r.tier).min(TIERS.len() - 1);
            let start = r.t - r.t.rem_euclid(span(tier));
            let idx = (r.t - start) / TIERS[tier].step;
            by_chunk
                .entry((tier, r.series.clone(), start))
                .or_default()
                .push((idx, r.agg));
        }
        let res = (|| {
            {
                let mut new_series = tx.prepare_cached("INSERT INTO series (name) VALUES (?1)")?;
                let mut read = tx.prepare_cached(
                    "SELECT data FROM chunks WHERE tier = ?1 AND series = ?2 AND start = ?3",
                )?;
                let mut put = tx.prepare_cached(
                    "INSERT OR REPLACE INTO chunks (tier, series, start, data) VALUES (?1, ?2, ?3, ?4)",
                )?;
                for ((tier, series, start), buckets) in by_chunk {
                    let id = match self.ids.get(&series) {
                        Some(id) => *id,
                        None => {
                            new_series.execute([&series])?;
                            let id = tx.last_insert_rowid();
                            self.ids.insert(series, id);
                            id
                        }
                    };
                    let stored: Option<Vec<u8>> = read
                        .query_row(params![tier as i64, id, start], |r| r.get(0))
                        .optional()?;
                    // a damaged chunk is replaced by the new buckets alone
                    let mut all = stored.and_then(|d| chunk::decode(&d)).unwrap_or_default();
                    for (idx, a) in buckets {
                        let m = all.get(&idx).map_or(a, |s| s.merge(a));
                        all.insert(idx, m);
                    }
                    put.execute(params![tier as i64, id, start, chunk::encode(&all)])?;
                }
                let mut prune =
                    tx.prepare_cached("DELETE FROM chunks WHERE tier = ?1 AND start + ?2 <= ?3")?;
                for (i, tier) in TIERS.iter().enumerate() {
                    prune.execute(params![i as i64, span(i), now - tier.keep])?;
                }
            }
            Ok::<_, rusqlite::Error>(())
        })();
        let res = match res {
            Ok(()) => tx.commit(),
            Err(e) => {
                drop(tx);
                Err(e)
            }
        };
        if let Err(e) = res {
            // a series id handed out inside the failed transaction does not exist
            self.reload_ids();
            return Err(self.err(e));
        }
        self.writes += 1;
        self.cap(max_bytes)
    }

    fn reload_ids(&mut self) {
        let mut ids = HashMap::new();
        if let Ok(mut st) = self.conn.prepare("SELECT id, name FROM series")
            && let Ok(rows) =
                st.query_map([], |r| Ok((r.get::<_, String>(1)?, r.get::<_, i64>(0)?)))
        {
            ids.extend(rows.flatten());
        }
        self.ids = ids;
    }

    /// Bytes in use (pages holding data; the file is that plus free pages not yet returned).
    pub fn used_bytes(&self) -> Result<u64, StoreError> {
        let page: i64 = self
            .conn
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        let count: i64 = self
            .conn
            .query_row("PRAGMA page_count", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        let free: i64 = self
            .conn
            .query_row("PRAGMA freelist_count", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        Ok(((count - free).max(0) * page) as u64)
    }

    /// The file's size on disk, bytes.
    pub fn file_bytes(&self) -> u64 {
        std::fs::metadata(&self.path).map_or(0, |m| m.len())
    }

    /// Deletes the oldest buckets until the store uses at most `max_bytes`, then returns the
    /// freed pages to the filesystem.
    fn cap(&mut self, max_bytes: u64) -> Result<(), StoreError> {
        let mut pruned = false;
        for _ in 0..20 {
            let used = self.used_bytes()?;
            if used <= max_bytes {
                break;
            }
            let rows: i64 = self
                .conn
                .query_row("SELECT count(*) FROM chunks", [], |r| r.get(0))
                .map_err(|e| self.err(e))?;
            if rows == 0 {
                break;
            }
            // the share over the cap, plus 2 % so that a full store does not prune every flush
            let share = (used - max_bytes) as f64 / used as f64 + 0.02;
            let n = ((rows as f64 * share).ceil() as i64).clamp(1, rows);
            let cutoff: Option<i64> = self
                .conn
                .query_row(
                    "SELECT start FROM chunks ORDER BY start LIMIT 1 OFFSET ?1",
                    [n - 1],
                    |r| r.get(0),
                )
                .optional()
                .map_err(|e| self.err(e))?;
            let Some(cutoff) = cutoff else { break };
            self.conn
                .execute("DELETE FROM chunks WHERE start <= ?1", [cutoff])
                .map_err(|e| self.err(e))?;
            pruned = true;
        }
        if pruned {
            // each step of the pragma frees a page: run it to the end
            let res = self
                .conn
                .prepare("PRAGMA incremental_vacuum")
                .and_then(|mut st| {
                    let mut rows = st.query([])?;
                    while rows.next()?.is_some() {}
                    Ok(())
                });
            res.map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    /// Stored buckets of `series` in `tier` with `from <= t <= to`, oldest first.
    pub fn query(
        &self,
        series: &str,
        tier: usize,
        from: i64,
        to: i64,
    ) -> Result<Vec<(i64, Agg)>, StoreError> {
        let Some(id) = self.ids.get(series) else {
            return Ok(Vec::new());
        };
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT start, data FROM chunks
                 WHERE tier = ?1 AND series = ?2 AND start BETWEEN ?3 AND ?4 ORDER BY start",
            )
            .map_err(|e| self.err(e))?;
        let chunks = st
            .query_map(params![tier as i64, id, from - span(tier) + 1, to], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
            })
            .map_err(|e| self.err(e))?;
        let step = TIERS[tier].step;
        let mut out = Vec::new();
        for c in chunks {
            let (start, data) = c.map_err(|e| self.err(e))?;
            // a damaged chunk costs its own buckets only
            for (idx, a) in chunk::decode(&data).unwrap_or_default() {
                let t = start + idx * step;
                if (from..=to).contains(&t) {
                    out.push((t, a));
                }
            }
        }
        Ok(out)
    }

    /// Every series name ever stored, sorted.
    pub fn series(&self) -> Vec<String> {
        let mut v: Vec<String> = self.ids.keys().cloned().collect();
        v.sort();
        v
    }
}

/// Stored and buffered buckets merged (a bucket may be in both), as points.
pub fn merge(stored: Vec<(i64, Agg)>, buffered: Vec<(i64, Agg)>) -> Vec<Point> {
    let mut all: std::collections::BTreeMap<i64, Agg> = stored.into_iter().collect();
    for (t, a) in buffered {
        let m = all.get(&t).map_or(a, |s| s.merge(a));
        all.insert(t, m);
    }
    all.into_iter()
        .map(|(t, a)| [t as f64, a.min, a.avg(), a.max])
        .collect()
}
