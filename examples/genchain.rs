//! Builds a test chain quickly: a node datadir (`DATADIR/PORT/`) holding a
//! wallet of `--keys` keys and a chain of `--blocks` blocks at `--difficulty`
//! bits, each block with `--txs` transactions of `--inputs` inputs (default
//! 2) and 2 outputs, or with `--inputs 1` one input and one output (a plain
//! payment to another key), 0 transactions = coinbase-only blocks; and `--foreign` extra zero-value coinbase
//! outputs per block paying addresses outside the wallet (to grow the UTXO
//! set). Every block is fully validated as it connects.
//!
//! ```sh
//! cargo run --release --example genchain -- --datadir /tmp/d --port 3000 --blocks 1000 --txs 4
//! ```
//! Prints the tip hash and height.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result, bail};
use clap::Parser;
use sledchain::app::cli::NodePaths;
use sledchain::chain::ChainState;
use sledchain::core::block::{Block, solve_header};
use sledchain::core::hash::{BlockHash, sha256d};
use sledchain::core::params::SUBSIDY;
use sledchain::core::tx::{OutPoint, Transaction, TxIn, TxOut};
use sledchain::core::validation::SigCache;
use sledchain::store::ChainStore;
use sledchain::wallet::Wallets;

#[derive(Parser)]
struct Args {
    #[arg(long)]
    datadir: PathBuf,
    #[arg(long, default_value_t = 3000)]
    port: u16,
    #[arg(long, default_value_t = 1000)]
    blocks: u64,
    #[arg(long, default_value_t = 4)]
    txs: usize,
    /// Inputs per transaction, all of one key: 1 makes 1-input 1-output
    /// payments, 2 or more make 2-output transactions.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..))]
    inputs: u16,
    #[arg(long, default_value_t = 8)]
    keys: usize,
    #[arg(long, default_value_t = 4)]
    difficulty: u32,
    /// Extra zero-value coinbase outputs per block, to addresses not in the wallet.
    #[arg(long, default_value_t = 0)]
    foreign: u32,
}

fn main() -> Result<()> {
    let a = Args::parse();
    let paths = NodePaths::new(&a.datadir, a.port);
    let mut wallets = Wallets::load(&paths.wallet)?;
    while wallets.len() < a.keys.max(1) {
        wallets.create_key()?;
    }
    let addrs = wallets.addresses();
    let store = ChainStore::open(&paths.chain, 64 << 20)?;
    if store.genesis_hash()?.is_some() {
        bail!("{} already holds a chain", paths.chain.display());
    }
    let no = AtomicBool::new(false);
    let t0 = 1_700_000_000u32;
    let mut genesis = Block::template(
        BlockHash::ZERO,
        0,
        a.difficulty,
        t0,
        addrs[0].0,
        SUBSIDY,
        vec![],
    );
    solve_header(&mut genesis.header, 1, &no);
    store.init_genesis(&genesis)?;
    let chain = ChainState::new(store.clone(), Arc::new(SigCache::new(1000)))?;
    // Spendable coins per key index.
    let mut coins: Vec<Vec<(OutPoint, TxOut)>> = vec![Vec::new(); addrs.len()];
    let cb = &genesis.transactions[0];
    coins[0].push((
        OutPoint {
            txid: cb.txid(),
            vout: 0,
        },
        cb.outputs[0],
    ));
    let mut tip = genesis.hash();
    for h in 1..=a.blocks {
        let mut txs = Vec::new();
        for t in 0..a.txs {
            let Some(tx) = payment(&a, &wallets, &addrs, &mut coins, t)? else {
                break;
            };
            txs.push(tx);
        }
        let miner = (h as usize) % addrs.len();
        let mut b = Block::template(
            tip,
            h,
            a.difficulty,
            t0 + h as u32,
            addrs[miner].0,
            SUBSIDY,
            txs,
        );
        if a.foreign > 0 {
            let cb = &mut b.transactions[0];
            for i in 0..a.foreign {
                let mut seed = h.to_le_bytes().to_vec();
                seed.extend_from_slice(&i.to_le_bytes());
                let mut pubkey_hash = [0u8; 20];
                pubkey_hash.copy_from_slice(&sha256d(&seed).as_bytes()[..20]);
                cb.outputs.push(TxOut {
                    value: 0,
                    pubkey_hash,
                });
            }
            b.header.merkle_root = b.compute_merkle_root();
        }
        solve_header(&mut b.header, 1, &no);
        let cb = &b.transactions[0];
        coins[miner].push((
            OutPoint {
                txid: cb.txid(),
                vout: 0,
            },
            cb.outputs[0],
        ));
        chain.accept_block(&b, sledchain::core::params::now_secs())?;
        tip = b.hash();
    }
    // A node serving this chain has its explorer indexes built, as a node
    // that made it block by block would.
    store.sync_indexes()?;
    store.flush()?;
    let t = store.tip()?;
    println!("{} {}", t.hash, t.height);
    Ok(())
}

/// One signed transaction spending `--inputs` coins of the first key that
/// holds that many, paying keys `k+1+t` (and `k+2+t` with two outputs);
/// the new outputs join `coins`. `None` when no key holds enough coins.
fn payment(
    a: &Args,
    wallets: &Wallets,
    addrs: &[sledchain::core::address::Address],
    coins: &mut [Vec<(OutPoint, TxOut)>],
    t: usize,
) -> Result<Option<Transaction>> {
    let n = usize::from(a.inputs);
    let Some(k) = (0..addrs.len()).find(|k| coins[*k].len() >= n) else {
        return Ok(None);
    };
    let spent: Vec<(OutPoint, TxOut)> = coins[k].drain(..n).collect();
    let total: u64 = spent.iter().map(|c| c.1.value).sum();
    let (to1, to2) = ((k + 1 + t) % addrs.len(), (k + 2 + t) % addrs.len());
    let outputs = if n == 1 {
        vec![TxOut {
            value: total,
            pubkey_hash: addrs[to1].0,
        }]
    } else {
        vec![
            TxOut {
                value: total / 2,
                pubkey_hash: addrs[to1].0,
            },
            TxOut {
                value: total - total / 2,
                pubkey_hash: addrs[to2].0,
            },
        ]
    };
    let mut tx = Transaction {
        version: 1,
        inputs: spent.iter().map(|c| TxIn::unsigned(c.0)).collect(),
        outputs,
        coinbase_height: 0,
    };
    let key = wallets.key(&addrs[k]).context("key in wallet")?;
    for (i, c) in spent.iter().enumerate() {
        tx.sign_input(i, &c.1, key)?;
    }
    let txid = tx.txid();
    for (vout, (out, to)) in tx.outputs.iter().zip([to1, to2]).enumerate() {
        coins[to].push((
            OutPoint {
                txid,
                vout: vout as u32,
            },
            *out,
        ));
    }
    Ok(Some(tx))
}
