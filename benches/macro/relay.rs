//! Relay: signed 1-input 1-output payments submitted to the seed node of
//! the tx-heavy sync, minted by a third (minter) node at a threshold of
//! 2, timed from the first submit until every payment is mined on all
//! three nodes. Two rows: each payment in a request of its own (as
//! independent wallets send), then the same number of payments (spending
//! the first row's outputs) in requests of `BENCH_RELAY_BATCH` [100]
//! ([`Request::SubmitTxs`], as a script or exchange would).

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use sledchain::app::cli::NodePaths;
use sledchain::core::address::Address;
use sledchain::core::hash::sha256d;
use sledchain::core::tx::{OutPoint, Transaction, TxIn, TxOut, pubkey_bytes, pubkey_hash};
use sledchain::net::control::{self, Request};
use sledchain::store::ChainStore;
use sledchain::wallet::Wallets;

use crate::harness::{Probe, Table, env, start, timeout, wait_until};
use crate::support::{Node, free_port};

/// Signed 1-in-1-out payments to a fresh address, one per coin the seed's
/// wallet holds, at most `m`; with the total they pay.
pub fn build_payments(dir: &Path, port: u16, m: usize) -> Result<(Vec<Transaction>, Address, u64)> {
    let to = Address(sha256d(b"relay destination").as_bytes()[..20].try_into()?);
    build_payments_to(dir, port, m, to)
}

/// [`build_payments`] to `to`.
fn build_payments_to(
    dir: &Path,
    port: u16,
    m: usize,
    to: Address,
) -> Result<(Vec<Transaction>, Address, u64)> {
    let paths = NodePaths::new(dir, port);
    let wallets = Wallets::load(&paths.wallet)?;
    let store = ChainStore::open(&paths.chain, 16 << 20)?;
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

/// The key of the first row's destination, whose outputs the batch row
/// spends.
fn relay_key() -> Result<p256::ecdsa::SigningKey> {
    Ok(p256::ecdsa::SigningKey::from_slice(
        sha256d(b"relay destination key").as_bytes(),
    )?)
}

/// A payment of output 0 of `tx` (paying `key`) whole to `to`.
fn spend(tx: &Transaction, key: &p256::ecdsa::SigningKey, to: &Address) -> Result<Transaction> {
    let spent = tx.outputs[0];
    let mut out = Transaction {
        version: 1,
        inputs: vec![TxIn::unsigned(OutPoint {
            txid: tx.txid(),
            vout: 0,
        })],
        outputs: vec![TxOut {
            value: spent.value,
            pubkey_hash: to.0,
        }],
        coinbase_height: 0,
    };
    out.sign_input(0, &spent, key)?;
    Ok(out)
}

/// How one row's payments reach the seed.
#[derive(Clone, Copy)]
enum Submit {
    /// [`Request::SubmitTx`], one payment per request.
    One,
    /// [`Request::SubmitTxs`] of this many payments.
    Batch(usize),
}

/// One row's outcome.
struct Outcome {
    /// Seconds from the first submit to every payment mined on all
    /// nodes; `None` when it stalled (the note says where).
    secs: Option<f64>,
    submit_secs: f64,
    blocks: u64,
    filler_used: bool,
    /// CPU seconds (user + system) each node used during the row: seed,
    /// synced node, minter.
    cpu: [f64; 3],
    note: String,
}

/// CPU seconds (user + system) process `pid` has used, from
/// `/proc/PID/stat`; 0 when it cannot be read.
fn cpu_secs(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command name (which may hold spaces): utime and
    // stime are the 14th and 15th fields of the line.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|&i| f.get(i).and_then(|v| v.parse::<f64>().ok()))
        .sum();
    ticks / 100.0
}

/// Submits `payments` (paying `dest` in all) to `seed` as `how` says from
/// `clients` connections and waits until all three nodes show them mined;
/// `filler` goes to the seed when the minter holds one payment alone
/// below its threshold.
fn measure(
    nodes: [&Node; 3],
    payments: &[Transaction],
    mut filler: Option<Transaction>,
    dest: &Address,
    (clients, how): (usize, Submit),
) -> Result<Outcome> {
    let [seed, _, minter] = nodes;
    let total: u64 = payments.iter().map(|t| t.outputs[0].value).sum();
    let start_height = seed.height().unwrap_or(0);
    let cpu0 = nodes.map(|n| cpu_secs(n.pid()));
    let t = Instant::now();
    submit_all(seed, payments, clients, how)?;
    let submit_secs = t.elapsed().as_secs_f64();
    // Done when every node shows every payment mined (the destination's
    // balance). A relay that stalls is reported with how far it got.
    let paid = |n: &Node| -> u64 {
        n.req(&Request::Balance(dest.to_string()))
            .ok()
            .and_then(|t| t.rsplit(' ').next().and_then(|v| v.parse().ok()))
            .unwrap_or(0)
    };
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
    let secs = t.elapsed().as_secs_f64();
    let cpu1 = nodes.map(|n| cpu_secs(n.pid()));
    let cpu = [0, 1, 2].map(|i| cpu1[i] - cpu0[i]);
    let blocks = seed.height().unwrap_or(0).saturating_sub(start_height);
    let note = if done.is_ok() {
        String::new()
    } else {
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
        format!(
            "; STALLED: paid {} of {total} on seed/synced/minter; mempools {:?}",
            got.join("/"),
            nodes.iter().map(|n| n.mempool()).collect::<Vec<_>>()
        )
    };
    Ok(Outcome {
        secs: done.is_ok().then_some(secs),
        submit_secs,
        blocks,
        filler_used: filler.is_none(),
        cpu,
        note,
    })
}

/// The table row of `o`.
fn row(table: &mut Table, name: &str, o: &Outcome, m: usize, how: String, short: String) {
    table.row(
        name,
        o.secs.map_or(0.0, |s| m as f64 / s),
        "tx/s",
        None,
        ">= 5000",
        format!(
            "{m} txs, {how}, {:.2}s, submit {:.0} tx/s, {} blocks, CPU s seed/synced/minter {:.2}/{:.2}/{:.2}{short}{}{}",
            o.secs.unwrap_or(f64::NAN),
            m as f64 / o.submit_secs,
            o.blocks,
            o.cpu[0],
            o.cpu[1],
            o.cpu[2],
            if o.secs.is_some() && o.filler_used {
                "; the last payment waited alone below the threshold: one filler sent"
            } else {
                ""
            },
            o.note
        ),
    );
}

/// `BENCH_RELAY` [2000] payments from the wallet of `seed` (stopped and
/// restarted to read its store) through `seed`, `fresh` and a new minter,
/// all at `height`, one per request; then as many again in batches
/// (module docs); stops all three.
pub fn run(
    table: &mut Table,
    d: &Path,
    mut seed: Node,
    mut fresh: Node,
    height: u64,
) -> Result<()> {
    let relay_m = env("BENCH_RELAY", 2000) as usize;
    let batch = env("BENCH_RELAY_BATCH", 100).max(1) as usize;
    let blocks = height;
    eprintln!("relay: {relay_m} transactions, then in batches of {batch}");
    // Payments from the seed's wallet; the seed must be stopped to read its store.
    let seed_port = seed.port;
    seed.stop();
    let key = relay_key()?;
    let dest = Address(pubkey_hash(&pubkey_bytes(key.verifying_key())));
    // One payment more than measured: a filler, sent only if the last
    // payment sits alone in the mempools below the minting threshold of 2.
    let (mut payments, _, _) = build_payments_to(d, seed_port, relay_m + 1, dest)?;
    let filler = payments.pop().context("no coins to pay with")?;
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
    let short = if m < relay_m {
        eprintln!(
            "relay: the chain holds {m} coins to pay with: BENCH_BLOCKS must be >= BENCH_RELAY"
        );
        format!("; only {m} coins: BENCH_BLOCKS < BENCH_RELAY")
    } else {
        String::new()
    };
    let clients = env("BENCH_RELAY_CLIENTS", 8).max(1) as usize;
    let nodes = [&seed, &fresh, &minter];
    let one = measure(
        nodes,
        &payments,
        Some(filler.clone()),
        &dest,
        (clients, Submit::One),
    )?;
    row(
        table,
        "relay tx/s (submit->mined on all)",
        &one,
        m,
        format!("{clients} clients, 1 per request"),
        short.clone(),
    );
    if one.secs.is_some() {
        // The same payments again, spending the first row's outputs, in
        // batches; the filler is the first row's if unused, else spends it.
        let dest2 = Address(sha256d(b"relay destination 2").as_bytes()[..20].try_into()?);
        let again: Vec<Transaction> = payments
            .iter()
            .map(|p| spend(p, &key, &dest2))
            .collect::<Result<_>>()?;
        let filler2 = if one.filler_used {
            spend(&filler, &key, &dest)?
        } else {
            filler
        };
        let how = (clients, Submit::Batch(batch));
        let batched = measure(nodes, &again, Some(filler2), &dest2, how)?;
        row(
            table,
            "relay tx/s, batch submit (submit->mined on all)",
            &batched,
            m,
            format!("{clients} clients, {batch} per request (SubmitTxs)"),
            short,
        );
    }
    minter.stop();
    seed.stop();
    fresh.stop();
    Ok(())
}

/// Submits `payments` to `node` from `clients` control-socket connections
/// at once (as independent wallets would), each taking the next payment
/// (or the next batch of them) when its last request has its verdict.
fn submit_all(node: &Node, payments: &[Transaction], clients: usize, how: Submit) -> Result<()> {
    let per = match how {
        Submit::One => 1,
        Submit::Batch(n) => n,
    };
    let chunks: Vec<&[Transaction]> = payments.chunks(per).collect();
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..clients)
            .map(|_| {
                s.spawn(|| -> Result<()> {
                    while let Some(chunk) = chunks.get(next.fetch_add(1, Ordering::Relaxed)) {
                        match how {
                            Submit::One => {
                                node.req(&Request::SubmitTx(chunk[0].clone()))?;
                            }
                            Submit::Batch(_) => {
                                let verdicts = control::submit_txs(&node.control(), chunk)?;
                                if let Some(e) = verdicts.iter().find_map(|v| v.error.as_ref()) {
                                    anyhow::bail!("a payment was refused: {e}");
                                }
                            }
                        }
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
