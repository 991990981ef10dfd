//! The text the read-only commands print (`getbalance`, `printchain`,
//! `status`, `checkchain`), computed from the chain state and mempool. The
//! CLI prints it when the node is stopped, and the running node returns the
//! same text over its control socket, so both give identical output.

use rayon::prelude::*;
use serde::Serialize;

use crate::core::address::Address;
use crate::core::block::Block;
use crate::core::params::now_secs;
use crate::core::tx::{Transaction, TxIn, TxOut, pubkey_hash, sighash, verify_signature};
use crate::core::validation::{ParentInfo, check_block_context, check_block_sanity};
use crate::core::view::UtxoView;
use crate::store::{BlockMeta, BlockStatus, ChainStore, StoreError};

/// `Balance of ADDR: N` for the confirmed UTXO set.
pub fn balance_text(store: &ChainStore, addr: &Address) -> Result<String, StoreError> {
    Ok(format!("Balance of {addr}: {}", store.balance(&addr.0)?))
}

/// `height: N`, `tip: HASH`, `mempool: N`, `peers: N`, one per line.
pub fn status_text(
    store: &ChainStore,
    mempool_len: usize,
    peers: usize,
) -> Result<String, StoreError> {
    let tip = store.tip()?;
    Ok(status_lines(
        tip.height,
        Some(&tip.hash),
        mempool_len,
        peers,
    ))
}

/// The lines of `status`: height, tip, mempool size and peer count.
pub fn status_lines(
    height: u64,
    tip: Option<&crate::core::hash::BlockHash>,
    mempool: usize,
    peers: usize,
) -> String {
    let tip = tip.map_or("none".to_string(), ToString::to_string);
    format!("height: {height}\ntip: {tip}\nmempool: {mempool}\npeers: {peers}")
}

#[derive(Serialize)]
pub(super) struct JsonInput {
    prev_out: String,
    pubkey: String,
    /// Only with `--verify`: `Some(None)` (JSON null) when the block has no
    /// undo data to verify against.
    #[serde(skip_serializing_if = "Option::is_none")]
    signature_ok: Option<Option<bool>>,
}

#[derive(Serialize)]
pub(super) struct JsonOutput {
    value: u64,
    address: String,
}

#[derive(Serialize)]
pub(super) struct JsonTx {
    txid: String,
    coinbase: bool,
    inputs: Vec<JsonInput>,
    outputs: Vec<JsonOutput>,
}

#[derive(Serialize)]
pub(super) struct JsonBlock {
    hash: String,
    prev_block_hash: String,
    height: u64,
    timestamp: u32,
    bits: u32,
    nonce: u32,
    pow_valid: bool,
    /// The block index's status: `valid` for a connected block (every rule,
    /// signatures included, was checked when it was connected).
    status: &'static str,
    pub(super) transactions: Vec<JsonTx>,
}

/// One block as printed. With `verify`, `undo` (the outputs its inputs
/// spent, `None` when missing) is used to re-verify every signature.
fn describe_block(
    block: &Block,
    status: &'static str,
    verify: Option<Option<&[TxOut]>>,
) -> JsonBlock {
    // The undo data lists the spent outputs in input order, coinbase aside.
    let mut spent = verify.flatten().unwrap_or_default().iter().copied();
    let txs = block
        .transactions
        .iter()
        .map(|tx| describe_tx(tx, &mut spent, verify.is_some()))
        .collect();
    JsonBlock {
        hash: block.hash().to_string(),
        prev_block_hash: block.header.prev_block_hash.to_string(),
        height: block.height,
        timestamp: block.header.timestamp,
        bits: block.header.bits,
        nonce: block.header.nonce,
        pow_valid: block.header.meets_target(),
        status,
        transactions: txs,
    }
}

/// The JSON view of `tx`; with `verify`, each input's signature is checked
/// against the next output of `spent` (none left: `signature_ok` null).
pub(super) fn describe_tx(
    tx: &Transaction,
    spent: &mut impl Iterator<Item = TxOut>,
    verify: bool,
) -> JsonTx {
    let txid = tx.txid();
    let coinbase = tx.is_coinbase();
    let inputs = tx
        .inputs
        .iter()
        .enumerate()
        .map(|(i, input)| JsonInput {
            prev_out: input.prev_out.to_string(),
            pubkey: hex::encode(input.pubkey),
            signature_ok: verify.then(|| {
                (!coinbase)
                    .then(|| spent.next())
                    .flatten()
                    .map(|out| input_signed(&txid, i, input, &out))
            }),
        })
        .collect();
    let outputs = tx
        .outputs
        .iter()
        .map(|o| JsonOutput {
            value: o.value,
            address: Address(o.pubkey_hash).to_string(),
        })
        .collect();
    JsonTx {
        txid: txid.to_string(),
        coinbase,
        inputs,
        outputs,
    }
}

/// True when input `i` of `txid` shows the owner's key of `out` and a
/// valid signature over its sighash.
fn input_signed(txid: &crate::core::hash::Txid, i: usize, input: &TxIn, out: &TxOut) -> bool {
    pubkey_hash(&input.pubkey) == out.pubkey_hash
        && verify_signature(
            &input.pubkey,
            sighash(txid, i as u32, out).as_bytes(),
            &input.signature,
        )
        .is_ok()
}

/// How a block index status is printed.
fn status_name(meta: Option<BlockMeta>) -> &'static str {
    match meta.map(|m| m.status) {
        Some(BlockStatus::Valid) => "valid",
        Some(BlockStatus::Stored) => "stored",
        Some(BlockStatus::Invalid) => "invalid",
        None => "unindexed",
    }
}

/// `printchain`: every best-chain block from tip to genesis, as text or as a
/// JSON array, each with the status the block index recorded when it was
/// connected (`valid`: every rule, signatures included, passed then).
///
/// With `verify`, every input's signature is verified again against the
/// block's undo data (blocks in parallel): the text adds `signature OK`,
/// `signature INVALID` or `no undo data` to each input line, the JSON adds
/// `signature_ok` (true, false, or null without undo data) to each input.
///
/// Errors: [`StoreError`] reading the store.
pub fn printchain_text(store: &ChainStore, json: bool, verify: bool) -> Result<String, StoreError> {
    let mut read = Vec::new();
    for b in store.iter() {
        let b = b?;
        let hash = b.hash();
        let status = status_name(store.block_meta(&hash)?);
        let undo = if verify { store.undo(&hash)? } else { None };
        read.push((b, status, undo));
    }
    let blocks: Vec<JsonBlock> = if verify {
        read.par_iter()
            .map(|(b, status, undo)| describe_block(b, status, Some(undo.as_deref())))
            .collect()
    } else {
        read.iter()
            .map(|(b, status, _)| describe_block(b, status, None))
            .collect()
    };
    if json {
        return serde_json::to_string_pretty(&blocks)
            .map_err(|e| StoreError::Corrupt(e.to_string()));
    }
    Ok(chain_text(&blocks))
}

/// The text form of `printchain`.
fn chain_text(blocks: &[JsonBlock]) -> String {
    let text: Vec<String> = blocks.iter().map(block_text).collect();
    text.join("\n\n")
}

/// The text of one block (`printchain`, `getblock`).
pub(super) fn block_text(b: &JsonBlock) -> String {
    let mut s = String::new();
    s.push_str(&format!("============ Block {} ============\n", b.hash));
    s.push_str(&format!("Height: {}\n", b.height));
    s.push_str(&format!("Prev. block: {}\n", b.prev_block_hash));
    // No age here: the text must not change between two runs.
    s.push_str(&format!(
        "Time: {}\n",
        super::text::iso(u64::from(b.timestamp))
    ));
    s.push_str(&format!("Bits: {}\n", b.bits));
    s.push_str(&format!("Nonce: {}\n", b.nonce));
    s.push_str(&format!("PoW: {}\n", b.pow_valid));
    s.push_str(&format!("Status: {}\n", b.status));
    for tx in &b.transactions {
        s.push_str(&tx_text(tx));
    }
    s.trim_end().to_string()
}

/// The text of one transaction (`printchain`, `getblock`, `gettx`).
pub(super) fn tx_text(tx: &JsonTx) -> String {
    let mut s = String::new();
    let kind = if tx.coinbase { " (coinbase)" } else { "" };
    s.push_str(&format!("--- Transaction {}{kind}\n", tx.txid));
    if !tx.coinbase {
        for (i, input) in tx.inputs.iter().enumerate() {
            let ok = match input.signature_ok {
                None => "",
                Some(Some(true)) => " signature OK",
                Some(Some(false)) => " signature INVALID",
                Some(None) => " no undo data",
            };
            s.push_str(&format!("     Input {i}: {}{ok}\n", input.prev_out));
        }
    }
    for (i, o) in tx.outputs.iter().enumerate() {
        s.push_str(&format!(
            "     Output {i}: {} to {}\n",
            super::text::coins(o.value),
            o.address
        ));
    }
    s
}

/// `checkchain`: verifies every best-chain block from genesis to tip
/// (sanity and context, signatures included, against a UTXO set rebuilt as
/// it goes) and compares the stored UTXO set with that rebuild. Returns `OK`
/// or the first discrepancy.
pub fn checkchain_text(store: &ChainStore) -> Result<String, StoreError> {
    let tip = store.tip()?;
    let params = store.params()?;
    let mut set = std::collections::HashMap::new();
    let now = now_secs();
    for height in 0..=tip.height {
        let Some(hash) = store.hash_at(height)? else {
            return Ok(format!("no block at height {height}"));
        };
        let Some(block) = store.block(&hash)? else {
            return Ok(format!("block {hash} at height {height} is missing"));
        };
        if block.hash() != hash || block.height != height {
            return Ok(format!(
                "block stored under {hash} at height {height} does not match"
            ));
        }
        if let Err(e) = check_block_sanity(&block, now) {
            return Ok(format!("block {hash} at height {height}: {e}"));
        }
        if height > 0 {
            let parent = ParentInfo {
                hash: block.header.prev_block_hash,
                height: height - 1,
            };
            if store.hash_at(height - 1)? != Some(parent.hash) {
                return Ok(format!(
                    "block {hash} at height {height} does not link to its parent"
                ));
            }
            let view = UtxoView::for_block(&block, &set).unwrap_or_else(|e| match e {});
            if let Err(e) = check_block_context(&block, &parent, params.difficulty, &view, None) {
                return Ok(format!("block {hash} at height {height}: {e}"));
            }
        }
        for tx in &block.transactions {
            if let Err(op) = tx.apply_to(&mut set) {
                return Ok(format!(
                    "block {hash} at height {height} spends missing {op}"
                ));
            }
        }
    }
    let stored = store.utxo_snapshot()?;
    let rebuilt: std::collections::BTreeMap<_, _> = set.into_iter().collect();
    if stored != rebuilt {
        let missing = rebuilt.keys().find(|k| !stored.contains_key(k));
        let extra = stored.keys().find(|k| !rebuilt.contains_key(k));
        return Ok(match (missing, extra) {
            (Some(m), _) => format!("UTXO set lacks {m}, which the blocks leave unspent"),
            (_, Some(x)) => format!("UTXO set holds {x}, which the blocks do not leave unspent"),
            _ => "UTXO set values differ from the rebuild".to_string(),
        });
    }
    Ok("OK".to_string())
}
