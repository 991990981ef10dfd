//! The sled write mix of 1-payment blocks, in-process on sled 0.34.7 in a
//! temporary directory: what the store alone allows sync, for each way of
//! laying the chain state out. Each simulated block is a coinbase and one
//! 1-input payment (two outputs) whose input is an output made
//! `BENCH_WRITEMIX_BLOCKS` / 2 blocks earlier, so it is on disk: ~20 writes
//! (block bytes, block index entry, height, tip, 1 UTXO removed and 3
//! added with their address entries, undo data, 2 `tx_index`, 3
//! `addr_history` and 1 `spent_by` entries).
//!
//! Rows:
//! - `per block: 10-tree transaction`: the layout before the UTXO cache,
//!   one sled transaction across ten trees per block;
//! - `flush every 500: 8-tree transaction`: block bytes and index entry
//!   inserted per block, the chain state kept in memory and written every
//!   500 blocks in one transaction across its eight trees;
//! - `flush every 500: prefixed tree + apply_batch`: the same, with the
//!   chain state in one tree with one-byte key prefixes and written as one
//!   atomic `apply_batch` (the layout `src/store/` uses).
//!
//! Limit: the same run inserting only the block bytes, one insert per
//! block (what no chain-state layout can beat).

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::Result;
use sled::Transactional;

use crate::harness::{Table, env};

/// One block's writes: (tree, key, value or removal).
type Write = (usize, Vec<u8>, Option<Vec<u8>>);

/// Trees: 0 blocks, 1 index, 2 heights, 3 meta, 4 utxo, 5 addr_utxo,
/// 6 undo, 7 tx_index, 8 addr_history, 9 spent_by.
const TREES: usize = 10;

fn key(tag: u8, n: u64, extra: u8) -> Vec<u8> {
    let mut k = vec![tag; 28];
    k.extend_from_slice(&n.to_be_bytes());
    k.push(extra);
    k
}

/// The writes of simulated block `n` (module docs).
fn block_writes(n: u64, lag: u64) -> Vec<Write> {
    let v = |len: usize| Some(vec![(n % 251) as u8; len]);
    let spent = n.saturating_sub(lag);
    let mut w: Vec<Write> = vec![
        (0, key(b'B', n, 0), v(700)),
        (1, key(b'I', n, 0), v(60)),
        (2, n.to_be_bytes().to_vec(), v(32)),
        (3, b"tip".to_vec(), v(32)),
        (6, key(b'U', n, 0), v(40)),
        (9, key(b'O', spent, 1), v(36)),
    ];
    if n > lag {
        w.push((4, key(b'O', spent, 1), None));
        w.push((5, key(b'A', spent, 1), None));
    }
    for out in 0..3u8 {
        w.push((4, key(b'O', n, out), v(30)));
        w.push((5, key(b'A', n, out), v(8)));
        w.push((8, key(b'H', n, out), v(56)));
    }
    for t in 0..2u8 {
        w.push((7, key(b'T', n, t), v(36)));
    }
    w
}

fn open(dir: &std::path::Path, name: &str) -> Result<(sled::Db, Vec<sled::Tree>)> {
    let db = sled::Config::new()
        .path(dir.join(name))
        .flush_every_ms(Some(500))
        .open()?;
    let trees = (0..TREES)
        .map(|t| db.open_tree(format!("t{t}")))
        .collect::<sled::Result<Vec<_>>>()?;
    Ok((db, trees))
}

/// Blocks per second of `blocks` simulated blocks written by `write`.
fn timed(blocks: u64, mut write: impl FnMut(u64) -> Result<()>) -> Result<f64> {
    let start = Instant::now();
    for n in 0..blocks {
        write(n)?;
    }
    Ok(blocks as f64 / start.elapsed().as_secs_f64())
}

fn per_block_transaction(dir: &std::path::Path, blocks: u64) -> Result<f64> {
    let (_db, t) = open(dir, "tx")?;
    let lag = blocks / 2;
    let trees = (
        &t[0], &t[1], &t[2], &t[3], &t[4], &t[5], &t[6], &t[7], &t[8], &t[9],
    );
    timed(blocks, |n| {
        let writes = block_writes(n, lag);
        trees
            .transaction(|(a, b, c, d, e, f, g, h, i, j)| {
                let tt = [a, b, c, d, e, f, g, h, i, j];
                for (tree, k, v) in &writes {
                    match v {
                        Some(v) => _ = tt[*tree].insert(k.as_slice(), v.as_slice())?,
                        None => _ = tt[*tree].remove(k.as_slice())?,
                    }
                }
                Ok::<_, sled::transaction::ConflictableTransactionError<()>>(())
            })
            .map_err(|e| anyhow::anyhow!("{e:?}"))
    })
}

/// Block bytes and index entry per block; the rest cached in memory
/// (created-then-spent entries never written) and handed to `flush` every
/// 500 blocks and at the end.
fn cached(
    blocks: u64,
    t: &[sled::Tree],
    mut flush: impl FnMut(&BTreeMap<(usize, Vec<u8>), Option<Vec<u8>>>) -> Result<()>,
) -> Result<f64> {
    let lag = blocks / 2;
    let mut cache = BTreeMap::new();
    let rate = timed(blocks, |n| {
        for (tree, k, v) in block_writes(n, lag) {
            match tree {
                0 | 1 => _ = t[tree].insert(k, v.unwrap_or_default())?,
                _ => _ = cache.insert((tree, k), v),
            }
        }
        if n % 500 == 499 || n + 1 == blocks {
            flush(&cache)?;
            cache.clear();
        }
        Ok(())
    })?;
    Ok(rate)
}

fn flush_transaction(dir: &std::path::Path, blocks: u64) -> Result<f64> {
    let (_db, t) = open(dir, "cache-tx")?;
    let state = (&t[2], &t[3], &t[4], &t[5], &t[6], &t[7], &t[8], &t[9]);
    cached(blocks, &t, |cache| {
        state
            .transaction(|(a, b, c, d, e, f, g, h)| {
                let tt = [a, b, c, d, e, f, g, h];
                for ((tree, k), v) in cache {
                    match v {
                        Some(v) => _ = tt[tree - 2].insert(k.as_slice(), v.as_slice())?,
                        None => _ = tt[tree - 2].remove(k.as_slice())?,
                    }
                }
                Ok::<_, sled::transaction::ConflictableTransactionError<()>>(())
            })
            .map_err(|e| anyhow::anyhow!("{e:?}"))
    })
}

fn flush_batch(dir: &std::path::Path, blocks: u64) -> Result<f64> {
    let (_db, t) = open(dir, "cache-batch")?;
    let state = t[2].clone();
    cached(blocks, &t, |cache| {
        let mut batch = sled::Batch::default();
        for ((tree, k), v) in cache {
            let mut key = vec![*tree as u8];
            key.extend_from_slice(k);
            match v {
                Some(v) => batch.insert(key, v.as_slice()),
                None => batch.remove(key),
            }
        }
        Ok(state.apply_batch(batch)?)
    })
}

fn blocks_only(dir: &std::path::Path, blocks: u64) -> Result<f64> {
    let (_db, t) = open(dir, "blocks")?;
    timed(blocks, |n| {
        t[0].insert(key(b'B', n, 0), vec![1u8; 700])?;
        Ok(())
    })
}

/// One way of writing the mix: blocks per second for (directory, blocks).
type Scenario = dyn Fn(&std::path::Path, u64) -> Result<f64>;

/// Adds the write-mix rows (module docs), best of two runs each.
pub fn run(table: &mut Table) -> Result<()> {
    let blocks = env("BENCH_WRITEMIX_BLOCKS", 4000);
    let best = |f: &Scenario| -> Result<f64> {
        let mut best: f64 = 0.0;
        for _ in 0..2 {
            let dir = tempfile::tempdir()?;
            best = best.max(f(dir.path(), blocks)?);
        }
        Ok(best)
    };
    let limit = best(&blocks_only)?;
    let rows: [(&str, &Scenario); 3] = [
        (
            "sled write mix: per block 10-tree transaction",
            &per_block_transaction,
        ),
        (
            "sled write mix: flush every 500, 8-tree transaction",
            &flush_transaction,
        ),
        (
            "sled write mix: flush every 500, prefixed tree + apply_batch",
            &flush_batch,
        ),
    ];
    for (name, f) in rows {
        let rate = best(f)?;
        table.row(
            name,
            rate,
            "blk/s",
            Some(limit),
            "-",
            format!("{blocks} blocks of coinbase + 1 payment; limit: block bytes only"),
        );
    }
    Ok(())
}
