//! JSON shapes of blocks and transactions, with Esplora's field names
//! (amounts in whole coins, hashes in hex as the node prints them).

use serde_json::{Value, json};

use crate::core::address::Address;
use crate::core::block::Block;
use crate::core::tx::{Transaction, TxOut};
use crate::store::ChainStore;

use super::ApiError;

/// A block (`GET /api/block/:hash`).
pub fn block(b: &Block) -> Value {
    json!({
        "id": b.hash().to_string(),
        "height": b.height,
        "version": b.header.version,
        "timestamp": b.header.timestamp,
        "tx_count": b.transactions.len(),
        "size": b.encoded_size(),
        "merkle_root": b.header.merkle_root.to_string(),
        "previousblockhash": b.header.prev_block_hash.to_string(),
        "nonce": b.header.nonce,
        "bits": b.header.bits,
        "difficulty": b.header.bits,
    })
}

/// A transaction's place: `{"confirmed": false}` or with its block.
pub fn status(confirmed: Option<&Block>) -> Value {
    match confirmed {
        Some(b) => json!({
            "confirmed": true,
            "block_height": b.height,
            "block_hash": b.hash().to_string(),
            "block_time": b.header.timestamp,
        }),
        None => json!({"confirmed": false}),
    }
}

fn output(o: &TxOut) -> Value {
    json!({
        "scriptpubkey_address": Address(o.pubkey_hash).to_string(),
        "value": o.value,
    })
}

/// A transaction given the outputs its inputs spend (`None` where unknown)
/// and its status.
pub fn tx(t: &Transaction, prevouts: &[Option<TxOut>], status: Value) -> Value {
    let coinbase = t.is_coinbase();
    let vin: Vec<Value> = t
        .inputs
        .iter()
        .enumerate()
        .map(|(i, input)| {
            json!({
                "txid": input.prev_out.txid.to_string(),
                "vout": input.prev_out.vout,
                "prevout": prevouts.get(i).copied().flatten().as_ref().map(output),
                "signature": hex::encode(input.signature),
                "pubkey": hex::encode(input.pubkey),
                "is_coinbase": coinbase,
            })
        })
        .collect();
    let spent: Option<u64> = if coinbase {
        Some(0)
    } else {
        prevouts
            .iter()
            .try_fold(0u64, |acc, p| p.map(|o| acc.saturating_add(o.value)))
    };
    let fee = match (coinbase, spent, t.output_sum()) {
        (true, _, _) => Some(0),
        (false, Some(i), Some(o)) => i.checked_sub(o),
        _ => None,
    };
    json!({
        "txid": t.txid().to_string(),
        "version": t.version,
        "locktime": 0,
        "vin": vin,
        "vout": t.outputs.iter().map(output).collect::<Vec<_>>(),
        "size": crate::core::encode::encoded_len(t),
        "fee": fee,
        "status": status,
    })
}

/// The outputs spent by the inputs of `block.transactions[pos]`, from the
/// block's undo data (all `None` for a coinbase or without undo data).
///
/// Errors: 500 reading the store.
pub fn confirmed_prevouts(
    store: &ChainStore,
    block: &Block,
    pos: usize,
) -> Result<Vec<Option<TxOut>>, ApiError> {
    let Some(t) = block.transactions.get(pos) else {
        return Ok(Vec::new());
    };
    if t.is_coinbase() {
        return Ok(vec![None; t.inputs.len()]);
    }
    let undo = store.undo(&block.hash())?.unwrap_or_default();
    let offset: usize = block
        .transactions
        .iter()
        .take(pos)
        .filter(|t| !t.is_coinbase())
        .map(|t| t.inputs.len())
        .sum();
    Ok((0..t.inputs.len())
        .map(|i| undo.get(offset + i).copied())
        .collect())
}
