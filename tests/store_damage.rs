//! Damage is detected, never served: a store whose sled `db` file was
//! damaged (64 bytes flipped in the middle, 1 byte flipped near the end,
//! the file truncated to half) either opens at its full height with a chain
//! `checkchain` accepts, or is refused with a message naming the recovery;
//! it never opens silently at a lower tip. A refused store is repaired by
//! `reindexutxo`, which accepts the tip it can rebuild and records it. A
//! chain state found behind its record while the blocks above it are still
//! stored is not refused: opening the chain replays them.

mod support;

use std::path::Path;

use sledchain::chain::Chain;
use sledchain::core::block::Block;
use sledchain::core::hash::BlockHash;
use sledchain::store::{ChainStore, StoreError};
use support::fixtures::{BITS, key, owner, signed, solve};
use support::*;

/// Blocks above genesis in the damaged chain.
const HEIGHT: u64 = 300;

const PORT: u16 = 3000;

/// A stopped node's store (`DIR/3000/chain`) holding a chain of
/// [`HEIGHT`] blocks, each with a coinbase and one payment.
fn build(dir: &Path) {
    let path = dir.join(PORT.to_string()).join("chain");
    let store = ChainStore::open(&path, 1 << 20).expect("open");
    let k = key(9);
    let me = owner(&k);
    let mut g = Block::template(BlockHash::ZERO, 0, BITS, 1_700_000_000, me, 20, vec![]);
    solve(&mut g);
    store.init_genesis(&g).expect("genesis");
    let mut prev = g;
    for h in 1..=HEIGHT {
        let coin = sledchain::core::tx::OutPoint {
            txid: prev.transactions[0].txid(),
            vout: 0,
        };
        let spent = prev.transactions[0].outputs[0];
        let pay = signed(&[(coin, spent, &k)], vec![spent]);
        let mut b = Block::template(
            prev.hash(),
            h,
            BITS,
            1_700_000_000 + h as u32,
            me,
            20,
            vec![pay],
        );
        solve(&mut b);
        store.connect_block(&b, &[spent]).expect("connect");
        prev = b;
    }
    store.flush().expect("flush");
}

/// What opening a damaged copy gives: `Ok(height)` when it opens (and its
/// chain checks), `Err(message)` when refused.
fn open_damaged(dir: &Path) -> Result<u64, String> {
    let path = dir.join(PORT.to_string()).join("chain");
    let store = match ChainStore::open(&path, 1 << 20) {
        Ok(s) => s,
        Err(e) => return Err(e.to_string()),
    };
    let opened = Chain::open(
        store.clone(),
        std::sync::Arc::new(sledchain::core::validation::SigCache::new(1000)),
    )
    .map_err(|e| e.to_string());
    let tip = opened.and_then(|_| store.tip().map_err(|e| e.to_string()))?;
    Ok(tip.height)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read dir") {
        let e = e.expect("entry");
        let dest = to.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).expect("copy");
        }
    }
}

fn flip(file: &Path, at: usize, n: usize) {
    let mut bytes = std::fs::read(file).expect("read db");
    assert!(at + n <= bytes.len(), "db file too small: {}", bytes.len());
    for b in &mut bytes[at..at + n] {
        *b ^= 0xff;
    }
    std::fs::write(file, bytes).expect("write db");
}

#[test]
fn damaged_db_files_are_refused_or_open_whole_never_lower() {
    let clean = tempfile::tempdir().expect("tempdir");
    build(clean.path());
    let db = |dir: &Path| dir.join(PORT.to_string()).join("chain").join("db");
    let len = std::fs::metadata(db(clean.path())).expect("db file").len() as usize;
    type Damage = Box<dyn Fn(&Path)>;
    let cases: [(&str, Damage); 3] = [
        (
            "64 bytes flipped mid-file",
            Box::new(move |f| flip(f, len / 2, 64)),
        ),
        (
            "1 byte flipped near the end",
            Box::new(move |f| flip(f, len - 100, 1)),
        ),
        (
            "truncated to half",
            Box::new(move |f| {
                let file = std::fs::OpenOptions::new()
                    .write(true)
                    .open(f)
                    .expect("open db");
                file.set_len((len / 2) as u64).expect("truncate");
            }),
        ),
    ];
    for (what, damage) in cases {
        let copy = tempfile::tempdir().expect("tempdir");
        copy_dir(clean.path(), copy.path());
        damage(&db(copy.path()));
        let outcome = open_damaged(copy.path());
        println!("{what}: {outcome:?}");
        match outcome {
            Ok(h) => {
                assert_eq!(h, HEIGHT, "{what}: opened silently at a lower tip");
                let (ok, out, err) = checkchain(copy.path(), PORT);
                assert!(ok && out == "OK", "{what}: checkchain {out:?} {err:?}");
            }
            Err(message) => {
                assert!(
                    message.contains("reindexutxo") || message.contains("database"),
                    "{what}: refusal does not say what to do: {message}"
                );
                // The CLI refuses the same way, naming the recovery.
                let out = cli(copy.path(), PORT, &["status"]);
                assert!(
                    !out.status.success(),
                    "{what}: status served a damaged store"
                );
            }
        }
    }
}

#[test]
fn a_chain_state_behind_its_record_with_the_blocks_stored_is_replayed() {
    let dir = tempfile::tempdir().expect("tempdir");
    build(dir.path());
    let path = dir.path().join(PORT.to_string()).join("chain");
    let record = std::fs::read(path.with_file_name("chain.best")).expect("record");
    {
        let store = ChainStore::open(&path, 1 << 20).expect("open");
        for _ in 0..20 {
            store.disconnect_tip().expect("disconnect");
        }
        store.flush().expect("flush");
    }
    std::fs::write(path.with_file_name("chain.best"), record).expect("restore record");
    assert_eq!(open_damaged(dir.path()), Ok(HEIGHT));
}

#[test]
fn a_store_below_its_record_is_refused_until_reindexutxo_accepts_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    build(dir.path());
    let path = dir.path().join(PORT.to_string()).join("chain");
    // Simulate a database that lost its last blocks: put the chain state
    // back 20 blocks behind the record (disconnects through the store, then
    // the record of the full height written back).
    let record = std::fs::read(path.with_file_name("chain.best")).expect("record");
    {
        let store = ChainStore::open(&path, 1 << 20).expect("open");
        let mut lost = Vec::new();
        for _ in 0..20 {
            lost.push(store.disconnect_tip().expect("disconnect").hash());
        }
        store.flush().expect("flush");
        drop(store);
        // The blocks go too, as a damaged file loses them.
        let db = support::open_raw(&path);
        for tree in ["blocks", "index"] {
            let t = db.open_tree(tree).expect("tree");
            for h in &lost {
                t.remove(h.as_bytes()).expect("remove");
            }
        }
        db.flush().expect("flush");
    }
    std::fs::write(path.with_file_name("chain.best"), record).expect("restore record");
    match ChainStore::open(&path, 1 << 20) {
        Err(StoreError::Damaged(m)) => {
            assert!(m.contains(&format!("height {}", HEIGHT - 20)), "{m}");
            assert!(m.contains(&format!("height {HEIGHT}")), "{m}");
        }
        Err(e) => panic!("expected damage, got {e}"),
        Ok(s) => panic!("opened silently at {:?}", s.tip().map(|t| t.height)),
    }
    let out = cli(dir.path(), PORT, &["status"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("damaged") && err.contains("reindexutxo"),
        "{err}"
    );
    let (ok, _, err) = checkchain(dir.path(), PORT);
    assert!(!ok && err.contains("damaged"), "checkchain: {err}");
    cli_ok(dir.path(), PORT, &["reindexutxo"]);
    let store = ChainStore::open(&path, 1 << 20).expect("repaired store opens");
    assert_eq!(store.tip().expect("tip").height, HEIGHT - 20);
}
