//! A chain store read that fails is `503 the chain store cannot be read:
//! ...` on every route, in the node routes' JSON shape, never a 500: a
//! chain route (`/api/block/:hash`) and an explorer-index route
//! (`/api/tx/:txid`) over a stopped node's store with one damaged record
//! each, through the builders the routes run and through the CLI's read
//! commands, which run the same builders on a stopped node.

mod support;

use std::path::{Path, PathBuf};

use axum::http::StatusCode;
use axum::response::IntoResponse;
use sledchain::api::error::CHAIN_STORE_UNREADABLE;
use sledchain::api::{ApiError, schema};
use sledchain::core::block::Block;
use sledchain::core::hash::{BlockHash, Txid};
use sledchain::store::ChainStore;
use support::*;
use tempfile::TempDir;

const PORT: u16 = 3000;

fn chain_path(dir: &Path) -> PathBuf {
    dir.join(PORT.to_string()).join("chain")
}

/// A stopped node's store with genesis and one block, its explorer
/// indexes caught up, then the block's stored bytes and its coinbase's
/// transaction-index entry overwritten with bytes that do not decode.
/// Returns the block's hash and its coinbase's txid.
fn damaged(dir: &Path) -> (BlockHash, Txid) {
    let path = chain_path(dir);
    let store = ChainStore::open(&path, 1 << 20).expect("open");
    let g = Block::template(BlockHash::ZERO, 0, 1, 1_700_000_000, [1; 20], 50, vec![]);
    store.init_genesis(&g).expect("genesis");
    let b = Block::template(g.hash(), 1, 1, 1_700_000_600, [1; 20], 50, vec![]);
    store.connect_block(&b, &[]).expect("connect");
    assert_eq!(store.sync_indexes().expect("index"), Some(1));
    let (block, coinbase) = (b.hash(), b.transactions[0].txid());
    // The transaction index points at the block the route then reads.
    assert_eq!(
        store.tx_location(&coinbase).expect("read"),
        Some((block, 0))
    );
    drop(store);
    let db = open_raw(&path);
    let blocks = db.open_tree("blocks").expect("blocks tree");
    assert!(blocks.get(block.as_bytes()).expect("raw read").is_some());
    blocks
        .insert(block.as_bytes(), &b"not a block"[..])
        .expect("write");
    let explorer = db.open_tree("explorer").expect("explorer tree");
    let mut key = vec![b'T'];
    key.extend_from_slice(coinbase.as_bytes());
    assert!(explorer.get(&key).expect("raw read").is_some());
    explorer.insert(key, &b"short"[..]).expect("write");
    db.flush().expect("flush");
    drop((blocks, explorer, db));
    (block, coinbase)
}

/// `e` is the answer to a failed store read: 503 with the node routes'
/// JSON shape (`error`, `field` null).
fn unreadable(route: &str, e: ApiError) {
    assert_eq!(e.status, StatusCode::SERVICE_UNAVAILABLE, "{route}: {e:?}");
    assert!(
        e.error.starts_with(CHAIN_STORE_UNREADABLE),
        "{route}: {}",
        e.error
    );
    assert!(
        e.error.contains("database is corrupt"),
        "{route}: {}",
        e.error
    );
    assert_eq!(e.field, None, "{route}");
    let response = e.into_response();
    assert_eq!(
        response.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "{route}"
    );
}

#[test]
fn chain_and_explorer_routes_answer_503_on_a_failed_store_read() {
    let dir = TempDir::new().expect("tempdir");
    let (block, coinbase) = damaged(dir.path());
    let store = ChainStore::open(&chain_path(dir.path()), 1 << 20).expect("reopen");
    // `GET /api/block/:hash` reads the block first.
    let e = schema::load_block(&store, &block).expect_err("a block that does not decode");
    unreadable("/api/block/:hash", e);
    // `GET /api/tx/:txid` reads the transaction index first.
    let e =
        schema::confirmed_tx(&store, &coinbase).expect_err("an index entry that does not decode");
    unreadable("/api/tx/:txid", e);
    drop(store);

    // The CLI on the stopped node asks the same builders: an error of the
    // store (exit 1), not "not running" (exit 3) nor "not found".
    let node = Node::at(dir.path(), PORT);
    for args in [
        ["getblock", &block.to_string(), "--json"],
        ["gettx", &coinbase.to_string(), "--json"],
    ] {
        let out = node.run(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        let v: serde_json::Value = serde_json::from_str(stderr.trim()).expect("one JSON line");
        assert_eq!(v["code"], "error", "{args:?}: {stderr}");
        let error = v["error"].as_str().unwrap_or_default();
        assert!(
            error.starts_with(CHAIN_STORE_UNREADABLE),
            "{args:?}: {error}"
        );
    }
}
