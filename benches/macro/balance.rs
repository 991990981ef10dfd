//! Balance: `getbalance` (control socket and CLI process) and `send` (CLI
//! process) latency on a node whose UTXO set holds `BENCH_UTXOS` [100000]
//! outputs (zero-value coinbase outputs to foreign addresses).

use std::path::Path;
use std::time::Instant;

use anyhow::Result;
use sledchain::app::cli::NodePaths;
use sledchain::net::control::Request;
use sledchain::store::ChainStore;
use sledchain::wallet::Wallets;

use crate::harness::{Probe, Shape, Table, cli, env, genchain, median, start};
use crate::support::free_port;

/// The three latency rows, medians in ms.
pub fn run(table: &mut Table, root: &Path) -> Result<()> {
    let utxos = env("BENCH_UTXOS", 100_000);
    eprintln!("balance: {utxos} UTXOs");
    let d = root.join("balance");
    let port = free_port();
    let per_block = 1000u64;
    let shape = Shape {
        blocks: utxos.div_ceil(per_block),
        txs: 0,
        inputs: 2,
        foreign: per_block,
    };
    genchain(&d, port, &shape)?;
    let mut node = start(&d, port, port, &[])?;
    let wallets = Wallets::load(&NodePaths::new(&d, port).wallet)?;
    let addrs = wallets.addresses();
    let (a, b) = (addrs[0].to_string(), addrs[1].to_string());
    let mut bal = Vec::new();
    let mut bal_cli = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        node.req(&Request::Balance(a.clone()))?;
        bal.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        cli(&d, port, &["getbalance", "--address", &a])?;
        bal_cli.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let mut send = Vec::new();
    for _ in 0..10 {
        let t = Instant::now();
        cli(
            &d,
            port,
            &["send", "--from", &a, "--to", &b, "--amount", "1"],
        )?;
        send.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let status = node.req(&Request::Status)?;
    node.stop();
    let count = ChainStore::open(&NodePaths::new(&d, port).chain, 16 << 20)?.utxo_count();
    table.row(
        "getbalance (control socket)",
        median(&mut bal),
        "ms",
        None,
        "<= 10",
        format!("{count} UTXOs"),
    );
    table.row(
        "getbalance (CLI process)",
        median(&mut bal_cli),
        "ms",
        None,
        "<= 10",
        String::new(),
    );
    table.row(
        "send (CLI process)",
        median(&mut send),
        "ms",
        None,
        "<= 10",
        status.replace('\n', ", "),
    );
    Ok(())
}
