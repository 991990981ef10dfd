//! `reindex_utxo` reads blocks in parallel batches and writes only the
//! difference from the stored set: a damaged `utxo` / `addr_utxo` pair
//! (entries missing, extra, undecodable, with the wrong owner or value) is
//! brought back byte for byte, across batch boundaries; a broken chain is
//! reported without touching the stored set.

mod support;

use std::path::Path;

use sledchain::store::{ChainStore, StoreError};
use support::{genchain, open_store};
use tempfile::TempDir;

const PORT: u16 = 3000;
/// More than two read batches, so batch boundaries are crossed.
const BLOCKS: u64 = 600;

type Raw = Vec<(Vec<u8>, Vec<u8>)>;

fn chain_path(dir: &Path) -> std::path::PathBuf {
    dir.join(PORT.to_string()).join("chain")
}

/// Runs `f` on the raw sled database of the (stopped) node.
fn with_raw<T>(dir: &Path, f: impl FnOnce(&sled::Db) -> T) -> T {
    let db = support::open_raw(&chain_path(dir));
    let out = f(&db);
    db.flush().expect("flush");
    out
}

fn dump(db: &sled::Db, tree: &str) -> Raw {
    db.open_tree(tree)
        .expect("tree")
        .iter()
        .map(|kv| kv.map(|(k, v)| (k.to_vec(), v.to_vec())).expect("read"))
        .collect()
}

fn trees(dir: &Path) -> (Raw, Raw) {
    with_raw(dir, |db| (dump(db, "utxo"), dump(db, "addr_utxo")))
}

/// Removes, corrupts, adds and mislabels entries of both trees.
fn damage(db: &sled::Db, utxo: &Raw, addr: &Raw) {
    let u = db.open_tree("utxo").expect("utxo");
    let a = db.open_tree("addr_utxo").expect("addr_utxo");
    for (k, _) in utxo.iter().step_by(97) {
        u.remove(k).expect("remove");
    }
    for (k, _) in utxo.iter().skip(5).step_by(101) {
        u.insert(k, &b"not a TxOut"[..]).expect("garbage value");
    }
    u.insert([7u8; 36], utxo[1].1.clone())
        .expect("extra outpoint");
    u.insert([1u8; 10], &b"bad key"[..]).expect("bad key");
    for (k, _) in addr.iter().step_by(89) {
        a.remove(k).expect("remove");
    }
    for (k, v) in addr.iter().skip(3).step_by(103) {
        let mut wrong_owner = k.clone();
        wrong_owner[0] ^= 0xff;
        a.insert(wrong_owner, v.clone()).expect("wrong owner");
        a.insert(k, &u64::MAX.to_be_bytes()[..])
            .expect("wrong value");
    }
    a.insert([2u8; 56], &1u64.to_be_bytes()[..])
        .expect("extra entry");
    a.insert([3u8; 12], &b"x"[..]).expect("bad key");
}

#[test]
fn reindex_repairs_a_damaged_set_byte_for_byte() {
    let dir = TempDir::new().unwrap();
    let (_, height) = genchain(dir.path(), PORT, BLOCKS, 1);
    assert_eq!(height, BLOCKS);
    let (utxo, addr) = trees(dir.path());
    assert!(utxo.len() > 500 && addr.len() == utxo.len());
    let counts = {
        let store = open_store(dir.path(), PORT);
        assert_eq!(
            store.compute_utxo_set().unwrap().len(),
            utxo.len(),
            "the rebuild agrees with the incremental set"
        );
        store.reindex_utxo().unwrap()
    };
    assert_eq!(counts.1, utxo.len());
    assert_eq!(
        trees(dir.path()),
        (utxo.clone(), addr.clone()),
        "no-op reindex"
    );

    with_raw(dir.path(), |db| damage(db, &utxo, &addr));
    assert_ne!(trees(dir.path()), (utxo.clone(), addr.clone()));
    {
        let store = open_store(dir.path(), PORT);
        assert_eq!(store.reindex_utxo().unwrap(), counts);
    }
    assert_eq!(trees(dir.path()), (utxo, addr), "repaired exactly");
}

#[test]
fn reindex_of_an_emptied_set_writes_it_all() {
    let dir = TempDir::new().unwrap();
    genchain(dir.path(), PORT, 300, 1);
    let before = trees(dir.path());
    with_raw(dir.path(), |db| {
        db.open_tree("utxo").unwrap().clear().unwrap();
        db.open_tree("addr_utxo").unwrap().clear().unwrap();
    });
    open_store(dir.path(), PORT).reindex_utxo().unwrap();
    assert_eq!(trees(dir.path()), before);
}

#[test]
fn a_gap_in_the_best_chain_is_reported_and_nothing_is_written() {
    let dir = TempDir::new().unwrap();
    genchain(dir.path(), PORT, 300, 1);
    with_raw(dir.path(), |db| {
        db.open_tree("utxo").unwrap().clear().unwrap();
        let heights = db.open_tree("heights").unwrap();
        heights.remove(270u64.to_be_bytes()).unwrap();
    });
    let store: ChainStore = open_store(dir.path(), PORT);
    match store.reindex_utxo() {
        Err(StoreError::Corrupt(e)) => assert!(e.contains("no block at height 270"), "{e}"),
        other => panic!("expected a corrupt-store error, got {other:?}"),
    }
    assert_eq!(store.utxo_count(), 0, "nothing written");
}

#[test]
fn a_missing_block_is_reported() {
    let dir = TempDir::new().unwrap();
    genchain(dir.path(), PORT, 300, 1);
    let hash = with_raw(dir.path(), |db| {
        let heights = db.open_tree("heights").unwrap();
        let hash = heights.get(280u64.to_be_bytes()).unwrap().unwrap();
        db.open_tree("blocks").unwrap().remove(&hash).unwrap();
        hex::encode(hash)
    });
    let store = open_store(dir.path(), PORT);
    match store.reindex_utxo() {
        Err(StoreError::MissingBlock(h)) => assert_eq!(h.to_string(), hash),
        other => panic!("expected a missing block, got {other:?}"),
    }
}

fn explorer(dir: &Path) -> Raw {
    with_raw(dir, |db| dump(db, "explorer"))
}

/// `reindex_utxo` turns the blocks into explorer-index entries with the
/// outputs its own UTXO rebuild found spent, reading no undo data: the
/// entries must be byte for byte those the undo data gives
/// (`rebuild_indexes`), written into an emptied tree and into a damaged one
/// (address-history amounts changed, spent-by entries removed, an entry
/// the chain does not give added).
#[test]
fn reindex_writes_the_explorer_entries_the_undo_data_gives() {
    let dir = TempDir::new().unwrap();
    genchain(dir.path(), PORT, BLOCKS, 1);
    open_store(dir.path(), PORT).rebuild_indexes().unwrap();
    let reference = explorer(dir.path());
    let spends = reference.iter().filter(|(k, _)| k[0] == b'S').count();
    assert!(spends as u64 >= BLOCKS, "the payments spend outputs");

    with_raw(dir.path(), |db| {
        db.open_tree("explorer").unwrap().clear().unwrap()
    });
    open_store(dir.path(), PORT).reindex_utxo().unwrap();
    assert_eq!(explorer(dir.path()), reference, "built from an empty tree");

    with_raw(dir.path(), |db| {
        let t = db.open_tree("explorer").unwrap();
        for (k, v) in reference.iter().filter(|(k, _)| k[0] == b'A').step_by(7) {
            let mut v = v.clone();
            v[50] ^= 1; // the amount sent, which the spent outputs give
            t.insert(k, v).unwrap();
        }
        for (k, _) in reference.iter().filter(|(k, _)| k[0] == b'S').step_by(5) {
            t.remove(k).unwrap();
        }
        t.insert(b"T\x08", &[8u8; 36][..]).unwrap(); // no such transaction
    });
    assert_ne!(explorer(dir.path()), reference);
    open_store(dir.path(), PORT).reindex_utxo().unwrap();
    assert_eq!(explorer(dir.path()), reference, "repaired exactly");
}

/// The explorer entries no longer come from the undo data, but a
/// best-chain block without it (which could not be disconnected) is still
/// reported, before anything is written.
#[test]
fn a_missing_undo_entry_is_reported_and_nothing_is_written() {
    let dir = TempDir::new().unwrap();
    genchain(dir.path(), PORT, 300, 1);
    let hash = with_raw(dir.path(), |db| {
        db.open_tree("utxo").unwrap().clear().unwrap();
        let heights = db.open_tree("heights").unwrap();
        let hash = heights.get(250u64.to_be_bytes()).unwrap().unwrap();
        db.open_tree("undo").unwrap().remove(&hash).unwrap();
        hex::encode(hash)
    });
    let store = open_store(dir.path(), PORT);
    match store.reindex_utxo() {
        Err(StoreError::Corrupt(e)) => {
            assert!(e.contains("no undo data") && e.contains(&hash), "{e}")
        }
        other => panic!("expected a corrupt-store error, got {other:?}"),
    }
    assert_eq!(store.utxo_count(), 0, "nothing written");
}
