//! Relay: signed 1-input 1-output payments submitted to the seed node of
//! the tx-heavy sync, minted by a third (minter) node at a threshold of
//! 2, timed from the first submit until every payment is mined on all
//! three nodes.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use sledchain::app::cli::NodePaths;
use sledchain::core::address::Address;
use sledchain::core::hash::sha256d;
use sledchain::core::tx::{Transaction, TxIn, TxOut};
use sledchain::net::control::Request;
use sledchain::store::ChainStore;
use sledchain::wallet::Wallets;

use crate::harness::{Probe, Table, env, start, timeout, wait_until};
use crate::support::{Node, free_port};

/// Signed 1-in-1-out payments to a fresh address, one per coin the seed's
/// wallet holds, at most `m`; with the total they pay.
pub fn build_payments(dir: &Path, port: u16, m: usize) -> Result<(Vec<Transaction>, Address, u64)> {
    let paths = NodePaths::new(dir, port);
    let wallets = Wallets::load(&paths.wallet)?;
    let store = ChainStore::open(&paths.chain, 16 << 20)?;
    let to = Address(sha256d(b"relay destination").as_bytes()[..20].try_into()?);
    let mut txs = Vec::new();
    let mut total = 0;
    'outer: for a in wallets.addresses() {
        let key = wallets.key(&a).context("key")?;
        for (op, value) in store.utxos_of(&a.0)? {
            if txs.len() >= m {
                break 'outer;
            }
            let spent = TxOut {
                value,
                pubkey_hash: a.0,
            };
            let mut tx = Transaction {
                version: 1,
                inputs: vec![TxIn::unsigned(op)],
                outputs: vec![TxOut {
                    value,
                    pubkey_hash: to.0,
                }],
                coinbase_height: 0,
            };
            tx.sign_input(0, &spent, key)?;
            total += value;
            txs.push(tx);
        }
    }
    Ok((txs, to, total))
}

/// `BENCH_RELAY` [2000] payments from the wallet of `seed` (stopped and
/// restarted to read its store) through `seed`, `fresh` and a new minter,
/// all at `height`; stops all three.
pub fn run(
    table: &mut Table,
    d: &Path,
    mut seed: Node,
    mut fresh: Node,
    height: u64,
) -> Result<()> {
    let relay_m = env("BENCH_RELAY", 2000) as usize;
    let blocks = height;
    eprintln!("relay: {relay_m} transactions");
    // Payments from the seed's wallet; the seed must be stopped to read its store.
    let seed_port = seed.port;
    seed.stop();
    // One payment more than measured: a filler, sent only if the last
    // payment sits alone in the mempools below the minting threshold of 2.
    let (mut payments, dest, _) = build_payments(d, seed_port, relay_m + 1)?;
    let filler = payments.pop().context("no coins to pay with")?;
    let total: u64 = payments.iter().map(|t| t.outputs[0].value).sum();
    let mut seed = start(d, seed_port, seed_port, &[])?;
    let minter_addr = Address(sha256d(b"minter").as_bytes()[..20].try_into()?).to_string();
    let mut minter = start(
        d,
        free_port(),
        seed_port,
        &["--minter", &minter_addr, "--mint-threshold", "2"],
    )?;
    wait_until(timeout(), || Ok(minter.height() == Some(blocks)))?;
    // Let the minter's outbound connection settle before relaying.
    std::thread::sleep(Duration::from_millis(500));
    let m = payments.len();
    if m < relay_m {
        eprintln!(
            "relay: the chain holds {m} coins to pay with: BENCH_BLOCKS must be >= BENCH_RELAY"
        );
    }
    let clients = env("BENCH_RELAY_CLIENTS", 8).max(1) as usize;
    let t = Instant::now();
    submit_all(&seed, &payments, clients)?;
    let submit_secs = t.elapsed().as_secs_f64();
    // Done when every node shows every payment mined (the destination's
    // balance). A relay that stalls is reported with how far it got.
    let nodes = [&seed, &fresh, &minter];
    let paid = |n: &Node| -> u64 {
        n.req(&Request::Balance(dest.to_string()))
            .ok()
            .and_then(|t| t.rsplit(' ').next().and_then(|v| v.parse().ok()))
            .unwrap_or(0)
    };
    let mut filler = Some(filler);
    let mut lone_since: Option<Instant> = None;
    let done = wait_until(env("BENCH_RELAY_TIMEOUT", 60), || {
        // The minter holds one payment alone (the others hold at most
        // that one: a node may lack it and still pass it on) below its
        // threshold of 2.
        let lone = minter.mempool() == Some(1)
            && nodes.iter().all(|n| n.mempool().is_some_and(|m| m <= 1));
        if filler.is_some() && lone {
            let since = *lone_since.get_or_insert_with(Instant::now);
            if since.elapsed() > Duration::from_millis(200)
                && let Some(f) = filler.take()
            {
                seed.req(&Request::SubmitTx(f))?;
            }
        } else {
            lone_since = None;
        }
        Ok(nodes.iter().all(|n| paid(n) >= total))
    });
    let filler_used = filler.is_none();
    let relay_secs = t.elapsed().as_secs_f64();
    let mined_height = seed.height().unwrap_or(0);
    let got: Vec<String> = nodes
        .iter()
        .map(|n| {
            n.req(&Request::Balance(dest.to_string()))
                .unwrap_or_default()
                .rsplit(' ')
                .next()
                .unwrap_or("?")
                .to_string()
        })
        .collect();
    table.row(
        "relay tx/s (submit->mined on all)",
        if done.is_ok() {
            m as f64 / relay_secs
        } else {
            0.0
        },
        "tx/s",
        None,
        ">= 5000",
        format!(
            "{m} txs, {clients} clients, {relay_secs:.2}s, submit {:.0} tx/s, {} blocks{}{}",
            m as f64 / submit_secs,
            mined_height.saturating_sub(blocks),
            if m < relay_m {
                format!("; only {m} coins: BENCH_BLOCKS < BENCH_RELAY")
            } else {
                String::new()
            },
            if done.is_ok() {
                if filler_used {
                    "; the last payment waited alone below the threshold: one filler sent".into()
                } else {
                    String::new()
                }
            } else {
                format!(
                    "; STALLED: paid {} of {total} on seed/synced/minter; mempools {:?}",
                    got.join("/"),
                    nodes.iter().map(|n| n.mempool()).collect::<Vec<_>>()
                )
            }
        ),
    );
    minter.stop();
    seed.stop();
    fresh.stop();
    Ok(())
}

/// Submits `payments` to `node` from `clients` control-socket connections
/// at once (as independent wallets would), each taking the next payment
/// when its last one has its verdict.
fn submit_all(node: &Node, payments: &[Transaction], clients: usize) -> Result<()> {
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..clients)
            .map(|_| {
                s.spawn(|| -> Result<()> {
                    while let Some(tx) = payments.get(next.fetch_add(1, Ordering::Relaxed)) {
                        node.req(&Request::SubmitTx(tx.clone()))?;
                    }
                    Ok(())
                })
            })
            .collect();
        workers.into_iter().try_for_each(|w| {
            w.join()
                .map_err(|_| anyhow::anyhow!("a submitter panicked"))?
        })
    })
}
