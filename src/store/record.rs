//! The best-block record: an independent record of the chain state's tip,
//! outside the sled database, so a damaged database that opens at a lower
//! or different tip is refused instead of served (as Bitcoin Core checks its
//! tip against the block index at startup).
//!
//! The file `DATADIR/PORT/chain.best` (beside the sled directory) holds
//! UTF-8 text, one field per line:
//!
//! ```text
//! sledchain best block v1
//! flushed <block hash hex> <height>
//! pending <block hash hex> <height>      (only while a flush runs)
//! ```
//!
//! It is replaced atomically (written to `chain.best.tmp`, fsynced, renamed
//! over, directory fsynced). A flush writes `pending` (the tip it is about
//! to write) before its sled transaction and `flushed` once sled has made
//! it durable ([`super::cache::StateDb::flush`]), so the chain state on disk
//! is always the `flushed` block, the `pending` one, or a descendant of one
//! of them. At open ([`super::ChainStore::open`]) the store's tip must have
//! the `flushed` (or `pending`) block at its height on its best chain;
//! otherwise the database lost data and the node refuses to start
//! ([`super::StoreError::Damaged`]). Before the first flush there is no
//! record (the first one writes only `flushed`): nothing was promised, and
//! the open records whatever tip the store holds.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::StoreError;
use crate::core::hash::BlockHash;

const MAGIC: &str = "sledchain best block v1";

/// A block in the record: hash and height.
pub type Mark = (BlockHash, u64);

/// What the record says (module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recorded {
    /// The tip of the last flush made durable.
    pub flushed: Mark,
    /// The tip of a flush that began and may not have finished.
    pub pending: Option<Mark>,
}

/// The record file of one store (module docs).
pub struct BestRecord {
    path: PathBuf,
    /// The sled database's directory, whose log file `db` is fsynced
    /// before a flush is recorded ([`BestRecord::sync_db`]).
    db: PathBuf,
}

fn record_err(path: &Path, e: impl std::fmt::Display) -> StoreError {
    StoreError::Record(format!("{}: {e}", path.display()))
}

impl BestRecord {
    /// The record of the sled database at `db_path`: `db_path` + `.best`.
    pub fn beside(db_path: &Path) -> BestRecord {
        let mut name = db_path.file_name().unwrap_or_default().to_os_string();
        name.push(".best");
        BestRecord {
            path: db_path.with_file_name(name),
            db: db_path.to_path_buf(),
        }
    }

    /// Makes what sled wrote durable against a power failure: fsyncs the
    /// database's log file (`db`) and its directory. sled 0.34's flush on
    /// Linux writes its log with `sync_file_range`, which neither saves the
    /// file's size when the log grew nor flushes the disk's write cache;
    /// it calls `fsync` only from its periodic flusher (every 500 ms,
    /// whether or not anything was written) and its `Drop`. Called after a
    /// flush and before the
    /// record names its tip, so the record never runs ahead of the data.
    ///
    /// Errors: [`StoreError::Record`] naming the file that failed.
    pub fn sync_db(&self) -> Result<(), StoreError> {
        for path in [self.db.join("db"), self.db.clone()] {
            std::fs::File::open(&path)
                .and_then(|f| f.sync_all())
                .map_err(|e| record_err(&path, e))?;
        }
        Ok(())
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the record; `None` when the file does not exist.
    ///
    /// Errors: [`StoreError::Damaged`] when it does not parse,
    /// [`StoreError::Record`] when it cannot be read.
    pub fn read(&self) -> Result<Option<Recorded>, StoreError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(record_err(&self.path, e)),
        };
        let bad = || {
            StoreError::Damaged(format!(
                "the best-block record {} does not parse",
                self.path.display()
            ))
        };
        let mut lines = text.lines();
        if lines.next() != Some(MAGIC) {
            return Err(bad());
        }
        let mark = |line: Option<&str>, tag: &str| -> Option<Mark> {
            let mut f = line?.split(' ');
            if f.next()? != tag {
                return None;
            }
            let hash = f.next()?.parse().ok()?;
            let height = f.next()?.parse().ok()?;
            f.next().is_none().then_some((hash, height))
        };
        let flushed = mark(lines.next(), "flushed").ok_or_else(bad)?;
        let pending = match lines.next() {
            None => None,
            line => Some(mark(line, "pending").ok_or_else(bad)?),
        };
        Ok(Some(Recorded { flushed, pending }))
    }

    fn write(&self, r: &Recorded) -> Result<(), StoreError> {
        let mut text = format!("{MAGIC}\nflushed {} {}\n", r.flushed.0, r.flushed.1);
        if let Some((h, n)) = r.pending {
            text.push_str(&format!("pending {h} {n}\n"));
        }
        let tmp = self.path.with_extension("best.tmp");
        let e = |e| record_err(&self.path, e);
        let mut f = std::fs::File::create(&tmp).map_err(e)?;
        f.write_all(text.as_bytes()).map_err(e)?;
        f.sync_all().map_err(e)?;
        std::fs::rename(&tmp, &self.path).map_err(e)?;
        if let Some(dir) = self.path.parent()
            && let Ok(d) = std::fs::File::open(dir)
        {
            let _ = d.sync_all();
        }
        Ok(())
    }

    /// Records `best` as flushed (no flush pending).
    ///
    /// Errors: [`StoreError::Record`].
    pub fn commit(&self, best: Mark) -> Result<(), StoreError> {
        self.write(&Recorded {
            flushed: best,
            pending: None,
        })
    }

    /// Records that a flush to `best` begins, keeping the last flushed tip.
    /// With no record yet it writes nothing: no flush was promised, so the
    /// open accepts whichever state the flush leaves (and records it), and
    /// a record naming `best` as flushed before sled holds it could refuse
    /// a store a crash left behind it.
    ///
    /// Errors: [`StoreError::Record`].
    pub fn begin(&self, best: Mark) -> Result<(), StoreError> {
        let flushed = match self.read() {
            Ok(Some(r)) => r.flushed,
            Ok(None) => return Ok(()),
            Err(_) => best,
        };
        self.write(&Recorded {
            flushed,
            pending: Some(best),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::hash::Hash256;

    #[test]
    fn round_trip_and_damage() {
        let dir = tempfile::tempdir().unwrap();
        let r = BestRecord::beside(&dir.path().join("chain"));
        assert_eq!(r.path(), dir.path().join("chain.best"));
        assert_eq!(r.read().unwrap(), None);
        let a = (BlockHash(Hash256([1; 32])), 7);
        let b = (BlockHash(Hash256([2; 32])), 9);
        r.begin(a).unwrap();
        assert_eq!(r.read().unwrap(), None, "a first flush begins unrecorded");
        r.commit(a).unwrap();
        r.begin(b).unwrap();
        assert_eq!(
            r.read().unwrap(),
            Some(Recorded {
                flushed: a,
                pending: Some(b)
            })
        );
        r.commit(b).unwrap();
        assert_eq!(r.read().unwrap().map(|x| x.flushed), Some(b));
        std::fs::write(r.path(), "garbage").unwrap();
        assert!(matches!(r.read(), Err(StoreError::Damaged(_))));
    }
}
