//! `make sim`: a large seeded run of the network simulator.
//!
//! Environment: `SIM_SEED` (default 1), `SIM_NODES` (1000), `SIM_BLOCKS`
//! (50 payment rounds), `SIM_LATENCY_MS` (100, mean one-way per link),
//! `SIM_MINTERS` (5), `SIM_MINT_MS` (2000, mean time a minter needs for a
//! block), `SIM_INTERVAL_MS` (5000, sim time between two payments'
//! rounds), `SIM_HOSTILE` (0, percent of all nodes that are hostile, at
//! most 50). Every node starts with the genesis block and 8 outbound links
//! to random known nodes; each round two payments enter at one random
//! node and relay to the minters. Hostile nodes
//! ([`sledchain::sim::Hostile`]) each connect into 8 honest nodes and
//! attack every second of sim time; they announce every payment first and
//! never deliver it.
//!
//! Prints, per block on the final best chain, the sim time to reach 50%,
//! 90% and 100% of the nodes (medians over blocks), forks, reorgs,
//! messages and bytes, how many payments the best chain holds, the
//! wall-clock time, and last the digest of the event log: the same seed
//! prints the same digest.

use std::time::Instant;

use sledchain::core::hash::Txid;
use sledchain::sim::{Hostile, Rng, Sim, SimConfig};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

fn main() {
    let seed = env("SIM_SEED", 1);
    let nodes = env("SIM_NODES", 1000).max(2) as usize;
    let blocks = env("SIM_BLOCKS", 50);
    let interval = env("SIM_INTERVAL_MS", 5000);
    let minter_count = env("SIM_MINTERS", 5).clamp(1, nodes as u64) as usize;
    let mut rng = Rng::new(seed ^ 0xb10c);
    let minters: Vec<usize> = (0..minter_count)
        .map(|k| k * nodes / minter_count)
        .collect();
    let config = SimConfig {
        seed,
        nodes,
        latency: env("SIM_LATENCY_MS", 100),
        genesis_everywhere: true,
        minters,
        mint_time: env("SIM_MINT_MS", 2000),
        ..SimConfig::default()
    };
    let started = Instant::now();
    let mut sim = match Sim::new(config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    sim.start_all();
    sim.run_for(10_000);
    let percent = env("SIM_HOSTILE", 0).min(50) as usize;
    let hostile_count = nodes * percent / (100 - percent);
    let mut hostile = (hostile_count > 0).then(|| Hostile::new(&mut sim, hostile_count, 8, seed));
    let mut payments: Vec<Txid> = Vec::new();
    for _ in 0..blocks {
        // Both at one node: the wallet builds each payment from that node's
        // view, so two nodes paying at one instant could spend one coin twice.
        let at = rng.below(nodes as u64) as usize;
        for amount in [1, 2] {
            if let Some(txid) = sim.pay(at, [9; 20], amount) {
                payments.push(txid);
                if let Some(h) = &hostile {
                    h.announce_first(&mut sim, txid);
                }
            }
        }
        run(&mut sim, &mut hostile, interval, payments.last().copied());
    }
    run(&mut sim, &mut hostile, 60_000, payments.last().copied());
    if let Some(h) = &hostile {
        println!(
            "hostile nodes: {hostile_count} ({percent}%), connections still open: {}",
            h.connected(&sim)
        );
    }
    report(&sim, nodes, &payments, started);
}

/// Runs `ms` of sim time; hostile nodes attack every second of it.
fn run(sim: &mut Sim, hostile: &mut Option<Hostile>, ms: u64, recent: Option<Txid>) {
    let Some(h) = hostile else {
        return sim.run_for(ms);
    };
    for _ in 0..ms / 1000 {
        h.attack(sim, recent);
        sim.run_for(1000);
    }
    sim.run_for(ms % 1000);
}

fn report(sim: &Sim, nodes: usize, payments: &[Txid], started: Instant) {
    let store = sim.chain(0).store();
    let height = store.tip().map(|t| t.height).unwrap_or(0);
    let (mut p50, mut p90, mut p100) = (Vec::new(), Vec::new(), Vec::new());
    for h in 1..=height {
        let Some((first, times)) = store
            .hash_at(h)
            .ok()
            .flatten()
            .and_then(|hash| sim.stats.block_times.get(&hash))
        else {
            continue;
        };
        let mut t: Vec<u64> = times.iter().map(|x| x - first).collect();
        t.sort_unstable();
        let at = |q: usize| t.get((q * nodes).div_ceil(100).saturating_sub(1)).copied();
        if let (Some(a), Some(b), Some(c)) = (at(50), at(90), at(100)) {
            p50.push(a);
            p90.push(b);
            p100.push(c);
        }
    }
    let mined = payments
        .iter()
        .filter(|t| matches!(store.tx_location(t), Ok(Some(_))))
        .count();
    println!(
        "nodes: {nodes}, payments: {}, mined on the best chain: {mined}, blocks on the best chain: {height}",
        payments.len()
    );
    println!(
        "block propagation (median over {} blocks): 50% {} ms, 90% {} ms, 100% {} ms",
        p100.len(),
        median(p50),
        median(p90),
        median(p100)
    );
    println!(
        "converged: {}; forks (stale blocks): {}; reorgs: {}",
        sim.converged(),
        sim.stats.minted.saturating_sub(height),
        sim.stats.reorgs
    );
    println!(
        "messages: {}, bytes: {}, dropped: {}",
        sim.stats.messages, sim.stats.bytes, sim.stats.dropped
    );
    println!(
        "sim time: {} s, wall-clock: {:.1} s",
        (sim.now() - sledchain::sim::EPOCH) / 1000,
        started.elapsed().as_secs_f64()
    );
    println!("digest: {}", sim.digest());
}
