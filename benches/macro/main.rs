//! Macro benchmark: drives real release `node` processes on loopback and
//! prints one table (also written as JSON to `target/bench/results.json`):
//! for each row its value, unit, this machine's limit measured in the same
//! run (when one applies), the ratio to it, the target and a note. Running
//! it on two commits gives a before/after table; `docs/bench.md` lists the
//! rows.
//!
//! Scenarios (one module each): limits and mint ([`limits`]); sync of
//! tx-heavy blocks, of 1-payment blocks, of coinbase-only blocks, with
//! `printchain`, `reindexutxo` and peak RSS ([`sync`]); relay of signed
//! payments through three nodes ([`relay`]); block propagation per hop
//! along a line of five nodes ([`propagation`]); `getbalance`/`send`
//! latency with a large UTXO set ([`balance`]); hostile peers: memory under
//! sockets that never read, an honest tip under a side-branch flood, sync
//! under fake `inv`s, memory under `getdata` and `inv` floods, disk under
//! low-work side blocks ([`hostile`]).
//!
//! Environment (defaults in brackets): `BENCH_BLOCKS` [2000], `BENCH_TXS`
//! [3], `BENCH_PAY_BLOCKS` [2000], `BENCH_PRINT_BLOCKS` [1000],
//! `BENCH_EMPTY_BLOCKS` [10000], `BENCH_RELAY` [2000], `BENCH_PROP_NODES`
//! [5], `BENCH_PROP_BLOCKS` [20], `BENCH_PROP_TXS` [100], `BENCH_UTXOS`
//! [100000], `BENCH_RELAY_CLIENTS` [8] (connections submitting the
//! relay's payments at once), `BENCH_DIFFICULTY` [4], `BENCH_TIMEOUT`
//! seconds per wait [600], `BENCH_RELAY_TIMEOUT` seconds for the relay to
//! finish [60].
//! `BENCH_ONLY=relay` runs the tx-heavy sync and the relay alone;
//! `BENCH_ONLY=txheavy` the tx-heavy sync alone, with the per-core verify
//! limit measured before and after it (its verify ratio);
//! `BENCH_ONLY=propagation` the line of nodes alone; `BENCH_ONLY=pay` the
//! 1-payment sync and `printchain` alone; `BENCH_ONLY=empty` the
//! coinbase-only sync and `reindexutxo` alone; `BENCH_ONLY=hostile`
//! the hostile-peer rows alone ([`hostile`]: `BENCH_HOSTILE_SOCKETS` [16],
//! `BENCH_SIDE_BLOCKS` [150], `BENCH_FAKE_SYNC_BLOCKS` [3000],
//! `BENCH_INV_FLOOD_SECS` [15], `BENCH_HOSTILE_ROWS` to pick rows).
//! Needs `target/release/examples/genchain` (`make bench` builds it).

use anyhow::{Result, bail};
use serde_json::json;

#[path = "../../tests/support/mod.rs"]
mod support;

mod balance;
mod harness;
mod hostile;
mod limits;
mod propagation;
mod relay;
mod sync;
mod writemix;

use harness::{Table, env};
use support::genchain_bin;

/// The row of the per-core verify limit measured before a sync.
fn limit_row(table: &mut Table, ver: f64) {
    let name = "limit: verify/s/core (ring)";
    table.row(name, ver, "v/s", None, "", String::new());
}

fn main() -> Result<()> {
    // `cargo bench` passes --bench; `cargo test --all-targets` does not, and
    // starting nodes for minutes has no place in the test suite.
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("macro benchmark: run it with `cargo bench --bench macro`");
        return Ok(());
    }
    if std::env::var("BENCH_ONLY").is_ok_and(|v| v == "writemix") {
        let mut table = Table::default();
        writemix::run(&mut table)?;
        table.finish(json!({ "writemix": env("BENCH_WRITEMIX_BLOCKS", 4000) }))?;
        return Ok(());
    }
    if !genchain_bin().exists() {
        bail!(
            "{} missing: run `cargo build --release --examples` (make bench does)",
            genchain_bin().display()
        );
    }
    let root = tempfile::tempdir()?;
    let mut table = Table::default();
    if std::env::var("BENCH_ONLY").is_ok_and(|v| v == "propagation") {
        propagation::run(&mut table, root.path())?;
        table.finish(json!({ "propagation": env("BENCH_PROP_BLOCKS", 20) }))?;
        return Ok(());
    }
    if std::env::var("BENCH_ONLY").is_ok_and(|v| v == "pay") {
        sync::one_payment(&mut table, root.path())?;
        table.finish(json!({ "pay_blocks": env("BENCH_PAY_BLOCKS", 2000) }))?;
        return Ok(());
    }
    if std::env::var("BENCH_ONLY").is_ok_and(|v| v == "empty") {
        sync::empty(&mut table, root.path())?;
        table.finish(json!({ "empty_blocks": env("BENCH_EMPTY_BLOCKS", 10_000) }))?;
        return Ok(());
    }
    if std::env::var("BENCH_ONLY").is_ok_and(|v| v == "txheavy") {
        // The verify limit per core before and after the sync, as in the
        // full run, without the other limits and the mint.
        let ver = limits::verifies_per_sec();
        limit_row(&mut table, ver);
        sync::tx_heavy(&mut table, root.path(), ver)?;
        table.finish(json!({ "blocks": env("BENCH_BLOCKS", 2000), "txs": env("BENCH_TXS", 3) }))?;
        return Ok(());
    }
    if std::env::var("BENCH_ONLY").is_ok_and(|v| v == "hostile") {
        hostile::run(&mut table, root.path())?;
        table.finish(json!({ "side_blocks": env("BENCH_SIDE_BLOCKS", 150) }))?;
        return Ok(());
    }
    let only_relay = std::env::var("BENCH_ONLY").is_ok_and(|v| v == "relay");
    // The relay alone skips the limits: the sync's verify ratio means
    // nothing then.
    let ver = if only_relay {
        f64::NAN
    } else {
        limits::run(&mut table).1
    };
    let (dir, seed, fresh) = sync::tx_heavy(&mut table, root.path(), ver)?;
    relay::run(&mut table, &dir, seed, fresh, env("BENCH_BLOCKS", 2000))?;
    if only_relay {
        table.finish(json!({ "relay": env("BENCH_RELAY", 2000) }))?;
        return Ok(());
    }
    sync::one_payment(&mut table, root.path())?;
    propagation::run(&mut table, root.path())?;
    sync::empty(&mut table, root.path())?;
    balance::run(&mut table, root.path())?;
    hostile::run(&mut table, root.path())?;
    writemix::run(&mut table)?;
    let params = json!({
        "blocks": env("BENCH_BLOCKS", 2000),
        "txs": env("BENCH_TXS", 3),
        "pay_blocks": env("BENCH_PAY_BLOCKS", 2000),
        "print_blocks": env("BENCH_PRINT_BLOCKS", 1000),
        "empty_blocks": env("BENCH_EMPTY_BLOCKS", 10_000),
        "relay": env("BENCH_RELAY", 2000),
        "prop_nodes": env("BENCH_PROP_NODES", 5),
        "prop_blocks": env("BENCH_PROP_BLOCKS", 20),
        "prop_txs": env("BENCH_PROP_TXS", 100),
        "utxos": env("BENCH_UTXOS", 100_000),
    });
    table.finish(params)?;
    Ok(())
}
