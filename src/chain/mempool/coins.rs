//! The coins a wallet can spend: the UTXO set seen through the mempool.

use super::Mempool;
use crate::core::tx::{OutPoint, TxOut};
use crate::store::{ChainStore, StoreError};

/// Coins `owner` (a pubkey hash) can spend now, as the wallet sees them:
/// confirmed outputs no mempool transaction spends, plus unspent outputs
/// of mempool transactions paying `owner` (change), as (outpoint, output).
///
/// Errors: [`StoreError`] reading the address index.
pub fn spendable_coins(
    store: &ChainStore,
    mempool: &Mempool,
    owner: &[u8; 20],
) -> Result<Vec<(OutPoint, TxOut)>, StoreError> {
    let mut coins: Vec<(OutPoint, TxOut)> = store
        .utxos_of(owner)?
        .into_iter()
        .filter(|(op, _)| !mempool.is_spent(op))
        .map(|(op, value)| {
            (
                op,
                TxOut {
                    value,
                    pubkey_hash: *owner,
                },
            )
        })
        .collect();
    for txid in mempool.txids() {
        if let Some(tx) = mempool.get(&txid) {
            for (vout, out) in tx.outputs.iter().enumerate() {
                let op = OutPoint {
                    txid,
                    vout: vout as u32,
                };
                if out.pubkey_hash == *owner && !mempool.is_spent(&op) {
                    coins.push((op, *out));
                }
            }
        }
    }
    Ok(coins)
}
