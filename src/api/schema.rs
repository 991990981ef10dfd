//! The one JSON schema of the node's objects: each object (block,
//! transaction, input, output, address stats, unspent output, node status,
//! peer, chain tip, mempool entry) is one serde type here, with Esplora's
//! field names wherever Esplora has the concept. The HTTP API answers with
//! these types and every `--json` read command prints them, byte for byte
//! the same text (compact JSON, as `serde_json::to_string` writes it).
//!
//! Amounts are whole coins; times are seconds since the Unix epoch; sizes
//! are bytes of the wire encoding (`vsize` is the size: there is no
//! witness discount). Hashes, txids and keys are lowercase hex.
//!
//! The builders below read the store (and, where given, the mempool) and
//! are shared by the API's handlers and the CLI's stopped-node reads.

use serde::{Deserialize, Serialize};

use crate::chain::{Chain, Mempool};
use crate::core::address::Address;
use crate::core::block::Block as CoreBlock;
use crate::core::hash::{BlockHash, Txid};
use crate::core::tx::{OutPoint, Transaction, TxOut};
use crate::store::{ChainStore, StoreError};

use super::ApiError;

/// The only output type: pay to the hash of a P-256 public key. Named
/// after Bitcoin's P2PKH, the closest Esplora `scriptpubkey_type`.
pub const P2PKH: &str = "p2pkh";

/// The `sequence` every input reports: inputs carry no sequence number on
/// this chain, so all are final, as Bitcoin's 0xffffffff means.
pub const FINAL_SEQUENCE: u32 = u32::MAX;

/// A block (`GET /api/block/:hash`, `getblock --json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Block {
    /// Block hash.
    pub id: String,
    /// Height in its chain (genesis 0).
    pub height: u64,
    /// Header version.
    pub version: u32,
    /// Header time, seconds since the Unix epoch.
    pub timestamp: u32,
    /// Transactions, coinbase included.
    pub tx_count: usize,
    /// Bytes of the block's wire encoding.
    pub size: u64,
    /// Merkle root of the transactions' wtxids.
    pub merkle_root: String,
    /// Parent's hash (all zeros for genesis).
    pub previousblockhash: String,
    /// Header nonce.
    pub nonce: u32,
    /// Leading zero bits the hash must have.
    pub bits: u32,
    /// The same number as `bits` (Esplora's is a float).
    pub difficulty: u32,
    /// Median time past (BIP113), seconds since the Unix epoch: the
    /// median of the header times of this block and the ten before it in
    /// its own chain (fewer near genesis). A child's time must exceed it.
    pub mediantime: u32,
}

impl Block {
    /// The JSON of `b`, its `mediantime` read from `store` through `times`
    /// (one cache may serve a whole page of blocks).
    ///
    /// Errors: 503 reading an ancestor from the store
    /// ([`ApiError::chain_read`]).
    pub fn new(
        b: &CoreBlock,
        store: &ChainStore,
        times: &crate::chain::mtp::HeaderTimes,
    ) -> Result<Block, ApiError> {
        let hash = b.hash();
        times.note(&b.header);
        Ok(Block {
            mediantime: times.median_time_past(store, hash)?,
            id: hash.to_string(),
            height: b.height,
            version: b.header.version,
            timestamp: b.header.timestamp,
            tx_count: b.transactions.len(),
            size: b.encoded_size(),
            merkle_root: b.header.merkle_root.to_string(),
            previousblockhash: b.header.prev_block_hash.to_string(),
            nonce: b.header.nonce,
            bits: b.header.bits,
            difficulty: b.header.bits,
        })
    }
}

/// A block's place (`GET /api/block/:hash/status`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlockStatus {
    /// On the best chain.
    pub in_best_chain: bool,
    /// Its height.
    pub height: u64,
    /// The next best-chain block's hash, if any.
    pub next_best: Option<String>,
}

/// A transaction's place: unconfirmed (`{"confirmed": false}`) or in a
/// best-chain block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TxStatus {
    /// In a best-chain block.
    pub confirmed: bool,
    /// That block's height.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_height: Option<u64>,
    /// That block's hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_hash: Option<String>,
    /// That block's header time, seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_time: Option<u32>,
}

impl TxStatus {
    /// Confirmed in `b`, or unconfirmed for `None`.
    pub fn of(confirmed: Option<&CoreBlock>) -> TxStatus {
        TxStatus {
            confirmed: confirmed.is_some(),
            block_height: confirmed.map(|b| b.height),
            block_hash: confirmed.map(|b| b.hash().to_string()),
            block_time: confirmed.map(|b| b.header.timestamp),
        }
    }
}

/// A transaction output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Vout {
    /// Always [`P2PKH`].
    pub scriptpubkey_type: String,
    /// The receiving address (Base58Check of the public key hash).
    pub scriptpubkey_address: String,
    /// Whole coins.
    pub value: u64,
}

impl From<&TxOut> for Vout {
    fn from(o: &TxOut) -> Vout {
        Vout {
            scriptpubkey_type: P2PKH.to_string(),
            scriptpubkey_address: Address(o.pubkey_hash).to_string(),
            value: o.value,
        }
    }
}

/// A transaction input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Vin {
    /// Txid of the spent output (zeros for a coinbase).
    pub txid: String,
    /// Index of the spent output (4294967295 for a coinbase).
    pub vout: u32,
    /// The spent output, `null` where unknown (a coinbase, a decoded raw
    /// transaction).
    pub prevout: Option<Vout>,
    /// IEEE P1363 `r ‖ s` signature, hex.
    pub signature: String,
    /// SEC1 uncompressed public key, hex.
    pub pubkey: String,
    /// True for the coinbase input.
    pub is_coinbase: bool,
    /// Always [`FINAL_SEQUENCE`].
    pub sequence: u32,
}

/// A transaction (`GET /api/tx/:txid`, `gettx --json`,
/// `decoderawtransaction`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tx {
    /// Txid.
    pub txid: String,
    /// Format version.
    pub version: u32,
    /// Always 0 (no lock times here).
    pub locktime: u32,
    /// Inputs.
    pub vin: Vec<Vin>,
    /// Outputs.
    pub vout: Vec<Vout>,
    /// Bytes of the wire encoding.
    pub size: u64,
    /// Inputs minus outputs in whole coins (0 for a coinbase), `null` when
    /// a spent output is unknown.
    pub fee: Option<u64>,
    /// Where it is.
    pub status: TxStatus,
}

impl Tx {
    /// `t` given the outputs its inputs spend (`None` where unknown) and
    /// its status.
    pub fn new(t: &Transaction, prevouts: &[Option<TxOut>], status: TxStatus) -> Tx {
        let coinbase = t.is_coinbase();
        let vin = t
            .inputs
            .iter()
            .enumerate()
            .map(|(i, input)| Vin {
                txid: input.prev_out.txid.to_string(),
                vout: input.prev_out.vout,
                prevout: prevouts.get(i).copied().flatten().as_ref().map(Vout::from),
                signature: hex::encode(input.signature),
                pubkey: hex::encode(input.pubkey),
                is_coinbase: coinbase,
                sequence: FINAL_SEQUENCE,
            })
            .collect();
        let spent: Option<u64> = prevouts
            .iter()
            .take(t.inputs.len())
            .try_fold(0u64, |acc, p| p.map(|o| acc.saturating_add(o.value)))
            .filter(|_| prevouts.len() >= t.inputs.len());
        let fee = match (coinbase, spent, t.output_sum()) {
            (true, _, _) => Some(0),
            (false, Some(i), Some(o)) => i.checked_sub(o),
            _ => None,
        };
        Tx {
            txid: t.txid().to_string(),
            version: t.version,
            locktime: 0,
            vin,
            vout: t.outputs.iter().map(Vout::from).collect(),
            size: crate::core::encode::encoded_len(t),
            fee,
            status,
        }
    }
}

/// Funded and spent outputs of an address on one side (chain or mempool).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct TxoStats {
    /// Outputs paying the address.
    pub funded_txo_count: u64,
    /// Their sum, whole coins.
    pub funded_txo_sum: u64,
    /// Of those, outputs spent.
    pub spent_txo_count: u64,
    /// Their sum, whole coins.
    pub spent_txo_sum: u64,
    /// Transactions touching the address.
    pub tx_count: u64,
}

/// An address's totals (`GET /api/address/:address`, `getbalance --json`).
/// The confirmed balance is `chain_stats.funded_txo_sum -
/// chain_stats.spent_txo_sum`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AddressStats {
    /// The address.
    pub address: String,
    /// In best-chain blocks.
    pub chain_stats: TxoStats,
    /// In the mempool (all zero on a stopped node).
    pub mempool_stats: TxoStats,
}

impl AddressStats {
    /// The confirmed balance in whole coins.
    pub fn balance(&self) -> u64 {
        self.chain_stats
            .funded_txo_sum
            .saturating_sub(self.chain_stats.spent_txo_sum)
    }
}

/// A confirmed unspent output (`GET /api/address/:address/utxo`,
/// `listunspent --json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Utxo {
    /// Its transaction.
    pub txid: String,
    /// Its index there.
    pub vout: u32,
    /// Whole coins.
    pub value: u64,
    /// Its transaction's place.
    pub status: TxStatus,
}

/// Transaction count and bytes of the mempool.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MempoolCount {
    /// Transactions.
    pub count: usize,
    /// Bytes of their encodings.
    pub bytes: u64,
}

/// The node's state (`GET /api/node/status`, `status --json`). On a
/// stopped node (the CLI reads its store) `running` is false and the
/// fields only a running node knows are `null`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// A node process serves this port.
    pub running: bool,
    /// Tip height, `null` with no chain yet.
    pub height: Option<u64>,
    /// Tip hash.
    pub tip: Option<String>,
    /// Genesis hash.
    pub genesis: Option<String>,
    /// Proof-of-work difficulty, leading zero bits.
    pub difficulty: Option<u32>,
    /// The mempool (a running node only).
    pub mempool: Option<MempoolCount>,
    /// Connected peers (a running node only).
    pub peers: Option<usize>,
    /// `synced`, `syncing` (a ready peer claims a higher tip) or `no
    /// chain` (a running node only).
    pub sync: Option<String>,
    /// Seconds since the node started.
    pub uptime_s: Option<u64>,
    /// The address it mints to, `null` when it does not mint.
    pub minter: Option<String>,
    /// Mempool transactions that trigger a mint.
    pub mint_threshold: Option<usize>,
    /// Height up to which the explorer indexes (transactions, address
    /// histories, spent outputs) answer for the best chain; below `height`
    /// while the index builder catches up, `null` before it indexed genesis.
    pub indexed_height: Option<u64>,
    /// Best-chain block hash at `indexed_height`.
    pub index_tip: Option<String>,
    /// The P2P address it listens on.
    pub listen: Option<String>,
    /// This program's version.
    pub version: String,
}

/// A connected peer (`GET /api/node/peers`, `peers --json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Peer {
    /// Its address (dialled, or the remote end of an inbound connection).
    pub addr: String,
    /// `inbound` or `outbound`.
    pub direction: String,
    /// `done` once its `version` arrived, else `pending`.
    pub handshake: String,
    /// Its best height as this node knows it.
    pub height: u64,
    /// Last ping round trip, ms.
    pub ping_ms: Option<u64>,
    /// Misbehaviour points.
    pub score: u32,
    /// When the connection came up, seconds since the Unix epoch.
    pub connected_since: u64,
    /// Bytes received from it on this connection: whole frames, header
    /// and payload (`null` when it closed while the list was made).
    pub bytes_in: Option<u64>,
    /// Bytes sent to it on this connection, as `bytes_in`.
    pub bytes_out: Option<u64>,
}

/// A chain tip (`GET /api/node/chaintips`), as Bitcoin Core's
/// `getchaintips`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChainTip {
    /// Its height.
    pub height: u64,
    /// Its hash.
    pub hash: String,
    /// Blocks from it back to the best chain (0 for the active tip).
    pub branchlen: u64,
    /// `active`, `valid-fork`, `valid-headers` or `invalid`.
    pub status: String,
}

/// The verdict on one item of `POST /api/txs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmitResult {
    /// The transaction's txid (hex); `None` when the item was not a
    /// transaction.
    pub txid: Option<String>,
    /// `None`: accepted into the mempool (and relayed); otherwise the
    /// rule it breaks, or why the item is not a transaction.
    pub error: Option<String>,
}

/// A mempool transaction (`GET /api/mempool/recent`,
/// `GET /api/node/mempool`, `mempool --json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MempoolEntry {
    /// Txid.
    pub txid: String,
    /// Fee, whole coins.
    pub fee: u64,
    /// Bytes of its encoding.
    pub vsize: u64,
    /// Sum of its outputs, whole coins.
    pub value: u64,
}

/// The mempool's totals (`GET /api/mempool`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MempoolInfo {
    /// Transactions.
    pub count: usize,
    /// Bytes of their encodings.
    pub vsize: u64,
    /// Sum of their fees, whole coins.
    pub total_fee: u64,
    /// `[fee rate, bytes]` pairs, highest rate first: the bytes of the
    /// transactions paying that rate (coins per byte) or more, down to the
    /// next pair's rate (see [`fee_histogram`]).
    pub fee_histogram: Vec<(f64, u64)>,
}

/// A spend of one output (`GET /api/tx/:txid/outspend/:vout`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outspend {
    /// Spent (confirmed or in the mempool).
    pub spent: bool,
    /// The spending transaction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub txid: Option<String>,
    /// Its input index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vin: Option<u32>,
    /// Its place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<TxStatus>,
}

/// The compact JSON text of `v`, exactly as the API sends it.
pub fn to_text<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

// ---- builders over the store ----

/// The block with hash `hash`.
///
/// Errors: 404 when not stored; 503 reading the store ([`ApiError::chain_read`]).
pub fn load_block(store: &ChainStore, hash: &BlockHash) -> Result<CoreBlock, ApiError> {
    store
        .block(hash)?
        .ok_or_else(|| ApiError::not_found(format!("block {hash}")))
}

/// The hash of the best-chain block at `height`.
///
/// Errors: 404 above the tip; 503 reading the store ([`ApiError::chain_read`]).
pub fn hash_at(store: &ChainStore, height: u64) -> Result<BlockHash, ApiError> {
    store
        .hash_at(height)?
        .ok_or_else(|| ApiError::not_found(format!("block at height {height}")))
}

/// The place of block `b` (`block/:hash/status`).
///
/// Errors: 503 reading the store ([`ApiError::chain_read`]).
pub fn block_status(store: &ChainStore, b: &CoreBlock) -> Result<BlockStatus, ApiError> {
    let best = store.is_on_best_chain(&b.hash())?;
    let next = if best {
        store.hash_at(b.height + 1)?.map(|h| h.to_string())
    } else {
        None
    };
    Ok(BlockStatus {
        in_best_chain: best,
        height: b.height,
        next_best: next,
    })
}

/// The outputs spent by the inputs of `block.transactions[pos]`, from the
/// block's undo data (all `None` for a coinbase or without undo data).
///
/// Errors: 503 reading the store ([`ApiError::chain_read`]).
pub fn confirmed_prevouts(
    store: &ChainStore,
    block: &CoreBlock,
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

/// `indexed_height` and `index_tip` of [`Status`]: the height the explorer
/// indexes answer for and the best-chain block there.
///
/// Errors: reading the store.
pub fn index_status(
    store: &ChainStore,
) -> Result<(Option<u64>, Option<String>), crate::store::StoreError> {
    let height = store.indexed_height()?;
    let hash = match height {
        Some(h) => store.hash_at(h)?.map(|h| h.to_string()),
        None => None,
    };
    Ok((height, hash))
}

/// The best-chain block holding `txid` and its position, if confirmed.
///
/// Errors: 404 when the index names a block that is not stored; 503
/// reading the store ([`ApiError::chain_read`]).
pub fn confirmed(store: &ChainStore, txid: &Txid) -> Result<Option<(CoreBlock, usize)>, ApiError> {
    let Some((hash, pos)) = store.tx_location(txid)? else {
        return Ok(None);
    };
    Ok(Some((load_block(store, &hash)?, pos as usize)))
}

/// Confirmed transaction `txid`, `None` when not in the best chain.
///
/// Errors: 503 reading the store ([`ApiError::chain_read`]).
pub fn confirmed_tx(store: &ChainStore, txid: &Txid) -> Result<Option<Tx>, ApiError> {
    let Some((b, pos)) = confirmed(store, txid)? else {
        return Ok(None);
    };
    let prev = confirmed_prevouts(store, &b, pos)?;
    let t = b.transactions.get(pos).ok_or_else(|| {
        ApiError::chain_read(StoreError::Corrupt(
            "the transaction index points past its block".to_string(),
        ))
    })?;
    Ok(Some(Tx::new(t, &prev, TxStatus::of(Some(&b)))))
}

/// The confirmed totals of `pkh`.
///
/// Errors: 503 reading the store ([`ApiError::chain_read`]).
pub fn chain_stats(store: &ChainStore, pkh: &[u8; 20]) -> Result<TxoStats, ApiError> {
    let mut s = TxoStats::default();
    for e in store.address_history_all(pkh)? {
        s.funded_txo_count += u64::from(e.outputs);
        s.funded_txo_sum = s.funded_txo_sum.saturating_add(e.received);
        s.spent_txo_count += u64::from(e.inputs);
        s.spent_txo_sum = s.spent_txo_sum.saturating_add(e.sent);
        s.tx_count += 1;
    }
    Ok(s)
}

/// Most outputs `address/:address/utxo` lists.
pub const MAX_UTXOS: usize = 1000;

/// The confirmed unspent outputs of `pkh` (at most [`MAX_UTXOS`]).
///
/// Errors: 503 reading the store ([`ApiError::chain_read`]).
pub fn utxos(store: &ChainStore, pkh: &[u8; 20]) -> Result<Vec<Utxo>, ApiError> {
    let mut out = Vec::new();
    for (op, value) in store.utxos_of(pkh)?.into_iter().take(MAX_UTXOS) {
        let b = match store.tx_location(&op.txid)? {
            Some((hash, _)) => store.block(&hash)?,
            None => None,
        };
        out.push(Utxo {
            txid: op.txid.to_string(),
            vout: op.vout,
            value,
            status: TxStatus::of(b.as_ref()),
        });
    }
    Ok(out)
}

// ---- builders over the mempool (on the chain worker) ----

/// The output `op` spends as the worker sees it: the UTXO set, else the
/// mempool.
pub fn prevout(chain: &Chain, op: &OutPoint) -> Option<TxOut> {
    chain
        .store()
        .utxo(op)
        .ok()
        .flatten()
        .or_else(|| chain.mempool().output(op))
}

/// Mempool transaction `txid`, `None` when not in the mempool.
pub fn mempool_tx(chain: &Chain, txid: &Txid) -> Option<Tx> {
    let t = chain.mempool().get(txid)?;
    let prev: Vec<_> = t
        .inputs
        .iter()
        .map(|i| prevout(chain, &i.prev_out))
        .collect();
    Some(Tx::new(t, &prev, TxStatus::of(None)))
}

/// The entry of mempool transaction `txid`.
pub fn mempool_entry(m: &Mempool, txid: &Txid) -> Option<MempoolEntry> {
    let tx = m.get(txid)?;
    Some(MempoolEntry {
        txid: txid.to_string(),
        fee: m.fee(txid).unwrap_or_default(),
        vsize: crate::core::encode::encoded_len(tx.as_ref()),
        value: tx.output_sum().unwrap_or_default(),
    })
}

/// Pairs `[fee rate, bytes]` per distinct fee rate of `(fee, bytes)`
/// entries, highest rate first; rates in coins per byte. With more than
/// `max` distinct rates, neighbouring rates are merged (each pair keeps
/// the lowest rate of its group) so that at most `max` pairs remain.
/// Esplora builds its histogram the same way (bytes per rate band).
pub fn fee_histogram(entries: &[(u64, u64)], max: usize) -> Vec<(f64, u64)> {
    let mut rated: Vec<(f64, u64)> = entries
        .iter()
        .filter(|(_, size)| *size > 0)
        .map(|&(fee, size)| (fee as f64 / size as f64, size))
        .collect();
    rated.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut out: Vec<(f64, u64)> = Vec::new();
    for (rate, size) in rated {
        match out.last_mut() {
            Some(last) if last.0 == rate => last.1 += size,
            _ => out.push((rate, size)),
        }
    }
    if max == 0 || out.len() <= max {
        return out;
    }
    let per = out.len().div_ceil(max);
    out.chunks(per)
        .map(|c| {
            let rate = c.last().map_or(0.0, |p| p.0);
            (rate, c.iter().map(|p| p.1).sum())
        })
        .collect()
}

/// Most pairs in [`MempoolInfo::fee_histogram`].
pub const HISTOGRAM_BANDS: usize = 40;

/// The mempool's totals.
pub fn mempool_info(m: &Mempool) -> MempoolInfo {
    let entries: Vec<(u64, u64)> = m
        .txids()
        .iter()
        .filter_map(|t| {
            let tx = m.get(t)?;
            Some((
                m.fee(t).unwrap_or_default(),
                crate::core::encode::encoded_len(tx.as_ref()),
            ))
        })
        .collect();
    MempoolInfo {
        count: m.len(),
        vsize: m.bytes(),
        total_fee: entries.iter().map(|e| e.0).fold(0u64, u64::saturating_add),
        fee_histogram: fee_histogram(&entries, HISTOGRAM_BANDS),
    }
}

/// The confirmation targets `GET /api/fee-estimates` answers, in blocks
/// (Esplora's list).
pub const FEE_TARGETS: [u32; 28] = [
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 144,
    504, 1008,
];

/// Fee-rate estimates (coins per byte) per confirmation target from the
/// mempool alone: the transactions sorted by fee rate, highest first, are
/// cut into blocks of `block_bytes`; the estimate for N blocks is the rate
/// of the first transaction that does not fit in the first N blocks (a
/// payment must pay more than it to be mined before it), or 0 when the
/// whole mempool fits in N blocks (any fee, even none, gets in).
pub fn fee_estimates(entries: &[(u64, u64)], block_bytes: u64) -> Vec<(u32, f64)> {
    let mut rated: Vec<(f64, u64)> = entries
        .iter()
        .filter(|(_, size)| *size > 0)
        .map(|&(fee, size)| (fee as f64 / size as f64, size))
        .collect();
    rated.sort_by(|a, b| b.0.total_cmp(&a.0));
    FEE_TARGETS
        .iter()
        .map(|&n| {
            let room = block_bytes.saturating_mul(u64::from(n));
            let mut used = 0u64;
            let mut rate = 0.0;
            for (r, size) in &rated {
                used = used.saturating_add(*size);
                if used > room {
                    rate = *r;
                    break;
                }
            }
            (n, rate)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mediantime_is_the_median_of_the_block_and_its_ancestors() {
        use crate::chain::mtp::HeaderTimes;
        const T0: u32 = 1_700_000_000;
        let mined = |prev, height, time| {
            let mut b = CoreBlock::template(prev, height, 1, time, [1; 20], 20, vec![]);
            let stop = std::sync::atomic::AtomicBool::new(false);
            assert!(crate::chain::miner::solve(&mut b, 1, &stop));
            b
        };
        let store = ChainStore::temporary().expect("store");
        let g = mined(BlockHash::ZERO, 0, T0);
        store.init_genesis(&g).expect("genesis");
        let mut chain = vec![g];
        for (h, t) in [(1, T0 + 1_000), (2, T0 + 1_001), (3, T0 + 1_002)] {
            let b = mined(chain.last().expect("parent").hash(), h, t);
            store.store_block(&b).expect("store");
            chain.push(b);
        }
        let times = HeaderTimes::default();
        let median = |i: usize| {
            Block::new(&chain[i], &store, &times)
                .expect("json")
                .mediantime
        };
        // Genesis alone; then the upper median of the times so far.
        assert_eq!(median(0), T0);
        assert_eq!(median(1), T0 + 1_000);
        assert_eq!(median(3), T0 + 1_001);
    }

    #[test]
    fn the_histogram_groups_bytes_by_rate_highest_first() {
        let h = fee_histogram(&[(1, 100), (2, 100), (1, 100), (0, 50)], 10);
        assert_eq!(h, vec![(0.02, 100), (0.01, 200), (0.0, 50)]);
        let merged = fee_histogram(&[(3, 100), (2, 100), (1, 100), (0, 100)], 2);
        assert_eq!(merged, vec![(0.02, 200), (0.0, 200)]);
    }

    #[test]
    fn estimates_are_the_rate_at_the_edge_of_n_blocks() {
        // Three 100-byte transactions at 3, 2 and 1 coins per 100 bytes,
        // blocks of 150 bytes: one block holds the first; two hold all.
        let est = fee_estimates(&[(1, 100), (3, 100), (2, 100)], 150);
        assert_eq!(est[0], (1, 0.02));
        assert_eq!(est[1], (2, 0.0));
    }
}
