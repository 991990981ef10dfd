//! What every scenario shares: environment knobs, node processes started
//! through [`Node`], `genchain` and CLI runs, and the result table (printed
//! and written as JSON).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::json;
use sledchain::net::control::Request;

use crate::support::{self, Node, genchain_bin, genchain_cmd};

/// `name` parsed as a number, `default` when unset or not a number.
pub fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Threads the node uses (its core count).
pub fn cores() -> usize {
    sledchain::app::cli::threads()
}

/// Median of `v` (the upper one of an even count); 0 when empty.
pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() { 0.0 } else { v[v.len() / 2] }
}

/// Seconds one wait may take (`BENCH_TIMEOUT`, 600).
pub fn timeout() -> u64 {
    env("BENCH_TIMEOUT", 600)
}

/// [`support::wait_until`] for a fallible condition (an error counts as
/// not yet).
pub fn wait_until(secs: u64, mut f: impl FnMut() -> Result<bool>) -> Result<()> {
    if support::wait_until(secs, || f().unwrap_or(false)) {
        Ok(())
    } else {
        bail!("timed out after {secs}s")
    }
}

/// Polling interval of [`wait_finely`] (ms).
const FINE_POLL_MS: u64 = 2;

/// [`wait_until`] polling every [`FINE_POLL_MS`] ms instead of the test
/// support's 25: for the end of a timed wait, where the poll interval
/// would be added to a figure of a few hundred ms (each poll is one
/// control-socket request to the node).
pub fn wait_finely(secs: u64, mut f: impl FnMut() -> Result<bool>) -> Result<()> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        if f().unwrap_or(false) {
            return Ok(());
        }
        if std::time::Instant::now() >= deadline {
            bail!("timed out after {secs}s");
        }
        std::thread::sleep(std::time::Duration::from_millis(FINE_POLL_MS));
    }
}

/// Starts node `port` of `datadir` seeded by 127.0.0.1:`seed`, logging
/// with `filter` (`RUST_LOG`).
pub fn start_logging(
    datadir: &Path,
    port: u16,
    seed: u16,
    extra: &[&str],
    filter: &str,
) -> Result<Node> {
    let mut node = Node::at(datadir, port);
    node.log_filter = filter.into();
    node.start_seeded(&format!("127.0.0.1:{seed}"), extra);
    Ok(node)
}

/// Starts node `port` of `datadir` seeded by 127.0.0.1:`seed`, logging
/// warnings only.
pub fn start(datadir: &Path, port: u16, seed: u16, extra: &[&str]) -> Result<Node> {
    start_logging(datadir, port, seed, extra, "warn")
}

/// What the benchmark reads of a running node.
pub trait Probe {
    fn req(&self, r: &Request) -> Result<String>;
    fn mempool(&self) -> Option<u64>;
    /// Peak resident set (VmHWM) in MB.
    fn peak_rss_mb(&self) -> f64;
}

impl Probe for Node {
    fn req(&self, r: &Request) -> Result<String> {
        self.request(r)
    }

    fn mempool(&self) -> Option<u64> {
        self.status().map(|s| s.mempool as u64)
    }

    fn peak_rss_mb(&self) -> f64 {
        self.peak_rss_kib() as f64 / 1024.0
    }
}

/// The shape of a `genchain` chain.
pub struct Shape {
    pub blocks: u64,
    /// Transactions per block (0: coinbase only).
    pub txs: u64,
    /// Inputs per transaction (1: 1-input 1-output payments).
    pub inputs: u64,
    /// Extra zero-value coinbase outputs per block.
    pub foreign: u64,
}

/// Runs `genchain` into `DATADIR/PORT/` at `BENCH_DIFFICULTY` (4).
pub fn genchain(datadir: &Path, port: u16, s: &Shape) -> Result<()> {
    let diff = env("BENCH_DIFFICULTY", 4) as u32;
    let out = genchain_cmd(datadir, port, s.blocks, s.txs, diff)
        .args(["--inputs", &s.inputs.to_string()])
        .args(["--foreign", &s.foreign.to_string()])
        .output()
        .with_context(|| format!("run {}", genchain_bin().display()))?;
    if !out.status.success() {
        bail!("genchain failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

/// `node --datadir DIR --port PORT ARGS...`: its trimmed stdout.
pub fn cli(dir: &Path, port: u16, args: &[&str]) -> Result<String> {
    let out = Node::at(dir, port).run(args);
    if !out.status.success() {
        bail!("node {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// One line of the result table.
pub struct Row {
    pub name: String,
    pub value: f64,
    pub unit: &'static str,
    /// This machine's limit for the figure, measured in the same run.
    pub limit: Option<f64>,
    /// The goal, e.g. `>= 5000` (in `unit`) or `>= 70%` (of `limit`).
    pub target: String,
    pub note: String,
}

/// The rows gathered so far.
#[derive(Default)]
pub struct Table {
    pub rows: Vec<Row>,
}

impl Table {
    /// Adds a row and echoes it to stderr.
    pub fn row(
        &mut self,
        name: &str,
        value: f64,
        unit: &'static str,
        limit: Option<f64>,
        target: &str,
        note: String,
    ) {
        eprintln!("  {name}: {value:.2} {unit} {note}");
        self.rows.push(Row {
            name: name.into(),
            value,
            unit,
            limit,
            target: target.into(),
            note,
        });
    }

    /// Prints the table (value, unit, limit, ratio, target, note) and
    /// writes it with `params` to `target/bench/results.json`; returns that
    /// path.
    pub fn finish(&self, params: serde_json::Value) -> Result<PathBuf> {
        println!();
        println!(
            "{:<40} {:>14} {:<6} {:>14} {:>7} {:>9}  note",
            "benchmark", "value", "unit", "limit", "ratio", "target"
        );
        let mut js = Vec::new();
        for r in &self.rows {
            let ratio = r.limit.map(|l| r.value / l);
            println!(
                "{:<40} {:>14.2} {:<6} {:>14} {:>7} {:>9}  {}",
                r.name,
                r.value,
                r.unit,
                r.limit.map(|l| format!("{l:.1}")).unwrap_or_default(),
                ratio
                    .map(|x| format!("{:.0}%", x * 100.0))
                    .unwrap_or_default(),
                r.target,
                r.note
            );
            js.push(json!({
                "name": r.name, "value": r.value, "unit": r.unit, "limit": r.limit,
                "ratio": ratio, "target": r.target, "note": r.note,
            }));
        }
        let out_dir = support::bin()
            .parent()
            .and_then(|p| p.parent())
            .map(|p| p.join("bench"))
            .context("target dir")?;
        std::fs::create_dir_all(&out_dir)?;
        let doc = json!({ "cores": cores(), "params": params, "results": js });
        let path = out_dir.join("results.json");
        std::fs::write(&path, serde_json::to_string_pretty(&doc)?)?;
        println!("\nwritten to {}", path.display());
        Ok(path)
    }
}
